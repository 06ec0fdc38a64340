"""Gillespie's exact stochastic simulation algorithm (SSA) over one control interval, in JAX.

A reaction network is given by integer species ``counts (S,)``, a ``propensities(counts) ->
(R,)`` function and a static stoichiometry matrix ``(R, S)``. :func:`simulate_interval` fires
reactions one at a time (direct method: exponential waiting time with rate ``a0 = sum(a)``,
reaction ``j`` with probability ``a_j / a0``) until the interval ends, inside a bounded
``lax.while_loop``.

Why stopping at the interval boundary is exact: the propensities only change when a reaction
fires or the control input changes at a boundary, and the exponential waiting time is
memoryless, so discarding the pending reaction at the boundary and drawing a fresh waiting time
in the next interval gives the same process as carrying it over.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["simulate_interval"]


def simulate_interval(
    key: jax.Array,
    counts: jax.Array,
    propensities: Callable[[jax.Array], jax.Array],
    stoichiometry: tuple[tuple[int, ...], ...],
    duration: float | jax.Array,
    max_reactions: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Simulate ``duration`` time units from ``counts`` with the exact SSA.

    Returns ``(counts, num_reactions, capped)``: the int32 counts ``(S,)`` at the end of the
    interval, the number of reactions fired (int32) and whether the loop stopped at
    ``max_reactions`` before the interval ended (the state is then that of an earlier time).
    """
    change = jnp.asarray(stoichiometry, jnp.int32)
    num_reaction_types = change.shape[0]
    duration = jnp.asarray(duration, jnp.float32)

    def unfinished(carry):
        time, _, fired = carry
        return (time < duration) & (fired < max_reactions)

    def fire(carry):
        time, counts, fired = carry
        rates = propensities(counts).astype(jnp.float32)
        cumulative = jnp.cumsum(rates)
        total = cumulative[-1]
        u_wait, u_pick = jax.random.uniform(jax.random.fold_in(key, fired), (2,), jnp.float32)
        # -log(1 - u) with u in [0, 1) is a finite Exp(1) draw; a0 == 0 means nothing ever fires.
        wait = jnp.where(total > 0, -jnp.log1p(-u_wait) / total, jnp.inf)
        happens = time + wait < duration
        reaction = jnp.sum(cumulative <= u_pick * total)
        # u_pick * total can round up to total: fall back to the last reaction that can fire.
        last_possible = num_reaction_types - 1 - jnp.argmax(rates[::-1] > 0)
        reaction = jnp.where(reaction < num_reaction_types, reaction, last_possible)
        counts = jnp.where(happens, counts + change[reaction], counts)
        return jnp.where(happens, time + wait, duration), counts, fired + happens.astype(jnp.int32)

    start = (jnp.float32(0.0), jnp.asarray(counts, jnp.int32), jnp.int32(0))
    time, counts, fired = jax.lax.while_loop(unfinished, fire, start)
    return counts, fired, time < duration
