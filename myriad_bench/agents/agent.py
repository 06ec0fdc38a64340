"""The agent container: hyperparameters and pure functions.

- ``init(key, obs, params) -> state``: ``obs`` is one (unbatched) observation, for shapes.
- ``init_carry(batch_size, params) -> carry``: per-environment policy memory (a PID's integral,
  an RNN's hidden state); ``()`` for memoryless agents. Rollouts reset a done env's entry.
- ``select_action(key, obs, carry, state, params, deterministic) -> (action, carry)``: ``obs`` is
  a batch ``(B, *obs_shape)``, the actions ``(B, *action_shape)``; ``deterministic`` (a Python
  bool, static) asks for the greedy policy used in evaluation.
- ``update(key, state, batch, params) -> (state, metrics)``: one learning step; ``metrics`` is a
  dict of scalars. Non-learning agents return the state unchanged and ``{}``. What ``batch`` is
  depends on ``off_policy`` and ``rollout_steps`` (see those fields; training in
  ``myriad_bench.platform.training``).

``params`` is a hyperparameter struct; its static (non-pytree) fields must be hashable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from myriad_bench.core.spaces import Space

__all__ = ["Agent", "no_carry", "no_update"]


def no_carry(batch_size: int, params: Any) -> tuple:
    """``init_carry`` of memoryless agents."""
    return ()


def no_update(key: jax.Array, state: Any, batch: Any, params: Any) -> tuple[Any, dict]:
    """``update`` of non-learning agents."""
    return state, {}


class Agent(NamedTuple):
    """A JAX agent: its name, action space, hyperparameters and pure functions."""

    name: str
    action_space: Space
    params: Any
    init: Callable[[jax.Array, jax.Array, Any], Any]
    select_action: Callable[..., tuple[jax.Array, Any]]
    update: Callable[[jax.Array, Any, Any, Any], tuple[Any, dict]] = no_update
    init_carry: Callable[[int, Any], Any] = no_carry
    off_policy: bool = False
    """How training feeds ``update``: off-policy agents get ``run.batch_size`` transitions sampled
    from a replay buffer of ``run.buffer_size``; on-policy agents get their last rollout,
    a ``Transition`` shaped ``(rollout_steps, num_envs, ...)``."""
    rollout_steps: int = 1
    """Steps of each environment between two ``update`` calls when ``run.rollout_steps`` is unset."""
