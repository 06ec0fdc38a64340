"""make_env: the built-in names, overrides of config and params, errors, user-registered envs."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs import Environment, apply_overrides, env_names, make_env, register_env
from myriad_bench.envs.registry import unregister_env
from myriad_bench.envs.vector import vector_reset, vector_step


def test_builtin_names_follow_the_myriad_platform():
    assert {"cartpole-control", "pendulum-control", "ccasr-gfp-control"} <= set(env_names())


@pytest.mark.parametrize("name", ["cartpole-control", "pendulum-control", "ccasr-gfp-control"])
def test_builtin_envs_are_well_formed(name):
    env = make_env(name)
    assert env.name == name
    hash(env.config)  # static: usable as a jit static argument
    obs, state = env.reset(jax.random.key(0))
    assert obs.shape == env.observation_space.shape and obs.dtype == jnp.float32
    assert state.time.dtype == jnp.int32 and int(state.time) == 0
    action = env.action_space.sample(jax.random.key(1))
    obs, state, reward, done, info = jax.jit(env.step)(jax.random.key(2), state, action)
    assert obs.shape == env.observation_space.shape and obs.dtype == jnp.float32
    assert reward.shape == () and reward.dtype == jnp.float32
    assert done.dtype == jnp.bool_ and {"terminated", "truncated"} <= set(info)


def test_overrides_go_to_config_or_params():
    env = make_env("cartpole-control", max_steps=50, gravity=3.7)
    assert env.config.max_steps == 50 and env.max_steps == 50
    assert env.params.gravity == 3.7 and env.params.masscart == 1.0
    pendulum = make_env("pendulum-control", max_torque=1.5)
    assert pendulum.action_space == Box(low=-1.5, high=1.5, shape=(1,))


def test_unknown_environment_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown environment 'cartpole-v1'.*cartpole-control"):
        make_env("cartpole-v1")


def test_unknown_override_names_the_field_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"'cartpole-control' has no field 'gravty'.*gravity"):
        make_env("cartpole-control", gravty=9.8)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_invalid_max_steps_is_rejected(bad):
    with pytest.raises(ValueError, match=rf"max_steps must be an integer >= 1, got {bad!r}"):
        make_env("pendulum-control", max_steps=bad)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_env("cartpole-control", lambda **kw: make_env("cartpole-control"))


@dataclasses.dataclass(frozen=True)
class CounterConfig:
    max_steps: int = 3


@struct.dataclass
class CounterParams:
    increment: float = 1.0


@struct.dataclass
class CounterState:
    value: jax.Array
    time: jax.Array


def _counter_reset(key, params, config):
    state = CounterState(value=jnp.float32(0.0), time=jnp.int32(0))
    return state.value[None], state


def _counter_step(key, state, action, params, config):
    value = state.value + params.increment * action
    return value[None], CounterState(value=value, time=state.time + 1), value, value > 100.0, {}


def make_counter(**overrides):
    config, params = apply_overrides("counter", CounterConfig(), CounterParams(), overrides)
    return Environment(
        "counter", config, params, Box(0.0, 1e9, (1,)), Discrete(3), _counter_reset, _counter_step
    )


@pytest.fixture
def counter_env():
    register_env("counter", make_counter)
    yield
    unregister_env("counter")


def test_user_registered_env_runs_through_the_vector_api(counter_env):
    env = make_env("counter", increment=2.0, max_steps=3)
    _, state = vector_reset(env, jax.random.key(0), 2)
    step = jax.jit(lambda key, state, actions: vector_step(env, key, state, actions))
    rewards, dones = [], []
    for t in range(4):
        obs, state, reward, done, _info = step(jax.random.key(t), state, jnp.array([1, 2]))
        rewards.append(reward)
        dones.append(done)
    np.testing.assert_array_equal(np.stack(rewards), [[2, 4], [4, 8], [6, 12], [2, 4]])
    np.testing.assert_array_equal(np.stack(dones)[:, 0], [False, False, True, False])
    np.testing.assert_array_equal(obs[:, 0], [2.0, 4.0])
