"""PQN agent: Q(λ) returns, ε schedule in steps per environment, the minibatch regression."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.agents.exploration import epsilon
from myriad_bench.agents.pqn import lambda_returns, make_pqn, q_network
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.core.transition import Transition


def lambda_reference(rewards, q_max, dones, terminated, gamma, lam):
    """Q(λ) by its definition: mix the one-step target with the next return inside an episode."""
    returns = np.zeros_like(rewards)
    for t in reversed(range(len(rewards))):
        one_step = rewards[t] + gamma * (1 - terminated[t]) * q_max[t]
        if t == len(rewards) - 1 or dones[t]:
            returns[t] = one_step
        else:
            returns[t] = rewards[t] + gamma * (1 - terminated[t]) * (
                (1 - lam) * q_max[t] + lam * returns[t + 1]
            )
    return returns


@pytest.mark.parametrize("lam", [0.0, 0.65, 1.0])
def test_lambda_returns_match_their_definition(lam: float) -> None:
    rng = np.random.default_rng(1)
    shape = (10, 3)
    rewards, q_max = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    dones = (rng.random(shape) < 0.3).astype(np.float32)
    terminated = dones * (rng.random(shape) < 0.5)
    got = lambda_returns(*(jnp.asarray(x) for x in (rewards, q_max, dones, terminated)), 0.9, lam)
    expected = np.stack(
        [
            lambda_reference(rewards[:, e], q_max[:, e], dones[:, e], terminated[:, e], 0.9, lam)
            for e in range(3)
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_lambda_one_without_episode_ends_is_the_bootstrapped_monte_carlo_return() -> None:
    rewards = jnp.arange(1.0, 5.0)[:, None]
    q_max = jnp.full((4, 1), 10.0)
    zeros = jnp.zeros((4, 1))
    got = lambda_returns(rewards, q_max, zeros, zeros, 0.5, 1.0)
    # G_3 = 4 + 0.5 * 10; G_t = r_t + 0.5 G_{t+1}
    np.testing.assert_allclose(got[:, 0], [3.875, 5.75, 7.5, 9.0])


def test_registered_with_layer_norm_and_checked_hyperparameters() -> None:
    agent = mb.make_agent("pqn", Discrete(2), td_lambda=0.5)
    assert not agent.off_policy and agent.rollout_steps > 1
    assert agent.params.layer_norm and agent.params.td_lambda == 0.5
    state = agent.init(jax.random.key(0), jnp.zeros(4), agent.params)
    assert any(
        "LayerNorm" in jax.tree_util.keystr(path)
        for path, _ in jax.tree_util.tree_leaves_with_path(state.params)
    )
    with pytest.raises(ValueError, match="Discrete"):
        make_pqn(Box(-1.0, 1.0, (1,)))
    with pytest.raises(ValueError, match="no hyperparameter 'lambda_'"):
        make_pqn(Discrete(2), lambda_=0.9)
    with pytest.raises(ValueError, match="layer_norm must be true or false"):
        make_pqn(Discrete(2), layer_norm="yes")


def test_epsilon_counts_steps_of_each_environment() -> None:
    agent = make_pqn(Discrete(2), epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_steps=64)
    params = agent.params
    schedule = (params.epsilon_start, params.epsilon_end, params.epsilon_decay_steps)
    values = [float(epsilon(jnp.int32(t), *schedule)) for t in (0, 32, 64, 640)]
    assert values == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # The schedule the agent reports while training is the same one, counted per environment.
    state = agent.init(jax.random.key(0), jnp.zeros(4), params).replace(step=jnp.int32(32))
    _, metrics = agent.update(jax.random.key(1), state, rollout(), params)
    assert float(metrics["epsilon"]) == pytest.approx(0.5)


def rollout(steps: int = 8, envs: int = 6) -> Transition:
    keys = jax.random.split(jax.random.key(2), 3)
    return Transition(
        obs=jax.random.normal(keys[0], (steps, envs, 4)),
        action=jax.random.randint(keys[1], (steps, envs), 0, 2),
        reward=jnp.ones((steps, envs)),
        next_obs=jax.random.normal(keys[2], (steps, envs, 4)),
        done=jnp.zeros((steps, envs), bool).at[3].set(True),
        terminated=jnp.zeros((steps, envs), bool).at[3].set(True),
    )


def test_greedy_actions_and_update_regresses_on_the_returns() -> None:
    agent = make_pqn(
        Discrete(2), num_minibatches=4, num_epochs=2, learning_rate=1e-2, gamma=0.0, reward_scale=0.5
    )
    state = agent.init(jax.random.key(0), jnp.zeros(4), agent.params)
    data = rollout()
    q = q_network(agent.params).apply(state.params, data.obs[0])
    greedy, _ = agent.select_action(jax.random.key(1), data.obs[0], (), state, agent.params, True)
    np.testing.assert_array_equal(greedy, jnp.argmax(q, axis=-1))

    update = jax.jit(lambda s, k: agent.update(k, s, data, agent.params))
    state, first = update(state, jax.random.key(1))
    assert int(state.step) == 8
    assert set(first) == {"loss", "q_value", "td_error", "epsilon"}
    for i in range(40):
        state, metrics = update(state, jax.random.key(2 + i))
    # gamma 0: the targets are the scaled rewards (0.5), so Q(s, a) converges to 0.5.
    assert float(metrics["loss"]) < 0.05 * float(first["loss"])
    assert float(metrics["q_value"]) == pytest.approx(0.5, abs=0.05)
