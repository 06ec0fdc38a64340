"""``ccasr-gfp-control``: hold a light-controlled gene's protein level at a target.

Named like the myriad platform's optogenetic task (CcaS-CcaR drives GFP under green light),
but with its own, simpler model: the two-stage (mRNA/protein) birth–death model of gene
expression, with the transcription rate switched by the light. Copy numbers are integers and
evolve by the exact Gillespie SSA (:mod:`myriad_bench.envs.gillespie`); the agent chooses the
light once per control interval of ``interval_minutes`` (5 min).

Reactions (rates per minute; ``U`` = 1 with the light on, 0 off)::

    ∅ → mRNA             transcription_dark + U (transcription_light − transcription_dark)
    mRNA → ∅             mrna_decay · mRNA
    mRNA → mRNA + GFP    translation · mRNA
    GFP → ∅              protein_decay · GFP          (degradation and dilution by growth)

Constants (defaults): transcription_light 0.16, transcription_dark 0.008, mrna_decay 0.2
(mRNA lifetime 5 min), translation 1.0 (5 proteins per mRNA on average), protein_decay 0.01
(lifetime 100 min, i.e. 20 control intervals). Under constant light ``U`` the stationary
moments are ``<mRNA> = k_U / mrna_decay`` (Poisson) and ``<GFP> = k_U · translation /
(mrna_decay · protein_decay)``, which is 80 with the light on and 4 off, with Fano factor
``1 + translation / (mrna_decay + protein_decay)`` ≈ 5.8.

The task: episodes start with no mRNA and no protein and last ``max_steps`` = 288 intervals
(24 h); the reward is ``-|GFP − protein_target| / protein_scale`` after each interval (target
25, scale 80); it never terminates. Observations are ``(GFP / protein_scale, protein_target /
protein_scale)`` as float32 — the agent sees the fluorescence, not the mRNA. The action space
is ``Discrete(2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from myriad_bench.core.control import ControlHints
from myriad_bench.core.params import Count
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs.environment import Environment, apply_overrides
from myriad_bench.envs.gillespie import simulate_interval
from myriad_bench.envs.registry import register_env

__all__ = [
    "STOICHIOMETRY",
    "GeneExpressionConfig",
    "GeneExpressionParams",
    "GeneExpressionState",
    "control_hints",
    "make_gene_expression",
    "physics_step",
    "propensities",
    "reset_env",
    "step_env",
]

NAME = "ccasr-gfp-control"

STOICHIOMETRY = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""Change of (mRNA, GFP) per reaction: transcription, mRNA decay, translation, protein decay."""


@dataclass(frozen=True)
class GeneExpressionConfig:
    """Static settings: episode limit, control interval and the SSA's reaction cap."""

    max_steps: Count = 288
    interval_minutes: float = 5.0
    max_reactions: int = 10_000
    """Reactions per interval at most (a safety bound; the defaults need about 10)."""

    def __post_init__(self) -> None:
        for field in ("max_steps", "max_reactions"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{NAME}: {field} must be a positive integer, got {value!r}")
        if not self.interval_minutes > 0:
            raise ValueError(f"{NAME}: interval_minutes must be positive, got {self.interval_minutes!r}")


@struct.dataclass
class GeneExpressionParams:
    """Dynamic parameters: reaction rates (per minute) and the tracking target."""

    transcription_light: float = 0.16
    transcription_dark: float = 0.008
    mrna_decay: float = 0.2
    translation: float = 1.0
    protein_decay: float = 0.01
    protein_target: float = 25.0
    protein_scale: float = 80.0
    """Observations and rewards are protein counts divided by this."""


@struct.dataclass
class GeneExpressionState:
    """Copy numbers ``counts = (mRNA, GFP)`` (int32 ``(2,)``) and the step counter."""

    counts: jax.Array
    time: jax.Array
    """int32 control intervals taken in the episode."""


def propensities(counts: jax.Array, light: jax.Array, params: GeneExpressionParams) -> jax.Array:
    """Reaction rates ``(4,)`` per minute in the order of :data:`STOICHIOMETRY`."""
    mrna, protein = counts[0].astype(jnp.float32), counts[1].astype(jnp.float32)
    transcription = params.transcription_dark + light * (
        params.transcription_light - params.transcription_dark
    )
    return jnp.stack(
        [
            jnp.asarray(transcription, jnp.float32),
            params.mrna_decay * mrna,
            params.translation * mrna,
            params.protein_decay * protein,
        ]
    )


def physics_step(
    key: jax.Array,
    state: GeneExpressionState,
    light: jax.Array,
    params: GeneExpressionParams,
    config: GeneExpressionConfig,
) -> tuple[GeneExpressionState, jax.Array]:
    """One control interval with the light fixed; returns the next state and whether the SSA hit
    its reaction cap."""
    light = jnp.asarray(light, jnp.float32)
    counts, _, capped = simulate_interval(
        key,
        state.counts,
        lambda c: propensities(c, light, params),
        STOICHIOMETRY,
        config.interval_minutes,
        config.max_reactions,
    )
    return GeneExpressionState(counts=counts, time=state.time + 1), capped


def observation(state: GeneExpressionState, params: GeneExpressionParams) -> jax.Array:
    """``(GFP, target) / protein_scale`` as float32, shape ``(2,)``."""
    protein = state.counts[1].astype(jnp.float32)
    return (
        jnp.stack([protein, jnp.asarray(params.protein_target, jnp.float32)]) / params.protein_scale
    ).astype(jnp.float32)


def reward(state: GeneExpressionState, params: GeneExpressionParams) -> jax.Array:
    """``-|GFP - protein_target| / protein_scale``."""
    protein = state.counts[1].astype(jnp.float32)
    return (-jnp.abs(protein - params.protein_target) / params.protein_scale).astype(jnp.float32)


def reset_env(
    key: jax.Array, params: GeneExpressionParams, config: GeneExpressionConfig
) -> tuple[jax.Array, GeneExpressionState]:
    """A fresh episode: no mRNA, no protein."""
    state = GeneExpressionState(counts=jnp.zeros(2, jnp.int32), time=jnp.int32(0))
    return observation(state, params), state


def step_env(
    key: jax.Array,
    state: GeneExpressionState,
    action: jax.Array,
    params: GeneExpressionParams,
    config: GeneExpressionConfig,
) -> tuple[jax.Array, GeneExpressionState, jax.Array, jax.Array, dict]:
    """One control interval with the light on for action 1, off for 0; never terminates."""
    light = (jnp.reshape(action, ()) == 1).astype(jnp.float32)
    next_state, capped = physics_step(key, state, light, params, config)
    info = {"protein": next_state.counts[1], "ssa_capped": capped}
    return observation(next_state, params), next_state, reward(next_state, params), jnp.bool_(False), info


def make_gene_expression(**overrides: Any) -> Environment:
    """The ``ccasr-gfp-control`` environment; ``overrides`` set config or params fields."""
    config, params = apply_overrides(NAME, GeneExpressionConfig(), GeneExpressionParams(), overrides)
    return Environment(
        name=NAME,
        config=config,
        params=params,
        observation_space=Box(low=0.0, high=float("inf"), shape=(2,)),
        action_space=Discrete(2),
        reset_env=reset_env,
        step_env=step_env,
        control=control_hints(params, config),
    )


def control_hints(params: GeneExpressionParams, config: GeneExpressionConfig) -> ControlHints:
    """Hold the protein level at its target: regulate ``GFP / protein_scale`` (component 0) at
    ``protein_target / protein_scale``, once every ``interval_minutes`` minutes.

    Light (action 1) raises the protein level (``action_sign=+1``), through mRNA, with a delay
    of a few intervals; a proportional gain of 1 switches the light on below the target.
    """
    return ControlHints(
        obs_index=0,
        setpoint=float(params.protein_target) / float(params.protein_scale),
        dt=float(config.interval_minutes),
        action_sign=1,
        kp=1.0,
    )


register_env(NAME, make_gene_expression)
