"""The classical agents: random, bangbang and pid (shapes, bounds, control laws, errors)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from myriad_bench.agents import agent_names, make_agent
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs import make_env
from myriad_bench.platform.rollout import make_rollout, reset_carry

KEY = jax.random.key(0)


def act(agent, obs, carry=None, key=KEY):
    """Greedy actions for a batch of observations ``(B, obs_dim)``."""
    obs = jnp.asarray(obs, jnp.float32)
    carry = agent.init_carry(obs.shape[0], agent.params) if carry is None else carry
    state = agent.init(KEY, obs[0], agent.params)
    return agent.select_action(key, obs, carry, state, agent.params, True)


@pytest.fixture(scope="module")
def cartpole():
    return make_env("cartpole-control")


def mean_cartpole_length(env, agent, num_episodes=64):
    state = agent.init(KEY, jnp.zeros(env.observation_space.shape), agent.params)
    out = jax.jit(make_rollout(env, agent, num_episodes))(jax.random.key(1), state)
    return float(np.mean(out["episode_lengths"]))


def test_builtin_agents_are_registered():
    assert {"random", "bangbang", "pid"} <= set(agent_names())


# --- random ------------------------------------------------------------------------------------


def test_random_discrete_actions_cover_the_space_uniformly():
    agent = make_agent("random", Discrete(3))
    actions, carry = act(agent, np.zeros((3000, 4)))
    assert actions.shape == (3000,) and actions.dtype == jnp.int32
    assert carry == ()
    counts = np.bincount(np.asarray(actions), minlength=3)
    assert counts.sum() == 3000 and len(counts) == 3
    # Each count is binomial(3000, 1/3): sd ≈ 26, so ±150 is a > 5-sigma band.
    assert np.all(np.abs(counts - 1000) < 150), counts


def test_random_box_actions_within_bounds_and_depend_on_key():
    space = Box(low=(-1.0, 0.0), high=(2.0, 0.5), shape=(2,))
    agent = make_agent("random", space)
    first, _ = act(agent, np.zeros((500, 3)), key=jax.random.key(1))
    second, _ = act(agent, np.zeros((500, 3)), key=jax.random.key(2))
    assert first.shape == (500, 2) and first.dtype == jnp.float32
    assert bool(jnp.all(first >= jnp.array([-1.0, 0.0]))) and bool(jnp.all(first <= jnp.array([2.0, 0.5])))
    assert float(first[:, 0].max() - first[:, 0].min()) > 2.5  # spread over the whole range
    assert not np.array_equal(first, second)


def test_random_rejects_hyperparameters_and_unbounded_boxes():
    with pytest.raises(ValueError, match=r"'random' has no hyperparameter 'epsilon'; it takes none"):
        make_agent("random", Discrete(2), epsilon=0.1)
    with pytest.raises(ValueError, match="action bounds must be finite"):
        make_agent("random", Box(low=-np.inf, high=1.0, shape=(1,)))


# --- bangbang ----------------------------------------------------------------------------------


def test_bangbang_switches_on_the_chosen_component():
    agent = make_agent("bangbang", Discrete(3), obs_index=1, setpoint=0.5)
    actions, _ = act(agent, [[9.0, 0.6], [9.0, 0.5], [-9.0, 0.4]])
    np.testing.assert_array_equal(actions, [2, 0, 0])  # high = n - 1 strictly above the setpoint

    inverted = make_agent("bangbang", Discrete(2), obs_index=0, invert=True)
    actions, _ = act(inverted, [[1.0], [-1.0]])
    np.testing.assert_array_equal(actions, [0, 1])


def test_bangbang_box_uses_the_bounds():
    space = Box(low=(-2.0, -1.0), high=(2.0, 3.0), shape=(2,))
    agent = make_agent("bangbang", space, obs_index=0)
    actions, _ = act(agent, [[0.1], [-0.1]])
    np.testing.assert_array_equal(actions, [[2.0, 3.0], [-2.0, -1.0]])


def test_bangbang_default_keeps_cartpole_up_for_100_steps(cartpole):
    agent = make_agent("bangbang", cartpole.action_space)
    assert mean_cartpole_length(cartpole, agent) >= 100


def test_bangbang_errors():
    with pytest.raises(ValueError, match=r"no hyperparameter 'threshold'; it takes: obs_index, setpoint"):
        make_agent("bangbang", Discrete(2), threshold=0.0)
    with pytest.raises(ValueError, match="needs at least two actions"):
        make_agent("bangbang", Discrete(1))
    with pytest.raises(ValueError, match="setpoint must be a finite number, got 'high'"):
        make_agent("bangbang", Discrete(2), setpoint="high")
    agent = make_agent("bangbang", Discrete(2), obs_index=5)
    with pytest.raises(
        ValueError, match=r"obs_index=5 does not select a component of observations of shape \(4,\)"
    ):
        agent.init(KEY, jnp.zeros(4), agent.params)


# --- pid ---------------------------------------------------------------------------------------


def test_pid_control_law_step_by_step():
    space = Box(low=-100.0, high=100.0, shape=(1,))
    agent = make_agent("pid", space, obs_index=0, kp=2.0, ki=0.5, kd=0.1, setpoint=1.0, dt=0.1)
    # step 1: e = 1 - 0 = 1, integral = 0.1, no derivative yet: u = 2 + 0.05 = 2.05
    actions, carry = act(agent, [[0.0]])
    np.testing.assert_allclose(actions, [[2.05]], rtol=1e-6)
    # step 2: e = 1 - 0.5 = 0.5, integral = 0.15, derivative = (0.5 - 1) / 0.1 = -5: u = 1 + 0.075 - 0.5
    actions, carry = act(agent, [[0.5]], carry)
    np.testing.assert_allclose(actions, [[0.575]], rtol=1e-6)
    np.testing.assert_allclose(carry.integral, [0.15], rtol=1e-6)
    np.testing.assert_allclose(carry.previous_error, [0.5], rtol=1e-6)


def test_pid_output_clipped_to_box_and_integral_clamped():
    space = Box(low=(-2.0, -1.0), high=(2.0, 1.0), shape=(2,))
    agent = make_agent("pid", space, obs_index=0, kp=1.0, ki=1.0, dt=1.0, anti_windup=3.0)
    actions, carry = act(agent, [[-50.0], [50.0], [0.5]])
    assert actions.shape == (3, 2)
    np.testing.assert_allclose(actions, [[2.0, 1.0], [-2.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_allclose(carry.integral, [3.0, -3.0, -0.5])  # clamped at ±anti_windup


def test_pid_discrete_maps_the_sign_of_the_control():
    agent = make_agent("pid", Discrete(2), obs_index=0, kp=1.0)
    actions, _ = act(agent, [[-0.3], [0.3], [0.0]])
    np.testing.assert_array_equal(actions, [1, 0, 0])
    assert actions.dtype == jnp.int32


def test_pid_carry_is_reset_for_done_environments():
    agent = make_agent("pid", Box(-5.0, 5.0, (1,)), obs_index=0, ki=1.0, dt=1.0)
    _, carry = act(agent, [[1.0], [2.0], [3.0]])
    _, carry = act(agent, [[1.0], [2.0], [3.0]], carry)
    carry = reset_carry(agent, agent.params, carry, jnp.array([False, True, False]))
    np.testing.assert_allclose(carry.integral, [-2.0, 0.0, -6.0])
    np.testing.assert_allclose(carry.previous_error, [-1.0, 0.0, -3.0])
    np.testing.assert_array_equal(carry.started, [True, False, True])


def test_pid_with_derivative_balances_cartpole(cartpole):
    # The angle falls when the cart is pushed right, hence negative gains (see the pid module).
    agent = make_agent("pid", cartpole.action_space, obs_index=2, kp=-1.0, kd=-0.1, dt=0.02)
    assert mean_cartpole_length(cartpole, agent, num_episodes=16) == 500


def test_pid_errors():
    with pytest.raises(ValueError, match="needs Discrete\\(2\\) or a Box"):
        make_agent("pid", Discrete(3))
    with pytest.raises(ValueError, match="no hyperparameter 'gain'"):
        make_agent("pid", Discrete(2), gain=1.0)
    with pytest.raises(ValueError, match="dt must be a positive number, got 0"):
        make_agent("pid", Discrete(2), dt=0)
    with pytest.raises(ValueError, match=r"obs_index must be an integer >= 0, got 1\.5"):
        make_agent("pid", Discrete(2), obs_index=1.5)


def test_hyperparameters_are_hashable_struct_pytrees():
    agent = make_agent("pid", Discrete(2), kp=3)
    assert agent.params.kp == 3.0 and isinstance(agent.params.kp, float)
    assert hash(agent.params) == hash(make_agent("pid", Discrete(2), kp=3.0).params)
    # Gains are pytree leaves (changing them does not recompile); the index and space are static.
    assert len(jax.tree.leaves(agent.params)) == 6
