"""DQN: a Q-network trained from a replay buffer against a periodically synced target network.

Off-policy (``Agent.off_policy``): training stores every step of every environment in a replay
buffer of ``run.buffer_size`` transitions and calls :func:`update` once per step with
``run.batch_size`` uniformly sampled transitions. Exploration is ε-greedy with ε decaying
linearly from ``epsilon_start`` to ``epsilon_end`` over ``epsilon_decay_steps`` updates.
Gradient steps start after ``learning_starts`` updates (the warm-up fills the buffer); the
target network is copied from the online one every ``target_update_period`` updates (or moved
towards it by ``tau`` when ``tau < 1``). Schedules count updates, i.e. steps of each environment.

The defaults solve CartPole-v1 (``cartpole-control``) with one environment in 50 000 steps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct
from pydantic import Field

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.exploration import epsilon, epsilon_greedy
from myriad_bench.agents.hyperparameters import (
    Activation,
    Count,
    Flag,
    HiddenSizes,
    NonNegativeInt,
    PositiveFloat,
    PositiveFraction,
    Probability,
    check_hyperparameters,
)
from myriad_bench.agents.networks import MLP
from myriad_bench.agents.registry import register_agent
from myriad_bench.core.spaces import Discrete, Space
from myriad_bench.core.transition import Transition

__all__ = ["DQNParams", "DQNState", "make_dqn", "q_network"]

NAME = "dqn"

Loss = Annotated[Literal["huber", "mse"], Field(description="one of 'huber', 'mse'")]


@struct.dataclass
class DQNParams:
    """DQN hyperparameters (the defaults solve CartPole-v1). Structure is static; numbers are leaves."""

    action_space: Discrete = struct.field(pytree_node=False)
    hidden_sizes: HiddenSizes = struct.field(pytree_node=False, default=(64, 64))
    activation: Activation = struct.field(pytree_node=False, default="relu")
    loss: Loss = struct.field(pytree_node=False, default="mse")
    """``"huber"`` or ``"mse"`` on the TD error."""
    double_dqn: Flag = struct.field(pytree_node=False, default=True)
    """Pick the next action with the online network, value it with the target network."""
    learning_rate: PositiveFloat = 5e-4
    gamma: Probability = 0.99
    epsilon_start: Probability = 1.0
    epsilon_end: Probability = 0.04
    epsilon_decay_steps: NonNegativeInt = 8_000
    """Updates over which ε decays linearly from ``epsilon_start`` to ``epsilon_end``."""
    learning_starts: NonNegativeInt = 1_000
    """Updates before the first gradient step (the buffer fills meanwhile)."""
    target_update_period: Count = 100
    """Updates between target-network syncs."""
    tau: PositiveFraction = 1.0
    """Sync step size: 1 copies the online network, smaller values move the target towards it."""
    huber_delta: PositiveFloat = 1.0
    max_grad_norm: PositiveFloat = 10.0


@struct.dataclass
class DQNState:
    """Online and target network parameters, optimiser state and the update counter."""

    params: Any
    target_params: Any
    opt_state: Any
    step: jax.Array
    """int32 number of :func:`update` calls so far (steps of each environment)."""


def q_network(params: DQNParams) -> MLP:
    """The Q-network ``obs (..., obs_dim) -> Q-values (..., num_actions)``."""
    return MLP(params.hidden_sizes, params.action_space.n, params.activation)


def _optimizer(params: DQNParams) -> optax.GradientTransformation:
    # One flat vector instead of a tree: far fewer kernels per update on small networks.
    return optax.flatten(
        optax.chain(optax.clip_by_global_norm(params.max_grad_norm), optax.adam(params.learning_rate))
    )


def _epsilon(step: jax.Array, params: DQNParams) -> jax.Array:
    return epsilon(step, params.epsilon_start, params.epsilon_end, params.epsilon_decay_steps)


def _init(key: jax.Array, obs: jax.Array, params: DQNParams) -> DQNState:
    network_params = q_network(params).init(key, jnp.asarray(obs, jnp.float32)[None])
    return DQNState(
        params=network_params,
        target_params=network_params,
        opt_state=_optimizer(params).init(network_params),
        step=jnp.zeros((), jnp.int32),
    )


def _select_action(
    key: jax.Array, obs: jax.Array, carry: Any, state: DQNState, params: DQNParams, deterministic: bool
) -> tuple[jax.Array, Any]:
    q_values = q_network(params).apply(state.params, obs)
    if deterministic:
        return jnp.argmax(q_values, axis=-1).astype(jnp.int32), carry
    return epsilon_greedy(key, q_values, _epsilon(state.step, params)), carry


def _update(key: jax.Array, state: DQNState, batch: Transition, params: DQNParams) -> tuple[DQNState, dict]:
    network = q_network(params)

    def loss_fn(online_params: Any) -> tuple[jax.Array, dict]:
        q_values = network.apply(online_params, batch.obs)
        q_taken = jnp.take_along_axis(q_values, batch.action[..., None].astype(jnp.int32), axis=-1)[..., 0]
        next_target = network.apply(state.target_params, batch.next_obs)
        if params.double_dqn:
            next_action = jnp.argmax(network.apply(online_params, batch.next_obs), axis=-1)
            next_value = jnp.take_along_axis(next_target, next_action[..., None], axis=-1)[..., 0]
        else:
            next_value = jnp.max(next_target, axis=-1)
        not_terminal = 1.0 - batch.terminated.astype(jnp.float32)
        target = jax.lax.stop_gradient(batch.reward + params.gamma * not_terminal * next_value)
        td_error = q_taken - target
        if params.loss == "huber":
            loss = jnp.mean(optax.huber_loss(td_error, delta=params.huber_delta))
        else:
            loss = 0.5 * jnp.mean(jnp.square(td_error))
        return loss, {"q_value": jnp.mean(q_taken), "td_error": jnp.mean(jnp.abs(td_error))}

    def learn(state: DQNState) -> tuple[DQNState, dict]:
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = _optimizer(params).update(grads, state.opt_state, state.params)
        return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), {
            "loss": loss,
            **aux,
        }

    def wait(state: DQNState) -> tuple[DQNState, dict]:
        # The warm-up only fills the buffer; the metrics are those of the untrained network.
        loss, aux = loss_fn(state.params)
        return state, {"loss": loss, **aux}

    state, metrics = jax.lax.cond(state.step >= params.learning_starts, learn, wait, state)
    step = state.step + 1
    sync = (step > params.learning_starts) & (step % params.target_update_period == 0)
    target_params = jax.lax.cond(
        sync,
        lambda online, target: jax.tree.map(
            lambda o, t: params.tau * o + (1.0 - params.tau) * t, online, target
        ),
        lambda online, target: target,
        state.params,
        state.target_params,
    )
    metrics["epsilon"] = _epsilon(state.step, params)
    return state.replace(target_params=target_params, step=step), metrics


def make_dqn(action_space: Space, **hyperparams: Any) -> Agent:
    """A DQN agent for a :class:`~myriad_bench.core.spaces.Discrete` action space.

    ``hyperparams`` override the fields of :class:`DQNParams`. Raises ``ValueError`` naming the
    hyperparameter for an unknown name or an unusable value.
    """
    if not isinstance(action_space, Discrete):
        raise ValueError(f"agent {NAME!r} needs a Discrete action space, got {action_space!r}")
    values = check_hyperparameters(NAME, DQNParams, hyperparams)
    return Agent(
        name=NAME,
        action_space=action_space,
        params=DQNParams(action_space=action_space, **values),
        init=_init,
        select_action=_select_action,
        update=_update,
        off_policy=True,
        rollout_steps=1,
    )


register_agent(NAME, make_dqn)
