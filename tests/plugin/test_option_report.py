"""``--myriad-report=DIR`` (ini ``myriad_report``): report.json, report.md, PNGs, step summary."""

from __future__ import annotations

import json
import shutil

CASE = "test_demo_suite.test_controller"  # the case of the project's training test


def test_report_files_are_written_and_the_summary_appended(updated, monkeypatch):
    summary = updated.root / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = updated.run("--myriad-report=out")
    result.assert_outcomes(passed=1)
    out = updated.root / "out"
    report = json.loads((out / "report.json").read_text())
    (case,) = report["cases"]
    assert case["case"] == CASE
    assert case["verdict"] == "reproduced" and case["mode"] == "exact"
    assert case["nodeid"] == "test_demo_suite.py::test_controller"
    assert case["speed"]["env_steps_per_s"] > 0 and case["speed"]["rounds"] >= 1
    assert set(case["baseline_curves"]) == {str(seed) for seed in range(6)}
    assert report["plots"] == [f"{CASE}.png"]
    assert (out / f"{CASE}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "report.md").read_text()
    assert (
        "| case | seeds | baseline | obtained | Δ% | verdict | sees | mode | env-steps/s | speed Δ% | speed |"
        in markdown
    )
    assert f"| {CASE} | 6 |" in markdown
    assert f"![{CASE}]({CASE}.png)" in markdown  # the plot beside it, linked
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## myriad-bench" in text
    result.stdout.fnmatch_lines(["*report: *out*report.md (1 plots)*"])


def test_report_without_matplotlib_notes_the_skipped_plots(updated, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    updated.pytester.makeini("[pytest]\nmyriad_report = from-ini\n")
    result = updated.run()
    result.assert_outcomes(passed=1)
    out = updated.root / "from-ini"
    assert not list(out.glob("*.png"))
    assert "matplotlib is not installed" in (out / "report.md").read_text()
    result.stdout.fnmatch_lines(["*note: learning-curve plots skipped: matplotlib is not installed*"])


def test_failures_and_unused_baselines_are_in_the_report(updated):
    # A test removed from a collected module leaves its baseline behind; a case of a module that
    # this run did not collect cannot be judged.
    shutil.copytree(updated.baseline_dir(), updated.baseline_dir("test_demo_suite.test_removed"))
    shutil.copytree(updated.baseline_dir(), updated.baseline_dir("test_elsewhere.test_other"))
    updated.weaken()
    result = updated.run("--myriad-report=out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unused baselines in*(no test used them): test_demo_suite.test_removed; *"])
    markdown = (updated.root / "out" / "report.md").read_text()
    assert "**not reproduced**" in markdown
    assert "### Failures" in markdown and "not reproduced within float tolerance" in markdown
    assert "- `test_demo_suite.test_removed`" in markdown
    assert "test_elsewhere" not in markdown
    # A narrowed run cannot tell which baselines are unused: not listed, and an update keeps them.
    narrowed = updated.run("test_demo_suite.py::test_controller")
    assert "unused baselines" not in narrowed.stdout.str()
    updated.run("-k", "controller", "--myriad-update-baselines").assert_outcomes(passed=1)
    assert updated.baseline_dir("test_demo_suite.test_removed").is_dir()
    # An update of the whole suite removes them (syrupy's rule), and says so; a case of a module
    # this run did not collect stays.
    pruned = updated.run("--myriad-update-baselines")
    pruned.assert_outcomes(passed=1)
    pruned.stdout.fnmatch_lines(
        ["*removed unused baselines from*(no test uses them): test_demo_suite.test_removed"]
    )
    assert not updated.baseline_dir("test_demo_suite.test_removed").exists()
    assert updated.baseline_dir("test_elsewhere.test_other").is_dir()
