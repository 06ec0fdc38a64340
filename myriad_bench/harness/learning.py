"""The learning half of a check: per-unit scores of the curves and their verdicts.

A training run's unit is the seed: its score is the mean over evaluation episodes of the final
evaluation (``final``) or of the area under the evaluation curve (``AUC``). An evaluation run's
unit is the episode. Each metric gets a :func:`~myriad_bench.harness.stats.decide` verdict; the
case's level is split evenly over its metrics (Bonferroni), so the chance that a case without a
change reads as a regression stays at most alpha.

The case's verdict: ``regression (final, AUC)`` naming what regressed; else ``improvement``
when a metric improved; else ``no change`` when every metric showed equivalence within the
margin; otherwise ``inconclusive`` (it passes unless ``--myriad-strict``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from myriad_bench.harness import stats
from myriad_bench.harness.curves import RunCurves
from myriad_bench.harness.messages import number
from myriad_bench.harness.records import Kind

__all__ = ["case_verdict", "decisions", "exact_problems", "metrics_of", "sees", "sees_text", "unit_scores"]

_SHORT = {"final": "final", "auc": "AUC"}


def metrics_of(kind: Kind, metric: str = "return") -> dict[str, str]:
    """``{short name: description}`` of the metrics a case of ``kind`` is judged on."""
    if kind == "training":
        return {"final": f"final {metric}", "auc": f"area under the {metric} curve"}
    return {"final": f"episode {metric}"}


def unit_scores(curves: Mapping[int, RunCurves], kind: Kind, name: str) -> np.ndarray:
    """Per-unit scores: one per seed for training (episode-averaged), one per episode for evaluation."""
    ordered = [curves[seed] for seed in sorted(curves)]
    if kind == "evaluation":
        return np.concatenate([c.final_returns for c in ordered])
    values = [c.final_returns if name == "final" else c.auc_returns for c in ordered]
    return np.asarray([float(np.mean(v)) for v in values])


def decisions(
    new: Mapping[int, RunCurves],
    base: Mapping[int, RunCurves],
    kind: Kind,
    *,
    alpha: float,
    margin: float,
    metric: str = "return",
    higher_is_better: bool = True,
    seed: int = 0,
) -> list[stats.Decision]:
    """One verdict per metric of the case, each at ``alpha`` over the number of metrics."""
    names = metrics_of(kind, metric)
    level = alpha / len(names)
    unit = "seeds" if kind == "training" else "episodes"
    return [
        stats.decide(
            unit_scores(new, kind, short),
            unit_scores(base, kind, short),
            alpha=level,
            margin=margin,
            metric=description,
            higher_is_better=higher_is_better,
            seed=seed,
            unit=unit,
        )
        for short, description in names.items()
    ]


def case_verdict(found: Sequence[stats.Decision], kind: Kind) -> str:
    """The case's word from its metrics' verdicts (see the module docstring)."""
    shorts = list(metrics_of(kind))
    regressed = [_SHORT[short] for short, d in zip(shorts, found, strict=True) if d.kind == "regression"]
    if regressed:
        return f"regression ({', '.join(regressed)})"
    kinds = {d.kind for d in found}
    if "improvement" in kinds:
        return "improvement"
    return "no change" if kinds == {"no change"} else "inconclusive"


def sees(found: Sequence[stats.Decision]) -> float | None:
    """The smallest relative drop any metric of the case would flag (``None`` without verdicts)."""
    drops = [d.detectable_drop for d in found]
    return min(drops) if drops else None


def sees_text(drop: float | None) -> str:
    """``≥23%`` for the summary; ``none`` when no drop can be seen, ``—`` without a comparison."""
    if drop is None:
        return "—"
    return f"≥{drop:.0%}" if math.isfinite(drop) else "none"


def exact_problems(
    base: Mapping[int, RunCurves], new: Mapping[int, RunCurves], rtol: float, atol: float
) -> list[str]:
    """What does not reproduce, per seed of ``new`` (the first differing array of each seed); empty
    when all do. ``new`` may hold some of the baseline's seeds (baselines hold ``max_seeds``)."""
    if not set(new) <= set(base):
        return [f"exact comparison needs seeds of the baseline's {sorted(base)}, got {sorted(new)}"]
    problems = []
    for seed in sorted(new):
        b, n = base[seed], new[seed]
        if b.steps.shape != n.steps.shape or not np.array_equal(b.steps, n.steps):
            problems.append(
                f"seed {seed}: evaluated at steps {n.steps.astype(int).tolist()}, baseline at "
                f"{b.steps.astype(int).tolist()}"
            )
            continue
        for label, got, want in (
            ("mean return curve", n.mean_return, b.mean_return),
            ("episode returns", n.episode_returns, b.episode_returns),
        ):
            found = stats.exact_match(got, want, rtol, atol)
            if found.ok:
                continue
            where = ""
            if found.worst_index is not None:
                index = found.worst_index
                obtained, stored = number(float(got[index])), number(float(want[index]))
                where = f"; largest at step {int(b.steps[index[0]])}: obtained {obtained}, baseline {stored}"
            problems.append(
                f"seed {seed}: {label} differ (max |Δ| {number(found.max_abs_diff)}; {found.reason}{where})"
            )
            break
    return problems
