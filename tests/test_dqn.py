"""DQN agent: hyperparameter checks, ε-greedy actions, TD loss, warm-up and target syncs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import myriad_bench as mb
from myriad_bench.agents.dqn import DQNParams, make_dqn, q_network
from myriad_bench.agents.exploration import epsilon
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.core.transition import Transition

OBS = jnp.array([0.1, -0.2, 0.03, 0.4])


def batch(n: int = 8, terminated: bool = False) -> Transition:
    keys = jax.random.split(jax.random.key(3), 2)
    return Transition(
        obs=jax.random.normal(keys[0], (n, 4)),
        action=jnp.arange(n, dtype=jnp.int32) % 2,
        reward=jnp.linspace(0.0, 1.0, n),
        next_obs=jax.random.normal(keys[1], (n, 4)),
        done=jnp.full((n,), terminated),
        terminated=jnp.full((n,), terminated),
    )


def test_registered_with_defaults_and_checked_hyperparameters() -> None:
    agent = mb.make_agent("dqn", Discrete(3), learning_rate=5e-4, hidden_sizes=[32])
    assert agent.off_policy and agent.rollout_steps == 1
    assert agent.params.learning_rate == 5e-4 and agent.params.hidden_sizes == (32,)
    assert agent.params.gamma == DQNParams.__dataclass_fields__["gamma"].default
    with pytest.raises(ValueError, match="Discrete"):
        make_dqn(Box(-1.0, 1.0, (1,)))
    with pytest.raises(
        ValueError, match=r"no hyperparameter 'lerning_rate' \(did you mean 'learning_rate'\?\)"
    ):
        make_dqn(Discrete(2), lerning_rate=1e-3)
    with pytest.raises(ValueError, match=r"loss must be one of 'huber', 'mse', got 'l1'"):
        make_dqn(Discrete(2), loss="l1")
    with pytest.raises(ValueError, match=r"tau must be a number in \(0, 1\], got 0\.0"):
        make_dqn(Discrete(2), tau=0.0)
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got 'fast'"):
        make_dqn(Discrete(2), learning_rate="fast")
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\], got nan"):
        make_dqn(Discrete(2), gamma=float("nan"))
    with pytest.raises(ValueError, match=r"learning_starts must be an integer >= 0, got 2\.5"):
        make_dqn(Discrete(2), learning_starts=2.5)
    with pytest.raises(ValueError, match="activation must be one of 'elu', 'gelu', 'relu', 'silu', 'tanh'"):
        make_dqn(Discrete(2), activation="swishy")


def test_epsilon_decays_linearly_then_stays() -> None:
    params = make_dqn(Discrete(2), epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100).params
    values = [
        float(epsilon(jnp.int32(t), params.epsilon_start, params.epsilon_end, params.epsilon_decay_steps))
        for t in (0, 50, 100, 1000)
    ]
    assert values == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_greedy_and_exploring_actions() -> None:
    agent = make_dqn(Discrete(3), epsilon_start=1.0, epsilon_decay_steps=10)
    state = agent.init(jax.random.key(0), OBS, agent.params)
    obs = jax.random.normal(jax.random.key(1), (500, 4))
    q = q_network(agent.params).apply(state.params, obs)
    greedy, carry = agent.select_action(jax.random.key(2), obs, (), state, agent.params, True)
    assert carry == () and greedy.dtype == jnp.int32 and greedy.shape == (500,)
    np.testing.assert_array_equal(greedy, jnp.argmax(q, axis=-1))
    # At step 0 ε = 1: uniform over the 3 actions.
    explore, _ = agent.select_action(jax.random.key(2), obs, (), state, agent.params, False)
    assert set(np.asarray(explore).tolist()) == {0, 1, 2}
    assert np.mean(np.asarray(explore) == np.asarray(greedy)) < 0.5
    # Once ε has decayed to 0.05, nearly every action is greedy.
    late = state.replace(step=jnp.int32(10))
    mostly, _ = agent.select_action(jax.random.key(2), obs, (), late, agent.params, False)
    assert np.mean(np.asarray(mostly) == np.asarray(greedy)) > 0.9


@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_loss_is_the_td_error_against_the_target_network(loss: str) -> None:
    agent = make_dqn(Discrete(2), loss=loss, gamma=0.9, learning_starts=0)
    state = agent.init(jax.random.key(0), OBS, agent.params)
    network = q_network(agent.params)
    # A target network that differs from the online one, to see which one bootstraps.
    target = jax.tree.map(lambda x: x * 1.5, state.params)
    state = state.replace(target_params=target)
    for terminated in (False, True):
        data = batch(terminated=terminated)
        q_taken = jnp.take_along_axis(network.apply(state.params, data.obs), data.action[:, None], 1)[:, 0]
        bootstrap = 0.0 if terminated else 0.9 * jnp.max(network.apply(target, data.next_obs), axis=-1)
        td = q_taken - (data.reward + bootstrap)
        expected = jnp.mean(optax.huber_loss(td)) if loss == "huber" else 0.5 * jnp.mean(td**2)
        _, metrics = agent.update(jax.random.key(1), state, data, agent.params)
        assert float(metrics["loss"]) == pytest.approx(float(expected), rel=1e-5)
        assert float(metrics["td_error"]) == pytest.approx(float(jnp.mean(jnp.abs(td))), rel=1e-5)


def test_warm_up_keeps_the_parameters_and_target_syncs_periodically() -> None:
    agent = make_dqn(Discrete(2), learning_starts=2, target_update_period=3, learning_rate=1e-2)
    state = agent.init(jax.random.key(0), OBS, agent.params)
    update = jax.jit(lambda s: agent.update(jax.random.key(1), s, batch(), agent.params))
    history = [state]
    for _ in range(7):
        history.append(update(history[-1])[0])

    def same(a: object, b: object) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    assert [int(s.step) for s in history] == list(range(8))
    assert same(history[2].params, history[0].params)  # updates 1 and 2 are warm-up
    assert not same(history[3].params, history[2].params)
    # Syncs happen after updates whose count is a multiple of 3, once learning has started.
    assert same(history[3].target_params, history[3].params)
    assert same(history[5].target_params, history[3].params)
    assert same(history[6].target_params, history[6].params)
    assert not same(history[7].target_params, history[7].params)


def test_soft_target_update_moves_by_tau() -> None:
    agent = make_dqn(Discrete(2), learning_starts=0, target_update_period=1, tau=0.25)
    state = agent.init(jax.random.key(0), OBS, agent.params)
    state = state.replace(target_params=jax.tree.map(jnp.zeros_like, state.params))
    new, _ = agent.update(jax.random.key(1), state, batch(), agent.params)
    for target, online in zip(jax.tree.leaves(new.target_params), jax.tree.leaves(new.params), strict=True):
        np.testing.assert_allclose(target, 0.25 * online, rtol=1e-6)
