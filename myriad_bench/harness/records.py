"""What a baseline check found for one case: :class:`CaseRecord` and its parts, typed.

The check engine builds them; the terminal summary, the reports and the xdist payload read
them. They turn into plain data (``dataclasses.asdict``) only at those edges: report.json and
the dict a worker sends to the controller, which :meth:`CaseRecord.from_dict` turns back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from myriad_bench.harness.stats import Verdict

__all__ = ["CaseRecord", "Curve", "Difference", "Kind", "Status", "Timing", "finite", "is_failing"]

Kind = Literal["training", "evaluation"]
Status = Literal["passed", "failed", "missing", "written", "error"]

_FAILING_LABELS = frozenset({"not reproduced", "no baseline", "refused", "config differs", "failed"})


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
    """How long a timed run took: compile apart, then the run itself (warm, blocked on)."""

    compile_s: float
    run_s: float
    env_steps: int

    @property
    def env_steps_per_s(self) -> float | None:
        return round(self.env_steps / self.run_s, 1) if self.run_s > 0 else None


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
    verdicts: list[Verdict] = field(default_factory=list)
    final_return_baseline: float | None = None
    final_return_baseline_ci: tuple[float, float] | None = None
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    relative_delta: float | None = None
    config_differences: list[Difference] = field(default_factory=list)
    fingerprint_differences: list[Difference] = field(default_factory=list)
    path: str | None = None
    """Where the baseline was written (status ``written``)."""
    compile_s: float | None = None
    run_s: float | None = None
    env_steps_per_s: float | None = None

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
        return is_failing(self.label)

    def with_timing(self, timing: Timing | None) -> CaseRecord:
        """The record with the throughput of the run it checked (unchanged without one)."""
        if timing is None:
            return self
        return replace(
            self,
            compile_s=round(timing.compile_s, 4),
            run_s=round(timing.run_s, 4),
            env_steps_per_s=timing.env_steps_per_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for report.json and the xdist payload)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseRecord:
        """The record :meth:`to_dict` made (on an xdist worker) back as a record."""
        values = {f.name: data[f.name] for f in fields(cls)}
        for name in ("obtained_curves", "baseline_curves"):
            values[name] = {int(seed): Curve(**curve) for seed, curve in data[name].items()}
        values["verdicts"] = [Verdict(**verdict) for verdict in data["verdicts"]]
        for name in ("config_differences", "fingerprint_differences"):
            values[name] = [Difference(**difference) for difference in data[name]]
        for name in ("final_return_obtained_ci", "final_return_baseline_ci", "delta_ci"):
            values[name] = None if data[name] is None else tuple(data[name])
        return cls(**values)


def finite(value: float) -> float | None:
    """``value`` as a float, or ``None`` when it is NaN or infinite (JSON and YAML keep ``None``)."""
    return float(value) if math.isfinite(value) else None


def is_failing(label: str) -> bool:
    """Whether a :attr:`CaseRecord.label` marks a failed case."""
    return label in _FAILING_LABELS or label.startswith("regression")
