"""The text a user reads: failure messages of a check, the one table builder, the one number format.

A failure reads like a diagnosis: what was compared and how, obtained against the baseline
per seed, the size of the difference, and at the end the exact command that updates the
baseline. The fixture, ``myriad-bench compare`` and the reports all show these texts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from myriad_bench.harness.curves import RunCurves
from myriad_bench.harness.records import Difference, Kind, SpeedRecord
from myriad_bench.harness.stats import Decision

__all__ = [
    "claimed",
    "comparison_failed",
    "config_differs",
    "kind_differs",
    "missing_baseline",
    "number",
    "passed",
    "refused_baseline",
    "speed_text",
    "text_table",
    "update_hint",
]


def number(value: float | None, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits; ``—`` for a missing or NaN value."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.{digits}g}"


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: Literal["left", "right"] = "left",
    indent: str = "",
) -> list[str]:
    """An aligned plain-text table, header line first; columns two spaces apart."""
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    pad = str.ljust if align == "left" else str.rjust
    return [
        indent + "  ".join(pad(str(cell), width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]


def update_hint(update_command: str) -> str:
    """The closing lines of a failure: how to accept the change."""
    if not update_command:
        return ""
    return f"\n\nIf the change is intended, update the baseline with:\n  {update_command}"


def _header(case: str) -> str:
    return f"baseline check failed for case '{case}'"


def missing_baseline(case: str, expected: Path | None, update_command: str) -> str:
    where = f" (expected {expected})" if expected is not None else ""
    create = f"\nCreate it with:\n  {update_command}" if update_command else ""
    return f"no baseline for case '{case}'{where}.{create}"


def refused_baseline(case: str, problem: str, update_command: str) -> str:
    return (
        f"refused to use the baseline of case '{case}':\n  {problem}\n"
        "Nothing was run. Fix or delete the file, or rewrite the baseline with:\n"
        f"  {update_command}"
    )


def claimed(case: str, owner: str) -> str:
    return f"case '{case}' is already written in this run by {owner}; give one of the checks another name=..."


def kind_differs(case: str, where: Path | None, stored: Kind, obtained: Kind, update_command: str) -> str:
    return (
        f"{_header(case)}: the baseline at {where} holds {stored} results, this test produced "
        f"{obtained} results.{update_hint(update_command)}"
    )


def _differences(differences: Sequence[Difference]) -> list[str]:
    def shown(value: object, absent: bool) -> str:
        return "(absent)" if absent else repr(value)

    return [
        f"  {d.field}: baseline {shown(d.baseline, d.absent == 'baseline')}, "
        f"now {shown(d.current, d.absent == 'current')}"
        for d in differences
    ]


def config_differs(
    case: str, differences: Sequence[Difference], stored_config: Path, update_command: str
) -> str:
    count = len(differences)
    return (
        f"{_header(case)}: the config differs from the baseline's ({count} field"
        f"{'s' if count != 1 else ''}, seeds aside):\n" + "\n".join(_differences(differences)) + "\n"
        f"  (baseline config: {stored_config}){update_hint(update_command)}"
    )


def summary_line(mode: str, reason: str, seeds: int, episodes: int) -> str:
    """What a comparison looked at: ``exact comparison (why); 3 seeds × 32 evaluation episodes``."""
    return (
        f"{mode} comparison ({reason}); {seeds} seed{'s' if seeds != 1 else ''} × {episodes} "
        "evaluation episodes"
    )


def per_seed_table(base: Mapping[int, RunCurves], new: Mapping[int, RunCurves], kind: Kind) -> str:
    """Final return (and, for training, area under the curve) per seed and their mean, both sides."""
    columns: list[tuple[str, str]] = [("final", "final_return")]
    if kind == "training":
        columns.append(("AUC", "auc"))
    header = ["seed"]
    for short, _ in columns:
        suffix = "" if short == "final" else f" {short}"
        header += [f"baseline {short}", f"obtained {short}", f"Δ{suffix}"]

    def cells(b: float | None, n: float | None) -> list[str]:
        return [number(b), number(n), number(n - b) if b is not None and n is not None else "—"]

    rows = []
    for seed in sorted(set(base) | set(new)):
        row = [str(seed)]
        for _, attr in columns:
            b, n = base.get(seed), new.get(seed)
            row += cells(getattr(b, attr) if b else None, getattr(n, attr) if n else None)
        rows.append(row)
    mean_row = ["mean"]
    for _, attr in columns:
        b_mean = float(np.mean([getattr(c, attr) for c in base.values()]))
        n_mean = float(np.mean([getattr(c, attr) for c in new.values()]))
        mean_row += cells(b_mean, n_mean)
    rows.append(mean_row)
    return "\n".join(text_table(header, rows, align="right", indent="  "))


def _seeds_advice(decisions: Sequence[Decision]) -> list[str]:
    """How many seeds would see drops of 20% and 10% (per metric), for an inconclusive verdict."""
    lines = []
    for decision in decisions:
        wants = [(0.2, decision.seeds_for_20), (0.1, decision.seeds_for_10)]
        told = [f"{n} seeds would see {drop:.0%}" for drop, n in wants if n is not None]
        if told:
            lines.append(f"  {decision.metric}: {', '.join(told)} (baseline and run alike)")
    return lines


def speed_text(speed: SpeedRecord) -> str:
    """One line: both rates, the ratio, the rounds, and the verdict's reason."""
    mine, theirs = number(speed.env_steps_per_s, 5), number(speed.baseline_env_steps_per_s, 5)
    rates = f"{mine} env-steps/s against the baseline's {theirs}"
    ratio = f" ({speed.ratio:.2f}x)" if speed.ratio is not None else ""
    rounds = f"; {speed.rounds} round{'s' if speed.rounds != 1 else ''} vs {speed.baseline_rounds}"
    return f"speed: {speed.verdict}: {rates}{ratio}{rounds}" + (f" — {speed.reason}" if speed.reason else "")


def passed(summary: str, decisions: Sequence[Decision], label: str, speed: SpeedRecord | None) -> str:
    """A passed check: what was compared; an inconclusive verdict and a speed warning said out loud."""
    parts = [summary]
    if label == "inconclusive":
        parts.append("inconclusive (passes; --myriad-strict fails it): the comparison cannot tell")
        parts += [f"  {d.describe()}" for d in decisions]
        parts += _seeds_advice(decisions)
    if speed is not None and speed.verdict not in ("not comparable",):
        parts.append(speed_text(speed))
    if speed is not None and speed.warning:
        parts.append(f"warning: {speed.warning}")
    return "\n".join(parts)


def comparison_failed(
    case: str,
    summary: str,
    table: str,
    problems: Sequence[str],
    decisions: Sequence[Decision],
    fingerprint_differences: Sequence[Difference],
    baseline_at: str,
    update_command: str,
    *,
    differences: Sequence[Difference] = (),
    config_file: Path | None = None,
    speed: SpeedRecord | None = None,
    strict: bool = False,
    saved_agents: Sequence[str] = (),
) -> str:
    """A failed check: a config difference (the returns still shown below it), the per-seed table,
    what did not reproduce, the verdicts with what they could see, a slower speed, the platform."""
    parts = [f"{_header(case)} — {summary}", ""]
    if differences:
        count = len(differences)
        parts += [
            f"the config differs from the baseline's ({count} field{'s' if count != 1 else ''}, seeds aside):"
        ]
        parts += _differences(differences)
        if config_file is not None:
            parts.append(f"  (baseline config: {config_file})")
        parts += ["", "the returns, for diagnosis (a different config is not expected to match):"]
    if saved_agents:
        parts.append("saved agents (each seed's final checkpoint, restored onto the current agent):")
        parts += [f"  {problem}" for problem in saved_agents]
        parts.append("")
    parts += [table, ""]
    if problems:
        parts.append("not reproduced within float tolerance:")
        parts += [f"  {p}" for p in problems]
        parts.append("statistical view of the same runs (for diagnosis):")
    parts += [f"  {d.describe()}" for d in decisions]
    if strict:
        parts.append("inconclusive fails under --myriad-strict; more seeds would tell:")
        parts += _seeds_advice(decisions)
    elif any(d.kind == "regression" for d in decisions):
        parts += _seeds_advice([d for d in decisions if d.kind != "regression"])
    if speed is not None:
        parts += ["", speed_text(speed)]
    if fingerprint_differences:
        parts += ["", "platform fingerprint differs from the baseline's:"]
        parts += _differences(fingerprint_differences)
    parts += ["", f"baseline: {baseline_at}"]
    return "\n".join(parts) + update_hint(update_command)


def speed_failed(case: str, speed: SpeedRecord, baseline_at: str, update_command: str) -> str:
    """A speed-only case (or any case under ``--myriad-speed=check``) that got slower."""
    drop = f" by {1 - speed.ratio:.0%}" if speed.ratio is not None and speed.ratio < 1 else ""
    return (
        f"{_header(case)} — the code runs slower{drop}\n\n{speed_text(speed)}\n\nbaseline: {baseline_at}"
        + update_hint(update_command)
    )
