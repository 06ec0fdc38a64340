"""``--myriad-alpha`` and ``--myriad-margin`` (ini ``myriad_alpha``/``myriad_margin``, per-call overrides)."""

from __future__ import annotations

import pytest

CASE = "test_demo_suite.test_controller"  # the case of the project's training test


def test_large_margin_tolerates_the_weaker_agent(updated):
    updated.weaken()
    result = updated.run("--myriad-compare=stat", "--myriad-margin=0.95")
    result.assert_outcomes(passed=1)
    # -88% lies within a ±95% margin, and 6 against 6 seeds show it (equivalence, not a mere pass).
    result.stdout.fnmatch_lines([f"*{CASE}*no change*stat*"])


def test_ini_margin_and_per_call_override(updated):
    updated.weaken()
    updated.pytester.makeini("[pytest]\nmyriad_margin = 0.95\nmyriad_compare = stat\n")
    updated.run().assert_outcomes(passed=1)
    updated.write_test(
        body="""
        import myriad_bench as mb

        SETTINGS = dict(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env=400,
                        eval_frequency=100, eval_rollouts=16)

        def test_controller(myriad_train, baseline):
            results = myriad_train(mb.create_config(**SETTINGS), seeds=[0, 1, 2, 3, 4, 5])
            outcome = baseline.check(results, margin=0.0, alpha=0.05)
        """
    )
    result = updated.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*final return: regression*95% CI*"])


def test_bad_values_are_usage_errors(project):
    result = project.run("--myriad-alpha=2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--myriad-alpha: alpha must lie strictly between 0 and 0.5, got 2.0*"])
    result = project.run("--myriad-margin=lots")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--myriad-margin: expected a number, got 'lots'*"])


@pytest.mark.parametrize("margin", ["nan", "inf", "-0.1"])
def test_margins_that_would_hide_every_regression_are_refused_everywhere(project, margin):
    # nan and inf made every regression read "no change"; one check serves options, ini, marker, call.
    result = project.run(f"--myriad-margin={margin}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--myriad-margin: margin must be a finite number >= 0*"])
    project.pytester.makeini(f"[pytest]\nmyriad_margin = {margin}\n")
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*ini option myriad_margin: margin must be a finite number >= 0*"])
    project.pytester.makeini("[pytest]\n")
    project.write_test(
        body=f"""
        import pytest

        @pytest.mark.myriad(margin=float("{margin}"))
        def test_marker(baseline):
            baseline.check(None)

        def test_call(baseline):
            baseline.check(None, margin=float("{margin}"))
        """
    )
    result = project.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*margin must be a finite number >= 0*"] * 2)
