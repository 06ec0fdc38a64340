"""The static plan of a training run: what its compiled program's shape depends on.

A :class:`Plan` is hashable and part of the program's cache key; the step counts between
evaluation boundaries are *arguments* of the program (:func:`segment_chunks`), so runs of
other lengths with the same number of boundaries and chunk size reuse it.

- Evaluation boundaries are the multiples of ``eval_frequency`` and the end of training,
  exactly (:func:`boundaries`); no step is taken past the end.
- Between two boundaries the program turns over *chunks* of ``chunk_steps`` steps: whole
  rollouts when ``rollout_steps`` divides every segment, otherwise the largest common divisor
  of the segment lengths and ``rollout_steps``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from myriad_bench.agents.agent import Agent
from myriad_bench.configs import Config
from myriad_bench.envs.environment import Environment

__all__ = ["Plan", "boundaries", "make_plan", "segment_chunks"]


class Plan(NamedTuple):
    """Everything static about a run's program (hashable); the step counts are arguments."""

    num_envs: int
    rollout_steps: int
    chunk_steps: int
    """Steps collected per loop turn: ``rollout_steps`` when it divides every segment, else
    the greatest common divisor of the segment lengths and ``rollout_steps``."""
    num_boundaries: int
    off_policy: bool
    buffer_size: int
    batch_size: int
    eval_rollouts: int
    eval_max_steps: int
    num_seeds: int
    progress: bool


def boundaries(config: Config) -> tuple[int, ...]:
    """Steps per env at each evaluation boundary: the multiples of eval_frequency, then the end."""
    steps, frequency = config.run.steps_per_env, config.run.eval_frequency
    return (*range(frequency, steps, frequency), steps)


def rollout_steps(config: Config, agent: Agent) -> int:
    """Steps of each environment between updates: ``run.rollout_steps``, else the agent's default."""
    steps = config.run.rollout_steps or agent.rollout_steps
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"agent {agent.name!r}: rollout_steps must be a positive integer, got {steps!r}")
    return steps


def make_plan(config: Config, env: Environment, agent: Agent, num_seeds: int, progress: bool) -> Plan:
    """The plan of ``config``'s run of ``agent`` on ``env`` over ``num_seeds`` seeds."""
    run = config.run
    steps = rollout_steps(config, agent)
    lengths = np.diff((0, *boundaries(config)))
    return Plan(
        num_envs=run.num_envs,
        rollout_steps=steps,
        chunk_steps=int(np.gcd.reduce([steps, *lengths.tolist()])),
        num_boundaries=len(lengths),
        off_policy=bool(agent.off_policy),
        # Only off-policy programs depend on the replay settings.
        buffer_size=run.buffer_size if agent.off_policy else 0,
        batch_size=run.batch_size if agent.off_policy else 0,
        eval_rollouts=run.eval_rollouts,
        eval_max_steps=run.eval_max_steps or env.max_steps,
        num_seeds=num_seeds,
        progress=progress,
    )


def segment_chunks(config: Config, plan: Plan) -> np.ndarray:
    """Loop turns of each segment, ``(num_boundaries,)`` int32 (an argument of the program)."""
    return (np.diff((0, *boundaries(config))) // plan.chunk_steps).astype(np.int32)
