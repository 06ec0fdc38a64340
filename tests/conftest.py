"""Fixtures shared by the project's own tests."""

import pytest

from myriad_bench.agents.registry import make_agent, register_agent
from myriad_bench.envs.registry import make_env, register_env

pytest_plugins = ["pytester"]

ANY_ENV, ANY_AGENT = "test-any-env", "test-any-agent"


def _any_env(**overrides: object) -> object:
    return make_env("cartpole-control")


def _any_agent(action_space: object, **params: object) -> object:
    return make_agent("random", action_space)


# Configs are valid only if their env and agent build from them; these take any field, so tests of
# configs and persistence can carry arbitrary YAML-safe extra fields.
register_env(ANY_ENV, _any_env, overwrite=True)
register_agent(ANY_AGENT, _any_agent, overwrite=True)


@pytest.fixture(scope="session")
def names() -> tuple[str, str]:
    """A registered environment name and agent name that take any extra field, for configs never run."""
    return ANY_ENV, ANY_AGENT
