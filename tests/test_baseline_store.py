"""Baseline format 2: platforms and speed, integrity (digests, links), unchanged updates, refused
NaN updates, migration of format 1, pruning and recovery, and kill -9 during a write."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_baselines import evaluation_results, relist, training_results

from myriad_bench.harness.baseline_case import platform_distance
from myriad_bench.harness.baseline_store import (
    BASELINE_FILE,
    BaselineError,
    BaselineStore,
    SpeedSection,
    read_baseline_dir,
)
from myriad_bench.store.fingerprint import fingerprint_digest

XEON = {
    "machine": "x86_64", "system": "Linux", "cpu_model": "Intel(R) Xeon(R) Processor", "backend": "cpu",
    "device_kind": "cpu", "x64": False, "cpu_features": ["avx", "avx2", "avx512f", "avx512bw", "fma", "sse2"],
    "versions": {"jax": "0.10.2", "numpy": "2.4.6"},
}  # fmt: skip
EPYC = {**XEON, "cpu_model": "AMD EPYC", "cpu_features": ["avx", "avx2", "fma", "sse2"]}
SPEED = SpeedSection(
    env_steps_per_s=52_000.5, spread=0.031, rounds=5, rates=[51e3, 52e3, 52_000.5, 53e3, 50e3]
)
SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def with_agent(run, seed: int):
    """A training run that carries an agent state (what the check restores and evaluates)."""
    weights = np.random.default_rng(seed).standard_normal((8, 4)).astype(np.float32)
    return dataclasses.replace(run, agent_state={"params": {"w": weights, "b": np.zeros(4, np.float32)}})


def runs(level: float = 100.0, seeds=(0, 1, 2), **kwargs):
    return [with_agent(training_results(s, level, **kwargs), s) for s in seeds]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time (ns)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


@pytest.fixture
def store(tmp_path: Path) -> BaselineStore:
    return BaselineStore(tmp_path / "baselines")


@pytest.fixture
def two_platforms(store):
    store.write("case", runs(), fingerprint=XEON, speed=SPEED)
    store.add_platform("case", runs(level=90.0, seeds=(0, 1)), fingerprint=EPYC)
    return store


# --------------------------------------------------------------------------- format 2


def test_two_platforms_with_speed_round_trip(two_platforms):
    store = two_platforms
    baseline = store.read("case")
    xeon, epyc = baseline.platforms
    assert (xeon.digest, epyc.digest) == (fingerprint_digest(XEON), fingerprint_digest(EPYC))
    assert (
        xeon.directory == store.path("case")
        and epyc.directory == store.path("case") / f"platform-{epyc.digest}"
    )
    assert (xeon.seeds, epyc.seeds) == ([0, 1, 2], [0, 1])
    assert xeon.speed == SPEED and epyc.speed is None
    assert baseline.primary is xeon and baseline.seeds == [0, 1, 2] and baseline.kind == "training"
    np.testing.assert_array_equal(
        np.stack(epyc.runs[1].eval_metrics.episode_returns),
        np.stack(runs(level=90.0, seeds=(1,))[0].eval_metrics.episode_returns),
    )
    assert baseline.for_platform(EPYC) is epyc and baseline.for_platform({**EPYC, "x64": True}) is None
    meta = yaml.safe_load((store.path("case") / BASELINE_FILE).read_text())
    assert [p["dir"] for p in meta["platforms"]] == [".", f"platform-{epyc.digest}"]
    assert meta["platforms"][0]["speed"] == {
        "env_steps_per_s": 52000.5, "spread": 0.031, "rounds": 5, "rates": SPEED.rates,
        "compile_s": None, "compile_cache": None,
    }  # fmt: skip
    on_disk = sorted(
        p.relative_to(store.path("case")).as_posix() for p in store.path("case").rglob("*") if p.is_file()
    )
    assert sorted(meta["files"]) == [f for f in on_disk if f != BASELINE_FILE]
    assert len(meta["files"]) == 5 * 4  # 5 run dirs: config, results, metadata, checkpoint
    assert hidden(store.root) == []


def test_training_runs_keep_their_checkpoint_and_evaluation_runs_do_not(store):
    baseline_runs = runs()
    store.write("case", baseline_runs, fingerprint=XEON)
    stored = store.read("case").primary
    assert sorted(stored.checkpoints) == [0, 1, 2]
    raw = type(baseline_runs[0]).load_agent(stored.checkpoints[1])
    np.testing.assert_array_equal(raw["params"]["w"], baseline_runs[1].agent_state["params"]["w"])
    evaluation = dataclasses.replace(evaluation_results(3), agent_state={"w": np.ones(2)})
    store.write("ev", [evaluation], fingerprint=XEON)
    assert not list(store.path("ev").rglob("*.msgpack")) and store.read("ev").primary.checkpoints == {}


def test_results_hold_the_run_dir_relative_not_the_writers_folder(store, monkeypatch):
    store.write("case", runs(), fingerprint=XEON)
    loaded = store.read("case").primary.runs
    assert [loaded[s].run_dir for s in (0, 1, 2)] == [Path("seed-0"), Path("seed-1"), Path("seed-2")]
    for pkl in store.path("case").rglob("results.pkl"):
        assert str(store.root).encode() not in pkl.read_bytes()


def test_closest_platform_and_why(two_platforms):
    baseline = two_platforms.read("case")
    assert baseline.closest(EPYC) == (baseline.platforms[1], "same platform")
    zen = {**EPYC, "cpu_model": "AMD EPYC 9004", "cpu_features": [*EPYC["cpu_features"], "sse4_2"]}
    platform, why = baseline.closest(zen)
    assert platform is baseline.platforms[1]
    assert why == "closest platform: AMD EPYC (AVX2), differs in cpu_features, cpu_model"
    # Versions weigh more than CPU features; backend more than both.
    newer_jax_on_xeon = {**XEON, "versions": {"jax": "0.11.0", "numpy": "2.4.6"}}
    assert baseline.closest(newer_jax_on_xeon)[0] is baseline.platforms[0]
    assert platform_distance(XEON, {**XEON, "backend": "gpu"}) > platform_distance(
        XEON, {**EPYC, "x64": True}
    )
    assert baseline.closest(None) == (
        baseline.platforms[0],
        "the run has no platform fingerprint: the first platform's runs",
    )


def test_add_platform_refuses_another_config_or_a_missing_case_and_replaces_its_own(two_platforms):
    store = two_platforms
    with pytest.raises(BaselineError, match="config digest") as info:
        store.add_platform("case", runs(lr=0.5, seeds=(0,)), fingerprint=EPYC)
    assert str(store.path("case") / BASELINE_FILE) in str(info.value)
    with pytest.raises(BaselineError, match="no baseline for case 'other'"):
        store.add_platform("other", runs(), fingerprint=EPYC)
    nowhere = BaselineStore(store.root.parent / "nowhere")
    for attempt in (
        lambda: nowhere.add_platform("case", runs(), fingerprint=EPYC),
        lambda: nowhere.set_speed("case", EPYC, SPEED),
        lambda: nowhere.migrate("case"),
    ):
        with pytest.raises(BaselineError, match="no baseline for case 'case'"):
            attempt()
    assert not nowhere.root.exists()
    xeon_before = {k: v for k, v in snapshot(store.path("case")).items() if not k.startswith("platform-")}
    outcome = store.add_platform("case", runs(level=95.0, seeds=(4,)), fingerprint=EPYC)
    assert outcome.changed and "replaced in" in outcome.message
    after = snapshot(store.path("case"))
    assert {k: v for k, v in after.items() if not k.startswith("platform-") and k != BASELINE_FILE} == {
        k: v for k, v in xeon_before.items() if k != BASELINE_FILE
    }
    assert store.read("case").platforms[1].seeds == [4]
    assert not (store.path("case") / f"platform-{fingerprint_digest(EPYC)}" / "seed-0").exists()


def test_add_platform_to_a_committed_format_1_case_keeps_its_runs(tmp_path):
    # A format 1 case as the suite committed it (the committed ones are format 2 now).
    committed = (
        Path(__file__).resolve().parent / "data" / "format1" / "test_evaluation.test_classical-pendulum-pid"
    )
    store = BaselineStore(tmp_path / "baselines")
    shutil.copytree(committed, store.path("pid"))
    old = store.read("pid")
    before = snapshot(store.path("pid"))
    evaluation = dataclasses.replace(old.primary.runs[0], run_dir=Path("x"))
    store.add_platform("pid", [evaluation], fingerprint=EPYC)
    after = store.read("pid")
    assert after.meta.format_version == 2 and len(after.platforms) == 2
    assert after.primary.fingerprint == old.primary.fingerprint
    assert {
        k: v[0] for k, v in snapshot(store.path("pid")).items() if k in before and k != BASELINE_FILE
    } == {k: v[0] for k, v in before.items() if k != BASELINE_FILE}


# --------------------------------------------------------------------------- format 1


# A format 1 baseline as the suite committed it (Xeon, old digest), kept as it was.
COMMITTED = Path(__file__).resolve().parent / "data" / "format1"


def test_committed_format_1_baseline_reads_and_migrates_keeping_the_runs(tmp_path):
    case = "test_training.test_cartpole-ppo"
    baseline = BaselineStore(COMMITTED).read(case)
    assert baseline.meta.format_version == 1 and len(baseline.platforms) == 1
    assert baseline.primary.fingerprint["cpu_model"] == "Intel(R) Xeon(R) Processor"
    assert baseline.primary.seeds == list(range(8)) and baseline.primary.speed is None
    store = BaselineStore(tmp_path / "baselines")
    shutil.copytree(COMMITTED / case, store.path(case))
    before = snapshot(store.path(case))
    outcome = store.migrate(case)
    assert outcome.changed and "migrated to format 2" in outcome.message
    after = snapshot(store.path(case))
    assert set(after) == set(before)
    assert {k for k in after if after[k][0] != before[k][0]} == {BASELINE_FILE}
    assert all(after[k][1] == before[k][1] for k in after if k.endswith("results.pkl"))  # not even touched
    meta = yaml.safe_load((store.path(case) / BASELINE_FILE).read_text())
    assert meta["format_version"] == 2 and meta["created"] == baseline.meta.created
    assert meta["files"]["seed-3/results.pkl"] == hashlib.sha256(before["seed-3/results.pkl"][0]).hexdigest()
    migrated = store.read(case)
    assert (
        migrated.primary.digest == baseline.primary.digest
        and migrated.meta.config_digest == baseline.config.digest()
    )
    assert store.migrate(case).changed is False


# --------------------------------------------------------------------------- no byte changes


def test_an_unchanged_update_changes_no_byte_and_no_mtime(store):
    first = store.write("case", runs(), fingerprint=XEON, speed=SPEED)
    before = snapshot(store.path("case"))
    time.sleep(0.01)
    again = store.write("case", runs(), fingerprint=XEON, speed=SPEED)
    assert first.changed and not again.changed and "unchanged" in again.message
    assert snapshot(store.path("case")) == before
    assert hidden(store.root) == []


def test_content_not_pickle_bytes_decides(store):
    """Stored runs pickled differently (another protocol: what another process may produce) but
    holding the same results count as unchanged."""
    store.write("case", runs(), fingerprint=XEON)
    loaded = store.read("case").primary.runs
    for seed in (0, 1, 2):
        pkl = store.path("case") / f"seed-{seed}" / "results.pkl"
        repickled = pickle.dumps(loaded[seed], protocol=4)
        assert repickled != pkl.read_bytes()
        pkl.write_bytes(repickled)
    relist(store.path("case"))
    before = snapshot(store.path("case"))
    assert store.write("case", runs(), fingerprint=XEON).changed is False
    assert snapshot(store.path("case")) == before


def test_a_speed_only_change_rewrites_baseline_yaml_only(store):
    store.write("case", runs(), fingerprint=XEON, speed=SPEED)
    before, created = snapshot(store.path("case")), store.read("case").meta.created
    faster = dataclasses.replace(SPEED, env_steps_per_s=60_000.0)
    time.sleep(1.1)  # created has whole seconds
    assert store.write("case", runs(), fingerprint=XEON, speed=faster).changed
    after = snapshot(store.path("case"))
    assert {k for k in after if after[k] != before[k]} == {BASELINE_FILE} and set(after) == set(before)
    baseline = store.read("case")
    assert baseline.primary.speed == faster and baseline.meta.created != created
    slower = dataclasses.replace(SPEED, env_steps_per_s=40_000.0)
    assert store.set_speed("case", XEON, slower).changed
    assert {k for k, v in snapshot(store.path("case")).items() if v != after[k]} == {BASELINE_FILE}
    assert store.read("case").primary.speed == slower
    assert store.set_speed("case", XEON, slower).changed is False
    with pytest.raises(BaselineError, match="no runs of this platform"):
        store.set_speed("case", EPYC, slower)


def test_one_changed_seed_rewrites_that_run_only(store):
    store.write("case", runs(), fingerprint=XEON)
    before = snapshot(store.path("case"))
    changed = runs()
    changed[1] = with_agent(training_results(1, level=120.0), 1)
    store.write("case", changed, fingerprint=XEON)
    after = snapshot(store.path("case"))
    assert {k.split("/")[0] for k in after if after[k] != before[k]} == {BASELINE_FILE, "seed-1"}
    agent_only = runs()
    agent_only[2] = with_agent(training_results(2), 7)  # same curves, another agent state
    store.write("case", agent_only, fingerprint=XEON)
    assert {k.split("/")[0] for k, v in snapshot(store.path("case")).items() if v != after[k]} >= {"seed-2"}


def test_curves_from_any_code_update_without_byte_changes(store):
    from myriad_bench.platform.external import results_from_curves

    steps = np.array([100, 200, 300])
    returns = np.random.default_rng(0).normal(50.0, 5.0, (3, 3, 4))
    made = results_from_curves(
        steps, returns, seeds=[0, 1, 2], hyperparameters={"lr": 3e-4, "layers": [64, 64]}
    )
    assert store.write("own", made, fingerprint=XEON).changed
    before = snapshot(store.path("own"))
    again = results_from_curves(
        steps, returns, seeds=[0, 1, 2], hyperparameters={"lr": 3e-4, "layers": [64, 64]}
    )
    assert store.write("own", again, fingerprint=XEON).changed is False
    assert snapshot(store.path("own")) == before
    returns[1, 2, 0] += 1.0
    changed = results_from_curves(
        steps, returns, seeds=[0, 1, 2], hyperparameters={"lr": 3e-4, "layers": [64, 64]}
    )
    assert store.write("own", changed, fingerprint=XEON).changed


# --------------------------------------------------------------------------- refused updates


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_an_update_with_non_finite_returns_leaves_the_old_case(store, bad):
    store.write("case", runs(), fingerprint=XEON)
    before = snapshot(store.path("case"))
    broken = runs()
    broken[1].eval_metrics.episode_returns[2][5] = bad
    with pytest.raises(
        BaselineError, match=r"seed 1: evaluation 2 \(step 300\) holds a non-finite episode return"
    ):
        store.write("case", broken, fingerprint=XEON)
    with pytest.raises(BaselineError, match="seed 1: evaluation 2"):
        store.add_platform("case", broken, fingerprint=EPYC)
    with pytest.raises(BaselineError, match="nothing was written"):
        store.write("new", broken, fingerprint=XEON)
    evaluation = evaluation_results(4)
    evaluation.episode_returns[3] = bad
    with pytest.raises(BaselineError, match="seed 4: the evaluation holds a non-finite episode return"):
        store.write("ev", [evaluation], fingerprint=XEON)
    assert snapshot(store.path("case")) == before
    assert sorted(p.name for p in store.root.iterdir()) == ["case"]


def test_a_non_finite_stored_return_is_refused_naming_the_file(store):
    store.write("case", runs(), fingerprint=XEON)
    target = store.path("case") / "seed-2" / "results.pkl"
    loaded = store.read("case").primary.runs[2]
    loaded.eval_metrics.mean_return[3] = float("nan")
    target.write_bytes(pickle.dumps(loaded))
    relist(store.path("case"))
    with pytest.raises(BaselineError, match="non-finite mean return") as info:
        store.read("case")
    assert str(target) in str(info.value)


def _relisted(store, seed: int, run) -> Path:
    """Put ``run`` pickled at seed ``seed``'s results.pkl with its digest recorded, as an attacker would."""
    target = store.path("case") / f"seed-{seed}" / "results.pkl"
    target.write_bytes(pickle.dumps(run, protocol=5))
    relist(store.path("case"))
    return target


def _with_extra(run, value):
    config = run.config.model_copy(deep=True)
    config.agent.__pydantic_extra__["extras"] = value  # past pydantic, as unpickling sets it
    return dataclasses.replace(run, config=config)


def _with_evals(**fields):
    return lambda run: dataclasses.replace(run, eval_metrics=dataclasses.replace(run.eval_metrics, **fields))


INNER_FIELDS = {
    "a NumPy dtype in the agent extras": (lambda run: _with_extra(run, np.dtype("f4")), "not plain data"),
    "an array in the agent extras": (lambda run: _with_extra(run, np.zeros(3)), "not plain data"),
    "episode returns of text": (_with_evals(episode_returns=SECRET), "cannot be read (ValueError)"),
    "episode returns None": (_with_evals(episode_returns=None), "cannot be read (TypeError)"),
    "mean returns a mapping": (_with_evals(mean_return={"a": 1}), "cannot be read (TypeError)"),
    "steps of text": (_with_evals(steps_per_env=[SECRET] * 4), "cannot be read (ValueError)"),
    "ragged episode returns": (
        _with_evals(episode_returns=[np.zeros(3, np.float32), np.zeros(5, np.float32)] * 2),
        "cannot be read (ValueError)",
    ),
    "fewer steps than returns": (_with_evals(steps_per_env=[100, 200]), "differ in length"),
}


@pytest.mark.parametrize("name", sorted(INNER_FIELDS))
def test_malformed_inner_fields_are_a_baseline_error_naming_the_file(store, name):
    # A pickle sets fields without validation: every odd field is this error, never a pydantic,
    # NumPy or TypeError from a later check, and its message copies no text of the file.
    store.write("case", runs(), fingerprint=XEON)
    change, words = INNER_FIELDS[name]
    target = _relisted(store, 1, change(store.read("case").runs[1]))
    with pytest.raises(BaselineError) as info:
        store.read("case")
    assert str(target) in str(info.value) and words in str(info.value), str(info.value)
    assert "wJalrXUtnFEMI" not in str(info.value)


def test_written_files_and_folders_get_the_mode_a_plain_open_gives(store, tmp_path):
    # mkstemp makes 0600: a baseline must be readable as any file a checkout writes.
    with open(tmp_path / "plain", "wb"):
        pass
    (tmp_path / "plain-dir").mkdir()
    file_mode = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    dir_mode = stat.S_IMODE((tmp_path / "plain-dir").stat().st_mode)
    store.write("case", runs(seeds=(0,)), fingerprint=XEON)
    store.set_speed("case", XEON, SPEED)  # a rewrite of baseline.yaml alone
    case = store.path("case")
    modes = {p.relative_to(case).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [case, *case.rglob("*")]}
    assert len(modes) == 9  # the case, seed-0/, .hydra/, checkpoints/, 4 run files, baseline.yaml
    for rel, mode in modes.items():
        expected = dir_mode if (case / rel).is_dir() else file_mode
        assert mode == expected, f"{rel}: {oct(mode)} != {oct(expected)}"


# --------------------------------------------------------------------------- integrity


def _flip(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def flip(rel: str, offset: int = 40):
    return lambda store: _flip(store.path("case") / rel, offset)


def cut(rel: str, keep: int):
    def damage(store):
        path = store.path("case") / rel
        path.write_bytes(path.read_bytes()[:keep])

    return damage


def remove(rel: str):
    return lambda store: swap_remove(store.path("case") / rel)


def swap_remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy(source: str, destination: str, *, listed: bool = False):
    def damage(store):
        case = store.path("case")
        if (case / destination).exists():
            shutil.rmtree(case / destination)
        shutil.copytree(case / source, case / destination)
        if listed:
            relist(case)

    return damage


def add_file(rel: str, *, listed: bool = False):
    def damage(store):
        (store.path("case") / rel).write_text("hi")
        if listed:
            relist(store.path("case"))

    return damage


SHA = "its sha256 differs"
CHECKPOINT = "checkpoints/final.msgpack"
INTEGRITY = {
    # name: (damage, words of the error, the file it names)
    "flipped byte in results.pkl": (flip("seed-1/results.pkl"), SHA, "seed-1/results.pkl"),
    "flipped byte in run_metadata": (flip("seed-0/run_metadata.yaml"), SHA, "seed-0/run_metadata.yaml"),
    "flipped byte in config": (flip("seed-2/.hydra/config.yaml", 3), SHA, "seed-2/.hydra/config.yaml"),
    "flipped byte in checkpoint": (flip(f"seed-0/{CHECKPOINT}"), SHA, f"seed-0/{CHECKPOINT}"),
    "truncated results.pkl": (cut("seed-2/results.pkl", -1), SHA, "seed-2/results.pkl"),
    "emptied checkpoint": (cut(f"seed-1/{CHECKPOINT}", 0), SHA, f"seed-1/{CHECKPOINT}"),
    "missing listed file": (remove("seed-1/run_metadata.yaml"), "listed in", "seed-1/run_metadata.yaml"),
    "missing seed dir": (remove("seed-2"), "listed in", "seed-2/"),
    "extra platform dir": (copy("seed-0", "platform-0123456789abcdef/seed-0"), "not listed", "platform-"),
    "extra file": (add_file("seed-0/notes.txt"), "not listed", "seed-0/notes.txt"),
    "extra file listed outside any run": (
        add_file("notes.txt", listed=True),
        "not part of any",
        BASELINE_FILE,
    ),
    "seed swapped, digests too": (copy("seed-1", "seed-2", listed=True), "a run of seed 1, not 2", "seed-2"),
}


@pytest.mark.parametrize("name", sorted(INTEGRITY))
def test_a_damaged_case_is_refused_naming_the_file(store, name):
    store.write("case", runs(), fingerprint=XEON)
    damage, words, rel = INTEGRITY[name]
    damage(store)
    with pytest.raises(BaselineError) as info:
        store.read("case")
    assert words in str(info.value)
    assert str(store.path("case") / rel) in str(info.value), str(info.value)


def test_a_link_to_a_secret_outside_is_refused_without_reading_it(store, tmp_path):
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text(f"[default]\n{SECRET}\n")
    store.write("case", runs(), fingerprint=XEON)
    store.write("flat", runs(), fingerprint=XEON)
    links = {
        "case": store.path("case") / BASELINE_FILE,
        "flat": store.path("flat") / "seed-1" / "results.pkl",
    }
    for case, link in links.items():
        link.unlink()
        link.symlink_to(secret)
        with pytest.raises(BaselineError) as info:
            store.read(case)
        message = str(info.value)
        assert str(link) in message and "outside the baselines folder" in message
        assert "wJalrXUtnFEMI" not in message and "aws_secret" not in message
    folder = tmp_path / "elsewhere"
    shutil.copytree(store.path("case"), folder)
    shutil.rmtree(store.path("case"))
    store.path("case").symlink_to(folder)
    with pytest.raises(BaselineError, match="the case folder is a symbolic link to a path outside"):
        store.read("case")


def test_a_link_inside_the_baselines_folder_is_followed_and_verified(store):
    store.write("case", runs(), fingerprint=XEON)
    shared = store.root / "shared-config.yaml"
    config = store.path("case") / "seed-0" / ".hydra" / "config.yaml"
    shutil.copy(config, shared)
    config.unlink()
    config.symlink_to(shared)
    assert store.read("case").seeds == [0, 1, 2]
    shared.write_text(shared.read_text() + "# edited\n")
    with pytest.raises(BaselineError, match="its sha256 differs"):
        store.read("case")


def test_special_files_and_dangling_links_are_refused(store):
    store.write("case", runs(), fingerprint=XEON)
    fifo = store.path("case") / "seed-0" / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BaselineError, match="not a regular file or folder") as info:
        store.read("case")  # returns instead of blocking on the FIFO
    assert str(fifo) in str(info.value)
    fifo.unlink()
    dangling = store.path("case") / "seed-0" / "gone"
    dangling.symlink_to(store.root / "nothing-here")
    with pytest.raises(BaselineError, match="dangling symbolic link"):
        store.read("case")


def top(**changes):
    return lambda meta: meta.update(changes)


def first(**changes):
    return lambda meta: meta["platforms"][0].update(changes)


def listing(entries: dict[str, str]):
    return lambda meta: meta["files"].update(entries)


def duplicate_platform(meta):
    meta["platforms"].append({**meta["platforms"][0], "dir": f"platform-{meta['platforms'][0]['digest']}"})


NAN_SPEED = {"env_steps_per_s": float("nan"), "spread": 0.1, "rounds": 3}
HOSTILE_FIELDS = {
    "format_version 3": (top(format_version=3), "format_version 3 is not supported"),
    "format_version true": (top(format_version=True), "format_version True is not supported"),
    "kind": (top(kind="anything"), "kind must be"),
    "metric": (top(metric={"name": ""}), "metric must be"),
    "platforms empty": (top(platforms=[]), "platforms must be a list of 1 to 64"),
    "platforms not a list": (top(platforms={"a": 1}), "platforms must be a list"),
    "platform dir traversal": (first(dir="../../etc"), "platforms[0].dir must be '.'"),
    "platform digest mismatch": (first(digest="0" * 16), "does not match its fingerprint"),
    "platform digest not hex": (first(digest="../x"), "digest must be 16 hexadecimal"),
    "duplicate platforms": (duplicate_platform, "appears twice"),
    "seeds not integers": (first(seeds=["0", 1]), "seeds must be a non-empty list of distinct integers"),
    "seeds repeated": (first(seeds=[0, 0]), "distinct integers"),
    "speed NaN": (first(speed=NAN_SPEED), "speed: env_steps_per_s must be a finite number"),
    "speed unknown key": (first(speed={**NAN_SPEED, "env_steps_per_s": 1.0, "cmd": "x"}), "unknown keys cmd"),
    "speed missing key": (first(speed={"env_steps_per_s": 1.0}), "missing spread, rounds"),
    "files absolute path": (listing({"/etc/passwd": "0" * 64}), "is not a relative path inside the case"),
    "files traversal": (listing({"seed-0/../../x": "0" * 64}), "is not a relative path inside the case"),
    "files not a digest": (listing({"seed-0/results.pkl": "abc"}), "expected a sha256 digest"),
    "files missing": (lambda meta: meta.pop("files"), "files must be a mapping"),
    "fingerprint not a mapping": (first(fingerprint=[1, 2]), "fingerprint must be a mapping"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FIELDS))
def test_hostile_baseline_yaml_fields_are_refused_naming_the_file(store, name):
    store.write("case", runs(), fingerprint=XEON, speed=SPEED)
    meta_file = store.path("case") / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    change, words = HOSTILE_FIELDS[name]
    change(meta)
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))
    with pytest.raises(BaselineError) as info:
        store.read("case")
    assert str(meta_file) in str(info.value) and words in str(info.value), str(info.value)


def test_errors_about_fields_do_not_copy_free_text_of_the_file(store):
    store.write("case", runs(), fingerprint=XEON)
    meta_file = store.path("case") / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    for change in (top(kind=SECRET), first(dir=SECRET), listing({SECRET: "0" * 64}), first(seeds=SECRET)):
        broken = yaml.safe_load(yaml.safe_dump(meta))
        change(broken)
        meta_file.write_text(yaml.safe_dump(broken, sort_keys=False))
        with pytest.raises(BaselineError) as info:
            store.read("case")
        assert "wJalrXUtnFEMI" not in str(info.value) and str(meta_file) in str(info.value)


def test_speed_section_round_trips_and_checks_its_fields():
    assert SpeedSection.from_dict(SPEED.to_dict()) == SPEED
    cached = SpeedSection(1.0, 0.0, 1, [1.0], compile_s=2.5, compile_cache="persistent")
    assert SpeedSection.from_dict(yaml.safe_load(yaml.safe_dump(cached.to_dict()))) == cached
    for bad in (
        dict(env_steps_per_s=-1.0),
        dict(rounds=0),
        dict(compile_cache="warm"),
        dict(rates=[float("inf")]),
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            dataclasses.replace(SPEED, **bad)


def test_the_metric_is_stored_as_given(store):
    store.write("cost", runs(), fingerprint=XEON, metric={"name": "cost", "higher_is_better": False})
    assert store.read("cost").meta.metric == {"name": "cost", "higher_is_better": False}
    with pytest.raises(ValueError, match="metric must be"):
        store.write("cost", runs(), fingerprint=XEON, metric={"name": "cost"})


# --------------------------------------------------------------------------- recover and prune


def test_read_recovers_a_case_a_killed_writer_left_aside(store):
    store.write("case", runs(), fingerprint=XEON)
    os.rename(store.path("case"), store.root / ".case.old-0123456789ab")
    (store.root / ".case.tmp-0123456789ac").mkdir()
    (store.root / ".case.tmp-0123456789ac" / "half").write_bytes(b"x")
    (store.path("case").parent / ".case.lock").write_text("")
    assert store.exists("case")
    assert store.read("case").seeds == [0, 1, 2]
    assert hidden(store.root) == []
    (store.path("case") / ".baseline.yaml.abc123.tmp").write_text("half of a killed rewrite")
    assert store.recover() == ["removed case/.baseline.yaml.abc123.tmp"]


def test_prune_removes_whole_cases_and_leaves_nothing(store):
    for case in ("a", "b", "c"):
        store.write(case, runs(seeds=(0,)), fingerprint=XEON)
    assert store.prune(["a", "c", "missing"]) == ["a", "c"]
    assert store.cases() == ["b"] and hidden(store.root) == []
    (store.root / ".b.del-0123456789ab").mkdir()  # a prune killed while deleting
    assert store.recover() == ["removed .b.del-0123456789ab"]


# --------------------------------------------------------------------------- kill -9 during a write

_ZYGOTE = """
import dataclasses, os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import numpy as np
from myriad_bench.store import rundir, swap
from test_baselines import FINGERPRINT, training_results

# Fork-safe: no JAX backend is started in this process (run metadata gets a fixed fingerprint).
rundir.platform_fingerprint = lambda: dict(FINGERPRINT)
from myriad_bench.harness.baseline_store import BaselineStore

def big(level):
    out = []
    for seed in range(8):
        run = training_results(seed, level=level, episodes=2048)
        weights = np.random.default_rng(seed).standard_normal((256, 512)).astype(np.float32)
        out.append(dataclasses.replace(run, agent_state={"params": {"w": weights}}))
    return out

store = BaselineStore(sys.argv[1])
contents = {"A": big(100.0), "B": big(200.0)}
store.write("case", contents["A"], fingerprint=FINGERPRINT)
start = time.perf_counter()
store.write("case", contents["B"], fingerprint=FINGERPRINT)
store.write("case", contents["A"], fingerprint=FINGERPRINT)
print("ready", (time.perf_counter() - start) / 2, flush=True)
for line in sys.stdin:
    mode = line.strip()
    pid = os.fork()
    if pid == 0:
        if mode != "exchange":
            swap.exchange = lambda a, b: False
        if mode == "pause":
            def pause(step):
                if step == "set-aside":
                    print("paused", flush=True)
                    time.sleep(60)
            swap.STEP_HOOK = pause
        n = 0
        while True:
            n += 1
            store.write("case", contents["AB"[n % 2]], fingerprint=FINGERPRINT)
    print("pid", pid, flush=True)
    os.waitpid(pid, 0)
    print("dead", flush=True)
"""


def _label(baseline) -> str:
    assert baseline.seeds == list(range(8)) and sorted(baseline.primary.checkpoints) == list(range(8))
    finals = {round(run.eval_metrics.mean_return[-1], -2) for run in baseline.primary.runs.values()}
    assert finals in ({100.0}, {200.0}), finals
    return "A" if finals == {100.0} else "B"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
def test_kill_9_during_updates_leaves_the_old_or_the_new_case(tmp_path):
    """A forked writer rewrites an 8-seed case (checkpoints included) in a loop and is killed at
    random moments (seeded): after each kill the case reads and verifies and holds one of the
    two contents, and recovery leaves no hidden entry. With RENAME_EXCHANGE the case folder is
    intact even before recovery; without it, kills between the two renames are undone."""
    root = tmp_path / "baselines"
    script = tmp_path / "zygote.py"
    script.write_text(textwrap.dedent(_ZYGOTE))
    zygote = subprocess.Popen(
        [sys.executable, str(script), str(root), str(Path(__file__).parent)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    store, rng, table = BaselineStore(root), random.Random(1203), []
    try:
        ready = zygote.stdout.readline().split()
        assert ready[0] == "ready", ready
        write_s = float(ready[1])
        last = "A"
        # 6 + 6 + 2 kills keep the test short (~2 s a kill); the 30-trial figures are a measurement.
        plan = ["exchange"] * 6 + ["two renames"] * 6 + ["pause"] * 2
        for mode in plan:
            zygote.stdin.write(mode + "\n")
            zygote.stdin.flush()
            lines = [zygote.stdout.readline().split()]
            if mode == "pause":
                lines.append(zygote.stdout.readline().split())
            else:
                time.sleep(rng.uniform(0.0, 2.5 * write_s))
            pid = next(int(line[1]) for line in lines if line[0] == "pid")
            os.kill(pid, signal.SIGKILL)
            while zygote.stdout.readline().strip() != "dead":
                pass
            left = sorted({name.rsplit(".", 1)[-1].split("-")[0] for name in hidden(root)})
            if mode == "exchange":
                _label(read_baseline_dir(root / "case"))  # complete before any recovery
            if mode == "pause":
                assert not (root / "case").exists() and "old" in left
            done = store.recover()
            assert hidden(root) == [], done
            label = _label(store.read("case"))
            table.append(
                (mode, "old" if label == last else "new", left, bool([d for d in done if "restored" in d]))
            )
            if mode == "pause":
                assert label == last  # the set-aside (old) case is restored
            last = label
    finally:
        zygote.kill()
        zygote.wait()
    summary: dict[str, dict[str, int]] = {}
    for mode, outcome, left, restored in table:
        key = f"{outcome}, left {'+'.join(left) or 'nothing'}{', restored' if restored else ''}"
        summary.setdefault(mode, {}).setdefault(key, 0)
        summary[mode][key] += 1
    print(f"\nwrite of the case: {write_s:.3f} s; kill -9 outcomes: {summary}")
    assert sum(1 for row in table if row[0] == "exchange") == 6


def test_speed_only_cases_hold_a_speed_per_platform_and_nothing_else(store):
    first = store.write_speed("own.fn", fingerprint=XEON, speed=SPEED)
    assert first.changed and sorted(p.name for p in store.path("own.fn").iterdir()) == [BASELINE_FILE]
    before = snapshot(store.path("own.fn"))
    assert not store.write_speed("own.fn", fingerprint=XEON, speed=SPEED).changed
    assert snapshot(store.path("own.fn")) == before
    slower = dataclasses.replace(SPEED, env_steps_per_s=26_000.0, rates=[26e3] * 5)
    store.write_speed("own.fn", fingerprint=EPYC, speed=slower)
    case = store.read("own.fn")
    assert case.kind == "speed" and case.seeds == [] and case.document.files == {}
    assert case.for_platform(XEON).speed == SPEED and case.for_platform(EPYC).speed == slower
    # A speed case lists no runs, and must carry its speed.
    meta_file = store.path("own.fn") / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    meta["platforms"][0]["seeds"] = [0]
    meta_file.write_text(yaml.safe_dump(meta))
    with pytest.raises(BaselineError, match=r"platforms\[0\]\.seeds must be an empty list"):
        store.read("own.fn")
    meta["platforms"][0]["seeds"], meta["platforms"][0]["speed"] = [], None
    meta_file.write_text(yaml.safe_dump(meta))
    with pytest.raises(BaselineError, match=r"platforms\[0\]\.speed is missing"):
        store.read("own.fn")
