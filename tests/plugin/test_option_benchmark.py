"""pytest-benchmark's options with the run fixtures: timing, extra_info, disable, skip, caching."""

from __future__ import annotations

import json

import pytest

SHARED_RUN = """
import myriad_bench as mb

CONFIG = mb.create_config(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env=400,
                          eval_frequency=100, eval_rollouts=16)


def test_first(myriad_train):
    assert len(myriad_train(CONFIG, seeds=[0, 1])) == 2


def test_second(myriad_train):
    assert len(myriad_train(CONFIG, seeds=[0, 1])) == 2
"""


@pytest.fixture
def shared(project):
    project.write_test(body=SHARED_RUN)
    return project


def test_timed_rounds_with_compile_time_and_throughput_in_extra_info(shared):
    result = shared.run(
        "--benchmark-json=bench.json", "-W", "error::pytest_benchmark.logger.PytestBenchmarkWarning"
    )
    result.assert_outcomes(passed=2)
    benchmarks = json.loads((shared.root / "bench.json").read_text())["benchmarks"]
    assert [b["name"] for b in benchmarks] == ["test_first"]  # the second test reused the cached run
    (bench,) = benchmarks
    stats, info = bench["stats"], bench["extra_info"]
    # Short rounds under the 0.2 s budget: a warm-up, then at least three timed rounds, all reported.
    assert stats["rounds"] >= 3 and stats["iterations"] == 1 and info["rounds"] == stats["rounds"]
    assert stats["stddev"] > 0.0
    assert info["compile_s"] >= 0.0 and info["compile_cache"] in ("compiled", "persistent")
    assert info["env_steps"] == 2 * 4 * 400
    # The median rate is the steps over pytest-benchmark's median round: the same rounds.
    # (An even number of rounds: the medians of rates and of seconds average two middle rounds.)
    assert info["env_steps_per_s"] == pytest.approx(info["env_steps"] / stats["median"], rel=1e-3)
    assert info["env_steps_per_s_spread"] >= 0.0
    assert set(info["final_return"]) == {"0", "1"}


def test_benchmark_disable_still_runs_the_cases_and_times_one_round(shared):
    shared.write_test(
        body=SHARED_RUN
        + """

def test_checked(myriad_train, baseline):
    baseline.check(myriad_train(CONFIG, seeds=[0, 1]))
"""
    )
    shared.run("--myriad-update-baselines", "-k", "checked").assert_outcomes(passed=1, deselected=2)
    result = shared.run("--benchmark-disable", "--myriad-report=out", "-o", "myriad_speed=check")
    result.assert_outcomes(passed=3)
    # A one-round verdict is reported, not enforced, unless the command line asks for it.
    result.stdout.fnmatch_lines(
        ["*speed=report (margin 0.15) from one round per case (--benchmark-disable)*"]
    )
    enforced = shared.run("--benchmark-disable", "--myriad-speed=check", "-k", "checked")
    enforced.stdout.fnmatch_lines(
        ["*speed=check (margin 0.15) from one round per case (--benchmark-disable)*"]
    )
    assert "benchmark: 1 tests" not in result.stdout.str()
    (case,) = json.loads((shared.root / "out" / "report.json").read_text())["cases"]
    assert case["speed"]["rounds"] == 1 and case["speed"]["env_steps_per_s"] > 0


def test_benchmark_skip_skips_the_cases_before_anything_runs(shared):
    shared.run("--benchmark-skip").assert_outcomes(skipped=2)
