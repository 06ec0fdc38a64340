"""Results pickles: written with JAX arrays stored as NumPy, read without running code.

``results.pkl`` is read back with :class:`SafeUnpickler`, which admits only this package's own
data types, NumPy arrays, dtypes and scalars, paths, dates and builtin containers; any other
global (``os.system``, ``builtins.exec``, ``subprocess.Popen``, ...) is refused before it is
called, with :class:`UnsafePickleError` naming the file and the global.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import importlib
import os
import pickle
import re
import sys
from pathlib import Path
from typing import IO, Any

from myriad_bench.store.atomic import atomic_write
from myriad_bench.store.errors import ArtifactError, UnsafePickleError

__all__ = ["PICKLE_PROTOCOL", "SafeUnpickler", "dump_results_pickle", "load_results_pickle"]

PICKLE_PROTOCOL = 5


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
