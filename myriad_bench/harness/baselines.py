"""Baselines on disk and the one check engine that compares results with them.

``BaselineStore`` locates ``<root>/<case>/``, reads ``baseline.yaml`` and the ``seed-<k>/`` run
dirs (through ``TrainingResults.load`` / ``EvaluationResults.load``, which refuse unsafe
pickles), writes a case atomically (into a temporary folder, then renamed into place) and lists
the cases no test used.

``check_results`` is the single comparison path for training results, lists of them and
evaluation results; the pytest fixture and ``myriad-bench compare`` both call it and show the
message it builds. It knows nothing of pytest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from myriad_bench.harness import stats

__all__ = [
    "BASELINE_FILE",
    "FORMAT_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineStore",
    "CheckOptions",
    "CheckOutcome",
    "RunCurves",
    "case_name",
    "check_results",
    "config_differences",
    "fingerprint_differences",
    "library_versions",
    "read_baseline_dir",
    "read_run_dirs",
    "results_kind",
    "run_curves",
    "stat_label",
    "validate_case_name",
]

FORMAT_VERSION = 1
BASELINE_FILE = "baseline.yaml"
_SEED_DIR = re.compile(r"^seed-(-?\d+)$")
_CASE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

Kind = Literal["training", "evaluation"]
CompareMode = Literal["auto", "exact", "stat"]
COMPARE_MODES = ("auto", "exact", "stat")


class BaselineError(Exception):
    """A baseline that cannot be used (missing, truncated, foreign or unsafe file); names the file."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


# --------------------------------------------------------------------------- case names


def case_name(nodeid: str) -> str:
    """Default case name of a test: its module stem and test name, sanitised for a folder name.

    >>> case_name("benchmarks/test_training.py::test_dqn[cartpole 3]")
    'test_training.test_dqn-cartpole-3'
    """
    path, _, rest = nodeid.partition("::")
    module = Path(path).stem
    raw = f"{module}.{rest.replace('::', '.')}" if rest else module
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", raw).strip("-.")
    return safe[:200] or "case"


def validate_case_name(name: str) -> str:
    """Return ``name`` if it is a usable folder name for a case, else raise ``ValueError``."""
    if not isinstance(name, str) or not _CASE_NAME.match(name) or ".." in name or len(name) > 200:
        raise ValueError(
            f"invalid baseline case name {name!r}: use letters, digits, '_', '.' and '-' "
            "(not starting with '.' or '-', no '..', at most 200 characters)"
        )
    return name


# --------------------------------------------------------------------------- results → curves


def results_kind(results: Any) -> Kind:
    """``"training"`` for a TrainingResults-like object, ``"evaluation"`` for EvaluationResults."""
    if hasattr(results, "eval_metrics") and hasattr(results, "training_metrics"):
        return "training"
    if hasattr(results, "episode_returns") and hasattr(results, "num_episodes"):
        return "evaluation"
    raise TypeError(
        f"cannot check {type(results).__name__}: expected TrainingResults, a list of them, "
        "or EvaluationResults"
    )


def _seed_of(results: Any) -> int:
    if results_kind(results) == "evaluation":
        return int(results.seed)
    return int(results.config.run.seed)


@dataclass(frozen=True)
class RunCurves:
    """The numbers of one run (one seed) that a check compares.

    ``steps`` ``(evals,)`` are steps per env at each evaluation (``[0]`` for an evaluation run);
    ``episode_returns`` ``(evals, episodes)``; ``final_returns`` ``(episodes,)`` are the last
    evaluation's returns; ``auc_returns`` ``(episodes,)`` are per-episode-slot areas under the curve
    whose mean is the area under the mean-return curve.
    """

    seed: int
    steps: np.ndarray
    mean_return: np.ndarray
    episode_returns: np.ndarray

    @property
    def final_returns(self) -> np.ndarray:
        return self.episode_returns[-1]

    @property
    def final_return(self) -> float:
        return float(self.mean_return[-1])

    @property
    def auc_returns(self) -> np.ndarray:
        return stats.auc_weights(self.steps) @ self.episode_returns

    @property
    def auc(self) -> float:
        return stats.area_under_curve(self.steps, self.mean_return)


def run_curves(results: Any) -> RunCurves:
    """Extract :class:`RunCurves` from TrainingResults or EvaluationResults."""
    kind = results_kind(results)
    if kind == "evaluation":
        returns = np.asarray(results.episode_returns, dtype=np.float64).reshape(1, -1)
        return RunCurves(_seed_of(results), np.zeros(1), np.array([float(results.mean_return)]), returns)
    metrics = results.eval_metrics
    if not metrics.mean_return:
        raise ValueError(
            "the training results hold no evaluation (eval_metrics is empty); a baseline check "
            "compares evaluation returns: make steps_per_env at least eval_frequency"
        )
    lengths = {len(np.ravel(r)) for r in metrics.episode_returns}
    if len(lengths) != 1:
        raise ValueError(f"evaluations have different numbers of episodes: {sorted(lengths)}")
    return RunCurves(
        seed=_seed_of(results),
        steps=np.asarray(metrics.steps_per_env, dtype=np.float64),
        mean_return=np.asarray(metrics.mean_return, dtype=np.float64),
        episode_returns=np.stack(
            [np.ravel(np.asarray(r, dtype=np.float64)) for r in metrics.episode_returns]
        ),
    )


# --------------------------------------------------------------------------- versions and differences


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that shape results."""
    from myriad_bench.store.fingerprint import library_versions as versions

    return versions()


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


class _Absent:
    """Stands for a field one side does not have; shows as ``(absent)`` in messages."""

    def __repr__(self) -> str:
        return "(absent)"


_MISSING = _Absent()


def _plain_differences(diffs: list[tuple[str, Any, Any]]) -> list[list[Any]]:
    """Differences as plain lists (for reports and xdist), an absent side as ``None``."""
    return [[key] + [None if value is _MISSING else value for value in (a, b)] for key, a, b in diffs]


def config_differences(baseline_config: Any, current_config: Any) -> list[tuple[str, Any, Any]]:
    """``(field, baseline value, current value)`` for each config field that differs, seed aside."""
    old = _flatten(baseline_config.model_dump(mode="json"))
    new = _flatten(current_config.model_dump(mode="json"))
    diffs = []
    for key in sorted(set(old) | set(new)):
        if key == "run.seed":
            continue
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if a != b:
            diffs.append((key, a, b))
    return diffs


def fingerprint_differences(baseline: dict | None, current: dict | None) -> list[tuple[str, Any, Any]]:
    """``(key, baseline value, current value)`` for each platform-fingerprint entry that differs."""
    old, new = _flatten(baseline or {}), _flatten(current or {})
    return [
        (key, old.get(key, _MISSING), new.get(key, _MISSING))
        for key in sorted(set(old) | set(new))
        if old.get(key, _MISSING) != new.get(key, _MISSING)
    ]


def _fingerprint_digest(fingerprint: dict | None) -> str | None:
    if not fingerprint:
        return None
    from myriad_bench.store.fingerprint import fingerprint_digest

    return fingerprint_digest(fingerprint)


# --------------------------------------------------------------------------- reading


@dataclass
class Baseline:
    """A stored baseline: its ``baseline.yaml`` (``meta``) and the loaded results by seed."""

    case: str
    directory: Path
    kind: Kind
    meta: dict[str, Any]
    runs: dict[int, Any]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    @property
    def config(self) -> Any:
        return self.runs[self.seeds[0]].config

    @property
    def fingerprint(self) -> dict | None:
        return self.meta.get("platform_fingerprint")

    @property
    def fingerprint_digest(self) -> str | None:
        return self.meta.get("platform_digest")

    def curves(self) -> dict[int, RunCurves]:
        return {seed: run_curves(results) for seed, results in sorted(self.runs.items())}


def _load_results(directory: Path, kind: Kind) -> Any:
    """Load one seed's run dir, turning every failure into a :class:`BaselineError` naming the file."""
    from myriad_bench.platform import types

    cls = types.TrainingResults if kind == "training" else types.EvaluationResults
    results_file = directory / "results.pkl"
    if not results_file.is_file():
        raise BaselineError(f"baseline run file missing: {results_file}", results_file)
    try:
        results = cls.load(directory)
    except Exception as error:  # the platform raises ArtifactError/UnsafePickleError naming the file
        text = str(error)
        if str(results_file) not in text:
            text = f"{results_file}: cannot load ({type(error).__name__}: {text})"
        raise BaselineError(text, results_file) from error
    if not isinstance(results, cls):
        raise BaselineError(
            f"{results_file}: expected {cls.__name__} for a {kind} baseline, found {type(results).__name__}",
            results_file,
        )
    return results


def _read_meta(yaml_file: Path) -> dict[str, Any]:
    if not yaml_file.is_file():
        raise BaselineError(f"baseline file missing: {yaml_file}", yaml_file)
    try:
        meta = yaml.safe_load(yaml_file.read_bytes())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
        raise BaselineError(f"{yaml_file}: not a valid baseline.yaml ({error})", yaml_file) from error
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise BaselineError(
            f"{yaml_file}: not a myriad-bench baseline (no format_version mapping); "
            "delete the folder or rewrite it with --myriad-update-baselines",
            yaml_file,
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise BaselineError(
            f"{yaml_file}: baseline format_version {meta['format_version']!r} is not supported "
            f"(this myriad-bench reads {FORMAT_VERSION}); rewrite it with --myriad-update-baselines",
            yaml_file,
        )
    if meta.get("kind") not in ("training", "evaluation"):
        raise BaselineError(
            f"{yaml_file}: kind must be 'training' or 'evaluation', got {meta.get('kind')!r}", yaml_file
        )
    seeds = meta.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise BaselineError(
            f"{yaml_file}: seeds must be a non-empty list of integers, got {seeds!r}", yaml_file
        )
    return meta


def read_baseline_dir(directory: Path | str, case: str | None = None) -> Baseline:
    """Read a baseline folder (``baseline.yaml`` + ``seed-<k>/``); raise :class:`BaselineError`."""
    directory = Path(directory)
    yaml_file = directory / BASELINE_FILE
    meta = _read_meta(yaml_file)
    kind: Kind = meta["kind"]
    runs: dict[int, Any] = {}
    for seed in meta["seeds"]:
        run_dir = directory / f"seed-{seed}"
        if not run_dir.is_dir():
            raise BaselineError(f"{yaml_file} lists seed {seed} but {run_dir} is missing", run_dir)
        results = _load_results(run_dir, kind)
        if _seed_of(results) != seed:
            raise BaselineError(
                f"{run_dir}: holds a run of seed {_seed_of(results)}, not {seed}", run_dir / "results.pkl"
            )
        digest = results.config.digest()
        if meta.get("config_digest") not in (None, digest):
            raise BaselineError(
                f"{run_dir}: config digest {digest} does not match {yaml_file} "
                f"({meta.get('config_digest')}); the folder was edited by hand, rewrite it with "
                "--myriad-update-baselines",
                run_dir / "results.pkl",
            )
        runs[seed] = results
    return Baseline(case or directory.name, directory, kind, meta, runs)


def read_run_dirs(directory: Path | str, kind: Kind | None = None) -> list[Any]:
    """Results from a saved run dir, or from a folder of ``seed-<k>/`` run dirs (e.g. a baseline).

    ``kind`` picks the loader; without it, training is tried first.
    """
    directory = Path(directory)
    if (directory / "results.pkl").is_file():
        dirs = [directory]
    else:
        dirs = (
            sorted(
                (p for p in directory.iterdir() if p.is_dir() and _SEED_DIR.match(p.name)),
                key=lambda p: int(_SEED_DIR.match(p.name).group(1)),  # type: ignore[union-attr]
            )
            if directory.is_dir()
            else []
        )
        if not dirs:
            raise BaselineError(f"{directory}: no results.pkl and no seed-<k>/ run dirs found", directory)
    kinds: list[Kind] = [kind] if kind else ["training", "evaluation"]
    for candidate in kinds:
        try:
            return [_load_results(d, candidate) for d in dirs]
        except BaselineError as error:
            if candidate == kinds[-1] or "expected" not in str(error):
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- the store


class BaselineStore:
    """The folder of committed baselines, one sub-folder per case."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, case: str) -> Path:
        return self.root / validate_case_name(case)

    def exists(self, case: str) -> bool:
        return (self.path(case) / BASELINE_FILE).is_file()

    def cases(self) -> list[str]:
        """Names of the stored cases (folders holding a ``baseline.yaml``)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / BASELINE_FILE).is_file()
        )

    def read(self, case: str) -> Baseline:
        """Load a case; :class:`BaselineError` naming the file if anything is missing or wrong."""
        return read_baseline_dir(self.path(case), case)

    def unused(self, used: Iterable[str]) -> list[str]:
        used = set(used)
        return [case for case in self.cases() if case not in used]

    def write(self, case: str, results: Sequence[Any], *, fingerprint: dict | None = None) -> Path:
        """Write (or replace) a case from per-seed results; readers never see a half-written case.

        The runs and ``baseline.yaml`` are written into a temporary sibling folder which is then
        renamed into place; an existing case is renamed aside first and removed afterwards.
        """
        target = self.path(case)
        runs = list(results)
        kind = _check_consistent(runs)
        seeds = [_seed_of(r) for r in runs]
        self.root.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:8]
        tmp = self.root / f".{case}.tmp-{token}"
        old = self.root / f".{case}.old-{token}"
        try:
            tmp.mkdir()
            for seed, run in zip(seeds, runs, strict=True):
                run.save(tmp / f"seed-{seed}", save_checkpoint=False)
            meta = _baseline_meta(kind, runs, seeds, fingerprint)
            from myriad_bench.store.atomic import atomic_write_bytes

            atomic_write_bytes(tmp / BASELINE_FILE, yaml.safe_dump(meta, sort_keys=False).encode())
            moved = False
            if target.exists():
                os.replace(target, old)
                moved = True
            try:
                os.replace(tmp, target)
            except BaseException:
                if moved:
                    os.replace(old, target)
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        return target

    # Claims stop two tests (or two xdist workers) of one run from writing the same case.
    def claim(self, case: str, run_id: str, owner: str) -> str | None:
        """Claim ``case`` for ``owner`` in run ``run_id``; the other owner's id if already claimed."""
        self.root.mkdir(parents=True, exist_ok=True)
        claim_file = self.root / f".{case}.claim"
        text = f"{run_id}\n{owner}\n"
        for _ in range(2):
            try:
                fd = os.open(claim_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    other_run, other_owner = [*claim_file.read_text().splitlines(), "", ""][:2]
                except FileNotFoundError:
                    continue
                if other_run == run_id:
                    return None if other_owner == owner else other_owner
                with contextlib.suppress(FileNotFoundError):  # stale: left by an earlier run
                    claim_file.unlink()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return None
        return None

    def release_claims(self, run_id: str) -> None:
        if not self.root.is_dir():
            return
        for claim_file in self.root.glob(".*.claim"):
            with contextlib.suppress(OSError):
                if claim_file.read_text().splitlines()[:1] == [run_id]:
                    claim_file.unlink()


def _check_consistent(runs: Sequence[Any]) -> Kind:
    if not runs:
        raise ValueError("no results to check or store")
    kinds = {results_kind(r) for r in runs}
    if len(kinds) != 1:
        raise TypeError("cannot mix TrainingResults and EvaluationResults in one baseline")
    digests = {r.config.digest() for r in runs}
    if len(digests) != 1:
        raise ValueError(
            "the results passed together have different configs (seeds aside); check them separately "
            "with name=..."
        )
    seeds = [_seed_of(r) for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the results passed together repeat a seed: {seeds}")
    return kinds.pop()


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _baseline_meta(kind: Kind, runs: Sequence[Any], seeds: list[int], fingerprint: dict | None) -> dict:
    per_seed = {}
    finals, aucs = [], []
    for seed, run in zip(seeds, runs, strict=True):
        summary = {
            k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in run.summary().items()
        }
        summary = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in summary.items()}
        curves = run_curves(run)
        finals.append(curves.final_return)
        aucs.append(curves.auc)
        if kind == "training":
            summary["eval_return_auc"] = _json_float(curves.auc)
        per_seed[seed] = summary
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "platform_fingerprint": fingerprint,
        "platform_digest": _fingerprint_digest(fingerprint),
        "config_digest": runs[0].config.digest(),
        "seeds": seeds,
        "summary": {
            "final_return_mean": _json_float(float(np.mean(finals))),
            "eval_return_auc_mean": _json_float(float(np.mean(aucs))) if kind == "training" else None,
            "per_seed": per_seed,
        },
    }


# --------------------------------------------------------------------------- the check engine


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
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {self.alpha!r}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0 (a fraction of |baseline|), got {self.margin!r}")


Status = Literal["passed", "failed", "missing", "written", "error"]


@dataclass
class CheckOutcome:
    """What a check found: ``passed``, a ``status``, the ``message`` to show and a report ``record``."""

    case: str
    status: Status
    message: str
    mode: str | None = None
    mode_reason: str = ""
    verdicts: list[stats.Verdict] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "written")


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).rjust(w) for c, w in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    return "\n".join("  " + line for line in lines)


def _per_seed_table(base: dict[int, RunCurves], new: dict[int, RunCurves], kind: Kind) -> str:
    header = ["seed", "baseline final", "obtained final", "Δ"]
    if kind == "training":
        header += ["baseline AUC", "obtained AUC", "Δ AUC"]
    rows = []
    for seed in sorted(set(base) | set(new)):
        b, n = base.get(seed), new.get(seed)
        bf, nf = (b.final_return if b else None), (n.final_return if n else None)
        row = [str(seed), _fmt(bf), _fmt(nf), _fmt(nf - bf) if b and n else "—"]
        if kind == "training":
            ba, na = (b.auc if b else None), (n.auc if n else None)
            row += [_fmt(ba), _fmt(na), _fmt(na - ba) if b and n else "—"]
        rows.append(row)
    bf_mean = float(np.mean([c.final_return for c in base.values()]))
    nf_mean = float(np.mean([c.final_return for c in new.values()]))
    mean_row = ["mean", _fmt(bf_mean), _fmt(nf_mean), _fmt(nf_mean - bf_mean)]
    if kind == "training":
        ba_mean = float(np.mean([c.auc for c in base.values()]))
        na_mean = float(np.mean([c.auc for c in new.values()]))
        mean_row += [_fmt(ba_mean), _fmt(na_mean), _fmt(na_mean - ba_mean)]
    rows.append(mean_row)
    return _table(rows, header)


_SHORT_METRIC = {"final return": "final", "area under the eval curve": "AUC"}


def stat_label(verdicts: Sequence[stats.Verdict]) -> str:
    """``regression (final, AUC)`` naming what regressed; else ``improvement`` or ``no change``."""
    regressed = [_SHORT_METRIC.get(v.metric, v.metric) for v in verdicts if v.kind == "regression"]
    if regressed:
        return f"regression ({', '.join(regressed)})"
    return "improvement" if any(v.kind == "improvement" for v in verdicts) else "no change"


def _stat_verdicts(
    base: dict[int, RunCurves], new: dict[int, RunCurves], kind: Kind, options: CheckOptions
) -> list[stats.Verdict]:
    def scores(curves: dict[int, RunCurves], attr: str) -> np.ndarray:
        return np.stack([getattr(c, attr) for c in curves.values()])

    verdicts = [
        stats.compare_scores(
            scores(new, "final_returns"),
            scores(base, "final_returns"),
            options.alpha,
            options.margin,
            options.reps,
            options.seed,
            metric="final return",
        )
    ]
    if kind == "training":
        verdicts.append(
            stats.compare_scores(
                scores(new, "auc_returns"),
                scores(base, "auc_returns"),
                options.alpha,
                options.margin,
                options.reps,
                options.seed,
                metric="area under the eval curve",
            )
        )
    return verdicts


def _exact_findings(
    base: dict[int, RunCurves], new: dict[int, RunCurves], options: CheckOptions
) -> list[str]:
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
            if not found.ok:
                where = ""
                if found.worst_index is not None:
                    index = found.worst_index
                    step = int(b.steps[index[0]])
                    where = (
                        f"; largest at step {step}: obtained {_fmt(float(got[index]))}, baseline "
                        f"{_fmt(float(want[index]))}"
                    )
                problems.append(
                    f"seed {seed}: {label} differ (max |Δ| {_fmt(found.max_abs_diff)}; {found.reason}{where})"
                )
                break
    return problems


def _curve_record(curves: dict[int, RunCurves]) -> dict[str, Any]:
    return {
        str(seed): {"steps": c.steps.tolist(), "mean_return": c.mean_return.tolist()}
        for seed, c in curves.items()
    }


def _choose_mode(
    options: CheckOptions,
    baseline: Baseline,
    new_seeds: list[int],
    fingerprint: dict | None,
) -> tuple[str, str]:
    same_seeds = sorted(new_seeds) == baseline.seeds
    from myriad_bench.store.fingerprint import same_platform

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
    if not same_seeds:
        return "stat", f"seeds {sorted(new_seeds)} differ from the baseline's {baseline.seeds}"
    return "exact", "same platform fingerprint and seeds"


def check_results(
    case: str,
    results: Any,
    baseline: Baseline | None,
    *,
    options: CheckOptions | None = None,
    fingerprint: dict | None = None,
    update_command: str = "",
    baseline_path: Path | str | None = None,
) -> CheckOutcome:
    """Compare ``results`` (TrainingResults, a list of them, or EvaluationResults) with ``baseline``.

    ``fingerprint`` is the platform fingerprint the results were produced on; ``update_command`` is
    the exact command that rewrites the baseline (shown in every failure). Never raises for a
    failed comparison: the outcome says what failed and carries the message.
    """
    options = options or CheckOptions()
    runs = list(results) if isinstance(results, list | tuple) else [results]
    kind = _check_consistent(runs)
    new = {c.seed: c for c in (run_curves(r) for r in runs)}
    record: dict[str, Any] = {
        "case": case,
        "kind": kind,
        "seeds": sorted(new),
        "obtained_curves": _curve_record(new),
        "final_return_obtained": float(np.mean([c.final_return for c in new.values()])),
    }
    obtained_interval = stats.interval_estimate(
        np.stack([c.final_returns for c in new.values()]), reps=options.reps, confidence=1 - options.alpha
    )
    record["final_return_obtained_ci"] = [obtained_interval.low, obtained_interval.high]
    update_text = (
        f"\n\nIf the change is intended, update the baseline with:\n  {update_command}"
        if update_command
        else ""
    )
    where = Path(baseline_path) if baseline_path is not None else (baseline.directory if baseline else None)

    if baseline is None:
        message = (
            f"no baseline for case '{case}'"
            + (f" (expected {where / BASELINE_FILE})" if where else "")
            + "."
            + (f"\nCreate it with:\n  {update_command}" if update_command else "")
        )
        return CheckOutcome(case, "missing", message, record={**record, "status": "missing"})

    record.update(
        baseline_seeds=baseline.seeds,
        baseline_curves=_curve_record(baseline.curves()),
        baseline_created=baseline.meta.get("created"),
    )
    header = f"baseline check failed for case '{case}'"
    if baseline.kind != kind:
        message = (
            f"{header}: the baseline at {where} holds {baseline.kind} results, this test produced "
            f"{kind} results.{update_text}"
        )
        return CheckOutcome(case, "failed", message, record={**record, "status": "failed"})

    config = runs[0].config
    diffs = config_differences(baseline.config, config)
    if diffs:
        lines = "\n".join(f"  {key}: baseline {a!r}, now {b!r}" for key, a, b in diffs)
        message = (
            f"{header}: the config differs from the baseline's ({len(diffs)} field"
            f"{'s' if len(diffs) != 1 else ''}, seeds aside):\n{lines}\n"
            f"  (baseline config: {where / ('seed-' + str(baseline.seeds[0])) / '.hydra' / 'config.yaml'})"
            f"{update_text}"
        )
        return CheckOutcome(
            case,
            "failed",
            message,
            record={**record, "status": "failed", "config_differences": _plain_differences(diffs)},
        )

    base = baseline.curves()
    mode, reason = _choose_mode(options, baseline, list(new), fingerprint)
    verdicts = _stat_verdicts(base, new, kind, options)
    baseline_interval = stats.interval_estimate(
        np.stack([c.final_returns for c in base.values()]), reps=options.reps, confidence=1 - options.alpha
    )
    record.update(
        mode=mode,
        mode_reason=reason,
        verdicts=[v.to_dict() for v in verdicts],
        final_return_baseline=verdicts[0].baseline,
        final_return_baseline_ci=[baseline_interval.low, baseline_interval.high],
        final_return_obtained=verdicts[0].obtained,
        delta=verdicts[0].delta,
        delta_ci=[verdicts[0].ci_low, verdicts[0].ci_high],
        relative_delta=_json_float(verdicts[0].relative_delta),
        verdict=stat_label(verdicts),
    )

    problems: list[str] = []
    if mode == "exact":
        missing = sorted(set(baseline.seeds) ^ set(new))
        if missing:
            problems.append(
                f"exact comparison needs the baseline's seeds {baseline.seeds}, got {sorted(new)}"
            )
        else:
            problems = _exact_findings(base, new, options)
        passed = not problems
        record["verdict"] = "reproduced" if passed else "not reproduced"
    else:
        passed = all(v.kind != "regression" for v in verdicts)
        record["verdict"] = stat_label(verdicts)

    fp_diffs = fingerprint_differences(baseline.fingerprint, fingerprint) if fingerprint is not None else []
    record["fingerprint_differences"] = _plain_differences(fp_diffs)
    status: Status = "passed" if passed else "failed"
    record["status"] = status
    episodes = next(iter(new.values())).episode_returns.shape[1]
    summary_line = (
        f"{mode} comparison ({reason}); {len(new)} seed{'s' if len(new) != 1 else ''} × {episodes} "
        f"evaluation episodes"
    )
    if passed:
        return CheckOutcome(case, status, summary_line, mode, reason, verdicts, record)

    parts = [f"{header} — {summary_line}", "", _per_seed_table(base, new, kind), ""]
    if mode == "exact":
        parts.append("not reproduced within float tolerance:")
        parts += [f"  {p}" for p in problems]
        parts.append("statistical view of the same runs (for diagnosis):")
    parts += [f"  {v.describe()}" for v in verdicts]
    if fp_diffs:
        parts += ["", "platform fingerprint differs from the baseline's:"]
        parts += [f"  {k}: baseline {a!r}, now {b!r}" for k, a, b in fp_diffs]
    parts.append("")
    created = baseline.meta.get("created")
    parts.append(f"baseline: {where}" + (f" (created {created})" if created else ""))
    message = "\n".join(parts) + update_text
    return CheckOutcome(case, status, message, mode, reason, verdicts, record)
