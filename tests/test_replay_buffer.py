"""ReplayBuffer: ring order, wrap-around, capacity, uniform sampling of stored items only."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from myriad_bench.core.replay_buffer import ReplayBuffer
from myriad_bench.core.transition import Transition


def items(start: int, n: int) -> dict:
    """n items numbered start.., with a vector field and a bool field."""
    ids = jnp.arange(start, start + n, dtype=jnp.int32)
    return {"id": ids, "obs": jnp.stack([ids, -ids], axis=-1).astype(jnp.float32), "flag": ids % 2 == 0}


EXAMPLE = jax.tree.map(lambda x: x[0], items(0, 1))


def test_create_is_empty_with_the_example_structure() -> None:
    buffer = ReplayBuffer.create(EXAMPLE, capacity=5)
    assert buffer.capacity == 5
    assert int(buffer.size) == 0 and int(buffer.position) == 0
    assert buffer.data["obs"].shape == (5, 2) and buffer.data["flag"].dtype == jnp.bool_
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        ReplayBuffer.create(EXAMPLE, capacity=0)


def test_add_fills_in_order_then_overwrites_the_oldest() -> None:
    buffer = ReplayBuffer.create(EXAMPLE, capacity=5)
    buffer = buffer.add(items(0, 3))
    assert int(buffer.size) == 3 and int(buffer.position) == 3
    np.testing.assert_array_equal(buffer.data["id"][:3], [0, 1, 2])
    buffer = buffer.add(items(3, 4))  # 3, 4 fill the end; 5, 6 overwrite 0, 1
    assert int(buffer.size) == 5 and int(buffer.position) == 2
    np.testing.assert_array_equal(buffer.data["id"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.data["obs"][:, 1], -np.array([5, 6, 2, 3, 4]))
    np.testing.assert_array_equal(buffer.data["flag"], [False, True, True, False, True])


def test_adding_more_than_the_capacity_keeps_the_newest() -> None:
    buffer = ReplayBuffer.create(EXAMPLE, capacity=4).add(items(0, 1)).add(items(1, 10))
    assert int(buffer.size) == 4
    assert sorted(np.asarray(buffer.data["id"]).tolist()) == [7, 8, 9, 10]


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=8), st.integers(1, 12))
def test_contents_match_a_list_model(sizes: list[int], capacity: int) -> None:
    buffer = ReplayBuffer.create(EXAMPLE, capacity=capacity)
    added = []
    for n in sizes:
        buffer = buffer.add(items(len(added), n))
        added.extend(range(len(added), len(added) + n))
    kept = added[-capacity:]
    assert int(buffer.size) == len(kept)
    assert int(buffer.position) == len(added) % capacity
    stored = np.asarray(buffer.data["id"])
    assert sorted(stored[: len(kept)].tolist() if len(added) < capacity else stored.tolist()) == kept
    # The newest item sits just before the write position.
    assert stored[(int(buffer.position) - 1) % capacity] == added[-1]


def test_sample_draws_only_stored_items_uniformly_under_jit() -> None:
    buffer = ReplayBuffer.create(EXAMPLE, capacity=100).add(items(10, 4))
    sample = jax.jit(lambda b, k: b.sample(k, 4000))(buffer, jax.random.key(0))
    ids = np.asarray(sample["id"])
    assert set(ids.tolist()) == {10, 11, 12, 13}
    counts = np.bincount(ids - 10)
    assert counts.min() > 850 and counts.max() < 1150  # ~1000 each
    np.testing.assert_array_equal(np.asarray(sample["obs"])[:, 0], ids)  # fields stay together
    other = buffer.sample(jax.random.key(1), 64)["id"]
    assert not np.array_equal(np.asarray(other), ids[:64])


def test_holds_transitions_inside_a_scan() -> None:
    example = Transition(
        obs=jnp.zeros(3), action=jnp.int32(0), reward=jnp.float32(0), next_obs=jnp.zeros(3),
        done=jnp.bool_(False), terminated=jnp.bool_(False),
    )  # fmt: skip

    def step(buffer: ReplayBuffer, t: jax.Array) -> tuple[ReplayBuffer, jax.Array]:
        batch = Transition(
            obs=jnp.full((2, 3), t, jnp.float32), action=jnp.full((2,), t), reward=jnp.ones(2),
            next_obs=jnp.zeros((2, 3)), done=jnp.zeros(2, bool), terminated=jnp.zeros(2, bool),
        )  # fmt: skip
        buffer = buffer.add(batch)
        return buffer, buffer.size

    buffer, sizes = jax.lax.scan(step, ReplayBuffer.create(example, 7), jnp.arange(6))
    np.testing.assert_array_equal(sizes, [2, 4, 6, 7, 7, 7])
    assert sorted(np.asarray(buffer.data.action).tolist()) == [2, 3, 3, 4, 4, 5, 5]
