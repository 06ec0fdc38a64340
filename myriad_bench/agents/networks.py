"""Shared pieces of the learning agents: Flax networks, their initialiser and the minibatch loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["ACTIVATIONS", "MLP", "ActorCritic", "activation_fn", "minibatch_epochs", "orthogonal"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "elu": nn.elu,
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation called ``name``; a ``ValueError`` lists the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def orthogonal(gain: float, iterations: int = 40) -> Callable[..., jax.Array]:
    """Orthogonal kernels times ``gain`` (PureJaxRL's initialisation), without LAPACK.

    ``flax``'s orthogonal initialiser takes the QR decomposition of a Gaussian matrix: a LAPACK
    call that, batched over seeds by ``vmap``, deadlocks jaxlib 0.10's CPU runtime now and then
    (8-seed runs hung once in 2 to 40 runs; none in 350 without it). This one takes the polar
    factor of the same Gaussian matrix instead — the nearest orthogonal matrix, Haar-distributed
    like QR's — by Newton-Schulz iterations ``X <- 1.5 X - 0.5 X Xᵀ X`` from ``A / ||A||_F``,
    plain matrix products that converge for any full-rank matrix up to a few thousand wide.
    """

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        x = jax.random.normal(key, tall, jnp.float32)
        x = x / jnp.linalg.norm(x)

        def step(_: int, x: jax.Array) -> jax.Array:
            return 1.5 * x - 0.5 * x @ (x.T @ x)

        x = jax.lax.fori_loop(0, iterations, step, x)
        if rows < cols:
            x = x.T
        return (gain * x).reshape(shape).astype(dtype)

    return init


class MLP(nn.Module):
    """``hidden_sizes`` dense layers (optionally LayerNorm before the activation), then ``num_outputs``.

    Orthogonal kernels (:func:`orthogonal`) with gain √2 in hidden layers and ``output_scale``
    in the last one, as in PureJaxRL; biases start at zero. Inputs ``(..., in_dim)`` map to
    ``(..., num_outputs)``.
    """

    hidden_sizes: tuple[int, ...]
    num_outputs: int
    activation: str = "relu"
    layer_norm: bool = False
    output_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        for size in self.hidden_sizes:
            x = nn.Dense(size, kernel_init=orthogonal(np.sqrt(2.0)))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        return nn.Dense(self.num_outputs, kernel_init=orthogonal(self.output_scale))(x)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (PureJaxRL's PPO network).

    ``policy(x)`` gives the action logits ``(..., num_actions)`` of a discrete space, or
    ``(mean, log_std)`` each ``(..., action_dim)`` of a continuous one (a state-independent
    log standard deviation); ``value(x)`` gives ``(...,)``; calling the module gives both.
    """

    hidden_sizes: tuple[int, ...]
    action_dim: int
    continuous: bool = False
    activation: str = "tanh"

    def setup(self) -> None:
        self.actor = MLP(self.hidden_sizes, self.action_dim, self.activation, output_scale=0.01)
        self.critic = MLP(self.hidden_sizes, 1, self.activation, output_scale=1.0)
        if self.continuous:
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))

    def policy(self, x: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        head = self.actor(x)
        if self.continuous:
            return head, jnp.broadcast_to(self.log_std, head.shape)
        return head

    def value(self, x: jax.Array) -> jax.Array:
        return self.critic(x)[..., 0]

    def __call__(self, x: jax.Array) -> tuple[jax.Array | tuple[jax.Array, jax.Array], jax.Array]:
        return self.policy(x), self.value(x)


def minibatch_epochs(
    key: jax.Array,
    network_params: Any,
    opt_state: Any,
    data: Any,
    num_epochs: int,
    num_minibatches: int,
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]],
    tx: optax.GradientTransformation,
) -> tuple[Any, Any, dict]:
    """``num_epochs`` passes of gradient steps over shuffled minibatches of ``data``: PPO's and PQN's loop.

    ``data`` is a pytree with a leading axis of n samples; each epoch draws a permutation and
    splits it into ``min(num_minibatches, n)`` minibatches of ``n // num_minibatches`` samples
    (the remainder sits out that epoch). Each minibatch takes one ``tx`` step on
    ``loss_fn(network_params, minibatch) -> (loss, aux_metrics)``. Returns the final parameters,
    the optimiser state and ``{"loss", **aux_metrics}`` averaged over all minibatch steps.
    """
    n = jax.tree.leaves(data)[0].shape[0]
    count = min(num_minibatches, n)
    size = n // count
    names: list[str] = []  # filled while the step is traced

    # Each step's metrics leave the scan as one stacked vector: one write per step, not one per metric.
    def step(carry: tuple[Any, Any], minibatch: Any) -> tuple[tuple[Any, Any], jax.Array]:
        network_params, opt_state = carry
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(network_params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, network_params)
        metrics = {"loss": loss, **aux}
        names[:] = list(metrics)
        stacked = jnp.stack([jnp.asarray(metrics[name], jnp.float32) for name in names])
        return (optax.apply_updates(network_params, updates), opt_state), stacked

    def epoch(carry: tuple[Any, Any], epoch_key: jax.Array) -> tuple[tuple[Any, Any], jax.Array]:
        order = jax.random.permutation(epoch_key, n)[: count * size].reshape(count, size)
        minibatches = jax.tree.map(lambda x: x[order], data)
        return jax.lax.scan(step, carry, minibatches)

    (network_params, opt_state), metrics = jax.lax.scan(
        epoch, (network_params, opt_state), jax.random.split(key, num_epochs)
    )
    means = jnp.mean(metrics, axis=(0, 1))
    return network_params, opt_state, {name: means[i] for i, name in enumerate(names)}
