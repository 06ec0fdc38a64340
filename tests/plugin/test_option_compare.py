"""``--myriad-compare`` (and ini ``myriad_compare``, ``@pytest.mark.myriad(compare=...)``)."""

from __future__ import annotations

import yaml

from myriad_bench.store.fingerprint import fingerprint_digest

CASE = "test_demo_suite.test_controller"  # the case of the project's training test


def _move_baseline_to_another_platform(project) -> None:
    meta_file = project.baseline_dir() / "baseline.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    platform = meta["platforms"][0]
    platform["fingerprint"]["versions"]["jax"] = "0.0.1"
    platform["digest"] = fingerprint_digest(platform["fingerprint"])
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))


def test_weaker_agent_is_a_stat_regression(updated):
    updated.weaken()
    result = updated.run("--myriad-compare=stat")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*baseline check failed for case '{CASE}' — stat comparison (stat comparison requested)*",
            "*seed*baseline final*obtained final*Δ*",
            "*final return: regression*99% CI*n=6 vs 6 seeds*",
            "*If the change is intended, update the baseline with:*",
            "*--myriad-update-baselines*",
        ]
    )
    result.stdout.fnmatch_lines([f"*{CASE}*6*regression*stat*"])  # the summary row


def test_auto_uses_exact_on_the_same_platform_and_catches_the_change(updated):
    updated.weaken()
    result = updated.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*exact comparison (same platform fingerprint and seeds)*",
            "*not reproduced within float tolerance*",
            "*statistical view of the same runs*",
            "*final return: regression*",
        ]
    )


def test_auto_falls_back_to_stat_on_another_platform_and_says_why(updated):
    _move_baseline_to_another_platform(updated)
    result = updated.run("-rA")
    result.assert_outcomes(passed=1)
    # The same runs through the stat tier: no regression (6 seeds cannot show equivalence within
    # ±5% at this spread, so the verdict may be inconclusive, which passes).
    result.stdout.fnmatch_lines([f"*{CASE}*stat*"])
    result.stdout.no_fnmatch_line(f"*{CASE}*regression*")
    updated.weaken()
    result = updated.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*stat comparison (no runs of this platform in the baseline)*",
            "*platform fingerprint differs from the baseline's:*",
            "*versions.jax: baseline '0.0.1', now*",
        ]
    )


def test_ini_and_marker_choose_the_mode(updated):
    updated.pytester.makeini("[pytest]\nmyriad_compare = stat\n")
    updated.run().stdout.fnmatch_lines([f"*{CASE}*inconclusive*stat*"])  # equal runs, too few seeds for ±5%
    updated.write_test(
        body="""
        import myriad_bench as mb
        import pytest

        SETTINGS = dict(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env=400,
                        eval_frequency=100, eval_rollouts=16)

        @pytest.mark.myriad(compare="exact")
        def test_controller(myriad_train, baseline):
            baseline.check(myriad_train(mb.create_config(**SETTINGS), seeds=[0, 1, 2, 3, 4, 5]))
        """
    )
    updated.run().stdout.fnmatch_lines([f"*{CASE}*reproduced*exact*"])


def test_unknown_mode_in_ini_is_a_usage_error(project):
    project.pytester.makeini("[pytest]\nmyriad_compare = fuzzy\n")
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*ini option myriad_compare: 'fuzzy' is not one of auto, exact, stat*"])


def test_adding_this_platform_gives_it_exact_checks_and_leaves_no_claim(updated):
    _move_baseline_to_another_platform(updated)
    updated.run("--myriad-add-platform").assert_outcomes(passed=1)
    platforms = updated.baseline_meta()["platforms"]
    assert len(platforms) == 2 and platforms[0]["fingerprint"]["versions"]["jax"] == "0.0.1"
    assert not list(updated.root.joinpath("baselines").glob(".*")), "a claim or temporary was left"
    updated.run().stdout.fnmatch_lines([f"*{CASE}*reproduced*exact*"])
