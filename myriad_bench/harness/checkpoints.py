"""Saved agents checked: the final checkpoint of each baseline seed, restored and evaluated.

Training baselines keep each seed's final agent (``seed-<k>/checkpoints/final.msgpack``, Flax
msgpack as ``save(save_checkpoint=True)`` writes it) and, in ``baseline.yaml``, the mean return
of evaluating it with the case's eval settings (``checkpoint_return``). A check restores every
stored checkpoint onto the structure of the agent the current code builds for the case's config
and evaluates it the same way (one compiled evaluation serves every seed):

- a checkpoint that no longer restores is ``saved agent no longer loads``, naming the file and
  the leaves that do not fit (a changed network: new hidden size, renamed layer);
- in an exact comparison (the baseline's own platform) the checkpoints of the seeds the check
  trained are evaluated and must reproduce the stored return (float tolerance); the others, and
  every one in a stat comparison, are restored onto the agent's shapes only (loading is what
  can break there; returns are allowed to move).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from myriad_bench.harness.curves import seed_of
from myriad_bench.store.errors import ArtifactError

__all__ = ["checkpoint_problems", "checkpoint_returns", "evaluated_return"]


def evaluated_return(config: Any, agent_state: Any) -> float:
    """The mean return of ``agent_state`` (a live state or a raw restored dict) over the eval
    episodes of ``config`` (its eval rollouts and seed)."""
    from myriad_bench.platform.evaluation import prepare_evaluation

    outputs = prepare_evaluation(config, agent_state=agent_state).run()
    return float(np.mean(outputs.episodes["episode_returns"]))


def checkpoint_returns(runs: Sequence[Any]) -> dict[int, float]:
    """What an update stores: each training run's final agent, evaluated, by seed."""
    return {
        seed_of(run): evaluated_return(run.config, run.agent_state)
        for run in runs
        if getattr(run, "agent_state", None) is not None
    }


def _stored(summary: Mapping[str, Any] | None, seed: int) -> float | None:
    """The stored ``checkpoint_return`` of ``seed`` when it is a finite number (the file is hostile)."""
    per_seed = summary.get("per_seed") if isinstance(summary, Mapping) else None
    entry = per_seed.get(seed) if isinstance(per_seed, Mapping) else None
    value = entry.get("checkpoint_return") if isinstance(entry, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def checkpoint_problems(
    platform: Any,
    summary: Mapping[str, Any] | None,
    *,
    evaluate: Collection[int] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> tuple[list[str], float]:
    """What is wrong with the stored checkpoints of ``platform`` (``PlatformRuns``), and the
    seconds the check took. Empty when every checkpoint restores and, for the seeds in
    ``evaluate`` (those an exact comparison on the baseline's own platform trained), evaluates to
    the stored return. The others are only restored onto the agent's shapes: nothing is computed,
    so a baseline of many seeds costs a check next to nothing."""
    from myriad_bench.platform.evaluation import agent_state_shapes
    from myriad_bench.store.agent_state import (
        AgentStateMismatch,
        load_agent_state,
        restore_agent_state,
        shown_leaves,
    )

    start = time.perf_counter()
    problems: list[str] = []
    shapes = None  # one agent for every seed (configs differ by the seed only): traced once
    for seed, path in sorted(platform.checkpoints.items()):
        config = platform.runs[seed].config
        try:
            raw = load_agent_state(path)
            if seed not in evaluate:
                if shapes is None:
                    shapes = agent_state_shapes(config)
                restore_agent_state(shapes, raw, source=path)
                continue
            value = evaluated_return(config, raw)
        except AgentStateMismatch as error:
            problems.append(f"saved agent no longer loads: {path}: {shown_leaves(error.leaves)}")
            continue
        except ArtifactError as error:
            problems.append(f"saved agent no longer loads: {error}")
            continue
        stored = _stored(summary, seed)
        if stored is not None and not math.isclose(value, stored, rel_tol=rtol, abs_tol=atol):
            problems.append(
                f"saved agent of seed {seed} ({path}) evaluates to {value:.6g}; "
                f"the baseline recorded {stored:.6g}"
            )
    return problems, time.perf_counter() - start
