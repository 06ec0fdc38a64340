"""``cartpole-control``: Gymnasium's CartPole-v1, step for step.

A pole hinged on a cart that moves along a frictionless track; action 0 pushes the cart left,
1 pushes it right, with a force of ``force_mag``. The physics (:func:`physics_step`) is the
Gymnasium model with explicit Euler integration; the task on top of it gives reward 1 per
step, terminates when ``|x| > x_threshold`` (2.4) or ``|theta| > theta_threshold_radians``
(12 degrees) and truncates at ``max_steps`` (500). A fresh episode starts from
``U(-0.05, 0.05)`` in each state variable. Observations are ``(x, x_dot, theta, theta_dot)``
as float32.

>>> env = make_cartpole(max_steps=200, force_mag=5.0)
>>> obs, state = env.reset(jax.random.key(0))
>>> obs.shape
(4,)
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
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs.environment import Environment, apply_overrides
from myriad_bench.envs.registry import register_env

__all__ = [
    "CartPoleConfig",
    "CartPoleParams",
    "CartPoleState",
    "control_hints",
    "make_cartpole",
    "physics_step",
    "reset_env",
    "step_env",
]

NAME = "cartpole-control"


@dataclass(frozen=True)
class CartPoleConfig:
    """Static settings: the episode limit (truncation)."""

    max_steps: Count = 500

    def __post_init__(self) -> None:
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 1:
            raise ValueError(f"{NAME}: max_steps must be a positive integer, got {self.max_steps!r}")


@struct.dataclass
class CartPoleParams:
    """Dynamic parameters: physics constants (Gymnasium's values) and the task's thresholds."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5
    """Half the pole's length (as in Gymnasium)."""
    force_mag: float = 10.0
    tau: float = 0.02
    """Seconds per step (Euler integration)."""
    x_threshold: float = 2.4
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    reset_bound: float = 0.05
    """Initial state variables are drawn from ``U(-reset_bound, reset_bound)``."""


@struct.dataclass
class CartPoleState:
    """One cart-pole: ``physics = (x, x_dot, theta, theta_dot)`` (float32 ``(4,)``) and ``time``.

    The physical variables live in one array (batched: ``(N, 4)``) because it is also the
    observation, and one array is updated by one fused XLA loop rather than four.
    """

    physics: jax.Array
    time: jax.Array
    """int32 steps taken in the episode."""

    @property
    def x(self) -> jax.Array:
        return self.physics[..., 0]

    @property
    def x_dot(self) -> jax.Array:
        return self.physics[..., 1]

    @property
    def theta(self) -> jax.Array:
        return self.physics[..., 2]

    @property
    def theta_dot(self) -> jax.Array:
        return self.physics[..., 3]


def physics_step(physics: jax.Array, force: jax.Array, params: CartPoleParams) -> jax.Array:
    """``(x, x_dot, theta, theta_dot)`` after ``params.tau`` seconds under ``force`` (explicit Euler)."""
    x, x_dot, theta, theta_dot = physics[0], physics[1], physics[2], physics[3]
    total_mass = params.masspole + params.masscart
    polemass_length = params.masspole * params.length
    cos_theta = jnp.cos(theta)
    sin_theta = jnp.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sin_theta) / total_mass
    theta_acc = (params.gravity * sin_theta - cos_theta * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos_theta**2 / total_mass)
    )
    x_acc = temp - polemass_length * theta_acc * cos_theta / total_mass
    return jnp.stack(
        [
            x + params.tau * x_dot,
            x_dot + params.tau * x_acc,
            theta + params.tau * theta_dot,
            theta_dot + params.tau * theta_acc,
        ]
    ).astype(jnp.float32)


def terminated(physics: jax.Array, params: CartPoleParams) -> jax.Array:
    """The pole fell or the cart left the track."""
    return (jnp.abs(physics[0]) > params.x_threshold) | (jnp.abs(physics[2]) > params.theta_threshold_radians)


def reset_env(
    key: jax.Array, params: CartPoleParams, config: CartPoleConfig
) -> tuple[jax.Array, CartPoleState]:
    """A fresh episode: every state variable from ``U(-reset_bound, reset_bound)``."""
    physics = jax.random.uniform(key, (4,), jnp.float32, -params.reset_bound, params.reset_bound)
    return physics, CartPoleState(physics=physics, time=jnp.int32(0))


def step_env(
    key: jax.Array, state: CartPoleState, action: jax.Array, params: CartPoleParams, config: CartPoleConfig
) -> tuple[jax.Array, CartPoleState, jax.Array, jax.Array, dict]:
    """One step of the task: push right for action 1, left otherwise; reward 1 every step.

    The observation is the physical state itself.
    """
    force = jnp.where(action == 1, params.force_mag, -params.force_mag).astype(jnp.float32)
    physics = physics_step(state.physics, force, params)
    next_state = CartPoleState(physics=physics, time=state.time + 1)
    return physics, next_state, jnp.float32(1.0), terminated(physics, params), {}


def make_cartpole(**overrides: Any) -> Environment:
    """The ``cartpole-control`` environment; ``overrides`` set config or params fields."""
    config, params = apply_overrides(NAME, CartPoleConfig(), CartPoleParams(), overrides)
    high = (
        2 * float(params.x_threshold),
        math.inf,
        2 * float(params.theta_threshold_radians),
        math.inf,
    )
    return Environment(
        name=NAME,
        config=config,
        params=params,
        observation_space=Box(low=tuple(-h for h in high), high=high, shape=(4,)),
        action_space=Discrete(2),
        reset_env=reset_env,
        step_env=step_env,
        control=control_hints(params),
    )


def control_hints(params: CartPoleParams) -> ControlHints:
    """Hold the pole upright: regulate the angle (component 2) at 0, once every ``tau`` seconds.

    Pushing right (action 1) accelerates the pole's angle downward (``action_sign=-1``). A
    proportional-derivative law on the angle, ``θ + 0.1 θ̇``, balances the pole for the whole
    episode; an on-off law does best on the angular velocity (component 3), which a push
    changes at once, while the angle follows a step later (about 200 steps against 42).
    """
    return ControlHints(
        obs_index=2, setpoint=0.0, dt=float(params.tau), action_sign=-1, kp=1.0, kd=0.1, switch_index=3
    )


register_env(NAME, make_cartpole)
