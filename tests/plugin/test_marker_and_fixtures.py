"""``@pytest.mark.myriad``, ``myriad_evaluate``, ``myriad_benchmark`` and evaluation baselines."""

from __future__ import annotations

import json

EVALUATION = """
import jax.numpy as jnp
import myriad_bench as mb
import pytest


@pytest.mark.myriad(case="pendulum-pid", compare="{compare}")
def test_pid(myriad_evaluate, baseline):
    results = myriad_evaluate(mb.create_eval_config(env="pendulum-control", agent="pid", eval_rollouts=32))
    assert results.num_episodes == 32
    baseline.check(results)


def test_kernel(myriad_benchmark):
    out = myriad_benchmark(lambda x, y: (x @ y).sum(), jnp.ones((64, 64)), jnp.ones((64, 64)))
    assert float(out) == 64.0 ** 3
"""


def test_marker_case_name_evaluation_baseline_and_benchmark(project):
    project.write_test(body=EVALUATION.format(compare="auto"))
    result = project.run("--myriad-update-baselines", "--benchmark-json=bench.json")
    result.assert_outcomes(passed=2)
    meta = project.baseline_meta("pendulum-pid")
    assert meta["kind"] == "evaluation" and meta["platforms"][0]["seeds"] == [42]
    benchmarks = {b["name"]: b for b in json.loads((project.root / "bench.json").read_text())["benchmarks"]}
    assert benchmarks["test_pid"]["extra_info"]["env_steps"] > 0
    # A warm-up round, then timed rounds until the budget is spent (at least three).
    assert benchmarks["test_pid"]["stats"]["rounds"] >= 3
    assert benchmarks["test_pid"]["extra_info"]["rounds"] == benchmarks["test_pid"]["stats"]["rounds"]
    kernel = benchmarks["test_kernel"]
    assert kernel["extra_info"]["compile_s"] > 0
    assert "compile_note" not in kernel["extra_info"]
    assert kernel["stats"]["rounds"] >= 3  # timed rounds of the compiled call, like a run's

    result = project.run("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pendulum-pid*1*reproduced*exact*"])


def test_marker_with_unknown_keyword_is_refused(project):
    project.write_test(
        body="""
        import pytest

        @pytest.mark.myriad(cases="x")
        def test_x(baseline):
            pass
        """
    )
    result = project.run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*unknown @pytest.mark.myriad keyword(s) cases; known: alpha, case, compare, margin*"]
    )


def test_marker_is_registered_for_strict_markers(project):
    project.write_test(
        body="""
        import pytest

        @pytest.mark.myriad(case="named")
        def test_x():
            pass
        """
    )
    project.run("--strict-markers").assert_outcomes(passed=1)
