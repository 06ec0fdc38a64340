"""Persistence throughput: save + load of a large TrainingResults against np.save/np.load.

The results hold 1 000 evaluation checkpoints x 1 000 episodes (float32 returns, int32
lengths, as training produces them). The reference writes and reads the same two arrays with
``np.save``/``np.load``; ``extra_info`` of the results benchmark carries the ratio to it (goal
<= 2x), measured in the same test so that both see the same machine load. Our save also
fsyncs every file (a crash never leaves a partial results file), which ``np.save`` does not;
``ratio_to_numpy_fsync`` compares with a reference that fsyncs too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from myriad_bench.agents.registry import agent_names
from myriad_bench.configs import create_config
from myriad_bench.envs.registry import env_names
from myriad_bench.platform.types import EvaluationMetrics, TrainingMetrics, TrainingResults
from myriad_bench.strategies import values_equal

NUM_EVALS = 1_000
NUM_EPISODES = 1_000
REFERENCE_ROUNDS = 15


@pytest.fixture(scope="module")
def large_results() -> TrainingResults:
    rng = np.random.default_rng(0)
    returns = rng.normal(100.0, 20.0, (NUM_EVALS, NUM_EPISODES)).astype(np.float32)
    lengths = rng.integers(1, 500, (NUM_EVALS, NUM_EPISODES), dtype=np.int32)
    steps = [1_000 * (i + 1) for i in range(NUM_EVALS)]
    config = create_config(
        env=env_names()[0],
        agent=agent_names()[0],
        num_envs=8,
        steps_per_env=steps[-1],
        eval_frequency=1_000,
        eval_rollouts=NUM_EPISODES,
    )
    return TrainingResults(
        agent_state=None,
        training_metrics=TrainingMetrics(
            global_steps=[8 * s for s in steps], steps_per_env=steps, loss=rng.random(NUM_EVALS).tolist()
        ),
        eval_metrics=EvaluationMetrics(
            global_steps=[8 * s for s in steps],
            steps_per_env=steps,
            # One array per checkpoint, each its own allocation: the costliest case to pickle.
            episode_returns=[row.copy() for row in returns],
            episode_lengths=[row.copy() for row in lengths],
            mean_return=returns.mean(axis=1).tolist(),
            std_return=returns.std(axis=1).tolist(),
            mean_length=lengths.mean(axis=1).tolist(),
        ),
        config=config,
        run_dir=Path("outputs/benchmark"),
    )


def _results_save_load(results: TrainingResults, directory: Path) -> TrainingResults:
    results.save(directory)
    return TrainingResults.load(directory)


def _numpy_save_load(returns: np.ndarray, lengths: np.ndarray, directory: Path, fsync: bool = False) -> tuple:
    for name, array in (("returns.npy", returns), ("lengths.npy", lengths)):
        with open(directory / name, "wb") as f:
            np.save(f, array)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return np.load(directory / "returns.npy"), np.load(directory / "lengths.npy")


def _best_seconds(function: Callable[[], object], rounds: int) -> float:
    function()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _arrays(results: TrainingResults) -> tuple[np.ndarray, np.ndarray]:
    return np.stack(results.eval_metrics.episode_returns), np.stack(results.eval_metrics.episode_lengths)


@pytest.mark.benchmark(group="persistence")
def test_numpy_reference(benchmark, large_results: TrainingResults, tmp_path: Path) -> None:
    returns, lengths = _arrays(large_results)
    loaded_returns, loaded_lengths = benchmark(_numpy_save_load, returns, lengths, tmp_path)
    assert np.array_equal(loaded_returns, returns) and np.array_equal(loaded_lengths, lengths)


@pytest.mark.benchmark(group="persistence")
def test_results_save_load(benchmark, large_results: TrainingResults, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    loaded = benchmark(_results_save_load, large_results, run_dir)
    assert values_equal(loaded.eval_metrics, large_results.eval_metrics)
    assert values_equal(loaded.training_metrics, large_results.training_metrics)

    if benchmark.stats is None:  # --benchmark-disable: the run above was a plain check
        return
    returns, lengths = _arrays(large_results)
    reference_dir = tmp_path / "numpy"
    reference_dir.mkdir()
    # Interleaved with the results measurement again, so that load on the machine hits both.
    ours = _best_seconds(lambda: _results_save_load(large_results, run_dir), REFERENCE_ROUNDS)
    numpy_plain = _best_seconds(lambda: _numpy_save_load(returns, lengths, reference_dir), REFERENCE_ROUNDS)
    numpy_fsync = _best_seconds(
        lambda: _numpy_save_load(returns, lengths, reference_dir, True), REFERENCE_ROUNDS
    )
    ours = min(ours, benchmark.stats.stats.min)
    benchmark.extra_info.update(
        {
            "num_evals": NUM_EVALS,
            "num_episodes": NUM_EPISODES,
            "results_pkl_bytes": (run_dir / "results.pkl").stat().st_size,
            "numpy_bytes": sum(p.stat().st_size for p in reference_dir.iterdir()),
            "save_load_s": ours,
            "numpy_save_load_s": numpy_plain,
            "numpy_fsync_save_load_s": numpy_fsync,
            "ratio_to_numpy": ours / numpy_plain,
            "ratio_to_numpy_fsync": ours / numpy_fsync,
        }
    )
    print(
        f"\nsave+load {ours * 1e3:.2f} ms; np.save/np.load {numpy_plain * 1e3:.2f} ms "
        f"(ratio {ours / numpy_plain:.2f}x); with fsync {numpy_fsync * 1e3:.2f} ms "
        f"(ratio {ours / numpy_fsync:.2f}x)"
    )
