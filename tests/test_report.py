"""Reports: summary rows, the terminal table, report.json, report.md, PNG curves, step summary."""

from __future__ import annotations

import json
import re
import sys

import pytest
from test_baselines import FINGERPRINT, OTHER_FINGERPRINT, SEEDS, evaluation_results, training_results

from myriad_bench.harness.baseline_store import BaselineStore
from myriad_bench.harness.check import check_results
from myriad_bench.harness.records import CaseRecord, Timing
from myriad_bench.harness.report import markdown_report, summary_rows, table_lines, write_report


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    store = BaselineStore(tmp_path_factory.mktemp("report") / "baselines")
    store.write("a.regressed", [training_results(s) for s in SEEDS], fingerprint=FINGERPRINT)
    store.write("b.same", [training_results(s) for s in SEEDS], fingerprint=FINGERPRINT)
    store.write("c.eval", [evaluation_results(0)], fingerprint=FINGERPRINT)

    def timing(env_steps_per_s: float) -> Timing:
        return Timing(env_steps=int(env_steps_per_s), round_s=(1.0,), compile_s=1.0, compile_cache="compiled")

    worse = check_results(
        "a.regressed",
        [training_results(s, level=50.0) for s in SEEDS],
        store.read("a.regressed"),
        fingerprint=OTHER_FINGERPRINT,
        update_command="CMD",
        nodeid="t.py::a.regressed",
        timing=timing(2.5e6),
    )
    same = check_results(
        "b.same",
        [training_results(s) for s in SEEDS],
        store.read("b.same"),
        fingerprint=FINGERPRINT,
        nodeid="t.py::b.same",
        timing=timing(12_345),
    )
    ev = check_results(
        "c.eval", evaluation_results(0), store.read("c.eval"), fingerprint=FINGERPRINT, nodeid="t.py::c.eval"
    )
    missing = check_results(
        "d.missing", [training_results(0)], None, update_command="CMD", nodeid="t.py::d", timing=timing(10)
    )
    refused = CaseRecord("e.poisoned", "error", "refused: x.pkl", nodeid="t.py::e")
    return [worse, same, ev, missing, refused]


def test_labels_and_rows(records):
    assert [r.label for r in records] == [
        "regression (final, AUC)", "reproduced", "reproduced", "no baseline", "refused",
    ]  # fmt: skip
    rows = {row["case"]: row for row in summary_rows(records)}
    regressed = rows["a.regressed"]
    assert regressed["seeds"] == str(len(SEEDS)) and regressed["mode"] == "stat"
    assert re.fullmatch(r"-(49|50)\.\d% \[-\d+\.\d%, -\d+\.\d%\]", regressed["Δ%"]), regressed["Δ%"]
    assert " ± " in regressed["baseline"] and " ± " in regressed["obtained"]
    assert regressed["env-steps/s"] == "2.50M"
    assert rows["b.same"]["env-steps/s"] == "12.3k"
    assert rows["c.eval"]["seeds"] == "1"
    assert rows["d.missing"]["baseline"] == "—"
    assert rows["e.poisoned"]["verdict"] == "refused"


def test_records_survive_the_xdist_payload_and_json(records):
    for record in records:
        assert CaseRecord.from_dict(record.to_dict()) == record
        # report.json turns seeds (curve keys) into strings and intervals into lists
        assert CaseRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_table_is_aligned(records):
    lines = table_lines(summary_rows(records))
    assert lines[0].split()[:2] == ["case", "seeds"]
    column = lines[0].index("verdict")
    assert all(line[column - 2 : column] == "  " for line in lines)


def test_markdown_has_table_failures_and_unused(records):
    text = markdown_report(records, unused=["z.old"], notes=["a note"])
    assert "| a.regressed | 6 |" in text
    assert "**regression (final, AUC)**" in text and "**no baseline**" in text
    assert "<details><summary>a.regressed — regression (final, AUC)</summary>" in text
    assert "- `z.old`" in text and "_a note_" in text
    assert "b.same — " not in text  # passing cases have no failure section


def test_write_report_files_and_step_summary(records, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    files = write_report(tmp_path / "out", records, unused=["z.old"], settings={"compare": "auto"})
    payload = json.loads(files.json.read_text())
    assert [c["case"] for c in payload["cases"]] == [
        "a.regressed",
        "b.same",
        "c.eval",
        "d.missing",
        "e.poisoned",
    ]
    assert payload["unused_baselines"] == ["z.old"] and payload["settings"] == {"compare": "auto"}
    assert sorted(p.name for p in files.plots) == ["a.regressed.png", "b.same.png", "d.missing.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files.plots)
    assert summary.read_text() == files.markdown.read_text()


def test_write_report_without_matplotlib(records, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    files = write_report(tmp_path, records)
    assert files.plots == []
    assert "matplotlib is not installed" in files.notes[0]
    assert "matplotlib is not installed" in files.markdown.read_text()
