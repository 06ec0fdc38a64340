"""The evaluation rollout: lengths and returns known by hand, masking after done, shapes, purity."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from myriad_bench.agents import make_agent
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs import Environment, make_env
from myriad_bench.platform.rollout import make_rollout

# --- a counter environment whose episodes are known by hand -------------------------------------
# An episode starts at position s ~ U{0..3}; each step adds 1 and pays the new position; it
# terminates on reaching `target`. So it lasts target - s steps and returns s+1 + ... + target.


@dataclass(frozen=True)
class CounterConfig:
    max_steps: int = 8


@struct.dataclass
class CounterParams:
    target: float = 5.0


@struct.dataclass
class CounterState:
    position: jax.Array
    time: jax.Array


def counter_reset(key, params, config):
    position = jax.random.randint(key, (), 0, 4).astype(jnp.float32)
    return position[None], CounterState(position=position, time=jnp.int32(0))


def counter_step(key, state, action, params, config):
    position = state.position + 1.0
    next_state = CounterState(position=position, time=state.time + 1)
    return position[None], next_state, position, position >= params.target, {}


def make_counter(max_steps: int = 8, target: float = 5.0) -> Environment:
    return Environment(
        name="test-counter",
        config=CounterConfig(max_steps=max_steps),
        params=CounterParams(target=target),
        observation_space=Box(low=0.0, high=100.0, shape=(1,)),
        action_space=Discrete(2),
        reset_env=counter_reset,
        step_env=counter_step,
    )


def expected(starts: np.ndarray, target: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and returns of counter episodes from ``starts``, cut after ``limit`` steps."""
    lengths = np.minimum(target - starts, limit).astype(int)
    returns = np.array([sum(s + k for k in range(1, n + 1)) for s, n in zip(starts, lengths, strict=True)])
    return lengths, returns


E = 32
AGENT = make_agent("random", Discrete(2))
STATE = AGENT.init(jax.random.key(0), jnp.zeros(1), AGENT.params)


@pytest.fixture(scope="module")
def counter_episodes():
    env = make_counter()
    out = jax.jit(make_rollout(env, AGENT, E, return_episodes=True))(jax.random.key(3), STATE)
    return env, jax.device_get(out)


def test_lengths_and_returns_match_the_hand_computation(counter_episodes):
    _, out = counter_episodes
    starts = out["observations"][:, 0, 0]
    assert set(np.unique(starts)) <= {0.0, 1.0, 2.0, 3.0} and len(np.unique(starts)) > 1
    lengths, returns = expected(starts, 5.0, limit=8)
    np.testing.assert_array_equal(out["episode_lengths"], lengths)
    np.testing.assert_allclose(out["episode_returns"], returns)
    assert out["episode_lengths"].dtype == np.int32 and out["episode_returns"].dtype == np.float32


def test_episode_arrays_are_masked_after_the_first_done(counter_episodes):
    _, out = counter_episodes
    assert out["observations"].shape == (E, 8, 1)
    assert out["actions"].shape == (E, 8) and out["actions"].dtype == np.int32
    assert out["rewards"].shape == (E, 8) and out["dones"].shape == (E, 8) and out["dones"].dtype == bool
    steps = np.arange(8)[None, :]
    real = steps < out["episode_lengths"][:, None]
    starts = out["observations"][:, :1, 0]
    # Real steps: observation s + t, reward s + t + 1, done only on the last one.
    np.testing.assert_allclose(out["observations"][..., 0], np.where(real, starts + steps, 0.0))
    np.testing.assert_allclose(out["rewards"], np.where(real, starts + steps + 1, 0.0))
    np.testing.assert_array_equal(out["dones"], steps >= out["episode_lengths"][:, None] - 1)
    assert np.all(out["actions"][~real] == 0)
    np.testing.assert_allclose(out["rewards"].sum(axis=1), out["episode_returns"])


def test_early_exit_loop_gives_the_same_results_as_the_recording_scan(counter_episodes):
    env, recorded = counter_episodes
    out = jax.jit(make_rollout(env, AGENT, E))(jax.random.key(3), STATE)
    assert set(out) == {"episode_returns", "episode_lengths"}
    np.testing.assert_array_equal(out["episode_lengths"], recorded["episode_lengths"])
    np.testing.assert_array_equal(out["episode_returns"], recorded["episode_returns"])


@pytest.mark.parametrize(("env_max_steps", "eval_max_steps"), [(8, 3), (2, 10)])
def test_episodes_cut_by_the_rollout_or_by_env_truncation(env_max_steps, eval_max_steps):
    env = make_counter(max_steps=env_max_steps)
    out = jax.jit(make_rollout(env, AGENT, E, max_steps=eval_max_steps, return_episodes=True))(
        jax.random.key(4), STATE
    )
    starts = out["observations"][:, 0, 0]
    lengths, returns = expected(np.asarray(starts), 5.0, limit=min(env_max_steps, eval_max_steps))
    assert out["rewards"].shape == (E, eval_max_steps)
    np.testing.assert_array_equal(out["episode_lengths"], lengths)
    np.testing.assert_allclose(out["episode_returns"], returns)


def test_env_params_are_an_argument_of_the_compiled_rollout():
    env = make_counter()
    traced = []
    rollout = make_rollout(env, AGENT, E, return_episodes=True)

    @jax.jit
    def run(key, env_params):
        traced.append(1)
        return rollout(key, STATE, env_params=env_params)

    out = run(jax.random.key(5), CounterParams(target=jnp.float32(7.0)))
    run(jax.random.key(5), CounterParams(target=jnp.float32(6.0)))
    assert len(traced) == 1
    lengths, _ = expected(np.asarray(out["observations"][:, 0, 0]), 7.0, limit=8)
    np.testing.assert_array_equal(out["episode_lengths"], lengths)


def test_rollout_vmaps_over_seeds_inside_a_jit():
    env = make_counter()
    rollout = make_rollout(env, AGENT, E)
    keys = jax.random.split(jax.random.key(6), 3)
    batched = jax.jit(jax.vmap(rollout, in_axes=(0, None)))(keys, STATE)
    assert batched["episode_lengths"].shape == (3, E)
    for i in range(3):
        single = jax.jit(rollout)(keys[i], STATE)
        np.testing.assert_array_equal(batched["episode_lengths"][i], single["episode_lengths"])
        np.testing.assert_array_equal(batched["episode_returns"][i], single["episode_returns"])
    assert not np.array_equal(batched["episode_lengths"][0], batched["episode_lengths"][1])


def test_continuous_actions_on_pendulum_have_the_documented_shapes():
    env = make_env("pendulum-control")
    agent = make_agent("pid", env.action_space, obs_index=1, kp=5.0, dt=0.05)
    state = agent.init(jax.random.key(0), jnp.zeros(3), agent.params)
    out = jax.jit(make_rollout(env, agent, 4, max_steps=50, return_episodes=True))(jax.random.key(0), state)
    assert out["observations"].shape == (4, 50, 3)
    assert out["actions"].shape == (4, 50, 1) and out["actions"].dtype == np.float32
    assert bool(jnp.all(jnp.abs(out["actions"]) <= 2.0))
    np.testing.assert_array_equal(out["episode_lengths"], [50, 50, 50, 50])
    np.testing.assert_allclose(out["rewards"].sum(axis=1), out["episode_returns"], rtol=1e-5)
    assert bool(jnp.all(out["episode_returns"] < 0))


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match="num_episodes must be a positive integer, got 0"):
        make_rollout(make_counter(), AGENT, 0)
    with pytest.raises(ValueError, match=r"max_steps must be a positive integer, got 2\.5"):
        make_rollout(make_counter(), AGENT, 4, max_steps=2.5)
