"""``--myriad-baselines-dir`` (ini ``myriad_baselines_dir``): where baselines are read and written."""

from __future__ import annotations

CASE = "test_demo_suite.test_controller"  # the case of the project's training test
# Speed only reported, as Project.run does: a millisecond case on a loaded machine is no speed test.
REPORT_SPEED = ("-p", "no:cacheprovider", "-o", "myriad_speed=report")


def test_option_directs_reads_writes_and_the_update_command(project):
    result = project.run("--myriad-baselines-dir=elsewhere")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*--myriad-update-baselines --myriad-baselines-dir {project.root}/elsewhere*"]
    )
    project.run("--myriad-baselines-dir=elsewhere", "--myriad-update-baselines").assert_outcomes(passed=1)
    assert project.baseline_dir(root="elsewhere").is_dir()
    assert not (project.root / "baselines").exists()
    project.run("--myriad-baselines-dir=elsewhere").assert_outcomes(passed=1)


def test_ini_path_is_relative_to_the_ini_file(project):
    project.pytester.makeini("[pytest]\nmyriad_baselines_dir = ref/baselines\n")
    project.run("--myriad-update-baselines").assert_outcomes(passed=1)
    assert (project.root / "ref" / "baselines" / CASE / "baseline.yaml").is_file()
    sub = project.root / "sub"
    sub.mkdir()
    result = project.pytester.runpytest_inprocess(
        *REPORT_SPEED, str(project.root), "--rootdir", str(project.root)
    )
    result.assert_outcomes(passed=1)


def test_a_run_from_a_subfolder_uses_the_rootdirs_store_and_warns_without_an_ini(project, monkeypatch):
    project.run("--myriad-update-baselines").assert_outcomes(passed=1)
    sub = project.root / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    result = project.pytester.runpytest_inprocess(*REPORT_SPEED, str(project.root))
    result.assert_outcomes(passed=1)
    assert not (sub / "baselines").exists()
    result.stdout.fnmatch_lines(
        [f"myriad-bench: baselines {project.root}/baselines, *", "myriad-bench: warning: no ini file, *"]
    )
    project.pytester.makeini("[pytest]\n")
    pinned = project.pytester.runpytest_inprocess(*REPORT_SPEED, str(project.root))
    pinned.assert_outcomes(passed=1)
    assert "warning: no ini file" not in pinned.stdout.str()
