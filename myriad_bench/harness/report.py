"""Reports of a session's baseline checks: terminal table, report.json, report.md and PNG curves.

Everything here reads :class:`~myriad_bench.harness.records.CaseRecord` only (records made on
xdist workers come back as records too), so reports look the same however the session ran.
report.json holds each record as ``dataclasses.asdict`` makes it. Plots need matplotlib (the
``plots`` extra); without it they are skipped with a note.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from myriad_bench.harness.learning import sees_text
from myriad_bench.harness.messages import number, text_table
from myriad_bench.harness.records import CaseRecord, Curve

__all__ = [
    "REPORT_FORMAT_VERSION",
    "ReportFiles",
    "markdown_report",
    "plot_case",
    "summary_rows",
    "table_lines",
    "write_report",
]

REPORT_FORMAT_VERSION = 1
COLUMNS = (
    "case",
    "seeds",
    "baseline",
    "obtained",
    "Δ%",
    "verdict",
    "sees",
    "mode",
    "env-steps/s",
    "speed Δ%",
    "speed",
)


def _plus_minus(point: float | None, interval: Sequence[float] | None) -> str:
    if point is None:
        return "—"
    if not interval:
        return number(point)
    half = (interval[1] - interval[0]) / 2.0
    return f"{number(point)} ± {number(half, 2)}"


def _steps_per_s(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _delta_pct(record: CaseRecord) -> str:
    base, rel, ci = record.final_return_baseline, record.relative_delta, record.delta_ci
    if rel is None or base in (None, 0):
        return "—"
    text = f"{rel:+.1%}"
    if ci and all(math.isfinite(bound) for bound in ci):
        text += f" [{ci[0] / abs(base):+.1%}, {ci[1] / abs(base):+.1%}]"
    return text


def _speed_delta(record: CaseRecord) -> str:
    ratio = record.speed.ratio if record.speed else None
    return "—" if ratio is None else f"{ratio - 1.0:+.1%}"


def _sorted(records: Iterable[CaseRecord]) -> list[CaseRecord]:
    return sorted(records, key=lambda r: (r.case, r.nodeid))


def summary_rows(records: Iterable[CaseRecord]) -> list[dict[str, str]]:
    """One row of strings per record, keyed by :data:`COLUMNS`, sorted by case."""
    return [
        {
            "case": record.case,
            "seeds": str(len(record.seeds)) if record.seeds else "—",
            "baseline": _plus_minus(record.final_return_baseline, record.final_return_baseline_ci),
            "obtained": _plus_minus(record.final_return_obtained, record.final_return_obtained_ci),
            "Δ%": _delta_pct(record),
            "verdict": record.label,
            "sees": sees_text(record.detectable_drop) if record.decisions else "—",
            "mode": record.mode or "—",
            "env-steps/s": _steps_per_s(record.speed.env_steps_per_s if record.speed else None),
            "speed Δ%": _speed_delta(record),
            "speed": record.speed.verdict if record.speed else "—",
        }
        for record in _sorted(records)
    ]


def table_lines(rows: list[dict[str, str]]) -> list[str]:
    """The summary as a plain aligned text table (header first)."""
    return text_table(COLUMNS, [[row[c] for c in COLUMNS] for row in rows])


def markdown_report(
    records: Sequence[CaseRecord],
    *,
    unused: Sequence[str] = (),
    notes: Sequence[str] = (),
    plots: Sequence[str] = (),
) -> str:
    """The report as Markdown (also what goes to ``$GITHUB_STEP_SUMMARY``)."""
    rows = summary_rows(records)
    bad = [r for r in records if r.failing]
    lines = [
        "## myriad-bench",
        "",
        f"{len(rows)} case{'s' if len(rows) != 1 else ''} checked, {len(bad)} failing. "
        "Final evaluation return: mean ± half-width of its confidence interval; "
        "Δ% relative to the baseline, with the interval of the difference; sees: the smallest drop "
        "the comparison would flag (95% power).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    verdict = COLUMNS.index("verdict")
    for row, record in zip(rows, _sorted(records), strict=True):
        cells = [row[c].replace("|", "\\|") for c in COLUMNS]
        if record.failing:
            cells[verdict] = f"**{cells[verdict]}**"
        lines.append("| " + " | ".join(cells) + " |")
    failing = [r for r in _sorted(records) if r.failing and r.message]
    if failing:
        lines += ["", "### Failures", ""]
        for record in failing:
            lines += [
                f"<details><summary>{record.case} — {record.label}</summary>",
                "",
                "```",
                record.message,
                "```",
                "</details>",
                "",
            ]
    if plots:
        lines += ["", "### Learning curves", ""]
        lines += [f"![{Path(name).stem}]({quote(name)})" for name in plots]
    if unused:
        lines += ["", "### Unused baselines", "", *(f"- `{case}`" for case in unused)]
    if notes:
        lines += ["", *(f"_{note}_" for note in notes)]
    return "\n".join(lines) + "\n"


def _series(curves: dict[int, Curve]) -> list[tuple[int, list[float], list[float]]]:
    return [(seed, c.steps, c.mean_return) for seed, c in sorted(curves.items())]


def plot_case(record: CaseRecord, path: Path) -> bool:
    """Write the learning curve of one case with the baseline's band; ``False`` if there is no curve.

    Raises ``ImportError`` when matplotlib is missing.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    obtained = _series(record.obtained_curves)
    if not obtained or max(len(steps) for _, steps, _ in obtained) < 2:
        return False
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    baseline = _series(record.baseline_curves)
    lengths = {len(steps) for _, steps, _ in baseline}
    if baseline and len(lengths) == 1:
        steps = np.asarray(baseline[0][1])
        values = np.asarray([v for _, _, v in baseline], dtype=float)
        axes.fill_between(
            steps, values.min(0), values.max(0), color="0.6", alpha=0.35, label="baseline (seed range)"
        )
        axes.plot(steps, values.mean(0), color="0.3", linestyle="--", label="baseline mean")
    for _seed, steps, values in obtained:
        axes.plot(steps, values, color="tab:blue", alpha=0.35, linewidth=1)
    if len({len(s) for _, s, _ in obtained}) == 1:
        values = np.asarray([v for _, _, v in obtained], dtype=float)
        axes.plot(obtained[0][1], values.mean(0), color="tab:blue", linewidth=2, label="obtained mean")
    axes.set_xlabel("steps per env")
    axes.set_ylabel("mean evaluation return")
    axes.set_title(f"{record.case} — {record.label}", fontsize=10)
    axes.legend(loc="best", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote, and notes on what it skipped."""

    json: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_report(
    directory: Path | str,
    records: Sequence[CaseRecord],
    *,
    unused: Sequence[str] = (),
    settings: dict[str, Any] | None = None,
) -> ReportFiles:
    """Write ``report.json``, ``report.md`` and one ``<case>.png`` per training case into ``directory``.

    The Markdown is also appended to ``$GITHUB_STEP_SUMMARY`` when that variable is set.
    """
    from myriad_bench.store.atomic import atomic_write_bytes

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    plots: list[Path] = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        notes.append(
            "learning-curve plots skipped: matplotlib is not installed (pip install 'myriad-bench[plots]')"
        )
    else:
        for record in records:
            if record.kind != "training":
                continue
            path = directory / f"{record.case}.png"
            if plot_case(record, path):
                plots.append(path)
    payload = {
        "format_version": REPORT_FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": settings or {},
        "cases": [
            {**record.to_dict(), "sees": sees_text(record.detectable_drop) if record.decisions else None}
            for record in _sorted(records)
        ],
        "unused_baselines": list(unused),
        "plots": [p.name for p in plots],
        "notes": notes,
    }
    json_path = directory / "report.json"
    atomic_write_bytes(json_path, json.dumps(_jsonable(payload), indent=2).encode())
    md_path = directory / "report.md"
    text = markdown_report(records, unused=unused, notes=notes, plots=[p.name for p in plots])
    atomic_write_bytes(md_path, text.encode())
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(text)
    return ReportFiles(json_path, md_path, plots, notes)
