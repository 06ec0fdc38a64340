"""The speed half of a check: a run's env-steps/s against its platform's speed baseline.

- Same platform (fingerprint) as a stored speed section: the rounds' rates are compared with
  the stored rounds' (:func:`~myriad_bench.harness.stats.decide_speed`): ``slower`` needs the
  median below the baseline's by more than the margin *and* beyond the rounds' noise (a rank
  test; one-round cases use the margin alone); ``faster`` likewise; else ``no change``.
- Another platform, or no speed baseline: ``not comparable``, never a failure; ``reason`` says
  why (the fingerprint entries that differ).
- Compile time: a warning (never a failure) when the cold compile took over twice the
  baseline's on the same platform, both built the same way (a build served by JAX's persistent
  cache is not compared with one XLA compiled).

``--myriad-speed=check`` fails a ``slower`` case, ``report`` only reports it, ``off`` skips all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from myriad_bench.harness import stats
from myriad_bench.harness.records import SpeedRecord, Timing

__all__ = ["SPEED_MODES", "SpeedOptions", "compare_speed", "section_to_keep"]

SpeedMode = Literal["check", "report", "off"]
SPEED_MODES = ("check", "report", "off")
COMPILE_WARN_RATIO = 2.0


@dataclass(frozen=True)
class SpeedOptions:
    """``mode`` (check, report, off), relative ``margin`` of a speed change, and ``alpha`` of its test."""

    mode: SpeedMode = "check"
    margin: float = 0.15
    alpha: float = 0.01

    def __post_init__(self) -> None:
        if self.mode not in SPEED_MODES:
            raise ValueError(f"speed mode must be one of {', '.join(SPEED_MODES)}, got {self.mode!r}")
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(
                f"speed margin must lie in [0, 1) (a fraction of the baseline's rate), got {self.margin!r}"
            )

    @property
    def fails(self) -> bool:
        return self.mode == "check"


def compare_speed(
    timing: Timing | None, stored: Any | None, options: SpeedOptions, *, not_comparable: str = ""
) -> SpeedRecord | None:
    """The speed record of a run: ``None`` with ``mode=off`` or without a timed run.

    ``stored`` is the speed section of the baseline's runs on this platform (``None`` when
    there is none); ``not_comparable``, when set, is why the baseline's speed does not apply
    (another platform).
    """
    if options.mode == "off" or timing is None or timing.env_steps_per_s is None:
        return None
    mine = SpeedRecord(
        verdict="not comparable",
        env_steps_per_s=timing.env_steps_per_s,
        rounds=timing.rounds,
        spread=timing.spread,
        compile_s=timing.compile_s,
        compile_cache=timing.compile_cache,
    )
    if not_comparable or stored is None:
        reason = not_comparable or "the baseline holds no speed for this platform (update it to add one)"
        return _with(mine, reason=reason)
    decision = stats.decide_speed(
        timing.rates, list(stored.rates), margin=options.margin, alpha=options.alpha
    )
    return _with(
        mine,
        verdict=decision.verdict,
        baseline_env_steps_per_s=decision.baseline_env_steps_per_s,
        ratio=decision.ratio,
        baseline_rounds=decision.baseline_rounds,
        baseline_compile_s=stored.compile_s,
        reason=decision.describe(),
        warning=_compile_warning(timing, stored),
    )


def _with(record: SpeedRecord, **changes: Any) -> SpeedRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _compile_warning(timing: Timing, stored: Any) -> str:
    if timing.compile_s is None or not stored.compile_s or timing.compile_cache != stored.compile_cache:
        return ""
    ratio = timing.compile_s / stored.compile_s
    if ratio <= COMPILE_WARN_RATIO:
        return ""
    return (
        f"compile took {timing.compile_s:.2f} s, {ratio:.1f}x the baseline's {stored.compile_s:.2f} s "
        f"on this platform ({timing.compile_cache})"
    )


def section_to_keep(timing: Timing, stored: Any | None, options: SpeedOptions) -> bool:
    """Whether an update should keep the stored speed section: same platform and ``no change``.

    Keeping it lets an update of unchanged code leave the baseline's bytes as they were.
    """
    if stored is None or not stored.rates:
        return False
    decision = stats.decide_speed(
        timing.rates, list(stored.rates), margin=options.margin, alpha=options.alpha
    )
    return decision.verdict == "no change"
