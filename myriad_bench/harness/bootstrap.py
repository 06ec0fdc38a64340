"""Seeded bootstrap intervals of mean returns, and the bootstrap verdict the harness used before.

A small rliable-style surface of plain NumPy functions. Scores are arrays shaped ``(runs,)``
(one number per seed) or ``(runs, episodes)`` (the episode returns of each seed); higher is
better. Intervals come from a seeded two-level bootstrap: runs are resampled with replacement,
then episodes within each resampled run, so the interval reflects both the seed-to-seed and
the episode-to-episode spread (with one run, only the latter). Comparing two groups is
stratified: each group is resampled on its own.

:func:`compare_scores` (a percentile-bootstrap verdict) under-covers at a few seeds: its false
regressions exceed alpha at 3 and 8 seeds (``tests/test_stats_simulation.py``). Decisions go
through :func:`myriad_bench.harness.stats.decide`; it stays until the harness has switched.

>>> verdict = compare_scores([480.0, 500.0, 495.0], [300.0, 310.0, 290.0], alpha=0.01)
>>> verdict.kind, verdict.n
('improvement', 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["Interval", "Verdict", "compare_scores", "interval_estimate"]

VerdictKind = Literal["regression", "no change", "improvement"]

# Bootstrap samples drawn per chunk: bounds memory at about 8 * _CHUNK_ELEMENTS bytes.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap confidence interval."""

    point: float
    low: float
    high: float
    confidence: float
    n: int
    """Number of runs (seeds) behind the estimate."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing obtained scores with baseline scores.

    ``delta`` is obtained minus baseline (of the mean return); ``ci_low``/``ci_high`` bound it
    with confidence ``confidence = 1 - alpha``. ``margin`` is relative to ``|baseline|`` and
    ``margin_abs`` is the same in return units.
    """

    kind: VerdictKind
    delta: float
    ci_low: float
    ci_high: float
    n: int
    """Number of obtained runs (seeds); ``n_baseline`` is the baseline's."""
    n_baseline: int
    baseline: float
    obtained: float
    confidence: float
    margin: float
    margin_abs: float
    metric: str = "return"

    @property
    def relative_delta(self) -> float:
        """``delta / |baseline|`` (``nan`` when the baseline is 0)."""
        return self.delta / abs(self.baseline) if self.baseline else float("nan")

    def describe(self) -> str:
        """One line such as ``regression: Δ -52.1 (99% CI [-80.3, -20.2]), n=3 vs 3 seeds``."""
        pct = self.relative_delta
        pct_text = "" if np.isnan(pct) else f" ({pct:+.1%})"
        margin_text = f", margin {self.margin:.0%} = {self.margin_abs:.3g}" if self.margin else ""
        return (
            f"{self.metric}: {self.kind}: mean {self.obtained:.4g} vs baseline "
            f"{self.baseline:.4g}, Δ {self.delta:+.4g}{pct_text} "
            f"({self.confidence:.0%} CI [{self.ci_low:+.4g}, {self.ci_high:+.4g}]{margin_text}), "
            f"n={self.n} vs {self.n_baseline} seeds"
        )


def _as_runs(scores: Any, what: str) -> np.ndarray:
    """Scores as float64 ``(runs, episodes)``; a 1-D input has one episode per run."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{what} scores must be shaped (runs,) or (runs, episodes), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} scores are empty (shape {array.shape}); at least one run is needed")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} scores contain NaN or infinite values: {array.ravel()[:8]}")
    return array


def _bootstrap(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` bootstrap replicates of the mean of pooled resampled scores, shape ``(reps,)``."""
    runs, episodes = scores.shape
    out = np.empty(reps, dtype=np.float64)
    chunk = max(1, _CHUNK_ELEMENTS // (runs * episodes))
    for start in range(0, reps, chunk):
        size = min(chunk, reps - start)
        run_idx = rng.integers(0, runs, size=(size, runs))
        if episodes > 1:
            episode_idx = rng.integers(0, episodes, size=(size, runs, episodes))
            sample = scores[run_idx[..., None], episode_idx]
        else:
            sample = scores[run_idx]
        out[start : start + size] = sample.reshape(size, -1).mean(axis=-1)
    return out


def _check_common(reps: int, confidence: float) -> None:
    if not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def interval_estimate(scores: Any, reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """The mean of ``scores`` and its percentile bootstrap interval.

    >>> interval_estimate([1.0, 2.0, 3.0, 4.0], confidence=0.9).point
    2.5
    """
    _check_common(reps, confidence)
    data = _as_runs(scores, "the")
    point = float(data.mean())
    replicates = _bootstrap(data, reps, np.random.default_rng(seed))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return Interval(point, float(low), float(high), confidence, data.shape[0])


def compare_scores(
    obtained: Any,
    baseline: Any,
    alpha: float = 0.01,
    margin: float = 0.0,
    reps: int = 2000,
    seed: int = 0,
    *,
    metric: str = "return",
) -> Verdict:
    """Verdict on ``obtained`` versus ``baseline`` scores (higher is better).

    The difference of the means (obtained minus baseline) gets a stratified bootstrap
    interval at confidence ``1 - alpha``. The verdict is ``regression`` when the whole interval
    lies below ``-margin * |baseline|`` (worse, with confidence, by more than the margin),
    ``improvement`` when it lies above ``+margin * |baseline|``, ``no change`` otherwise.
    Seeded: the same data and seed always give the same verdict.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (confidence is 1 - alpha), got {alpha!r}")
    _check_common(reps, 1.0 - alpha)
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (a fraction of |baseline|), got {margin!r}")
    new = _as_runs(obtained, "obtained")
    old = _as_runs(baseline, "baseline")
    new_point = float(new.mean())
    old_point = float(old.mean())
    # Independent streams per group: a group's replicates do not depend on the other's shape.
    new_seq, old_seq = np.random.SeedSequence(seed).spawn(2)
    differences = _bootstrap(new, reps, np.random.default_rng(new_seq)) - _bootstrap(
        old, reps, np.random.default_rng(old_seq)
    )
    low, high = (float(q) for q in np.quantile(differences, [alpha / 2.0, 1.0 - alpha / 2.0]))
    margin_abs = margin * abs(old_point)
    kind: VerdictKind
    if high < -margin_abs:
        kind = "regression"
    elif low > margin_abs:
        kind = "improvement"
    else:
        kind = "no change"
    return Verdict(
        kind=kind,
        delta=new_point - old_point,
        ci_low=low,
        ci_high=high,
        n=new.shape[0],
        n_baseline=old.shape[0],
        baseline=old_point,
        obtained=new_point,
        confidence=1.0 - alpha,
        margin=margin,
        margin_abs=margin_abs,
        metric=metric,
    )
