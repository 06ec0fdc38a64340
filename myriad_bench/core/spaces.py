"""Action and observation spaces: hashable, static descriptions of array shapes and bounds.

Spaces are frozen dataclasses (hashable, usable as static arguments to ``jax.jit``); sampling
is a pure function of a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Box", "Discrete", "Space"]


@dataclass(frozen=True)
class Discrete:
    """``n`` actions ``0 .. n-1`` as int32 scalars."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Discrete space needs n >= 1, got n={self.n}")

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> Any:
        return jnp.int32

    def sample(self, key: jax.Array, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Uniform actions of shape ``batch_shape``."""
        return jax.random.randint(key, batch_shape, 0, self.n, dtype=jnp.int32)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < self.n) & (x == jnp.floor(x)))


@dataclass(frozen=True)
class Box:
    """A box of float32 arrays of ``shape`` with elementwise bounds ``low`` / ``high``.

    Bounds are scalars or tuples (nested for multi-dimensional shapes) so the space stays
    hashable; ``inf`` bounds are allowed for observation spaces.
    """

    low: float | tuple
    high: float | tuple
    shape: tuple[int, ...]

    @property
    def dtype(self) -> Any:
        return jnp.float32

    def bounds(self) -> tuple[jax.Array, jax.Array]:
        low = jnp.broadcast_to(jnp.asarray(self.low, jnp.float32), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, jnp.float32), self.shape)
        return low, high

    def sample(self, key: jax.Array, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Uniform samples of shape ``batch_shape + shape`` (bounds must be finite)."""
        low, high = self.bounds()
        return jax.random.uniform(key, batch_shape + self.shape, jnp.float32, low, high)

    def contains(self, x: Any) -> jax.Array:
        low, high = self.bounds()
        x = jnp.asarray(x)
        return jnp.all((x >= low) & (x <= high))


Space = Discrete | Box
