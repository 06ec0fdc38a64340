"""ε-greedy exploration of the Q-learning agents (DQN, PQN): the linear ε schedule and the draw.

>>> eps = epsilon(state.step, params.epsilon_start, params.epsilon_end, params.epsilon_decay_steps)
>>> actions = epsilon_greedy(key, q_values, eps)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["epsilon", "epsilon_greedy"]


def epsilon(step: jax.Array, start: Any, end: Any, decay_steps: Any) -> jax.Array:
    """ε after ``step`` steps: linear from ``start`` to ``end`` over ``decay_steps``, then ``end``.

    ``decay_steps = 0`` gives ``start`` at step 0 and ``end`` from step 1 on.

    All four may be traced: the schedule's numbers are pytree leaves of the agents' params, so a
    sweep over them reuses one compiled program. That rules out ``optax.linear_schedule``,
    which branches in Python on ``transition_steps <= 0`` (a traced length raises
    ``TracerBoolConversionError``) and interpolates as ``(start - end) * (1 - t) + end``, which
    rounds differently from the formula below that the stored baselines were trained with.
    """
    fraction = jnp.clip(step / jnp.maximum(decay_steps, 1), 0.0, 1.0)
    return start + fraction * (end - start)


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: Any) -> jax.Array:
    """Actions ``(B,)`` int32 for Q-values ``(B, num_actions)``: with probability ``epsilon`` each one
    is uniform over the actions (the greedy one included), otherwise the argmax."""
    greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
    key_explore, key_random = jax.random.split(key)
    explore = jax.random.uniform(key_explore, greedy.shape) < epsilon
    random_action = jax.random.randint(key_random, greedy.shape, 0, q_values.shape[-1], jnp.int32)
    return jnp.where(explore, random_action, greedy)
