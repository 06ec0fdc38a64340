"""The agents' shared network pieces: the dense and LayerNorm layers with hand-written gradients,
the chunked minibatch loop and the sort-free permutation it shuffles with."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myriad_bench.agents.networks import MLP, apply_in_chunks, chunk_count, minibatch_epochs, orthogonal
from myriad_bench.core.random import permutation


class FlaxMLP(nn.Module):
    """The MLP as flax's own layers write it: the reference for values, gradients and parameters."""

    sizes: tuple[int, ...]
    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.sizes:
            x = nn.relu(nn.LayerNorm()(nn.Dense(size, kernel_init=orthogonal(np.sqrt(2.0)))(x)))
        return nn.Dense(self.outputs, kernel_init=orthogonal(1.0))(x)


@pytest.mark.parametrize("outputs", [2, 16])
def test_mlp_matches_flax_layers_in_parameters_values_and_gradients(outputs: int) -> None:
    x = jax.random.normal(jax.random.key(0), (96, 5))
    ours, theirs = MLP((32, 24), outputs, "relu", layer_norm=True), FlaxMLP((32, 24), outputs)
    params = ours.init(jax.random.key(1), x[:1])
    reference = theirs.init(jax.random.key(1), x[:1])
    # Same names, shapes and initial values: checkpoints of the flax layers restore on these.
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), params, reference)))

    def loss(module: nn.Module) -> object:
        return lambda p: jnp.sum(jnp.sin(module.apply(p, x)) * jnp.arange(outputs))

    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=2e-6)
    grads, expected = jax.grad(loss(ours))(params), jax.grad(loss(theirs))(params)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Under vmap over a seed axis of parameters, as vmapped training takes them.
    stacked = jax.tree.map(lambda leaf: jnp.stack([leaf, leaf]), params)
    batched = jax.vmap(jax.grad(loss(ours)))(stacked)
    for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(got[1], want, rtol=1e-4, atol=1e-4)


def test_chunk_count_picks_the_fewest_equal_chunks_within_the_cap() -> None:
    assert chunk_count(16_384, 1_024) == 16
    assert chunk_count(1_000, None) == 1
    assert chunk_count(100, 1_024) == 1
    assert chunk_count(3 * 7 * 11, 64) == 7  # 5 and 6 do not divide 231
    assert chunk_count(1_031, 64) == 1_031  # a prime: single rows


def test_apply_in_chunks_equals_one_pass() -> None:
    x = jax.random.normal(jax.random.key(0), (24, 3))
    fn = lambda rows: jnp.tanh(rows @ jnp.ones((3, 2)))  # noqa: E731
    np.testing.assert_allclose(apply_in_chunks(fn, x, 8), fn(x), rtol=1e-6)
    np.testing.assert_allclose(apply_in_chunks(fn, x, 5), fn(x), rtol=1e-6)  # 24 -> 6 chunks of 4


def test_chunked_minibatch_gradients_match_one_pass() -> None:
    """max_rows only changes how a sample-mean loss's gradient is summed, not the training."""
    net = MLP((16,), 2, "relu", layer_norm=True)
    obs = jax.random.normal(jax.random.key(0), (256, 4))
    data = {"obs": obs, "target": jax.random.normal(jax.random.key(1), (256, 2))}
    params = net.init(jax.random.key(2), obs[:1])
    tx = optax.adam(1e-2)

    def loss_fn(p: object, batch: dict) -> tuple[jax.Array, dict]:
        error = net.apply(p, batch["obs"]) - batch["target"]
        return jnp.mean(jnp.square(error)), {"abs_error": jnp.mean(jnp.abs(error))}

    def train(max_rows: int | None) -> tuple:
        return minibatch_epochs(jax.random.key(3), params, tx.init(params), data, 2, 2, loss_fn, tx, max_rows)

    whole, chunked = train(None), train(32)  # minibatches of 128 in 4 chunks
    for got, want in zip(jax.tree.leaves(chunked), jax.tree.leaves(whole), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert set(chunked[2]) == {"loss", "abs_error"}
    assert not np.allclose(jax.tree.leaves(whole[0])[0], jax.tree.leaves(params)[0])  # it trained


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 5_000), seed=st.integers(0, 2**32 - 1))
def test_permutation_is_a_bijection(n: int, seed: int) -> None:
    order = np.asarray(permutation(jax.random.key(seed), n))
    assert order.dtype == np.int32
    assert np.array_equal(np.sort(order), np.arange(n))


@pytest.mark.parametrize("n", [257, 1_000])
def test_permutation_spreads_items_over_positions_and_minibatches_uniformly(n: int) -> None:
    """Over 20 000 keys: each item in each tenth of the order about equally often (chi-square at
    the 0.1% level), and two items share the first half as often as a uniform shuffle says."""
    draws = 20_000
    orders = np.asarray(jax.vmap(lambda k: permutation(k, n))(jax.random.split(jax.random.key(0), draws)))
    tenth = (np.arange(n) * 10) // n  # the tenth of the order each position falls in
    counts = np.zeros((n, 10))
    np.add.at(counts, (orders, np.broadcast_to(tenth, orders.shape)), 1)
    expected = draws * np.bincount(tenth, minlength=10) / n
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    dof = (n - 1) * 9
    assert chi2 < dof + 3.1 * np.sqrt(2 * dof), chi2  # ~ the 0.999 quantile
    half = np.zeros((draws, n), bool)
    np.put_along_axis(half, orders[:, : n // 2], True, axis=1)
    together = np.mean(half[:, 0] & half[:, 1]), np.mean(half[:, 0] & half[:, n - 1])
    uniform = (n // 2) * (n // 2 - 1) / (n * (n - 1))
    assert np.allclose(together, uniform, atol=4 * np.sqrt(uniform / draws)), together


def test_permutation_depends_on_the_key_and_mixes_positions() -> None:
    first, second = (np.asarray(permutation(jax.random.key(s), 1_000)) for s in (0, 1))
    assert not np.array_equal(first, second)
    # Neighbouring indices land far apart: no long runs of consecutive values.
    assert np.mean(np.abs(np.diff(first)) == 1) < 0.02
    assert abs(np.corrcoef(np.arange(1_000), first)[0, 1]) < 0.1
