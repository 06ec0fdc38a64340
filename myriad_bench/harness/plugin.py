"""pytest plugin entry point (``pytest11``): options, ini settings, markers and hooks.

Kept import-light: JAX and the run machinery load only when a fixture is used. Each hook is one
call into the session object (:class:`~myriad_bench.harness.session.MyriadSession`, stored on
``config.stash``); the measuring and checking live in the fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest

from myriad_bench.harness.fixtures import (
    baseline,
    myriad_benchmark,
    myriad_evaluate,
    myriad_session,
    myriad_train,
)
from myriad_bench.harness.session import MyriadSession, get_session

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
    group.addoption(
        "--myriad-add-platform",
        action="store_true",
        default=False,
        # No ini twin either: it writes baselines.
        help="add this platform's runs to the selected cases' baselines, beside the others (same config)",
    )
    group.addoption(
        "--myriad-strict",
        action="store_true",
        default=None,
        help="fail a case whose verdict is inconclusive (default: ini myriad_strict, else off)",
    )
    group.addoption(
        "--myriad-speed",
        choices=("check", "report", "off"),
        default=None,
        help="speed verdicts: check fails a slower case, report only reports them "
        "(default: ini myriad_speed, else check)",
    )
    group.addoption(
        "--myriad-speed-margin",
        default=None,
        metavar="F",
        help="env-steps/s drops smaller than F x the baseline's pass "
        "(default: ini myriad_speed_margin, else 0.15)",
    )
    parser.addini("myriad_compare", "default comparison: auto, exact or stat", default="auto")
    parser.addini("myriad_strict", "fail inconclusive verdicts", type="bool", default=False)
    parser.addini(
        "myriad_max_seeds",
        "seeds a training check may grow to when inconclusive (empty: no more)",
        default="",
    )
    parser.addini("myriad_speed", "speed verdicts: check, report or off", default="check")
    parser.addini(
        "myriad_speed_margin", "tolerated env-steps/s drop as a fraction of the baseline's", default="0.15"
    )
    parser.addini(
        "myriad_speed_budget_s",
        "seconds of timed rounds per case (at least 3 rounds when short)",
        default="2.0",
    )
    parser.addini("myriad_baselines_dir", "folder of the committed baselines", default="baselines")
    parser.addini(
        "myriad_suite",
        "paths `myriad-bench run` runs (relative to the ini file; empty: testpaths)",
        type="args",
        default=[],
    )
    parser.addini(
        "myriad_report", "folder for report.json, report.md and PNGs (empty: no report)", default=""
    )
    parser.addini("myriad_alpha", "risk of a false regression verdict (confidence 1-alpha)", default="0.01")
    parser.addini("myriad_margin", "tolerated regression as a fraction of |baseline|", default="0.05")


def pytest_configure(config: pytest.Config) -> None:
    MyriadSession.install(config)


def pytest_report_header(config: pytest.Config) -> str:
    return get_session(config).report_header()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    get_session(config).collected(items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:  # the hook passes no config; the items carry it
        get_session(items[0].config).deselect(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    get_session(session.config).before_tests()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    get_session(session.config).finish()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    get_session(config).terminal_summary(terminalreporter)


# pytest-xdist's controller hooks; optional, so the plugin loads without xdist.
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    get_session(node.config).configure_worker(node)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    get_session(node.config).merge_worker(node)
