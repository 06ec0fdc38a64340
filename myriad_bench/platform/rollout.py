"""The one evaluation rollout, used by :func:`~myriad_bench.platform.evaluation.evaluate` and by
training at its evaluation boundaries.

``make_rollout(env, agent, num_episodes, max_steps)`` returns a pure function
``rollout(key, agent_state) -> dict`` that plays ``num_episodes`` (E) episodes side by side with
the agent's greedy actions: one batched ``select_action`` over the E observations and one
batched environment step per time step, for at most ``max_steps`` (T) steps. Each episode
counts from its reset until its first ``done`` (or T steps) and is masked afterwards. It is
traceable, so it runs inside a larger ``jax.jit`` / ``jax.vmap`` (training calls it inside its
compiled program):

>>> rollout = make_rollout(env, agent, num_episodes=32, max_steps=500)     # doctest: +SKIP
>>> out = jax.jit(rollout)(jax.random.key(0), agent_state)                # doctest: +SKIP
>>> out["episode_returns"].shape, out["episode_lengths"].shape           # doctest: +SKIP
((32,), (32,))

Without ``return_episodes`` the steps run in a ``lax.while_loop`` that stops once every episode
has ended; with it, in a ``lax.scan`` over all T steps that records the trajectories. Both draw
the same keys (``fold_in(key, t)`` at step t), so they give the same returns and lengths.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from myriad_bench.agents.agent import Agent
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.vector import vector_reset, vector_step

__all__ = ["Rollout", "make_rollout", "reset_carry"]

Rollout = Callable[..., dict[str, jax.Array]]
"""``rollout(key, agent_state, env_params=None, agent_params=None) -> dict`` (see :func:`make_rollout`)."""


def reset_carry(agent: Agent, agent_params: Any, carry: Any, done: jax.Array) -> Any:
    """``carry`` with the entries of done environments replaced by fresh ones.

    ``done`` is ``(B,)`` bool; every carry leaf has a leading ``(B,)`` axis (see
    ``Agent.init_carry``). Memoryless agents (carry ``()``) pass through unchanged.
    """
    if not jax.tree.leaves(carry):
        return carry
    fresh = agent.init_carry(done.shape[0], agent_params)

    def select(new: jax.Array, old: jax.Array) -> jax.Array:
        return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)

    return jax.tree.map(select, fresh, carry)


class _Loop(NamedTuple):
    obs: jax.Array  # (E, *obs_shape), the observations the next actions are chosen on
    env_state: Any  # batched env state
    carry: Any  # the agent's per-episode carry
    alive: jax.Array  # (E,) bool: the episode has not ended yet
    returns: jax.Array  # (E,) float32
    lengths: jax.Array  # (E,) int32
    t: jax.Array  # int32 step index


def make_rollout(
    env: Environment,
    agent: Agent,
    num_episodes: int,
    max_steps: int | None = None,
    return_episodes: bool = False,
) -> Rollout:
    """Build the evaluation rollout of ``agent`` on ``env`` (E = ``num_episodes``, T = ``max_steps``).

    ``max_steps`` defaults to the environment's episode limit; a smaller value cuts episodes
    at T steps, a larger one lets the environment's own truncation end them.

    The returned ``rollout(key, agent_state, env_params=None, agent_params=None)`` (``None``
    means ``env.params`` / ``agent.params``; pass them to reuse one compiled program across
    parameter values) returns:

    - ``episode_returns`` ``(E,)`` float32: sum of rewards up to and including the first done;
    - ``episode_lengths`` ``(E,)`` int32: steps up to and including the first done, at most T;

    and with ``return_episodes`` also, for steps ``t < T``:

    - ``observations`` ``(E, T, *obs_shape)`` float32: the observation action t was chosen on;
    - ``actions`` ``(E, T, *action_shape)`` in the action space's dtype;
    - ``rewards`` ``(E, T)`` float32;
    - ``dones`` ``(E, T)`` bool: the environment's done (terminated or truncated).

    Steps after an episode's end are padding: zero observations, actions and rewards, and
    ``dones`` True; ``t < episode_lengths[e]`` selects the real steps.
    """
    num_episodes = _positive_int("num_episodes", num_episodes)
    max_steps = env.max_steps if max_steps is None else _positive_int("max_steps", max_steps)

    def rollout(
        key: jax.Array, agent_state: Any, env_params: Any = None, agent_params: Any = None
    ) -> dict[str, jax.Array]:
        batch_env = env if env_params is None else env._replace(params=env_params)
        params = agent.params if agent_params is None else agent_params
        key_reset, key_steps = jax.random.split(key)
        obs, env_state = vector_reset(batch_env, key_reset, num_episodes)

        def step(loop: _Loop) -> tuple[_Loop, dict[str, jax.Array]]:
            key_action, key_env = jax.random.split(jax.random.fold_in(key_steps, loop.t))
            actions, carry = agent.select_action(key_action, loop.obs, loop.carry, agent_state, params, True)
            next_obs, env_state, reward, done, _ = vector_step(batch_env, key_env, loop.env_state, actions)
            alive = loop.alive
            reward = jnp.where(alive, reward, 0.0).astype(jnp.float32)
            record = {
                "observations": _mask(alive, loop.obs).astype(jnp.float32),
                "actions": _mask(alive, actions),
                "rewards": reward,
                "dones": jnp.logical_or(done, jnp.logical_not(alive)),
            }
            next_loop = _Loop(
                obs=next_obs,
                env_state=env_state,
                carry=reset_carry(agent, params, carry, done),
                alive=jnp.logical_and(alive, jnp.logical_not(done)),
                returns=loop.returns + reward,
                lengths=loop.lengths + alive.astype(jnp.int32),
                t=loop.t + 1,
            )
            return next_loop, record

        start = _Loop(
            obs=obs,
            env_state=env_state,
            carry=agent.init_carry(num_episodes, params),
            alive=jnp.ones((num_episodes,), bool),
            returns=jnp.zeros((num_episodes,), jnp.float32),
            lengths=jnp.zeros((num_episodes,), jnp.int32),
            t=jnp.zeros((), jnp.int32),
        )
        if return_episodes:
            end, records = jax.lax.scan(lambda loop, _: step(loop), start, length=max_steps)
            episodes = {name: jnp.swapaxes(value, 0, 1) for name, value in records.items()}
        else:
            end = jax.lax.while_loop(
                lambda loop: jnp.logical_and(loop.t < max_steps, jnp.any(loop.alive)),
                lambda loop: step(loop)[0],
                start,
            )
            episodes = {}
        return {"episode_returns": end.returns, "episode_lengths": end.lengths, **episodes}

    return rollout


def _mask(alive: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.where(alive.reshape(alive.shape + (1,) * (x.ndim - 1)), x, jnp.zeros_like(x))


def _positive_int(name: str, value: Any) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"make_rollout: {name} must be a positive integer, got {value!r}")
    return number
