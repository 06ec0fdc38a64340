"""Results to the numbers a check compares: per-seed evaluation curves and their scores.

:func:`run_curves` is the one place that reads TrainingResults and EvaluationResults for a
check; the engine, the baseline store and the timing read curves, never the results' fields.
Also the names of cases (what a set of results is stored and reported as).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myriad_bench.harness import stats
from myriad_bench.harness.records import Curve, Kind

__all__ = [
    "RunCurves",
    "as_runs",
    "case_name",
    "consistent_kind",
    "curves_by_seed",
    "results_kind",
    "run_curves",
    "seed_of",
    "validate_case_name",
]

_CASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def case_name(nodeid: str) -> str:
    """Default case name of a test: its module stem and test name, sanitised for a folder name.

    >>> case_name("benchmarks/test_training.py::test_dqn[cartpole 3]")
    'test_training.test_dqn-cartpole-3'
    """
    path, _, rest = nodeid.partition("::")
    module = Path(path).stem
    raw = f"{module}.{rest.replace('::', '.')}" if rest else module
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", raw).strip("-.")
    return safe[:200] or "case"


def validate_case_name(name: str) -> str:
    """Return ``name`` if it is a usable folder name for a case, else raise ``ValueError``."""
    if not isinstance(name, str) or not _CASE_NAME.fullmatch(name) or ".." in name or len(name) > 200:
        raise ValueError(
            f"invalid baseline case name {name!r}: use letters, digits, '_', '.' and '-' "
            "(not starting with '.' or '-', no '..', at most 200 characters)"
        )
    return name


def results_kind(results: Any) -> Kind:
    """``"training"`` for a TrainingResults-like object, ``"evaluation"`` for EvaluationResults."""
    if hasattr(results, "eval_metrics") and hasattr(results, "training_metrics"):
        return "training"
    if hasattr(results, "episode_returns") and hasattr(results, "num_episodes"):
        return "evaluation"
    raise TypeError(
        f"cannot check {type(results).__name__}: expected TrainingResults, a list of them, "
        "or EvaluationResults"
    )


def seed_of(results: Any) -> int:
    """The seed a run was made with."""
    if results_kind(results) == "evaluation":
        return int(results.seed)
    return int(results.config.run.seed)


def as_runs(results: Any) -> list[Any]:
    """One run, or a list or tuple of them, as a list."""
    return list(results) if isinstance(results, list | tuple) else [results]


def consistent_kind(runs: Sequence[Any]) -> Kind:
    """The kind of ``runs`` if they can form one case: one kind, one config (seeds aside), distinct
    seeds; ``ValueError`` / ``TypeError`` otherwise."""
    if not runs:
        raise ValueError("no results to check or store")
    kinds = {results_kind(r) for r in runs}
    if len(kinds) != 1:
        raise TypeError("cannot mix TrainingResults and EvaluationResults in one baseline")
    if len({r.config.digest() for r in runs}) != 1:
        raise ValueError(
            "the results passed together have different configs (seeds aside); check them separately "
            "with name=..."
        )
    seeds = [seed_of(r) for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the results passed together repeat a seed: {seeds}")
    return kinds.pop()


@dataclass(frozen=True)
class RunCurves:
    """The numbers of one run (one seed) that a check compares.

    ``steps`` ``(evals,)`` are steps per env at each evaluation (``[0]`` for an evaluation run);
    ``episode_returns`` ``(evals, episodes)``; ``final_returns`` ``(episodes,)`` are the last
    evaluation's returns; ``auc_returns`` ``(episodes,)`` are per-episode-slot areas under the curve
    whose mean is the area under the mean-return curve.
    """

    seed: int
    steps: np.ndarray
    mean_return: np.ndarray
    episode_returns: np.ndarray

    @property
    def final_returns(self) -> np.ndarray:
        return self.episode_returns[-1]

    @property
    def final_return(self) -> float:
        return float(self.mean_return[-1])

    @property
    def auc_returns(self) -> np.ndarray:
        return stats.auc_weights(self.steps) @ self.episode_returns

    @property
    def auc(self) -> float:
        return stats.area_under_curve(self.steps, self.mean_return)

    def curve(self) -> Curve:
        """The curve as a report shows it."""
        return Curve(self.steps.tolist(), self.mean_return.tolist())


def run_curves(results: Any) -> RunCurves:
    """Extract :class:`RunCurves` from TrainingResults or EvaluationResults."""
    if results_kind(results) == "evaluation":
        returns = np.asarray(results.episode_returns, dtype=np.float64).reshape(1, -1)
        return RunCurves(seed_of(results), np.zeros(1), np.array([float(results.mean_return)]), returns)
    metrics = results.eval_metrics
    if not metrics.mean_return:
        raise ValueError(
            "the training results hold no evaluation (eval_metrics is empty); a baseline check "
            "compares evaluation returns: make steps_per_env at least eval_frequency"
        )
    lengths = {len(np.ravel(r)) for r in metrics.episode_returns}
    if len(lengths) != 1:
        raise ValueError(f"evaluations have different numbers of episodes: {sorted(lengths)}")
    return RunCurves(
        seed=seed_of(results),
        steps=np.asarray(metrics.steps_per_env, dtype=np.float64),
        mean_return=np.asarray(metrics.mean_return, dtype=np.float64),
        episode_returns=np.stack(
            [np.ravel(np.asarray(r, dtype=np.float64)) for r in metrics.episode_returns]
        ),
    )


def curves_by_seed(runs: Sequence[Any]) -> dict[int, RunCurves]:
    """:func:`run_curves` of each run, by seed, in the order of ``runs`` (the bootstrap draws
    depend on the order, so it is kept)."""
    return {curves.seed: curves for curves in map(run_curves, runs)}
