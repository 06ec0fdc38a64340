"""Training throughput on CartPole: whole runs of ``train_and_evaluate``, compile timed apart.

Each case first compiles the run's program (``compile_training``; ``extra_info["compile_s"]``,
near zero when the persistent compilation cache already holds it), then times complete runs
with pytest-benchmark — evaluations and writing the run dir included, results on the host —
and records ``env_steps_per_s`` and the final evaluation return. ``extra_info`` also holds the
rate myriad-jax 0.2.0 reached with the same settings on a 2-core AMD EPYC (Zen 5, AVX-512;
``benchmarks/reference/myriad_jax_rates.py CASE``, one case per process, the best of four
runs on 2026-12-04, between its first and last progress lines: compile and first segment left
out, evaluations in) and the ratio to it, which means something only on that machine class:

- DQN, 1 env × 50 000 steps: 21 000 env steps/s (7 900 on a 2-core AVX2 EPYC).
- PQN, 32 envs × 10 000 steps, rollouts of 64, myriad's ``pqn_cartpole`` preset
  (256-unit layers, 4 epochs × 16 minibatches): 70 000 env steps/s (27 000 on AVX2).
- PQN, 1 024 envs, rollouts of 64, myriad's default PQN (128-unit layers, 4 × 4 minibatches):
  210 000 env steps/s over 3 000 steps per env (79 000 on AVX2).

That machine's speed comes in two phases about 2x apart (a program, ours or myriad-jax's,
runs at one rate or about half of it for minutes at a time), so compare best against best.

In the suite the runs are shorter (DQN 10 000 steps, PQN-32 2 560 and PQN-1024 640 steps per
env; the rates are steady-state, evaluations scaled alike); ``MYRIAD_BENCH_FULL_TRAINING=1``
runs the presets' full lengths, as the reference was measured.

More cases: the wall time of a run that solves CartPole (PPO defaults, 32 envs; compile
included, the evaluation curve and the env steps at which its mean first reaches 475); the
cost of training 8 seeds side by side in one program against one seed; a 4-point
learning-rate sweep × 8 seeds in one program against one 8-seed run; and per agent, the
compile seconds of a new config (empty caches), of the same config with a new learning rate
and discount (the compiled program serves it: 0) and from JAX's persistent cache.

Run: ``pytest benchmarks/test_training_throughput.py --benchmark-columns=min,rounds``
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import jax
import pytest

import myriad_bench as mb
from myriad_bench.platform.programs import clear_compiled_programs
from myriad_bench.platform.training import compile_training, prepare_training

FULL = os.environ.get("MYRIAD_BENCH_FULL_TRAINING") == "1"

PQN_PRESET = {  # myriad-jax examples/pqn_cartpole/configs/pqn_cartpole.yaml
    "rollout_steps": 64,
    "eval_frequency": 1_280,
    "eval_rollouts": 50,
    "hidden_sizes": [256, 256],
    "num_epochs": 4,
    "num_minibatches": 16,
    "learning_rate": 1e-4,
    "td_lambda": 0.95,
    "reward_scale": 0.1,
    "epsilon_end": 0.2,
    "epsilon_decay_steps": 63 * 64,
    "max_grad_norm": 10.0,
}
PQN_MYRIAD_DEFAULTS = {  # myriad-jax agents/rl/pqn.py make_agent defaults
    "rollout_steps": 64,
    "hidden_sizes": [128, 128],
    "num_epochs": 4,
    "num_minibatches": 4,
    "learning_rate": 2.5e-4,
    "td_lambda": 0.65,
    "reward_scale": 1.0,
    "max_grad_norm": 0.5,
    "epsilon_decay_steps": 50_000,
}

CASES = {
    "dqn-1env": (
        "dqn",
        {
            "num_envs": 1,
            "steps_per_env": 50_000 if FULL else 10_000,
            "eval_frequency": 5_000 if FULL else 1_000,
            "eval_rollouts": 10,
        },
        21_000,
    ),
    "pqn-32env": ("pqn", {"num_envs": 32, "steps_per_env": 10_000 if FULL else 2_560, **PQN_PRESET}, 70_000),
    "pqn-1024env": (
        "pqn",
        {
            "num_envs": 1_024,
            "steps_per_env": 3_000 if FULL else 640,
            "eval_frequency": 640,
            "eval_rollouts": 50,
            **PQN_MYRIAD_DEFAULTS,
        },
        210_000,
    ),
}


PPO_SOLVE = {"num_envs": 32, "steps_per_env": 2_048, "eval_frequency": 256, "eval_rollouts": 32}
"""PPO with its defaults, 32 envs × 2 048 steps: solves CartPole."""
PPO_SEEDS = {"num_envs": 32, "steps_per_env": 1_024, "eval_frequency": 256, "eval_rollouts": 16}
"""A shorter PPO run, trained for several seeds (and sweep points) side by side."""


def run_once(config: mb.Config, tmp_path: Any, seeds: list[int] | None = None, **options: Any) -> Any:
    """One whole ``train_and_evaluate`` into a fresh run dir; ``options`` (``sweep=``) passed on."""
    run_dir = tmp_path / f"run-{time.perf_counter_ns()}"
    return mb.train_and_evaluate(config, seeds=seeds, run_dir=run_dir, **options)


def final_returns(results: Any) -> list[float]:
    runs = results if isinstance(results, list) else [results]
    return [round(r.eval_metrics.mean_return[-1], 1) for r in runs]


@pytest.mark.benchmark(group="training-throughput")
@pytest.mark.parametrize("case", sorted(CASES))
def test_training_throughput(case: str, benchmark: Any, tmp_path: Any) -> None:
    agent, settings, reference = CASES[case]
    config = mb.create_config(env="cartpole-control", agent=agent, seed=0, **settings)
    compile_s = compile_training(config)
    results = benchmark.pedantic(run_once, args=(config, tmp_path), rounds=2 if case == "dqn-1env" else 1)
    assert results.summary()["training_global_steps"] == config.run.total_timesteps

    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    steps_per_s = config.run.total_timesteps / seconds
    benchmark.extra_info.update(
        compile_s=round(compile_s, 3),
        env_steps=config.run.total_timesteps,
        env_steps_per_s=round(steps_per_s),
        myriad_jax_env_steps_per_s=reference,
        ratio_to_myriad_jax=round(steps_per_s / reference, 2),
        final_eval_return=final_returns(results)[0],
    )


@pytest.mark.benchmark(group="training-solve")
def test_time_to_solve_cartpole(benchmark: Any, tmp_path: Any) -> None:
    """PPO with its defaults, 32 envs × 2 048 steps: compile plus run, and where it ends up."""
    config = mb.create_config(env="cartpole-control", agent="ppo", seed=0, **PPO_SOLVE)
    started = time.perf_counter()
    compile_s = compile_training(config)
    results = run_once(config, tmp_path)
    first_wall_s = time.perf_counter() - started
    results = benchmark.pedantic(run_once, args=(config, tmp_path), rounds=3)
    returns = results.eval_metrics.mean_return
    steps = results.eval_metrics.global_steps
    solved = [at for at, value in zip(steps, returns, strict=True) if value >= 475]
    benchmark.extra_info.update(
        compile_s=round(compile_s, 3),
        wall_s_including_compile=round(first_wall_s, 3),
        eval_returns=[round(r, 1) for r in returns],
        first_env_steps_at_475=solved[0] if solved else None,
        env_steps=config.run.total_timesteps,
    )
    # A random policy lasts ~20 steps; the default PPO balances the pole within these 65k steps.
    assert returns[-1] > 200


@pytest.mark.benchmark(group="training-seeds")
@pytest.mark.parametrize("num_seeds", [1, 8])
def test_seeds_side_by_side(num_seeds: int, benchmark: Any, tmp_path: Any) -> None:
    """One compiled program trains all seeds (vmap); compare the wall time with one seed."""
    config = mb.create_config(env="cartpole-control", agent="ppo", seed=0, **PPO_SEEDS)
    seeds = list(range(num_seeds)) if num_seeds > 1 else None
    compile_s = compile_training(config, seeds=seeds)
    results = benchmark.pedantic(run_once, args=(config, tmp_path, seeds), rounds=2)
    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    benchmark.extra_info.update(
        compile_s=round(compile_s, 3),
        num_seeds=num_seeds,
        env_steps_per_s=round(config.run.total_timesteps * num_seeds / seconds),
        final_eval_returns=final_returns(results),
    )
    assert len(final_returns(results)) == num_seeds


COMPILE_CASES = {"dqn": CASES["dqn-1env"][1], "pqn": CASES["pqn-32env"][1], "ppo": PPO_SOLVE}


@pytest.fixture
def empty_compilation_cache(tmp_path: Any) -> Any:
    """A function that points JAX's persistent cache at a new empty folder and forgets every
    in-process program and trace: what a new config meets. The cache folder is restored after;
    the programs compiled meanwhile stay valid, so they are kept."""
    from jax.experimental.compilation_cache import compilation_cache  # the folder is read once, at first use

    previous = jax.config.jax_compilation_cache_dir
    folders = itertools.count()

    def point_at(folder: str | None) -> None:
        jax.config.update("jax_compilation_cache_dir", folder)
        compilation_cache.reset_cache()

    def empty() -> None:
        point_at(str(tmp_path / f"jax-cache-{next(folders)}"))
        clear_compiled_programs()
        jax.clear_caches()

    yield empty
    point_at(previous)


@pytest.mark.benchmark(group="training-compile")
@pytest.mark.parametrize("agent", sorted(COMPILE_CASES))
def test_compile_cold_and_warm(agent: str, benchmark: Any, empty_compilation_cache: Any) -> None:
    """Compile seconds of a new training config (trace, lower, XLA; empty caches), then of the
    same config with other shape-free hyperparameters (the learning rate, the discount): those
    are traced values, so the compiled program serves them and the warm figure is a lookup.
    Last, in a fresh program cache, what JAX's persistent cache makes of the cold compile."""
    config = mb.create_config(env="cartpole-control", agent=agent, seed=0, **COMPILE_CASES[agent])

    def cold() -> Any:
        return prepare_training(config, verbose=False)

    program = benchmark.pedantic(cold, setup=empty_compilation_cache, rounds=3 if FULL else 1)
    assert program.compilation.source == "compiled"
    settings = {**COMPILE_CASES[agent], "learning_rate": 3e-5, "gamma": 0.97}
    retuned = mb.create_config(env="cartpole-control", agent=agent, seed=0, **settings)
    warm = prepare_training(retuned, verbose=False)
    assert warm.compilation.source == "memory", "a learning-rate/discount change compiled a new program"
    clear_compiled_programs()
    from_disk = prepare_training(config, verbose=False)
    benchmark.extra_info.update(
        cold_compile_s=round(program.compile_s, 3),
        warm_compile_s_new_hyperparameters=round(warm.compile_s, 4),
        persistent_cache_compile_s=round(from_disk.compile_s, 3),
        persistent_cache_source=from_disk.compilation.source,
    )


@pytest.mark.benchmark(group="training-sweep")
def test_sweep_against_one_run(benchmark: Any, tmp_path: Any) -> None:
    """A 4-point learning-rate sweep × 8 seeds in one program (PureJaxRL's nested vmap), timed
    whole; one 8-seed run of the same config is timed alongside for the ratio."""
    config = mb.create_config(env="cartpole-control", agent="ppo", seed=0, **PPO_SEEDS)
    seeds = list(range(8))
    sweep = {"learning_rate": [1e-3, 5e-4, 2.5e-4, 1e-4]}
    compile_s = compile_training(config, seeds=seeds, sweep=sweep)
    one_compile_s = compile_training(config, seeds=seeds)

    def one_run() -> float:
        started = time.perf_counter()
        run_once(config, tmp_path, seeds)
        return time.perf_counter() - started

    one_s = min(one_run() for _ in range(2))
    results = benchmark.pedantic(run_once, args=(config, tmp_path, seeds), kwargs={"sweep": sweep}, rounds=2)
    sweep_s = benchmark.stats.stats.min if benchmark.stats else float("nan")
    finals = [[round(r.eval_metrics.mean_return[-1], 1) for r in point] for point in results]
    benchmark.extra_info.update(
        compile_s=round(compile_s, 3),
        one_run_compile_s=round(one_compile_s, 3),
        sweep_points=len(sweep["learning_rate"]),
        num_seeds=len(seeds),
        one_run_s=round(one_s, 3),
        sweep_over_one_run=round(sweep_s / one_s, 2),
        final_eval_returns_by_point=finals,
    )
    assert len(finals) == 4 and all(len(point) == 8 for point in finals)
