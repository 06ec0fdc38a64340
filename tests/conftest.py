"""Fixtures shared by the project's own tests."""

import pytest

from myriad_bench.agents.registry import agent_names
from myriad_bench.envs.registry import env_names

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def names() -> tuple[str, str]:
    """A registered environment name and agent name, for configs that are never run."""
    return env_names()[0], agent_names()[0]
