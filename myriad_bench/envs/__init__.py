"""Environments: the container, the registry and the built-in tasks (registered on import)."""

from myriad_bench.envs.environment import Environment, auto_reset_step
from myriad_bench.envs.registry import env_names, make_env, register_env

__all__ = ["Environment", "auto_reset_step", "env_names", "make_env", "register_env"]
