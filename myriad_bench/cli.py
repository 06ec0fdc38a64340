"""The ``myriad-bench`` command.

- ``myriad-bench run [--suite DIR] [pytest args...]``: the benchmark suite with its summary.
- ``myriad-bench compare RUN_DIR BASELINE_DIR``: check saved runs against a baseline folder with
  the same engine and message as the ``baseline`` fixture; exit 0 when it passes, 1 when not.
- ``myriad-bench baselines list [--dir DIR]``: the stored cases, one row per platform (CPU,
  digest, seeds, final return, speed); a case that cannot be read is an ERROR row.
- ``myriad-bench baselines migrate [--dir DIR]``: rewrite format 1 cases as format 2 in place,
  their runs byte for byte, the sha256 of every file recorded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_PASS, _FAIL, _ERROR = 0, 1, 2


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the benchmark suite against the committed baselines."""
    import pytest  # only this command runs pytest; the others must not pay for importing it

    suite = Path(args.suite)
    if not suite.exists():
        print(
            f"myriad-bench: benchmark suite not found: {suite} (run from the repository root or pass --suite)"
        )
        return 2
    return int(pytest.main([str(suite), "-p", "no:cacheprovider", *extra]))


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
    root = Path(args.dir)
    if not root.is_dir():
        print(f"myriad-bench baselines: no baselines folder at {root}", file=sys.stderr)
        return _ERROR
    return _baselines_migrate(root) if args.action == "migrate" else _baselines_list(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="myriad-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark suite (extra arguments go to pytest)")
    run.add_argument(
        "--suite", default="benchmarks", help="folder of the benchmark suite (default: benchmarks)"
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
        action.add_argument("--dir", default="baselines", help="baselines folder (default: baselines)")

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
