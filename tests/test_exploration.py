"""ε-greedy exploration shared by DQN and PQN: the linear schedule (traced) and the action draw."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.agents.exploration import epsilon, epsilon_greedy


def test_epsilon_is_linear_then_constant_and_zero_decay_jumps_after_step_zero():
    steps = jnp.array([0, 25, 50, 100, 1000])
    np.testing.assert_allclose(epsilon(steps, 1.0, 0.2, 100), [1.0, 0.8, 0.6, 0.2, 0.2], rtol=1e-6)
    np.testing.assert_allclose(epsilon(jnp.array([0, 1, 7]), 0.9, 0.1, 0), [0.9, 0.1, 0.1], rtol=1e-6)


def test_epsilon_schedule_is_traced_so_one_program_serves_every_schedule():
    traces = []

    def schedule(step, start, end, decay_steps):
        traces.append(None)  # runs once per compilation
        return epsilon(step, start, end, decay_steps)

    compiled = jax.jit(schedule)
    assert float(compiled(jnp.int32(50), 1.0, 0.0, 100)) == pytest.approx(0.5)
    assert float(compiled(jnp.int32(50), 1.0, 0.0, 200)) == pytest.approx(0.75)
    assert float(compiled(jnp.int32(50), 0.5, 0.1, 0)) == pytest.approx(0.1)
    assert len(traces) == 1
    # A sweep over decay lengths is one vmapped program.
    swept = jax.vmap(epsilon, in_axes=(None, None, None, 0))(jnp.int32(10), 1.0, 0.0, jnp.array([10, 20, 40]))
    np.testing.assert_allclose(swept, [0.0, 0.5, 0.75], rtol=1e-6)


def q_values(batch: int = 4000, actions: int = 4) -> jax.Array:
    return jax.random.normal(jax.random.key(0), (batch, actions))


def test_epsilon_zero_is_greedy_and_one_is_uniform():
    q = q_values()
    greedy = epsilon_greedy(jax.random.key(1), q, 0.0)
    assert greedy.dtype == jnp.int32 and greedy.shape == (4000,)
    np.testing.assert_array_equal(greedy, jnp.argmax(q, axis=-1))
    uniform = np.asarray(epsilon_greedy(jax.random.key(1), q, 1.0))
    counts = np.bincount(uniform, minlength=4)
    # Each count is binomial(4000, 1/4): sd ≈ 27, so ±150 is a > 5-sigma band.
    assert len(counts) == 4 and np.all(np.abs(counts - 1000) < 150), counts


def test_an_exploring_step_may_pick_the_greedy_action_too():
    q = q_values()
    actions = np.asarray(epsilon_greedy(jax.random.key(2), q, 0.4))
    non_greedy = np.mean(actions != np.asarray(jnp.argmax(q, axis=-1)))
    # ε (n - 1) / n = 0.3 of the actions differ from the greedy ones; sd of the mean ≈ 0.007.
    assert non_greedy == pytest.approx(0.3, abs=0.04)
    again = epsilon_greedy(jax.random.key(2), q, 0.4)
    np.testing.assert_array_equal(actions, again)  # a pure function of the key
