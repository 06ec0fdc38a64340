"""The ``myriad-bench`` command: compare (same engine and message as the fixture), baselines list and
migrate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_baselines import SEEDS, evaluation_results, training_results

from myriad_bench.cli import main
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
    committed = Path(__file__).resolve().parents[1] / "baselines"
    case = "test_evaluation.test_classical-pendulum-pid"
    if not (committed / case).is_dir():
        pytest.skip("no committed baseline")
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
