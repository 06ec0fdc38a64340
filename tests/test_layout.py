"""The package's floors: every import (lazy ones too) goes to the module's own floor or below.

store < core < envs | agents (separate rooms) < configs < platform < harness | strategies < cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "myriad_bench"
FLOORS = {"store": 0, "core": 1, "envs": 2, "agents": 2, "configs": 3, "platform": 4, "harness": 5}
FLOORS |= {"strategies": 5, "cli": 6}
ROOMS = {("envs", "agents"), ("agents", "envs")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            else:
                continue
            found += [(module, t) for t in targets if t.startswith("myriad_bench.")]
    return found


def test_no_module_imports_from_a_floor_above_its_own() -> None:
    upward = [
        f"{source} -> {target}"
        for source, target in _imports()
        if _part(source) in FLOORS and FLOORS.get(_part(target), -1) > FLOORS[_part(source)]
    ]
    assert not upward


def test_envs_and_agents_do_not_import_each_other() -> None:
    crossing = [f"{s} -> {t}" for s, t in _imports() if (_part(s), _part(t)) in ROOMS]
    assert not crossing


def test_the_store_imports_no_jax_at_import_time() -> None:
    import subprocess
    import sys

    code = "import sys, myriad_bench.store.rundir, myriad_bench.store.pickles; print('jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
