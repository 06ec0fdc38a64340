"""The ``bangbang`` agent: the high action when one observation component exceeds a setpoint.

``action = high if obs[obs_index] > setpoint else low`` (swapped with ``invert=True``), where
high/low are ``n - 1`` / ``0`` for ``Discrete(n)`` and the bounds of a ``Box``.

The default (``obs_index=3``, ``setpoint=0``) is the CartPole controller that pushes toward the
pole's fall: right (1) while the pole's angular velocity is positive, i.e. while it falls
right. It keeps the pole up for about 200 steps on average; switching on the angle instead
(``obs_index=2``) lets it fall after about 42.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.agents._classical import (
    check_finite_box,
    check_obs_index,
    field_defaults,
    finite_float,
    hyperparameters,
    non_negative_int,
)
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["BangBangParams", "make_bangbang"]

NAME = "bangbang"


@struct.dataclass(kw_only=True)
class BangBangParams:
    """Hyperparameters of the bang-bang controller."""

    action_space: Space = struct.field(pytree_node=False)
    obs_index: int = struct.field(pytree_node=False, default=3)
    """The observation component compared with the setpoint (CartPole: 3, pole angular velocity)."""
    setpoint: float = 0.0
    """Switching threshold; the high action is taken strictly above it."""
    invert: bool = struct.field(pytree_node=False, default=False)
    """Take the low action above the setpoint instead."""


def _init(key: jax.Array, obs: jax.Array, params: BangBangParams) -> dict:
    check_obs_index(NAME, params.obs_index, tuple(obs.shape))
    return {}


def _select_action(
    key: jax.Array, obs: jax.Array, carry: Any, state: Any, params: BangBangParams, deterministic: bool
) -> tuple[jax.Array, Any]:
    """Actions ``(B, *action_shape)`` for observations ``(B, obs_dim)``; the carry is passed through."""
    check_obs_index(NAME, params.obs_index, tuple(obs.shape[1:]))
    above = obs[:, params.obs_index] > params.setpoint
    if params.invert:
        above = jnp.logical_not(above)
    space = params.action_space
    if isinstance(space, Discrete):
        return jnp.where(above, space.n - 1, 0).astype(jnp.int32), carry
    low, high = space.bounds()
    above = above.reshape(above.shape + (1,) * len(space.shape))
    return jnp.where(above, high, low), carry


def make_bangbang(action_space: Space, **hyperparams: Any) -> Agent:
    """The bang-bang controller for ``Discrete(n >= 2)`` or a finite ``Box``.

    Hyperparameters: ``obs_index`` (int, default 3), ``setpoint`` (float, default 0.0),
    ``invert`` (bool, default False).
    """
    values = hyperparameters(NAME, field_defaults(BangBangParams), hyperparams)
    if isinstance(action_space, Discrete):
        if action_space.n < 2:
            raise ValueError(f"agent {NAME!r} needs at least two actions, got {action_space!r}")
    elif isinstance(action_space, Box):
        check_finite_box(NAME, action_space, "switches between the action bounds")
    else:
        raise ValueError(f"agent {NAME!r} supports Discrete and Box action spaces, got {action_space!r}")
    if not isinstance(values["invert"], bool):
        raise ValueError(
            f"agent {NAME!r}: hyperparameter invert must be true or false, got {values['invert']!r}"
        )
    params = BangBangParams(
        action_space=action_space,
        obs_index=non_negative_int(NAME, "obs_index", values["obs_index"]),
        setpoint=finite_float(NAME, "setpoint", values["setpoint"]),
        invert=values["invert"],
    )
    return Agent(
        name=NAME, action_space=action_space, params=params, init=_init, select_action=_select_action
    )


register_agent(NAME, make_bangbang)
