"""Comparison of returns and rates: decisions calibrated at small n, intervals, curve areas.

Learning (:func:`decide`): per-unit scores (one number per seed of a training run, per episode
of an evaluation) are compared with a studentised permutation test
(:mod:`~myriad_bench.harness.permutation`), exact whatever the shape of the returns when the
groups are exchangeable. With a margin ``m`` (a fraction of ``|baseline mean|``):
``regression`` rejects "not worse by more than m" at level alpha (one-sided), ``improvement``
is its mirror, ``no change`` rejects both "worse by more than m" and "better by more than m"
(equivalence shown, TOST), and ``inconclusive`` is none of these. Each decision says the
smallest drop it could have seen (``detectable_drop``) and the seeds that would see 10% and
20%. Repeated looks spend alpha (:mod:`~myriad_bench.harness.sequential`).

Speed (:func:`decide_speed`): per-round env-steps/s, a one-sided rank test against the
baseline's rounds moved by the margin.

Also kept: the seeded bootstrap interval of a mean (rliable-style, runs then episodes
resampled), the exact check, and the normalised area under a curve. :func:`compare_scores`
(a percentile bootstrap verdict) is the decision the harness used before :func:`decide`; it
under-covers at a few seeds (``tests/test_stats_simulation.py``) and goes once nothing calls it.

>>> decide([480.0, 500.0, 495.0, 490.0, 500.0], [300.0, 310.0, 290.0, 305.0, 295.0],
...        alpha=0.01, margin=0.05, metric="final return").kind
'improvement'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from myriad_bench.harness.bootstrap import Interval, Verdict, compare_scores, interval_estimate
from myriad_bench.harness.permutation import (
    EXACT_LIMIT,
    count_splits,
    effective_level,
    scaled_baseline,
    shift_bounds,
    welch_pvalues,
)
from myriad_bench.harness.rates import SpeedDecision, decide_speed, rate_summary
from myriad_bench.harness.sequential import Look, SequentialPlan, look_levels, spent_alpha

__all__ = [
    "KINDS",
    "Decision",
    "ExactResult",
    "Interval",
    "Look",
    "SequentialPlan",
    "SpeedDecision",
    "Verdict",
    "area_under_curve",
    "auc_weights",
    "compare_scores",
    "decide",
    "decide_kinds",
    "decide_speed",
    "detectable_drop",
    "exact_match",
    "interval_estimate",
    "look_levels",
    "rate_summary",
    "seeds_for",
    "spent_alpha",
]


Kind = Literal["regression", "improvement", "no change", "inconclusive"]
KINDS: tuple[Kind, ...] = ("regression", "improvement", "no change", "inconclusive")
POWER = 0.95
"""The probability with which ``detectable_drop`` is seen."""


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing a run's per-unit scores with the baseline's (see :func:`decide`).

    ``delta`` is obtained minus baseline (means, in the metric's units), ``relative_delta`` the
    same over ``|baseline|``. ``ci_low``/``ci_high`` bound ``delta``, each at confidence
    ``1 - alpha`` (together ``confidence = 1 - 2 alpha``), from the same test as the verdict:
    ``regression`` exactly when the run is worse beyond ``margin_abs`` at the bound.
    ``detectable_drop`` is the smallest relative worsening flagged with probability 0.95
    (``inf``: these n cannot reach alpha); ``seeds_for_10``/``_20`` are the units per side
    (run and baseline alike) that would see 10% / 20% (None when the margin alone is that
    large). ``basis`` says how the verdict was reached; the p-values are the permutation
    test's even where the margin alone decided (both groups constant).
    """

    kind: Kind
    metric: str
    n: int
    n_baseline: int
    obtained: float
    baseline: float
    delta: float
    relative_delta: float
    ci_low: float
    ci_high: float
    p_regression: float
    p_improvement: float
    alpha: float
    margin: float
    margin_abs: float
    higher_is_better: bool
    detectable_drop: float
    seeds_for_10: int | None
    seeds_for_20: int | None
    p_no_change: float = 1.0
    confidence: float = 0.0
    unit: str = "seeds"
    basis: str = ""

    def describe(self) -> str:
        """One line: verdict, means, change, interval, n, and what the comparison could see."""
        pct = "" if math.isnan(self.relative_delta) else f" ({self.relative_delta:+.1%})"
        margin = f", margin ±{self.margin:.0%}" if self.margin else ""
        worse = "drops" if self.higher_is_better else "rises"
        if self.detectable_drop == 0:
            sees = f"sees any {worse[:-1]}"
        elif math.isfinite(self.detectable_drop):
            sees = f"sees {worse} ≥ {self.detectable_drop:.0%}"
        else:
            sees = f"{self.n} vs {self.n_baseline} {self.unit} cannot reach p ≤ {self.alpha:.3g}"
        more = [
            (seeds, drop)
            for seeds, drop in ((self.seeds_for_20, 0.2), (self.seeds_for_10, 0.1))
            if seeds is not None and self.detectable_drop > drop
        ]
        if len(more) == 2 and more[0][0] == more[1][0]:
            more = more[1:]  # the seeds that see 10% see 20% too
        if more:
            first, *rest = more
            sees += f"; {first[0]} {self.unit} would see {first[1]:.0%}"
            sees += "".join(f", {seeds} would see {drop:.0%}" for seeds, drop in rest)
        if math.isfinite(self.ci_low) or math.isfinite(self.ci_high):
            interval = f"{_percent(self.confidence)} CI [{self.ci_low:+.4g}, {self.ci_high:+.4g}]"
        else:
            interval = f"no {_percent(self.confidence)} CI at these n"
        return (
            f"{self.metric}: {self.kind}: mean {self.obtained:.4g} vs baseline {self.baseline:.4g}, "
            f"Δ {self.delta:+.4g}{pct} ({interval}{margin}), "
            f"n={self.n} vs {self.n_baseline} {self.unit}; {sees}"
        )


def _percent(fraction: float) -> str:
    text = f"{fraction:.1%}"
    return text.replace(".0%", "%")


def _units(scores: Any, what: str) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{what} scores must be a non-empty 1-D array (one per unit), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} scores contain NaN or infinite values: {array[:8]}")
    return array


def _check_test(alpha: float, margin: float, reps: int) -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie strictly between 0 and 0.5 (a one-sided level), got {alpha!r}")
    if not (margin >= 0.0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a finite fraction >= 0 of |baseline|, got {margin!r}")
    if not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")


def _constant(groups: np.ndarray) -> np.ndarray:
    """Per row: all values equal (within rounding), with at least two of them."""
    size = np.abs(groups).max(axis=-1)
    return (groups.shape[-1] >= 2) & (np.ptp(groups, axis=-1) <= 1e-12 * size)


def decide_kinds(
    obtained: np.ndarray,
    baseline: np.ndarray,
    *,
    alpha: float,
    margin: float,
    higher_is_better: bool = True,
    reps: int = 4_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The verdicts of many comparisons at once: rows of ``(k, n)`` against rows of ``(k, n_baseline)``.

    Returns ``(kinds, p_regression, p_improvement, p_no_change)``, each ``(k,)``; the verdict
    rule of :func:`decide`, which calls it (simulations call it with thousands of rows).
    """
    _check_test(alpha, margin, reps)
    sign = 1.0 if higher_is_better else -1.0  # in "up" units a larger score is better
    new = sign * np.asarray(obtained, dtype=np.float64)
    old = sign * np.asarray(baseline, dtype=np.float64)
    new, old = np.atleast_2d(new), np.atleast_2d(old)
    margin_abs = margin * np.abs(old.mean(axis=-1))
    # H0 "not worse than the baseline by more than m": the baseline scaled to its boundary.
    p_reg, p_not_worse = welch_pvalues(new, scaled_baseline(old, -margin_abs), reps=reps, seed=seed)
    if margin:
        p_not_better, p_imp = welch_pvalues(new, scaled_baseline(old, margin_abs), reps=reps, seed=seed)
    else:
        p_not_better, p_imp = p_reg, p_not_worse
    p_eq = np.maximum(p_not_worse, p_not_better)
    kinds = np.full(p_reg.shape, "inconclusive", dtype=object)
    kinds[p_eq <= alpha] = "no change"
    kinds[p_imp <= alpha] = "improvement"
    kinds[p_reg <= alpha] = "regression"
    # Both groups constant: the difference carries no sampling noise at all (a deterministic
    # return, or every seed capped at the maximum); the margin alone decides.
    flat = _constant(new) & _constant(old)
    if np.any(flat):
        delta = new.mean(axis=-1) - old.mean(axis=-1)
        slack = margin_abs + 1e-12 * np.abs(old).max(axis=-1)
        flat_kind = np.where(
            delta < -slack, "regression", np.where(delta > slack, "improvement", "no change")
        )
        kinds[flat] = flat_kind[flat]
    return kinds, p_reg, p_imp, p_eq


def detectable_drop(
    spread: float, n: int, n_baseline: int, *, alpha: float, margin: float, scale: float, reps: int = 4_000
) -> float:
    """The smallest relative worsening flagged with probability :data:`POWER` at level ``alpha``.

    ``spread`` is the per-unit standard deviation, ``scale`` ``|baseline mean|``. Normal
    approximation with t quantiles (df ``n + n_baseline - 2``; Welch's t equals the pooled t at
    equal n) at the level the permutation test really has (p-values are multiples of
    1/splits); ``inf`` when it cannot reach alpha at all.
    """
    level = effective_level(alpha, n, n_baseline, reps)
    if level == 0 or not scale > 0 or not math.isfinite(spread):
        return math.inf
    df = max(n + n_baseline - 2, 1)
    quantiles = sps.t.ppf(1.0 - level, df) + sps.t.ppf(POWER, df)
    return margin + float(quantiles) * spread * math.sqrt(1.0 / n + 1.0 / n_baseline) / scale


def seeds_for(
    drop: float, spread: float, *, alpha: float, margin: float, scale: float, reps: int = 4_000
) -> int | None:
    """Units per side (run and baseline alike) for :func:`detectable_drop` to reach ``drop``.

    None when the margin is already ``>= drop`` (nothing smaller than the margin is flagged),
    when the baseline mean is 0, or past a million units.
    """
    if drop <= margin or not scale > 0 or not math.isfinite(spread):
        return None

    def enough(n: int) -> bool:
        return detectable_drop(spread, n, n, alpha=alpha, margin=margin, scale=scale, reps=reps) <= drop

    low, high = 1, 2  # one unit per side never reaches alpha < 0.5 (two splits)
    while not enough(high):
        if high > 1_000_000:
            return None
        low, high = high, high * 2
    while high - low > 1:  # enough at high, not at low
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def decide(
    obtained: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    alpha: float,
    margin: float,
    metric: str,
    higher_is_better: bool = True,
    reps: int = 4_000,
    seed: int = 0,
    unit: str = "seeds",
) -> Decision:
    """Regression, improvement, no change or inconclusive: ``obtained`` against ``baseline``.

    Both are 1-D per-unit scores (a seed's score in training, an episode's return in
    evaluation). Studentised permutation tests (exact up to 20 000 splits, else ``reps``
    seeded random splits) at one-sided level ``alpha``, with the margin ``m`` a fraction of
    ``|baseline mean|``: ``regression`` when "not worse by more than m" is rejected,
    ``improvement`` the mirror, ``no change`` when both "worse by more than m" and "better by
    more than m" are (equivalence, TOST), ``inconclusive`` otherwise. ``higher_is_better=False``
    for costs and lengths. Seeded: the same data give the same decision.

    >>> d = decide([95.0, 97, 96, 98], [100.0, 101, 99, 100], alpha=0.05, margin=0.0, metric="return")
    >>> d.kind, d.n, round(d.relative_delta, 3)
    ('regression', 4, -0.035)
    """
    new, old = _units(obtained, "obtained"), _units(baseline, "baseline")
    kinds, p_reg, p_imp, p_eq = decide_kinds(
        new, old, alpha=alpha, margin=margin, higher_is_better=higher_is_better, reps=reps, seed=seed
    )
    kind: Kind = str(kinds[0])  # type: ignore[assignment]
    n, n_base = new.size, old.size
    mean_new, mean_old = float(new.mean()), float(old.mean())
    delta, scale = mean_new - mean_old, abs(mean_old)
    flat = bool(_constant(new) and _constant(old))
    if flat:
        low, high = delta, delta
        basis = "both groups constant: the margin alone decides"
    else:
        sign = 1.0 if higher_is_better else -1.0
        low, high = shift_bounds(sign * new, sign * old, alpha, reps=reps, seed=seed)
        low, high = (low, high) if higher_is_better else (-high, -low)
        splits = count_splits(n, n_base)
        basis = (
            f"permutation test of Welch's t, all {splits} splits"
            if splits <= EXACT_LIMIT
            else f"permutation test of Welch's t, {reps} random splits (seed {seed})"
        )
    pooled = (n - 1) * new.var(ddof=min(1, n - 1)) + (n_base - 1) * old.var(ddof=min(1, n_base - 1))
    spread = math.sqrt(pooled / (n + n_base - 2)) if n + n_base > 2 else math.nan
    test = {"alpha": alpha, "margin": margin, "scale": scale, "reps": reps}
    return Decision(
        kind=kind,
        metric=metric,
        n=n,
        n_baseline=n_base,
        obtained=mean_new,
        baseline=mean_old,
        delta=delta,
        relative_delta=delta / scale if scale else math.nan,
        ci_low=float(low),
        ci_high=float(high),
        p_regression=float(p_reg[0]),
        p_improvement=float(p_imp[0]),
        alpha=alpha,
        margin=margin,
        margin_abs=margin * scale,
        higher_is_better=higher_is_better,
        detectable_drop=margin if flat else detectable_drop(spread, n, n_base, **test),
        seeds_for_10=seeds_for(0.10, spread, **test),
        seeds_for_20=seeds_for(0.20, spread, **test),
        p_no_change=float(p_eq[0]),
        confidence=1.0 - 2.0 * alpha,
        unit=unit,
        basis=basis,
    )


@dataclass(frozen=True)
class ExactResult:
    """Whether two arrays agree within float tolerance, and where they differ most."""

    ok: bool
    max_abs_diff: float
    worst_index: tuple[int, ...] | None
    reason: str = ""


def exact_match(obtained: Any, baseline: Any, rtol: float = 1e-5, atol: float = 1e-6) -> ExactResult:
    """Element-wise ``|obtained - baseline| <= atol + rtol * |baseline|`` over same-shaped arrays."""
    new = np.asarray(obtained, dtype=np.float64)
    old = np.asarray(baseline, dtype=np.float64)
    if new.shape != old.shape:
        return ExactResult(False, float("inf"), None, f"shapes differ: {new.shape} vs baseline {old.shape}")
    if new.size == 0:
        return ExactResult(True, 0.0, None)
    diff = np.abs(new - old)
    # NaN == NaN counts as equal: a stored NaN reproduced is a reproduction.
    both_nan = np.isnan(new) & np.isnan(old)
    diff = np.where(both_nan, 0.0, diff)
    bad = ~(diff <= atol + rtol * np.nan_to_num(np.abs(old), nan=0.0))
    worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape)
    max_diff = float(np.nan_to_num(diff[worst], nan=np.inf))
    if not bad.any():
        return ExactResult(True, max_diff, tuple(int(i) for i in worst))
    count = int(bad.sum())
    return ExactResult(
        False,
        max_diff,
        tuple(int(i) for i in worst),
        f"{count} of {bad.size} values differ beyond rtol={rtol:g}, atol={atol:g}",
    )


def auc_weights(steps: Sequence[float] | np.ndarray) -> np.ndarray:
    """Trapezoid weights ``w`` (summing to 1) with ``w @ values`` = area under the curve / span.

    With one point the weight is 1: the "area" of a single evaluation is its value.
    """
    x = np.asarray(steps, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"steps must be a non-empty 1-D sequence, got shape {x.shape}")
    if x.size == 1:
        return np.ones(1)
    gaps = np.diff(x)
    if np.any(gaps < 0):
        raise ValueError(f"steps must be non-decreasing, got {x.tolist()}")
    span = x[-1] - x[0]
    if span == 0:
        return np.full(x.size, 1.0 / x.size)
    weights = np.zeros_like(x)
    weights[:-1] += gaps / 2.0
    weights[1:] += gaps / 2.0
    return weights / span


def area_under_curve(steps: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> float:
    """Normalised area under an evaluation curve: the trapezoid integral divided by the step span.

    The result is in return units (the curve's average level), so curves of different lengths
    compare. ``values`` may be ``(evals,)`` or ``(evals, episodes)`` (episodes are averaged).

    >>> area_under_curve([0, 10, 20], [0.0, 10.0, 10.0])
    7.5
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=1)
    weights = auc_weights(steps)
    if y.shape != weights.shape:
        raise ValueError(f"values have shape {y.shape}, expected one value per step {weights.shape}")
    return float(weights @ y)
