"""Speed decisions: a run's per-round env-steps/s against the baseline's rounds.

``slower`` needs both: the run's median rate below the baseline's median by more than the
margin, *and* the difference beyond the rounds' noise, shown by a one-sided Mann–Whitney U test
(exact when there are no ties) of the run's rates against the baseline's rates moved to the
margin, ``baseline * (1 - margin)``. ``faster`` is the mirror, against ``baseline * (1 + margin)``.
Ranks make the test indifferent to the shape of timing noise (a slow outlier round weighs like
any other slow round). Many rounds are tested as 8 contiguous blocks' medians per side
(:func:`blocks`): round times drift, and neighbouring rounds are not independent.

Fewer rounds: a single round on one side (``--benchmark-disable``, a round over the budget) is
compared with the other side's rounds by a prediction interval on the log rates (Student's t
with that side's spread, ``sqrt(1 + 1/n)`` wide): one short, noisy round slower than the margin
is not ``slower`` unless it also lies outside what the other side's rounds vary by. With a
single round on both sides, or no spread at all, the margin alone decides on the medians. With
so few rounds on both sides that no rank statistic can reach alpha (3 vs 3 rounds: the smallest
one-sided p is 1/20), Welch's t on the log rates stands in (exact for log-normal round times,
the usual shape of timing noise). ``basis`` says which.

>>> decide_speed([70.0, 71, 69, 70, 72], [100.0, 101, 99, 100, 102], margin=0.15).verdict
'slower'
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from myriad_bench.harness.permutation import count_splits

__all__ = ["BLOCKS", "SpeedDecision", "blocks", "decide_speed", "rate_summary", "speed_verdicts"]

SpeedVerdict = Literal["slower", "faster", "no change"]


@dataclass(frozen=True)
class SpeedDecision:
    """The speed verdict of a run: medians of per-round env-steps/s, their ratio, the test's p.

    ``p_value`` is the one-sided p of the direction the median moved (None when the margin
    alone decided); ``basis`` names the test.
    """

    verdict: SpeedVerdict
    env_steps_per_s: float
    baseline_env_steps_per_s: float
    ratio: float
    rounds: int
    baseline_rounds: int
    p_value: float | None
    margin: float
    basis: str
    alpha: float = 0.01

    def describe(self) -> str:
        """One line such as ``slower: 7.0e+04 vs baseline 1.0e+05 env-steps/s (×0.70, -30.0%), ...``."""
        p = f", p={self.p_value:.2g}" if self.p_value is not None else ""
        return (
            f"{self.verdict}: {self.env_steps_per_s:.4g} vs baseline {self.baseline_env_steps_per_s:.4g} "
            f"env-steps/s (×{self.ratio:.3g}, {self.ratio - 1:+.1%}; margin ±{self.margin:.0%}), "
            f"{self.rounds} vs {self.baseline_rounds} rounds; {self.basis}{p}"
        )


def _rates(rates: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(rates, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{what} must be a non-empty 1-D sequence of per-round rates, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{what} must be finite and positive (env-steps/s), got {array[:8].tolist()}")
    return array


def rate_summary(rates: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """``(median, spread)`` of per-round rates; spread is the interquartile range over the median.

    >>> rate_summary([90.0, 100.0, 110.0])
    (100.0, 0.1)
    """
    array = _rates(rates, "rates")
    median = float(np.median(array))
    q1, q3 = np.percentile(array, [25.0, 75.0])
    return median, float(q3 - q1) / median


def _test(run: np.ndarray, reference: np.ndarray, alternative: str, alpha: float) -> tuple[np.ndarray, str]:
    """Per row, the p-value that ``run`` lies below (``less``) or above (``greater``) ``reference``."""
    n1, n2 = run.shape[-1], reference.shape[-1]
    if 1.0 / count_splits(n1, n2, cap=10**9) > alpha:
        logs, reference_logs = np.log(run), np.log(reference)
        result = sps.ttest_ind(logs, reference_logs, axis=-1, equal_var=False, alternative=alternative)
        return np.asarray(result.pvalue), "Welch's t on log rates (too few rounds for a rank test at alpha)"
    pooled = np.sort(np.concatenate([run, reference], axis=-1), axis=-1)
    ties = bool(np.any(pooled[..., 1:] == pooled[..., :-1]))
    method = "asymptotic" if ties else "exact"
    result = sps.mannwhitneyu(run, reference, axis=-1, alternative=alternative, method=method)
    return np.asarray(result.pvalue), f"Mann–Whitney U ({method})"


def _predict(
    run: np.ndarray, reference: np.ndarray, alternative: str, alpha: float
) -> tuple[np.ndarray, str]:
    """Per row, p that one side's single round lies below/above the other side's rounds' log-normal spread."""
    many = run if run.shape[-1] > 1 else reference
    n = many.shape[-1]
    logs = np.log(many)
    scale = logs.std(axis=-1, ddof=1) * math.sqrt(1.0 + 1.0 / n)
    t = (np.log(run).mean(axis=-1) - np.log(reference).mean(axis=-1)) / scale
    p = sps.t.cdf(t, df=n - 1) if alternative == "less" else sps.t.sf(t, df=n - 1)
    return np.asarray(p), "prediction interval of one round from the other side's rounds (t on log rates)"


BLOCKS = 8
"""Rounds are tested as this many contiguous blocks (each its median) per side, at most."""


def blocks(rates: np.ndarray, count: int = BLOCKS) -> np.ndarray:
    """The medians of ``count`` contiguous blocks of rounds (the rounds themselves when fewer).

    Round times drift: on a shared 2-core machine a millisecond program's rounds ran 7.3 ms for
    a few hundred milliseconds, then 11.6 ms, and so on. Neighbouring rounds are not independent
    draws, so a rank test over single rounds finds "significant" changes in that drift; over
    block medians it tests what persists across the timed window.

    >>> blocks(np.array([[1.0, 2.0, 3.0, 10.0, 11.0, 12.0]]), count=2).tolist()
    [[2.0, 11.0]]
    """
    n = rates.shape[-1]
    if n <= count:
        return rates
    edges = np.linspace(0, n, count + 1).round().astype(int)
    return np.stack([np.median(rates[..., a:b], axis=-1) for a, b in itertools.pairwise(edges)], axis=-1)


def speed_verdicts(
    rates: np.ndarray, baseline_rates: np.ndarray, *, margin: float, alpha: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The verdicts of many comparisons at once: rows of ``(k, rounds)`` against ``(k, baseline rounds)``.

    Returns ``(verdicts, p_slower, p_faster, basis)``; the rule of :func:`decide_speed`, which
    calls it (simulations call it with thousands of rows). p-values are NaN where the margin
    alone decides.
    """
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must lie in [0, 1) (a fraction of the baseline's rate), got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie strictly between 0 and 0.5, got {alpha!r}")
    run, base = np.atleast_2d(rates), np.atleast_2d(baseline_rates)
    ratio = np.median(run, axis=-1) / np.median(base, axis=-1)
    run, base = blocks(run), blocks(base)
    below, above = ratio < 1.0 - margin, ratio > 1.0 + margin
    flat = (np.ptp(run, axis=-1) == 0) & (np.ptp(base, axis=-1) == 0)
    p_slow = p_fast = np.full(ratio.shape, np.nan)
    single = (run.shape[-1] == 1) != (base.shape[-1] == 1)
    if run.shape[-1] == 1 and base.shape[-1] == 1:
        basis = "margin alone on the medians (one round each)"
    elif np.all(flat):
        basis = "margin alone on the medians (no spread in the rounds)"
    else:
        with warnings.catch_warnings():  # rows without spread warn; the margin decides them below
            warnings.simplefilter("ignore", RuntimeWarning)
            test = _predict if single else _test
            p_slow, basis = test(run, base * (1.0 - margin), "less", alpha)
            p_fast, _ = test(run, base * (1.0 + margin), "greater", alpha)
        # No spread on either side: nothing to test against, the margin alone decides.
        p_slow, p_fast = np.where(flat, np.nan, p_slow), np.where(flat, np.nan, p_fast)
        below &= flat | (p_slow <= alpha)
        above &= flat | (p_fast <= alpha)
    verdicts = np.where(below, "slower", np.where(above, "faster", "no change"))
    return verdicts, p_slow, p_fast, basis


def decide_speed(
    rates: Sequence[float] | np.ndarray,
    baseline_rates: Sequence[float] | np.ndarray,
    *,
    margin: float,
    alpha: float = 0.01,
) -> SpeedDecision:
    """``slower``, ``faster`` or ``no change``: per-round env-steps/s against the baseline's rounds."""
    run, base = _rates(rates, "rates"), _rates(baseline_rates, "baseline_rates")
    verdicts, p_slow, p_fast, basis = speed_verdicts(run, base, margin=margin, alpha=alpha)
    median, base_median = float(np.median(run)), float(np.median(base))
    p = float(p_slow[0] if median < base_median else p_fast[0])
    return SpeedDecision(
        verdict=str(verdicts[0]),  # type: ignore[arg-type]
        env_steps_per_s=median,
        baseline_env_steps_per_s=base_median,
        ratio=median / base_median,
        rounds=run.size,
        baseline_rounds=base.size,
        p_value=None if math.isnan(p) else p,
        margin=margin,
        basis=basis,
        alpha=alpha,
    )
