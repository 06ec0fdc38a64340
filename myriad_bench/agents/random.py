"""The ``random`` agent: actions drawn uniformly from the action space (Discrete or bounded Box).

It has no hyperparameters and no state; ``deterministic`` is ignored (a uniform policy has no
greedy action), so evaluating it gives the random baseline of a task.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from myriad_bench.agents._classical import check_finite_box
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.hyperparameters import check_hyperparameters
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["RandomParams", "make_random"]

NAME = "random"


@struct.dataclass
class RandomParams:
    """Hyperparameters of the random agent: only the (static) action space it samples from."""

    action_space: Space = struct.field(pytree_node=False)


def _init(key: jax.Array, obs: jax.Array, params: RandomParams) -> dict:
    return {}


def _select_action(
    key: jax.Array, obs: jax.Array, carry: Any, state: Any, params: RandomParams, deterministic: bool
) -> tuple[jax.Array, Any]:
    """Uniform actions ``(B, *action_shape)`` for observations ``(B, *obs_shape)``, all from one key."""
    return params.action_space.sample(key, (obs.shape[0],)), carry


def make_random(action_space: Space, **hyperparams: Any) -> Agent:
    """The uniform random agent for a ``Discrete`` or finite ``Box`` action space (no hyperparameters)."""
    check_hyperparameters(NAME, RandomParams, hyperparams)
    if isinstance(action_space, Box):
        check_finite_box(NAME, action_space, "samples uniformly between the action bounds")
    elif not isinstance(action_space, Discrete):
        raise ValueError(f"agent {NAME!r} supports Discrete and Box action spaces, got {action_space!r}")
    return Agent(
        name=NAME,
        action_space=action_space,
        params=RandomParams(action_space=action_space),
        init=_init,
        select_action=_select_action,
    )


register_agent(NAME, make_random)
