"""Timing compiled programs under pytest-benchmark: compile apart, time the run alone.

A run of ``myriad_train`` or ``myriad_evaluate`` takes three steps: ``prepare_training`` /
``prepare_evaluation`` compile the program (its ``compile_s`` recorded apart), then
``program.run()`` is timed under ``benchmark.pedantic`` for :data:`ROUNDS` rounds (each blocks
until the outputs are on the host), then ``program.results()`` assembles and saves the results,
outside the timed part. Training and evaluation share that one path (:meth:`Runner.run`).

A run's results are cached for the session (by config digest, seeds and agent state) together
with their :class:`~myriad_bench.harness.records.Timing`, so tests sharing a run train once and a
baseline check finds the throughput of the run that made the results it checks.

``time_function`` times any JAX function the same way for ``myriad_benchmark``. JAX and the
run machinery are imported inside the functions: loading the plugin stays light.
"""

from __future__ import annotations

import hashlib
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from myriad_bench.harness.curves import as_runs, run_curves
from myriad_bench.harness.records import Timing

__all__ = ["ROUNDS", "Program", "Runner", "TimedRun", "time_function", "time_program"]

ROUNDS = 1
"""Timed rounds of each run: one, today (a round of a training run is the whole training)."""


class Program(Protocol):
    """A compiled run: ``TrainingProgram`` or ``EvaluationProgram`` of :mod:`myriad_bench.platform`."""

    compile_s: float

    def run(self) -> Any: ...

    def results(self, outputs: Any, run_dir: Path | str | None = None, save: bool = True) -> Any: ...


@dataclass(frozen=True)
class TimedRun:
    """A run's results (as its program assembled them) and how long the run took."""

    results: Any
    timing: Timing

    def holds(self, results: Any) -> bool:
        """Whether ``results`` (a run or a list of runs) came from this run (the same objects)."""
        ours = as_runs(self.results)
        return all(any(run is mine for mine in ours) for run in as_runs(results))

    def extra_info(self) -> dict[str, Any]:
        """What goes to ``benchmark.extra_info``: compile and run seconds, throughput, final returns."""
        timing = self.timing
        return {
            "compile_s": round(timing.compile_s, 4),
            "run_s": round(timing.run_s, 4),
            "env_steps": timing.env_steps,
            "env_steps_per_s": timing.env_steps_per_s,
            "final_return": {
                str(curves.seed): curves.final_return for curves in map(run_curves, as_runs(self.results))
            },
        }


def time_program(
    program: Program,
    benchmark: Any,
    *,
    env_steps: Callable[[Any], int],
    run_dir: Path,
    rounds: int = ROUNDS,
    report: bool = True,
) -> tuple[Any, Timing]:
    """Run ``program`` for ``rounds`` timed rounds, then assemble and save its results in ``run_dir``.

    With ``report``, the rounds run under ``benchmark.pedantic`` (pytest-benchmark allows one
    measurement per test); without, they are timed here only. ``env_steps`` counts the
    environment steps of one round from its outputs. The run time is the median round.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    seconds: list[float] = []

    def timed_round() -> Any:
        start = time.perf_counter()
        outputs = program.run()
        seconds.append(time.perf_counter() - start)
        return outputs

    if report:
        outputs = benchmark.pedantic(timed_round, rounds=rounds, iterations=1, warmup_rounds=0)
    else:
        for _ in range(rounds):
            outputs = timed_round()
    results = program.results(outputs, run_dir=run_dir)
    return results, Timing(program.compile_s, statistics.median(seconds), env_steps(outputs))


def _agent_state_key(agent_state: Any) -> str | None:
    if agent_state is None:
        return None
    from flax import serialization

    return hashlib.sha256(serialization.to_bytes(agent_state)).hexdigest()[:16]


def _require(config: Any, expected: type, fixture: str, factory: str) -> None:
    if not isinstance(config, expected):
        raise TypeError(
            f"{fixture} expects a myriad_bench {expected.__name__} (from {factory}), got "
            f"{type(config).__name__}"
        )


class Runner:
    """The runs of one test: each compiled, timed and cached through :meth:`run`.

    ``cache`` is the session's run cache. pytest-benchmark reports one measurement per test:
    the first run of the test; later runs are timed here but not reported to it.
    """

    def __init__(self, cache: dict[tuple, TimedRun], benchmark: Any, run_dirs: Callable[[], Path]) -> None:
        self.cache = cache
        self.benchmark = benchmark
        self.run_dirs = run_dirs
        self._benchmark_used = False

    def train(self, config: Any, *, seeds: list[int] | None = None) -> Any:
        """Train ``config`` (for each of ``seeds``, as one vmapped program) and return the results."""
        from myriad_bench.configs import Config
        from myriad_bench.platform.training import prepare_training

        _require(config, Config, "myriad_train", "create_config")
        seed_list = [int(s) for s in seeds] if seeds is not None else None
        # With seeds, config.run.seed plays no part in the run.
        key = ("train", config.digest(), None if seed_list else config.run.seed, tuple(seed_list or ()))
        timed = self.run(
            key,
            lambda: prepare_training(config, seeds=seed_list, verbose=False),
            env_steps=lambda program, outputs: program.env_steps,
        )
        # The program makes one result per seed; without seeds, the caller asked for one run.
        return timed.results[0] if seed_list is None else timed.results

    def evaluate(self, config: Any, *, agent_state: Any = None) -> Any:
        """Evaluate ``config`` (with a trained ``agent_state`` if given) and return the results."""
        from myriad_bench.configs import EvalConfig
        from myriad_bench.platform.evaluation import prepare_evaluation

        _require(config, EvalConfig, "myriad_evaluate", "create_eval_config")
        key = ("evaluate", config.digest(), config.run.seed, _agent_state_key(agent_state))
        timed = self.run(
            key,
            lambda: prepare_evaluation(config, agent_state=agent_state),
            env_steps=lambda program, outputs: outputs.env_steps,
        )
        return timed.results

    def run(
        self,
        key: tuple,
        prepare: Callable[[], Program],
        *,
        env_steps: Callable[[Any, Any], int],
    ) -> TimedRun:
        """The cached run of ``key``, or: ``prepare`` (compile), time, assemble, cache.

        ``env_steps(program, outputs)`` counts the environment steps of one round.
        """
        cached = self.cache.get(key)
        if cached is not None:
            if not self._benchmark_used:
                self.benchmark.extra_info.update({**cached.extra_info(), "cached": True})
                # Nothing ran here, so pytest-benchmark has nothing to time; its "fixture was not used"
                # warning would only mislead. The filter lives until pytest restores this item's filters.
                warnings.filterwarnings("ignore", message="Benchmark fixture was not used at all")
            return cached
        program = prepare()
        report = not self._benchmark_used
        self._benchmark_used = True
        results, timing = time_program(
            program,
            self.benchmark,
            env_steps=lambda outputs: env_steps(program, outputs),
            run_dir=self.run_dirs(),
            report=report,
        )
        timed = TimedRun(results, timing)
        if report:
            self.benchmark.extra_info.update(timed.extra_info())
        self.cache[key] = timed
        return timed


def time_function(benchmark: Any, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Benchmark ``fn(*args, **kwargs)`` with its compilation excluded; return its output.

    ``fn`` (jitted or not) is compiled ahead of time and its compile time recorded in
    ``benchmark.extra_info["compile_s"]``; each timed call blocks on the outputs. Functions that
    cannot be jitted are warmed up once instead.
    """
    import jax

    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    start = time.perf_counter()
    note = ""
    call: Callable = fn
    try:
        compiled = jitted.lower(*args, **kwargs).compile()
        compile_s = time.perf_counter() - start
        try:
            jax.block_until_ready(compiled(*args, **kwargs))
            call = compiled
        except (TypeError, ValueError):
            # Static arguments are baked into the compiled program; the jitted call reuses its cache.
            jax.block_until_ready(jitted(*args, **kwargs))
            call = jitted
    except Exception as error:  # not jittable as given: time a warm-up call as "compile"
        start = time.perf_counter()
        jax.block_until_ready(fn(*args, **kwargs))
        compile_s = time.perf_counter() - start
        note = f"not AOT-compiled ({type(error).__name__}); compile_s is a warm-up call"
    benchmark.extra_info["compile_s"] = round(compile_s, 4)
    if note:
        benchmark.extra_info["compile_note"] = note
    return benchmark(lambda: jax.block_until_ready(call(*args, **kwargs)))
