"""The examples/ projects pass against their committed baselines, and updating them rewrites nothing.

Each example is copied into a pytester folder (its own pytest.ini pins the rootdir there) and run
in process, as a user would run it: ``python -m pytest`` checks it against the committed
``baselines/``; ``--myriad-update-baselines`` then changes no byte of them. On another platform
than the one that wrote them, the first update writes this platform's runs, so there the second
update is the one that must change nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# One warm round per case; speed is reported, not checked (other tests load the same cores).
RUN = ("-p", "no:cacheprovider", "--benchmark-disable")


def baseline_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "baselines").rglob("*"))
        if path.is_file()
    }


def check_example(pytester: pytest.Pytester, name: str) -> None:
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    committed = baseline_files(pytester.path)
    assert any(path.endswith("baseline.yaml") for path in committed), f"examples/{name} has no baselines"
    result = pytester.runpytest_inprocess(*RUN)
    result.assert_outcomes(passed=1)
    reproduced = "reproduced" in result.stdout.str()  # exact: this platform wrote the baselines

    update = (*RUN, "--myriad-update-baselines", "--myriad-speed=off")
    pytester.runpytest_inprocess(*update).assert_outcomes(passed=1)
    if not reproduced:
        before = baseline_files(pytester.path)
        pytester.runpytest_inprocess(*update).assert_outcomes(passed=1)
        assert baseline_files(pytester.path) == before
    else:
        after = baseline_files(pytester.path)
        assert sorted(after) == sorted(committed)
        assert [path for path in committed if after[path] != committed[path]] == []


def test_purejaxrl_example(pytester: pytest.Pytester) -> None:
    check_example(pytester, "purejaxrl")


def test_gymnax_example(pytester: pytest.Pytester) -> None:
    pytest.importorskip("gymnax")
    check_example(pytester, "gymnax")
