"""Timing a compiled program: a warm-up, then timed rounds of run() under a budget, into pytest-benchmark."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from myriad_bench.configs import create_eval_config
from myriad_bench.harness.records import Timing
from myriad_bench.harness.timing import MIN_ROUNDS, Runner, measure_rounds, report_rounds
from myriad_bench.platform.evaluation import prepare_evaluation


class Clock:
    """A run whose rounds take the given seconds (sleeping), counting its calls."""

    def __init__(self, *seconds: float) -> None:
        self.seconds, self.calls = list(seconds), 0

    def __call__(self) -> int:
        time.sleep(self.seconds[min(self.calls, len(self.seconds) - 1)])
        self.calls += 1
        return self.calls


def test_short_rounds_follow_a_warmup_until_the_budget_is_spent() -> None:
    run = Clock(0.001)
    outputs, seconds = measure_rounds(run, budget_s=0.05)
    assert len(seconds) >= MIN_ROUNDS and sum(seconds) >= 0.05
    assert run.calls == len(seconds) + 1 and outputs == run.calls  # the warm-up is not timed


def test_at_least_three_rounds_even_when_one_nearly_fills_the_budget() -> None:
    run = Clock(0.02)
    _, seconds = measure_rounds(run, budget_s=0.03)
    assert len(seconds) == MIN_ROUNDS and run.calls == MIN_ROUNDS + 1


def test_a_warmup_over_the_budget_is_the_one_timed_round() -> None:
    run = Clock(0.05, 0.001)
    _, seconds = measure_rounds(run, budget_s=0.01)
    assert run.calls == 1 and len(seconds) == 1 and seconds[0] >= 0.05


def test_single_times_one_warm_round_whatever_the_budget() -> None:
    run = Clock(0.03, 0.001)  # a slow first call, then warm ones
    _, seconds = measure_rounds(run, budget_s=10.0, single=True)
    assert run.calls == 2 and len(seconds) == 1 and seconds[0] < 0.02  # the warm round is timed
    long = Clock(0.05, 0.001)
    _, seconds = measure_rounds(long, budget_s=0.01, single=True)
    assert long.calls == 1 and seconds[0] >= 0.05  # a call over the budget is not run twice


def test_timing_summarises_the_rounds() -> None:
    timing = Timing(
        env_steps=1_000, round_s=(0.01, 0.02, 0.04, 0.02), compile_s=1.5, compile_cache="compiled"
    )
    assert timing.rounds == 4 and timing.run_s == pytest.approx(0.02)
    assert timing.rates == pytest.approx([100_000, 50_000, 25_000, 50_000])
    assert timing.env_steps_per_s == pytest.approx(50_000)
    assert timing.spread == pytest.approx((62_500 - 43_750) / 50_000, rel=1e-3)
    assert Timing(env_steps=10, round_s=(0.5,)).spread == 0.0


def test_rounds_go_to_pytest_benchmark_as_timed(benchmark) -> None:
    report_rounds(benchmark, [0.3, 0.1, 0.2], replay=lambda: pytest.fail("nothing is run again"))
    stats = benchmark.stats.stats
    assert stats.rounds == 3 and (stats.min, stats.median, stats.max) == (0.1, 0.2, 0.3)


@pytest.fixture
def program():
    config = create_eval_config(env="cartpole-control", agent="random", eval_rollouts=4, seed=3)
    return prepare_evaluation(config)


def test_a_run_is_timed_then_assembled_and_saved_once(program, benchmark, tmp_path: Path) -> None:
    saved: list[Path] = []
    runner = Runner({}, benchmark, lambda: saved.append(tmp_path) or tmp_path, budget_s=0.05)
    timed = runner.run(("evaluate", 1), lambda: program, env_steps=lambda program, outputs: outputs.env_steps)
    timing = timed.timing
    assert timing.rounds >= MIN_ROUNDS and benchmark.stats.stats.rounds == timing.rounds
    assert timing.compile_s == round(program.compilation.cold_s, 4)
    assert timing.env_steps == int(timed.results.episode_lengths.sum()) > 0
    assert saved == [tmp_path] and (tmp_path / "results.pkl").is_file()
    assert benchmark.extra_info["rounds"] == timing.rounds
    assert runner.run(("evaluate", 1), lambda: pytest.fail("cached"), env_steps=len) is timed
