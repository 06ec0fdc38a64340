"""BaselineStore (locate, write atomically, read, refuse bad files, list unused) and the check engine."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from myriad_bench.configs import create_config, create_eval_config
from myriad_bench.harness.baseline_store import (
    BASELINE_FILE,
    BaselineError,
    BaselineStore,
    read_baseline_dir,
    read_run_dirs,
)
from myriad_bench.harness.check import CheckOptions, Writer, check_results, config_differences
from myriad_bench.harness.curves import case_name, validate_case_name
from myriad_bench.platform.types import (
    EvaluationMetrics,
    EvaluationResults,
    TrainingMetrics,
    TrainingResults,
)
from myriad_bench.store.fingerprint import fingerprint_digest

FINGERPRINT = {"backend": "cpu", "cpu_model": "test-cpu", "versions": {"jax": "0.10.2", "numpy": "2.4"}}
OTHER_FINGERPRINT = {"backend": "cpu", "cpu_model": "test-cpu", "versions": {"jax": "0.11.0", "numpy": "2.4"}}


SEEDS = (0, 1, 2, 3, 4, 5)  # 3 vs 3 permutations can never reach p <= 0.005; 6 vs 6 can


def training_results(seed: int, level: float = 100.0, *, lr: float = 1e-3, episodes: int = 16, noise=5.0):
    """A hand-built training run: 4 evaluations climbing to ``level``, seeded noise per episode."""
    config = create_config(
        env="cartpole-control", agent="dqn", num_envs=2, steps_per_env=400, eval_frequency=100,
        eval_rollouts=episodes, seed=seed, learning_rate=lr,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    steps = [100, 200, 300, 400]
    returns = [(level * (i + 1) / 4 + rng.normal(0, noise, episodes)).astype(np.float32) for i in range(4)]
    lengths = [np.full(episodes, 50, np.int32) for _ in steps]
    evals = EvaluationMetrics(
        global_steps=[2 * s for s in steps],
        steps_per_env=steps,
        episode_returns=returns,
        episode_lengths=lengths,
        mean_return=[float(r.mean()) for r in returns],
        std_return=[float(r.std()) for r in returns],
        mean_length=[50.0] * 4,
    )
    training = TrainingMetrics(global_steps=[2 * s for s in steps], steps_per_env=steps, loss=[1.0] * 4)
    return TrainingResults(None, training, evals, config, Path("run"))


def evaluation_results(seed: int = 0, level: float = -200.0, episodes: int = 64) -> EvaluationResults:
    config = create_eval_config(env="pendulum-control", agent="random", eval_rollouts=episodes, seed=seed)
    returns = np.random.default_rng(seed).normal(level, 20.0, episodes).astype(np.float32)
    lengths = np.full(episodes, 200, np.int32)
    return EvaluationResults(
        mean_return=float(returns.mean()), std_return=float(returns.std()), min_return=float(returns.min()),
        max_return=float(returns.max()), mean_length=200.0, std_length=0.0, min_length=200, max_length=200,
        episode_returns=returns, episode_lengths=lengths, num_episodes=episodes, seed=seed, config=config,
        run_dir=Path("run"),
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> BaselineStore:
    return BaselineStore(tmp_path / "baselines")


@pytest.fixture
def stored(store: BaselineStore):
    runs = [training_results(seed) for seed in SEEDS]
    store.write("case.train", runs, fingerprint=FINGERPRINT)
    return runs


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("nodeid", "expected"),
    [
        ("benchmarks/test_training.py::test_dqn", "test_training.test_dqn"),
        ("test_x.py::TestA::test_b[3-cartpole]", "test_x.TestA.test_b-3-cartpole"),
        ("a/b/test_x.py::test_y[weird/param ..]", "test_x.test_y-weird-param"),
    ],
)
def test_case_name_is_module_and_test_sanitised(nodeid, expected):
    assert case_name(nodeid) == expected
    assert validate_case_name(case_name(nodeid)) == expected


@pytest.mark.parametrize(
    "bad", ["../escape", ".hidden", "a/b", "", "x" * 201, "a..b", "case\n", "case\r", " case"]
)
def test_unsafe_case_names_are_refused(bad):
    with pytest.raises(ValueError, match="invalid baseline case name"):
        validate_case_name(bad)


# --------------------------------------------------------------------------- store


def test_write_then_read_round_trips_with_metadata(store, stored):
    baseline = store.read("case.train")
    assert baseline.kind == "training"
    assert baseline.seeds == list(SEEDS)
    assert baseline.config.digest() == stored[0].config.digest()
    meta = yaml.safe_load((store.path("case.train") / BASELINE_FILE).read_text())
    assert meta["format_version"] == 2
    assert meta["config_digest"] == stored[0].config.digest()
    assert meta["metric"] == {"name": "return", "higher_is_better": True}
    [platform] = meta["platforms"]
    assert platform["fingerprint"] == FINGERPRINT and platform["dir"] == "."
    assert platform["digest"] == fingerprint_digest(FINGERPRINT) and platform["speed"] is None
    assert meta["versions"]["jax"] and meta["created"]
    assert platform["summary"]["final_return_mean"] == pytest.approx(
        np.mean([r.eval_metrics.mean_return[-1] for r in stored])
    )
    assert set(platform["summary"]["per_seed"]) == set(SEEDS)
    case_dir = store.path("case.train")
    files = sorted(p.relative_to(case_dir).as_posix() for p in case_dir.rglob("*") if p.is_file())
    assert sorted(meta["files"]) == [f for f in files if f != BASELINE_FILE]
    assert len(meta["files"]) == 3 * len(
        SEEDS
    )  # config, results and metadata of each seed (no agent state: no checkpoint)
    for seed, run in zip(SEEDS, stored, strict=True):
        got = baseline.runs[seed].eval_metrics
        np.testing.assert_array_equal(
            np.stack(got.episode_returns), np.stack(run.eval_metrics.episode_returns)
        )
        assert (store.path("case.train") / f"seed-{seed}" / ".hydra" / "config.yaml").is_file()
    assert store.cases() == ["case.train"]
    assert [p.name for p in store.root.iterdir()] == ["case.train"]  # no temporary folders left


def test_rewrite_replaces_the_case_whole(store, stored):
    store.write("case.train", [training_results(5, level=300.0)], fingerprint=FINGERPRINT)
    baseline = store.read("case.train")
    assert baseline.seeds == [5]
    assert not (store.path("case.train") / "seed-0").exists()
    assert [p.name for p in store.root.iterdir()] == ["case.train"]


def test_failed_write_leaves_the_old_baseline_intact(store, stored, monkeypatch):
    runs = [training_results(7), training_results(8)]

    def crash(self, directory, save_checkpoint=False, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(TrainingResults, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write("case.train", runs, fingerprint=FINGERPRINT)
    monkeypatch.undo()
    assert store.read("case.train").seeds == list(SEEDS)
    assert [p.name for p in store.root.iterdir()] == ["case.train"]


def test_evaluation_baseline_round_trip(store):
    store.write("case.eval", [evaluation_results(3)], fingerprint=FINGERPRINT)
    baseline = store.read("case.eval")
    assert baseline.kind == "evaluation" and baseline.seeds == [3]
    np.testing.assert_array_equal(baseline.runs[3].episode_returns, evaluation_results(3).episode_returns)


def test_unused_lists_cases_no_test_used(store, stored):
    store.write("case.eval", [evaluation_results()], fingerprint=FINGERPRINT)
    assert store.unused({"case.train"}) == ["case.eval"]
    assert store.unused({"case.train", "case.eval"}) == []


def test_writing_mixed_configs_or_repeated_seeds_is_refused(store):
    with pytest.raises(ValueError, match="different configs"):
        store.write("x", [training_results(0), training_results(1, lr=0.5)], fingerprint=None)
    with pytest.raises(ValueError, match="repeat a seed"):
        store.write("x", [training_results(0), training_results(0)], fingerprint=None)
    assert not store.exists("x")


def test_claims_keep_one_writer_per_case_and_run(store):
    assert store.claim("c", "run1", "test_a") is None
    assert store.claim("c", "run1", "test_a") is None
    assert store.claim("c", "run1", "test_b") == "test_a"
    assert store.claim("c", "run2", "test_b") is None  # a stale claim from an earlier run
    store.release_claims("run2")
    assert not list(store.root.glob(".*.claim"))


# --------------------------------------------------------------------------- refusing bad files


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def relist(case_dir: Path) -> None:
    """Record the digests of the case's files as they are now (what a careful attacker does)."""
    meta_file = case_dir / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    meta["files"] = {
        p.relative_to(case_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(case_dir.rglob("*"))
        if p.is_file() and p.name != BASELINE_FILE
    }
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))


def _corrupt(store: BaselineStore, how: str) -> Path:
    case_dir = store.path("case.train")
    if how == "poisoned":
        target = case_dir / "seed-1" / "results.pkl"
        target.write_bytes(pickle.dumps(_Evil()))
        relist(case_dir)  # past the digests: the safe unpickler refuses it
    elif how == "truncated":
        target = case_dir / "seed-1" / "results.pkl"
        target.write_bytes(target.read_bytes()[:100])
    elif how == "garbage-yaml":
        target = case_dir / BASELINE_FILE
        target.write_text("{{{ not yaml")
    elif how == "foreign-yaml":
        target = case_dir / BASELINE_FILE
        target.write_text("name: something else\n")
    elif how == "future-version":
        target = case_dir / BASELINE_FILE
        meta = yaml.safe_load(target.read_text())
        target.write_text(yaml.safe_dump({**meta, "format_version": 99}))
    elif how == "missing-seed":
        target = case_dir / "seed-2"
        for path in sorted(target.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        target.rmdir()
    elif how == "wrong-kind":
        target = case_dir / "seed-1" / "results.pkl"
        evaluation_results(1).save(target.parent)
        relist(case_dir)
    else:
        raise AssertionError(how)
    return target


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("poisoned", "posix.system"),
        ("truncated", "its sha256 differs"),
        ("garbage-yaml", "not a valid baseline.yaml"),
        ("foreign-yaml", "not a myriad-bench baseline"),
        ("future-version", "format_version 99"),
        ("missing-seed", "seed-2"),
        ("wrong-kind", "EvaluationResults"),
    ],
)
def test_bad_baseline_files_are_refused_naming_the_file(store, stored, tmp_path, monkeypatch, how, words):
    monkeypatch.chdir(tmp_path)
    target = _corrupt(store, how)
    with pytest.raises(BaselineError) as info:
        store.read("case.train")
    message = str(info.value)
    assert str(target) in message or target.name in message
    assert words in message or words.replace("posix", "os") in message
    assert not (tmp_path / "PWNED").exists()


def test_read_run_dirs_reads_a_run_dir_or_seed_folders(store, stored, tmp_path):
    runs = read_run_dirs(store.path("case.train"))
    assert [r.config.run.seed for r in runs] == list(SEEDS)
    single = read_run_dirs(store.path("case.train") / "seed-1")
    assert len(single) == 1 and single[0].config.run.seed == 1
    store.write("ev", [evaluation_results()], fingerprint=FINGERPRINT)
    assert isinstance(read_run_dirs(store.path("ev"))[0], EvaluationResults)
    with pytest.raises(BaselineError, match=r"no results\.pkl"):
        read_run_dirs(tmp_path)


# --------------------------------------------------------------------------- the check engine


def check(store, runs, **kwargs):
    baseline = store.read("case.train") if store.exists("case.train") else None
    options = kwargs.pop("options", CheckOptions())
    return check_results(
        "case.train",
        runs,
        baseline,
        options=options,
        update_command="python -m pytest t.py::x --upd",
        **kwargs,
    )


def test_missing_baseline_fails_with_the_command(store):
    outcome = check(store, [training_results(0)])
    assert outcome.status == "missing" and not outcome.passed
    assert "no baseline for case 'case.train'" in outcome.message
    assert "python -m pytest t.py::x --upd" in outcome.message


def test_identical_rerun_on_same_platform_passes_exactly(store, stored):
    outcome = check(store, [training_results(s) for s in SEEDS], fingerprint=FINGERPRINT)
    assert outcome.passed, outcome.message
    assert outcome.mode == "exact"
    assert outcome.verdict == "reproduced"


def test_tiny_difference_on_same_platform_fails_exact_with_location(store, stored):
    runs = [training_results(s) for s in SEEDS]
    runs[1].eval_metrics.episode_returns[2] = runs[1].eval_metrics.episode_returns[2] + 0.5
    outcome = check(store, runs, fingerprint=FINGERPRINT)
    assert outcome.status == "failed"
    assert outcome.mode == "exact"
    assert "seed 1: episode returns differ" in outcome.message
    assert "largest at step 300" in outcome.message
    assert "statistical view" in outcome.message
    assert outcome.message.rstrip().endswith("python -m pytest t.py::x --upd")


def test_other_platform_uses_stat_and_says_why(store, stored):
    outcome = check(store, [training_results(s) for s in SEEDS], fingerprint=OTHER_FINGERPRINT)
    assert outcome.passed
    assert outcome.mode == "stat"
    assert outcome.mode_reason == "no runs of this platform in the baseline"
    assert [d.field for d in outcome.fingerprint_differences] == ["versions.jax"]
    # The same six seeds on both sides: equivalence within ±5% shown.
    assert [v.kind for v in outcome.decisions] == ["no change", "no change"]


def test_regression_is_diagnosed(store, stored):
    worse = [training_results(s, level=50.0) for s in SEEDS]
    outcome = check(store, worse, fingerprint=OTHER_FINGERPRINT)
    assert outcome.status == "failed"
    assert outcome.decisions[0].kind == "regression"
    assert outcome.decisions[0].n == len(SEEDS)
    text = outcome.message
    for part in (
        "baseline check failed for case 'case.train'",
        "seed  baseline final  obtained final",
        "final return: regression",
        "area under the return curve: regression",
        "99% CI",
        "versions.jax: baseline '0.10.2', now '0.11.0'",
        "If the change is intended, update the baseline with:",
    ):
        assert part in text, part
    assert outcome.verdict == "regression (final, AUC)"
    assert outcome.relative_delta == pytest.approx(-0.5, abs=0.05)


def test_improvement_passes_and_is_reported(store, stored):
    outcome = check(store, [training_results(s, level=200.0) for s in SEEDS], options=CheckOptions("stat"))
    assert outcome.passed
    assert outcome.verdict == "improvement"


def test_stat_mode_accepts_other_seeds_and_exact_does_not(store, stored):
    runs = [training_results(s) for s in (10, 11, 12)]
    assert check(store, runs, fingerprint=FINGERPRINT).mode == "stat"  # auto falls back
    forced = check(store, runs, fingerprint=FINGERPRINT, options=CheckOptions("exact"))
    assert not forced.passed
    assert "needs seeds of the baseline's [0, 1, 2, 3, 4, 5], got [10, 11, 12]" in forced.message


def test_auto_is_exact_for_some_of_the_baseline_seeds_on_its_platform(store, stored):
    """Baselines hold max_seeds seeds: a check of the first of them is exact against those."""
    outcome = check(store, [training_results(s) for s in SEEDS[:3]], fingerprint=FINGERPRINT)
    assert outcome.mode == "exact" and outcome.passed and outcome.verdict == "reproduced"
    assert "seeds [0, 1, 2] of the baseline's 6" in outcome.mode_reason
    changed = check(store, [training_results(s, level=200.0) for s in SEEDS[:3]], fingerprint=FINGERPRINT)
    assert changed.mode == "exact" and not changed.passed


def test_config_change_fails_naming_each_field_with_both_values(store, stored):
    runs = [training_results(s, lr=0.5) for s in SEEDS]
    outcome = check(store, runs, fingerprint=FINGERPRINT)
    assert outcome.status == "failed"
    assert "agent.learning_rate: baseline 0.001, now 0.5" in outcome.message
    assert "1 field" in outcome.message
    assert "update the baseline" in outcome.message


def test_config_differences_ignore_the_seed():
    a, b = training_results(0).config, training_results(9).config
    assert config_differences(a, b) == []
    c = create_config(env="cartpole-control", agent="dqn", num_envs=4, steps_per_env=400, seed=0)
    differences = {d.field: d for d in config_differences(a, c)}
    assert (differences["run.num_envs"].baseline, differences["run.num_envs"].current) == (2, 4)
    assert differences["agent.learning_rate"].absent == "current"


def test_kind_mismatch_fails(store, stored):
    outcome = check(store, evaluation_results(0), fingerprint=FINGERPRINT)
    assert outcome.status == "failed"
    assert "holds training results" in outcome.message


def test_evaluation_results_are_checked_per_episode(store):
    store.write("case.train", [evaluation_results(0)], fingerprint=FINGERPRINT)
    assert check(store, evaluation_results(0), fingerprint=FINGERPRINT).mode == "exact"
    worse = check(store, evaluation_results(0, level=-400.0), options=CheckOptions("stat"))
    assert worse.decisions[0].kind == "regression"
    assert len(worse.decisions) == 1  # no curve, no area under it
    assert "× 64 evaluation episodes" in worse.message


def test_read_baseline_dir_detects_hand_edited_digest(store, stored):
    meta_file = store.path("case.train") / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    meta_file.write_text(yaml.safe_dump({**meta, "config_digest": "0" * 16}))
    with pytest.raises(BaselineError, match="edited by hand"):
        read_baseline_dir(store.path("case.train"))


# --------------------------------------------------------------------------- update mode


def test_update_mode_writes_through_the_engine_and_claims_the_case(store):
    runs = [training_results(s) for s in SEEDS]
    written = check(store, runs, fingerprint=FINGERPRINT, writer=Writer(store, "run1", "t.py::a"))
    assert written.status == "written" and written.passed
    assert written.path == str(store.path("case.train"))
    assert written.message == f"baseline written: {store.path('case.train')}"
    assert store.read("case.train").seeds == list(SEEDS)
    again = check(store, runs, fingerprint=FINGERPRINT, writer=Writer(store, "run1", "t.py::b"))
    assert again.status == "failed"
    assert again.message == (
        "case 'case.train' is already written in this run by t.py::a; give one of the checks another name=..."
    )


# --------------------------------------------------------------------------- old baselines


def _digest_with_scan_chunk_size(config) -> str:
    # How Config.digest() read while training configs still had run.scan_chunk_size (always null).
    data = config.model_dump(mode="json")
    data["run"].pop("seed")
    data["run"]["scan_chunk_size"] = None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_digest_from_before_scan_chunk_size_was_removed_is_accepted_in_format_1(store, stored):
    meta_file = store.path("case.train") / BASELINE_FILE
    meta = yaml.safe_load(meta_file.read_text())
    old_digest = _digest_with_scan_chunk_size(stored[0].config)
    assert old_digest != meta["config_digest"]
    format_1 = {
        "format_version": 1, "kind": "training", "platform_fingerprint": FINGERPRINT,
        "config_digest": old_digest, "seeds": [0, 1, 2],
    }  # fmt: skip
    meta_file.write_text(yaml.safe_dump(format_1, sort_keys=False))
    baseline = store.read("case.train")
    assert baseline.seeds == [0, 1, 2] and baseline.meta.format_version == 1
    assert baseline.fingerprint == FINGERPRINT
    meta_file.write_text(yaml.safe_dump({**meta, "config_digest": old_digest}, sort_keys=False))
    with pytest.raises(BaselineError, match="edited by hand"):  # format 2 holds today's digest only
        store.read("case.train")


# A format 1 baseline as the suite committed it (Xeon, old digest), kept as it was.
COMMITTED = Path(__file__).resolve().parent / "data" / "format1"


def test_a_committed_training_baseline_with_the_old_digest_loads():
    baseline = BaselineStore(COMMITTED).read("test_training.test_cartpole-ppo")
    assert baseline.kind == "training" and len(baseline.seeds) == 8
    config = baseline.config
    assert baseline.meta.config_digest != config.digest()  # written before the field was removed
    assert baseline.meta.config_digest == _digest_with_scan_chunk_size(config)


# --------------------------------------------------------------------------- adaptive seeds


@pytest.fixture
def stored_many(store: BaselineStore):
    """A baseline of 32 seeds with a spread that 8 vs 32 seeds cannot decide at a 10% drop."""
    runs = [training_results(seed, noise=60.0, episodes=4) for seed in range(32)]
    store.write("case.train", runs, fingerprint=FINGERPRINT)
    return runs


def _trainer(level: float, asked: list[list[int]]):
    def more_seeds(seeds: list[int]) -> list[TrainingResults]:
        asked.append(list(seeds))
        return [training_results(s, level=level, noise=60.0, episodes=4) for s in seeds]

    return more_seeds


def test_look_batch_keeps_at_most_four_looks_in_whole_batches():
    from myriad_bench.harness.check import MAX_LOOKS, look_batch
    from myriad_bench.harness.sequential import SequentialPlan

    for first, most in ((8, 104), (8, 40), (8, 24), (3, 10), (6, 6)):
        batch = look_batch(first, most)
        assert batch % first == 0
        plan = SequentialPlan(alpha=0.01, max_units=most, first=first, batch=batch, baseline_units=most)
        assert len(plan.looks) <= MAX_LOOKS and plan.looks[-1].units == most
        assert min(look.level for look in plan.looks) > 2 / 4_001  # the permutation test resolves it


def test_an_inconclusive_check_trains_new_seeds_and_looks_again(store, stored_many):
    asked: list[list[int]] = []
    runs = [training_results(100 + s, noise=60.0, episodes=4) for s in range(8)]
    outcome = check(
        store, runs, options=CheckOptions("stat", max_seeds=32), more_seeds=_trainer(100.0, asked)
    )
    assert outcome.passed and outcome.verdict in ("inconclusive", "no change")
    looks = [look.seeds for look in outcome.looks]
    assert looks[0] == 8 and looks[-1] == len(outcome.seeds) and len(looks) <= 4
    new = [seed for batch in asked for seed in batch]
    assert new and not set(new) & (set(range(32)) | set(range(100, 108)))  # new seeds only
    assert len(outcome.seeds) == 8 + len(new)


def test_a_clear_regression_stops_at_the_first_look(store, stored_many):
    asked: list[list[int]] = []
    runs = [training_results(100 + s, level=40.0, noise=60.0, episodes=4) for s in range(8)]
    outcome = check(store, runs, options=CheckOptions("stat", max_seeds=32), more_seeds=_trainer(40.0, asked))
    assert not outcome.passed and outcome.verdict.startswith("regression")
    assert asked == [] and [look.seeds for look in outcome.looks] == [8]
