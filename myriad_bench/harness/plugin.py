"""pytest plugin entry point (``pytest11``): options, ini settings, markers and hooks.

Kept import-light: JAX and the run machinery load only when a fixture is used.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("myriad", "myriad-bench: RL runs as benchmark cases")
    group.addoption(
        "--myriad-update-baselines",
        action="store_true",
        default=False,
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
    parser.addini("myriad_compare", "default comparison: auto, exact or stat", default="auto")
    parser.addini("myriad_baselines_dir", "folder of the committed baselines", default="baselines")
