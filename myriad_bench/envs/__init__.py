"""Environments: the container, the registry and the built-in tasks (registered on import)."""

from myriad_bench.envs.environment import (
    Environment,
    apply_overrides,
    auto_reset_step,
    auto_reset_step_with_keys,
)
from myriad_bench.envs.registry import env_names, make_env, register_env

# The built-in environments register themselves on import.
from myriad_bench.envs import cartpole, ccasr_gfp, pendulum  # noqa: F401  isort: skip
from myriad_bench.envs.vector import batch_keys, vector_reset, vector_step

__all__ = [
    "Environment",
    "apply_overrides",
    "auto_reset_step",
    "auto_reset_step_with_keys",
    "batch_keys",
    "env_names",
    "make_env",
    "register_env",
    "vector_reset",
    "vector_step",
]
