"""The environment container: static config, dynamic params and pure functions.

An environment module implements the physics and the task once, as two pure functions on a
single (unbatched) environment:

- ``reset_env(key, params, config) -> (obs, state)``
- ``step_env(key, state, action, params, config) -> (obs, state, reward, terminated, info)``

``config`` is a hashable static struct (passed as a static argument to ``jax.jit``; changing it
recompiles) with at least ``max_steps``; ``params`` is a pytree of dynamic parameters (may be
empty). ``state`` is a pytree with an int32 ``time`` field (steps taken in the episode).

:class:`Environment` adds the one shared auto-resetting ``step`` on top: ``done`` is
``terminated | truncated`` (``time >= max_steps``), and a done environment comes back already
reset (its returned ``obs`` is the first observation of the next episode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from myriad_bench.core.spaces import Box, Space

__all__ = ["Environment", "auto_reset_step"]

ResetFn = Callable[[jax.Array, Any, Any], tuple[jax.Array, Any]]
StepFn = Callable[[jax.Array, Any, jax.Array, Any, Any], tuple[jax.Array, Any, jax.Array, jax.Array, dict]]


def auto_reset_step(
    step_env: StepFn,
    reset_env: ResetFn,
    key: jax.Array,
    state: Any,
    action: jax.Array,
    params: Any,
    config: Any,
) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
    """One step of a single environment with truncation at ``config.max_steps`` and auto-reset.

    Returns ``(obs, state, reward, done, info)``; ``info`` holds ``terminated`` and
    ``truncated`` (bool scalars) next to the task's own entries.
    """
    key_step, key_reset = jax.random.split(key)
    obs, next_state, reward, terminated, info = step_env(key_step, state, action, params, config)
    truncated = jnp.logical_and(next_state.time >= config.max_steps, jnp.logical_not(terminated))
    done = jnp.logical_or(terminated, truncated)
    reset_obs, reset_state = reset_env(key_reset, params, config)
    next_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, next_state)
    obs = jnp.where(done, reset_obs, obs)
    info = {**info, "terminated": terminated, "truncated": truncated}
    return obs, next_state, reward, done, info


class Environment(NamedTuple):
    """A JAX environment: its name, static ``config``, dynamic ``params`` and pure functions.

    ``reset``/``step`` act on one environment; ``jax.vmap`` them for a batch.
    """

    name: str
    config: Any
    params: Any
    observation_space: Box
    action_space: Space
    reset_env: ResetFn
    step_env: StepFn

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """``(obs, state)`` of a fresh episode."""
        return self.reset_env(key, self.params if params is None else params, self.config)

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        """Auto-resetting step: ``(obs, state, reward, done, info)``, see :func:`auto_reset_step`."""
        params = self.params if params is None else params
        return auto_reset_step(self.step_env, self.reset_env, key, state, action, params, self.config)

    @property
    def max_steps(self) -> int:
        return int(self.config.max_steps)
