"""A uniform replay buffer in JAX: a fixed-capacity ring of items, pure and jittable.

The buffer is a pytree (jit, vmap and scan carry it); its capacity is the static leading
dimension of its arrays.

>>> buffer = ReplayBuffer.create(example, capacity=10_000)   # doctest: +SKIP
>>> buffer = buffer.add(items)                # items: the example's structure, leading axis n
>>> batch = buffer.sample(key, batch_size=32)  # uniform over the stored items
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

__all__ = ["ReplayBuffer"]


@struct.dataclass
class ReplayBuffer:
    """Ring buffer state: ``data`` leaves are ``(capacity, *item_shape)``."""

    data: Any
    """The stored items: the example's pytree with a leading ``capacity`` axis."""
    position: jax.Array
    """int32 index the next item is written to."""
    size: jax.Array
    """int32 number of valid items, at most ``capacity``."""

    @classmethod
    def create(cls, example: Any, capacity: int) -> ReplayBuffer:
        """An empty buffer for items shaped like ``example`` (one item, no batch axis)."""
        if capacity < 1:
            raise ValueError(f"replay buffer capacity must be >= 1, got {capacity}")
        data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.result_type(x)), example)
        return cls(data=data, position=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]

    def add(self, items: Any) -> ReplayBuffer:
        """Append ``items`` (leading axis ``n``), overwriting the oldest items once full.

        When ``n`` exceeds the capacity only the last ``capacity`` items are kept.
        """
        capacity = self.capacity
        n = jax.tree.leaves(items)[0].shape[0]
        skipped = max(n - capacity, 0)  # items that would be overwritten within this same add
        if skipped:
            items = jax.tree.map(lambda x: x[skipped:], items)
        index = (self.position + skipped + jnp.arange(n - skipped, dtype=jnp.int32)) % capacity
        # n <= capacity, so the indices are distinct and the scatter order does not matter.
        data = jax.tree.map(
            lambda store, x: store.at[index].set(x.astype(store.dtype), unique_indices=True),
            self.data,
            items,
        )
        return ReplayBuffer(
            data=data,
            position=(self.position + n) % capacity,
            size=jnp.minimum(self.size + n, capacity),
        )

    def sample(self, key: jax.Array, batch_size: int) -> Any:
        """``batch_size`` items drawn uniformly with replacement from the stored ones.

        The buffer must hold at least one item; an empty buffer returns its zero fill.
        """
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda store: store[index], self.data)
