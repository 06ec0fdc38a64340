"""cartpole-control against Gymnasium's CartPole-v1, step by step, plus reset and episode ends."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.envs import make_env
from myriad_bench.envs.cartpole import CartPoleState
from myriad_bench.envs.vector import vector_reset, vector_step

NUM_CASES = 2_000
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def env():
    return make_env("cartpole-control")


@pytest.fixture(scope="module")
def batched_step(env):
    def step(physics, actions):
        state = CartPoleState(physics=physics, time=jnp.zeros(physics.shape[0], jnp.int32))
        return jax.vmap(lambda s, a: env.step_env(None, s, a, env.params, env.config))(state, actions)

    return jax.jit(step)


def test_step_matches_gymnasium(env, batched_step):
    rng = np.random.default_rng(0)
    # Cover the whole region an episode can visit, inside and just outside the thresholds.
    high = np.array([2.6, 3.0, 0.25, 3.5])
    physics = rng.uniform(-high, high, size=(NUM_CASES, 4)).astype(np.float32)
    actions = rng.integers(0, 2, size=NUM_CASES).astype(np.int32)

    obs, next_state, reward, terminated, _info = jax.device_get(
        batched_step(jnp.asarray(physics), jnp.asarray(actions))
    )

    reference = gymnasium.make("CartPole-v1").unwrapped
    reference.reset(seed=0)
    compared = 0
    for i in range(NUM_CASES):
        reference.state = physics[i].astype(np.float64)
        reference.steps_beyond_terminated = None
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(int(actions[i]))
        ref_next = np.asarray(reference.state)
        np.testing.assert_allclose(
            next_state.physics[i], ref_next, rtol=0, atol=TOLERANCE, err_msg=f"case {i}"
        )
        np.testing.assert_allclose(obs[i], ref_obs, rtol=0, atol=TOLERANCE, err_msg=f"case {i}")
        assert reward[i] == ref_reward == 1.0
        assert not ref_truncated
        # float32 vs float64 can only disagree on termination within rounding of a threshold.
        margin = min(abs(abs(ref_next[0]) - 2.4), abs(abs(ref_next[2]) - reference.theta_threshold_radians))
        if margin > TOLERANCE:
            assert bool(terminated[i]) == ref_terminated, f"case {i}: state {physics[i]}, action {actions[i]}"
            compared += 1
    assert compared > 0.99 * NUM_CASES
    assert 0.2 < terminated.mean() < 0.8, "the cases should exercise both outcomes"


def test_constants_and_spaces_match_gymnasium(env):
    reference = gymnasium.make("CartPole-v1")
    assert env.max_steps == reference.spec.max_episode_steps == 500
    assert env.action_space.n == reference.action_space.n == 2
    np.testing.assert_allclose(env.observation_space.bounds()[1], reference.observation_space.high)
    unwrapped = reference.unwrapped
    for name in ("gravity", "masscart", "masspole", "length", "force_mag", "tau", "x_threshold"):
        assert getattr(env.params, name) == getattr(unwrapped, name), name
    assert env.params.theta_threshold_radians == pytest.approx(unwrapped.theta_threshold_radians)


def test_reset_draws_uniform_small_states(env):
    obs, state = jax.jit(lambda key: vector_reset(env, key, 20_000))(jax.random.key(0))
    assert obs.shape == (20_000, 4) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, state.physics)
    assert np.all(np.abs(obs) <= 0.05)
    assert np.all(state.time == 0)
    # U(-0.05, 0.05): mean 0, standard deviation 0.1 / sqrt(12).
    np.testing.assert_allclose(obs.mean(axis=0), 0.0, atol=0.002)
    np.testing.assert_allclose(obs.std(axis=0), 0.1 / np.sqrt(12), rtol=0.03)
    assert np.abs(obs).max() > 0.049


def test_terminal_step_resets_and_reports_termination(env):
    falling = CartPoleState(
        physics=jnp.array([[0.0, 0.0, 0.2, 2.0], [0.0, 0.0, 0.0, 0.0]], jnp.float32),
        time=jnp.array([10, 10], jnp.int32),
    )
    obs, state, reward, done, info = vector_step(env, jax.random.key(3), falling, jnp.array([1, 1]))
    np.testing.assert_array_equal(done, [True, False])
    np.testing.assert_array_equal(info["terminated"], [True, False])
    np.testing.assert_array_equal(info["truncated"], [False, False])
    np.testing.assert_array_equal(reward, [1.0, 1.0])
    np.testing.assert_array_equal(state.time, [0, 11])
    assert np.all(np.abs(obs[0]) <= 0.05), "the terminated env comes back reset"
    np.testing.assert_array_equal(obs, state.physics)


def test_episode_is_truncated_at_max_steps():
    env = make_env("cartpole-control", max_steps=7, x_threshold=1e6, theta_threshold_radians=1e6)
    step = jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))
    _, state = vector_reset(env, jax.random.key(0), 3)
    keys = jax.random.split(jax.random.key(1), 7)
    for t in range(7):
        obs, state, _reward, done, info = step(keys[t], state, jnp.ones(3, jnp.int32))
        assert not np.any(info["terminated"])
        expected = t == 6
        assert np.all(done == expected) and np.all(info["truncated"] == expected), t
    np.testing.assert_array_equal(state.time, 0)
    assert np.all(np.abs(obs) <= 0.05)
