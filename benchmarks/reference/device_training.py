"""The suite's training cases on whatever JAX's default backend is (a GPU where one is lent).

For each case of ``benchmarks/test_training.py`` and each seed count (8 and 64 by default),
this compiles the case's program (``prepare_training``), times warm runs of it as the plugin
does (``measure_rounds``: the program alone up to its outputs on the host, a warm-up round,
then rounds until the budget is spent, at least three) and prints the best round's
env-steps/s with the compile seconds and the mean final evaluation return (nothing is saved);
then the throughput presets of ``test_training_throughput.py`` at their full lengths, one seed.

    python benchmarks/reference/device_training.py [--seeds 8 64] [--budget-s 2]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

import myriad_bench as mb
from myriad_bench.harness.timing import measure_rounds
from myriad_bench.platform.training import prepare_training

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["MYRIAD_BENCH_FULL_TRAINING"] = "1"  # read when the throughput module is imported

from test_training import CASES
from test_training_throughput import CASES as PRESETS


def timed(config: mb.Config, seeds: list[int], budget_s: float) -> dict:
    program = prepare_training(config, seeds=seeds, verbose=False)
    outputs, seconds = measure_rounds(program.run, budget_s)
    runs = program.results(outputs, run_dir="outputs/device-training", save=False)
    finals = [run.eval_metrics.mean_return[-1] for run in runs]
    return {
        "compile_s": program.compile_s,
        "run_s": min(seconds),
        "env_steps_per_s": program.env_steps / min(seconds),
        "final_return": float(np.mean(finals)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--budget-s", type=float, default=2.0, help="timed rounds' seconds per case")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices: {jax.devices()}", flush=True)
    for agent, settings in sorted(CASES.items()):
        config = mb.create_config(env="cartpole-control", agent=agent, eval_rollouts=32, seed=0, **settings)
        for num_seeds in args.seeds:
            row = timed(config, list(range(num_seeds)), args.budget_s)
            print(
                f"suite {agent} x {num_seeds} seeds: {row['env_steps_per_s']:,.0f} env-steps/s "
                f"(run {row['run_s']:.3f} s, compile {row['compile_s']:.2f} s), "
                f"final return {row['final_return']:.1f}",
                flush=True,
            )
    for name, (agent, settings, _) in sorted(PRESETS.items()):
        config = mb.create_config(env="cartpole-control", agent=agent, seed=0, **settings)
        row = timed(config, [0], args.budget_s)
        print(
            f"preset {name}: {row['env_steps_per_s']:,.0f} env-steps/s (run {row['run_s']:.3f} s, "
            f"compile {row['compile_s']:.2f} s), final return {row['final_return']:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
