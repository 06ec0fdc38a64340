"""Seeds over every local device: a ``jax.sharding`` mesh with one ``"seeds"`` axis.

With more than one local device and more than one seed, the seed axis of the training
program's keys is sharded over all of them (``NamedSharding(Mesh(devices, ("seeds",)),
P("seeds"))``; the step counts and parameters are replicated), and ``jax.shard_map`` runs on
each device the program of its share of the seeds. A seed count the devices do not divide is
padded with copies of the last seed's key, whose runs are computed and never read. One seed
runs on one device, unbatched, as before. The progress line is printed by each device for its
own seeds.

Identical to one device up to float rounding, not bit for bit (measured on XLA:CPU, see
tests/test_sharding.py): XLA's arithmetic for a seed already depends on the program it is
compiled in — on one device, seeds [0, 1] and seeds [0, 1, 2, 3] give seed 0 different last
bits — and the partitioned program is one more such variant (deterministic, like every
other). Baselines compared at the exact tier should be written with the device count they are
checked with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["SEED_AXIS", "SeedLayout", "seed_layout"]

SEED_AXIS = "seeds"


@dataclass(frozen=True)
class SeedLayout:
    """Where a program's seeds run: ``num_seeds`` real seeds padded to ``num_runs`` over ``num_devices``."""

    num_seeds: int
    num_runs: int
    num_devices: int

    def key(self) -> tuple:
        """What the compiled program depends on: the padded seed count and the devices."""
        devices = tuple(str(device) for device in self.devices())
        return ("devices", self.num_runs, devices)

    @property
    def seeds_per_device(self) -> int:
        return self.num_runs // self.num_devices

    def devices(self) -> list[Any]:
        return jax.local_devices()[: self.num_devices]

    def shardings(self) -> tuple[Any, Any] | None:
        """``(seeds, replicated)`` shardings, or ``None`` on one device (no sharding at all)."""
        if self.num_devices == 1:
            return None
        mesh = Mesh(np.array(self.devices()), (SEED_AXIS,))
        return NamedSharding(mesh, PartitionSpec(SEED_AXIS)), NamedSharding(mesh, PartitionSpec())

    def shard(self, program: Callable[..., Any], sweep_axes: int) -> Callable[..., Any]:
        """``program(keys, segment_chunks, env_params, agent_params)``, built for
        :attr:`seeds_per_device` seeds, run on every device over its share of the keys.

        ``sweep_axes`` is the number of axes before the seed axis of the final states (1 for a
        sweep); the outputs have one more (the boundary axis).
        """
        mesh = Mesh(np.array(self.devices()), (SEED_AXIS,))
        states = PartitionSpec(*([None] * sweep_axes), SEED_AXIS)
        outputs = PartitionSpec(*([None] * (sweep_axes + 1)), SEED_AXIS)
        shared = PartitionSpec()
        return jax.shard_map(
            program,
            mesh=mesh,
            in_specs=(PartitionSpec(SEED_AXIS), shared, shared, shared),
            out_specs=(states, outputs),
            # The program's carries mix per-seed and shared values (scan carries start from
            # constants); every output is per seed, which the out_specs say.
            check_vma=False,
        )

    def pad(self, keys: jax.Array) -> jax.Array:
        """``keys`` ``(num_seeds,)`` padded to ``(num_runs,)`` with the last key, placed on the mesh."""
        if self.num_runs > keys.shape[0]:
            extra = jax.numpy.repeat(keys[-1:], self.num_runs - keys.shape[0], axis=0)
            keys = jax.numpy.concatenate([keys, extra])
        shardings = self.shardings()
        return keys if shardings is None else jax.device_put(keys, shardings[0])

    def replicate(self, tree: Any) -> Any:
        """``tree`` copied to every device of the mesh (unchanged on one device)."""
        shardings = self.shardings()
        return tree if shardings is None else jax.device_put(tree, shardings[1])


def seed_layout(num_seeds: int, num_devices: int | None = None) -> SeedLayout:
    """The layout of ``num_seeds`` seeds over ``num_devices`` (default: every local device)."""
    available = jax.local_device_count() if num_devices is None else num_devices
    if num_seeds < 2 or available < 2:
        return SeedLayout(num_seeds, num_seeds, 1)
    devices = min(available, num_seeds)
    num_runs = -(-num_seeds // devices) * devices
    return SeedLayout(num_seeds, num_runs, devices)
