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

from myriad_bench.core.random import permutation

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "ActorCritic",
    "Dense",
    "LayerNorm",
    "activation_fn",
    "apply_in_chunks",
    "chunk_count",
    "dense",
    "layer_norm",
    "minibatch_epochs",
    "orthogonal",
]

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


_NARROW = 8
"""Output widths up to this take their kernel gradient as a broadcast product and a sum over the
rows: XLA:CPU's dot for a ``(rows, 128) x (rows, 2)`` contraction ran ~6x slower (measured)."""


@jax.custom_vjp
def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """``x @ kernel + bias`` over the last axis of ``x``, with the gradient laid out for XLA:CPU.

    JAX's own gradient computes ``dx = dy @ kernelᵀ`` as a dot contracting the kernel's second
    axis, which XLA:CPU's matmul library runs ~25% slower than a plain product, and
    ``dkernel = xᵀ dy`` through a dot that is slow for narrow outputs (Q-values of two
    actions). Here ``kernelᵀ`` is materialised first (behind an optimisation barrier, so XLA
    does not fold the transpose back into the dot) and narrow kernels' gradients are
    elementwise products summed over the rows.
    """
    return _dense_fwd(x, kernel, bias)[0]


def _dense_fwd(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> tuple[jax.Array, tuple]:
    return jnp.matmul(x, kernel) + bias, (x, kernel)


def _dense_bwd(residuals: tuple, dy: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    x, kernel = residuals
    dx = jnp.matmul(dy, jax.lax.optimization_barrier(kernel.T))
    rows_x, rows_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    if dy.shape[-1] <= _NARROW:
        dkernel = jnp.stack([jnp.sum(rows_x * rows_dy[:, k, None], axis=0) for k in range(dy.shape[-1])], -1)
    else:
        dkernel = jnp.matmul(rows_x.T, rows_dy)
    return dx, dkernel, jnp.sum(rows_dy, axis=0)


dense.defvjp(_dense_fwd, _dense_bwd)


class Dense(nn.Module):
    """A dense layer (:func:`dense`); parameters ``kernel`` ``(in, features)`` and ``bias`` named,
    shaped and initialised as ``flax.linen.Dense``'s (zero bias), so checkpoints carry over."""

    features: int
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return dense(jnp.asarray(x, jnp.float32), kernel, bias)


@jax.custom_vjp
def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    """``(x - mean) / sqrt(var + 1e-6) * scale + bias`` over the last axis, with a hand-written gradient.

    The gradient JAX derives for it makes XLA write about a dozen full-size intermediates per
    layer; this one keeps ``x̂`` and ``1/σ`` from the forward pass and takes
    ``dx = (dx̂ - mean(dx̂) - x̂ mean(dx̂ x̂)) / σ`` with ``dx̂ = dy scale``: a third fewer
    passes over the activations (PQN's update on 1 024 environments, measured: 635 vs 696 ms).
    """
    return _layer_norm_fwd(x, scale, bias)[0]


_LN_EPSILON = 1e-6


def _layer_norm_fwd(x: jax.Array, scale: jax.Array, bias: jax.Array) -> tuple[jax.Array, tuple]:
    centred = x - jnp.mean(x, axis=-1, keepdims=True)
    inv_std = jax.lax.rsqrt(jnp.mean(jnp.square(centred), axis=-1, keepdims=True) + _LN_EPSILON)
    normed = centred * inv_std
    return normed * scale + bias, (normed, inv_std, scale)


def _layer_norm_bwd(residuals: tuple, dy: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    normed, inv_std, scale = residuals
    dnormed = dy * scale
    dx = inv_std * (
        dnormed
        - jnp.mean(dnormed, axis=-1, keepdims=True)
        - normed * jnp.mean(dnormed * normed, axis=-1, keepdims=True)
    )
    batch_axes = tuple(range(dy.ndim - 1))
    return dx, jnp.sum(dy * normed, axis=batch_axes), jnp.sum(dy, axis=batch_axes)


layer_norm.defvjp(_layer_norm_fwd, _layer_norm_bwd)


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis (:func:`layer_norm`); parameters ``scale`` and ``bias``
    named and shaped as ``flax.linen.LayerNorm``'s, so checkpoints of either restore on the other."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return layer_norm(x, scale, bias)


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
            x = Dense(size, kernel_init=orthogonal(np.sqrt(2.0)))(x)
            if self.layer_norm:
                x = LayerNorm()(x)
            x = act(x)
        return Dense(self.num_outputs, kernel_init=orthogonal(self.output_scale))(x)


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


def chunk_count(rows: int, max_rows: int | None) -> int:
    """The fewest equal chunks of at most ``max_rows`` rows that ``rows`` splits into (1 without a cap)."""
    if max_rows is None or rows <= max_rows:
        return 1
    count = -(-rows // max_rows)
    while rows % count:
        count += 1
    return count


def apply_in_chunks(fn: Callable[[jax.Array], jax.Array], x: jax.Array, max_rows: int) -> jax.Array:
    """``fn(x)`` for a row-wise ``fn``, evaluated over equal chunks of at most ``max_rows`` rows of ``x``.

    The same values (up to rounding); each chunk's activations stay in the CPU's cache, where
    XLA's elementwise passes over a whole batch of thousands of rows stream from memory.
    """
    count = chunk_count(x.shape[0], max_rows)
    if count == 1:
        return fn(x)
    out = jax.lax.map(fn, x.reshape(count, -1, *x.shape[1:]))
    return out.reshape(x.shape[0], *out.shape[2:])


def minibatch_epochs(
    key: jax.Array,
    network_params: Any,
    opt_state: Any,
    data: Any,
    num_epochs: int,
    num_minibatches: int,
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]],
    tx: optax.GradientTransformation,
    max_rows: int | None = None,
) -> tuple[Any, Any, dict]:
    """``num_epochs`` passes of gradient steps over shuffled minibatches of ``data``: PPO's and PQN's loop.

    ``data`` is a pytree with a leading axis of n samples; each epoch draws a permutation
    (:func:`~myriad_bench.core.random.permutation`) and splits it into
    ``min(num_minibatches, n)`` minibatches of ``n // num_minibatches`` samples (the remainder
    sits out that epoch). Each minibatch takes one ``tx`` step on
    ``loss_fn(network_params, minibatch) -> (loss, aux_metrics)``. Returns the final parameters,
    the optimiser state and ``{"loss", **aux_metrics}`` averaged over all minibatch steps.

    ``max_rows``: for a ``loss_fn`` whose loss and metrics are means over the samples, the
    minibatch's gradient is the mean of the gradients of equal chunks of at most ``max_rows``
    samples (:func:`chunk_count`), taken one after another: the same gradient up to rounding,
    with the activations of a chunk in cache (PQN on 1 024 environments: minibatches of 16 384).
    Losses that are not sample means (PPO's per-minibatch advantage normalisation) leave it unset.
    """
    n = jax.tree.leaves(data)[0].shape[0]
    count = min(num_minibatches, n)
    size = n // count
    chunks = chunk_count(size, max_rows)
    names: list[str] = []  # filled while the step is traced
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def minibatch_grad(network_params: Any, minibatch: Any) -> tuple[tuple[jax.Array, dict], Any]:
        if chunks == 1:
            return grad_fn(network_params, minibatch)
        split = jax.tree.map(lambda x: x.reshape(chunks, -1, *x.shape[1:]), minibatch)

        def add_chunk(total: Any, chunk: Any) -> tuple[Any, None]:
            return jax.tree.map(jnp.add, total, grad_fn(network_params, chunk)), None

        first = grad_fn(network_params, jax.tree.map(lambda x: x[0], split))
        total, _ = jax.lax.scan(add_chunk, first, jax.tree.map(lambda x: x[1:], split))
        return jax.tree.map(lambda x: x / chunks, total)

    # Each step's metrics leave the scan as one stacked vector: one write per step, not one per metric.
    def step(carry: tuple[Any, Any], minibatch: Any) -> tuple[tuple[Any, Any], jax.Array]:
        network_params, opt_state = carry
        (loss, aux), grads = minibatch_grad(network_params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, network_params)
        metrics = {"loss": loss, **aux}
        names[:] = list(metrics)
        stacked = jnp.stack([jnp.asarray(metrics[name], jnp.float32) for name in names])
        return (optax.apply_updates(network_params, updates), opt_state), stacked

    def epoch(carry: tuple[Any, Any], epoch_key: jax.Array) -> tuple[tuple[Any, Any], jax.Array]:
        order = permutation(epoch_key, n)[: count * size].reshape(count, size)
        minibatches = jax.tree.map(lambda x: x[order], data)
        return jax.lax.scan(step, carry, minibatches)

    (network_params, opt_state), metrics = jax.lax.scan(
        epoch, (network_params, opt_state), jax.random.split(key, num_epochs)
    )
    means = jnp.mean(metrics, axis=(0, 1))
    return network_params, opt_state, {name: means[i] for i, name in enumerate(names)}
