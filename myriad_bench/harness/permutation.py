"""Studentised permutation tests of two groups of scores, and the interval they imply.

The statistic is Welch's t of the first group's mean minus the second's. Under permutation it
gives an exact test when the two groups are exchangeable (same distribution, whatever its shape:
skewed, bimodal, capped with ties), and, being studentised, stays valid for unequal spreads as
the groups grow (Janssen 1997; Chung & Romano 2013). Splits are enumerated when there are at
most :data:`EXACT_LIMIT` of them, otherwise ``reps`` seeded random splits are drawn; in both
cases split 0 is the observed one, so a p-value is never below ``1 / splits``.

Arrays are shaped ``(..., n)``: leading axes are independent comparisons that share the splits
(simulations test thousands of comparisons in one call).

>>> low, high = welch_pvalues([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
>>> float(low), float(high)   # the observed split is the most extreme of 20
(0.05, 1.0)
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

__all__ = [
    "EXACT_LIMIT",
    "count_splits",
    "effective_level",
    "scaled_baseline",
    "shift_bounds",
    "smallest_p",
    "split_masks",
    "welch_pvalues",
]

EXACT_LIMIT = 20_000
# Comparisons per block x splits bounds the float64 work arrays (~8 bytes x this, times a few).
_BLOCK_ELEMENTS = 2_000_000


def count_splits(n1: int, n2: int, cap: int = EXACT_LIMIT) -> int:
    """``comb(n1 + n2, n1)``, or ``cap + 1`` once it exceeds ``cap`` (never a huge integer)."""
    count = 1
    for k in range(1, min(n1, n2) + 1):
        count = count * (n1 + n2 - k + 1) // k
        if count > cap:
            return cap + 1
    return count


def split_masks(n1: int, n2: int, reps: int, seed: int) -> np.ndarray:
    """Boolean ``(splits, n1 + n2)``: which positions form the first group; row 0 is the observed split."""
    size = n1 + n2
    if count_splits(n1, n2) <= EXACT_LIMIT:
        # combinations() starts with (0, ..., n1 - 1): the observed split comes first.
        chosen = np.array(list(itertools.combinations(range(size), n1)), dtype=np.intp).reshape(-1, n1)
    else:
        rng = np.random.default_rng(seed)
        chosen = np.argsort(rng.random((reps, size)), axis=1)[:, :n1]
        chosen[0] = np.arange(n1)
    masks = np.zeros((chosen.shape[0], size), dtype=bool)
    np.put_along_axis(masks, chosen, True, axis=1)
    return masks


@functools.lru_cache(maxsize=8)
def _split_weights(n1: int, n2: int, reps: int, seed: int) -> np.ndarray:
    """:func:`split_masks` as float64 ``(n1 + n2, splits)``, kept: a decision tests many shifts."""
    weights = np.ascontiguousarray(split_masks(n1, n2, reps, seed).T, dtype=np.float64)
    weights.flags.writeable = False
    return weights


def smallest_p(n1: int, n2: int, reps: int = 4_000) -> float:
    """The smallest one-sided p-value a permutation test of these group sizes can give."""
    splits = count_splits(n1, n2)
    return 1.0 / (splits if splits <= EXACT_LIMIT else reps)


def effective_level(alpha: float, n1: int, n2: int, reps: int = 4_000) -> float:
    """The size the test really has at nominal ``alpha``: p-values are multiples of ``1/splits``.

    0 when no p-value can reach alpha (3 vs 3 seeds at alpha 0.01: 20 splits, p >= 0.05).
    """
    splits = count_splits(n1, n2)
    splits = splits if splits <= EXACT_LIMIT else reps
    return math.floor(alpha * splits * (1 + 1e-12)) / splits


def welch_pvalues(
    first: np.ndarray | list, second: np.ndarray | list, *, reps: int = 4_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One-sided permutation p-values ``(P[T <= t_obs], P[T >= t_obs])`` of Welch's t.

    A small first value says the first group's mean is below the second's; a small second
    value says it is above. ``first`` is ``(..., n1)``, ``second`` ``(..., n2)``.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    n1, n2 = first.shape[-1], second.shape[-1]
    lead = np.broadcast_shapes(first.shape[:-1], second.shape[:-1])
    pooled = np.concatenate(
        [np.broadcast_to(first, (*lead, n1)), np.broadcast_to(second, (*lead, n2))], axis=-1
    ).reshape(-1, n1 + n2)
    # Centring keeps the sums of squares free of cancellation when returns are large and close.
    pooled = pooled - pooled.mean(axis=-1, keepdims=True)
    weights = _split_weights(n1, n2, reps, seed)
    low = np.empty(pooled.shape[0])
    high = np.empty(pooled.shape[0])
    block = max(1, _BLOCK_ELEMENTS // weights.shape[1])
    for start in range(0, pooled.shape[0], block):
        rows = pooled[start : start + block]
        t = _welch_t(rows, weights, n1, n2)
        observed = t[:, :1]
        tol = 1e-9 * (1.0 + np.abs(observed))
        low[start : start + block] = np.count_nonzero(t <= observed + tol, axis=-1) / t.shape[-1]
        high[start : start + block] = np.count_nonzero(t >= observed - tol, axis=-1) / t.shape[-1]
    return low.reshape(lead), high.reshape(lead)


def _welch_t(rows: np.ndarray, weights: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """Welch's t of every split (columns of ``weights``) of every centred row: ``(rows, splits)``.

    Rows are centred, so the second group's sum is minus the first's (up to rounding far below
    the tie tolerance), and both variances follow from the first group's sum and sum of squares.
    """
    s1 = rows @ weights
    q1 = (rows**2) @ weights
    total_sq = (rows**2).sum(axis=-1, keepdims=True)
    d1, d2 = n1 * max(n1 - 1, 1), n2 * max(n2 - 1, 1)
    # var1 / n1 + var2 / n2 = q1 (1/d1 - 1/d2) + Q / d2 - s1^2 (1/(n1 d1) + 1/(n2 d2))
    variance = np.square(s1)
    variance *= -(1.0 / (n1 * d1) + 1.0 / (n2 * d2))
    variance += total_sq / d2
    if d1 != d2:
        variance += q1 * (1.0 / d1 - 1.0 / d2)
    # The floor sits above rounding noise (~1e-8 of the data's range): groups that are constant
    # within themselves still order by their means instead of giving 0/0.
    floor = np.square(1e-7 * np.abs(rows).max(axis=-1, keepdims=True)) + 1e-300
    np.maximum(variance, floor, out=variance)
    np.sqrt(variance, out=variance)
    s1 *= 1.0 / n1 + 1.0 / n2
    s1 /= variance
    return s1


def scaled_baseline(baseline: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """The baseline as the run would be if its mean differed by ``delta`` (a relative change).

    ``delta`` is in the scores' units, relative to the baseline's sample mean ``b``: the baseline
    is scaled by ``1 + delta / b``, so the hypothesis is about the *ratio* of the true means (a
    drop of m of |baseline| for a margin m), and the scaled group has the right spread. Where
    ``b`` is within 3 standard errors of 0 a ratio means little (and its interval would be
    unbounded, Fieller's problem), and the change is a plain shift instead.
    """
    baseline = np.asarray(baseline, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)[..., None]
    n = baseline.shape[-1]
    centre = baseline.mean(axis=-1, keepdims=True)
    error = baseline.std(axis=-1, ddof=min(1, n - 1), keepdims=True) / math.sqrt(n)
    relative = np.abs(centre) > 3.0 * error
    safe = np.where(relative, centre, 1.0)
    return np.where(relative, baseline * (1.0 + delta / safe), baseline + delta)


def shift_bounds(
    obtained: np.ndarray, baseline: np.ndarray, alpha: float, *, reps: int = 4_000, seed: int = 0
) -> tuple[float, float]:
    """Bounds ``(low, high)`` on the change of the mean, each at confidence ``1 - alpha``.

    The test inverted: ``high`` is the smallest change ``d`` for which "the run's mean is at
    least the baseline's plus ``d``" is rejected at ``alpha`` (see :func:`scaled_baseline`),
    ``low`` the mirror; together a ``1 - 2 alpha`` interval, consistent with the verdicts
    (regression exactly when ``high`` lies below ``-margin``). Infinite where the test cannot
    reach alpha at these group sizes.
    """
    n1, n2 = obtained.shape[-1], baseline.shape[-1]
    if effective_level(alpha, n1, n2, reps) == 0:
        return -math.inf, math.inf
    centre = float(obtained.mean() - baseline.mean())
    spread = math.sqrt(obtained.var() / n1 + baseline.var() / n2)
    step = max(spread, 1e-6 * (abs(float(baseline.mean())) + abs(centre)), 1e-12)

    def rejected(delta: float, side: int) -> bool:
        low, high = welch_pvalues(obtained, scaled_baseline(baseline, delta), reps=reps, seed=seed)
        return bool((low if side > 0 else high) <= alpha)

    bounds = []
    for side in (-1, 1):
        inside, outside = centre, None
        for doubling in range(48):  # find a change far enough out to be rejected
            candidate = centre + side * step * 2.0**doubling
            if rejected(candidate, side):
                outside = candidate
                break
            inside = candidate
        if outside is None:
            bounds.append(side * math.inf)
            continue
        # Bisection to 1e-4 of the standard error: single comparisons are the cheap unit here.
        while abs(outside - inside) > 1e-4 * step:
            middle = (inside + outside) / 2.0
            inside, outside = (inside, middle) if rejected(middle, side) else (middle, outside)
        bounds.append(float((inside + outside) / 2.0))
    return bounds[0], bounds[1]
