"""Where a training preset's time goes, and its achieved FLOP rate against this machine's matmul peak.

For each case of ``test_training_throughput.py`` (the suite's lengths unless
``MYRIAD_BENCH_FULL_TRAINING=1``; or the names given) this compiles the run's program, times
warm runs, then runs it once under ``jax.profiler`` and sums the XLA operations' time by kind:
matrix products (dots, and the XLA:CPU library fusions around them), sorts, other fusions
(elementwise and reductions); loops and branches count through the operations they run.
PQN's network work is counted analytically (a forward pass costs ``2 * sum(in * out)`` FLOP
per sample; per environment step: one pass to act, one for the λ-returns' next Q-values,
three per epoch to train), and set against the f32 matmul rates measured in the same
process: a large square product, and the shapes of the presets' hidden layers.

    python benchmarks/reference/profile_training.py [--top N] [CASE ...]

The profiler adds a few microseconds per operation; its shares, not its sums, are the figures.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import itertools
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_training_throughput import CASES

import myriad_bench as mb
from myriad_bench.platform.training import prepare_training


def best_of(fn, *args, rounds: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_gflops(rows: int, inner: int, cols: int, repeats: int = 16) -> float:
    """f32 GFLOP/s of ``(rows, inner) @ (inner, cols)``, ``repeats`` products in one program."""
    a = jax.random.normal(jax.random.key(0), (rows, inner))
    b = jax.random.normal(jax.random.key(1), (inner, cols))

    def chain(a: jax.Array, b: jax.Array) -> jax.Array:
        def body(total: jax.Array, i: jax.Array) -> tuple[jax.Array, None]:
            return total + jnp.sum(jnp.matmul(a + i, b)), None

        return jax.lax.scan(body, 0.0, jnp.arange(repeats, dtype=jnp.float32))[0]

    seconds = best_of(jax.jit(chain), a, b)
    return 2 * rows * inner * cols * repeats / seconds / 1e9


def op_kinds(hlo: str) -> dict[str, tuple[str, str]]:
    """Each instruction's kind (``matmul`` when it is or calls a dot, else sort / other) and JAX
    source (its ``op_name`` metadata, ``?`` where XLA kept none); loops and branches left out."""
    bodies = dict(re.findall(r"\n%?([\w.\-]+) \([^\n]*\{\n(.*?)\n\}", hlo, re.S))
    kinds = {}
    for name, rest in re.findall(r"\n\s+(?:ROOT )?%([\w.\-]+) = (.*)", hlo):
        called = re.search(r"calls=%([\w.\-]+)", rest)
        source = re.search(r'op_name="([^"]*)"', rest)
        if re.search(r"\bdot\(", rest) or (called and " dot(" in bodies.get(called.group(1), "")):
            kind = "matmul"
        elif re.search(r"\bsort\(", rest):
            kind = "sort"
        elif re.search(r"\b(while|conditional|call)\(", rest):
            continue  # containers: their time is their body's operations, counted apart
        else:
            kind = "other fusions"
        kinds[name] = (kind, source.group(1) if source else "?")
    return kinds


def network_flops_per_step(config: mb.Config) -> float | None:
    """PQN's network FLOP per environment step (see the module docstring); None for other agents."""
    if config.agent.name != "pqn":
        return None
    extras = config.agent.model_extra or {}
    sizes = [4, *extras.get("hidden_sizes", (128, 128)), 2]
    forward = 2 * sum(a * b for a, b in itertools.pairwise(sizes))
    return forward * (2 + 3 * extras.get("num_epochs", 4))


def profile(name: str, top: int = 0) -> None:
    agent, settings, _ = CASES[name]
    config = mb.create_config(env="cartpole-control", agent=agent, seed=0, **settings)
    program = prepare_training(config, verbose=False)
    wall = best_of(program.run, rounds=2)
    steps = config.run.total_timesteps
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            jax.block_until_ready(program.run())
        trace = sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]
        with gzip.open(trace) as stream:
            events = json.load(stream)["traceEvents"]
    kinds = op_kinds(program._compiled.as_text())
    spent: collections.Counter[str] = collections.Counter()
    by_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event["name"] in kinds:
            spent[kinds[event["name"]][0]] += event["dur"]
            by_op[event["name"]] += event["dur"]
    total = sum(spent.values())
    shares = ", ".join(f"{kind} {100 * t / total:.0f}%" for kind, t in spent.most_common())
    print(f"{name}: {steps / wall:,.0f} env-steps/s ({wall:.2f} s for {steps:,} steps); op time: {shares}")
    flops = network_flops_per_step(config)
    if flops is not None:
        print(
            f"  network work {flops / 1e6:.2f} MFLOP per env step -> {flops * steps / wall / 1e9:.1f} GFLOP/s"
        )
    for op, t in by_op.most_common(top):
        kind, source = kinds[op]
        print(f"  {100 * t / total:4.1f}% {kind:13} {op}: {source[-110:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"of {sorted(CASES)} (default: all)")
    parser.add_argument("--top", type=int, default=0, help="list the N costliest operations")
    args = parser.parse_args()
    for shape in ((2048, 2048, 2048), (1024, 128, 128), (128, 256, 256), (32, 256, 256)):
        print(f"f32 matmul {'x'.join(map(str, shape))}: {matmul_gflops(*shape):.1f} GFLOP/s")
    for name in args.cases or sorted(CASES):
        profile(name, args.top)


if __name__ == "__main__":
    main()
