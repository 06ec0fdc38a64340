"""Speed of the batch random-number generator against JAX's built-in ``rbg`` and ``unsafe_rbg``.

Run: ``python benchmarks/prng_comparison.py`` (``--rounds``, ``--env-steps``). It times, warm and
with ``block_until_ready``, interleaving the generators round by round so that a busy machine
slows all of them alike:

- the env benchmark of ``benchmarks/test_env_throughput.py``: a random policy on CartPole at 1,
  1 000 and 10 000 environments, auto-reset, as one ``lax.scan``;
- one small training case (PQN on CartPole, 16 envs x 3 000 steps, evaluations every 300),

once per generator: :data:`~myriad_bench.core.random.HASH_PRNG` (per-environment keys from
:func:`~myriad_bench.core.random.batch_keys`, what the package uses), and ``rbg`` /
``unsafe_rbg`` / ``threefry2x32`` with per-environment keys from ``split(fold_in(key, stream), n)``.
Training swaps the generator of the run key and of the environments' keys. It prints median
seconds per call and each generator's speed relative to the hash generator (above 1: faster).
The figures recorded in :mod:`myriad_bench.core.random` come from this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MYRIAD_BENCH_VERBOSE", "0")

import jax
import jax.numpy as jnp

import myriad_bench as mb
from myriad_bench.core import random as hash_random
from myriad_bench.envs import vector
from myriad_bench.envs.environment import auto_reset_step_with_keys
from myriad_bench.platform import training
from myriad_bench.platform.programs import clear_compiled_programs

GENERATORS = ("hash", "rbg", "unsafe_rbg", "threefry2x32")


def impl_of(name: str) -> object:
    return hash_random.HASH_PRNG if name == "hash" else name


def env_keys_for(name: str) -> Callable[[jax.Array, int, int], jax.Array]:
    """``batch_keys``'s job done with generator ``name``: ``split(fold_in(key, stream), n)``."""
    if name == "hash":
        return hash_random.batch_keys
    example = jax.random.key(0, impl=name)

    def keys(key: jax.Array, num_envs: int, stream: int = 0) -> jax.Array:
        if key.dtype != example.dtype:  # a key of another generator: reuse its bits
            data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
            shape = jax.random.key_data(example).shape
            key = jax.random.wrap_key_data(jnp.resize(jnp.ravel(data).astype(jnp.uint32), shape), impl=name)
        return jax.random.split(jax.random.fold_in(key, stream), num_envs)

    return keys


def env_loop(name: str, num_envs: int, num_steps: int) -> tuple[Callable, tuple]:
    """The random-policy CartPole loop of the env benchmark with generator ``name``."""
    env = mb.make_env("cartpole-control")
    keys_of = env_keys_for(name)

    def step(key, state, actions):
        step_keys, reset_keys = keys_of(key, num_envs, 0), keys_of(key, num_envs, 1)

        def one(step_key, reset_key, env_state, action):
            return auto_reset_step_with_keys(
                env.step_env, env.reset_env, step_key, reset_key, env_state, action, env.params, env.config
            )

        obs, state, _, done, _ = jax.vmap(one)(step_keys, reset_keys, state, actions)
        return obs, state, done

    def run(key, obs, state):
        def body(carry, keys):
            obs, state, episodes = carry
            actions = (jax.random.bits(keys[0], (num_envs,), jnp.uint8) & 1).astype(jnp.int32)
            obs, state, done = step(keys[1], state, actions)
            return (obs, state, episodes + done), None

        carry = (obs, state, jnp.zeros(num_envs, jnp.int32))
        return jax.lax.scan(body, carry, jax.random.split(key, (num_steps, 2)))[0]

    root = jax.random.key(0, impl=impl_of(name))
    reset_keys = keys_of(root, num_envs, 1)
    obs, state = jax.vmap(lambda k: env.reset_env(k, env.params, env.config))(reset_keys)
    return jax.jit(run), (jax.random.key(1, impl=impl_of(name)), obs, state)


def training_run(name: str) -> Callable[[], object]:
    """A prepared small PQN run whose run key and environment keys use generator ``name``.

    The generator is swapped while the program is traced; the prepared program keeps the run's
    keys, so it runs with the right generator after the originals are back.
    """
    training.training_key = lambda seed: jax.random.key(int(seed), impl=impl_of(name))
    vector.batch_keys = env_keys_for(name)
    clear_compiled_programs()
    config = mb.create_config(
        env="cartpole-control", agent="pqn", num_envs=16, steps_per_env=3_000, eval_frequency=300,
        eval_rollouts=32, learning_rate=2.5e-4, seed=0,
    )  # fmt: skip
    program = training.prepare_training(config, verbose=False)
    program.run()  # warm
    return program.run


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--env-steps", type=int, default=2_000_000, help="env steps per timed call")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir", str(Path(__file__).resolve().parents[1] / ".jax_cache"))

    cases: dict[str, dict[str, Callable[[], object]]] = {}
    for num_envs in (1, 1_000, 10_000):
        num_steps = max(1, args.env_steps // num_envs // (20 if num_envs == 1 else 1))
        case = f"env {num_envs:>6} envs x {num_steps} steps"
        cases[case] = {}
        for name in GENERATORS:
            run, run_args = env_loop(name, num_envs, num_steps)
            episodes = jax.block_until_ready(run(*run_args))[2]  # compile and warm up
            # The loop really ends and resets episodes (about 22 steps each at random).
            assert int(episodes.sum()) > num_envs * num_steps / 50, (name, num_envs, int(episodes.sum()))
            cases[case][name] = lambda run=run, run_args=run_args: run(*run_args)

    training_case = "training pqn 16 envs x 3000 steps"
    original = (training.training_key, vector.batch_keys)
    try:
        cases[training_case] = {name: training_run(name) for name in GENERATORS}
    finally:
        training.training_key, vector.batch_keys = original

    seconds = {case: {name: [] for name in GENERATORS} for case in cases}
    for _ in range(args.rounds):
        for case, runs in cases.items():
            for name in GENERATORS:
                seconds[case][name].append(timed(runs[name]))

    print(f"jax {jax.__version__}, {args.rounds} rounds, median s per call; speed relative to hash")
    print(f"{'case':<38}" + "".join(f"{name:>22}" for name in GENERATORS))
    for case, by_name in seconds.items():
        medians = {name: statistics.median(values) for name, values in by_name.items()}
        cells = [f"{medians[name]:9.4f} s ({medians['hash'] / medians[name]:5.2f}x)" for name in GENERATORS]
        print(f"{case:<38}" + "".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()
