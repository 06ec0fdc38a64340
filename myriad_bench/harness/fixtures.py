"""The plugin's fixtures.

- ``myriad_train(config, *, seeds=None, agent=None)`` → ``TrainingResults`` (a list with ``seeds``);
  ``myriad_train(train_fn, seeds=[...], curves=None, hyperparameters=None)`` for a training
  function ``train(key) -> output`` of one's own (PureJaxRL's ``make_train(config)``)
- ``myriad_evaluate(config, *, agent_state=None)`` → ``EvaluationResults``
- ``myriad_benchmark(fn, *args, **kwargs)`` → ``fn``'s output, timed without its compilation
- ``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``

Runs are compiled first (the compile time goes to ``benchmark.extra_info["compile_s"]``), then
timed under pytest-benchmark and cached for the session (:mod:`~myriad_bench.harness.timing`);
checks go through the one engine (:mod:`~myriad_bench.harness.check`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from myriad_bench.harness import messages
from myriad_bench.harness.baseline_store import Baseline, BaselineError
from myriad_bench.harness.check import Writer, check_results
from myriad_bench.harness.curves import validate_case_name
from myriad_bench.harness.records import CaseRecord
from myriad_bench.harness.session import MyriadSession, default_case, get_session, marker_options
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
        if not session.update and session.store.exists(self.case):
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

    def check(
        self,
        results: Any,
        *,
        name: str | None = None,
        compare: str | None = None,
        alpha: float | None = None,
        margin: float | None = None,
    ) -> CaseRecord:
        """Check ``results`` against the case's baseline; fail the test with a diagnosis if it regressed.

        ``results`` is TrainingResults, a list of them (one per seed) or EvaluationResults.
        ``name`` picks another case than the test's own; ``compare`` (auto/exact/stat), ``alpha``
        and ``margin`` override the session settings for this check.
        """
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
        if not session.update:
            stored = self._preloaded if case == self.case else None
            if stored is None and session.store.exists(case):
                stored = self._read(case)
        record = check_results(
            case,
            results,
            stored,
            options=session.check_options(self.marker, compare=compare, alpha=alpha, margin=margin),
            fingerprint=session.fingerprint,
            update_command=session.update_command(self.node.nodeid),
            baseline_path=session.store.path(case),
            nodeid=self.node.nodeid,
            timing=session.timing_of(results),
            writer=Writer(session.store, session.run_id, self.node.nodeid) if session.update else None,
            speed=session.speed,
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
def myriad_benchmark(benchmark: Any, myriad_session: MyriadSession) -> Callable:
    """``myriad_benchmark(fn, *args, **kwargs)``: benchmark a JAX function, compilation excluded.

    ``fn`` (jitted or not) is compiled ahead of time and its compile time recorded in
    ``benchmark.extra_info["compile_s"]``; then it runs in timed rounds like the runs of
    ``myriad_train``, each blocking on the outputs. Returns ``fn``'s output.
    """

    def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        outputs, _ = time_function(benchmark, myriad_session.speed_budget_s, fn, *args, **kwargs)
        return outputs

    return run


@pytest.fixture
def baseline(request: pytest.FixtureRequest, myriad_session: MyriadSession) -> BaselineFixture:
    """``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``."""
    return BaselineFixture(myriad_session, request.node)
