"""``pendulum-control``: Gymnasium's Pendulum-v1, step for step.

A frictionless pendulum of mass ``m`` and length ``l`` under gravity ``g``, driven by a torque
``u`` clipped to ``[-max_torque, max_torque]``. The physics (:func:`physics_step`) is
Gymnasium's semi-implicit update: ``thetadot += (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt``,
clipped to ``[-max_speed, max_speed]``, then ``theta += thetadot dt``. ``theta = 0`` is upright.
The task: reward ``-(theta_norm^2 + 0.1 thetadot^2 + 0.001 u^2)`` from the state before the
step (``theta_norm`` is theta wrapped to ``[-pi, pi)``); never terminates; truncates at
``max_steps`` (200). A fresh episode draws ``theta ~ U(-pi, pi)``, ``thetadot ~ U(-1, 1)``.
Observations are ``(cos theta, sin theta, thetadot)`` as float32; the action is a float32
array of shape ``(1,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.core.control import ControlHints
from myriad_bench.core.params import Count
from myriad_bench.core.spaces import Box
from myriad_bench.envs.environment import Environment, apply_overrides
from myriad_bench.envs.registry import register_env

__all__ = [
    "PendulumConfig",
    "PendulumParams",
    "PendulumState",
    "control_hints",
    "make_pendulum",
    "physics_step",
    "reset_env",
    "step_env",
]

NAME = "pendulum-control"


@dataclass(frozen=True)
class PendulumConfig:
    """Static settings: the episode limit (truncation)."""

    max_steps: Count = 200

    def __post_init__(self) -> None:
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 1:
            raise ValueError(f"{NAME}: max_steps must be a positive integer, got {self.max_steps!r}")


@struct.dataclass
class PendulumParams:
    """Dynamic parameters: Gymnasium's physics constants and the initial-state bounds."""

    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0  # noqa: E741 (Gymnasium's name)
    init_theta: float = math.pi
    """Initial theta is drawn from ``U(-init_theta, init_theta)``."""
    init_thetadot: float = 1.0
    """Initial thetadot is drawn from ``U(-init_thetadot, init_thetadot)``."""


@struct.dataclass
class PendulumState:
    """One pendulum: angle (not wrapped) and angular velocity as float32 scalars."""

    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array
    """int32 steps taken in the episode."""


def clip_torque(action: jax.Array, params: PendulumParams) -> jax.Array:
    """The scalar torque of an action of shape ``(1,)`` (or ``()``), clipped to the limit."""
    u = jnp.reshape(action, (-1,))[0].astype(jnp.float32)
    return jnp.clip(u, -params.max_torque, params.max_torque)


def physics_step(state: PendulumState, torque: jax.Array, params: PendulumParams) -> PendulumState:
    """Advance the pendulum by ``params.dt`` under ``torque`` (already clipped)."""
    theta_acc = 3 * params.g / (2 * params.l) * jnp.sin(state.theta) + 3.0 / (params.m * params.l**2) * torque
    theta_dot = jnp.clip(state.theta_dot + theta_acc * params.dt, -params.max_speed, params.max_speed)
    return PendulumState(theta=state.theta + theta_dot * params.dt, theta_dot=theta_dot, time=state.time + 1)


def angle_normalize(theta: jax.Array) -> jax.Array:
    """``theta`` wrapped to ``[-pi, pi)``."""
    return ((theta + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def reward(state: PendulumState, torque: jax.Array) -> jax.Array:
    """``-(theta_norm^2 + 0.1 thetadot^2 + 0.001 u^2)`` of the state the torque was applied in."""
    cost = angle_normalize(state.theta) ** 2 + 0.1 * state.theta_dot**2 + 0.001 * torque**2
    return (-cost).astype(jnp.float32)


def observation(state: PendulumState) -> jax.Array:
    """``(cos theta, sin theta, thetadot)`` as float32, shape ``(3,)``."""
    return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot], axis=-1).astype(
        jnp.float32
    )


def reset_env(
    key: jax.Array, params: PendulumParams, config: PendulumConfig
) -> tuple[jax.Array, PendulumState]:
    """A fresh episode: ``theta ~ U(-init_theta, init_theta)``, ``thetadot ~ U(-init_thetadot, ...)``."""
    unit = jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0)
    state = PendulumState(
        theta=unit[0] * params.init_theta, theta_dot=unit[1] * params.init_thetadot, time=jnp.int32(0)
    )
    return observation(state), state


def step_env(
    key: jax.Array, state: PendulumState, action: jax.Array, params: PendulumParams, config: PendulumConfig
) -> tuple[jax.Array, PendulumState, jax.Array, jax.Array, dict]:
    """One step of the task; it never terminates (episodes end by truncation)."""
    torque = clip_torque(action, params)
    next_state = physics_step(state, torque, params)
    return observation(next_state), next_state, reward(state, torque), jnp.bool_(False), {}


def make_pendulum(**overrides: Any) -> Environment:
    """The ``pendulum-control`` environment; ``overrides`` set config or params fields."""
    config, params = apply_overrides(NAME, PendulumConfig(), PendulumParams(), overrides)
    max_speed, max_torque = float(params.max_speed), float(params.max_torque)
    return Environment(
        name=NAME,
        config=config,
        params=params,
        observation_space=Box(low=(-1.0, -1.0, -max_speed), high=(1.0, 1.0, max_speed), shape=(3,)),
        action_space=Box(low=-max_torque, high=max_torque, shape=(1,)),
        reset_env=reset_env,
        step_env=step_env,
        control=control_hints(params),
    )


def control_hints(params: PendulumParams) -> ControlHints:
    """Hold the pendulum upright: regulate ``sin theta`` (component 1) at 0, once every ``dt`` seconds.

    Near the top a positive torque raises ``sin theta`` (``action_sign=+1``). The default torque
    limit (2) is below gravity's largest pull (``m g l / 2 = 5``), so a law on this one component
    does not swing the pendulum up from below (that takes pumping energy); these gains catch it
    when it comes near the top and hold it there.
    """
    return ControlHints(obs_index=1, setpoint=0.0, dt=float(params.dt), action_sign=1, kp=10.0, kd=1.0)


register_env(NAME, make_pendulum)
