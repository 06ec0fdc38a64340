"""Atomic writes: readers see the old file or the new one, never a part of either.

The data goes to a hidden temporary file in the same folder (so the final rename never crosses
file systems), is fsynced, then renamed over the target; the folder is fsynced too so the rename
survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "fsync_dir"]


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only when the ``with`` block ends cleanly.

    On an exception the temporary file is removed and ``path`` is left as it was. Parent
    folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; give the mode an open() would (0666 - umask)
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            _sync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _read_umask()
# fdatasync flushes the data and the size, all a rename needs; fsync where it is missing (macOS).
_sync = getattr(os, "fdatasync", os.fsync)


def fsync_dir(directory: Path | str) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened."""
    if os.name != "posix":  # Windows cannot open folders for fsync; its renames are atomic anyway
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
