"""The committed baselines on disk (format 2): one folder per case, runs of one or more platforms.

``<root>/<case>/baseline.yaml`` (:mod:`~myriad_bench.harness.baseline_meta`), the first platform's
runs in ``seed-<k>/``, each further platform's in ``platform-<digest>/seed-<k>/``. Reading checks
links and every file's sha256 before loading a run (:mod:`~myriad_bench.harness.baseline_case`).
Writing builds the whole new case in a hidden sibling and swaps it in atomically, under a per-case
lock, after recovering what a killed writer left (:mod:`myriad_bench.store.swap`); an update that
changes nothing changes no byte. Every failure is a :class:`BaselineError` naming the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myriad_bench.harness.baseline_case import (
    Baseline,
    PlatformRuns,
    describe_platform,
    read_baseline_dir,
    read_run_dirs,
)
from myriad_bench.harness.baseline_files import (
    STRAY,
    checked_runs,
    copy_files,
    runs_summary,
    same_content,
    scan_case,
    sha256_file,
)
from myriad_bench.harness.baseline_meta import (
    BASELINE_FILE,
    BASELINE_FORMAT_VERSION,
    DEFAULT_METRIC,
    BaselineDocument,
    BaselineError,
    BaselineMeta,
    PlatformEntry,
    SpeedSection,
    check_metric,
    utc_now,
)
from myriad_bench.harness.curves import validate_case_name
from myriad_bench.harness.records import Kind
from myriad_bench.store import swap
from myriad_bench.store.atomic import fsync_dir
from myriad_bench.store.fingerprint import fingerprint_digest, library_versions, same_platform
from myriad_bench.store.yaml_io import write_yaml

__all__ = [
    "BASELINE_FILE",
    "BASELINE_FORMAT_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineMeta",
    "BaselineStore",
    "PlatformRuns",
    "SpeedSection",
    "WriteOutcome",
    "read_baseline_dir",
    "read_run_dirs",
]


@dataclass(frozen=True)
class WriteOutcome:
    """What a write did: the case folder, whether any byte changed, and a line saying so."""

    path: Path
    changed: bool
    message: str


# --------------------------------------------------------------------------- writing


def _run_files(old: Baseline, platform: PlatformRuns, seed: int) -> dict[str, Path]:
    """The verified files of one stored run dir, by path inside it (what a rewrite copies)."""
    prefix = (platform.directory / f"seed-{seed}").relative_to(old.directory).as_posix() + "/"
    return {rel.removeprefix(prefix): path for rel, path in old.files.items() if rel.startswith(prefix)}


def _same_runs(
    old: Baseline | None, stored: PlatformRuns | None, runs: Mapping[int, Any], kind: Kind
) -> dict[int, dict[str, Path]]:
    """The seeds of ``runs`` whose content equals the stored run's, with the stored run's files."""
    if old is None or stored is None or old.kind != kind:
        return {}
    seeds = same_content(runs, stored.runs, stored.checkpoints, kind)
    return {seed: _run_files(old, stored, seed) for seed in seeds}


@dataclass
class _Planned:
    """One platform of a case being written: its entry, runs to save and run dirs to copy."""

    entry: PlatformEntry
    runs: dict[int, Any] = field(default_factory=dict)
    copies: dict[int, dict[str, Path]] = field(default_factory=dict)


class BaselineStore:
    """The folder of committed baselines, one sub-folder per case."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, case: str) -> Path:
        return self.root / validate_case_name(case)

    def exists(self, case: str) -> bool:
        self._recover_quietly(case)
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

    def unused(self, used: Iterable[str]) -> list[str]:
        used = set(used)
        return [case for case in self.cases() if case not in used]

    def recover(self, case: str | None = None) -> list[str]:
        """Restore or remove what killed writers left (all cases, or ``case``); what it did."""
        return swap.recover(self.root, None if case is None else validate_case_name(case), stray=STRAY)

    def _recover_quietly(self, case: str) -> None:
        with contextlib.suppress(OSError):  # a read-only checkout can still be read
            self.recover(case)

    def read(self, case: str) -> Baseline:
        """Load a case; :class:`BaselineError` naming the file if anything is missing or wrong."""
        self._recover_quietly(case)
        return read_baseline_dir(self.path(case), case, root=self.root)

    def stored_speed(
        self, case: str, fingerprint: Mapping[str, Any] | None, *, kind: Kind | None = None
    ) -> SpeedSection | None:
        """The speed section of ``fingerprint``'s platform, from ``baseline.yaml`` alone (no run is
        loaded); ``None`` when the case (of ``kind``, if given) or that platform has none, or the
        case is unreadable (an update replaces it)."""
        if not self.exists(case):
            return None
        directory = self.path(case)
        try:
            if BASELINE_FILE not in scan_case(directory, self.root):  # links refused as in read()
                return None
            document = BaselineDocument.read(directory / BASELINE_FILE)
        except BaselineError:
            return None
        if kind is not None and document.meta.kind != kind:
            return None
        entry = next((e for e in document.platforms if same_platform(e.fingerprint, fingerprint)), None)
        return entry.speed if entry is not None else None

    @contextlib.contextmanager
    def _existing(self, case: str) -> Iterator[Baseline]:
        """Hold the case's lock and read it (recovered first); :class:`BaselineError` when it is
        missing or refused."""
        if self.root.is_dir():
            with swap.name_lock(self.root, case):
                old = self._read_locked(case, required=True)
                if old is not None:
                    yield old
                    return
        raise BaselineError(
            f"no baseline for case {case!r} at {self.path(case)}: write it first with "
            "--myriad-update-baselines",
            self.path(case),
        )

    def _read_locked(self, case: str, *, required: bool) -> Baseline | None:
        swap.recover(self.root, case, stray=STRAY, locked=True)
        if not os.path.lexists(self.path(case)):
            return None
        try:
            return read_baseline_dir(self.path(case), case, root=self.root)
        except BaselineError:
            if required:
                raise
            return None  # a broken case is replaced whole

    def write(
        self,
        case: str,
        runs: Sequence[Any],
        *,
        fingerprint: Mapping[str, Any] | None,
        speed: SpeedSection | None = None,
        metric: Mapping[str, Any] | None = None,
        checkpoint_returns: Mapping[int, float] | None = None,
    ) -> WriteOutcome:
        """Write (or replace) the whole case from per-seed runs of the platform ``fingerprint``.

        Refused before anything is written when a run holds a non-finite return. When the stored
        case holds these runs already (same content, speed and metric), no byte changes.
        """
        target = self.path(case)
        kind, by_seed = checked_runs(runs)
        metric = check_metric(metric if metric is not None else DEFAULT_METRIC)
        fingerprint = dict(fingerprint) if fingerprint else None
        digest = fingerprint_digest(fingerprint) if fingerprint else None
        self.root.mkdir(parents=True, exist_ok=True)
        with swap.name_lock(self.root, case):
            old = self._read_locked(case, required=False)
            stored = old.primary if old is not None and old.primary.digest == digest else None
            copies = _same_runs(old, stored, by_seed, kind)
            config_digest = next(iter(by_seed.values())).config.digest()
            if (
                stored is not None
                and len(old.platforms) == 1
                and old.meta.format_version == BASELINE_FORMAT_VERSION
                and (old.meta.config_digest, old.meta.metric) == (config_digest, metric)
                and list(stored.seeds) == list(by_seed)
                and set(copies) == set(by_seed)
                and stored.speed == speed
            ):
                return WriteOutcome(target, False, f"baseline unchanged: {target}")
            summary = runs_summary(list(by_seed.values()), checkpoint_returns)
            entry = PlatformEntry(fingerprint, digest, ".", list(by_seed), summary, speed)
            meta = BaselineMeta(kind, config_digest, metric, utc_now(), library_versions())
            planned = _Planned(entry, {s: r for s, r in by_seed.items() if s not in copies}, copies)
            self._build(case, meta, [planned])
        return WriteOutcome(target, True, f"baseline written: {target}")

    def add_platform(
        self,
        case: str,
        runs: Sequence[Any],
        *,
        fingerprint: Mapping[str, Any],
        speed: SpeedSection | None = None,
        checkpoint_returns: Mapping[int, float] | None = None,
    ) -> WriteOutcome:
        """Write this platform's runs beside the case's others (kept byte for byte), or replace
        this platform's own; the case must exist and hold runs of the same config."""
        target = self.path(case)
        kind, by_seed = checked_runs(runs)
        if not fingerprint:
            raise BaselineError(f"adding a platform to case {case!r} needs the platform's fingerprint")
        fingerprint = dict(fingerprint)
        digest = fingerprint_digest(fingerprint)
        with self._existing(case) as old:
            config = next(iter(by_seed.values())).config
            if old.kind != kind or not old.meta.accepts_config(config):
                raise BaselineError(
                    f"{target / BASELINE_FILE}: holds {old.kind} runs of config digest "
                    f"{old.meta.config_digest}; these are {kind} runs of {config.digest()}: a further "
                    "platform's runs must use the case's config; rewrite the case with "
                    "--myriad-update-baselines",
                    target / BASELINE_FILE,
                )
            index = next((i for i, p in enumerate(old.platforms) if p.digest == digest), len(old.platforms))
            stored = old.platforms[index] if index < len(old.platforms) else None
            copies = _same_runs(old, stored, by_seed, kind)
            label = f"platform {describe_platform(fingerprint)} {digest}"
            if (
                stored is not None
                and old.meta.format_version == BASELINE_FORMAT_VERSION
                and list(stored.seeds) == list(by_seed)
                and set(copies) == set(by_seed)
                and stored.speed == speed
            ):
                return WriteOutcome(target, False, f"{label} unchanged in {target}")
            planned = self._keep(old)
            entry = PlatformEntry(
                fingerprint,
                digest,
                "." if index == 0 else f"platform-{digest}",
                list(by_seed),
                runs_summary(list(by_seed.values()), checkpoint_returns),
                speed,
            )
            mine = _Planned(entry, {s: r for s, r in by_seed.items() if s not in copies}, copies)
            planned[index : index + 1] = [mine]
            meta = dataclasses.replace(
                old.meta, config_digest=config.digest(), created=utc_now(), versions=library_versions()
            )
            self._build(case, meta, planned)
        verb = "replaced in" if stored is not None else "added to"
        return WriteOutcome(target, True, f"{label} {verb} {target}")

    def write_speed(
        self, case: str, *, fingerprint: Mapping[str, Any] | None, speed: SpeedSection
    ) -> WriteOutcome:
        """Write the speed of a speed-only case for ``fingerprint``'s platform, keeping the other
        platforms' (a case of another kind is replaced whole); unchanged speed changes no byte."""
        target = self.path(case)
        fingerprint = dict(fingerprint) if fingerprint else None
        digest = fingerprint_digest(fingerprint) if fingerprint else None
        self.root.mkdir(parents=True, exist_ok=True)
        with swap.name_lock(self.root, case):
            old = self._read_locked(case, required=False)
            entries = list(old.document.platforms) if old is not None and old.kind == "speed" else []
            index = next((i for i, e in enumerate(entries) if e.digest == digest), len(entries))
            if index < len(entries) and entries[index].speed == speed:
                return WriteOutcome(target, False, f"speed baseline unchanged: {target}")
            entry = PlatformEntry(
                fingerprint, digest, "." if index == 0 else f"platform-{digest}", [], None, speed
            )
            entries[index : index + 1] = [entry]
            meta = BaselineMeta("speed", None, dict(DEFAULT_METRIC), utc_now(), library_versions())
            self._build(case, meta, [_Planned(e) for e in entries])
        return WriteOutcome(target, True, f"speed baseline written: {target}")

    def set_speed(
        self, case: str, fingerprint: Mapping[str, Any] | None, speed: SpeedSection | None
    ) -> WriteOutcome:
        """Store ``speed`` for the runs of ``fingerprint``'s platform; only ``baseline.yaml``
        changes (rewritten atomically)."""
        target = self.path(case)
        with self._existing(case) as old:
            platform = old.for_platform(fingerprint)
            if platform is None:
                raise BaselineError(
                    f"{target / BASELINE_FILE}: no runs of this platform ({describe_platform(fingerprint)}"
                    "); add them with --myriad-add-platform",
                    target / BASELINE_FILE,
                )
            index = old.platforms.index(platform)
            if platform.speed == speed and old.meta.format_version == BASELINE_FORMAT_VERSION:
                return WriteOutcome(target, False, f"speed unchanged: {target}")
            meta = dataclasses.replace(old.meta, created=utc_now())
            planned = self._keep(old)
            planned[index].entry = dataclasses.replace(planned[index].entry, speed=speed)
            if old.meta.format_version == BASELINE_FORMAT_VERSION:
                document = BaselineDocument(meta, [p.entry for p in planned], old.document.files)
                write_yaml(target / BASELINE_FILE, document.to_yaml())
            else:
                self._build(case, self._migrated_meta(old, created=meta.created), planned)
        return WriteOutcome(target, True, f"speed written: {target}")

    def migrate(self, case: str) -> WriteOutcome:
        """Rewrite a format 1 case as format 2, its runs byte for byte (digests recorded)."""
        target = self.path(case)
        with self._existing(case) as old:
            if old.meta.format_version == BASELINE_FORMAT_VERSION:
                return WriteOutcome(target, False, f"already format {BASELINE_FORMAT_VERSION}: {target}")
            self._build(case, self._migrated_meta(old, created=old.meta.created), self._keep(old))
        return WriteOutcome(target, True, f"migrated to format {BASELINE_FORMAT_VERSION}: {target}")

    def prune(self, cases: Iterable[str]) -> list[str]:
        """Remove whole cases (each in one rename, then deleted); the cases removed."""
        removed = []
        for case in cases if self.root.is_dir() else ():
            target = self.path(case)
            with swap.name_lock(self.root, case):
                swap.recover(self.root, case, stray=STRAY, locked=True)
                if not os.path.lexists(target):
                    continue
                doomed = swap.hidden_sibling(target, "del")
                os.rename(target, doomed)
                fsync_dir(self.root)
                swap.remove_tree(doomed)
            removed.append(case)
        return removed

    @staticmethod
    def _migrated_meta(old: Baseline, *, created: str | None) -> BaselineMeta:
        return BaselineMeta(
            old.kind, old.config.digest(), dict(DEFAULT_METRIC), created, dict(old.meta.versions)
        )

    @staticmethod
    def _keep(old: Baseline) -> list[_Planned]:
        """Every platform of ``old`` as it is (format 1 summaries recomputed from the runs)."""
        planned = []
        for entry, platform in zip(old.document.platforms, old.platforms, strict=True):
            if old.meta.format_version != BASELINE_FORMAT_VERSION:
                entry = dataclasses.replace(
                    entry, summary=runs_summary([platform.runs[s] for s in entry.seeds])
                )
            copies = {seed: _run_files(old, platform, seed) for seed in entry.seeds}
            planned.append(_Planned(entry, {}, copies))
        return planned

    def _build(self, case: str, meta: BaselineMeta, planned: list[_Planned]) -> None:
        """Write the case whole into a hidden sibling, fsync it, and swap it in (lock held)."""
        target = self.path(case)
        tmp = swap.hidden_sibling(target, "tmp")
        try:
            tmp.mkdir()
            for plan in planned:
                base = tmp if plan.entry.dir == "." else tmp / plan.entry.dir
                for seed in plan.entry.seeds:
                    if seed in plan.copies:
                        copy_files(plan.copies[seed], base / f"seed-{seed}")
                    else:
                        run = dataclasses.replace(plan.runs[seed], run_dir=Path(f"seed-{seed}"))
                        run.save(
                            base / f"seed-{seed}",
                            save_checkpoint=meta.kind == "training" and run.agent_state is not None,
                        )
            files = {rel: sha256_file(path) for rel, path in scan_case(tmp, self.root).items()}
            document = BaselineDocument(meta, [plan.entry for plan in planned], files)
            write_yaml(tmp / BASELINE_FILE, document.to_yaml())
            swap.fsync_tree(tmp)
            swap.swap_in(tmp, target)
        except BaseException:
            swap.remove_tree(tmp)
            raise

    # Claims stop two tests (or two xdist workers) of one run from writing the same case.
    def claim(self, case: str, run_id: str, owner: str) -> str | None:
        """Claim ``case`` for ``owner`` in run ``run_id``; the other owner's id if already claimed."""
        self.root.mkdir(parents=True, exist_ok=True)
        return swap.claim(self.root, validate_case_name(case), run_id, owner)

    def release_claims(self, run_id: str) -> None:
        swap.release_claims(self.root, run_id)
