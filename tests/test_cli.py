"""The ``myriad-bench`` command: compare (same engine and message as the fixture) and baselines list."""

from __future__ import annotations

import pytest
from test_baselines import evaluation_results, training_results

from myriad_bench.cli import main
from myriad_bench.harness.baseline_store import BaselineStore
from myriad_bench.store.fingerprint import platform_fingerprint


@pytest.fixture
def store(tmp_path):
    store = BaselineStore(tmp_path / "baselines")
    store.write("train.case", [training_results(s) for s in (0, 1, 2)], fingerprint=platform_fingerprint())
    store.write("eval.case", [evaluation_results(4)], fingerprint=platform_fingerprint())
    return store


def save_runs(tmp_path, runs, name="run"):
    run_dir = tmp_path / name
    for run in runs:
        run.save(run_dir / f"seed-{run.config.run.seed}")
    return run_dir


def test_compare_reproduced_run_passes_exactly(tmp_path, store, capsys):
    run_dir = save_runs(tmp_path, [training_results(s) for s in (0, 1, 2)])
    assert main(["compare", str(run_dir), str(store.path("train.case"))]) == 0
    out = capsys.readouterr().out
    assert "case 'train.case' passed: exact comparison (same platform fingerprint and seeds)" in out
    assert "final return: no change" in out


def test_compare_single_run_dir_of_an_evaluation(tmp_path, store, capsys):
    run_dir = tmp_path / "ev"
    evaluation_results(4).save(run_dir)
    assert main(["compare", str(run_dir), str(store.path("eval.case"))]) == 0


def test_compare_regression_prints_the_fixture_message_and_fails(tmp_path, store, capsys):
    run_dir = save_runs(tmp_path, [training_results(s, level=40.0) for s in (0, 1, 2)])
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
    run_dir = save_runs(tmp_path, [training_results(s) for s in (0, 1, 2)])
    assert main(["compare", str(run_dir), str(store.path("train.case"))]) == 2
    assert str(target) in capsys.readouterr().err


def test_baselines_list_shows_cases_and_flags_broken_ones(store, capsys):
    assert main(["baselines", "list", "--dir", str(store.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["case", "kind", "seeds", "final", "return", "created"]
    assert lines[1].split()[:3] == ["eval.case", "evaluation", "4"]
    assert lines[2].split()[:3] == ["train.case", "training", "0,1,2"]
    (store.path("eval.case") / "baseline.yaml").write_text("nonsense: true\n")
    assert main(["baselines", "list", "--dir", str(store.root)]) == 2
    assert "ERROR" in capsys.readouterr().out


def test_run_reports_a_missing_suite(tmp_path, capsys):
    assert main(["run", "--suite", str(tmp_path / "nowhere")]) == 2
    assert "benchmark suite not found" in capsys.readouterr().out
