"""The batch random-number generator: :data:`HASH_PRNG` and :func:`batch_keys`.

Vectorised environments need one key per environment per step, and training draws all of an
agent's randomness (actions, exploration, minibatches, initial weights) from its run key.
Splitting a threefry key into one key per environment and drawing threefry bits from each
costs more than the physics of a classic-control task (threefry runs as several XLA loops over
the whole batch), so these keys use :data:`HASH_PRNG`: a counter-based generator built on a
32-bit integer hash, a few integer operations per random word that XLA fuses into the
environment's own loop over the batch. It is a simulation-grade generator (well mixed, not
cryptographic), like JAX's other non-default generators.

Compared with JAX's built-in generators (``python benchmarks/prng_comparison.py``, 7 rounds,
median seconds per warm call with ``block_until_ready``, generators interleaved round by round;
jax 0.10.2, 2026-12-03, 2-core AMD EPYC). The env cases are the random-policy CartPole loop
of ``benchmarks/test_env_throughput.py`` (auto-reset, one ``lax.scan``) with every key of the
loop from the generator under test; the training case is PQN on CartPole, 16 envs x 3 000
steps, evaluations every 300, with the run key and the environments' keys swapped. Built-ins
get per-environment keys from ``split(fold_in(key, stream), n)``. Speed relative to this
generator in brackets (below 1: slower):

============================  ==========  =================  =================  =================
case                          hash        rbg                unsafe_rbg         threefry2x32
============================  ==========  =================  =================  =================
env, 1 env x 100 000 steps    0.0071 s    0.3572 s (0.02x)   0.0486 s (0.15x)   0.5174 s (0.01x)
env, 1 000 envs x 2 000       0.0531 s    0.3067 s (0.17x)   0.2065 s (0.26x)   0.2697 s (0.20x)
env, 10 000 envs x 200        0.0411 s    0.1857 s (0.22x)   0.1560 s (0.26x)   0.1607 s (0.26x)
training, PQN 1 seed          0.9182 s    1.1311 s (0.81x)   1.3234 s (0.69x)   0.9739 s (0.94x)
============================  ==========  =================  =================  =================

So the hand-written generator stays: it is 4-50x faster on the env benchmark and not slower
in training (where the networks dominate). ``rbg`` splits and folds in with threefry, and
per-step, per-environment keys are mostly splits and fold-ins; ``unsafe_rbg`` splits with
XLA's ``RngBitGenerator`` (vmapped, it draws a whole batch from the first key only), cheaper
than threefry but a separate XLA operation rather than integer arithmetic fused into the
environment's loop.
"""

from __future__ import annotations

import math

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np

__all__ = ["HASH_PRNG", "batch_keys", "permutation"]

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


_FEISTEL_ROUNDS = 6
_SORTED_UP_TO = 256


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A pseudo-random permutation of ``range(n)`` (int32), drawn without sorting.

    ``jax.random.permutation`` sorts ``n`` random keys, in two or more rounds: on a CPU, shuffling
    a PQN rollout of 65 536 transitions for each epoch took a fifth of the training time. This
    one maps each index through a six-round Feistel network keyed by ``key`` (a bijection on
    ``[0, 4**h)`` with ``4**h`` the smallest power of four >= n, round functions from the
    hash of this module; Luby-Rackoff) and walks the cycle of every image that falls outside
    ``[0, n)`` until it is back inside (cycle walking keeps it a bijection on ``range(n)``;
    fewer than four steps on average). Elementwise integer work, fused by XLA.

    Each item lands in each position about equally often and any two share a minibatch as often
    as under a uniform shuffle (tests/test_networks.py); like every Feistel network it reaches
    only even permutations, which no minibatch split can tell apart. Up to 256 items, where
    the round functions would map too few bits to mix well and sorting is cheap,
    ``jax.random.permutation`` draws it.
    """
    if n <= _SORTED_UP_TO:
        return jax.random.permutation(key, n).astype(jnp.int32)
    half = -(-(n - 1).bit_length() // 2)
    mask = np.uint32((1 << half) - 1)
    round_keys = jax.random.bits(key, (_FEISTEL_ROUNDS,), jnp.uint32)

    def encrypt(x: jax.Array) -> jax.Array:
        left, right = x >> half, x & mask
        for k in range(_FEISTEL_ROUNDS):
            left, right = right, left ^ (_mix(right ^ round_keys[k]) & mask)
        return (left << half) | right

    order = encrypt(jnp.arange(n, dtype=jnp.uint32))
    order = jax.lax.while_loop(lambda x: jnp.any(x >= n), lambda x: jnp.where(x >= n, encrypt(x), x), order)
    return order.astype(jnp.int32)
