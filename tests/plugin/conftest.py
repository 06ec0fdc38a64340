"""A tiny benchmark project for the plugin's workflow tests, run through ``pytester``.

The project trains a registered controller (``bench-controller``) on CartPole for a few hundred
steps with six seeds (5 vs 5 permutations are the fewest that can reach p <= 0.005, alpha 0.01
split over two metrics; 6 leave room): cheap to compile and deterministic. ``weaken()``
re-registers the same name as the random agent, so the next run learns (much) worse with an
identical config.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

# No module of the package is imported here for pytester's sake: with pytester active, the plugin
# imports JAX and the package before the first test (see MyriadSession.before_tests), so the
# in-process runs below keep them (test_pytester_in_process.py checks that for a user's project).

PROJECT_CONFTEST = """
from myriad_bench.agents.registry import make_agent, register_agent

CONTROLLER = "{controller}"


def _controller(action_space, **params):
    return make_agent(CONTROLLER, action_space, **params)


register_agent("bench-controller", _controller, overwrite=True)
"""

TRAINING_TEST = """
import myriad_bench as mb

SETTINGS = dict(env="cartpole-control", agent="bench-controller", num_envs=4, steps_per_env={steps},
                eval_frequency=100, eval_rollouts=16)


def test_controller(myriad_train, baseline):
    results = myriad_train(mb.create_config(**SETTINGS), seeds=[0, 1, 2, 3, 4, 5])
    baseline.check(results)
"""

CASE = "test_demo_suite.test_controller"


class Project:
    """The pytester project: write its files, run pytest in it, look at its baselines."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.root = pytester.path
        self.set_controller("bangbang")
        self.write_test()

    def set_controller(self, name: str) -> None:
        self.pytester.makeconftest(PROJECT_CONFTEST.format(controller=name))

    def weaken(self) -> None:
        """Same config, a much weaker agent: the random policy instead of the controller."""
        self.set_controller("random")

    def write_test(self, steps: int = 400, name: str = "test_demo_suite", body: str | None = None) -> Path:
        text = body if body is not None else TRAINING_TEST.format(steps=steps)
        return self.pytester.makepyfile(**{name: textwrap.dedent(text)})

    def run(self, *args: str) -> pytest.RunResult:
        # A short timing budget keeps the workflow tests fast; a test that needs rounds sets its own.
        budget = (
            () if any("myriad_speed_budget_s" in arg for arg in args) else ("-o", "myriad_speed_budget_s=0.2")
        )
        # These cases run for milliseconds while other tests load both cores; their speed verdicts
        # are tested where a test asks for them (test_speed_*), the rest only report speed.
        speed = () if any("speed" in arg for arg in args) else ("-o", "myriad_speed=report")
        return self.pytester.runpytest_inprocess("-p", "no:cacheprovider", *budget, *speed, *args)

    def baseline_dir(self, case: str = CASE, root: str = "baselines") -> Path:
        return self.root / root / case

    def baseline_meta(self, case: str = CASE) -> dict:
        return yaml.safe_load((self.baseline_dir(case) / "baseline.yaml").read_text())


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    return Project(pytester)


@pytest.fixture
def updated(project: Project) -> Project:
    """A project whose baseline has been written."""
    result = project.run("--myriad-update-baselines")
    result.assert_outcomes(passed=1)
    return project
