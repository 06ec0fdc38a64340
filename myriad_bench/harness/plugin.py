"""pytest plugin entry point (``pytest11``): options, ini settings, markers and hooks.

Kept import-light: JAX and the run machinery load only when a fixture is used. The hooks are
thin; the session's state lives in :class:`~myriad_bench.harness.fixtures.MyriadSession`, stored
on ``config.stash``, and the measuring and checking in the fixtures.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from myriad_bench.harness.fixtures import (
    SESSION_KEY,
    MyriadSession,
    baseline,
    default_case,
    get_session,
    myriad_benchmark,
    myriad_evaluate,
    myriad_session,
    myriad_train,
)

__all__ = ["baseline", "myriad_benchmark", "myriad_evaluate", "myriad_session", "myriad_train"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("myriad", "myriad-bench: RL runs as benchmark cases")
    group.addoption(
        "--myriad-update-baselines",
        action="store_true",
        default=False,
        # Deliberately without an ini twin: rewriting baselines must never happen by configuration.
        help="write or rewrite the baselines of the selected cases instead of checking them",
    )
    group.addoption(
        "--myriad-compare",
        choices=("auto", "exact", "stat"),
        default=None,
        help="how returns are compared with baselines (default: ini myriad_compare, else auto)",
    )
    group.addoption(
        "--myriad-baselines-dir",
        default=None,
        help="folder of the committed baselines (default: ini myriad_baselines_dir, else baselines/)",
    )
    group.addoption(
        "--myriad-report", default=None, metavar="DIR", help="write report.json, report.md and PNGs to DIR"
    )
    group.addoption(
        "--myriad-alpha",
        default=None,
        metavar="A",
        help="risk of a false regression verdict; confidence is 1-A (default: ini myriad_alpha, else 0.01)",
    )
    group.addoption(
        "--myriad-margin",
        default=None,
        metavar="M",
        help="regressions smaller than M x |baseline| pass (default: ini myriad_margin, else 0.05)",
    )
    parser.addini("myriad_compare", "default comparison: auto, exact or stat", default="auto")
    parser.addini("myriad_baselines_dir", "folder of the committed baselines", default="baselines")
    parser.addini(
        "myriad_report", "folder for report.json, report.md and PNGs (empty: no report)", default=""
    )
    parser.addini("myriad_alpha", "risk of a false regression verdict (confidence 1-alpha)", default="0.01")
    parser.addini("myriad_margin", "tolerated regression as a fraction of |baseline|", default="0.05")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "myriad(case=None, compare=None, alpha=None, margin=None): baseline case name and comparison "
        "settings of a myriad-bench test",
    )
    session = MyriadSession(config)
    config.stash[SESSION_KEY] = session
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(session), "myriad_bench.xdist")


class _XdistHooks:
    """Controller side of pytest-xdist: share the run id, merge the workers' records."""

    def __init__(self, session: MyriadSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["myriad_run_id"] = self.session.run_id

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get("myriad")
        if payload:
            self.session.merge_worker_payload(payload)


def pytest_report_header(config: pytest.Config) -> str:
    session = get_session(config)
    mode = "UPDATING baselines" if session.update else f"compare={session.compare}"
    return (
        f"myriad-bench: baselines {session.store.root}, {mode}, "
        f"alpha={session.alpha:g}, margin={session.margin:g}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = get_session(config)
    for item in items:
        if "baseline" in getattr(item, "fixturenames", ()):
            session.checked_modules.add(item.path.stem)
            # A bad marker is reported when the test sets up its baseline fixture.
            with contextlib.suppress(pytest.UsageError, ValueError):
                session.known_cases.add(default_case(item))


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        get_session(items[0].config).deselected += len(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = get_session(session.config)
    if state.is_worker:
        session.config.workeroutput["myriad"] = state.worker_payload()  # type: ignore[attr-defined]
        return
    if state.update:
        state.store.release_claims(state.run_id)
    if state.report_dir is not None and state.records:
        from myriad_bench.harness.report import write_report

        state.report_files = write_report(
            state.report_dir,
            list(state.records.values()),
            unused=state.unused_cases(),
            settings={
                "compare": state.compare,
                "alpha": state.alpha,
                "margin": state.margin,
                "baselines_dir": str(state.store.root),
                "update": state.update,
            },
        )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = get_session(config)
    if state.is_worker:
        return
    from myriad_bench.harness.report import is_failing, summary_rows, table_lines

    unused = state.unused_cases()
    if not state.records and not unused:
        return
    terminalreporter.section("myriad-bench")
    if state.records:
        rows = summary_rows(state.records.values())
        header, *lines = table_lines(rows)
        terminalreporter.write_line(header, bold=True)
        for row, line in zip(rows, lines, strict=True):
            verdict = row["verdict"]
            markup = (
                {"red": True} if is_failing(verdict) else {"green": True} if verdict == "improvement" else {}
            )
            terminalreporter.write_line(line, **markup)
    if unused:
        terminalreporter.write_line(
            f"unused baselines in {state.store.root} (no test used them): {', '.join(unused)}", yellow=True
        )
    files = state.report_files
    if files is not None:
        terminalreporter.write_line(f"report: {files.markdown} ({len(files.plots)} plots)")
        for note in files.notes:
            terminalreporter.write_line(f"note: {note}", yellow=True)
