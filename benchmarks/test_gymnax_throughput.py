"""PPO on gymnax's CartPole-v1 (``make_env("gymnax:CartPole-v1")``) against PPO on ``cartpole-control``.

The same run on both: PPO's defaults, 16 envs × 1 000 steps, evaluations every 500 steps (16
greedy episodes), 4 seeds side by side in one compiled program (``prepare_training(config,
seeds=...)``, the program ``train_and_evaluate(config, seeds=...)`` runs). Both programs are
compiled first, outside the timing; then the rounds alternate: pytest-benchmark times each warm
``run()`` of the gymnax program, and just before it (its untimed ``setup``) one ``run()`` of the
cartpole-control program is timed with ``perf_counter``, so both see the same machine load.
``extra_info`` has the env-steps/s of both (median over the rounds), gymnax's relative to ours,
the compile seconds and each seed's final evaluation return. Sized to cost the suite about
30 s on two cores (compile included); ``MYRIAD_BENCH_GYMNAX_ROUNDS`` sets the rounds.

Run: ``pytest benchmarks/test_gymnax_throughput.py --benchmark-columns=median,rounds``
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

import myriad_bench as mb

pytest.importorskip("gymnax", reason="gymnax is the 'gymnax' extra")

ROUNDS = int(os.environ.get("MYRIAD_BENCH_GYMNAX_ROUNDS", "2"))
SEEDS = list(range(4))
SETTINGS = {"num_envs": 16, "steps_per_env": 1_000, "eval_frequency": 500, "eval_rollouts": 16}


def final_returns(program: Any, outputs: Any, run_dir: Path) -> list[float]:
    results = program.results(outputs, run_dir=run_dir, save=False)
    return [round(r.eval_metrics.mean_return[-1], 1) for r in results]


@pytest.mark.benchmark(group="gymnax-throughput")
def test_ppo_on_gymnax_cartpole_against_cartpole_control(benchmark: Any, tmp_path: Path) -> None:
    programs = {
        env: mb.prepare_training(
            mb.create_config(env=env, agent="ppo", seed=0, **SETTINGS), seeds=SEEDS, verbose=False
        )
        for env in ("cartpole-control", "gymnax:CartPole-v1")
    }
    ours, theirs = programs["cartpole-control"], programs["gymnax:CartPole-v1"]
    last = {env: program.run() for env, program in programs.items()}  # a warm-up round each
    our_seconds: list[float] = []

    def run_ours() -> None:
        started = time.perf_counter()
        last["cartpole-control"] = ours.run()
        our_seconds.append(time.perf_counter() - started)

    last["gymnax:CartPole-v1"] = benchmark.pedantic(theirs.run, setup=run_ours, rounds=ROUNDS)

    env_steps = theirs.env_steps
    assert env_steps == ours.env_steps == len(SEEDS) * SETTINGS["num_envs"] * SETTINGS["steps_per_env"]
    returns = {env: final_returns(programs[env], last[env], tmp_path / env) for env in programs}
    if benchmark.stats is not None:  # None under --benchmark-disable
        theirs_per_s = env_steps / benchmark.stats.stats.median
        ours_per_s = env_steps / statistics.median(our_seconds)
        benchmark.extra_info.update(
            env_steps=env_steps,
            gymnax_env_steps_per_s=round(theirs_per_s),
            cartpole_control_env_steps_per_s=round(ours_per_s),
            gymnax_relative_to_ours=round(theirs_per_s / ours_per_s, 3),
            round_s={
                "cartpole-control": [round(s, 3) for s in our_seconds],
                "gymnax:CartPole-v1": [round(s, 3) for s in benchmark.stats.stats.data],
            },
            compile_s={env: round(program.compile_s, 2) for env, program in programs.items()},
            final_eval_returns=returns,
        )
    # Both learn: a random policy lasts about 22 steps.
    for env, values in returns.items():
        assert statistics.mean(values) > 100, (env, values)
