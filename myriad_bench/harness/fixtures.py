"""The plugin's fixtures.

- ``myriad_train(config, *, seeds=None, agent=None)`` → ``TrainingResults`` (a list with ``seeds``);
  ``myriad_train(train_fn, seeds=[...], curves=None, hyperparameters=None)`` for a training
  function ``train(key) -> output`` of one's own (PureJaxRL's ``make_train(config)``)
- ``myriad_evaluate(config, *, agent_state=None)`` → ``EvaluationResults``
- ``myriad_benchmark(fn, *args, **kwargs)`` → ``fn``'s output, timed without its compilation
- ``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``
- ``baseline.check_speed(*, name=None, env_steps=None)`` → the speed of ``myriad_benchmark``'s
  function against the case's speed-only baseline

Runs are compiled first (the compile time goes to ``benchmark.extra_info["compile_s"]``), then
timed under pytest-benchmark and cached for the session (:mod:`~myriad_bench.harness.timing`);
checks go through the one engine (:mod:`~myriad_bench.harness.check`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from myriad_bench.harness import messages
from myriad_bench.harness.baseline_store import Baseline, BaselineError
from myriad_bench.harness.check import check_results
from myriad_bench.harness.curves import validate_case_name
from myriad_bench.harness.records import CaseRecord
from myriad_bench.harness.session import MyriadSession, default_case, get_session, marker_options
from myriad_bench.harness.speed_check import check_speed
from myriad_bench.harness.timing import Runner, time_function

__all__ = [
    "BaselineFixture",
    "baseline",
    "myriad_benchmark",
    "myriad_evaluate",
    "myriad_session",
    "myriad_train",
]


class BaselineFixture:
    """``baseline.check(results, ...)``: compare with (or, when updating, write) ``baselines/<case>/``."""

    def __init__(self, session: MyriadSession, node: pytest.Item) -> None:
        self.session = session
        self.node = node
        self.marker = marker_options(node)
        self.case = default_case(node)
        self._checked: set[str] = set()
        self._preloaded: Baseline | None = None
        if not session.writes and session.store.exists(self.case):
            # Read before the test body runs: a bad baseline fails the test before anything trains.
            self._preloaded = self._read(self.case)

    def _read(self, case: str) -> Baseline:
        __tracebackhide__ = True
        try:
            return self.session.store.read(case)
        except BaselineError as error:
            message = messages.refused_baseline(
                case, str(error), self.session.update_command(self.node.nodeid)
            )
        self.session.add_record(CaseRecord(case, "error", message, nodeid=self.node.nodeid))
        pytest.fail(message, pytrace=False)

    def _begin(self, name: str | None) -> tuple[str, Baseline | None]:
        """The case a check is about (each once per test) and its stored baseline (none when writing)."""
        __tracebackhide__ = True
        session = self.session
        case = validate_case_name(name) if name is not None else self.case
        if case in self._checked:
            raise ValueError(
                f"case '{case}' was already checked in this test; give each check its own name=..."
            )
        self._checked.add(case)
        session.used_cases.add(case)
        stored = None
        if not session.writes:
            stored = self._preloaded if case == self.case else None
            if stored is None and session.store.exists(case):
                stored = self._read(case)
        return case, stored

    def check(
        self,
        results: Any,
        *,
        name: str | None = None,
        compare: str | None = None,
        alpha: float | None = None,
        margin: float | None = None,
        max_seeds: int | None = None,
        metric: str | None = None,
        higher_is_better: bool | None = None,
    ) -> CaseRecord:
        """Check ``results`` against the case's baseline; fail the test with a diagnosis if it regressed.

        ``results`` is TrainingResults, a list of them (one per seed) or EvaluationResults.
        ``name`` picks another case than the test's own; ``compare`` (auto/exact/stat), ``alpha``
        and ``margin`` override the session settings for this check. ``max_seeds``: when the
        verdict is inconclusive, train further seeds of the same compiled program (up to this
        many in all) and look again. ``metric`` / ``higher_is_better`` name what the curves
        measure (curves of one's own code: a cost, a success rate).
        """
        __tracebackhide__ = True
        session = self.session
        case, stored = self._begin(name)
        timed = session.timed_run_of(results)
        record = check_results(
            case,
            results,
            stored,
            options=session.check_options(
                self.marker,
                compare=compare,
                alpha=alpha,
                margin=margin,
                max_seeds=max_seeds,
                metric=metric,
                higher_is_better=higher_is_better,
            ),
            fingerprint=session.fingerprint,
            update_command=session.update_command(self.node.nodeid),
            baseline_path=session.store.path(case),
            nodeid=self.node.nodeid,
            timing=timed.timing if timed else None,
            writer=session.writer(self.node.nodeid),
            speed=session.speed,
            more_seeds=timed.more_seeds if timed else None,
        )
        session.add_record(record)
        if not record.passed:
            pytest.fail(record.message, pytrace=False)
        return record

    def check_speed(self, *, name: str | None = None, env_steps: int | None = None) -> CaseRecord:
        """Check the speed of this test's ``myriad_benchmark`` call against the case's speed baseline.

        ``env_steps``: environment steps one call of the function takes (then the rate is
        env-steps/s; without it, calls/s). ``name`` picks another case than the test's own.
        Fails the test when the function got slower (``--myriad-speed=check``); with
        ``--myriad-update-baselines`` writes the speed instead.
        """
        __tracebackhide__ = True
        session = self.session
        timing = session.benchmark_timings.get(self.node.nodeid)
        if timing is None:
            raise ValueError(
                "baseline.check_speed() needs a myriad_benchmark(fn, ...) call earlier in the test"
            )
        if env_steps is not None:
            if isinstance(env_steps, bool) or int(env_steps) != env_steps or env_steps < 1:
                raise ValueError(f"env_steps must be a positive number of steps per call, got {env_steps!r}")
            timing = dataclasses.replace(timing, env_steps=int(env_steps))
        case, stored = self._begin(name)
        record = check_speed(
            case,
            timing,
            stored,
            fingerprint=session.fingerprint,
            speed=session.speed,
            baseline_path=session.store.path(case),
            update_command=session.update_command(self.node.nodeid),
            nodeid=self.node.nodeid,
            writer=session.writer(self.node.nodeid),
        )
        session.add_record(record)
        if not record.passed:
            pytest.fail(record.message, pytrace=False)
        return record


@pytest.fixture(scope="session")
def myriad_session(pytestconfig: pytest.Config) -> MyriadSession:
    """The plugin's session state (settings, baseline store, run cache, report records)."""
    return get_session(pytestconfig)


def _runner(benchmark: Any, session: MyriadSession, tmp: pytest.TempPathFactory) -> Runner:
    # Runs save themselves; keep them in pytest's temporary folder, not in the working tree.
    return Runner(session.runs, benchmark, lambda: tmp.mktemp("myriad-run"), session.speed_budget_s)


@pytest.fixture
def myriad_train(
    benchmark: Any, myriad_session: MyriadSession, tmp_path_factory: pytest.TempPathFactory
) -> Callable:
    """``myriad_train(config_or_train_fn, *, seeds=None, ...)``: a timed, cached training run.

    See the module docstring for the two forms.
    """
    return _runner(benchmark, myriad_session, tmp_path_factory).train


@pytest.fixture
def myriad_evaluate(
    benchmark: Any, myriad_session: MyriadSession, tmp_path_factory: pytest.TempPathFactory
) -> Callable:
    """``myriad_evaluate(config, *, agent_state=None)``: a timed, cached evaluation run."""
    return _runner(benchmark, myriad_session, tmp_path_factory).evaluate


@pytest.fixture
def myriad_benchmark(
    benchmark: Any, myriad_session: MyriadSession, request: pytest.FixtureRequest
) -> Callable:
    """``myriad_benchmark(fn, *args, **kwargs)``: benchmark a JAX function, compilation excluded.

    ``fn`` (jitted or not) is compiled ahead of time and its compile time recorded in
    ``benchmark.extra_info["compile_s"]``; then it runs in timed rounds like the runs of
    ``myriad_train``, each blocking on the outputs. Returns ``fn``'s output;
    ``baseline.check_speed()`` then checks the rounds against the case's speed baseline.
    """

    def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        outputs, timing = time_function(benchmark, myriad_session.speed_budget_s, fn, *args, **kwargs)
        myriad_session.benchmark_timings[request.node.nodeid] = timing
        return outputs

    return run


@pytest.fixture
def baseline(request: pytest.FixtureRequest, myriad_session: MyriadSession) -> BaselineFixture:
    """``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``."""
    return BaselineFixture(myriad_session, request.node)
