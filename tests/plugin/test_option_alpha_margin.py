"""``--myriad-alpha`` and ``--myriad-margin`` (ini ``myriad_alpha``/``myriad_margin``, per-call overrides)."""

from __future__ import annotations

CASE = "test_demo_suite.test_controller"  # the case of the project's training test


def test_large_margin_tolerates_the_weaker_agent(updated):
    updated.weaken()
    result = updated.run("--myriad-compare=stat", "--myriad-margin=0.95")
    result.assert_outcomes(passed=1)
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
            outcome = baseline.check(myriad_train(mb.create_config(**SETTINGS), seeds=[0, 1, 2]), margin=0.0,
                                     alpha=0.05)
        """
    )
    result = updated.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*final return: regression*95% CI*"])


def test_bad_values_are_usage_errors(project):
    result = project.run("--myriad-alpha=2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--myriad-alpha: 2.0 is outside*"])
    result = project.run("--myriad-margin=lots")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--myriad-margin: expected a number, got 'lots'*"])
