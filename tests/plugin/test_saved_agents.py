"""Saved agents checked: training baselines keep each seed's final checkpoint; a check restores it
onto the current agent and evaluates it. A network changed under an unchanged config (a
re-registered agent with another hidden size) makes the stored checkpoints unloadable."""

from __future__ import annotations

CASE = "test_agents.test_learns"

CONFTEST = """
from myriad_bench.agents.ppo import make_ppo
from myriad_bench.agents.registry import register_agent


def _ppo(space, **params):
    return make_ppo(space, **{{**params, "hidden_sizes": {hidden}}})


register_agent("bench-ppo", _ppo, overwrite=True)
"""

TEST = """
import myriad_bench as mb

CONFIG = mb.create_config(env="cartpole-control", agent="bench-ppo", num_envs=4, steps_per_env=256,
                          eval_frequency=128, eval_rollouts=4)


def test_learns(myriad_train, baseline):
    baseline.check(myriad_train(CONFIG, seeds=[0, 1]))
"""


def test_a_changed_network_cannot_restore_the_stored_agents(project):
    project.pytester.makeconftest(CONFTEST.format(hidden="(16,)"))
    project.pytester.makepyfile(test_agents=TEST)
    (project.root / "test_demo_suite.py").unlink()
    project.run("--myriad-update-baselines").assert_outcomes(passed=1)
    folder = project.baseline_dir(CASE)
    assert (folder / "seed-0" / "checkpoints" / "final.msgpack").is_file()
    per_seed = project.baseline_meta(CASE)["platforms"][0]["summary"]["per_seed"]
    assert set(per_seed) == {0, 1} and all(
        isinstance(per_seed[s]["checkpoint_return"], float) for s in (0, 1)
    )
    # Unchanged code: the stored agents restore and evaluate to the stored returns.
    project.run().stdout.fnmatch_lines([f"*{CASE}*reproduced*exact*"])
    # Another hidden size under the same name and config.
    project.pytester.makeconftest(CONFTEST.format(hidden="(24,)"))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*saved agents (each seed's final checkpoint, restored onto the current agent):*",
            f"*saved agent no longer loads: {folder}/seed-0/checkpoints/final.msgpack: *",
            f"*{CASE}*saved agent no longer loads*",
        ]
    )
    assert "params" in result.stdout.str()  # the mismatching leaves are named


def test_a_stat_comparison_restores_without_evaluating(project):
    """Another platform (stat forced) checks loading only: the shapes are traced, nothing is run."""
    project.pytester.makeconftest(CONFTEST.format(hidden="(16,)"))
    project.pytester.makepyfile(test_agents=TEST)
    (project.root / "test_demo_suite.py").unlink()
    project.run("--myriad-update-baselines").assert_outcomes(passed=1)
    project.run("--myriad-compare=stat").assert_outcomes(passed=1)
    project.pytester.makeconftest(CONFTEST.format(hidden="(24,)"))
    result = project.run("--myriad-compare=stat")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{CASE}*saved agent no longer loads*"])


def test_a_check_of_the_first_seeds_reproduces_a_baseline_of_max_seeds(project):
    """Baselines are written with max_seeds seeds, trained in batches of the check's own size; on
    the baseline's platform a check of the first seeds is exact against those seeds."""
    project.pytester.makeconftest(CONFTEST.format(hidden="(16,)"))
    project.pytester.makepyfile(test_agents=TEST.replace("seeds=[0, 1]))", "seeds=[0, 1]), max_seeds=4)"))
    (project.root / "test_demo_suite.py").unlink()
    project.run("--myriad-update-baselines").assert_outcomes(passed=1)
    assert project.baseline_meta(CASE)["platforms"][0]["seeds"] == [0, 1, 2, 3]
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{CASE}*reproduced*exact*"])
