"""Results pickles: written with JAX arrays stored as NumPy, read back safely and bounded.

:func:`load_results_pickle` reads through :class:`~myriad_bench.store.unpickler.SafeUnpickler`
(no code runs, no unchecked array is built), never asks the file for more bytes than it has,
and then bounds what the loaded object expands to (:func:`~myriad_bench.store.bounds.check_expansion`).
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import IO, Any

from myriad_bench.store.atomic import atomic_write
from myriad_bench.store.bounds import check_expansion
from myriad_bench.store.errors import ArtifactError, UnsafePickleError
from myriad_bench.store.unpickler import SafeUnpickler

__all__ = ["PICKLE_PROTOCOL", "SafeUnpickler", "dump_results_pickle", "load_results_pickle"]

PICKLE_PROTOCOL = 5


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

    A corrupt length field would otherwise make the unpickler allocate a buffer of up to
    2**64 bytes before finding the data missing.
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
    global or an array outside the allow-list, and :class:`ArtifactError` for a truncated,
    garbage, foreign or over-expanding file, or one that holds something other than ``expected``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file not found: {path}")
    if path.is_dir():
        raise ArtifactError(f"{path} is a directory, expected a results pickle file")
    if not path.is_file():
        raise ArtifactError(f"{path} is not a regular file, expected a results pickle file")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ArtifactError(f"{path} is empty, expected a results pickle (truncated or never written)")
        try:
            obj = SafeUnpickler(_BoundedReader(f, size), source=path).load()
        except UnsafePickleError:
            raise
        except (ArtifactError, Exception) as error:  # every unpickling failure means: unreadable file
            # The type only: messages of the unpickler's errors may quote bytes of the file.
            reason = str(error) if isinstance(error, ArtifactError) else type(error).__name__
            raise ArtifactError(
                f"{path} could not be read as a results pickle ({reason}); "
                "the file is truncated, corrupt or not a myriad-bench results file"
            ) from None
        if f.read(1):
            raise ArtifactError(f"{path} has unexpected bytes after the pickle; the file is corrupt")
    check_expansion(obj, size, path)
    if expected is not None and not isinstance(obj, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ArtifactError(f"{path} holds a {type(obj).__name__}, expected {names}")
    return obj
