"""pendulum-control against Gymnasium's Pendulum-v1, step by step, plus reset and truncation."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.envs import make_env
from myriad_bench.envs.pendulum import PendulumState
from myriad_bench.envs.vector import vector_reset, vector_step

NUM_CASES = 2_000
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def env():
    return make_env("pendulum-control")


@pytest.fixture(scope="module")
def batched_step(env):
    def step(theta, theta_dot, actions):
        state = PendulumState(theta=theta, theta_dot=theta_dot, time=jnp.zeros(theta.shape[0], jnp.int32))
        return jax.vmap(lambda s, a: env.step_env(None, s, a, env.params, env.config))(state, actions)

    return jax.jit(step)


def test_step_matches_gymnasium(batched_step):
    rng = np.random.default_rng(1)
    # Unwrapped angles over several turns, speeds up to the limit, torques beyond it (clipped).
    theta = rng.uniform(-3 * np.pi, 3 * np.pi, NUM_CASES).astype(np.float32)
    theta_dot = rng.uniform(-8.0, 8.0, NUM_CASES).astype(np.float32)
    actions = rng.uniform(-3.0, 3.0, (NUM_CASES, 1)).astype(np.float32)

    obs, next_state, reward, terminated, _ = jax.device_get(
        batched_step(jnp.asarray(theta), jnp.asarray(theta_dot), jnp.asarray(actions))
    )

    reference = gymnasium.make("Pendulum-v1").unwrapped
    reference.reset(seed=0)
    for i in range(NUM_CASES):
        reference.state = np.array([theta[i], theta_dot[i]], dtype=np.float64)
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(actions[i].astype(np.float64))
        context = f"case {i}: theta={theta[i]}, theta_dot={theta_dot[i]}, action={actions[i]}"
        np.testing.assert_allclose(
            [next_state.theta[i], next_state.theta_dot[i]],
            reference.state,
            rtol=0,
            atol=TOLERANCE,
            err_msg=context,
        )
        np.testing.assert_allclose(obs[i], ref_obs, rtol=0, atol=TOLERANCE, err_msg=context)
        np.testing.assert_allclose(reward[i], ref_reward, rtol=0, atol=TOLERANCE, err_msg=context)
        assert not terminated[i] and not ref_terminated and not ref_truncated
    assert np.any(np.abs(actions) > 2.0), "clipping is exercised"


def test_constants_and_spaces_match_gymnasium(env):
    reference = gymnasium.make("Pendulum-v1")
    assert env.max_steps == reference.spec.max_episode_steps == 200
    np.testing.assert_allclose(env.action_space.bounds()[0], reference.action_space.low)
    np.testing.assert_allclose(env.action_space.bounds()[1], reference.action_space.high)
    np.testing.assert_allclose(env.observation_space.bounds()[1], reference.observation_space.high)
    unwrapped = reference.unwrapped
    for name in ("max_speed", "max_torque", "dt", "g", "m", "l"):
        assert getattr(env.params, name) == getattr(unwrapped, name), name


def test_reset_distribution(env):
    obs, state = jax.jit(lambda key: vector_reset(env, key, 20_000))(jax.random.key(0))
    assert obs.shape == (20_000, 3) and obs.dtype == jnp.float32
    assert np.all(np.abs(state.theta) <= np.pi) and np.all(np.abs(state.theta_dot) <= 1.0)
    np.testing.assert_allclose(state.theta.std(), 2 * np.pi / np.sqrt(12), rtol=0.03)
    np.testing.assert_allclose(state.theta_dot.std(), 2 / np.sqrt(12), rtol=0.03)
    np.testing.assert_allclose(obs[:, 0], np.cos(state.theta), atol=1e-6)
    np.testing.assert_allclose(obs[:, 1], np.sin(state.theta), atol=1e-6)
    np.testing.assert_array_equal(obs[:, 2], state.theta_dot)


def test_truncated_after_200_steps_and_reset(env):
    def run(key):
        _, state = vector_reset(env, key, 4)

        def body(state, key):
            obs, state, _reward, done, info = vector_step(env, key, state, jnp.zeros((4, 1), jnp.float32))
            return state, (done, info["terminated"], info["truncated"], state.time, obs, state.theta_dot)

        return jax.lax.scan(body, state, jax.random.split(key, 201))[1]

    done, terminated, truncated, time, _obs, theta_dot = jax.jit(run)(jax.random.key(5))
    assert not np.any(terminated)
    np.testing.assert_array_equal(done, truncated)
    np.testing.assert_array_equal(np.nonzero(done[:, 0])[0], [199])
    assert np.all(done[199]) and np.all(time[199] == 0) and np.all(time[200] == 1)
    assert np.all(np.abs(theta_dot[199]) <= 1.0), "the truncated envs come back reset"
