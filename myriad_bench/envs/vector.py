"""The batched environment API used by evaluation and training: one key per batch step.

>>> env = make_env("cartpole-control")
>>> obs, state = vector_reset(env, jax.random.key(0), num_envs=8)      # obs (8, 4)
>>> obs, state, reward, done, info = vector_step(env, jax.random.key(1), state, actions)

Both are pure and jittable; close over ``env`` (it holds functions) rather than passing it as
an argument: ``jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))``.

A batch step is ``jax.vmap`` of the single-environment auto-resetting step
(:func:`~myriad_bench.envs.environment.auto_reset_step_with_keys`), with per-environment keys
made from the one key by :func:`batch_keys`. Splitting a threefry key into one key per
environment and drawing threefry bits from each costs more than the physics of a
classic-control task (threefry runs as several XLA loops over the whole batch), so these keys
use :data:`HASH_PRNG`: a counter-based generator built on a 32-bit integer hash, a few integer
operations per random word that XLA fuses into the environment's own loop over the batch. It
is a simulation-grade generator (well mixed, not cryptographic), like JAX's other non-default
generators.

Performance notes (CartPole, 2-core CPU): keep the scan over steps rolled (``unroll > 1``
made the step 10x slower, XLA fuses consecutive steps and recomputes), and draw a batch's
random actions from one key (``jax.random.bits`` of a :data:`HASH_PRNG` key is cheapest).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np

from myriad_bench.envs.environment import Environment, auto_reset_step_with_keys

__all__ = ["HASH_PRNG", "batch_keys", "vector_reset", "vector_step"]

# Domain separators: the words of a key's children and its random bits never coincide.
_SPLIT, _SPLIT_2, _FOLD, _BITS, _SEED = (
    np.uint32(c) for c in (0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F)
)


def _mix(x: jax.Array) -> jax.Array:
    """A bijective 32-bit hash with good avalanche (Wellons' "lowbias32", second version)."""
    x = x ^ (x >> 16)
    x = x * np.uint32(0x21F0AAAD)
    x = x ^ (x >> 15)
    x = x * np.uint32(0x735A2D97)
    return x ^ (x >> 15)


def _hash(key: jax.Array, domain: np.uint32, counter: jax.Array) -> jax.Array:
    """Words of the stream ``domain`` of the two-word ``key`` at uint32 ``counter``."""
    return _mix(_mix(counter ^ key[0] ^ domain) + key[1])


def _seed(seed: jax.Array) -> jax.Array:
    seed = jnp.asarray(seed)
    low = seed.astype(jnp.uint32)
    high = (seed >> 32).astype(jnp.uint32) if seed.dtype.itemsize == 8 else jnp.uint32(0)
    return jnp.stack([_mix(high ^ _SEED), _mix(low)])


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    # Each child's two words come from two separate streams (not one interleaved stream): that
    # keeps vmapped keys as two contiguous arrays, which XLA fuses and vectorises far better.
    counter = jnp.arange(math.prod(shape), dtype=jnp.uint32)
    words = jnp.stack([_hash(key, _SPLIT, counter), _hash(key, _SPLIT_2, counter)], axis=-1)
    return words.reshape((*shape, 2))


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    data = jnp.asarray(data).astype(jnp.uint32) * np.uint32(2)
    return jnp.stack([_hash(key, _FOLD, data), _hash(key, _FOLD, data + np.uint32(1))])


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    count = math.prod(shape)
    if bit_width == 64:
        words = _hash(key, _BITS, jnp.arange(2 * count, dtype=jnp.uint32)).reshape(count, 2)
        pairs = words.astype(jnp.uint64)
        return ((pairs[:, 0] << 32) | pairs[:, 1]).reshape(shape)
    if bit_width == 32:
        return _hash(key, _BITS, jnp.arange(count, dtype=jnp.uint32)).reshape(shape)
    # 8 and 16 bits: split each 32-bit word into several values, like JAX's threefry does.
    per_word = 32 // bit_width
    words = _hash(key, _BITS, jnp.arange(-(-count // per_word), dtype=jnp.uint32))
    values = jax.lax.bitcast_convert_type(words, jnp.dtype(f"uint{bit_width}"))
    return values.reshape(-1)[:count].reshape(shape)


_STEP_STREAM, _RESET_STREAM = 0, 1

HASH_PRNG = jex_random.define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="myriad_hash32",
    tag="mh",
)
"""The counter-based generator of the per-environment keys (usable as ``jax.random.key(s, impl=...)``)."""


def batch_keys(key: jax.Array, num_envs: int, stream: int = 0) -> jax.Array:
    """``num_envs`` per-environment keys (a typed :data:`HASH_PRNG` key array) derived from ``key``.

    ``key`` is any JAX key (typed or a raw ``uint32`` key) and the result depends on all its
    bits; different ``stream`` values give independent key sets from the same ``key``.
    """
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    words = jnp.ravel(data).astype(jnp.uint32)
    root = jnp.stack([_mix(words[0] ^ np.uint32(stream)), _mix(words[-1] ^ _SEED)])
    for word in words[1:-1]:
        root = root.at[0].set(_mix(root[0] ^ word))
    return jax.random.wrap_key_data(_split(root, (num_envs,)), impl=HASH_PRNG)


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
