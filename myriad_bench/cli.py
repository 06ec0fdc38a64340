"""The ``myriad-bench`` command.

- ``myriad-bench run [--suite DIR] [pytest args...]``: the benchmark suite with its summary; the
  suite is ini option ``myriad_suite``, else ``testpaths``, of the project's pytest configuration
  (test paths among the pytest arguments run instead of it).
- ``myriad-bench compare RUN_DIR BASELINE_DIR``: check saved runs against a baseline folder with
  the same engine and message as the ``baseline`` fixture; exit 0 when it passes, 1 when not.
- ``myriad-bench baselines list [--dir DIR]``: the stored cases, one row per platform (CPU,
  digest, seeds, final return, speed); a case that cannot be read is an ERROR row.
- ``myriad-bench baselines migrate [--dir DIR]``: rewrite format 1 cases as format 2 in place,
  their runs byte for byte, the sha256 of every file recorded.

Without ``--suite`` / ``--dir`` the commands read the pytest configuration pytest would read here
(rootdir, ini file, ini options: :func:`project_settings`), so they find the same suite and the
same baselines as ``python -m pytest`` does, from any folder of the project.
"""

from __future__ import annotations

import argparse
import glob
import sys
from dataclasses import dataclass
from pathlib import Path

_PASS, _FAIL, _ERROR = 0, 1, 2


@dataclass(frozen=True)
class ProjectSettings:
    """What the pytest configuration of a project says about its benchmarks, resolved as the plugin
    resolves it (see :func:`project_settings`)."""

    rootdir: Path
    inifile: Path | None
    baselines_dir: Path
    suite: list[Path]
    """The benchmark suite: ini ``myriad_suite``, else ``testpaths``; empty when neither is set."""
    suite_source: str
    """Where :attr:`suite` came from, for messages (``ini option myriad_suite in <file>``)."""
    paths_given: bool = False
    """Whether the pytest arguments name test paths themselves (then they, not the suite, run)."""


def project_settings(pytest_args: list[str] | None = None) -> ProjectSettings:
    """The rootdir, ini file, baselines folder and suite that ``pytest <pytest_args>`` would use here.

    pytest itself parses the command line and finds the rootdir and ini file (``pyproject.toml``,
    ``pytest.ini``, ``tox.ini``, ``setup.cfg``), with every installed plugin and the initial
    conftests loaded, so ``-c``, ``--rootdir``, ``-o name=value`` and ini defaults behave as in a
    test run. Raises ``pytest.UsageError`` for a command line or setting pytest refuses.
    """
    # Imported here: only the commands that read the configuration pay for pytest and its plugins.
    from _pytest.config import _prepareconfig  # what pytest.main calls; public API has no parse-only

    from myriad_bench.harness.session import MyriadSession

    config = _prepareconfig(["-p", "no:cacheprovider", *(pytest_args or [])])
    try:
        # The plugin's own session object resolves the store: one rule for the CLI and the plugin.
        baselines_dir = MyriadSession(config).store.root
        rootdir, inifile = config.rootpath, config.inipath
        ini_base = inifile.parent if inifile is not None else rootdir
        where = f" in {inifile}" if inifile is not None else ""
        suite_names, source = list(config.getini("myriad_suite")), f"ini option myriad_suite{where}"
        suite = [Path(ini_base, name).resolve() for name in suite_names]
        if not suite:
            # pytest's rule for testpaths: relative to the rootdir, with glob patterns.
            suite_names, source = list(config.getini("testpaths")), f"ini option testpaths{where}"
            suite = [Path(rootdir, name).resolve() for name in suite_names]
        paths_given = config.args_source == config.ArgsSource.ARGS
        return ProjectSettings(
            rootdir, inifile, baselines_dir, suite, source if suite else "", paths_given=paths_given
        )
    finally:
        config._ensure_unconfigure()


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the benchmark suite against the committed baselines."""
    import pytest  # only this command runs pytest; the others must not pay for importing it

    settings = None
    if args.suite is not None:
        suite, source = [Path(args.suite)], "--suite"
    else:
        # Reading the configuration loads every plugin (seconds): only when --suite does not say.
        try:
            settings = project_settings(extra)
        except pytest.UsageError as error:
            print(f"myriad-bench run: {error}", file=sys.stderr)
            return int(pytest.ExitCode.USAGE_ERROR)
        if settings.paths_given:  # `myriad-bench run benchmarks/test_training.py -k ppo`
            suite, source = [], "the command line"
        else:
            suite, source = settings.suite, settings.suite_source
    paths: list[str] = []
    for path in suite:
        matches = sorted(glob.glob(str(path), recursive=True)) if glob.has_magic(str(path)) else []
        if not (matches or path.exists()):
            print(
                f"myriad-bench: benchmark suite not found: {path} (from {source}; "
                "set ini option myriad_suite or testpaths, or pass --suite)"
            )
            return 2
        paths.extend(matches or [str(path)])
    if settings is not None and not suite and not settings.paths_given:
        print(
            "myriad-bench: no ini option myriad_suite or testpaths "
            f"({settings.inifile or 'no ini file'}): running pytest on its default paths"
        )
    return int(pytest.main([*paths, "-p", "no:cacheprovider", *extra]))


def _run_fingerprint(run_dir: Path) -> dict | None:
    """The platform fingerprint recorded with a run (``None`` when the run dir has none)."""
    from myriad_bench.store.rundir import read_run_metadata

    candidates = [run_dir] if (run_dir / "results.pkl").is_file() else sorted(run_dir.glob("seed-*"))
    for candidate in candidates:
        try:
            return read_run_metadata(candidate).get("fingerprint")
        except (FileNotFoundError, RuntimeError):
            continue
    return None


def _compare(args: argparse.Namespace) -> int:
    from myriad_bench.harness.baseline_store import BaselineError, read_baseline_dir, read_run_dirs
    from myriad_bench.harness.check import CheckOptions, check_results

    baseline_dir, run_dir = Path(args.baseline_dir), Path(args.run_dir)
    try:
        options = CheckOptions(compare=args.compare, alpha=args.alpha, margin=args.margin)
        stored = read_baseline_dir(baseline_dir)
        runs = read_run_dirs(run_dir, kind=stored.kind)
    except (BaselineError, ValueError) as error:
        print(f"myriad-bench compare: {error}", file=sys.stderr)
        return _ERROR
    record = check_results(
        stored.case,
        runs,
        stored,
        options=options,
        fingerprint=_run_fingerprint(run_dir),
        update_command=f"python -m pytest <the test of case {stored.case}> --myriad-update-baselines",
    )
    if record.passed:
        print(f"case '{stored.case}' passed ({record.label}): {record.message}")
        for decision in record.decisions:
            print(f"  {decision.describe()}")
        return _PASS
    print(record.message)
    return _FAIL


_COLUMNS = ("case", "kind", "platform", "seeds", "final return", "speed", "created")


def _speed_text(speed: object) -> str:
    if speed is None:
        return ""
    rate, spread, rounds = speed.env_steps_per_s, speed.spread, speed.rounds  # type: ignore[attr-defined]
    return f"{rate:,.0f} steps/s ±{spread:.0%} ({rounds} rounds)"


def _baseline_rows(root: Path) -> list[list[str]]:
    """One row per platform of each stored case (see ``_COLUMNS``); a case that cannot be read
    has one row of kind ``ERROR`` whose last column says why."""
    import numpy as np

    from myriad_bench.harness.baseline_store import BaselineError, BaselineStore
    from myriad_bench.harness.messages import number

    store = BaselineStore(root)
    rows = []
    for case in store.cases():
        try:
            baseline = store.read(case)
        except BaselineError as error:
            rows.append([case, "ERROR", "", "", "", "", str(error)])
            continue
        for index, platform in enumerate(baseline.platforms):
            finals = [curves.final_return for curves in platform.curves().values()]
            rows.append(
                [
                    case if index == 0 else "",
                    baseline.kind if index == 0 else "",
                    platform.describe(),
                    ",".join(str(s) for s in platform.seeds),
                    number(float(np.mean(finals))) if finals else "—",
                    _speed_text(platform.speed),
                    (baseline.meta.created or "") if index == 0 else "",
                ]
            )
    return rows


def _baselines_list(root: Path) -> int:
    from myriad_bench.harness.messages import text_table

    rows = _baseline_rows(root)
    if not rows:
        print(f"no baselines in {root}")
        return _PASS
    print("\n".join(text_table(_COLUMNS, rows)))
    return _ERROR if any(row[1] == "ERROR" for row in rows) else _PASS


def _baselines_migrate(root: Path) -> int:
    """Rewrite format 1 cases as format 2 in place, their runs byte for byte."""
    from myriad_bench.harness.baseline_store import BaselineError, BaselineStore

    store = BaselineStore(root)
    failed = 0
    for case in store.cases():
        try:
            print(f"{case}: {store.migrate(case).message}")
        except BaselineError as error:
            failed += 1
            print(f"{case}: ERROR: {error}")
    return _ERROR if failed else _PASS


def _baselines(args: argparse.Namespace) -> int:
    if args.dir is not None:
        root, source = Path(args.dir), "--dir"
    else:
        import pytest

        try:
            settings = project_settings()
        except pytest.UsageError as error:
            print(f"myriad-bench baselines: {error}", file=sys.stderr)
            return _ERROR
        root = settings.baselines_dir
        source = (
            f"ini option myriad_baselines_dir in {settings.inifile}"
            if settings.inifile
            else f"no ini file; rootdir {settings.rootdir}"
        )
    if not root.is_dir():
        print(f"myriad-bench baselines: no baselines folder at {root} (from {source})", file=sys.stderr)
        return _ERROR
    return _baselines_migrate(root) if args.action == "migrate" else _baselines_list(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="myriad-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark suite (extra arguments go to pytest)")
    run.add_argument(
        "--suite",
        default=None,
        help="folder of the benchmark suite (default: ini option myriad_suite, else testpaths)",
    )
    compare = sub.add_parser("compare", help="check saved runs against a baseline folder")
    compare.add_argument(
        "run_dir", metavar="RUN_DIR", help="a saved run dir, or a folder of seed-<k>/ run dirs"
    )
    compare.add_argument("baseline_dir", metavar="BASELINE_DIR", help="a baseline folder (baselines/<case>)")
    compare.add_argument("--compare", choices=("auto", "exact", "stat"), default="auto")
    compare.add_argument("--alpha", type=float, default=0.01, help="risk of a false regression verdict")
    compare.add_argument(
        "--margin", type=float, default=0.05, help="tolerated regression, fraction of |baseline|"
    )
    baselines = sub.add_parser("baselines", help="inspect the stored baselines")
    baselines_sub = baselines.add_subparsers(dest="action", required=True)
    listing = baselines_sub.add_parser("list", help="list the stored cases and their platforms")
    migrate = baselines_sub.add_parser(
        "migrate", help="rewrite format 1 cases as format 2 (runs kept byte for byte, digests recorded)"
    )
    for action in (listing, migrate):
        action.add_argument(
            "--dir",
            default=None,
            help="baselines folder (default: the plugin's, from ini option myriad_baselines_dir)",
        )

    args, extra = parser.parse_known_args(argv)
    if args.command == "run":
        return _run(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "compare":
        return _compare(args)
    if args.command == "baselines":
        return _baselines(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
