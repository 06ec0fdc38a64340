"""Results of any training code: curves in, :class:`TrainingResults` out, ready for a baseline check.

:func:`results_from_curves` wraps the evaluation curves of code that is not ours (a PureJaxRL
``make_train``, a Stable-Baselines-style loop) in one :class:`TrainingResults` per seed; a
:class:`~myriad_bench.configs.CurvesConfig` carries the seed and the hyperparameters, which play
the config's part in config-change detection. :func:`purejaxrl_curves` reads PureJaxRL's
``metrics["returned_episode_returns"]`` layout.

>>> out = jax.jit(jax.vmap(make_train(config)))(jax.random.split(key, 8))       # doctest: +SKIP
>>> steps, returns = purejaxrl_curves(out["metrics"])                            # doctest: +SKIP
>>> runs = results_from_curves(steps, returns, seeds=range(8), hyperparameters=config)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from myriad_bench.configs import CurvesConfig
from myriad_bench.platform.types import EvaluationMetrics, TrainingMetrics, TrainingResults

__all__ = ["purejaxrl_curves", "results_from_curves"]


def results_from_curves(
    steps: Any,
    returns: Any,
    *,
    seeds: Iterable[int],
    hyperparameters: Mapping[str, Any] | None = None,
    metric: str = "return",
    higher_is_better: bool = True,
) -> list[TrainingResults]:
    """One :class:`TrainingResults` per seed from evaluation curves.

    Args:
        steps: ``(evals,)`` the x-axis of the curves (environment steps, updates, ...), increasing.
        returns: ``(seeds, evals)`` one value per evaluation, or ``(seeds, evals, episodes)`` the
            episodes of each evaluation (a check then sees the episode-to-episode spread too).
        seeds: the seed of each row of ``returns``.
        hyperparameters: plain data (numbers, strings, lists, mappings) describing the run; a
            baseline made with other values fails its check with the fields that differ.
        metric: what the curves measure (``"return"``, ``"cost"``, ``"success rate"``, ...).
        higher_is_better: ``False`` for costs, losses, lengths.

    Raises ``ValueError`` naming the argument whose shape or values do not fit.
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(returns, dtype=np.float64)
    seed_list = [int(seed) for seed in seeds]
    if x.ndim != 1 or x.size == 0 or np.any(np.diff(x) < 0) or not np.all(np.isfinite(x)):
        raise ValueError(
            f"steps must be a non-empty increasing 1-D sequence of finite numbers, got shape {x.shape}"
        )
    if y.ndim == 2:
        y = y[..., None]
    if y.ndim != 3 or y.shape[:2] != (len(seed_list), x.size) or y.shape[2] == 0:
        raise ValueError(
            "returns must be shaped (seeds, evals) or (seeds, evals, episodes) = "
            f"({len(seed_list)}, {x.size}[, n]), got shape {np.shape(returns)}"
        )
    if len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be distinct, got {seed_list}")
    step_list = [int(s) if float(s).is_integer() else float(s) for s in x]
    results = []
    for row, seed in zip(y, seed_list, strict=True):
        config = CurvesConfig(
            run={"seed": seed},
            hyperparameters=dict(hyperparameters or {}),
            metric=metric,
            higher_is_better=higher_is_better,
        )
        episode_returns = [np.asarray(evaluation, dtype=np.float32) for evaluation in row]
        results.append(
            TrainingResults(
                agent_state=None,
                training_metrics=TrainingMetrics(global_steps=list(step_list), steps_per_env=list(step_list)),
                eval_metrics=EvaluationMetrics(
                    global_steps=list(step_list),
                    steps_per_env=list(step_list),
                    episode_returns=episode_returns,
                    episode_lengths=[np.zeros(len(evaluation), np.int32) for evaluation in row],
                    mean_return=[float(np.mean(evaluation)) for evaluation in row],
                    std_return=[float(np.std(evaluation)) for evaluation in row],
                    mean_length=[0.0] * len(row),
                ),
                config=config,
                run_dir=Path(f"seed-{seed}"),
            )
        )
    return results


def purejaxrl_curves(metrics: Mapping[str, Any], *, every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, returns)`` of PureJaxRL's training metrics, for :func:`results_from_curves`.

    ``metrics["returned_episode_returns"]`` is shaped ``(seeds, updates, steps per update,
    envs)`` (``jax.vmap(train)`` over seeds; without the seed axis one seed is assumed): at each
    step, each environment's most recently finished episode return (PureJaxRL's LogWrapper).
    Each update becomes one evaluation whose episodes are the environments' latest returns at
    the update's last step; ``steps`` counts global environment steps (updates × steps per
    update × envs). ``every`` keeps every k-th update (the last always).
    """
    values = np.asarray(metrics["returned_episode_returns"], dtype=np.float64)
    if values.ndim == 3:
        values = values[None]
    if values.ndim != 4:
        raise ValueError(
            "metrics['returned_episode_returns'] must be shaped (seeds, updates, steps, envs) or "
            f"(updates, steps, envs), got {values.shape}"
        )
    if every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    _, updates, per_update, envs = values.shape
    kept = sorted({*range(every - 1, updates, every), updates - 1})
    steps = (np.asarray(kept) + 1) * per_update * envs
    return steps, values[:, kept, -1, :]
