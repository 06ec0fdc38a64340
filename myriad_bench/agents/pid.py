"""The ``pid`` agent: a PID controller on one observation component.

With ``e = setpoint - obs[obs_index]`` per environment,

    integral = clip(integral + e * dt, -anti_windup, anti_windup)
    u = kp * e + ki * integral + kd * (e - previous_e) / dt

(the derivative term is zero on an episode's first step). ``u`` is broadcast to the action
shape and clipped to the bounds of a ``Box``; for ``Discrete(2)`` its sign picks the action
(``u > 0`` → 1). The integral and previous error are per-environment carry
(:func:`init_carry`), reset by the rollout when an episode ends.

A positive ``kp`` suits a plant whose measurement rises with the action. CartPole's pole angle
falls when the cart is pushed right, so it takes negative gains:
``make_pid(Discrete(2), obs_index=2, kp=-1.0, kd=-0.1, dt=0.02)`` pushes right while
``θ + 0.1 θ̇ > 0`` and balances the pole for the full 500 steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.agents._classical import (
    check_obs_index,
    field_defaults,
    finite_float,
    hyperparameters,
    non_negative_int,
    positive_float,
)
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["PIDCarry", "PIDParams", "make_pid"]

NAME = "pid"


@struct.dataclass(kw_only=True)
class PIDParams:
    """Hyperparameters of the PID controller."""

    action_space: Space = struct.field(pytree_node=False)
    obs_index: int = struct.field(pytree_node=False, default=2)
    """The controlled observation component."""
    kp: float = 1.0
    ki: float = 0.0
    kd: float = 0.0
    setpoint: float = 0.0
    dt: float = 0.02
    """Control interval in seconds (CartPole 0.02, Pendulum 0.05); scales the I and D terms."""
    anti_windup: float = 10.0
    """Bound on ``|integral|`` (anti-windup by clamping); ``inf`` disables it."""


@struct.dataclass
class PIDCarry:
    """Per-environment controller memory, each field shaped ``(B,)``."""

    integral: jax.Array
    """Integral of the error, float32."""
    previous_error: jax.Array
    """Error of the previous step, float32."""
    started: jax.Array
    """Whether the episode has taken a step (a previous error exists), bool."""


def _init(key: jax.Array, obs: jax.Array, params: PIDParams) -> dict:
    check_obs_index(NAME, params.obs_index, tuple(obs.shape))
    return {}


def _init_carry(batch_size: int, params: PIDParams) -> PIDCarry:
    zeros = jnp.zeros((batch_size,), jnp.float32)
    return PIDCarry(integral=zeros, previous_error=zeros, started=jnp.zeros((batch_size,), bool))


def _select_action(
    key: jax.Array, obs: jax.Array, carry: PIDCarry, state: Any, params: PIDParams, deterministic: bool
) -> tuple[jax.Array, PIDCarry]:
    """Actions ``(B, *action_shape)`` for observations ``(B, obs_dim)`` and the updated carry."""
    check_obs_index(NAME, params.obs_index, tuple(obs.shape[1:]))
    error = params.setpoint - obs[:, params.obs_index].astype(jnp.float32)
    integral = jnp.clip(carry.integral + error * params.dt, -params.anti_windup, params.anti_windup)
    derivative = jnp.where(carry.started, (error - carry.previous_error) / params.dt, 0.0)
    control = params.kp * error + params.ki * integral + params.kd * derivative
    new_carry = PIDCarry(integral=integral, previous_error=error, started=jnp.ones_like(carry.started))
    space = params.action_space
    if isinstance(space, Discrete):
        return (control > 0).astype(jnp.int32), new_carry
    low, high = space.bounds()
    control = jnp.broadcast_to(
        control.reshape(control.shape + (1,) * len(space.shape)), control.shape + space.shape
    )
    return jnp.clip(control, low, high), new_carry


def make_pid(action_space: Space, **hyperparams: Any) -> Agent:
    """The PID controller for a ``Box`` or ``Discrete(2)`` action space.

    Hyperparameters (defaults): ``obs_index`` (2), ``kp`` (1.0), ``ki`` (0.0), ``kd`` (0.0),
    ``setpoint`` (0.0), ``dt`` (0.02), ``anti_windup`` (10.0).
    """
    values = hyperparameters(NAME, field_defaults(PIDParams), hyperparams)
    if isinstance(action_space, Discrete):
        if action_space.n != 2:
            raise ValueError(
                f"agent {NAME!r} maps the sign of its control to an action and needs Discrete(2) "
                f"or a Box action space, got {action_space!r}"
            )
    elif not isinstance(action_space, Box):
        raise ValueError(f"agent {NAME!r} supports Box and Discrete(2) action spaces, got {action_space!r}")
    params = PIDParams(
        action_space=action_space,
        obs_index=non_negative_int(NAME, "obs_index", values["obs_index"]),
        **{name: finite_float(NAME, name, values[name]) for name in ("kp", "ki", "kd", "setpoint")},
        dt=positive_float(NAME, "dt", values["dt"]),
        anti_windup=positive_float(NAME, "anti_windup", values["anti_windup"], allow_inf=True),
    )
    return Agent(
        name=NAME,
        action_space=action_space,
        params=params,
        init=_init,
        select_action=_select_action,
        init_carry=_init_carry,
    )


register_agent(NAME, make_pid)
