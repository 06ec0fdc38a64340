"""The plugin's state for one pytest session: :class:`MyriadSession`, stored on ``config.stash``.

It holds the settings (command-line options over ini options over defaults), the baseline
store, the run cache, the per-case records and, for the "unused baselines" list, the cases
that tests use. The hooks of :mod:`~myriad_bench.harness.plugin` each call one method here:
the report header, collection bookkeeping, the xdist merge (workers send their records as
plain data, the controller turns them back into records), the report files and the summary.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import shlex
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from myriad_bench.harness.baseline_store import BaselineStore
from myriad_bench.harness.check import COMPARE_MODES, CheckOptions, Writer
from myriad_bench.harness.curves import case_name, validate_case_name
from myriad_bench.harness.records import CaseRecord, Timing
from myriad_bench.harness.speed import SpeedOptions
from myriad_bench.harness.timing import TimedRun

__all__ = ["SESSION_KEY", "MyriadSession", "default_case", "get_session", "marker_options"]

SESSION_KEY = pytest.StashKey["MyriadSession"]()
MARKER = "myriad"
MARKER_KEYS = frozenset({"case", "compare", "alpha", "margin", "max_seeds"})
MARKER_HELP = (
    "myriad(case=None, compare=None, alpha=None, margin=None, max_seeds=None): baseline case name "
    "and comparison settings of a myriad-bench test"
)

# What a session with pytester imports before any test: pytester's in-process runs drop the
# modules first imported inside a run, and jaxlib aborts the interpreter when imported twice
# (the package's modules would also come back as second copies: new registries, a cold
# program cache, a second Config class).
_PRELOAD_FOR_PYTESTER = (
    "jax",
    "myriad_bench.configs",
    "myriad_bench.envs",
    "myriad_bench.agents",
    "myriad_bench.platform.types",
    "myriad_bench.platform.training",
    "myriad_bench.platform.evaluation",
)


def _setting(config: pytest.Config, name: str) -> tuple[Any, str]:
    """The value of option ``--<name>`` if given, else of ini option ``<name>``; and which it was."""
    raw = config.getoption(name) if _has_option(config, name) else None
    if raw is not None:
        return raw, f"--{name.replace('_', '-')}"
    return config.getini(name), f"ini option {name}"


def _has_option(config: pytest.Config, name: str) -> bool:
    try:
        config.getoption(name)
    except ValueError:
        return False
    return True


def _number(config: pytest.Config, name: str, kind: type = float) -> tuple[Any, str]:
    raw, source = _setting(config, name)
    try:
        return kind(raw), source
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{source}: expected a number, got {raw!r}") from None


def _validated(source: str, build: Any) -> Any:
    """``build()``, with its ValueError (the one place values are checked) as a usage error."""
    try:
        return build()
    except ValueError as error:
        raise pytest.UsageError(f"{source}: {error}") from None


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


def _ini_flag(config: pytest.Config, name: str) -> bool:
    value = config.getini(name)
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _optional_count(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"expected a positive number of seeds, got {value!r}")
    return count


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
    """The case a test's ``baseline`` checks by default: the marker's ``case``, else its node id's."""
    case = marker_options(node).get("case")
    return validate_case_name(case) if case else case_name(node.nodeid)


class MyriadSession:
    """Everything the plugin remembers during a session; one per ``pytest.Config``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.update: bool = bool(config.getoption("myriad_update_baselines"))
        compare = config.getoption("myriad_compare") or config.getini("myriad_compare")
        if compare not in COMPARE_MODES:
            raise pytest.UsageError(
                f"ini option myriad_compare: {compare!r} is not one of {', '.join(COMPARE_MODES)}"
            )
        self.compare: str = compare
        (self.alpha, alpha_from), (self.margin, margin_from) = (
            _number(config, "myriad_alpha"),
            _number(config, "myriad_margin"),
        )
        _validated(alpha_from, lambda: CheckOptions(alpha=self.alpha))
        _validated(margin_from, lambda: CheckOptions(margin=self.margin))
        mode, mode_from = _setting(config, "myriad_speed")
        self.one_round = bool(
            _has_option(config, "benchmark_disable") and config.getoption("benchmark_disable")
        )
        if self.one_round and mode == "check" and not mode_from.startswith("--"):
            # One round per case (--benchmark-disable): its verdict is reported, not enforced. A
            # single millisecond round fell 37% below its baseline's median in 1 of 12 unchanged
            # cases; --myriad-speed=check on the command line enforces it all the same.
            mode = "report"
        speed_margin, speed_margin_from = _number(config, "myriad_speed_margin")
        _validated(mode_from, lambda: SpeedOptions(mode=mode))
        self.speed: SpeedOptions = _validated(
            speed_margin_from, lambda: SpeedOptions(mode=mode, margin=speed_margin, alpha=self.alpha)
        )
        self.speed_budget_s, budget_from = _number(config, "myriad_speed_budget_s")
        if not 0 < self.speed_budget_s < math.inf:
            raise pytest.UsageError(f"{budget_from}: the budget must be a positive number of seconds")
        self.strict = bool(config.getoption("myriad_strict")) or _ini_flag(config, "myriad_strict")
        max_seeds, max_seeds_from = _setting(config, "myriad_max_seeds")
        self.max_seeds: int | None = _validated(max_seeds_from, lambda: _optional_count(max_seeds))
        self.add_platform = bool(config.getoption("myriad_add_platform"))
        if self.add_platform and self.update:
            raise pytest.UsageError(
                "--myriad-add-platform adds this platform's runs to existing baselines; "
                "--myriad-update-baselines rewrites them: pick one"
            )
        root = _path_setting(config, "myriad_baselines_dir") or config.rootpath / "baselines"
        self.store = BaselineStore(root)
        self.report_dir: Path | None = _path_setting(config, "myriad_report")
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.run_id: str = workerinput["myriad_run_id"] if workerinput else uuid.uuid4().hex
        self.runs: dict[tuple, TimedRun] = {}
        self.records: dict[str, CaseRecord] = {}
        self.known_cases: set[str] = set()
        self.checked_modules: set[str] = set()
        self.used_cases: set[str] = set()
        self.benchmark_timings: dict[str, Timing] = {}
        """The last ``myriad_benchmark`` timing of each test, by node id (``baseline.check_speed``)."""
        self.deselected = 0
        self.recovered: list[str] = []
        self.pruned: list[str] = []
        """Unused baselines an unnarrowed update run removed."""
        self._fingerprint: dict | None = None
        self.report_files: Any = None

    @classmethod
    def install(cls, config: pytest.Config) -> MyriadSession:
        """Register the marker, make the session and store it on ``config``."""
        config.addinivalue_line("markers", MARKER_HELP)
        session = config.stash[SESSION_KEY] = cls(config)
        return session

    # -- settings
    def check_options(self, marker: dict[str, Any], **call: Any) -> CheckOptions:
        """Per-call values over the marker's over the session's."""

        def pick(key: str, default: Any) -> Any:
            for source in (call, marker):
                if source.get(key) is not None:
                    return source[key]
            return default

        return CheckOptions(
            compare=pick("compare", self.compare),
            alpha=pick("alpha", self.alpha),
            margin=pick("margin", self.margin),
            strict=self.strict,
            max_seeds=pick("max_seeds", self.max_seeds),
            metric=call.get("metric"),
            higher_is_better=call.get("higher_is_better"),
        )

    @property
    def writes(self) -> bool:
        """Whether this session writes baselines (update, or adding this platform's runs)."""
        return self.update or self.add_platform

    def writer(self, nodeid: str) -> Writer | None:
        """The writer of a test's checks when this session writes baselines."""
        if not self.writes:
            return None
        return Writer(self.store, self.run_id, nodeid, add_platform=self.add_platform)

    @property
    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            from myriad_bench.store.fingerprint import platform_fingerprint

            self._fingerprint = platform_fingerprint()
        return self._fingerprint

    def update_command(self, nodeid: str) -> str:
        """The exact command that rewrites the baseline of the test ``nodeid``."""
        parts = ["python", "-m", "pytest", nodeid, "--myriad-update-baselines"]
        if self.config.getoption("myriad_baselines_dir"):
            parts += ["--myriad-baselines-dir", str(self.store.root)]
        command = shlex.join(parts)
        rootdir = self.config.rootpath
        if Path(self.config.invocation_params.dir).resolve() != rootdir.resolve():
            command = f"cd {shlex.quote(str(rootdir))} && {command}"
        return command

    # -- runs and records
    def timed_run_of(self, results: Any) -> TimedRun | None:
        """The cached run that made ``results`` (``None`` for results made elsewhere)."""
        return next((run for run in self.runs.values() if run.holds(results)), None)

    def add_record(self, record: CaseRecord) -> None:
        self.records[record.key] = record

    def full_run(self) -> bool:
        """Whether no test was deselected or named by node id (else "unused" cannot be told)."""
        narrowed = (
            any("::" in arg for arg in self.config.args)
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

    # -- hooks
    def report_header(self) -> str:
        mode = (
            "UPDATING baselines"
            if self.update
            else "ADDING this platform's runs"
            if self.add_platform
            else f"compare={self.compare}"
        )
        speed = f"speed={self.speed.mode}" + (
            f" (margin {self.speed.margin:g})" if self.speed.mode != "off" else ""
        )
        if self.one_round and self.speed.mode != "off":
            speed += " from one round per case (--benchmark-disable)"
        strict = ", strict" if self.strict else ""
        settings = f"alpha={self.alpha:g}, margin={self.margin:g}, {speed}{strict}"
        line = f"myriad-bench: baselines {self.store.root}, {mode}, {settings}"
        if self.config.inipath is None and not self.config.getoption("myriad_baselines_dir"):
            line += (
                f"\nmyriad-bench: warning: no ini file, so the rootdir ({self.config.rootpath}) and the "
                "baselines under it were guessed from the arguments; add a [tool.pytest.ini_options] "
                "section to pyproject.toml at the repository root to pin them"
            )
        return line

    def collected(self, items: Iterable[pytest.Item]) -> None:
        """Note the cases and modules of the tests that use ``baseline`` (for "unused baselines")."""
        for item in items:
            if "baseline" in getattr(item, "fixturenames", ()):
                self.checked_modules.add(item.path.stem)
                # A bad marker is reported when the test sets up its baseline fixture.
                with contextlib.suppress(pytest.UsageError, ValueError):
                    self.known_cases.add(default_case(item))

    def deselect(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def before_tests(self) -> None:
        """Repair what a killed update left in the store; and with pytester active, import JAX
        and the package now, before any pytester snapshot of ``sys.modules``: then in-process
        runs keep them (see ``_PRELOAD_FOR_PYTESTER``)."""
        if not self.is_worker:
            self.recovered = self.store.recover()
        if self.config.pluginmanager.hasplugin("pytester"):
            for name in _PRELOAD_FOR_PYTESTER:
                importlib.import_module(name)

    def configure_worker(self, node: Any) -> None:
        """xdist controller: workers share the run id (their claims are one run's)."""
        node.workerinput["myriad_run_id"] = self.run_id

    def merge_worker(self, node: Any) -> None:
        """xdist controller: take a finished worker's records and bookkeeping."""
        workeroutput = getattr(node, "workeroutput", None)
        if not workeroutput or "myriad" not in workeroutput:
            return  # the worker crashed before it could send anything
        payload = workeroutput["myriad"]
        for record in payload["records"]:
            self.add_record(CaseRecord.from_dict(record))
        self.known_cases.update(payload["known_cases"])
        self.checked_modules.update(payload["checked_modules"])
        self.used_cases.update(payload["used_cases"])
        self.deselected += payload["deselected"]

    def finish(self) -> None:
        """End of the session: a worker sends its records; the controller releases its claims
        and writes the report files."""
        if self.is_worker:
            self.config.workeroutput["myriad"] = {  # type: ignore[attr-defined]
                "records": [record.to_dict() for record in self.records.values()],
                "known_cases": sorted(self.known_cases),
                "checked_modules": sorted(self.checked_modules),
                "used_cases": sorted(self.used_cases),
                "deselected": self.deselected,
            }
            return
        if self.writes:
            self.store.release_claims(self.run_id)
        if self.update:
            # syrupy's rule: an update run that saw every test removes the baselines none used.
            self.pruned = self.store.prune(self.unused_cases())
        if self.report_dir is not None and self.records:
            from myriad_bench.harness.report import write_report

            self.report_files = write_report(
                self.report_dir,
                list(self.records.values()),
                unused=self.unused_cases(),
                settings={
                    "compare": self.compare,
                    "alpha": self.alpha,
                    "margin": self.margin,
                    "baselines_dir": str(self.store.root),
                    "update": self.update,
                },
            )

    def terminal_summary(self, terminalreporter: Any) -> None:
        """The "myriad-bench" section: one row per case, failures red, unused baselines, report."""
        if self.is_worker:
            return
        from myriad_bench.harness.report import summary_rows, table_lines

        unused = self.unused_cases()
        if not self.records and not unused and not self.recovered and not self.pruned:
            return
        terminalreporter.section("myriad-bench")
        if self.records:
            records = sorted(self.records.values(), key=lambda r: (r.case, r.nodeid))
            header, *lines = table_lines(summary_rows(records))
            terminalreporter.write_line(header, bold=True)
            for record, line in zip(records, lines, strict=True):
                markup = (
                    {"red": True}
                    if record.failing
                    else {"green": True}
                    if record.label == "improvement"
                    else {}
                )
                terminalreporter.write_line(line, **markup)
        for repaired in self.recovered:
            terminalreporter.write_line(f"recovered after an interrupted update: {repaired}", yellow=True)
        if self.pruned:
            terminalreporter.write_line(
                f"removed unused baselines from {self.store.root} (no test uses them): "
                + ", ".join(self.pruned),
                yellow=True,
            )
        elif unused:
            terminalreporter.write_line(
                f"unused baselines in {self.store.root} (no test used them): {', '.join(unused)}; "
                "an update run of the whole suite removes them",
                yellow=True,
            )
        files = self.report_files
        if files is not None:
            terminalreporter.write_line(f"report: {files.markdown} ({len(files.plots)} plots)")
            for note in files.notes:
                terminalreporter.write_line(f"note: {note}", yellow=True)


def get_session(config: pytest.Config) -> MyriadSession:
    try:
        return config.stash[SESSION_KEY]
    except KeyError:
        raise RuntimeError(
            "the myriad-bench plugin is not configured (was it disabled with -p no:?)"
        ) from None
