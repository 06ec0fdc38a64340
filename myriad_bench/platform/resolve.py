"""The environment and agent a config names, and whether training prints its progress line.

Both come from the registries, which build an object once per registration and arguments (so
equal configs give the same objects and reuse compiled programs); the agent gets the
environment's control hints (``env.control``) so classical controllers can pick working
defaults for it.
"""

from __future__ import annotations

import os

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import make_agent
from myriad_bench.configs import Config, EvalConfig
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.registry import make_env

__all__ = ["VERBOSE_ENV_VAR", "resolve", "resolve_verbose"]

VERBOSE_ENV_VAR = "MYRIAD_BENCH_VERBOSE"
"""Set to 1 / 0 to turn training's progress line on / off when ``verbose`` is not given."""


def resolve(config: Config | EvalConfig, agent: Agent | None = None) -> tuple[Environment, Agent]:
    """``make_env(config.env...)`` and, unless ``agent`` is given, ``make_agent(config.agent...)``."""
    env = make_env(config.env.name, **config.env.params())
    if agent is None:
        control = getattr(env, "control", None)
        agent = make_agent(config.agent.name, env.action_space, control=control, **config.agent.params())
    return env, agent


def resolve_verbose(verbose: bool | None) -> bool:
    """``verbose`` if given, else ``MYRIAD_BENCH_VERBOSE`` (``0``/``false``/``no``/``off``: off), else on."""
    if verbose is not None:
        return bool(verbose)
    setting = os.environ.get(VERBOSE_ENV_VAR)
    if setting is not None:
        return setting.strip().lower() not in ("", "0", "false", "no", "off")
    return True
