"""The run-dir layout and ``run_metadata.yaml``; saving a whole run dir.

A run dir holds ``.hydra/config.yaml``, ``results.pkl``, ``run_metadata.yaml`` and, when asked,
``checkpoints/final.msgpack``. Every file is written atomically, so a crash leaves the previous
file or the new one, never a part.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from myriad_bench.store.agent_state import save_agent_state
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.fingerprint import fingerprint_digest, library_versions, platform_fingerprint
from myriad_bench.store.pickles import dump_results_pickle
from myriad_bench.store.yaml_io import load_yaml, write_yaml

__all__ = [
    "CHECKPOINT_FILENAME",
    "CONFIG_FILENAME",
    "METADATA_FILENAME",
    "RESULTS_FILENAME",
    "RUN_DIR_FORMAT_VERSION",
    "RunInfo",
    "check_run_dir_version",
    "default_run_dir",
    "read_run_metadata",
    "save_results_to_disk",
    "write_run_metadata",
]

RESULTS_FILENAME = "results.pkl"
CONFIG_FILENAME = ".hydra/config.yaml"
METADATA_FILENAME = "run_metadata.yaml"
CHECKPOINT_FILENAME = "checkpoints/final.msgpack"

RUN_DIR_FORMAT_VERSION = 1
"""Version of the run-dir format this library writes and the newest it reads."""


def default_run_dir(root: Path | str = "outputs", *, now: datetime | None = None) -> Path:
    """Create and return a fresh run dir ``<root>/<YYYY-MM-DD>/<HH-MM-SS>/`` (local time).

    When that folder exists already (two runs in the same second) a suffix ``-1``, ``-2``, ...
    is added, so the returned folder is always new and empty.
    """
    now = now or datetime.now()
    base = Path(root) / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, suffix = base, 0
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = base.with_name(f"{base.name}-{suffix}")


@dataclass(frozen=True)
class RunInfo:
    """When a run started and finished (timezone-aware, UTC), for ``run_metadata.yaml``.

    >>> info = RunInfo.start()
    >>> ...                              # the run
    >>> info = info.finish()             # finished and duration_s filled in
    """

    started: datetime
    finished: datetime | None = None
    duration_s: float | None = None

    @classmethod
    def start(cls) -> RunInfo:
        """A run starting now."""
        return cls(started=datetime.now(UTC))

    def finish(self, duration_s: float | None = None) -> RunInfo:
        """This run, finished now; ``duration_s`` defaults to the wall-clock time since start."""
        finished = datetime.now(UTC)
        if duration_s is None:
            duration_s = (finished - self.started).total_seconds()
        return dataclasses.replace(self, finished=finished, duration_s=float(duration_s))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive datetimes are taken as local time
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def write_run_metadata(
    directory: Path | str, *, run_info: RunInfo | None = None, result_type: str | None = None
) -> dict[str, Any]:
    """Write ``<directory>/run_metadata.yaml`` atomically and return what was written.

    Fields: ``format_version``, ``result_type``, ``created`` (run start, else now) and
    ``finished`` (ISO 8601, UTC; ``null`` when unknown), ``duration_s``, ``versions``,
    ``backend``, ``fingerprint`` and ``fingerprint_digest``.
    """
    fingerprint = platform_fingerprint()
    run_info = run_info or RunInfo.start()
    data = {
        "format_version": RUN_DIR_FORMAT_VERSION,
        "result_type": result_type,
        "created": _iso(run_info.started),
        "finished": _iso(run_info.finished),
        "duration_s": run_info.duration_s,
        "versions": library_versions(),
        "backend": fingerprint["backend"],
        "fingerprint": fingerprint,
        "fingerprint_digest": fingerprint_digest(fingerprint),
    }
    write_yaml(Path(directory) / METADATA_FILENAME, data)
    return data


def read_run_metadata(path: Path | str) -> dict[str, Any]:
    """Read ``run_metadata.yaml`` from a run dir (or the file itself) and check its version.

    Raises ``FileNotFoundError`` when it does not exist and :class:`ArtifactError` naming the
    file when it is not a metadata mapping or was written by a newer format than
    :data:`RUN_DIR_FORMAT_VERSION`.
    """
    path = Path(path)
    if path.is_dir() or (not path.exists() and path.suffix not in (".yaml", ".yml")):
        path = path / METADATA_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"run metadata not found: {path}")
    try:
        data = load_yaml(path)
    except OSError as error:
        raise ArtifactError(f"{path}: cannot be read ({type(error).__name__})") from error
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a run-metadata mapping, got {type(data).__name__}")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArtifactError(
            f"{path}: expected an integer format_version >= 1, got {version!r}; not a run_metadata.yaml"
        )
    if version > RUN_DIR_FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: written with run-dir format_version {version}, but this myriad-bench "
            f"reads format_version {RUN_DIR_FORMAT_VERSION} at most; upgrade myriad-bench to read it"
        )
    return data


def check_run_dir_version(directory: Path | str) -> None:
    """Fail with :class:`ArtifactError` when a run dir's metadata is unreadable or too new.

    A run dir without ``run_metadata.yaml`` (written before it existed) passes.
    """
    path = Path(directory) / METADATA_FILENAME
    if path.exists():
        read_run_metadata(path)


def save_results_to_disk(
    results: Any,
    directory: Path | str,
    agent_state: Any,
    save_checkpoint: bool,
    *,
    run_info: RunInfo | None = None,
) -> None:
    """Write ``results.pkl``, ``run_metadata.yaml`` and, when asked, the agent checkpoint.

    ``results`` must already be stripped of its agent (and env) state; ``agent_state`` goes to
    ``checkpoints/final.msgpack`` only with ``save_checkpoint=True`` and when it is not ``None``.
    """
    directory = Path(directory)
    if save_checkpoint and agent_state is not None:
        save_agent_state(agent_state, directory / CHECKPOINT_FILENAME)
    dump_results_pickle(results, directory / RESULTS_FILENAME)
    write_run_metadata(directory, run_info=run_info, result_type=type(results).__name__)
