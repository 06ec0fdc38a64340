"""PPO: a clipped-objective actor-critic trained on its own rollouts (PureJaxRL's recipe).

On-policy: training collects ``rollout_steps`` steps of every environment with the current
policy and passes the rollout, a ``Transition`` shaped ``(rollout_steps, num_envs, ...)``, to
:func:`update`. The update recomputes the behaviour log-probabilities and values (the
parameters have not changed since the rollout), computes GAE advantages — bootstrapping
from ``next_obs`` unless the step ``terminated`` and cutting the trace at every ``done`` — and
runs ``num_epochs`` × ``num_minibatches`` Adam steps on the clipped surrogate, a (clipped)
value loss and an entropy bonus, with gradients clipped to ``max_grad_norm``.

Discrete action spaces get a categorical policy, ``Box`` spaces a diagonal Gaussian with a
state-independent log-std; its samples are not clipped (the environment bounds them), the
greedy action is the mean clipped to the bounds. At a truncation the environment has already
reset, so the bootstrap value comes from the next episode's first observation.

The defaults solve CartPole-v1 (``cartpole-control``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.hyperparameters import (
    Activation,
    Count,
    FiniteFloat,
    Flag,
    HiddenSizes,
    PositiveFloat,
    Probability,
    check_hyperparameters,
)
from myriad_bench.agents.networks import ActorCritic, minibatch_epochs
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.spaces import Box, Discrete, Space
from myriad_bench.core.transition import Transition

__all__ = ["NAME", "PPOParams", "PPOState", "actor_critic", "gae", "log_prob_and_entropy", "make_ppo"]

NAME = "ppo"
DEFAULT_ROLLOUT_STEPS = 32


@struct.dataclass
class PPOParams:
    """PPO hyperparameters (the defaults solve CartPole-v1). Structure is static; numbers are leaves."""

    action_space: Space = struct.field(pytree_node=False)
    hidden_sizes: HiddenSizes = struct.field(pytree_node=False, default=(64, 64))
    activation: Activation = struct.field(pytree_node=False, default="tanh")
    num_epochs: Count = struct.field(pytree_node=False, default=4)
    num_minibatches: Count = struct.field(pytree_node=False, default=4)
    normalize_advantages: Flag = struct.field(pytree_node=False, default=True)
    clip_value_loss: Flag = struct.field(pytree_node=False, default=True)
    learning_rate: PositiveFloat = 3e-3
    gamma: Probability = 0.99
    gae_lambda: Probability = 0.95
    clip_eps: PositiveFloat = 0.2
    """Clip range of the probability ratio (and of the value change when ``clip_value_loss``)."""
    vf_coef: FiniteFloat = 0.5
    ent_coef: FiniteFloat = 0.01
    max_grad_norm: PositiveFloat = 0.5


@struct.dataclass
class PPOState:
    """Actor-critic parameters, optimiser state and the count of environment steps trained on."""

    params: Any
    opt_state: Any
    step: jax.Array
    """int32 steps of each environment seen by :func:`update` so far."""


def actor_critic(params: PPOParams) -> ActorCritic:
    """The policy and value network of these hyperparameters."""
    space = params.action_space
    if isinstance(space, Discrete):
        return ActorCritic(params.hidden_sizes, space.n, continuous=False, activation=params.activation)
    return ActorCritic(params.hidden_sizes, space.shape[0], continuous=True, activation=params.activation)


def _optimizer(params: PPOParams) -> optax.GradientTransformation:
    # One flat vector instead of a tree: far fewer kernels per update on small networks.
    return optax.flatten(
        optax.chain(
            optax.clip_by_global_norm(params.max_grad_norm), optax.adam(params.learning_rate, eps=1e-5)
        )
    )


def log_prob_and_entropy(policy: Any, action: jax.Array, continuous: bool) -> tuple[jax.Array, jax.Array]:
    """Log-probability of ``action`` and the entropy under ``policy`` (logits, or mean and log-std)."""
    if continuous:
        mean, log_std = policy
        z = (action - mean) / jnp.exp(log_std)
        log_prob = jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
        entropy = jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)
        return log_prob, entropy
    log_probs = jax.nn.log_softmax(policy)
    log_prob = jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    return log_prob, entropy


def _init(key: jax.Array, obs: jax.Array, params: PPOParams) -> PPOState:
    network_params = actor_critic(params).init(key, jnp.asarray(obs, jnp.float32)[None])
    return PPOState(
        params=network_params,
        opt_state=_optimizer(params).init(network_params),
        step=jnp.zeros((), jnp.int32),
    )


def _select_action(
    key: jax.Array, obs: jax.Array, carry: Any, state: PPOState, params: PPOParams, deterministic: bool
) -> tuple[jax.Array, Any]:
    network = actor_critic(params)
    policy = network.apply(state.params, obs, method=network.policy)
    space = params.action_space
    if isinstance(space, Discrete):
        if deterministic:
            return jnp.argmax(policy, axis=-1).astype(jnp.int32), carry
        return jax.random.categorical(key, policy, axis=-1).astype(jnp.int32), carry
    mean, log_std = policy
    if deterministic:
        low, high = space.bounds()
        return jnp.clip(mean, low, high), carry
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), carry


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    dones: jax.Array,
    terminated: jax.Array,
    gamma: Any,
    gae_lambda: Any,
) -> jax.Array:
    """Generalised advantage estimates ``(T, ...)`` of a rollout with auto-reset environments.

    ``values[t]`` is V(obs_t), ``next_values[t]`` V(next_obs_t); the TD error bootstraps unless
    step t terminated, and the λ-trace stops at every done.
    """
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    continues = gamma * gae_lambda * (1.0 - dones)

    def backward(advantage: jax.Array, step: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        delta, cont = step
        advantage = delta + cont * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True)
    return advantages


def _update(key: jax.Array, state: PPOState, batch: Transition, params: PPOParams) -> tuple[PPOState, dict]:
    network = actor_critic(params)
    continuous = not isinstance(params.action_space, Discrete)
    tx = _optimizer(params)

    policy, values = network.apply(state.params, batch.obs)
    next_values = network.apply(state.params, batch.next_obs, method=network.value)
    old_log_prob, _ = log_prob_and_entropy(policy, batch.action, continuous)
    advantages = gae(
        batch.reward,
        values,
        next_values,
        batch.done.astype(jnp.float32),
        batch.terminated.astype(jnp.float32),
        params.gamma,
        params.gae_lambda,
    )
    returns = advantages + values
    flat = jax.tree.map(
        lambda x: x.reshape(-1, *x.shape[2:]),
        {
            "obs": batch.obs,
            "action": batch.action,
            "log_prob": old_log_prob,
            "value": values,
            "advantage": advantages,
            "return": returns,
        },
    )

    def loss_fn(network_params: Any, minibatch: dict) -> tuple[jax.Array, dict]:
        policy, value = network.apply(network_params, minibatch["obs"])
        log_prob, entropy = log_prob_and_entropy(policy, minibatch["action"], continuous)
        advantage = minibatch["advantage"]
        if params.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        log_ratio = log_prob - minibatch["log_prob"]
        ratio = jnp.exp(log_ratio)
        clipped_ratio = jnp.clip(ratio, 1.0 - params.clip_eps, 1.0 + params.clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped_ratio * advantage))
        value_error = jnp.square(value - minibatch["return"])
        if params.clip_value_loss:
            clipped_value = minibatch["value"] + jnp.clip(
                value - minibatch["value"], -params.clip_eps, params.clip_eps
            )
            value_error = jnp.maximum(value_error, jnp.square(clipped_value - minibatch["return"]))
        value_loss = 0.5 * jnp.mean(value_error)
        entropy = jnp.mean(entropy)
        loss = policy_loss + params.vf_coef * value_loss - params.ent_coef * entropy
        return loss, {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > params.clip_eps).astype(jnp.float32)),
        }

    network_params, opt_state, metrics = minibatch_epochs(
        key, state.params, state.opt_state, flat, params.num_epochs, params.num_minibatches, loss_fn, tx
    )
    metrics["value"] = jnp.mean(values)
    step = state.step + batch.reward.shape[0]
    return PPOState(network_params, opt_state, step), metrics


def make_ppo(action_space: Space, **hyperparams: Any) -> Agent:
    """A PPO agent for a ``Discrete`` or ``Box`` (1-D) action space.

    ``hyperparams`` override the fields of :class:`PPOParams`; the default rollout is
    ``DEFAULT_ROLLOUT_STEPS`` steps per environment (``run.rollout_steps`` overrides it).
    Raises ``ValueError`` naming the hyperparameter for an unknown name or an unusable value.
    """
    if isinstance(action_space, Box):
        if len(action_space.shape) != 1:
            raise ValueError(f"agent {NAME!r} needs a 1-D Box action space, got shape {action_space.shape}")
    elif not isinstance(action_space, Discrete):
        raise ValueError(f"agent {NAME!r} supports Discrete and Box action spaces, got {action_space!r}")
    values = check_hyperparameters(NAME, PPOParams, hyperparams)
    return Agent(
        name=NAME,
        action_space=action_space,
        params=PPOParams(action_space=action_space, **values),
        init=_init,
        select_action=_select_action,
        update=_update,
        off_policy=False,
        rollout_steps=DEFAULT_ROLLOUT_STEPS,
    )


register_agent(NAME, make_ppo)
