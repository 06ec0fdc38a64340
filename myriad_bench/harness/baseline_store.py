"""The committed baselines on disk: ``<root>/<case>/baseline.yaml`` and one run dir per seed.

:class:`BaselineStore` locates a case, reads it (``baseline.yaml`` through the package's one
YAML reader, each ``seed-<k>/`` through ``TrainingResults.load`` / ``EvaluationResults.load``,
which refuse unsafe pickles), verifies that the runs belong to the file's config digest, writes
a case atomically (into a hidden sibling folder, then renamed into place), keeps two writers of
one run off the same case (claim files) and lists the cases no test used. Every failure is a
:class:`BaselineError` that names the file at fault.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from myriad_bench.harness.curves import RunCurves, consistent_kind, run_curves, seed_of, validate_case_name
from myriad_bench.harness.records import Kind, finite
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.fingerprint import fingerprint_digest, library_versions
from myriad_bench.store.yaml_io import load_yaml, write_yaml

__all__ = [
    "BASELINE_FILE",
    "BASELINE_FORMAT_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineMeta",
    "BaselineStore",
    "read_baseline_dir",
    "read_run_dirs",
]

BASELINE_FORMAT_VERSION = 1
"""Version of the baseline folder's layout and ``baseline.yaml`` (run dirs have their own,
:data:`~myriad_bench.store.rundir.RUN_DIR_FORMAT_VERSION`)."""
BASELINE_FILE = "baseline.yaml"
_SEED_DIR = re.compile(r"^seed-(-?\d+)$")


class BaselineError(Exception):
    """A baseline that cannot be used (missing, truncated, foreign or unsafe file); names the file."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


# --------------------------------------------------------------------------- baseline.yaml


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers: YAML writes plain types only."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class BaselineSummary:
    """Means over seeds of the final return (and, for training, the area under the eval curve),
    and each seed's ``results.summary()``."""

    final_return_mean: float | None = None
    eval_return_auc_mean: float | None = None
    per_seed: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineMeta:
    """The contents of ``baseline.yaml``, in the order they are written."""

    format_version: int
    kind: Kind
    created: str | None
    versions: dict[str, str]
    platform_fingerprint: dict[str, Any] | None
    platform_digest: str | None
    config_digest: str | None
    seeds: list[int]
    summary: BaselineSummary

    @classmethod
    def of_runs(cls, runs: Sequence[Any], fingerprint: dict | None) -> BaselineMeta:
        """The metadata of a case made of ``runs`` (one per seed) on the platform ``fingerprint``."""
        kind = consistent_kind(runs)
        per_seed, finals, aucs = {}, [], []
        for run in runs:
            curves = run_curves(run)
            summary = {key: _plain(value) for key, value in run.summary().items()}
            finals.append(curves.final_return)
            aucs.append(curves.auc)
            if kind == "training":
                summary["eval_return_auc"] = finite(curves.auc)
            per_seed[seed_of(run)] = summary
        return cls(
            format_version=BASELINE_FORMAT_VERSION,
            kind=kind,
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            versions=library_versions(),
            platform_fingerprint=fingerprint,
            platform_digest=fingerprint_digest(fingerprint) if fingerprint else None,
            config_digest=runs[0].config.digest(),
            seeds=list(per_seed),
            summary=BaselineSummary(
                final_return_mean=finite(float(np.mean(finals))),
                eval_return_auc_mean=finite(float(np.mean(aucs))) if kind == "training" else None,
                per_seed=per_seed,
            ),
        )

    @classmethod
    def read(cls, yaml_file: Path) -> BaselineMeta:
        """Read and validate ``baseline.yaml``; :class:`BaselineError` naming the file otherwise."""
        if not yaml_file.is_file():
            raise BaselineError(f"baseline file missing: {yaml_file}", yaml_file)
        try:
            data = load_yaml(yaml_file)
        except ArtifactError as error:
            reason = str(error).removeprefix(f"{yaml_file}: ")
            raise BaselineError(f"{yaml_file}: not a valid baseline.yaml ({reason})", yaml_file) from None

        def refuse(problem: str) -> BaselineError:
            return BaselineError(f"{yaml_file}: {problem}", yaml_file)

        if not isinstance(data, dict) or "format_version" not in data:
            raise refuse(
                "not a myriad-bench baseline (no format_version mapping); "
                "delete the folder or rewrite it with --myriad-update-baselines"
            )
        if data["format_version"] != BASELINE_FORMAT_VERSION:
            raise refuse(
                f"baseline format_version {data['format_version']!r} is not supported (this "
                f"myriad-bench reads {BASELINE_FORMAT_VERSION}); rewrite it with --myriad-update-baselines"
            )
        # Keys other than these are optional: a hand-made baseline may leave them out.
        kind, seeds = data.get("kind"), data.get("seeds")
        if kind not in ("training", "evaluation"):
            raise refuse(f"kind must be 'training' or 'evaluation', got {kind!r}")
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise refuse(f"seeds must be a non-empty list of integers, got {seeds!r}")
        summary = data.get("summary")
        summary = summary if isinstance(summary, dict) else {}
        return cls(
            format_version=data["format_version"],
            kind=kind,
            created=None if data.get("created") is None else str(data["created"]),
            versions=data.get("versions") or {},
            platform_fingerprint=data.get("platform_fingerprint") or None,
            platform_digest=data.get("platform_digest"),
            config_digest=data.get("config_digest"),
            seeds=seeds,
            summary=BaselineSummary(
                final_return_mean=summary.get("final_return_mean"),
                eval_return_auc_mean=summary.get("eval_return_auc_mean"),
                per_seed=summary.get("per_seed") or {},
            ),
        )

    def accepts_config(self, config: Any) -> bool:
        """Whether runs of ``config`` belong to this file's ``config_digest`` (when it has one).

        Format 1 files written before ``run.scan_chunk_size`` was removed hold the digest of the
        config with that (always null) field: those are accepted too.
        """
        if self.config_digest is None:
            return True
        accepted = {config.digest()}
        if self.format_version == 1:
            accepted.add(_digest_with_scan_chunk_size(config))
        return self.config_digest in accepted


def _digest_with_scan_chunk_size(config: Any) -> str:
    """``config.digest()`` as computed while training configs had ``run.scan_chunk_size: null``."""
    data = config.model_dump(mode="json")
    data["run"].pop("seed", None)
    if "steps_per_env" in data["run"]:  # a training run; evaluation configs never had the field
        data["run"]["scan_chunk_size"] = None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- reading


@dataclass
class Baseline:
    """A stored baseline: its ``baseline.yaml`` (``meta``) and the loaded results by seed."""

    case: str
    directory: Path
    meta: BaselineMeta
    runs: dict[int, Any]

    @property
    def kind(self) -> Kind:
        return self.meta.kind

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    @property
    def config(self) -> Any:
        return self.runs[self.seeds[0]].config

    @property
    def fingerprint(self) -> dict | None:
        return self.meta.platform_fingerprint

    def config_file(self) -> Path:
        """The saved config of the baseline's first seed (what a config difference is against)."""
        return self.directory / f"seed-{self.seeds[0]}" / ".hydra" / "config.yaml"

    def curves(self) -> dict[int, RunCurves]:
        """:func:`~myriad_bench.harness.curves.run_curves` of each seed, by seed."""
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


def read_baseline_dir(directory: Path | str, case: str | None = None) -> Baseline:
    """Read a baseline folder (``baseline.yaml`` + ``seed-<k>/``); raise :class:`BaselineError`."""
    directory = Path(directory)
    yaml_file = directory / BASELINE_FILE
    meta = BaselineMeta.read(yaml_file)
    runs: dict[int, Any] = {}
    for seed in meta.seeds:
        run_dir = directory / f"seed-{seed}"
        if not run_dir.is_dir():
            raise BaselineError(f"{yaml_file} lists seed {seed} but {run_dir} is missing", run_dir)
        results = _load_results(run_dir, meta.kind)
        if seed_of(results) != seed:
            raise BaselineError(
                f"{run_dir}: holds a run of seed {seed_of(results)}, not {seed}", run_dir / "results.pkl"
            )
        if not meta.accepts_config(results.config):
            raise BaselineError(
                f"{run_dir}: config digest {results.config.digest()} does not match {yaml_file} "
                f"({meta.config_digest}); the folder was edited by hand, rewrite it with "
                "--myriad-update-baselines",
                run_dir / "results.pkl",
            )
        runs[seed] = results
    return Baseline(case or directory.name, directory, meta, runs)


def read_run_dirs(directory: Path | str, kind: Kind | None = None) -> list[Any]:
    """Results from a saved run dir, or from a folder of ``seed-<k>/`` run dirs (e.g. a baseline).

    ``kind`` picks the loader; without it, training is tried first.
    """
    directory = Path(directory)
    if (directory / "results.pkl").is_file():
        dirs = [directory]
    else:
        seed_dirs = (
            [p for p in directory.iterdir() if p.is_dir() and _SEED_DIR.match(p.name)]
            if (directory.is_dir())
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
        meta = BaselineMeta.of_runs(runs, fingerprint)
        self.root.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:8]
        tmp = self.root / f".{case}.tmp-{token}"
        old = self.root / f".{case}.old-{token}"
        try:
            tmp.mkdir()
            for seed, run in zip(meta.seeds, runs, strict=True):
                run.save(tmp / f"seed-{seed}", save_checkpoint=False)
            write_yaml(tmp / BASELINE_FILE, asdict(meta))
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
