"""The plugin's fixtures and the session object that holds its state.

- ``myriad_train(config, *, seeds=None)`` → ``TrainingResults`` (a list with ``seeds``)
- ``myriad_evaluate(config, *, agent_state=None)`` → ``EvaluationResults``
- ``myriad_benchmark(fn, *args, **kwargs)`` → ``fn``'s output, timed without its compilation
- ``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``

Runs are compiled first (the compile time goes to ``benchmark.extra_info["compile_s"]``), then run
once under ``benchmark.pedantic(rounds=1, iterations=1)`` and blocked on; results are cached for
the session by config digest, seed(s) and agent state, so tests sharing a run train once.

JAX and the run machinery are imported inside the functions: loading the plugin stays light.
"""

from __future__ import annotations

import hashlib
import math
import shlex
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from myriad_bench.harness.baselines import (
    COMPARE_MODES,
    Baseline,
    BaselineError,
    BaselineStore,
    CheckOptions,
    CheckOutcome,
    case_name,
    check_results,
    validate_case_name,
)

__all__ = [
    "BaselineFixture",
    "MyriadSession",
    "RunFixture",
    "baseline",
    "myriad_benchmark",
    "myriad_evaluate",
    "myriad_session",
    "myriad_train",
]

SESSION_KEY = pytest.StashKey["MyriadSession"]()
MARKER = "myriad"
MARKER_KEYS = frozenset({"case", "compare", "alpha", "margin"})


# --------------------------------------------------------------------------- session state


def _float_setting(config: pytest.Config, option: str, ini: str, low: float, high: float) -> float:
    raw = config.getoption(option)
    source = f"--{option.replace('_', '-')}"
    if raw is None:
        raw, source = config.getini(ini), f"ini option {ini}"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{source}: expected a number, got {raw!r}") from None
    if not low <= value < high:
        raise pytest.UsageError(f"{source}: {value} is outside [{low}, {high})")
    return value


def _path_setting(config: pytest.Config, name: str) -> Path | None:
    """A folder option: relative to the invocation folder when given on the command line, to the
    ini file's folder (else the rootdir) when set there; ``None`` when empty."""
    value = config.getoption(name)
    if value:
        return Path(config.invocation_params.dir, value).resolve()
    value = config.getini(name)
    if not value:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return Path(base, value).resolve()


@dataclass
class _CacheEntry:
    results: Any
    info: dict[str, Any]


class MyriadSession:
    """Everything the plugin remembers during a session; one per ``pytest.Config``.

    Holds the settings (options over ini), the baseline store, the run cache, the per-case
    records for the report and, for the "unused baselines" list, the cases that tests use.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.update: bool = bool(config.getoption("myriad_update_baselines"))
        compare = config.getoption("myriad_compare") or config.getini("myriad_compare")
        if compare not in COMPARE_MODES:
            raise pytest.UsageError(
                f"ini option myriad_compare: {compare!r} is not one of {', '.join(COMPARE_MODES)}"
            )
        self.compare: str = compare
        self.alpha = _float_setting(config, "myriad_alpha", "myriad_alpha", 1e-9, 1.0)
        self.margin = _float_setting(config, "myriad_margin", "myriad_margin", 0.0, math.inf)
        root = _path_setting(config, "myriad_baselines_dir") or config.rootpath / "baselines"
        self.store = BaselineStore(root)
        self.report_dir: Path | None = _path_setting(config, "myriad_report")
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.run_id: str = (workerinput or {}).get("myriad_run_id") or uuid.uuid4().hex
        self.cache: dict[tuple, _CacheEntry] = {}
        self.run_info: dict[int, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.known_cases: set[str] = set()
        self.checked_modules: set[str] = set()
        self.used_cases: set[str] = set()
        self.deselected = 0
        self._fingerprint: dict | None = None
        self.report_files: Any = None

    # -- settings
    def check_options(self, marker: dict[str, Any], **call: Any) -> CheckOptions:
        def pick(key: str, default: Any) -> Any:
            if call.get(key) is not None:
                return call[key]
            if marker.get(key) is not None:
                return marker[key]
            return default

        return CheckOptions(
            compare=pick("compare", self.compare),
            alpha=pick("alpha", self.alpha),
            margin=pick("margin", self.margin),
        )

    @property
    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            from myriad_bench.store.fingerprint import platform_fingerprint

            self._fingerprint = platform_fingerprint()
        return self._fingerprint

    def update_command(self, nodeid: str) -> str:
        """The exact command that rewrites the baseline of the test ``nodeid``."""
        parts = ["python", "-m", "pytest", nodeid, "--myriad-update-baselines"]
        option_dir = self.config.getoption("myriad_baselines_dir")
        if option_dir:
            parts += ["--myriad-baselines-dir", str(self.store.root)]
        command = shlex.join(parts)
        rootdir = self.config.rootpath
        if Path(self.config.invocation_params.dir).resolve() != rootdir.resolve():
            command = f"cd {shlex.quote(str(rootdir))} && {command}"
        return command

    # -- records
    def add_record(self, record: dict[str, Any]) -> None:
        self.records[f"{record['nodeid']}::{record['case']}"] = record

    def full_run(self) -> bool:
        """Whether no test was deselected or named by node id (else "unused" cannot be told)."""
        args = self.config.args
        narrowed = (
            any("::" in arg for arg in args)
            or bool(self.config.getoption("keyword", ""))
            or bool(self.config.getoption("markexpr", ""))
        )
        return not narrowed and self.deselected == 0

    def unused_cases(self) -> list[str]:
        """Stored cases that belong to a collected test module (by their default-name prefix) and
        that no test of this run used; empty unless :meth:`full_run`.

        Cases named freely (``name=``/``case=`` without a module prefix) are never reported: no
        run can tell which module they belong to.
        """
        if not self.full_run():
            return []
        candidates = self.store.unused(self.known_cases | self.used_cases)
        return [case for case in candidates if case.partition(".")[0] in self.checked_modules]

    def worker_payload(self) -> dict[str, Any]:
        return {
            "records": list(self.records.values()),
            "known_cases": sorted(self.known_cases),
            "checked_modules": sorted(self.checked_modules),
            "used_cases": sorted(self.used_cases),
            "deselected": self.deselected,
        }

    def merge_worker_payload(self, payload: dict[str, Any]) -> None:
        for record in payload.get("records", []):
            self.add_record(record)
        self.known_cases.update(payload.get("known_cases", []))
        self.checked_modules.update(payload.get("checked_modules", []))
        self.used_cases.update(payload.get("used_cases", []))
        self.deselected += int(payload.get("deselected", 0))


def get_session(config: pytest.Config) -> MyriadSession:
    try:
        return config.stash[SESSION_KEY]
    except KeyError:
        raise RuntimeError(
            "the myriad-bench plugin is not configured (was it disabled with -p no:?)"
        ) from None


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """Keyword arguments of the closest ``@pytest.mark.myriad`` (validated)."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.myriad takes keywords only ({', '.join(sorted(MARKER_KEYS))}), "
            f"got positional {marker.args!r}"
        )
    unknown = set(marker.kwargs) - MARKER_KEYS
    if unknown:
        raise pytest.UsageError(
            f"{node.nodeid}: unknown @pytest.mark.myriad keyword(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(MARKER_KEYS))}"
        )
    return dict(marker.kwargs)


def default_case(node: pytest.Item) -> str:
    case = marker_options(node).get("case")
    return validate_case_name(case) if case else case_name(node.nodeid)


# --------------------------------------------------------------------------- runs


def _agent_state_key(agent_state: Any) -> str | None:
    if agent_state is None:
        return None
    from flax import serialization

    return hashlib.sha256(serialization.to_bytes(agent_state)).hexdigest()[:16]


def _block(results: Any) -> None:
    import jax

    runs = results if isinstance(results, list) else [results]
    jax.block_until_ready([getattr(r, "agent_state", None) for r in runs])


def _final_returns(results: Any) -> dict[str, float]:
    runs = results if isinstance(results, list) else [results]
    out = {}
    for r in runs:
        if hasattr(r, "eval_metrics"):
            seed = r.config.run.seed
            value = r.eval_metrics.mean_return[-1] if r.eval_metrics.mean_return else float("nan")
        else:
            seed, value = r.seed, r.mean_return
        out[str(int(seed))] = float(value)
    return out


class RunFixture:
    """Times runs for one test: compile first, then one blocked run under pytest-benchmark."""

    def __init__(
        self, session: MyriadSession, benchmark: Any, node: pytest.Item, tmp: pytest.TempPathFactory
    ) -> None:
        self.session = session
        self.benchmark = benchmark
        self.node = node
        self._tmp = tmp
        self._benchmark_used = False

    def _run_dir(self) -> Path:
        # Runs save themselves; keep them in pytest's temporary folder, not in the working tree.
        return self._tmp.mktemp("myriad-run")

    def _timed(self, key: tuple, compile_fn: Callable[[], tuple], env_steps: Callable[[Any], int]) -> Any:
        cached = self.session.cache.get(key)
        if cached is not None:
            info = {**cached.info, "cached": True}
            if not self._benchmark_used:
                self.benchmark.extra_info.update(info)
                # Nothing ran here, so pytest-benchmark has nothing to time; its "fixture was not used"
                # warning would only mislead. The filter lives until pytest restores this item's filters.
                warnings.filterwarnings("ignore", message="Benchmark fixture was not used at all")
            return cached.results

        start = time.perf_counter()
        run, compile_note, reported = compile_fn()
        # The platform reports compile seconds itself (0 when the program was already compiled).
        compile_s = float(reported) if reported is not None else time.perf_counter() - start
        timing: dict[str, float] = {}

        def target() -> Any:
            begin = time.perf_counter()
            out = run()
            _block(out)
            timing["run_s"] = time.perf_counter() - begin
            return out

        benchmarked = not self._benchmark_used
        if benchmarked:
            self._benchmark_used = True
            results = self.benchmark.pedantic(target, rounds=1, iterations=1, warmup_rounds=0)
        else:
            # pytest-benchmark times one call per test; later runs are measured but not reported to it.
            results = target()
        steps = env_steps(results)
        info: dict[str, Any] = {
            "compile_s": round(compile_s, 4),
            "run_s": round(timing["run_s"], 4),
            "env_steps": steps,
            "env_steps_per_s": round(steps / timing["run_s"], 1) if timing["run_s"] > 0 else None,
            "final_return": _final_returns(results),
        }
        if compile_note:
            info["compile_note"] = compile_note
        if benchmarked:
            self.benchmark.extra_info.update(info)
        self.session.cache[key] = _CacheEntry(results, info)
        for r in results if isinstance(results, list) else [results]:
            self.session.run_info[id(r)] = info
        return results

    def train(self, config: Any, *, seeds: list[int] | None = None) -> Any:
        """Train ``config`` (for each of ``seeds``, as one vmapped program) and return the results."""
        from myriad_bench.configs import Config
        from myriad_bench.platform import training

        if not isinstance(config, Config):
            raise TypeError(
                "myriad_train expects a myriad_bench Config (from create_config), got "
                f"{type(config).__name__}"
            )
        seed_list = [int(s) for s in seeds] if seeds is not None else None
        # With seeds, config.run.seed plays no part in the run.
        key = (
            ("train", config.digest(), None, tuple(seed_list))
            if seed_list
            else ("train", config.digest(), config.run.seed, None)
        )

        def compile_fn() -> tuple[Callable[[], Any], str, float | None]:
            run_dir = self._run_dir()

            def run() -> Any:
                return training.train_and_evaluate(config, seeds=seed_list, run_dir=run_dir)

            compile_training = getattr(training, "compile_training", None)
            if compile_training is not None:
                return run, "", compile_training(config, seeds=seed_list)
            # No separate compile step: the first run compiles (and is discarded), the second is timed.
            _block(training.train_and_evaluate(config, seeds=seed_list, run_dir=self._run_dir()))
            return run, "compile_s includes one untimed warm-up run", None

        def env_steps(results: Any) -> int:
            return int(config.run.total_timesteps) * (len(seed_list) if seed_list is not None else 1)

        return self._timed(key, compile_fn, env_steps)

    def evaluate(self, config: Any, *, agent_state: Any = None) -> Any:
        """Evaluate ``config`` (with a trained ``agent_state`` if given) and return the results."""
        from myriad_bench.configs import EvalConfig
        from myriad_bench.platform import evaluation

        if not isinstance(config, EvalConfig):
            raise TypeError(
                "myriad_evaluate expects a myriad_bench EvalConfig (from create_eval_config), got "
                f"{type(config).__name__}"
            )
        key = ("evaluate", config.digest(), config.run.seed, _agent_state_key(agent_state))

        def compile_fn() -> tuple[Callable[[], Any], str, float | None]:
            run_dir = self._run_dir()

            def run() -> Any:
                return evaluation.evaluate(config, agent_state=agent_state, run_dir=run_dir)

            compile_evaluation = getattr(evaluation, "compile_evaluation", None)
            if compile_evaluation is not None:
                return run, "", compile_evaluation(config, agent_state=agent_state)
            # No separate compile step: the first run compiles (and is discarded), the second is timed.
            _block(evaluation.evaluate(config, agent_state=agent_state, run_dir=self._run_dir()))
            return run, "compile_s includes one untimed warm-up run", None

        def env_steps(results: Any) -> int:
            import numpy as np

            return int(np.sum(results.episode_lengths))

        return self._timed(key, compile_fn, env_steps)


# --------------------------------------------------------------------------- the baseline fixture


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
            problem = str(error)
        self.session.add_record(
            {"nodeid": self.node.nodeid, "case": case, "status": "error", "message": problem}
        )
        pytest.fail(
            f"refused to use the baseline of case '{case}':\n  {problem}\n"
            "Nothing was run. Fix or delete the file, or rewrite the baseline with:\n"
            f"  {self.session.update_command(self.node.nodeid)}",
            pytrace=False,
        )

    def check(
        self,
        results: Any,
        *,
        name: str | None = None,
        compare: str | None = None,
        alpha: float | None = None,
        margin: float | None = None,
    ) -> CheckOutcome:
        """Check ``results`` against the case's baseline; fail the test with a diagnosis if it regressed.

        ``results`` is TrainingResults, a list of them (one per seed) or EvaluationResults.
        ``name`` picks another case than the test's own; ``compare`` (auto/exact/stat), ``alpha``
        and ``margin`` override the session settings for this check.
        """
        __tracebackhide__ = True
        case = validate_case_name(name) if name is not None else self.case
        if case in self._checked:
            raise ValueError(
                f"case '{case}' was already checked in this test; give each check its own name=..."
            )
        self._checked.add(case)
        self.session.used_cases.add(case)
        options = self.session.check_options(self.marker, compare=compare, alpha=alpha, margin=margin)
        command = self.session.update_command(self.node.nodeid)
        runs = results if isinstance(results, list | tuple) else [results]
        info = self.session.run_info.get(id(runs[0]), {}) if runs else {}

        if self.session.update:
            owner = self.session.store.claim(case, self.session.run_id, self.node.nodeid)
            if owner is not None:
                pytest.fail(
                    f"case '{case}' is already written in this run by {owner}; give one of the checks "
                    "another name=...",
                    pytrace=False,
                )
            path = self.session.store.write(case, runs, fingerprint=self.session.fingerprint)
            outcome = check_results(
                case, list(runs), None, options=options, fingerprint=self.session.fingerprint
            )
            outcome.status = "written"
            outcome.message = f"baseline written: {path}"
            outcome.record.update(status="written", path=str(path))
        else:
            stored = self._preloaded if case == self.case else None
            if stored is None and self.session.store.exists(case):
                stored = self._read(case)
            outcome = check_results(
                case,
                list(runs),
                stored,
                options=options,
                fingerprint=self.session.fingerprint,
                update_command=command,
                baseline_path=self.session.store.path(case),
            )
        outcome.record.update(
            nodeid=self.node.nodeid,
            env_steps_per_s=info.get("env_steps_per_s"),
            compile_s=info.get("compile_s"),
            run_s=info.get("run_s"),
            message=outcome.message,
        )
        self.session.add_record(outcome.record)
        if not outcome.passed:
            pytest.fail(outcome.message, pytrace=False)
        return outcome


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def myriad_session(pytestconfig: pytest.Config) -> MyriadSession:
    """The plugin's session state (settings, baseline store, run cache, report records)."""
    return get_session(pytestconfig)


@pytest.fixture
def myriad_train(
    request: pytest.FixtureRequest,
    benchmark: Any,
    myriad_session: MyriadSession,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable:
    """``myriad_train(config, *, seeds=None)``: a timed, cached training run (see module docstring)."""
    return RunFixture(myriad_session, benchmark, request.node, tmp_path_factory).train


@pytest.fixture
def myriad_evaluate(
    request: pytest.FixtureRequest,
    benchmark: Any,
    myriad_session: MyriadSession,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable:
    """``myriad_evaluate(config, *, agent_state=None)``: a timed, cached evaluation run."""
    return RunFixture(myriad_session, benchmark, request.node, tmp_path_factory).evaluate


@pytest.fixture
def myriad_benchmark(benchmark: Any) -> Callable:
    """``myriad_benchmark(fn, *args, **kwargs)``: benchmark a JAX function, compilation excluded.

    ``fn`` (jitted or not) is compiled ahead of time and its compile time recorded in
    ``benchmark.extra_info["compile_s"]``; each timed call blocks on the outputs. Functions that
    cannot be jitted are warmed up once instead. Returns ``fn``'s output.
    """

    def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
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

        def target() -> Any:
            return jax.block_until_ready(call(*args, **kwargs))

        return benchmark(target)

    return run


@pytest.fixture
def baseline(request: pytest.FixtureRequest, myriad_session: MyriadSession) -> BaselineFixture:
    """``baseline.check(results, *, name=None, compare=None, alpha=None, margin=None)``."""
    return BaselineFixture(myriad_session, request.node)
