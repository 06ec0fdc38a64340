"""The batched API: same semantics as vmapping the single-env auto-reset step, one key per step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.envs import auto_reset_step_with_keys, make_env
from myriad_bench.envs.vector import HASH_PRNG, batch_keys, vector_reset, vector_step

NUM_ENVS = 64
ENV_NAMES = ["cartpole-control", "pendulum-control", "ccasr-gfp-control"]


def sample_actions(env, key, num_envs):
    return (
        env.action_space.sample(key, (num_envs,))
        if env.name != "pendulum-control"
        else (jax.random.uniform(key, (num_envs, 1), minval=-2.0, maxval=2.0))
    )


@pytest.fixture(scope="module", params=ENV_NAMES)
def env(request):
    # Short episodes so that resets happen within a few steps.
    return make_env(request.param, max_steps=5)


def test_vector_step_equals_vmapped_single_env_step(env):
    def both(key):
        key_reset, _key_actions, key_step = jax.random.split(key, 3)
        _, state = vector_reset(env, key_reset, NUM_ENVS)

        def body(state, keys):
            actions = sample_actions(env, keys[0], NUM_ENVS)
            fast = vector_step(env, keys[1], state, actions)
            single = jax.vmap(
                lambda ks, kr, s, a: auto_reset_step_with_keys(
                    env.step_env, env.reset_env, ks, kr, s, a, env.params, env.config
                )
            )(batch_keys(keys[1], NUM_ENVS, 0), batch_keys(keys[1], NUM_ENVS, 1), state, actions)
            return fast[1], (fast, single)

        return jax.lax.scan(body, state, jax.random.split(key_step, (12, 2)))[1]

    fast, single = jax.jit(both)(jax.random.key(0))
    jax.tree.map(np.testing.assert_array_equal, fast, single)
    obs, state, reward, done, info = fast
    assert obs.shape == (12, NUM_ENVS, *env.observation_space.shape) and obs.dtype == jnp.float32
    assert reward.shape == done.shape == (12, NUM_ENVS)
    assert reward.dtype == jnp.float32 and done.dtype == jnp.bool_
    assert info["terminated"].dtype == info["truncated"].dtype == jnp.bool_
    np.testing.assert_array_equal(done, info["terminated"] | info["truncated"])
    assert np.all(done.sum(axis=0) >= 2), "every env finished an episode at least twice in 12 steps of 5"
    assert np.all(state.time[done] == 0) and np.all(state.time[~done] > 0)


def test_done_envs_come_back_reset_and_others_take_the_physics_step(env):
    # Checked against the env's own step_env/reset_env, independently of the auto-reset code.
    _, state = vector_reset(env, jax.random.key(1), NUM_ENVS)
    step = jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))
    resets = 0
    for t in range(7):
        key = jax.random.key(t)
        actions = sample_actions(env, jax.random.key(100 + t), NUM_ENVS)
        obs, next_state, reward, done, info = step(key, state, actions)
        step_obs, stepped, step_reward, terminated, _ = jax.vmap(
            lambda k, s, a: env.step_env(k, s, a, env.params, env.config)
        )(batch_keys(key, NUM_ENVS, 0), state, actions)
        reset_obs, reset_state = jax.vmap(lambda k: env.reset_env(k, env.params, env.config))(
            batch_keys(key, NUM_ENVS, 1)
        )
        truncated = (stepped.time >= env.max_steps) & ~terminated
        np.testing.assert_array_equal(info["terminated"], terminated)
        np.testing.assert_array_equal(info["truncated"], truncated)
        np.testing.assert_array_equal(done, terminated | truncated)
        # Separately compiled programs may round differently (fused multiply-adds).
        np.testing.assert_allclose(reward, step_reward, rtol=1e-6)
        np.testing.assert_allclose(obs, np.where(done[:, None], reset_obs, step_obs), rtol=1e-6, atol=1e-7)
        for new, fresh, old in zip(
            jax.tree.leaves(next_state), jax.tree.leaves(reset_state), jax.tree.leaves(stepped), strict=True
        ):
            mask = done.reshape(done.shape + (1,) * (new.ndim - 1))
            np.testing.assert_allclose(new, np.where(mask, fresh, old), rtol=1e-6, atol=1e-7)
        state = next_state
        resets += int(done.sum())
    assert resets >= NUM_ENVS


def test_vector_reset_equals_vmapped_reset(env):
    obs, state = vector_reset(env, jax.random.key(2), NUM_ENVS)
    keys = batch_keys(jax.random.key(2), NUM_ENVS, 1)
    expected = jax.vmap(lambda k: env.reset_env(k, env.params, env.config))(keys)
    jax.tree.map(np.testing.assert_array_equal, (obs, state), expected)


def test_same_key_same_batch_and_different_keys_differ():
    env = make_env("cartpole-control")
    first, _ = vector_reset(env, jax.random.key(0), 1_000)
    again, _ = vector_reset(env, jax.random.key(0), 1_000)
    other, _ = vector_reset(env, jax.random.key(1), 1_000)
    raw, _ = vector_reset(env, jax.random.PRNGKey(0), 1_000)  # raw uint32 keys work too
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, raw)
    assert np.all(first != other)
    assert len(np.unique(first[:, 0])) == 1_000, "every env gets its own randomness"


def test_batch_keys_are_distinct_and_uniform():
    keys = batch_keys(jax.random.key(42), 200_000)
    data = np.asarray(jax.random.key_data(keys))
    assert data.shape == (200_000, 2)
    assert len(np.unique(data.view(np.uint64))) == 200_000
    assert not np.array_equal(
        data, np.asarray(jax.random.key_data(batch_keys(jax.random.key(42), 200_000, 1)))
    )
    u = np.asarray(jax.vmap(lambda k: jax.random.uniform(k, (4,)))(keys))
    # Moments and the correlation of neighbours and of successive draws of one key.
    np.testing.assert_allclose(u.mean(), 0.5, atol=2e-3)
    np.testing.assert_allclose(u.var(), 1 / 12, rtol=1e-2)
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.01
    counts = np.bincount((u[:, 0] * 16).astype(int), minlength=16)
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert chi2 < 50, f"chi-square {chi2:.1f} with 15 degrees of freedom"


def test_hash_prng_works_as_a_jax_key_implementation():
    key = jax.random.key(7, impl=HASH_PRNG)
    left, right = jax.random.split(key)
    assert not np.array_equal(jax.random.key_data(left), jax.random.key_data(right))
    folded = jax.random.fold_in(key, 3)
    assert not np.array_equal(jax.random.key_data(folded), jax.random.key_data(key))
    normal = jax.random.normal(left, (50_000,))
    assert abs(float(normal.mean())) < 0.03 and abs(float(normal.std()) - 1) < 0.02
    ints = jax.random.randint(right, (50_000,), 0, 10)
    assert set(np.unique(ints)) == set(range(10))


def test_one_env_batch():
    env = make_env("cartpole-control")
    obs, state = vector_reset(env, jax.random.key(0), 1)
    obs, state, reward, done, _info = jax.jit(lambda k, s, a: vector_step(env, k, s, a))(
        jax.random.key(1), state, jnp.zeros(1, jnp.int32)
    )
    assert obs.shape == (1, 4) and reward.shape == (1,) and done.shape == (1,)
