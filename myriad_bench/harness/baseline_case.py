"""A stored case as read: :class:`Baseline` and the runs of each platform, :class:`PlatformRuns`.

:func:`read_baseline_dir` reads a case folder without trusting it: links leaving the baselines
folder are refused, a format 2 case must hold exactly the files ``baseline.yaml`` lists with
their sha256 (checked before any run is loaded), and each run must load through the safe
loaders, be of the listed seed and config, and hold finite returns. A case may hold runs of
several platforms; :meth:`Baseline.closest` picks the runs a check compares with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myriad_bench.harness.baseline_files import non_finite, scan_case, verify_files
from myriad_bench.harness.baseline_meta import (
    BASELINE_FILE,
    BaselineDocument,
    BaselineError,
    BaselineMeta,
    PlatformEntry,
    SpeedSection,
    shown,
)
from myriad_bench.harness.curves import RunCurves, run_curves, seed_of
from myriad_bench.harness.records import Kind
from myriad_bench.store.fingerprint import canonical_fingerprint, same_platform
from myriad_bench.store.rundir import CHECKPOINT_FILENAME

__all__ = [
    "Baseline",
    "PlatformRuns",
    "describe_platform",
    "platform_differences",
    "platform_distance",
    "read_baseline_dir",
    "read_run_dirs",
]

_SEED_DIR = re.compile(r"seed-(-?\d+)")


_COARSE = ("backend", "device_kind", "machine", "system")


def _features(fingerprint: Mapping[str, Any]) -> set[str]:
    features = canonical_fingerprint(fingerprint).get("cpu_features")
    return {str(f) for f in features} if isinstance(features, list) else set()


def platform_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[int, int, int]:
    """How far two fingerprints are apart, compared in order: differing backend, device kind,
    machine and system; differing library versions (and x64); size of the symmetric difference
    of their CPU feature sets."""
    coarse = sum(a.get(key) != b.get(key) for key in _COARSE)
    va, vb = a.get("versions"), b.get("versions")
    va, vb = (va if isinstance(va, Mapping) else {}), (vb if isinstance(vb, Mapping) else {})
    versions = sum(va.get(name) != vb.get(name) for name in set(va) | set(vb))
    versions += a.get("x64") != b.get("x64")
    return coarse, versions, len(_features(a) ^ _features(b))


def platform_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The top-level fingerprint keys whose values differ (canonical spelling), sorted."""
    ca, cb = canonical_fingerprint(a), canonical_fingerprint(b)
    return sorted(str(key) for key in set(ca) | set(cb) if ca.get(key) != cb.get(key))


def _vector_isa(features: set[str]) -> str | None:
    for prefix, name in (("avx512", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sve", "SVE")):
        if any(f.startswith(prefix) for f in features):
            return name
    if features & {"asimd", "neon"}:
        return "NEON"
    return "SSE" if any(f.startswith("sse") for f in features) else None


def describe_platform(fingerprint: Mapping[str, Any] | None) -> str:
    """``Intel(R) Xeon(R) Processor (AVX-512)``: the CPU model and its widest vector extension."""
    if not fingerprint:
        return "unknown platform"
    model = str(fingerprint.get("cpu_model") or fingerprint.get("machine") or "unknown CPU")[:80]
    isa = _vector_isa(_features(fingerprint))
    backend = fingerprint.get("backend")
    suffix = f" on {backend}" if backend not in (None, "cpu") else ""
    return f"{model} ({isa}){suffix}" if isa else f"{model}{suffix}"


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PlatformRuns:
    """The runs of one platform of a case: loaded results and checkpoints by seed, and its speed."""

    fingerprint: dict[str, Any] | None
    digest: str | None
    directory: Path
    seeds: list[int]
    runs: dict[int, Any]
    speed: SpeedSection | None = None
    checkpoints: dict[int, Path] = field(default_factory=dict)

    def curves(self) -> dict[int, RunCurves]:
        """:func:`~myriad_bench.harness.curves.run_curves` of each seed, by seed."""
        return {seed: run_curves(self.runs[seed]) for seed in sorted(self.runs)}

    def describe(self) -> str:
        """``Intel(R) Xeon(R) Processor (AVX-512) 663e5807d0657780``."""
        return f"{describe_platform(self.fingerprint)} {self.digest or '(no fingerprint)'}"


@dataclass
class Baseline:
    """A stored case: ``baseline.yaml``'s ``meta`` and the runs of each platform (first = primary)."""

    case: str
    directory: Path
    meta: BaselineMeta
    platforms: list[PlatformRuns]
    document: BaselineDocument = field(repr=False)
    files: dict[str, Path] = field(default_factory=dict, repr=False)
    """Every file of the case but ``baseline.yaml``, by relative path (verified when read)."""

    @property
    def primary(self) -> PlatformRuns:
        return self.platforms[0]

    @property
    def kind(self) -> Kind:
        return self.meta.kind

    @property
    def seeds(self) -> list[int]:
        return sorted(self.primary.runs)

    @property
    def config(self) -> Any:
        return self.primary.runs[self.seeds[0]].config

    # The primary platform's, for callers that know one platform only.
    @property
    def runs(self) -> dict[int, Any]:
        return self.primary.runs

    @property
    def fingerprint(self) -> dict | None:
        return self.primary.fingerprint

    def curves(self) -> dict[int, RunCurves]:
        return self.primary.curves()

    def config_file(self) -> Path:
        """The saved config of the primary's first seed (what a config difference is against)."""
        return self.primary.directory / f"seed-{self.seeds[0]}" / ".hydra" / "config.yaml"

    def for_platform(self, fingerprint: Mapping[str, Any] | None) -> PlatformRuns | None:
        """The runs made on ``fingerprint``'s platform, if the case has them."""
        return next((p for p in self.platforms if same_platform(p.fingerprint, fingerprint)), None)

    def closest(self, fingerprint: Mapping[str, Any] | None) -> tuple[PlatformRuns, str]:
        """The runs of the same platform, else of the closest one (:func:`platform_distance`,
        ties to the earlier platform), and why they were chosen."""
        same = self.for_platform(fingerprint)
        if same is not None:
            return same, "same platform"
        if not fingerprint:
            return self.primary, "the run has no platform fingerprint: the first platform's runs"
        known = [
            (platform_distance(p.fingerprint, fingerprint), i)
            for i, p in enumerate(self.platforms)
            if p.fingerprint
        ]
        if not known:
            return self.primary, "the baseline records no platform fingerprint"
        best = self.platforms[min(known)[1]]
        differs = ", ".join(platform_differences(best.fingerprint, fingerprint))
        return best, f"closest platform: {describe_platform(best.fingerprint)}, differs in {differs}"


def _load_results(directory: Path, kind: Kind) -> Any:
    """Load one seed's run dir, turning every failure into a :class:`BaselineError` naming the file."""
    from myriad_bench.platform import types

    cls = types.TrainingResults if kind == "training" else types.EvaluationResults
    results_file = directory / "results.pkl"
    if not results_file.is_file():
        raise BaselineError(f"baseline run file missing: {results_file}", results_file)
    try:
        results = cls.load(directory)
    except Exception as error:  # the loaders raise ArtifactError/UnsafePickleError naming the file
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


def _check_curves(results: Any, results_file: Path) -> None:
    """Refuse, naming the file, results whose seed or curves cannot be read as a check reads them.

    The pickle sets fields without validation, so a crafted file can hold strings, ``None`` or
    ragged lists where the curves are: that must be this error, not a ``TypeError`` from a check.
    """
    try:
        seed = seed_of(results)
        curves = run_curves(results)
    except (ValueError, TypeError, ArithmeticError, AttributeError, LookupError) as error:
        # The type only: messages of conversions quote the offending value, text of the file.
        raise BaselineError(
            f"{results_file}: its seed or evaluation returns cannot be read ({type(error).__name__}); "
            "the file is corrupt or crafted",
            results_file,
        ) from None
    evaluations = {len(curves.steps), len(curves.mean_return), curves.episode_returns.shape[0]}
    if isinstance(seed, bool) or not isinstance(seed, int) or len(evaluations) != 1:
        raise BaselineError(
            f"{results_file}: its seed is not an integer, or its evaluation steps, mean returns and "
            "episode returns differ in length; the file is corrupt or crafted",
            results_file,
        )


def _load_platform(
    directory: Path, entry: PlatformEntry, meta: BaselineMeta, found: Mapping[str, Path]
) -> PlatformRuns:
    yaml_file = directory / BASELINE_FILE
    base = directory if entry.dir == "." else directory / entry.dir
    prefix = "" if entry.dir == "." else f"{entry.dir}/"
    runs, checkpoints = {}, {}
    for seed in entry.seeds:
        run_dir = base / f"seed-{seed}"
        if f"{prefix}seed-{seed}/results.pkl" not in found:
            raise BaselineError(f"{yaml_file} lists seed {seed} but {run_dir} holds no results.pkl", run_dir)
        results = _load_results(run_dir, meta.kind)
        results_file = run_dir / "results.pkl"
        _check_curves(results, results_file)
        if seed_of(results) != seed:
            raise BaselineError(
                f"{run_dir}: holds a run of seed {shown(seed_of(results))}, not {seed}", results_file
            )
        if not meta.accepts_config(results.config):
            raise BaselineError(
                f"{run_dir}: config digest {results.config.digest()} does not match {yaml_file} "
                f"({meta.config_digest}); the folder was edited by hand, rewrite it with "
                "--myriad-update-baselines",
                results_file,
            )
        problem = non_finite(results)
        if problem:
            raise BaselineError(
                f"{results_file}: {problem}; a baseline must hold finite returns", results_file
            )
        runs[seed] = results
        if meta.kind == "training" and f"{prefix}seed-{seed}/{CHECKPOINT_FILENAME}" in found:
            checkpoints[seed] = run_dir / CHECKPOINT_FILENAME
    return PlatformRuns(
        entry.fingerprint, entry.digest, base, list(entry.seeds), runs, entry.speed, checkpoints
    )


def read_baseline_dir(
    directory: Path | str, case: str | None = None, *, root: Path | str | None = None
) -> Baseline:
    """Read a case folder; :class:`BaselineError` naming the file if anything is missing or wrong.

    Links that resolve outside ``root`` (default: the folder's parent) are refused; a format 2
    case must hold exactly the files ``baseline.yaml`` lists, with their sha256, before any run
    is loaded.
    """
    directory = Path(directory)
    root = Path(root) if root is not None else directory.parent
    found = scan_case(directory, root)
    yaml_file = directory / BASELINE_FILE
    if BASELINE_FILE not in found:
        raise BaselineError(f"baseline file missing: {yaml_file}", yaml_file)
    document = BaselineDocument.read(yaml_file)
    if document.files is not None:
        verify_files(directory, found, document.files)
        prefixes = tuple(
            f"{'' if e.dir == '.' else e.dir + '/'}seed-{seed}/"
            for e in document.platforms
            for seed in e.seeds
        )
        for rel in document.files:
            if not rel.startswith(prefixes):
                raise BaselineError(
                    f"{yaml_file}: files: {rel} is not part of any platform's runs", yaml_file
                )
    platforms = [_load_platform(directory, e, document.meta, found) for e in document.platforms]
    files = {rel: path for rel, path in found.items() if rel != BASELINE_FILE}
    return Baseline(case or directory.name, directory, document.meta, platforms, document, files)


def read_run_dirs(directory: Path | str, kind: Kind | None = None) -> list[Any]:
    """Results from a saved run dir, or from a folder of ``seed-<k>/`` run dirs (e.g. a baseline).

    ``kind`` picks the loader; without it, training is tried first.
    """
    directory = Path(directory)
    if (directory / "results.pkl").is_file():
        dirs = [directory]
    else:
        seed_dirs = (
            [p for p in directory.iterdir() if p.is_dir() and _SEED_DIR.fullmatch(p.name)]
            if directory.is_dir()
            else []
        )
        dirs = sorted(seed_dirs, key=lambda p: int(p.name.removeprefix("seed-")))
        if not dirs:
            raise BaselineError(f"{directory}: no results.pkl and no seed-<k>/ run dirs found", directory)
    kinds: list[Kind] = [kind] if kind else ["training", "evaluation"]
    for candidate in kinds[:-1]:
        try:
            return [_load_results(d, candidate) for d in dirs]
        except BaselineError as error:
            if "expected" not in str(error):
                raise
    return [_load_results(d, kinds[-1]) for d in dirs]
