"""Timing a compiled program: rounds of ``run()`` only, results assembled and saved afterwards."""

from __future__ import annotations

import pytest

from myriad_bench.configs import create_eval_config
from myriad_bench.harness.timing import time_program
from myriad_bench.platform.evaluation import prepare_evaluation


@pytest.fixture
def program():
    config = create_eval_config(env="cartpole-control", agent="random", eval_rollouts=4, seed=3)
    return prepare_evaluation(config)


def test_rounds_are_timed_under_pytest_benchmark_and_results_saved_once(program, benchmark, tmp_path):
    results, timing = time_program(
        program, benchmark, env_steps=lambda outputs: outputs.env_steps, run_dir=tmp_path, rounds=3
    )
    stats = benchmark.stats.stats
    assert stats.rounds == 3 and benchmark.stats.iterations == 1
    assert stats.min - 1e-3 <= timing.run_s <= stats.max + 1e-3  # the median of the same rounds
    assert timing.compile_s == program.compile_s
    assert timing.env_steps == int(results.episode_lengths.sum()) > 0
    assert results.num_episodes == 4 and results.seed == 3
    assert (tmp_path / "results.pkl").is_file()


def test_without_reporting_the_rounds_are_timed_here(program, tmp_path):
    class Unused:
        def pedantic(self, *args, **kwargs):
            raise AssertionError("report=False must not time through pytest-benchmark")

    results, timing = time_program(
        program,
        Unused(),
        env_steps=lambda outputs: outputs.env_steps,
        run_dir=tmp_path,
        rounds=2,
        report=False,
    )
    assert timing.run_s > 0 and timing.env_steps_per_s == round(timing.env_steps / timing.run_s, 1)
    assert results.run_dir == tmp_path


def test_rounds_must_be_positive(program, tmp_path):
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        time_program(program, None, env_steps=lambda outputs: 0, run_dir=tmp_path, rounds=0)
    assert not list(tmp_path.iterdir())  # refused before anything ran
