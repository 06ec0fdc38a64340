"""The environment and agent a config names, with the registrations the program cache keys on.

Both come from the registries, which build an object once per registration and arguments; the
agent gets the environment's control hints (``env.control``) so classical controllers can pick
working defaults for it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import agent_registration
from myriad_bench.configs import Config, EvalConfig
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.registry import env_registration

__all__ = ["VERBOSE_ENV_VAR", "Parts", "resolve", "resolve_verbose"]

VERBOSE_ENV_VAR = "MYRIAD_BENCH_VERBOSE"
"""Set to 1 / 0 to turn training's progress line on / off when ``verbose`` is not given."""


class Parts(NamedTuple):
    """A run's environment and agent, and the registration tokens they were built from."""

    env: Environment
    agent: Agent
    env_registration: int
    agent_registration: int | None
    """``None`` for an agent the caller passed in."""


def resolve(config: Config | EvalConfig, agent: Agent | None = None) -> Parts:
    """``make_env(config.env...)`` and, unless ``agent`` is given, ``make_agent(config.agent...)``."""
    env_entry = env_registration(config.env.name)
    env = env_entry.make(**config.env.params())
    if agent is not None:
        return Parts(env, agent, env_entry.token, None)
    agent_entry = agent_registration(config.agent.name)
    agent = agent_entry.make(env.action_space, control=getattr(env, "control", None), **config.agent.params())
    return Parts(env, agent, env_entry.token, agent_entry.token)


def resolve_verbose(verbose: bool | None) -> bool:
    """``verbose`` if given, else ``MYRIAD_BENCH_VERBOSE`` (``0``/``false``/``no``/``off``: off), else on."""
    if verbose is not None:
        return bool(verbose)
    setting = os.environ.get(VERBOSE_ENV_VAR)
    if setting is not None:
        return setting.strip().lower() not in ("", "0", "false", "no", "off")
    return True
