"""Run-dir layout, atomic writes, safe unpickling and run metadata.

A run dir holds ``.hydra/config.yaml``, ``results.pkl``, ``run_metadata.yaml`` and, when asked,
``checkpoints/final.msgpack``. Every file is written atomically (temporary file in the same
folder, fsync, rename), so a crash leaves the previous file or the new one, never a part.

``results.pkl`` is read back with :class:`SafeUnpickler`, which admits only this package's own
data types, NumPy arrays, dtypes and scalars, paths, dates and builtin containers; any other
global (``os.system``, ``builtins.exec``, ``subprocess.Popen``, ...) is refused before it is
called, with :class:`UnsafePickleError` naming the file and the global.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import importlib
import json
import os
import pickle
import platform
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any

import yaml

__all__ = [
    "CHECKPOINT_FILENAME",
    "CONFIG_FILENAME",
    "FORMAT_VERSION",
    "METADATA_FILENAME",
    "RESULTS_FILENAME",
    "ArtifactError",
    "RunInfo",
    "SafeUnpickler",
    "UnsafePickleError",
    "atomic_write",
    "atomic_write_bytes",
    "check_run_dir_version",
    "default_run_dir",
    "dump_results_pickle",
    "fingerprint_digest",
    "library_versions",
    "load_results_pickle",
    "platform_fingerprint",
    "read_run_metadata",
    "save_results_to_disk",
    "write_run_metadata",
]

RESULTS_FILENAME = "results.pkl"
CONFIG_FILENAME = ".hydra/config.yaml"
METADATA_FILENAME = "run_metadata.yaml"
CHECKPOINT_FILENAME = "checkpoints/final.msgpack"

FORMAT_VERSION = 1
"""Version of the run-dir format this library writes and the newest it reads."""

PICKLE_PROTOCOL = 5


class ArtifactError(RuntimeError):
    """A saved file that cannot be used: truncated, garbage, foreign or of a newer format.

    A ``RuntimeError`` so that callers of the seed API (``load_agent`` documents
    ``RuntimeError``) keep working; the message names the file and what was expected.
    """


class UnsafePickleError(ArtifactError):
    """A pickle that refers to a global outside the allow-list; nothing in it was run."""


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only when the ``with`` block ends cleanly.

    The data goes to a hidden temporary file in the same folder (so the final rename never
    crosses file systems), is fsynced, then renamed over ``path``; the folder is fsynced too so
    the rename survives a power cut. On an exception the temporary file is removed and ``path``
    is left as it was. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            _sync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same folder, are fsynced, then renamed over ``path``.
    Parent folders are created.
    """
    with atomic_write(path) as f:
        f.write(data)


# fdatasync flushes the data and the size, all a rename needs; fsync where it is missing (macOS).
_sync = getattr(os, "fdatasync", os.fsync)


def _fsync_dir(directory: Path) -> None:
    # Directories cannot be opened for fsync on Windows; the rename is still atomic there.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


# --------------------------------------------------------------------------- safe unpickling

_PATH_CLASSES = {"Path", "PurePath", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"}
# A concrete path of the other OS cannot be instantiated here; its pure twin carries the same parts.
_FOREIGN_PATH = {"nt": "PosixPath", "posix": "WindowsPath"}.get(os.name)

_SAFE_BUILTINS = {"complex", "set", "frozenset", "slice", "range"}
_SAFE_STDLIB = {
    "collections": {"OrderedDict"},
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
}
_NUMPY_FUNCTIONS = {"_reconstruct", "scalar", "_frombuffer"}
_NUMPY_FUNCTION_MODULES = {"multiarray", "numeric"}
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals.

    Admitted: data classes, pydantic models, enums and named tuples defined in
    ``myriad_bench``; ``numpy.ndarray``, ``numpy.dtype``, NumPy and ``ml_dtypes`` scalar types
    and NumPy's array reconstructors (under both ``numpy.core`` and ``numpy._core``);
    ``pathlib`` paths; ``datetime`` types; ``collections.OrderedDict``; the builtin
    containers ``set``, ``frozenset``, ``complex``, ``slice``, ``range``; and
    ``_codecs.encode`` restricted to latin1 (how protocol-2 pickles store bytes).
    Anything else raises :class:`UnsafePickleError` before it is imported or called.
    """

    def __init__(self, file: IO[bytes], *, source: Path | str = "<bytes>") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = _resolve_safe_global(module, name)
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused to load global '{module}.{name}'. Results files may only "
                "hold myriad_bench result types, NumPy arrays, paths and builtin containers; this "
                "file is corrupt or was crafted to run code. Nothing in it was executed."
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refused a persistent id {pid!r}; results files have none")


def _resolve_safe_global(module: str, name: str) -> Any | None:
    if not _MODULE_NAME.fullmatch(module) or not name.isidentifier():
        return None
    if module == "builtins":
        return getattr(__import__("builtins"), name) if name in _SAFE_BUILTINS else None
    if (module, name) == ("_codecs", "encode"):
        return _latin1_encode
    if name in _SAFE_STDLIB.get(module, ()):
        return getattr(importlib.import_module(module), name)
    if module in ("pathlib", "pathlib._local") and name in _PATH_CLASSES:
        import pathlib

        if name == _FOREIGN_PATH:
            name = "Pure" + name
        return getattr(pathlib, name)
    if module == "numpy" or module.startswith("numpy."):
        return _resolve_numpy(module, name)
    if module == "ml_dtypes":
        return _scalar_type(importlib.import_module("ml_dtypes"), name)
    if module == "myriad_bench" or module.startswith("myriad_bench."):
        return _resolve_own_type(module, name)
    return None


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles (numpy 1 era) store bytes as _codecs.encode(text, "latin1"); admit
    # exactly that use rather than every codec.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"refused _codecs.encode with encoding {encoding!r}; only latin1 is admitted")
    return text.encode("latin1")


def _resolve_numpy(module: str, name: str) -> Any | None:
    import numpy as np

    if module == "numpy":
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        return _scalar_type(np, name)
    if module == "numpy.dtypes":
        value = getattr(np.dtypes, name, None)
        return value if isinstance(value, type) and issubclass(value, np.dtype) else None
    parts = module.split(".")
    if (
        len(parts) == 3
        and parts[1] in ("core", "_core")
        and parts[2] in _NUMPY_FUNCTION_MODULES
        and name in _NUMPY_FUNCTIONS
    ):
        # numpy 1 pickles say numpy.core, numpy 2 numpy._core; read both with either numpy.
        for package in ("numpy._core", "numpy.core"):
            with contextlib.suppress(ImportError, AttributeError):
                return getattr(importlib.import_module(f"{package}.{parts[2]}"), name)
    return None


def _scalar_type(namespace: Any, name: str) -> type | None:
    import numpy as np

    value = getattr(namespace, name, None)
    return value if isinstance(value, type) and issubclass(value, np.generic) else None


def _resolve_own_type(module: str, name: str) -> type | None:
    from pydantic import BaseModel

    try:
        value = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    if not isinstance(value, type) or not value.__module__.startswith("myriad_bench"):
        return None
    # Only plain data holders: constructing one stores its arguments and runs no other code.
    is_named_tuple = issubclass(value, tuple) and hasattr(value, "_fields")
    if dataclasses.is_dataclass(value) or issubclass(value, BaseModel | enum.Enum) or is_named_tuple:
        return value
    return None


def dump_results_pickle(obj: Any, path: Path | str) -> None:
    """Pickle ``obj`` atomically to ``path``; JAX arrays inside are stored as NumPy arrays."""
    with atomic_write(path) as f:
        _ResultsPickler(f, protocol=PICKLE_PROTOCOL).dump(obj)


class _ResultsPickler(pickle.Pickler):
    # A jax.Array pickles through a JAX-internal function the safe loader will not call;
    # store its value as NumPy instead (what every loader can read back).
    def reducer_override(self, obj: Any) -> Any:
        jax = sys.modules.get("jax")
        if jax is not None and isinstance(obj, jax.Array):
            import numpy as np

            return np.asarray(obj).__reduce_ex__(PICKLE_PROTOCOL)
        return NotImplemented


class _BoundedReader:
    """A file the unpickler may not ask for more bytes than it has.

    A corrupt length field would otherwise make the unpickler allocate (and, on some Python
    versions, mishandle) a buffer of up to 2**64 bytes before finding the data missing.
    """

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file, self._size = file, size

    def _check(self, n: int) -> None:
        remaining = self._size - self._file.tell()
        if n > remaining:
            raise ArtifactError(f"a record of {n} bytes where only {remaining} remain (truncated or corrupt)")

    def read(self, n: int = -1) -> bytes:
        if n is not None and n >= 0:
            self._check(n)
        return self._file.read(n)

    def readinto(self, buffer: Any) -> int:
        self._check(memoryview(buffer).nbytes)
        return self._file.readinto(buffer)

    def readline(self) -> bytes:
        return self._file.readline()


def load_results_pickle(path: Path | str, expected: type | tuple[type, ...] | None = None) -> Any:
    """Read a pickle written by :func:`dump_results_pickle` without running code from it.

    Raises ``FileNotFoundError`` when ``path`` does not exist, :class:`UnsafePickleError` for a
    global outside the allow-list and :class:`ArtifactError` for a truncated, garbage or foreign
    file, or one that holds something other than ``expected``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file not found: {path}")
    if path.is_dir():
        raise ArtifactError(f"{path} is a directory, expected a results pickle file")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ArtifactError(f"{path} is empty, expected a results pickle (truncated or never written)")
        try:
            # Straight from the file: the unpickler reads large arrays into place, no extra copy.
            obj = SafeUnpickler(_BoundedReader(f, size), source=path).load()
        except UnsafePickleError:
            raise
        except Exception as error:  # every unpickling failure means the same: unreadable file
            raise ArtifactError(
                f"{path} could not be read as a results pickle ({type(error).__name__}: {error}); "
                "the file is truncated, corrupt or not a myriad-bench results file"
            ) from error
        if f.read(1):
            raise ArtifactError(f"{path} has unexpected bytes after the pickle; the file is corrupt")
    if expected is not None and not isinstance(obj, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ArtifactError(f"{path} holds a {type(obj).__name__}, expected {names}")
    return obj


# --------------------------------------------------------------------------- run metadata


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
        return cls(started=_utc_now())

    def finish(self, duration_s: float | None = None) -> RunInfo:
        """This run, finished now; ``duration_s`` defaults to the wall-clock time since start."""
        finished = _utc_now()
        if duration_s is None:
            duration_s = (finished - self.started).total_seconds()
        return dataclasses.replace(self, finished=finished, duration_s=float(duration_s))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive datetimes are taken as local time
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


_VERSIONED_DISTRIBUTIONS = ("myriad-bench", "jax", "jaxlib", "flax", "optax", "numpy")
# Libraries whose versions can change the numbers a run produces (the fingerprint's part).
_NUMERIC_DISTRIBUTIONS = ("jax", "jaxlib", "flax", "optax", "numpy")


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for dist in _VERSIONED_DISTRIBUTIONS:
        try:
            versions.append((dist, importlib_metadata.version(dist)))
        except importlib_metadata.PackageNotFoundError:
            versions.append((dist, "not installed"))
    versions.append(("python", platform.python_version()))
    return tuple(versions)


def library_versions() -> dict[str, str]:
    """Versions of myriad-bench, jax, jaxlib, flax, optax, numpy and python."""
    return dict(_library_versions())


# Instruction-set extensions decide which code XLA emits for this CPU (and so the order of
# floating-point operations); other cpuinfo flags (microcode, virtualisation, power) do not.
_ISA_FLAG = re.compile(
    r"(avx|sse|ssse|fma|f16c|bmi|amx|adx|aes|sha|gfni|vaes|vpclmul|pclmul|popcnt|lzcnt|movbe|"
    r"asimd|neon|sve|fp|bf16|i8mm|dotprod|fhm|crc|atomics|vnni).*"
)


def _cpu_info() -> tuple[str, list[str]]:
    model, flags = "", []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and not model:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = value.split()
    if sys.platform == "darwin":
        model = model or _sysctl("machdep.cpu.brand_string")
        flags = flags or _sysctl("machdep.cpu.features").lower().split()
    return model or platform.processor() or "unknown", sorted(set(flags))


def _sysctl(name: str) -> str:
    import subprocess

    try:
        return subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.cache
def _platform_fingerprint_json() -> str:
    import jax

    model, flags = _cpu_info()
    features = [flag for flag in flags if _ISA_FLAG.fullmatch(flag)]
    versions = library_versions()
    devices = jax.devices()
    fingerprint = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_model": model,
        "cpu_features": features,
        "cpu_features_digest": hashlib.sha256(" ".join(features).encode()).hexdigest()[:16],
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind if devices else "none",
        "x64": bool(jax.config.jax_enable_x64),
        "versions": {name: versions[name] for name in _NUMERIC_DISTRIBUTIONS},
    }
    return json.dumps(fingerprint)


def platform_fingerprint() -> dict[str, Any]:
    """What decides whether a rerun reproduces a stored run bit for bit.

    Keys: ``machine``, ``system``, ``cpu_model``, ``cpu_features`` (the CPU's instruction-set
    extensions, sorted), ``cpu_features_digest``, ``backend``, ``device_kind``, ``x64``
    (``jax_enable_x64``) and ``versions`` of jax, jaxlib, flax, optax and numpy. Two runs with
    equal :func:`fingerprint_digest` may be compared exactly.
    """
    return json.loads(_platform_fingerprint_json())


def fingerprint_digest(fingerprint: Mapping[str, Any]) -> str:
    """A short stable digest (16 hex digits) of a :func:`platform_fingerprint` dict."""
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_run_metadata(
    directory: Path | str, *, run_info: RunInfo | None = None, result_type: str | None = None
) -> dict[str, Any]:
    """Write ``<directory>/run_metadata.yaml`` atomically and return what was written.

    Fields: ``format_version``, ``result_type``, ``created`` (run start, else now) and
    ``finished`` (ISO 8601, UTC; ``null`` when unknown), ``duration_s``, ``versions``,
    ``backend``, ``fingerprint`` and ``fingerprint_digest``.
    """
    fingerprint = platform_fingerprint()
    run_info = run_info or RunInfo(started=_utc_now())
    data = {
        "format_version": FORMAT_VERSION,
        "result_type": result_type,
        "created": _iso(run_info.started),
        "finished": _iso(run_info.finished),
        "duration_s": run_info.duration_s,
        "versions": library_versions(),
        "backend": fingerprint["backend"],
        "fingerprint": fingerprint,
        "fingerprint_digest": fingerprint_digest(fingerprint),
    }
    text = yaml.dump(data, Dumper=_YamlDumper, sort_keys=False)
    atomic_write_bytes(Path(directory) / METADATA_FILENAME, text.encode())
    return data


_YamlDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_run_metadata(path: Path | str) -> dict[str, Any]:
    """Read ``run_metadata.yaml`` from a run dir (or the file itself) and check its version.

    Raises ``FileNotFoundError`` when it does not exist and :class:`ArtifactError` naming the
    file when it is not a metadata mapping or was written by a newer format than
    :data:`FORMAT_VERSION`.
    """
    path = Path(path)
    if path.is_dir() or (not path.exists() and path.suffix not in (".yaml", ".yml")):
        path = path / METADATA_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"run metadata not found: {path}")
    try:
        data = yaml.load(path.read_bytes(), Loader=_YamlLoader)  # a safe loader (the C one when built)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, OSError) as error:
        raise ArtifactError(f"{path}: not valid YAML ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a run-metadata mapping, got {type(data).__name__}")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArtifactError(
            f"{path}: expected an integer format_version >= 1, got {version!r}; not a run_metadata.yaml"
        )
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: written with run-dir format_version {version}, but this myriad-bench "
            f"reads format_version {FORMAT_VERSION} at most; upgrade myriad-bench to read it"
        )
    return data


def check_run_dir_version(directory: Path | str) -> None:
    """Fail with :class:`ArtifactError` when a run dir's metadata is unreadable or too new.

    A run dir without ``run_metadata.yaml`` (written before it existed) passes.
    """
    path = Path(directory) / METADATA_FILENAME
    if path.exists():
        read_run_metadata(path)


# --------------------------------------------------------------------------- a whole run dir


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
        from myriad_bench.platform.serialization import save_agent_state

        save_agent_state(agent_state, directory / CHECKPOINT_FILENAME)
    dump_results_pickle(results, directory / RESULTS_FILENAME)
    write_run_metadata(directory, run_info=run_info, result_type=type(results).__name__)
