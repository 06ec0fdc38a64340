"""JAX building blocks shared by environments and agents: spaces, transitions, replay buffer."""

from myriad_bench.core.spaces import Box, Discrete, Space

__all__ = ["Box", "Discrete", "Space"]
