"""The one check engine: results against a stored baseline (or, when updating, into one).

:func:`check_results` takes TrainingResults, a list of them (one per seed) or EvaluationResults
and returns a :class:`~myriad_bench.harness.records.CaseRecord` whose ``message`` is what the
user reads. Every path goes through it: the ``baseline`` fixture (checking or updating) and
``myriad-bench compare``. It never raises for a failed comparison and knows nothing of pytest.

Order of the checks: the baseline exists, holds the same kind of results and the same config
(seeds aside); then the comparison, exact when the platform fingerprint and seeds match (or
when asked), statistical otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from myriad_bench.harness import messages, stats
from myriad_bench.harness.baseline_store import BASELINE_FILE, Baseline, BaselineStore
from myriad_bench.harness.curves import RunCurves, as_runs, consistent_kind, curves_by_seed
from myriad_bench.harness.records import CaseRecord, Difference, Kind, Timing, finite
from myriad_bench.harness.speed import SpeedOptions, compare_speed
from myriad_bench.store.fingerprint import same_platform

__all__ = [
    "COMPARE_MODES",
    "CheckOptions",
    "Writer",
    "check_results",
    "config_differences",
    "fingerprint_differences",
    "stat_label",
]

CompareMode = Literal["auto", "exact", "stat"]
COMPARE_MODES = ("auto", "exact", "stat")
_SHORT_METRIC = {"final return": "final", "area under the eval curve": "AUC"}


@dataclass(frozen=True)
class CheckOptions:
    """How to compare: mode, one-sided risk ``alpha``, relative ``margin``, bootstrap and tolerances."""

    compare: CompareMode = "auto"
    alpha: float = 0.01
    margin: float = 0.05
    reps: int = 2000
    seed: int = 0
    rtol: float = 1e-5
    atol: float = 1e-6

    def __post_init__(self) -> None:
        if self.compare not in COMPARE_MODES:
            raise ValueError(f"compare must be one of {', '.join(COMPARE_MODES)}, got {self.compare!r}")
        # The one place alpha and margin are checked: options, ini, marker and call all come here.
        if not (isinstance(self.alpha, int | float) and 0.0 < self.alpha < 1.0):
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {self.alpha!r}")
        if not (isinstance(self.margin, int | float) and math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(
                f"margin must be a finite number >= 0 (a fraction of |baseline|), got {self.margin!r}"
            )


@dataclass(frozen=True)
class Writer:
    """Update mode: write the case into ``store`` as ``owner`` (a test) of the run ``run_id``."""

    store: BaselineStore
    run_id: str
    owner: str


# --------------------------------------------------------------------------- differences


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], skip: str = "") -> list[Difference]:
    differences = []
    for key in sorted(set(old) | set(new)):
        if key == skip or (key in old and key in new and old[key] == new[key]):
            continue
        absent = "baseline" if key not in old else "current" if key not in new else ""
        differences.append(Difference(key, old.get(key), new.get(key), absent))
    return differences


def config_differences(baseline_config: Any, current_config: Any) -> list[Difference]:
    """Each config field that differs between the baseline's and the current config, seed aside."""
    old = _flatten(baseline_config.model_dump(mode="json"))
    new = _flatten(current_config.model_dump(mode="json"))
    return _differences(old, new, skip="run.seed")


def fingerprint_differences(baseline: Mapping | None, current: Mapping | None) -> list[Difference]:
    """Each platform-fingerprint entry that differs between the baseline's and the current one."""
    return _differences(_flatten(baseline or {}), _flatten(current or {}))


# --------------------------------------------------------------------------- comparisons


def _choose_mode(
    options: CheckOptions, baseline: Baseline, new_seeds: Sequence[int], fingerprint: Mapping | None
) -> tuple[str, str]:
    """``(mode, why)``: exact when asked, or on the baseline's platform with its seeds; else stat."""
    if options.compare == "stat":
        return "stat", "stat comparison requested"
    if options.compare == "exact":
        return "exact", "exact comparison requested"
    if not baseline.fingerprint:
        return "stat", "the baseline records no platform fingerprint"
    if not fingerprint:
        return "stat", "the run has no platform fingerprint"
    if not same_platform(fingerprint, baseline.fingerprint):
        return "stat", "the platform fingerprint differs from the baseline's"
    if sorted(new_seeds) != baseline.seeds:
        return "stat", f"seeds {sorted(new_seeds)} differ from the baseline's {baseline.seeds}"
    return "exact", "same platform fingerprint and seeds"


def stat_label(verdicts: Sequence[stats.Verdict]) -> str:
    """``regression (final, AUC)`` naming what regressed; else ``improvement`` or ``no change``."""
    regressed = [_SHORT_METRIC.get(v.metric, v.metric) for v in verdicts if v.kind == "regression"]
    if regressed:
        return f"regression ({', '.join(regressed)})"
    return "improvement" if any(v.kind == "improvement" for v in verdicts) else "no change"


def _scores(curves: Mapping[int, RunCurves], attr: str) -> np.ndarray:
    return np.stack([getattr(c, attr) for c in curves.values()])


def _stat_verdicts(
    base: Mapping[int, RunCurves], new: Mapping[int, RunCurves], kind: Kind, options: CheckOptions
) -> list[stats.Verdict]:
    metrics = {"final return": "final_returns"}
    if kind == "training":
        metrics["area under the eval curve"] = "auc_returns"
    return [
        stats.compare_scores(
            _scores(new, attr),
            _scores(base, attr),
            options.alpha,
            options.margin,
            options.reps,
            options.seed,
            metric=metric,
        )
        for metric, attr in metrics.items()
    ]


def _exact_problems(
    base: Mapping[int, RunCurves], new: Mapping[int, RunCurves], options: CheckOptions
) -> list[str]:
    """What does not reproduce, per seed (the first differing array of each seed); empty when all do."""
    if set(base) != set(new):
        return [f"exact comparison needs the baseline's seeds {sorted(base)}, got {sorted(new)}"]
    problems = []
    for seed in sorted(base):
        b, n = base[seed], new[seed]
        if b.steps.shape != n.steps.shape or not np.array_equal(b.steps, n.steps):
            problems.append(
                f"seed {seed}: evaluated at steps {n.steps.astype(int).tolist()}, baseline at "
                f"{b.steps.astype(int).tolist()}"
            )
            continue
        for label, got, want in (
            ("mean return curve", n.mean_return, b.mean_return),
            ("episode returns", n.episode_returns, b.episode_returns),
        ):
            found = stats.exact_match(got, want, options.rtol, options.atol)
            if found.ok:
                continue
            where = ""
            if found.worst_index is not None:
                index = found.worst_index
                obtained, stored = messages.number(float(got[index])), messages.number(float(want[index]))
                where = f"; largest at step {int(b.steps[index[0]])}: obtained {obtained}, baseline {stored}"
            problems.append(
                f"seed {seed}: {label} differ (max |Δ| {messages.number(found.max_abs_diff)}; "
                f"{found.reason}{where})"
            )
            break
    return problems


def _interval(curves: Mapping[int, RunCurves], options: CheckOptions) -> tuple[float, float]:
    found = stats.interval_estimate(
        _scores(curves, "final_returns"), reps=options.reps, confidence=1 - options.alpha
    )
    return found.low, found.high


# --------------------------------------------------------------------------- the engine


def check_results(
    case: str,
    results: Any,
    baseline: Baseline | None,
    *,
    options: CheckOptions | None = None,
    fingerprint: Mapping | None = None,
    update_command: str = "",
    baseline_path: Path | str | None = None,
    nodeid: str = "",
    timing: Timing | None = None,
    writer: Writer | None = None,
    speed: SpeedOptions | None = None,
) -> CaseRecord:
    """Compare ``results`` with ``baseline``, or with a ``writer`` store them as the case's baseline.

    ``fingerprint`` is the platform the results were produced on; ``update_command`` the exact
    command that rewrites the baseline (shown in every failure); ``baseline_path`` where the
    case lives (default: the baseline's folder); ``timing`` the timed run's throughput.
    """
    options = options or CheckOptions()
    runs = as_runs(results)
    kind = consistent_kind(runs)
    new = curves_by_seed(runs)
    obtained = CaseRecord(
        case=case,
        status="passed",
        nodeid=nodeid,
        kind=kind,
        seeds=sorted(new),
        obtained_curves={seed: c.curve() for seed, c in new.items()},
        final_return_obtained=float(np.mean([c.final_return for c in new.values()])),
        final_return_obtained_ci=_interval(new, options),
        speed=compare_speed(timing, None, speed or SpeedOptions()),
    )
    where = Path(baseline_path) if baseline_path is not None else baseline.directory if baseline else None
    if writer is not None:
        return _write(obtained, runs, writer, fingerprint)
    if baseline is None:
        expected = where / BASELINE_FILE if where is not None else None
        return _replace(obtained, "missing", messages.missing_baseline(case, expected, update_command))
    return _compare(obtained, runs, new, baseline, options, fingerprint, update_command, where)


def _replace(record: CaseRecord, status: str, message: str, **changes: Any) -> CaseRecord:
    return replace(record, status=status, message=message, **changes)


def _write(record: CaseRecord, runs: list[Any], writer: Writer, fingerprint: Mapping | None) -> CaseRecord:
    owner = writer.store.claim(record.case, writer.run_id, writer.owner)
    if owner is not None:
        return _replace(record, "failed", messages.claimed(record.case, owner))
    outcome = writer.store.write(record.case, runs, fingerprint=dict(fingerprint) if fingerprint else None)
    return _replace(record, "written", outcome.message, path=str(outcome.path))


def _compare(
    obtained: CaseRecord,
    runs: list[Any],
    new: dict[int, RunCurves],
    baseline: Baseline,
    options: CheckOptions,
    fingerprint: Mapping | None,
    update_command: str,
    where: Path | None,
) -> CaseRecord:
    case, kind = obtained.case, obtained.kind
    base = baseline.curves()
    record = _replace(
        obtained,
        "failed",
        "",
        baseline_seeds=baseline.seeds,
        baseline_curves={seed: c.curve() for seed, c in base.items()},
        baseline_created=baseline.meta.created,
    )
    if baseline.kind != kind:
        return _replace(
            record, "failed", messages.kind_differs(case, where, baseline.kind, kind, update_command)
        )
    differences = config_differences(baseline.config, runs[0].config)
    if differences:
        message = messages.config_differs(case, differences, baseline.config_file(), update_command)
        return _replace(record, "failed", message, config_differences=differences)

    mode, reason = _choose_mode(options, baseline, list(new), fingerprint)
    verdicts = _stat_verdicts(base, new, kind, options)
    if mode == "exact":
        problems = _exact_problems(base, new, options)
        passed, verdict = not problems, "reproduced" if not problems else "not reproduced"
    else:
        problems = []
        passed, verdict = all(v.kind != "regression" for v in verdicts), stat_label(verdicts)
    platform = fingerprint_differences(baseline.fingerprint, fingerprint) if fingerprint is not None else []
    episodes = next(iter(new.values())).episode_returns.shape[1]
    summary = messages.summary_line(mode, reason, len(new), episodes)
    if passed:
        message = summary
    else:
        created = baseline.meta.created
        message = messages.comparison_failed(
            case,
            summary,
            messages.per_seed_table(base, new, kind),
            problems,
            verdicts,
            platform,
            f"{where}" + (f" (created {created})" if created else ""),
            update_command,
        )
    first = verdicts[0]
    return _replace(
        record,
        "passed" if passed else "failed",
        message,
        mode=mode,
        mode_reason=reason,
        verdict=verdict,
        verdicts=verdicts,
        final_return_baseline=first.baseline,
        final_return_baseline_ci=_interval(base, options),
        final_return_obtained=first.obtained,
        delta=first.delta,
        delta_ci=(first.ci_low, first.ci_high),
        relative_delta=finite(first.relative_delta),
        fingerprint_differences=platform,
    )
