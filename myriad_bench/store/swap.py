"""Replace a whole folder in one atomic step, lock it per name, and recover what a crash left.

A writer builds the complete new folder as a hidden sibling ``.<name>.tmp-<token>`` (then
:func:`fsync_tree`), and :func:`swap_in` puts it in place. Where the OS has it (Linux,
``renameat2(RENAME_EXCHANGE)``) the two folders trade places in one step and the old one, now
at the temporary name, is removed: a ``kill -9`` at any moment leaves ``<name>`` complete, old or
new. Elsewhere ``<name>`` is first renamed to ``.<name>.old-<token>``; a crash between the two
renames leaves no ``<name>``, and :func:`recover` renames the old folder back.

:func:`recover` is safe to call at any time: it skips a name whose lock a live writer holds
(``fcntl.flock`` on ``.<name>.lock``, taken by :func:`name_lock`), restores ``.<name>.old-*``
when ``<name>`` is missing, and removes the other leftovers (``.tmp-*``, ``.old-*`` once
``<name>`` exists, ``.del-*``, ``.<name>.claim`` of a process that is gone). :func:`claim` keeps two
writers of one run (two tests, two xdist workers) off the same name. No pytest, no JAX.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from myriad_bench.store.atomic import fsync_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer is assumed
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LEFTOVER",
    "STEP_HOOK",
    "claim",
    "exchange",
    "fsync_tree",
    "hidden_sibling",
    "name_lock",
    "recover",
    "release_claims",
    "remove_tree",
    "swap_in",
]

LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old|del)-(?P<token>[0-9a-f]{6,32})")
"""Hidden siblings a swap or a removal makes: ``.<name>.tmp-<token>`` (being built, or the old
folder after an exchange), ``.<name>.old-<token>`` (set aside) and ``.<name>.del-<token>``
(being removed)."""
_LOCK = re.compile(r"\.(?P<name>.+)\.lock")
_CLAIM = re.compile(r"\.(?P<name>.+)\.claim")

STEP_HOOK: Callable[[str], None] | None = None
"""Called with the name of each step of :func:`swap_in` once it is on disk (``"renamed"``,
``"exchanged"``, ``"set-aside"``, ``"swapped"``); crash tests pause or die there."""

# The lock file is never followed through a link, and opening it never waits (a FIFO).
_LOCK_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# Errors that mean "this OS or file system cannot exchange": fall back to two renames.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP}


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2  # glibc >= 2.28; absent on macOS and older C libraries
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def exchange(a: Path | str, b: Path | str) -> bool:
    """Swap the entries ``a`` and ``b`` (both must exist) in one atomic step.

    ``False`` when the OS or the file system cannot (then nothing happened); ``OSError`` for
    any other failure.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def hidden_sibling(target: Path, kind: str) -> Path:
    """A fresh hidden name beside ``target``: ``.<name>.<kind>-<token>`` (kind tmp, old or del)."""
    return target.parent / f".{target.name}.{kind}-{uuid.uuid4().hex[:12]}"


def _step(name: str) -> None:
    if STEP_HOOK is not None:
        STEP_HOOK(name)


def fsync_tree(directory: Path | str) -> None:
    """Flush every file and folder under ``directory`` (and it) to disk, innermost first."""
    if os.name != "posix":  # pragma: no cover - folders cannot be opened for fsync there
        return
    for folder, _, files in os.walk(directory, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(folder)


def remove_tree(path: Path | str) -> None:
    """Remove a folder (links inside are removed, never followed); nothing when it is gone."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:  # a file, a link or anything else a crafted checkout holds
        path.unlink(missing_ok=True)


def swap_in(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target`` and remove what was there.

    The caller holds :func:`name_lock` for ``target.name`` and has fsynced ``tmp``. After a
    crash, ``target`` is the old folder or the new one (with exchange), or missing with the old
    one at ``.<name>.old-*`` (without): :func:`recover` finishes the job either way.
    """
    parent = target.parent
    if not os.path.lexists(target):
        os.rename(tmp, target)
        fsync_dir(parent)
        _step("renamed")
        return
    if exchange(tmp, target):
        fsync_dir(parent)
        _step("exchanged")
        remove_tree(tmp)  # the old folder, now under the temporary name
        return
    old = hidden_sibling(target, "old")
    os.rename(target, old)
    fsync_dir(parent)
    _step("set-aside")
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    fsync_dir(parent)
    _step("swapped")
    remove_tree(old)


@contextlib.contextmanager
def name_lock(root: Path | str, name: str, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the advisory lock of ``<root>/<name>``; yields ``False`` when ``blocking=False`` and
    another process holds it.

    The lock file ``.<name>.lock`` is removed on release (a repository keeps no trace); a waiter
    that locked a file removed meanwhile notices (its inode is no longer at the path) and retries.
    """
    if fcntl is None:  # pragma: no cover
        yield True
        return
    path = Path(root) / f".{name}.lock"
    flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
    while True:
        try:
            fd = os.open(path, _LOCK_FLAGS, 0o644)
        except OSError as error:  # a link (ELOOP) or a FIFO left at the lock's name: never a lock
            if error.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise
            remove_tree(path)
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            remove_tree(path)
            continue
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _leftovers(root: Path, names: set[str] | None) -> dict[str, list[tuple[str, Path]]]:
    found: dict[str, list[tuple[str, Path]]] = {}
    for entry in sorted(os.listdir(root)):
        if not entry.startswith("."):
            continue
        match = LEFTOVER.fullmatch(entry) or _LOCK.fullmatch(entry) or _CLAIM.fullmatch(entry)
        if match is None or (names is not None and match["name"] not in names):
            continue
        kind = match.groupdict().get("kind") or ("lock" if entry.endswith(".lock") else "claim")
        found.setdefault(match["name"], []).append((kind, root / entry))
    return found


def recover(
    root: Path | str,
    name: str | None = None,
    *,
    stray: re.Pattern[str] | None = None,
    locked: bool = False,
) -> list[str]:
    """Finish or undo what killed writers left under ``root`` (for ``name`` only, if given).

    Restores ``.<name>.old-*`` when ``<name>`` is missing, removes the other leftovers, and with
    ``stray`` removes entries matching it at the top of ``<name>/`` (e.g. a killed atomic write's
    temporary file). Names whose lock is held are skipped; ``locked=True`` says the caller holds
    the lock of ``name`` itself. Returns what it did, one line each.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = _leftovers(root, None if name is None else {name})
    if stray is not None:
        for candidate in [name] if name is not None else sorted(os.listdir(root)):
            folder = root / candidate
            if candidate.startswith(".") or not folder.is_dir() or folder.is_symlink():
                continue
            for entry in sorted(os.listdir(folder)):
                if stray.fullmatch(entry):
                    found.setdefault(candidate, []).append(("stray", folder / entry))
    done: list[str] = []
    for each, items in sorted(found.items()):  # claims need no lock: their writer is dead or not
        for kind, path in items:
            if kind == "claim" and _stale_claim(path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                done.append(f"removed {path.name}")
        found[each] = [item for item in items if item[0] != "claim"]
    if locked and name is not None:
        return done + _recover_one(root / name, found.get(name, []))
    for each, items in sorted(found.items()):
        if not items:
            continue
        if all(kind == "lock" for kind, _ in items):
            # A lock file alone: left by a killed writer, or held now. Taking it removes a stale one.
            with name_lock(root, each, blocking=False):
                pass
            continue
        with name_lock(root, each, blocking=False) as held:
            if held:
                done += _recover_one(root / each, items)
    return done


def _recover_one(target: Path, items: list[tuple[str, Path]]) -> list[str]:
    done = []
    olds = sorted(
        (p for kind, p in items if kind == "old" and p.exists()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if olds and not os.path.lexists(target):
        os.rename(olds[0], target)
        fsync_dir(target.parent)
        done.append(f"restored {target.name} from {olds[0].name}")
        olds = olds[1:]
    for kind, path in items:
        if kind == "lock" or (kind == "old" and path not in olds):
            continue
        remove_tree(path)
        done.append(f"removed {path.relative_to(target.parent)}")
    return done


# --------------------------------------------------------------------------- claims


def _claim_lines(path: Path) -> list[str] | None:
    """The lines of a claim file (``None`` when there is none); anything that is not a small
    regular file at its name is removed and reads as a stale claim."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError:
        remove_tree(path)
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            remove_tree(path)
            return []
        return f.read(4096).decode(errors="replace").splitlines()


def _stale_claim(path: Path) -> bool:
    """Whether a claim's writer is gone: a process of this host that no longer runs (a killed run
    never releases its claims). A claim of another host, or a live process, is kept."""
    lines = _claim_lines(path)
    if lines is None:
        return False
    _, _, pid, host = [*lines, "", "", "", ""][:4]
    if host != socket.gethostname():
        return host == ""  # malformed (a claim always says its host), else unknowable: keep it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OverflowError):
        return True  # malformed
    except PermissionError:
        return False  # alive, another user's
    return False


def claim(root: Path, name: str, run_id: str, owner: str) -> str | None:
    """Claim ``name`` for ``owner`` in run ``run_id`` (``.<name>.claim``, created exclusively);
    the other owner if another owner of the same run holds it. A claim of another run is stale.

    The claim records the process and host, so that :func:`recover` removes it once that process
    is gone (a run killed before it released its claims)."""
    path = root / f".{name}.claim"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            lines = _claim_lines(path)
            if lines is None:
                continue
            other_run, other_owner = [*lines, "", ""][:2]
            if other_run == run_id:
                return None if other_owner == owner else other_owner
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{run_id}\n{owner}\n{os.getpid()}\n{socket.gethostname()}\n")
        return None
    return None


def release_claims(root: Path, run_id: str) -> None:
    """Remove the claims of run ``run_id`` under ``root``."""
    if not root.is_dir():
        return
    for path in root.glob(".*.claim"):
        if (_claim_lines(path) or [""])[0] == run_id:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
