"""What a baseline check found for one case: :class:`CaseRecord` and its parts, typed.

The check engine builds them; the terminal summary, the reports and the xdist payload read
them. They turn into plain data (``dataclasses.asdict``) only at those edges: report.json and
the dict a worker sends to the controller, which :meth:`CaseRecord.from_dict` turns back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from myriad_bench.harness.stats import Decision

__all__ = [
    "CaseRecord",
    "Curve",
    "Difference",
    "Kind",
    "Look",
    "SpeedRecord",
    "Status",
    "Timing",
    "finite",
]

Kind = Literal["training", "evaluation", "speed"]
"""``speed``: a speed-only case (``myriad_benchmark`` + ``baseline.check_speed``), no runs stored."""
Status = Literal["passed", "failed", "missing", "written", "error"]


@dataclass(frozen=True)
class Curve:
    """One seed's evaluation curve: ``mean_return`` at each of ``steps`` (steps per env)."""

    steps: list[float]
    mean_return: list[float]


@dataclass(frozen=True)
class Difference:
    """A config or platform-fingerprint field whose value differs.

    ``absent`` names the side that does not have the field at all (its value is then ``None``).
    """

    field: str
    baseline: Any
    current: Any
    absent: Literal["", "baseline", "current"] = ""


@dataclass(frozen=True)
class Timing:
    """How long a timed run took: its warm rounds (each blocked on), compile time apart.

    ``env_steps`` are the environment steps of one round; ``compile_s`` the program's cold
    compile seconds and ``compile_cache`` whether that build was ``"compiled"`` or served by
    JAX's ``"persistent"`` cache (``None`` when unknown).
    """

    env_steps: int
    round_s: tuple[float, ...]
    compile_s: float | None = None
    compile_cache: str | None = None

    @property
    def rounds(self) -> int:
        return len(self.round_s)

    @property
    def rates(self) -> list[float]:
        """Env steps per second of each round."""
        return [self.env_steps / seconds for seconds in self.round_s if seconds > 0]

    @property
    def run_s(self) -> float:
        """The median round's seconds."""
        return float(_median(self.round_s))

    @property
    def env_steps_per_s(self) -> float | None:
        """The median of the rounds' env-steps/s."""
        rates = self.rates
        return round(float(_median(rates)), 1) if rates else None

    @property
    def spread(self) -> float | None:
        """The interquartile range of the rounds' env-steps/s over their median (0 with one round)."""
        rates = self.rates
        if not rates:
            return None
        low, mid, high = _quantiles(rates)
        return round((high - low) / mid, 4) if mid > 0 else None


def _median(values: Any) -> float:
    return _quantiles(values)[1]


def _quantiles(values: Any) -> tuple[float, float, float]:
    import numpy as np

    low, mid, high = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return float(low), float(mid), float(high)


@dataclass(frozen=True)
class Look:
    """One look of an adaptive check: the seeds pooled by then, its level and what it found."""

    seeds: int
    level: float
    verdict: str


@dataclass(frozen=True)
class SpeedRecord:
    """The speed half of a case: this run's throughput against the baseline's, and the verdict.

    ``verdict`` is ``slower``, ``faster``, ``no change``, ``not comparable`` (another platform
    or no speed baseline: ``reason`` says why) or ``written`` (an update stored it). ``ratio``
    is this run's median env-steps/s over the baseline's.
    """

    verdict: str
    env_steps_per_s: float | None
    baseline_env_steps_per_s: float | None = None
    ratio: float | None = None
    rounds: int = 0
    baseline_rounds: int = 0
    spread: float | None = None
    compile_s: float | None = None
    baseline_compile_s: float | None = None
    compile_cache: str | None = None
    reason: str = ""
    warning: str = ""


@dataclass
class CaseRecord:
    """The outcome of one case's check (or write), as the summary and the reports show it.

    Fields that do not apply stay ``None`` or empty: a missing baseline has no baseline curves,
    a config that differs has no verdicts. ``verdict`` is the comparison's word (``reproduced``,
    ``regression (final)``, ``no change`` ...), set only when a comparison ran. Final returns
    are means over seeds and episodes, ``*_ci`` their intervals at confidence 1-alpha;
    ``delta`` is obtained minus baseline.
    """

    case: str
    status: Status
    message: str = ""
    nodeid: str = ""
    kind: Kind | None = None
    seeds: list[int] = field(default_factory=list)
    obtained_curves: dict[int, Curve] = field(default_factory=dict)
    final_return_obtained: float | None = None
    final_return_obtained_ci: tuple[float, float] | None = None
    baseline_seeds: list[int] = field(default_factory=list)
    baseline_curves: dict[int, Curve] = field(default_factory=dict)
    baseline_created: str | None = None
    mode: str | None = None
    mode_reason: str = ""
    verdict: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    """One verdict per metric (final return, area under the curve), with what it could see."""
    looks: list[Look] = field(default_factory=list)
    """Each look of an adaptive check (seeds pooled, level, verdict); one look without max_seeds."""
    detectable_drop: float | None = None
    """The smallest relative drop the comparison would flag (over its metrics); inf: none."""
    platform: str = ""
    """Which of the baseline's platforms the run was compared with, and why."""
    final_return_baseline: float | None = None
    final_return_baseline_ci: tuple[float, float] | None = None
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    relative_delta: float | None = None
    config_differences: list[Difference] = field(default_factory=list)
    fingerprint_differences: list[Difference] = field(default_factory=list)
    path: str | None = None
    """Where the baseline was written (status ``written``)."""
    speed: SpeedRecord | None = None
    """The run's throughput against the baseline's (``None``: speed off, or results not timed here)."""

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "written")

    @property
    def key(self) -> str:
        """Identifies the record in a session: one test may check several cases."""
        return f"{self.nodeid}::{self.case}"

    @property
    def label(self) -> str:
        """What happened to the case, in a word or two (the summary's verdict column)."""
        if self.status == "missing":
            return "no baseline"
        if self.status == "error":
            return "refused"
        if self.status == "written":
            return "written"
        if self.config_differences:
            return "config differs"
        return self.verdict or self.status

    @property
    def failing(self) -> bool:
        """Whether the case failed (returns, speed under ``--myriad-speed=check``, or its baseline)."""
        return not self.passed

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for report.json and the xdist payload)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseRecord:
        """The record :meth:`to_dict` made (on an xdist worker) back as a record."""
        values = {f.name: data[f.name] for f in fields(cls)}
        for name in ("obtained_curves", "baseline_curves"):
            values[name] = {int(seed): Curve(**curve) for seed, curve in data[name].items()}
        values["decisions"] = [Decision(**decision) for decision in data["decisions"]]
        values["looks"] = [Look(**look) for look in data["looks"]]
        for name in ("config_differences", "fingerprint_differences"):
            values[name] = [Difference(**difference) for difference in data[name]]
        for name in ("final_return_obtained_ci", "final_return_baseline_ci", "delta_ci"):
            values[name] = None if data[name] is None else tuple(data[name])
        values["speed"] = None if data["speed"] is None else SpeedRecord(**data["speed"])
        return cls(**values)


def finite(value: float) -> float | None:
    """``value`` as a float, or ``None`` when it is NaN or infinite (JSON and YAML keep ``None``)."""
    return float(value) if math.isfinite(value) else None
