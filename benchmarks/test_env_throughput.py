"""Environment throughput: CartPole stepped by a random policy with auto-reset, next to gymnax.

Each case times one jitted call that runs ``steps_per_call`` steps of ``num_envs`` parallel
CartPoles as a ``lax.scan``: per step, the random policy draws the batch's actions and the
environments step (done ones reset). The same loop and policy run on gymnax's CartPole-v1
(vmapped over per-env keys, its documented use). Compilation happens before timing, every
timed call blocks on its results, and ``extra_info`` holds env steps per second
(``env_steps_per_s`` from the median call, ``env_steps_per_s_best`` from the fastest) and,
for myriad-bench, the ratio to gymnax measured in the same session.

Run: ``pytest benchmarks/test_env_throughput.py --benchmark-columns=median,rounds``
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import pytest

from myriad_bench.core.random import HASH_PRNG
from myriad_bench.envs import make_env
from myriad_bench.envs.vector import vector_reset, vector_step

NUM_ENVS = (1, 1_000, 10_000, 100_000)
LIBRARIES = ("gymnax", "myriad_bench")
# About 50-200 ms per call for myriad-bench at every batch size (gymnax takes longer).
ENV_STEPS_PER_CALL = int(os.environ.get("MYRIAD_BENCH_THROUGHPUT_STEPS", 4_000_000))
ROUNDS = 5

_steps_per_s: dict[tuple[str, int], float] = {}


def random_actions(key: jax.Array, num_envs: int) -> jax.Array:
    """Uniform CartPole actions ``(num_envs,)`` int32: one random byte per env from one key."""
    hash_key = jax.random.wrap_key_data(jax.random.key_data(key), impl=HASH_PRNG)
    return (jax.random.bits(hash_key, (num_envs,), jnp.uint8) & 1).astype(jnp.int32)


def make_loop(step: Callable, num_envs: int, num_steps: int) -> Callable:
    """``run(key, obs, state) -> (obs, state, episodes_ended (num_envs,))``, jitted."""

    def run(key, obs, state):
        def body(carry, keys):
            obs, state, episodes = carry
            actions = random_actions(keys[0], num_envs)
            obs, state, done = step(keys[1], state, actions)
            return (obs, state, episodes + done), None

        carry = (obs, state, jnp.zeros(num_envs, jnp.int32))
        return jax.lax.scan(body, carry, jax.random.split(key, (num_steps, 2)))[0]

    return jax.jit(run)


def build_myriad_bench(num_envs: int, num_steps: int) -> tuple[Callable, tuple]:
    env = make_env("cartpole-control")

    def step(key, state, actions):
        obs, state, _, done, _ = vector_step(env, key, state, actions)
        return obs, state, done

    obs, state = vector_reset(env, jax.random.key(0), num_envs)
    return make_loop(step, num_envs, num_steps), (jax.random.key(1), obs, state)


def build_gymnax(num_envs: int, num_steps: int) -> tuple[Callable, tuple]:
    gymnax = pytest.importorskip("gymnax", reason="gymnax is in the 'bench' extra")
    env, params = gymnax.make("CartPole-v1")
    vmapped_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def step(key, state, actions):
        obs, state, _, terminated, truncated, _ = vmapped_step(
            jax.random.split(key, num_envs), state, actions, params
        )
        return obs, state, terminated | truncated

    keys = jax.random.split(jax.random.key(0), num_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    return make_loop(step, num_envs, num_steps), (jax.random.key(1), obs, state)


@pytest.mark.parametrize(
    ("num_envs", "library"),
    [(n, library) for n in NUM_ENVS for library in LIBRARIES],
    ids=[f"{library}-{n}" for n in NUM_ENVS for library in LIBRARIES],
)
def test_cartpole_random_policy_throughput(benchmark, num_envs: int, library: str) -> None:
    num_steps = max(1, ENV_STEPS_PER_CALL // num_envs // (20 if num_envs == 1 else 1))
    build = build_gymnax if library == "gymnax" else build_myriad_bench
    run, args = build(num_envs, num_steps)
    obs, _, episodes = jax.block_until_ready(run(*args))  # compiles outside the timing

    benchmark.group = f"cartpole throughput, {num_envs} envs"
    benchmark.pedantic(lambda: jax.block_until_ready(run(*args)), rounds=ROUNDS, warmup_rounds=1)

    env_steps = num_envs * num_steps
    if benchmark.stats is not None:  # None under --benchmark-disable
        stats = benchmark.stats.stats
        _steps_per_s[library, num_envs] = env_steps / stats.median
        benchmark.extra_info.update(
            library=library,
            num_envs=num_envs,
            steps_per_call=num_steps,
            env_steps_per_s=env_steps / stats.median,
            env_steps_per_s_best=env_steps / stats.min,
        )
        if library != "gymnax" and ("gymnax", num_envs) in _steps_per_s:
            benchmark.extra_info["speedup_vs_gymnax"] = (
                _steps_per_s[library, num_envs] / _steps_per_s["gymnax", num_envs]
            )

    # The loop really ran episodes to their end and reset them (about 22 steps each at random).
    assert obs.shape == (num_envs, 4)
    if num_steps >= 100:
        assert int(episodes.sum()) > env_steps / 50
