"""The ``myriad-bench`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the benchmark suite against the committed baselines."""
    suite = Path(args.suite)
    if not suite.exists():
        print(
            f"myriad-bench: benchmark suite not found: {suite} (run from the repository root or pass --suite)"
        )
        return 2
    return int(pytest.main([str(suite), "-p", "no:cacheprovider", *extra]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="myriad-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark suite (extra arguments go to pytest)")
    run.add_argument(
        "--suite", default="benchmarks", help="folder of the benchmark suite (default: benchmarks)"
    )
    args, extra = parser.parse_known_args(argv)
    if args.command == "run":
        return _run(args, extra)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
