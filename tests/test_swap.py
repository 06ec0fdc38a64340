"""store/swap: one-step folder swap, per-name locks, and recovery of what a killed writer left."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from myriad_bench.store import swap


def make_folder(path: Path, content: str, files: int = 3) -> Path:
    path.mkdir(parents=True)
    for i in range(files):
        (path / f"f{i}.txt").write_text(f"{content} {i}\n")
    (path / "sub").mkdir()
    (path / "sub" / "deep.txt").write_text(content)
    return path


def content_of(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


@pytest.fixture(params=["exchange", "two renames"])
def path_kind(request, monkeypatch):
    if request.param == "two renames":
        monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    elif swap._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    return request.param


# --------------------------------------------------------------------------- swap_in


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    if swap._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    a, b = make_folder(tmp_path / "a", "A"), make_folder(tmp_path / "b", "B")
    assert swap.exchange(a, b) is True
    assert content_of(a)["f0.txt"] == "B 0\n" and content_of(b)["f0.txt"] == "A 0\n"
    with pytest.raises(FileNotFoundError):
        swap.exchange(a, tmp_path / "missing")  # ENOENT is an error, not "unsupported"


def test_exchange_reports_unsupported_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(swap, "_renameat2", None)
    a, b = make_folder(tmp_path / "a", "A"), make_folder(tmp_path / "b", "B")
    assert swap.exchange(a, b) is False
    assert content_of(a)["f0.txt"] == "A 0\n"


def test_swap_in_replaces_the_folder_and_leaves_nothing(tmp_path, path_kind, monkeypatch):
    steps: list[str] = []
    monkeypatch.setattr(swap, "STEP_HOOK", steps.append)
    target = make_folder(tmp_path / "case", "old")
    tmp = make_folder(swap.hidden_sibling(target, "tmp"), "new", files=1)
    swap.swap_in(tmp, target)
    assert content_of(target) == {"f0.txt": "new 0\n", "sub/deep.txt": "new"}
    assert hidden(tmp_path) == []
    assert steps == (["exchanged"] if path_kind == "exchange" else ["set-aside", "swapped"])
    fresh = make_folder(swap.hidden_sibling(tmp_path / "other", "tmp"), "x")
    swap.swap_in(fresh, tmp_path / "other")  # no old folder: one rename
    assert steps[-1] == "renamed" and content_of(tmp_path / "other")["f1.txt"] == "x 1\n"


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    target = make_folder(tmp_path / "case", "old")
    tmp = make_folder(swap.hidden_sibling(target, "tmp"), "new")
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise OSError("disk gone")
        real_rename(src, dst)

    monkeypatch.setattr(swap.os, "rename", rename)
    with pytest.raises(OSError, match="disk gone"):
        swap.swap_in(tmp, target)
    monkeypatch.undo()
    assert content_of(target)["f0.txt"] == "old 0\n"
    assert hidden(tmp_path) == [tmp.name]  # the caller removes its own temporary folder


# --------------------------------------------------------------------------- locks


def test_lock_is_exclusive_and_leaves_no_file(tmp_path):
    with swap.name_lock(tmp_path, "case") as held:
        assert held and (tmp_path / ".case.lock").exists()
        with swap.name_lock(tmp_path, "case", blocking=False) as other:
            assert other is False
        with swap.name_lock(tmp_path, "another", blocking=False) as other:
            assert other is True
    assert hidden(tmp_path) == []


def test_a_waiting_locker_gets_the_lock_after_release(tmp_path):
    order: list[str] = []
    entered = threading.Event()

    def waiter():
        entered.set()
        with swap.name_lock(tmp_path, "case") as held:
            order.append(f"waiter {held} {(tmp_path / '.case.lock').exists()}")

    with swap.name_lock(tmp_path, "case"):
        thread = threading.Thread(target=waiter)
        thread.start()
        entered.wait()
        time.sleep(0.2)
        order.append("holder done")
    thread.join(5)
    # The holder removed its lock file; the waiter notices it locked a removed file and retries.
    assert order == ["holder done", "waiter True True"]
    assert hidden(tmp_path) == []


def test_a_crafted_lock_or_claim_is_neither_followed_nor_waited_on(tmp_path):
    """A checkout may hold anything at these names: a link to a secret, a FIFO (opening one for
    reading blocks), a folder. Each is removed, never read through, and the lock still works."""
    secret = tmp_path / "secret"
    secret.write_text("wJalrXUtnFEMI")
    root = tmp_path / "root"
    root.mkdir()
    (root / ".a.lock").symlink_to(secret)
    os.mkfifo(root / ".b.lock")
    (root / ".c.lock").mkdir()
    os.mkfifo(root / ".a.claim")
    (root / ".b.claim").symlink_to(secret)
    for name in "abc":
        with swap.name_lock(root, name, blocking=False) as held:
            assert held and (root / f".{name}.lock").is_file()
    assert swap.claim(root, "a", "run1", "t::x") is None and swap.claim(root, "b", "run1", "t::x") is None
    assert swap.claim(root, "b", "run1", "t::y") == "t::x"
    swap.release_claims(root, "run1")
    assert hidden(root) == [] and secret.read_text() == "wJalrXUtnFEMI"
    os.mkfifo(root / ".d.claim")
    swap.release_claims(root, "run1")  # returns: the FIFO is removed, not read
    assert hidden(root) == []


# --------------------------------------------------------------------------- recover


def test_recover_restores_a_set_aside_folder_when_the_case_is_missing(tmp_path):
    make_folder(tmp_path / ".case.old-0123456789ab", "old")
    make_folder(tmp_path / ".case.tmp-0123456789ac", "new")
    (tmp_path / ".case.lock").write_text("")  # a killed writer's lock file
    done = swap.recover(tmp_path)
    assert content_of(tmp_path / "case")["f0.txt"] == "old 0\n"
    assert done == ["restored case from .case.old-0123456789ab", "removed .case.tmp-0123456789ac"]
    assert hidden(tmp_path) == []


def test_recover_removes_leftovers_when_the_case_exists(tmp_path):
    make_folder(tmp_path / "case", "new")
    make_folder(tmp_path / ".case.old-aaaaaaaaaaaa", "old")
    half = make_folder(tmp_path / ".case.tmp-bbbbbbbbbbbb", "half")
    (half / "f1.txt").unlink()  # a half-written temporary folder
    make_folder(tmp_path / ".case.del-cccccccccccc", "doomed")
    make_folder(tmp_path / "case" / "seed-0", "run")
    (tmp_path / "case" / ".baseline.yaml.x1y2.tmp").write_text("partial")
    (tmp_path / "case" / ".baseline.yaml.dir.tmp").mkdir()  # crafted: a folder at such a name
    done = swap.recover(tmp_path, stray=swap.re.compile(r"\.baseline\.yaml\..+\.tmp"))
    assert len(done) == 5
    assert hidden(tmp_path) == [] and hidden(tmp_path / "case") == []
    assert content_of(tmp_path / "case")["f0.txt"] == "new 0\n"


def test_recover_restores_the_newest_set_aside_folder(tmp_path):
    older = make_folder(tmp_path / ".case.old-000000000001", "older")
    os.utime(older, (1_000_000, 1_000_000))
    make_folder(tmp_path / ".case.old-000000000002", "newer")
    swap.recover(tmp_path)
    assert content_of(tmp_path / "case")["f0.txt"] == "newer 0\n"
    assert hidden(tmp_path) == []


def test_recover_skips_a_case_whose_writer_is_alive_and_others_only_when_asked(tmp_path):
    make_folder(tmp_path / ".busy.tmp-0123456789ab", "being written")
    make_folder(tmp_path / ".idle.tmp-0123456789ab", "left")
    make_folder(tmp_path / ".my.case.tmp-0123456789ab", "left")  # names may hold dots
    with swap.name_lock(tmp_path, "busy"):
        assert swap.recover(tmp_path, "idle") == ["removed .idle.tmp-0123456789ab"]
        assert swap.recover(tmp_path) == ["removed .my.case.tmp-0123456789ab"]
        assert (tmp_path / ".busy.tmp-0123456789ab").is_dir()
    assert swap.recover(tmp_path) == ["removed .busy.tmp-0123456789ab"]
    assert hidden(tmp_path) == []
    assert swap.recover(tmp_path / "nowhere") == []


def test_recover_leaves_other_hidden_files_alone(tmp_path):
    for name in (".gitkeep", ".case.tmp-XYZ", ".case.tmp-12"):
        (tmp_path / name).write_text("x")
    assert swap.recover(tmp_path) == []
    assert hidden(tmp_path) == sorted([".gitkeep", ".case.tmp-XYZ", ".case.tmp-12"])


def test_recover_removes_the_claims_of_dead_processes_only(tmp_path):
    # A killed update never releases its claims; the next run removes them, and no live writer's.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    host = socket.gethostname()
    claims = {
        "live": f"run\nt::a\n{os.getpid()}\n{host}\n",
        "dead": f"run\nt::b\n{int(dead.stdout)}\n{host}\n",
        "elsewhere": f"run\nt::c\n{int(dead.stdout)}\nanother-host\n",
        "malformed": "run\nt::d\n",
    }
    for name, text in claims.items():
        (tmp_path / f".{name}.claim").write_text(text)
    assert sorted(swap.recover(tmp_path)) == ["removed .dead.claim", "removed .malformed.claim"]
    assert hidden(tmp_path) == [".elsewhere.claim", ".live.claim"]
    assert swap.claim(tmp_path, "new", "run2", "t::e") is None
    assert (tmp_path / ".new.claim").read_text() == f"run2\nt::e\n{os.getpid()}\n{host}\n"
    assert swap.recover(tmp_path, "new", locked=True) == []  # its writer (this process) is alive


# --------------------------------------------------------------------------- kill -9

_CHILD = """
import os, sys, time
from pathlib import Path
from myriad_bench.store import swap

root, mode = Path(sys.argv[1]), sys.argv[2]
if mode != "exchange":
    swap.exchange = lambda a, b: False
if mode == "pause":
    def pause(step):
        if step == "set-aside":
            print("paused", flush=True)
            time.sleep(60)
    swap.STEP_HOOK = pause
payload = os.urandom(1 << 20)
print("ready", flush=True)
n = 0
while True:
    n += 1
    label = "AB"[n % 2]
    with swap.name_lock(root, "case"):
        swap.recover(root, "case", locked=True)
        tmp = swap.hidden_sibling(root / "case", "tmp")
        tmp.mkdir()
        for i in range(8):
            (tmp / f"part-{i}").write_bytes(payload)
        (tmp / "label").write_text(label)
        (tmp / "COMPLETE").write_text(label)
        swap.fsync_tree(tmp)
        swap.swap_in(tmp, root / "case")
"""


def _first_case(root: Path) -> None:
    case = root / "case"
    case.mkdir()
    for i in range(8):
        (case / f"part-{i}").write_bytes(b"0" * (1 << 20))
    (case / "label").write_text("A")
    (case / "COMPLETE").write_text("A")


def _complete_label(case: Path) -> str:
    label = (case / "label").read_text()
    assert (case / "COMPLETE").read_text() == label
    assert sorted(p.name for p in case.iterdir()) == sorted(
        [*(f"part-{i}" for i in range(8)), "COMPLETE", "label"]
    )
    assert all((case / f"part-{i}").stat().st_size == 1 << 20 for i in range(8))
    return label


@pytest.mark.parametrize("mode", ["exchange", "two renames"])
def test_kill_9_during_swaps_leaves_the_old_or_the_new_folder(tmp_path, mode):
    """A child swaps folders in a loop and is killed at random moments (seeded): after each kill,
    the folder (after recovery, for two renames) is complete, and recovery leaves nothing behind."""
    if mode == "exchange" and swap._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD))
    root = tmp_path / "root"
    root.mkdir()
    _first_case(root)
    rng = random.Random(20261203)
    outcomes: dict[str, int] = {}
    for _ in range(40):
        child = subprocess.Popen(
            [sys.executable, str(script), str(root), mode], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if mode == "exchange":  # never missing, never partial: the exchange is one step
            _complete_label(root / "case")
        left = "+".join(sorted({name.rsplit(".", 1)[-1].split("-")[0] for name in hidden(root)})) or "nothing"
        done = swap.recover(root)
        assert hidden(root) == [], done
        state = _complete_label(root / "case") if (root / "case").exists() else "none"
        key = f"{state} ({'restored' if any('restored' in d for d in done) else 'as left'}; left {left})"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"\n{mode}: 40 kills -> {outcomes}")
    assert sum(n for key, n in outcomes.items() if not key.startswith("none")) >= 35


def test_kill_9_between_the_two_renames_is_undone_by_recover(tmp_path):
    """Without RENAME_EXCHANGE, a writer killed after setting the old folder aside leaves no case
    folder; recovery puts the old one back whole and removes the new one's temporary folder."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD))
    root = tmp_path / "root"
    root.mkdir()
    _first_case(root)
    for trial in range(3):
        child = subprocess.Popen(
            [sys.executable, str(script), str(root), "pause"], stdout=subprocess.PIPE, text=True
        )
        lines = [child.stdout.readline().strip() for _ in range(2)]
        assert lines == ["ready", "paused"]
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert not (root / "case").exists()
        left = hidden(root)
        assert [name.split("-")[0] for name in left] == [".case.lock", ".case.old", ".case.tmp"], left
        done = swap.recover(root)
        assert done[0].startswith("restored case from .case.old-") and len(done) == 2
        assert hidden(root) == []
        # The first write of each child is "B" (n=1); the old folder holds what was there.
        assert _complete_label(root / "case") == "A", trial
