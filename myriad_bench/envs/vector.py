"""The batched environment API used by evaluation and training: one key per batch step.

>>> env = make_env("cartpole-control")
>>> obs, state = vector_reset(env, jax.random.key(0), num_envs=8)      # obs (8, 4)
>>> obs, state, reward, done, info = vector_step(env, jax.random.key(1), state, actions)

Both are pure and jittable; close over ``env`` (it holds functions) rather than passing it as
an argument: ``jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))``.

A batch step is ``jax.vmap`` of the single-environment auto-resetting step
(:func:`~myriad_bench.envs.environment.auto_reset_step_with_keys`), with per-environment keys
made from the one key by :func:`~myriad_bench.core.random.batch_keys` (the hash generator
:data:`~myriad_bench.core.random.HASH_PRNG`, re-exported here).

Performance notes (CartPole, 2-core CPU): keep the scan over steps rolled (``unroll > 1``
made the step 10x slower, XLA fuses consecutive steps and recomputes), and draw a batch's
random actions from one key (``jax.random.bits`` of a :data:`HASH_PRNG` key is cheapest).
"""

from __future__ import annotations

from typing import Any

import jax

from myriad_bench.core.random import HASH_PRNG, batch_keys
from myriad_bench.envs.environment import Environment, auto_reset_step_with_keys

__all__ = ["HASH_PRNG", "batch_keys", "vector_reset", "vector_step"]

_STEP_STREAM, _RESET_STREAM = 0, 1


def vector_reset(env: Environment, key: jax.Array, num_envs: int) -> tuple[jax.Array, Any]:
    """``num_envs`` fresh episodes: ``obs (num_envs, *obs_shape)`` and the batched state."""
    keys = batch_keys(key, num_envs, stream=_RESET_STREAM)
    return jax.vmap(lambda k: env.reset_env(k, env.params, env.config))(keys)


def vector_step(
    env: Environment, key: jax.Array, state: Any, actions: jax.Array
) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
    """One auto-resetting step of every environment in the batch.

    ``actions`` is ``(N, *action_shape)``. Returns ``obs (N, *obs_shape)``, the next state,
    ``reward (N,)`` float32, ``done (N,)`` bool and ``info`` with ``terminated`` and
    ``truncated`` ``(N,)`` bool arrays; done environments come back already reset.

    Equal to ``jax.vmap(auto_reset_step_with_keys)`` with the step keys
    ``batch_keys(key, N, 0)`` and the reset keys ``batch_keys(key, N, 1)``.
    """
    num_envs = actions.shape[0]
    step_keys = batch_keys(key, num_envs, stream=_STEP_STREAM)
    reset_keys = batch_keys(key, num_envs, stream=_RESET_STREAM)

    def step(step_key, reset_key, env_state, action):
        return auto_reset_step_with_keys(
            env.step_env, env.reset_env, step_key, reset_key, env_state, action, env.params, env.config
        )

    return jax.vmap(step)(step_keys, reset_keys, state, actions)
