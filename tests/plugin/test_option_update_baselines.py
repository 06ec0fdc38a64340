"""``--myriad-update-baselines``: the lifecycle of a baseline from missing to written to checked."""

from __future__ import annotations

import hashlib
import pickle

import yaml

CASE = "test_demo_suite.test_controller"  # the case of the project's training test


def test_missing_baseline_fails_with_the_command_that_creates_it(project):
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*no baseline for case '{CASE}'*",
            "*Create it with:*",
            "*python -m pytest test_demo_suite.py::test_controller --myriad-update-baselines*",
        ]
    )
    assert not project.baseline_dir().exists()


def test_update_writes_the_baseline_and_passes(project):
    result = project.run("--myriad-update-baselines")
    result.assert_outcomes(passed=1)
    meta = project.baseline_meta()
    assert meta["platforms"][0]["seeds"] == [0, 1, 2, 3, 4, 5]
    assert meta["kind"] == "training"
    for seed in (0, 1, 2):
        assert (project.baseline_dir() / f"seed-{seed}" / "results.pkl").is_file()
    assert "UPDATING baselines" in result.stdout.str()
    result.stdout.fnmatch_lines(["*myriad-bench*", f"*{CASE}*written*"])
    assert not list((project.root / "baselines").glob(".*"))  # no temp folders or claims left


def test_rerun_on_the_same_platform_reproduces_exactly(updated):
    result = updated.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{CASE}*6*reproduced*exact*"])


def test_config_change_fails_naming_the_field_with_both_values(updated):
    updated.write_test(steps=300)
    result = updated.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*config differs from the baseline's (1 field, seeds aside)*",
            "*run.steps_per_env: baseline 400, now 300*",
            "*--myriad-update-baselines*",
        ]
    )


def test_update_rewrites_a_changed_case(updated):
    updated.write_test(steps=300)
    updated.run("--myriad-update-baselines").assert_outcomes(passed=1)
    updated.run().assert_outcomes(passed=1)
    assert updated.baseline_meta()["platforms"][0]["summary"]["per_seed"][0]["training_steps_per_env"] == 300


class _Exploit:
    def __reduce__(self):
        return (exec, ("open('EXPLOITED', 'w').write('x')",))


def test_poisoned_baseline_is_refused_and_nothing_runs(updated):
    target = updated.baseline_dir() / "seed-1" / "results.pkl"
    target.write_bytes(pickle.dumps(_Exploit()))
    meta = updated.baseline_meta()  # the attacker records the file's digest: the unpickler must refuse it
    meta["files"]["seed-1/results.pkl"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (updated.baseline_dir() / "baseline.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    updated.write_test(
        body="""
        import pathlib

        def test_controller(myriad_train, baseline):
            pathlib.Path("BODY_RAN").write_text("x")
        """
    )
    result = updated.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*refused to use the baseline of case '{CASE}':",
            f"*{target}: refused to load global 'builtins.exec'*",
            "*Nothing was run*",
        ]
    )
    assert not (updated.root / "EXPLOITED").exists()
    assert not (updated.root / "BODY_RAN").exists()


def test_truncated_baseline_is_refused_naming_the_file(updated):
    target = updated.baseline_dir() / "seed-0" / "results.pkl"
    target.write_bytes(target.read_bytes()[:64])
    result = updated.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{target}*"])


def test_two_tests_writing_one_case_are_refused(project):
    project.write_test(
        body="""
        import myriad_bench as mb
        import pytest

        CONFIG = dict(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env=400,
                      eval_frequency=100, eval_rollouts=16)

        @pytest.mark.parametrize("n", [1, 2])
        def test_twice(myriad_train, baseline, n):
            baseline.check(myriad_train(mb.create_config(**CONFIG), seeds=[0, 1, 2, 3, 4, 5]), name="shared")
        """
    )
    result = project.run("--myriad-update-baselines")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*case 'shared' is already written in this run by*test_twice[[]1[]]*"])
