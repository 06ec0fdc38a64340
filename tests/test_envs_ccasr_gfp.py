"""The Gillespie SSA against analytic moments, and the ccasr-gfp-control task built on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.envs import make_env
from myriad_bench.envs.gillespie import simulate_interval
from myriad_bench.envs.vector import vector_reset, vector_step

BIRTH, DEATH = 20.0, 1.0
NUM_PATHS = 20_000


def birth_death(key, counts, duration, max_reactions=10_000):
    return simulate_interval(
        key,
        counts,
        lambda c: jnp.stack([jnp.float32(BIRTH), DEATH * c[0].astype(jnp.float32)]),
        ((1,), (-1,)),
        duration,
        max_reactions,
    )


def assert_poisson(samples: np.ndarray, mean: float) -> None:
    """Sample mean and variance both equal ``mean``, within 5 standard errors."""
    __tracebackhide__ = True
    n = samples.size
    mean_se = np.sqrt(mean / n)
    var_se = np.sqrt((2 * mean**2 + mean) / n)
    assert abs(samples.mean() - mean) < 5 * mean_se, f"mean {samples.mean():.3f}, expected {mean:.3f}"
    assert abs(samples.var() - mean) < 5 * var_se, f"variance {samples.var():.3f}, expected {mean:.3f}"


def test_birth_death_from_empty_is_poisson_with_analytic_mean():
    # Started empty, the count at time t is Poisson with mean k/gamma (1 - exp(-gamma t)).
    keys = jax.random.split(jax.random.key(0), NUM_PATHS)
    counts, fired, capped = jax.jit(jax.vmap(lambda k: birth_death(k, jnp.zeros(1, jnp.int32), 1.0)))(keys)
    assert not np.any(capped)
    assert_poisson(np.asarray(counts[:, 0]), BIRTH / DEATH * (1 - np.exp(-DEATH * 1.0)))
    assert np.all(fired >= counts[:, 0])


def test_chained_intervals_reach_the_stationary_distribution():
    # Ten intervals of one time unit, each restarting the waiting time at the boundary, must give
    # the stationary law Poisson(k / gamma): the restart is exact because waiting is memoryless.
    def path(key):
        def interval(counts, key):
            counts, _, capped = birth_death(key, counts, 1.0)
            return counts, capped

        return jax.lax.scan(interval, jnp.zeros(1, jnp.int32), jax.random.split(key, 10))

    counts, capped = jax.jit(jax.vmap(path))(jax.random.split(jax.random.key(1), NUM_PATHS))
    assert not np.any(capped)
    assert_poisson(np.asarray(counts[:, 0]), BIRTH / DEATH * (1 - np.exp(-DEATH * 10.0)))


def test_reaction_cap_stops_early_and_says_so():
    _counts, fired, capped = jax.jit(
        lambda k: birth_death(k, jnp.zeros(1, jnp.int32), 100.0, max_reactions=5)
    )(jax.random.key(2))
    assert int(fired) == 5 and bool(capped)


def test_nothing_happens_when_all_propensities_are_zero():
    counts, fired, capped = simulate_interval(
        jax.random.key(3), jnp.array([4], jnp.int32), lambda c: jnp.zeros(1), ((1,),), 5.0, 100
    )
    assert int(counts[0]) == 4 and int(fired) == 0 and not bool(capped)


@pytest.fixture(scope="module")
def env():
    return make_env("ccasr-gfp-control", max_steps=10_000)


def run_constant_light(env, light: int, num_envs: int, num_steps: int, seed: int):
    def run(key):
        _, state = vector_reset(env, key, num_envs)

        def body(state, key):
            _obs, state, reward, _done, info = vector_step(
                env, key, state, jnp.full(num_envs, light, jnp.int32)
            )
            return state, (reward, info["ssa_capped"])

        return jax.lax.scan(body, state, jax.random.split(key, num_steps))

    return jax.jit(run)(jax.random.key(seed))


def test_light_on_reaches_the_two_stage_stationary_moments(env):
    # 150 intervals of 5 min = 7.5 protein lifetimes: the final counts are stationary.
    state, (reward, capped) = run_constant_light(env, light=1, num_envs=2_000, num_steps=150, seed=4)
    assert not np.any(capped)
    p = env.params
    mrna_mean = p.transcription_light / p.mrna_decay
    protein_mean = mrna_mean * p.translation / p.protein_decay
    fano = 1 + p.translation / (p.mrna_decay + p.protein_decay)
    mrna, protein = np.asarray(state.counts[:, 0]), np.asarray(state.counts[:, 1])
    assert_poisson(mrna, mrna_mean)
    protein_se = np.sqrt(protein_mean * fano / protein.size)
    assert abs(protein.mean() - protein_mean) < 5 * protein_se, protein.mean()
    assert protein.var() / protein.mean() == pytest.approx(fano, rel=0.15)
    np.testing.assert_allclose(reward[-1], -np.abs(protein - p.protein_target) / p.protein_scale, rtol=1e-6)


def test_dark_keeps_expression_low(env):
    state, _ = run_constant_light(env, light=0, num_envs=500, num_steps=150, seed=5)
    p = env.params
    dark_mean = p.transcription_dark * p.translation / (p.mrna_decay * p.protein_decay)
    assert abs(np.asarray(state.counts[:, 1]).mean() - dark_mean) < 1.0


def test_task_interface():
    env = make_env("ccasr-gfp-control", max_steps=3, protein_target=40.0)
    assert env.action_space.n == 2 and env.observation_space.shape == (2,)
    obs, state = vector_reset(env, jax.random.key(0), 5)
    assert obs.dtype == jnp.float32
    np.testing.assert_allclose(obs, np.tile([0.0, 40.0 / 80.0], (5, 1)))
    step = jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))
    for t in range(3):
        obs, state, reward, done, info = step(jax.random.key(t), state, jnp.ones(5, jnp.int32))
        assert obs.shape == (5, 2) and reward.dtype == jnp.float32
        assert np.all(done == (t == 2)) and not np.any(info["terminated"])
    np.testing.assert_array_equal(state.counts, 0)


def test_config_is_validated():
    with pytest.raises(ValueError, match="interval_minutes"):
        make_env("ccasr-gfp-control", interval_minutes=0.0)
    with pytest.raises(ValueError, match="max_reactions"):
        make_env("ccasr-gfp-control", max_reactions=0)
