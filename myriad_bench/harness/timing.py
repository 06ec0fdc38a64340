"""Timing compiled programs: warm rounds of the run alone, under a time budget, into pytest-benchmark.

A run of ``myriad_train`` or ``myriad_evaluate`` takes three steps: ``prepare_training`` /
``prepare_evaluation`` compile the program (its cold compile time recorded apart), then
``program.run()`` is timed — the compiled call up to its outputs on the host, nothing else —
then ``program.results()`` assembles and saves the results, outside the timed part.

The rounds (:func:`measure_rounds`): one warm-up round, then timed rounds until ``budget_s`` is
spent, at least :data:`MIN_ROUNDS`. A warm-up round that alone exceeds the budget is the one
timed round: running a long case again would double its cost and tell nothing a second-long
run does not. With ``--benchmark-disable`` the one round is timed all the same. Every timed
round goes to pytest-benchmark, so its table shows the real spread.

A run's results are cached for the session (by config digest, seeds and agent state) with their
:class:`~myriad_bench.harness.records.Timing` and the program that made them, so tests sharing a
run train once, a check finds the throughput of the run it checks, and adaptive seeds reuse the
compiled program. JAX and the run machinery are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from myriad_bench.harness.curves import as_runs, run_curves
from myriad_bench.harness.records import Timing

__all__ = ["MIN_ROUNDS", "Program", "Runner", "TimedRun", "measure_rounds", "report_rounds", "time_function"]

MIN_ROUNDS = 3
"""Timed rounds of a case whose round is shorter than the budget."""
MAX_ROUNDS = 1_000


class Program(Protocol):
    """A compiled run: ``TrainingProgram`` or ``EvaluationProgram`` of :mod:`myriad_bench.platform`."""

    compilation: Any

    def run(self) -> Any: ...

    def results(self, outputs: Any, run_dir: Path | str | None = None, save: bool = True) -> Any: ...


def measure_rounds(
    run: Callable[[], Any], budget_s: float, *, single: bool = False
) -> tuple[Any, list[float]]:
    """Run ``run`` for a warm-up round and timed rounds; return the last outputs and each round's seconds.

    Timed rounds follow the warm-up until ``budget_s`` is spent, at least :data:`MIN_ROUNDS`;
    a warm-up that alone takes ``budget_s`` or more is the only timed round. ``single``
    (``--benchmark-disable``): one timed round after the warm-up (the warm-up itself when it
    took the budget).
    """
    start = time.perf_counter()
    outputs = run()
    warmup = time.perf_counter() - start
    if warmup >= budget_s:
        return outputs, [warmup]
    seconds: list[float] = []
    if single:
        # One timed round, warm: a first call of a millisecond program ran 30-65% slower than
        # its warm rounds (and read as "slower" against them).
        start = time.perf_counter()
        outputs = run()
        return outputs, [time.perf_counter() - start]
    while len(seconds) < MIN_ROUNDS or (sum(seconds) < budget_s and len(seconds) < MAX_ROUNDS):
        start = time.perf_counter()
        outputs = run()
        seconds.append(time.perf_counter() - start)
    return outputs, seconds


def report_rounds(benchmark: Any, seconds: list[float], replay: Callable[[], Any]) -> None:
    """Give pytest-benchmark the rounds already timed, so its table and JSON show them.

    pytest-benchmark times only what it calls itself and takes one measurement per test; the
    rounds are measured here (their number depends on the first one), so they are handed to
    the fixture's statistics directly. Should that internal API change, ``replay`` runs under
    ``benchmark.pedantic`` for as many rounds instead (the same numbers, at twice the cost).
    """
    if getattr(benchmark, "disabled", False):
        return
    make_stats = getattr(benchmark, "_make_stats", None)
    if make_stats is None or not hasattr(benchmark, "_mode"):
        benchmark.pedantic(replay, rounds=len(seconds), iterations=1, warmup_rounds=0)
        return
    stats = make_stats(1)
    for duration in seconds:
        stats.update(duration)
    benchmark._mode = "myriad-bench rounds"  # marks the fixture used, as pedantic() would


@dataclass(frozen=True)
class TimedRun:
    """A run's results (as its program assembled them), how long it took, and its program."""

    results: Any
    timing: Timing
    program: Any
    run_dirs: Callable[[], Path] | None = None

    def more_seeds(self, seeds: list[int]) -> list[Any]:
        """Results of ``seeds``, trained by this run's compiled program (adaptive seeds).

        The program trains as many seeds at once as it was compiled for; a last, partial batch
        is filled with further seed values whose runs are dropped. Raises ``TypeError`` for a
        program that trains no seeds (an evaluation).
        """
        size = len(getattr(self.program, "seeds", None) or [])
        if not size:
            raise TypeError("only a training run can train more seeds")
        found: list[Any] = []
        for start in range(0, len(seeds), size):
            batch = list(seeds[start : start + size])
            padded = batch + [max(batch) + 1 + i for i in range(size - len(batch))]
            run_dir = self.run_dirs() if self.run_dirs is not None else None
            made = self.program.results(self.program.run(padded), run_dir=run_dir, save=run_dir is not None)
            found += as_runs(made)[: len(batch)]
        return found

    def holds(self, results: Any) -> bool:
        """Whether ``results`` (a run or a list of runs) came from this run (the same objects)."""
        ours = as_runs(self.results)
        return all(any(run is mine for mine in ours) for run in as_runs(results))

    def extra_info(self) -> dict[str, Any]:
        """What goes to ``benchmark.extra_info``: throughput, its spread, rounds, compile seconds."""
        timing = self.timing
        return {
            "env_steps": timing.env_steps,
            "env_steps_per_s": timing.env_steps_per_s,
            "env_steps_per_s_spread": timing.spread,
            "rounds": timing.rounds,
            "compile_s": timing.compile_s,
            "compile_cache": timing.compile_cache,
            "final_return": {
                str(curves.seed): curves.final_return for curves in map(run_curves, as_runs(self.results))
            },
        }


def _agent_state_key(agent_state: Any) -> str | None:
    if agent_state is None:
        return None
    from flax import serialization

    return hashlib.sha256(serialization.to_bytes(agent_state)).hexdigest()[:16]


def _agent_key(agent: Any) -> tuple | None:
    """What a given agent contributes to a run's identity: its functions and its parameter values."""
    if agent is None:
        return None
    import jax
    import numpy as np

    from myriad_bench.platform.programs import static_key

    leaves, structure = jax.tree.flatten(agent.params)
    values = hashlib.sha256(b"".join(np.asarray(leaf).tobytes() for leaf in leaves)).hexdigest()
    return (static_key(agent), structure, values)


def _plain_key(data: Mapping[str, Any] | None) -> str:
    import json

    return json.dumps(data or {}, sort_keys=True, default=repr)


def _require(config: Any, expected: type, fixture: str, factory: str) -> None:
    if not isinstance(config, expected):
        raise TypeError(
            f"{fixture} expects a myriad_bench {expected.__name__} (from {factory}), got "
            f"{type(config).__name__}"
        )


class Runner:
    """The runs of one test: each compiled, timed and cached through :meth:`run`.

    ``cache`` is the session's run cache; ``budget_s`` the timing budget of a run. The first run
    of the test reports its rounds to pytest-benchmark (one measurement per test); later runs
    are timed all the same.
    """

    def __init__(
        self, cache: dict[tuple, TimedRun], benchmark: Any, run_dirs: Callable[[], Path], budget_s: float
    ) -> None:
        self.cache = cache
        self.benchmark = benchmark
        self.run_dirs = run_dirs
        self.budget_s = budget_s
        self._benchmark_used = False

    def train(
        self,
        config: Any,
        *,
        seeds: Sequence[int] | None = None,
        agent: Any = None,
        curves: Callable[[Any], tuple[Any, Any]] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        env_steps: int | None = None,
    ) -> Any:
        """Train ``config`` (for each of ``seeds``, as one vmapped program) and return the results.

        ``config`` is a :class:`~myriad_bench.configs.Config` (``agent`` trains instead of the one
        it names), or a training function ``train(key) -> output`` (PureJaxRL's
        ``make_train(config)``): then ``curves``, ``hyperparameters`` and ``env_steps`` describe
        its output (see :mod:`~myriad_bench.harness.function_runs`).
        """
        from myriad_bench.configs import Config
        from myriad_bench.platform.training import prepare_training

        if not isinstance(config, Config) and callable(config):
            return self._train_function(config, seeds, curves, hyperparameters, env_steps)
        if curves is not None or hyperparameters is not None or env_steps is not None:
            raise TypeError(
                "curves, hyperparameters and env_steps describe a training function, not a Config"
            )
        _require(config, Config, "myriad_train", "create_config")
        seed_list = [int(s) for s in seeds] if seeds is not None else None
        # With seeds, config.run.seed plays no part in the run.
        key = (
            "train",
            config.digest(),
            None if seed_list else config.run.seed,
            tuple(seed_list or ()),
            _agent_key(agent),
        )
        timed = self.run(
            key,
            lambda: prepare_training(config, agent=agent, seeds=seed_list, verbose=False),
            env_steps=lambda program, outputs: program.env_steps,
        )
        # The program makes one result per seed; without seeds, the caller asked for one run.
        return timed.results[0] if seed_list is None else timed.results

    def _train_function(
        self,
        train_fn: Callable[[Any], Any],
        seeds: Sequence[int] | None,
        curves: Callable[[Any], tuple[Any, Any]] | None,
        hyperparameters: Mapping[str, Any] | None,
        env_steps: int | None,
    ) -> Any:
        from myriad_bench.harness.function_runs import FunctionProgram

        if seeds is None:
            raise TypeError("myriad_train(train_fn, seeds=[...]): a training function needs its seeds")
        seed_list = [int(s) for s in seeds]
        # The function object itself is in the key (held by the cache), so its id is never reused.
        key = ("function", train_fn, tuple(seed_list), _plain_key(hyperparameters), curves, env_steps)
        timed = self.run(
            key,
            lambda: FunctionProgram(
                train_fn, seed_list, curves=curves, hyperparameters=hyperparameters, env_steps=env_steps
            ),
            env_steps=lambda program, outputs: program.env_steps(outputs),
        )
        return timed.results

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
        self, key: tuple, prepare: Callable[[], Program], *, env_steps: Callable[[Any, Any], int]
    ) -> TimedRun:
        """The cached run of ``key``, or: ``prepare`` (compile), time its rounds, assemble, cache.

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
        single = bool(getattr(self.benchmark, "disabled", False))
        outputs, seconds = measure_rounds(program.run, self.budget_s, single=single)
        if report:
            report_rounds(self.benchmark, seconds, program.run)
        compilation = program.compilation
        timing = Timing(
            env_steps=env_steps(program, outputs),
            round_s=tuple(seconds),
            compile_s=round(compilation.cold_s, 4),
            compile_cache=compilation.cold_source,
        )
        timed = TimedRun(program.results(outputs, run_dir=self.run_dirs()), timing, program, self.run_dirs)
        if report:
            self.benchmark.extra_info.update(timed.extra_info())
        self.cache[key] = timed
        return timed


def time_function(
    benchmark: Any, budget_s: float, fn: Callable, *args: Any, **kwargs: Any
) -> tuple[Any, Timing]:
    """Time ``fn(*args, **kwargs)`` as runs are timed, its compilation excluded; return its output.

    ``fn`` (jitted or not) is compiled ahead of time (a function that cannot be is warmed up
    once instead, and that call counts as its compile time); each round blocks on the outputs.
    The :class:`Timing` counts one step per call (``env_steps_per_s`` is calls per second).
    """
    import jax

    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    start = time.perf_counter()
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
    except Exception:  # not jittable as given: a warm-up call stands for the compile
        start = time.perf_counter()
        jax.block_until_ready(fn(*args, **kwargs))
        compile_s = time.perf_counter() - start

    def run() -> Any:
        return jax.block_until_ready(call(*args, **kwargs))

    single = bool(getattr(benchmark, "disabled", False))
    outputs, seconds = measure_rounds(run, budget_s, single=single)
    report_rounds(benchmark, seconds, run)
    timing = Timing(env_steps=1, round_s=tuple(seconds), compile_s=round(compile_s, 4), compile_cache=None)
    benchmark.extra_info.update(
        {"compile_s": timing.compile_s, "rounds": timing.rounds, "calls_per_s": timing.env_steps_per_s}
    )
    return outputs, timing
