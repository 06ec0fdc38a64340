"""The ``bangbang`` agent: the high action when one observation component exceeds a setpoint.

``action = high if obs[obs_index] > setpoint else low`` (swapped with ``invert=True``), where
high/low are ``n - 1`` / ``0`` for ``Discrete(n)`` and the bounds of a ``Box``.

Defaults come from the environment's :class:`~myriad_bench.core.control.ControlHints` when
the factory gets them (``make_bangbang(space, control=env.control)``): it switches on the
hinted rate (``switch_index``) at zero, or else on the regulated component at its setpoint, and
takes the action that moves it back (``invert`` when a higher action raises it). Hyperparameters
the user gives always win; a user-chosen ``obs_index`` that the hints do not describe gets the
plain defaults for the rest.

Without hints the defaults (``obs_index=3``, ``setpoint=0``) are CartPole's controller, which
is also what its hints give: push toward the pole's fall, right (1) while the pole's angular
velocity is positive, i.e. while it falls right. It keeps the pole up for about 200 steps on
average; switching on the angle instead (``obs_index=2``) lets it fall after about 42.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.agents._classical import check_finite_box, check_obs_index, controller_hyperparameters
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.hyperparameters import FiniteFloat, Flag, NonNegativeInt
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.control import ControlHints
from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["BangBangParams", "make_bangbang"]

NAME = "bangbang"


@struct.dataclass(kw_only=True)
class BangBangParams:
    """Hyperparameters of the bang-bang controller."""

    action_space: Space = struct.field(pytree_node=False)
    obs_index: NonNegativeInt = struct.field(pytree_node=False, default=3)
    """The observation component compared with the setpoint (CartPole: 3, pole angular velocity)."""
    setpoint: FiniteFloat = 0.0
    """Switching threshold; the high action is taken strictly above it."""
    invert: Flag = struct.field(pytree_node=False, default=False)
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


def _hinted(control: ControlHints, obs_index: int | None) -> dict[str, Any]:
    """The defaults ``control`` implies for switching on ``obs_index`` (``None``: the hinted choice)."""
    thresholds = {control.obs_index: control.setpoint}
    if control.switch_index is not None:
        thresholds[control.switch_index] = 0.0  # a rate that leads the measurement: held at zero
    preferred = control.obs_index if control.switch_index is None else control.switch_index
    index = preferred if obs_index is None else obs_index
    if index not in thresholds:
        return {}
    # Above the threshold the component must come down: the low action if a higher one raises it.
    return {"obs_index": index, "setpoint": thresholds[index], "invert": control.action_sign > 0}


def make_bangbang(action_space: Space, *, control: ControlHints | None = None, **hyperparams: Any) -> Agent:
    """The bang-bang controller for ``Discrete(n >= 2)`` or a finite ``Box``.

    Hyperparameters: ``obs_index`` (int), ``setpoint`` (float), ``invert`` (bool); their defaults
    come from ``control`` (an environment's hints, see the module docstring), else 3, 0.0, False.
    """
    values = controller_hyperparameters(NAME, BangBangParams, hyperparams, control, _hinted)
    if isinstance(action_space, Discrete):
        if action_space.n < 2:
            raise ValueError(f"agent {NAME!r} needs at least two actions, got {action_space!r}")
    elif isinstance(action_space, Box):
        check_finite_box(NAME, action_space, "switches between the action bounds")
    else:
        raise ValueError(f"agent {NAME!r} supports Discrete and Box action spaces, got {action_space!r}")
    return Agent(
        name=NAME,
        action_space=action_space,
        params=BangBangParams(action_space=action_space, **values),
        init=_init,
        select_action=_select_action,
    )


register_agent(NAME, make_bangbang)
