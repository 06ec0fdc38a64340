"""Repeated looks at a growing number of seeds (adaptive seeds) without inflating false alarms.

A check that is inconclusive trains further seeds and looks again. Testing every look at the
full alpha would raise the chance of a false regression with each look; instead the looks
*spend* alpha (Lan & DeMets 1983): by information fraction ``t`` (units checked / most units)
at most ``alpha(t)`` has been spent, and a look tests at what was spent since the previous one.
By the union bound the chance of a false regression at any look is at most the sum of the
levels, ``alpha(t_last) <= alpha``, whatever the correlation between looks.

The spending function is Pocock-type, ``alpha * ln(1 + (e - 1) t)``, not O'Brien–Fleming's.
The first look is the user's own seeds, often the only one (most checks decide there), and
Pocock spends early: at ``t = 1/4`` it has spent 36% of alpha where O'Brien–Fleming has spent
well under 1%, which would all but switch the first look off. The price is a slightly higher
bar at the last look, paid only by checks that needed every seed.

A look at which the permutation test cannot reach its level at all (3 vs 3 seeds at 0.004: no
p-value below 0.05) could reject nothing, so it spends nothing: it is skipped, and its alpha
goes to the next look.

>>> [round(level, 4) for level in look_levels(0.05, [8, 16, 24, 32], 32)]
[0.0179, 0.0131, 0.0104, 0.0086]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from myriad_bench.harness.permutation import effective_level

__all__ = ["Look", "SequentialPlan", "look_levels", "spent_alpha"]


def spent_alpha(alpha: float, fraction: float) -> float:
    """Alpha spent by information ``fraction`` (clipped to [0, 1]): ``alpha * ln(1 + (e - 1) t)``."""
    t = min(max(fraction, 0.0), 1.0)
    return alpha * math.log1p((math.e - 1.0) * t)


def look_levels(alpha: float, looks: Sequence[int], max_units: int) -> list[float]:
    """The level of each look, given the units (seeds) checked at each and the most there will be.

    The levels sum to ``spent_alpha(alpha, looks[-1] / max_units)``, which is ``alpha`` when the
    last look uses every unit.
    """
    _check_alpha(alpha)
    if max_units < 1:
        raise ValueError(f"max_units must be a positive number of units, got {max_units!r}")
    if any(b <= a for a, b in itertools.pairwise(looks)) or any(n < 1 for n in looks):
        raise ValueError(f"looks must be increasing positive unit counts, got {list(looks)}")
    levels, before = [], 0.0
    for units in looks:
        now = spent_alpha(alpha, units / max_units)
        levels.append(now - before)
        before = now
    return levels


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie strictly between 0 and 0.5, got {alpha!r}")


@dataclass(frozen=True)
class Look:
    """One planned look: the units (seeds) pooled by then, its level, and alpha spent up to it."""

    units: int
    level: float
    spent: float


@dataclass(frozen=True)
class SequentialPlan:
    """When to look and at which level, for a check that may add seeds up to ``max_units``.

    ``first`` is the units of the first look (the user's seeds); each further look adds
    ``batch`` (default: ``first``), the last one stops at ``max_units``. ``baseline_units``
    (default ``max_units``) and ``reps`` size the permutation test, to skip looks it could not
    decide. Use::

        plan = SequentialPlan(alpha=0.01, max_units=32, first=8, baseline_units=32)
        units, kind = 8, None
        while True:
            look = plan.look_at(units)
            kind = decide(..., alpha=look.level).kind if look else None
            more = plan.next_batch(units, kind)
            if not more:
                break
            units += more      # train `more` new seeds, pool them
    """

    alpha: float
    max_units: int
    first: int
    batch: int | None = None
    baseline_units: int | None = None
    reps: int = 4_000

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        if self.first < 1 or self.max_units < 1:
            raise ValueError(
                f"first and max_units must be positive unit counts, got {self.first!r}, {self.max_units!r}"
            )
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be a positive number of units, got {self.batch!r}")

    @property
    def looks(self) -> tuple[Look, ...]:
        """The looks that can decide, in order; the last one (at the most units) is always there."""
        last = max(self.first, self.max_units)
        step = self.batch or self.first
        counts = [*range(self.first, last, step), last]
        baseline = self.baseline_units or self.max_units
        looks: list[Look] = []
        before = 0.0
        for index, units in enumerate(counts):
            now = spent_alpha(self.alpha, units / self.max_units)
            level = now - before
            final = index == len(counts) - 1
            if not final and effective_level(level, units, baseline, self.reps) == 0:
                continue  # this look could reject nothing: it spends nothing
            looks.append(Look(units, level, now))
            before = now
        return tuple(looks)

    def look_at(self, units: int) -> Look | None:
        """The look taken with ``units`` pooled, or None when no test is due at this count."""
        return next((look for look in self.looks if look.units == units), None)

    def next_batch(self, units: int, kind: str | None) -> int:
        """Units to add before the next look; 0 to stop.

        Stops when the last look was decisive (``kind`` other than ``inconclusive`` or None) or
        every unit is used.
        """
        if kind not in (None, "inconclusive"):
            return 0
        later = [look.units for look in self.looks if look.units > units]
        return later[0] - units if later else 0
