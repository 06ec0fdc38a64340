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

Defaults come from the environment's :class:`~myriad_bench.core.control.ControlHints` when the
factory gets them (``make_pid(space, control=env.control)``): the hinted component, setpoint
and control interval, and the hinted gain magnitudes signed by ``action_sign`` — CartPole's
hints give exactly the controller above. Hyperparameters the user gives always win; a
user-chosen ``obs_index`` that the hints do not describe keeps only the hinted ``dt``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.agents._classical import check_obs_index, controller_hyperparameters
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.hyperparameters import FiniteFloat, NonNegativeInt, PositiveFloat, PositiveOrInf
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.control import ControlHints
from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["PIDCarry", "PIDParams", "make_pid"]

NAME = "pid"


@struct.dataclass(kw_only=True)
class PIDParams:
    """Hyperparameters of the PID controller."""

    action_space: Space = struct.field(pytree_node=False)
    obs_index: NonNegativeInt = struct.field(pytree_node=False, default=2)
    """The controlled observation component."""
    kp: FiniteFloat = 1.0
    ki: FiniteFloat = 0.0
    kd: FiniteFloat = 0.0
    setpoint: FiniteFloat = 0.0
    dt: PositiveFloat = 0.02
    """Control interval in seconds (CartPole 0.02, Pendulum 0.05); scales the I and D terms."""
    anti_windup: PositiveOrInf = 10.0
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


def _hinted(control: ControlHints, obs_index: int | None) -> dict[str, Any]:
    """The defaults ``control`` implies for regulating ``obs_index`` (``None``: the hinted one)."""
    if obs_index not in (None, control.obs_index):
        return {"dt": control.dt}  # the control interval holds for any component; the rest does not

    def signed(gain: float) -> float:
        # 0.0 + turns the -0.0 of a zero gain with action_sign -1 into 0.0.
        return 0.0 + control.action_sign * gain

    return {
        "obs_index": control.obs_index,
        "setpoint": control.setpoint,
        "dt": control.dt,
        "kp": signed(control.kp),
        "ki": signed(control.ki),
        "kd": signed(control.kd),
    }


def make_pid(action_space: Space, *, control: ControlHints | None = None, **hyperparams: Any) -> Agent:
    """The PID controller for a ``Box`` or ``Discrete(2)`` action space.

    Hyperparameters: ``obs_index``, ``kp``, ``ki``, ``kd``, ``setpoint``, ``dt``, ``anti_windup``;
    their defaults come from ``control`` (an environment's hints, see the module docstring),
    else 2, 1.0, 0.0, 0.0, 0.0, 0.02, 10.0.
    """
    values = controller_hyperparameters(NAME, PIDParams, hyperparams, control, _hinted)
    if isinstance(action_space, Discrete):
        if action_space.n != 2:
            raise ValueError(
                f"agent {NAME!r} maps the sign of its control to an action and needs Discrete(2) "
                f"or a Box action space, got {action_space!r}"
            )
    elif not isinstance(action_space, Box):
        raise ValueError(f"agent {NAME!r} supports Box and Discrete(2) action spaces, got {action_space!r}")
    return Agent(
        name=NAME,
        action_space=action_space,
        params=PIDParams(action_space=action_space, **values),
        init=_init,
        select_action=_select_action,
        init_carry=_init_carry,
    )


register_agent(NAME, make_pid)
