"""PPO agent: GAE, policy sampling for discrete and continuous actions, the clipped update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

import myriad_bench as mb
from myriad_bench.agents.ppo import actor_critic, gae, log_prob_and_entropy, make_ppo
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.core.transition import Transition


def gae_reference(rewards, values, next_values, dones, terminated, gamma, lam):
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1:])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * (1 - terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * lam * (1 - dones[t]) * running
        advantages[t] = running
    return advantages


def test_gae_matches_a_loop_with_terminations_and_truncations() -> None:
    rng = np.random.default_rng(0)
    shape = (12, 3)
    rewards, values, next_values = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    dones = (rng.random(shape) < 0.25).astype(np.float32)
    terminated = dones * (rng.random(shape) < 0.5)  # some dones are truncations
    got = gae(*(jnp.asarray(x) for x in (rewards, values, next_values, dones, terminated)), 0.97, 0.9)
    expected = gae_reference(rewards, values, next_values, dones, terminated, 0.97, 0.9)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def rollout(space: Discrete | Box, steps: int = 16, envs: int = 4) -> Transition:
    keys = jax.random.split(jax.random.key(5), 3)
    if isinstance(space, Discrete):
        action = jax.random.randint(keys[2], (steps, envs), 0, space.n)
    else:
        action = jax.random.normal(keys[2], (steps, envs, *space.shape))
    return Transition(
        obs=jax.random.normal(keys[0], (steps, envs, 3)),
        action=action,
        reward=jnp.ones((steps, envs)),
        next_obs=jax.random.normal(keys[1], (steps, envs, 3)),
        done=jnp.zeros((steps, envs), bool).at[7].set(True),
        terminated=jnp.zeros((steps, envs), bool).at[7, :2].set(True),
    )


def test_registered_with_a_default_rollout_and_checked_hyperparameters() -> None:
    agent = mb.make_agent("ppo", Discrete(2), clip_eps=0.1)
    assert not agent.off_policy and agent.rollout_steps > 1
    assert agent.params.clip_eps == 0.1
    with pytest.raises(ValueError, match="no hyperparameter 'clip'"):
        make_ppo(Discrete(2), clip=0.1)
    with pytest.raises(ValueError, match="num_minibatches must be an integer >= 1, got 0"):
        make_ppo(Discrete(2), num_minibatches=0)
    with pytest.raises(ValueError, match="1-D Box"):
        make_ppo(Box(-1.0, 1.0, (2, 2)))


def test_discrete_policy_samples_its_softmax_and_acts_greedily() -> None:
    agent = make_ppo(Discrete(3))
    state = agent.init(jax.random.key(0), jnp.zeros(3), agent.params)
    # Make the policy clearly non-uniform: scale up the actor's output layer.
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: (
            x * 300.0
            if "actor" in jax.tree_util.keystr(path) and "Dense_2" in jax.tree_util.keystr(path)
            else x
        ),
        state.params,
    )
    state = state.replace(params=params)
    obs = jnp.tile(jnp.array([[0.3, -0.5, 0.8]]), (6000, 1))
    network = actor_critic(agent.params)
    probs = jax.nn.softmax(network.apply(state.params, obs[:1], method=network.policy))[0]
    actions, _ = agent.select_action(jax.random.key(1), obs, (), state, agent.params, False)
    frequencies = np.bincount(np.asarray(actions), minlength=3) / len(actions)
    np.testing.assert_allclose(frequencies, probs, atol=0.03)
    greedy, _ = agent.select_action(jax.random.key(1), obs[:2], (), state, agent.params, True)
    np.testing.assert_array_equal(greedy, [jnp.argmax(probs)] * 2)


def test_continuous_policy_is_gaussian_and_greedy_actions_stay_in_bounds() -> None:
    space = Box(-0.5, 0.5, (2,))
    agent = make_ppo(space)
    state = agent.init(jax.random.key(0), jnp.zeros(3), agent.params)
    obs = jnp.zeros((4000, 3))
    actions, _ = agent.select_action(jax.random.key(1), obs, (), state, agent.params, False)
    assert actions.shape == (4000, 2)
    assert float(jnp.std(actions)) == pytest.approx(1.0, abs=0.05)  # log_std starts at 0
    greedy, _ = agent.select_action(jax.random.key(1), obs, (), state, agent.params, True)
    assert bool(jnp.all((greedy >= -0.5) & (greedy <= 0.5)))
    log_prob, entropy = log_prob_and_entropy((jnp.zeros(2), jnp.zeros(2)), actions[0], True)
    np.testing.assert_allclose(log_prob, jnp.sum(norm.logpdf(actions[0])), rtol=1e-5)
    np.testing.assert_allclose(entropy, 2 * 0.5 * np.log(2 * np.pi * np.e), rtol=1e-5)


@pytest.mark.parametrize("space", [Discrete(2), Box(-2.0, 2.0, (1,))], ids=["discrete", "box"])
def test_update_improves_the_value_fit_and_counts_steps(space: Discrete | Box) -> None:
    # gamma 0: the value targets are the rewards, a fixed regression problem.
    agent = make_ppo(space, num_epochs=2, num_minibatches=4, learning_rate=3e-3, gamma=0.0)
    state = agent.init(jax.random.key(0), jnp.zeros(3), agent.params)
    data = rollout(space)
    update = jax.jit(lambda s, k: agent.update(k, s, data, agent.params))
    first_state, first = update(state, jax.random.key(1))
    assert int(first_state.step) == 16
    assert set(first) == {
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "value",
    }
    assert all(np.isfinite(float(v)) for v in first.values())
    assert 0.0 <= float(first["clip_fraction"]) <= 1.0
    assert float(first["approx_kl"]) >= -1e-6
    later = first_state
    for i in range(30):
        later, metrics = update(later, jax.random.key(2 + i))
    assert float(metrics["value_loss"]) < 0.1 * float(first["value_loss"])
    assert int(later.step) == 16 * 31


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (300, 17)])
def test_orthogonal_initialiser_without_lapack(shape: tuple[int, int]) -> None:
    from myriad_bench.agents.networks import orthogonal

    kernel = orthogonal(0.5)(jax.random.key(3), shape)
    gram = kernel.T @ kernel if shape[0] >= shape[1] else kernel @ kernel.T
    np.testing.assert_allclose(gram, 0.25 * np.eye(min(shape)), atol=1e-5)
    other = orthogonal(0.5)(jax.random.key(4), shape)
    assert not np.allclose(kernel, other)
    # No LAPACK custom call in the compiled initialiser (it deadlocks when vmapped on CPU).
    hlo = jax.jit(lambda k: orthogonal(1.0)(k, shape)).lower(jax.random.key(0)).compile().as_text()
    assert "custom-call" not in hlo
