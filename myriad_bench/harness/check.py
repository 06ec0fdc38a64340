"""The one check engine: results against a stored baseline (or, when updating, into one).

:func:`check_results` takes TrainingResults, a list of them (one per seed) or EvaluationResults
and returns a :class:`~myriad_bench.harness.records.CaseRecord` whose ``message`` is what the
user reads. Every path goes through it: the ``baseline`` fixture (checking, updating, adding a
platform) and ``myriad-bench compare``. It never raises for a failed comparison and knows
nothing of pytest.

Order of the checks: the baseline exists and holds the same kind of results; the baseline's
runs of this platform (else of the closest one) are chosen; the config must be the same (seeds
aside: a difference fails, with the returns comparison below it); then the comparison, exact
on a platform with its own runs of the same seeds, statistical otherwise
(:mod:`~myriad_bench.harness.learning`; with ``max_seeds`` an inconclusive training check trains
more seeds and looks again, spending alpha across looks); and the speed
(:mod:`~myriad_bench.harness.speed`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from myriad_bench.harness import learning, messages, stats
from myriad_bench.harness.baseline_store import (
    BASELINE_FILE,
    Baseline,
    BaselineError,
    BaselineStore,
    PlatformRuns,
    SpeedSection,
)
from myriad_bench.harness.checkpoints import checkpoint_problems, checkpoint_returns
from myriad_bench.harness.curves import RunCurves, as_runs, consistent_kind, curves_by_seed, seed_of
from myriad_bench.harness.differences import config_differences, fingerprint_differences
from myriad_bench.harness.records import CaseRecord, Kind, Look, SpeedRecord, Timing, finite
from myriad_bench.harness.sequential import SequentialPlan
from myriad_bench.harness.speed import SpeedOptions, compare_speed, section_to_keep
from myriad_bench.store.fingerprint import same_platform

__all__ = [
    "COMPARE_MODES",
    "CheckOptions",
    "MoreSeeds",
    "Writer",
    "check_results",
    "config_differences",
    "fingerprint_differences",
    "speed_section",
]

CompareMode = Literal["auto", "exact", "stat"]
COMPARE_MODES = ("auto", "exact", "stat")
MoreSeeds = Callable[[list[int]], list[Any]]
"""Trains these new seeds with the program that made the results (adaptive seeds)."""


@dataclass(frozen=True)
class CheckOptions:
    """How to compare: mode, one-sided risk ``alpha``, relative ``margin``, strictness, seeds, metric.

    ``max_seeds``: an inconclusive training check may grow to this many seeds (and an update
    writes this many). ``metric`` / ``higher_is_better`` default to what the results say
    (curves of one's own code carry them), else ``return`` / True.
    """

    compare: CompareMode = "auto"
    alpha: float = 0.01
    margin: float = 0.05
    strict: bool = False
    max_seeds: int | None = None
    metric: str | None = None
    higher_is_better: bool | None = None
    seed: int = 0
    rtol: float = 1e-5
    atol: float = 1e-6

    def __post_init__(self) -> None:
        if self.compare not in COMPARE_MODES:
            raise ValueError(f"compare must be one of {', '.join(COMPARE_MODES)}, got {self.compare!r}")
        # The one place alpha and margin are checked: options, ini, marker and call all come here.
        if not (isinstance(self.alpha, int | float) and 0.0 < self.alpha < 0.5):
            raise ValueError(f"alpha must lie strictly between 0 and 0.5, got {self.alpha!r}")
        if not (isinstance(self.margin, int | float) and math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(
                f"margin must be a finite number >= 0 (a fraction of |baseline|), got {self.margin!r}"
            )
        if self.max_seeds is not None and (isinstance(self.max_seeds, bool) or int(self.max_seeds) < 1):
            raise ValueError(f"max_seeds must be a positive number of seeds, got {self.max_seeds!r}")


@dataclass(frozen=True)
class Writer:
    """Update mode: write the case into ``store`` as ``owner`` (a test) of the run ``run_id``;
    with ``add_platform``, add this platform's runs beside the others instead of rewriting."""

    store: BaselineStore
    run_id: str
    owner: str
    add_platform: bool = False


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
    more_seeds: MoreSeeds | None = None,
) -> CaseRecord:
    """Compare ``results`` with ``baseline``, or with a ``writer`` store them as the case's baseline.

    ``fingerprint`` is the platform the results were produced on; ``update_command`` the exact
    command that rewrites the baseline (shown in every failure); ``baseline_path`` where the
    case lives (default: the baseline's folder); ``timing`` the timed run's rounds;
    ``more_seeds`` trains further seeds of the same program (adaptive seeds, ``max_seeds``).
    """
    options = options or CheckOptions()
    speed = speed or SpeedOptions()
    runs = as_runs(results)
    kind = consistent_kind(runs)
    record = _obtained(case, nodeid, kind, runs)
    where = Path(baseline_path) if baseline_path is not None else baseline.directory if baseline else None
    if writer is not None:
        return _write(record, runs, writer, fingerprint, timing, speed, options, more_seeds)
    if baseline is None:
        expected = where / BASELINE_FILE if where is not None else None
        missing = compare_speed(timing, None, speed, not_comparable="there is no baseline yet")
        message = messages.missing_baseline(case, expected, update_command)
        return replace(record, status="missing", message=message, speed=missing)
    return _compare(
        record, runs, baseline, options, fingerprint, timing, speed, more_seeds, update_command, where
    )


def _obtained(case: str, nodeid: str, kind: Kind, runs: Sequence[Any]) -> CaseRecord:
    new = curves_by_seed(runs)
    return CaseRecord(
        case=case,
        status="passed",
        nodeid=nodeid,
        kind=kind,
        seeds=sorted(new),
        obtained_curves={seed: c.curve() for seed, c in new.items()},
        final_return_obtained=float(np.mean([c.final_return for c in new.values()])),
        final_return_obtained_ci=_interval(new),
    )


def _interval(curves: Mapping[int, RunCurves]) -> tuple[float, float]:
    found = stats.interval_estimate(np.stack([c.final_returns for c in curves.values()]), confidence=0.95)
    return found.low, found.high


def _metric(options: CheckOptions, runs: Sequence[Any]) -> tuple[str, bool]:
    config = runs[0].config
    metric = options.metric or getattr(config, "metric", None) or "return"
    higher = options.higher_is_better
    if higher is None:
        higher = bool(getattr(config, "higher_is_better", True))
    return metric, higher


def _grown(runs: list[Any], more_seeds: MoreSeeds, count: int, taken: set[int]) -> list[Any]:
    """``runs`` and ``count`` more: new seed values (none of ``taken``), trained by ``more_seeds``."""
    seeds, candidate = [], max(taken, default=-1) + 1
    while len(seeds) < count:
        if candidate not in taken:
            seeds.append(candidate)
        candidate += 1
    taken.update(seeds)
    return [*runs, *more_seeds(seeds)]


# --------------------------------------------------------------------------- update mode


def _write(
    record: CaseRecord,
    runs: list[Any],
    writer: Writer,
    fingerprint: Mapping | None,
    timing: Timing | None,
    speed: SpeedOptions,
    options: CheckOptions,
    more_seeds: MoreSeeds | None,
) -> CaseRecord:
    store, case = writer.store, record.case
    owner = store.claim(case, writer.run_id, writer.owner)
    if owner is not None:
        return replace(record, status="failed", message=messages.claimed(case, owner))
    wanted = options.max_seeds or 0
    if record.kind == "training" and more_seeds is not None and len(runs) < wanted:
        # Baselines are written with max_seeds seeds: the baseline side is as strong as it gets.
        runs = _grown(runs, more_seeds, wanted - len(runs), {seed_of(run) for run in runs})
        record = replace(_obtained(case, record.nodeid, record.kind, runs), nodeid=record.nodeid)
    fingerprint = dict(fingerprint) if fingerprint else None
    stored = store.stored_speed(case, fingerprint)
    section = speed_section(timing, stored, speed)
    metric, higher = _metric(options, runs)
    saved = checkpoint_returns(runs) if record.kind == "training" else None
    try:
        if writer.add_platform:
            outcome = store.add_platform(
                case, runs, fingerprint=fingerprint, speed=section, checkpoint_returns=saved
            )
        else:
            metric_entry = {"name": metric, "higher_is_better": higher}
            outcome = store.write(
                case,
                runs,
                fingerprint=fingerprint,
                speed=section,
                metric=metric_entry,
                checkpoint_returns=saved,
            )
    except BaselineError as error:
        return replace(record, status="failed", message=f"baseline not written for case '{case}': {error}")
    written = None
    if section is not None:
        verdict = "kept" if section is stored else "written"
        written = SpeedRecord(verdict, section.env_steps_per_s, rounds=section.rounds, spread=section.spread)
        written = replace(written, compile_s=section.compile_s, compile_cache=section.compile_cache)
    return replace(record, status="written", message=outcome.message, path=str(outcome.path), speed=written)


def speed_section(
    timing: Timing | None, stored: SpeedSection | None, speed: SpeedOptions
) -> SpeedSection | None:
    """The speed an update writes: the stored one when unchanged (no byte changes), else this run's."""
    if speed.mode == "off" or timing is None or timing.env_steps_per_s is None:
        return stored
    if stored is not None and section_to_keep(timing, stored, speed):
        return stored
    return SpeedSection(
        env_steps_per_s=float(timing.env_steps_per_s),
        spread=float(timing.spread or 0.0),
        rounds=timing.rounds,
        rates=[round(rate, 3) for rate in timing.rates],
        compile_s=timing.compile_s,
        compile_cache=timing.compile_cache,
    )


# --------------------------------------------------------------------------- comparing


def _choose_mode(
    options: CheckOptions, platform: PlatformRuns, same: bool, seeds: Sequence[int]
) -> tuple[str, str]:
    """``(mode, why)``: exact when asked, or on a platform with its own runs of these seeds."""
    if options.compare != "auto":
        return options.compare, f"{options.compare} comparison requested"
    if not same:
        return "stat", "no runs of this platform in the baseline"
    if sorted(seeds) == platform.seeds:
        return "exact", "same platform fingerprint and seeds"
    if set(seeds) <= set(platform.seeds):
        # Baselines hold max_seeds seeds; a check trains the first of them, in the same batches.
        return (
            "exact",
            f"same platform fingerprint; seeds {sorted(seeds)} of the baseline's {len(platform.seeds)}",
        )
    return "stat", f"seeds {sorted(seeds)} are not among the baseline's {platform.seeds}"


def _compare(
    record: CaseRecord,
    runs: list[Any],
    baseline: Baseline,
    options: CheckOptions,
    fingerprint: Mapping | None,
    timing: Timing | None,
    speed: SpeedOptions,
    more_seeds: MoreSeeds | None,
    update_command: str,
    where: Path | None,
) -> CaseRecord:
    case, kind = record.case, record.kind
    if baseline.kind != kind:
        message = messages.kind_differs(case, where, baseline.kind, kind, update_command)
        return replace(record, status="failed", message=message)
    platform, why = baseline.closest(fingerprint)
    same = same_platform(platform.fingerprint, fingerprint)
    base = platform.curves()
    differences = config_differences(baseline.config, runs[0].config)
    mode, reason = _choose_mode(options, platform, same, record.seeds)
    if differences:
        mode, reason = "stat", "the config differs: the returns are compared for diagnosis only"
    metric, higher = _metric(options, runs)
    grow = more_seeds if (mode == "stat" and not differences and kind == "training") else None
    runs, decisions, looks = _decide(runs, base, kind, options, metric, higher, grow)
    new = curves_by_seed(runs)
    problems = learning.exact_problems(base, new, options.rtol, options.atol) if mode == "exact" else []
    label = learning.case_verdict(decisions, kind)
    if mode == "exact":
        label = "not reproduced" if problems else "reproduced"
    saved: list[str] = []
    if kind == "training" and platform.checkpoints and not differences:
        summary = baseline.document.platforms[baseline.platforms.index(platform)].summary
        # The stored returns must reproduce where everything must (exact): the seeds this check
        # trained are evaluated; the rest, and all in a stat comparison, only restored.
        saved, _ = checkpoint_problems(
            platform,
            summary,
            evaluate=set(new) if same and mode == "exact" else (),
            rtol=options.rtol,
            atol=options.atol,
        )
        # An agent that no longer loads is named first; one that evaluates differently only when
        # the returns passed (a regression or a non-reproduction keeps its label; the message has both).
        if any("no longer loads" in problem for problem in saved):
            label = "saved agent no longer loads"
        elif saved and label in ("reproduced", "no change", "improvement", "inconclusive"):
            label = "saved agent differs"
    speed_record = compare_speed(
        timing, platform.speed if same else None, speed, not_comparable="" if same else why
    )
    slower = speed_record is not None and speed_record.verdict == "slower" and speed.fails
    unsure = options.strict and label == "inconclusive"
    failed = bool(differences or problems or saved or label.startswith("regression") or unsure or slower)
    summary = messages.summary_line(mode, reason, len(new), next(iter(new.values())).episode_returns.shape[1])
    platform_differences = fingerprint_differences(platform.fingerprint, fingerprint) if fingerprint else []
    if failed:
        created = f" (created {baseline.meta.created})" if baseline.meta.created else ""
        message = messages.comparison_failed(
            case,
            summary,
            messages.per_seed_table(base, new, kind),
            problems,
            decisions,
            platform_differences,
            f"{where}{created}",
            update_command,
            differences=differences,
            config_file=baseline.config_file(),
            speed=speed_record if slower else None,
            strict=unsure,
            saved_agents=saved,
        )
    else:
        message = messages.passed(summary, decisions, label, speed_record)
    first = decisions[0]
    return replace(
        _obtained(case, record.nodeid, kind, runs),
        status="failed" if failed else "passed",
        message=message,
        baseline_seeds=platform.seeds,
        baseline_curves={seed: c.curve() for seed, c in base.items()},
        baseline_created=baseline.meta.created,
        platform=why,
        mode=mode,
        mode_reason=reason,
        verdict=label,
        decisions=decisions,
        looks=looks,
        detectable_drop=learning.sees(decisions),
        final_return_baseline=first.baseline,
        final_return_baseline_ci=_interval(base),
        final_return_obtained=first.obtained,
        delta=first.delta,
        delta_ci=(first.ci_low, first.ci_high),
        relative_delta=finite(first.relative_delta),
        config_differences=differences,
        fingerprint_differences=platform_differences,
        speed=speed_record,
    )


MAX_LOOKS = 4
"""Looks of an adaptive check at most: each look spends alpha, and with a look per batch of
eight a 104-seed case tested its last look at 0.00025 per metric, below what the permutation
test's 4 000 draws resolve (it could then never decide). Four looks keep every level above
0.001 at alpha 0.01."""


def look_batch(first: int, most: int) -> int:
    """Seeds added between looks: ``MAX_LOOKS`` looks from ``first`` to ``most`` seeds, rounded up
    to a whole number of ``first``-seed batches (the compiled program trains that many at once)."""
    step = max(1, math.ceil((most - first) / (MAX_LOOKS - 1)))
    return math.ceil(step / first) * first


def _decide(
    runs: list[Any],
    base: Mapping[int, RunCurves],
    kind: Kind,
    options: CheckOptions,
    metric: str,
    higher: bool,
    more_seeds: MoreSeeds | None,
) -> tuple[list[Any], list[stats.Decision], list[Look]]:
    """The runs (grown by adaptive seeds), the verdicts of the last look, and every look.

    Without ``more_seeds`` or a ``max_seeds`` above the seeds at hand: one look at full alpha.
    Otherwise the looks of a :class:`~myriad_bench.harness.sequential.SequentialPlan`: each at
    the alpha spent since the previous one, more seeds after each inconclusive one.
    """

    def verdicts(level: float) -> list[stats.Decision]:
        return learning.decisions(
            curves_by_seed(runs), base, kind, alpha=level, margin=options.margin, metric=metric,
            higher_is_better=higher, seed=options.seed,
        )  # fmt: skip

    most = options.max_seeds or 0
    if more_seeds is None or most <= len(runs):
        found = verdicts(options.alpha)
        return runs, found, [Look(len(runs), options.alpha, learning.case_verdict(found, kind))]
    plan = SequentialPlan(
        alpha=options.alpha,
        max_units=most,
        first=len(runs),
        batch=look_batch(len(runs), most),
        baseline_units=len(base),
    )
    looks: list[Look] = []
    taken = {seed_of(run) for run in runs} | set(base)
    while True:
        look = plan.look_at(len(runs))
        label = None
        if look is not None:
            found = verdicts(look.level)
            label = learning.case_verdict(found, kind)
            looks.append(Look(len(runs), look.level, label))
        more = plan.next_batch(len(runs), label)
        if not more:
            return runs, found, looks
        runs = _grown(runs, more_seeds, more, taken)
