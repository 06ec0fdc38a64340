"""The ``myriad-bench`` command: compare (same engine and message as the fixture), baselines list and
migrate, and the pytest configuration they read (rootdir, ini file, baselines dir, suite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_baselines import SEEDS, evaluation_results, training_results

from myriad_bench.cli import main, project_settings
from myriad_bench.harness.baseline_store import BaselineStore, SpeedSection
from myriad_bench.store.fingerprint import fingerprint_digest, platform_fingerprint


@pytest.fixture
def store(tmp_path):
    store = BaselineStore(tmp_path / "baselines")
    store.write("train.case", [training_results(s) for s in SEEDS], fingerprint=platform_fingerprint())
    store.write("eval.case", [evaluation_results(4)], fingerprint=platform_fingerprint())
    return store


def save_runs(tmp_path, runs, name="run"):
    run_dir = tmp_path / name
    for run in runs:
        run.save(run_dir / f"seed-{run.config.run.seed}")
    return run_dir


def test_compare_reproduced_run_passes_exactly(tmp_path, store, capsys):
    run_dir = save_runs(tmp_path, [training_results(s) for s in SEEDS])
    assert main(["compare", str(run_dir), str(store.path("train.case"))]) == 0
    out = capsys.readouterr().out
    assert (
        "case 'train.case' passed (reproduced): exact comparison (same platform fingerprint and seeds)" in out
    )
    assert "final return: no change" in out


def test_compare_single_run_dir_of_an_evaluation(tmp_path, store, capsys):
    run_dir = tmp_path / "ev"
    evaluation_results(4).save(run_dir)
    assert main(["compare", str(run_dir), str(store.path("eval.case"))]) == 0


def test_compare_regression_prints_the_fixture_message_and_fails(tmp_path, store, capsys):
    run_dir = save_runs(tmp_path, [training_results(s, level=40.0) for s in SEEDS])
    code = main(["compare", str(run_dir), str(store.path("train.case")), "--compare", "stat"])
    out = capsys.readouterr().out
    assert code == 1
    assert "baseline check failed for case 'train.case' — stat comparison (stat comparison requested)" in out
    assert "seed  baseline final  obtained final" in out
    assert "final return: regression" in out
    assert "--myriad-update-baselines" in out


def test_compare_refuses_a_broken_baseline_naming_the_file(tmp_path, store, capsys):
    target = store.path("train.case") / "seed-2" / "results.pkl"
    target.write_bytes(b"\x80\x05garbage")
    run_dir = save_runs(tmp_path, [training_results(s) for s in SEEDS])
    assert main(["compare", str(run_dir), str(store.path("train.case"))]) == 2
    assert str(target) in capsys.readouterr().err


def test_baselines_list_shows_each_platform_and_flags_broken_ones(store, capsys):
    other = {**platform_fingerprint(), "cpu_model": "Other CPU", "cpu_features": ["avx2", "sse2"]}
    speed = SpeedSection(env_steps_per_s=12345.6, spread=0.04, rounds=5, rates=[12345.6] * 5)
    store.add_platform("train.case", [training_results(s) for s in (0, 1)], fingerprint=other, speed=speed)
    assert main(["baselines", "list", "--dir", str(store.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["case", "kind", "platform", "seeds", "final", "return", "speed", "created"]
    assert lines[1].split()[:2] == ["eval.case", "evaluation"]
    assert lines[2].split()[:2] == ["train.case", "training"]
    here = f"{platform_fingerprint()['cpu_model']}"
    assert here in lines[1] and fingerprint_digest(platform_fingerprint()) in lines[2]
    assert "Other CPU (AVX2)" in lines[3] and fingerprint_digest(other) in lines[3]
    assert " 0,1 " in lines[3] and "12,346 steps/s ±4% (5 rounds)" in lines[3]
    assert " 0,1,2,3,4,5 " in lines[2] and "steps/s" not in lines[2]
    (store.path("eval.case") / "baseline.yaml").write_text("nonsense: true\n")
    assert main(["baselines", "list", "--dir", str(store.root)]) == 2
    error = [line for line in capsys.readouterr().out.splitlines() if line.startswith("eval.case")]
    assert error and "ERROR" in error[0] and "not a myriad-bench baseline" in error[0]


def test_baselines_migrate_rewrites_format_1_keeping_the_runs(tmp_path, capsys):
    committed = Path(__file__).resolve().parent / "data" / "format1"  # as the suite committed it
    case = "test_evaluation.test_classical-pendulum-pid"
    root = tmp_path / "baselines"
    shutil.copytree(committed / case, root / case)
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert main(["baselines", "migrate", "--dir", str(root)]) == 0
    assert f"{case}: migrated to format 2" in capsys.readouterr().out
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert set(after) == set(before)
    changed = [path for path in before if before[path] != after[path]]
    assert changed == [Path(case) / "baseline.yaml"]  # the runs are kept byte for byte
    assert BaselineStore(root).read(case).meta.format_version == 2
    assert main(["baselines", "migrate", "--dir", str(root)]) == 0
    assert "already format 2" in capsys.readouterr().out
    (root / case / "seed-0" / "results.pkl").write_bytes(b"garbage")
    assert main(["baselines", "migrate", "--dir", str(root)]) == 2
    assert "ERROR" in capsys.readouterr().out


def test_run_reports_a_missing_suite(tmp_path, capsys):
    assert main(["run", "--suite", str(tmp_path / "nowhere")]) == 2
    assert "benchmark suite not found" in capsys.readouterr().out


def make_project(root: Path, ini: str, settings: dict[str, str]) -> Path:
    """A project folder whose pytest configuration (``pytest.ini`` or ``pyproject.toml``) holds
    ``settings``; values are TOML literals (a pytest.ini gets them unquoted)."""
    root.mkdir(parents=True, exist_ok=True)
    if ini == "pyproject.toml":
        lines = ["[tool.pytest.ini_options]", *(f"{key} = {value}" for key, value in settings.items())]
    else:
        plain = {key: value.strip("[]").replace('"', "").replace(",", " ") for key, value in settings.items()}
        lines = ["[pytest]", *(f"{key} = {value}" for key, value in plain.items())]
    (root / ini).write_text("\n".join(lines) + "\n")
    (root / "sub" / "deeper").mkdir(parents=True)
    return root


@pytest.mark.parametrize("ini", ["pyproject.toml", "pytest.ini"])
def test_baselines_commands_use_the_ini_baselines_dir_from_any_subfolder(tmp_path, monkeypatch, capsys, ini):
    project = make_project(tmp_path / "project", ini, {"myriad_baselines_dir": '"store/here"'})
    store = BaselineStore(project / "store" / "here")
    store.write("eval.case", [evaluation_results(4)], fingerprint=platform_fingerprint())
    BaselineStore(project / "baselines").write(  # the default folder: must not be the one read
        "decoy.case", [evaluation_results(4)], fingerprint=platform_fingerprint()
    )
    monkeypatch.chdir(project / "sub" / "deeper")
    assert main(["baselines", "list"]) == 0
    out = capsys.readouterr().out
    assert "eval.case" in out and "decoy.case" not in out
    assert main(["baselines", "migrate"]) == 0
    assert "eval.case: already format 2" in capsys.readouterr().out


def test_baselines_list_without_a_folder_says_where_it_looked(tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path / "project", "pytest.ini", {"myriad_baselines_dir": "nothing"})
    monkeypatch.chdir(project / "sub")
    assert main(["baselines", "list"]) == 2
    err = capsys.readouterr().err
    assert str(project / "nothing") in err and str(project / "pytest.ini") in err


def suite_file(folder: Path, name: str, passes: bool = True) -> Path:
    """A test module that leaves ``<name>.ran`` beside itself when it runs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        "from pathlib import Path\n\n\n"
        f"def test_it():\n    Path(__file__).with_suffix('.ran').touch()\n    assert {passes}\n"
    )
    return folder / f"{name}.ran"


def test_run_without_a_suite_runs_testpaths_from_a_subfolder(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", "pyproject.toml", {"testpaths": '["checks"]'})
    ran = suite_file(project / "checks", "test_cli_testpaths_case")
    other = suite_file(project / "sub", "test_cli_not_a_testpath", passes=False)
    monkeypatch.chdir(project / "sub" / "deeper")
    assert main(["run", "-q"]) == 0
    assert ran.exists() and not other.exists()


def test_run_prefers_myriad_suite_over_testpaths(tmp_path, monkeypatch):
    project = make_project(
        tmp_path / "project", "pytest.ini", {"testpaths": "tests", "myriad_suite": "bench more"}
    )
    tests_ran = suite_file(project / "tests", "test_cli_project_tests", passes=False)
    bench_ran = suite_file(project / "bench", "test_cli_bench_case")
    more_ran = suite_file(project / "more", "test_cli_more_case")
    monkeypatch.chdir(project)
    assert main(["run", "-q"]) == 0
    assert bench_ran.exists() and more_ran.exists() and not tests_ran.exists()


def test_run_names_the_ini_file_of_a_missing_suite(tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path / "project", "pyproject.toml", {"myriad_suite": '["benchmarks"]'})
    monkeypatch.chdir(project / "sub")
    assert main(["run"]) == 2
    out = capsys.readouterr().out
    assert f"benchmark suite not found: {project / 'benchmarks'}" in out
    assert f"ini option myriad_suite in {project / 'pyproject.toml'}" in out


def test_project_settings_of_this_repository_run_the_benchmarks():
    # The README's Quick start runs `myriad-bench run` here: it must run benchmarks/, not tests/.
    root = Path(__file__).resolve().parents[1]
    settings = project_settings([str(root / "tests")])
    assert settings.rootdir == root and settings.inifile == root / "pyproject.toml"
    assert settings.suite == [root / "benchmarks"] and settings.baselines_dir == root / "baselines"


def test_run_with_test_paths_runs_them_instead_of_the_suite(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", "pytest.ini", {"myriad_suite": "bench"})
    suite_ran = suite_file(project / "bench", "test_cli_whole_suite", passes=False)
    named_ran = suite_file(project / "bench" / "one", "test_cli_named_module")
    monkeypatch.chdir(project)
    assert main(["run", "-q", "bench/one/test_cli_named_module.py"]) == 0
    assert named_ran.exists() and not suite_ran.exists()
