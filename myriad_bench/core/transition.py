"""The transition record that training hands to agents and stores in the replay buffer.

A :class:`Transition` holds arrays with any leading batch shape: ``(num_envs,)`` for one step of
the vectorised environments, ``(rollout_steps, num_envs)`` for an on-policy rollout,
``(batch_size,)`` for a replay sample.
"""

from __future__ import annotations

import jax
from flax import struct

__all__ = ["Transition"]


@struct.dataclass
class Transition:
    """``obs --action--> (reward, next_obs)``; the leading axes are batch axes.

    ``next_obs`` is the observation the environment returned: after a ``done`` step the
    environments auto-reset, so there it is the first observation of the next episode.
    ``terminated`` marks true terminal states (no bootstrapping); ``done`` marks the end of
    an episode for any reason (termination or truncation at the step limit).
    """

    obs: jax.Array
    """Observations, ``(*batch, *obs_shape)``."""
    action: jax.Array
    """Actions taken, ``(*batch, *action_shape)``."""
    reward: jax.Array
    """Rewards, ``(*batch,)`` float32."""
    next_obs: jax.Array
    """Observations after the step, ``(*batch, *obs_shape)``."""
    done: jax.Array
    """Episode ended (terminated or truncated), ``(*batch,)`` bool."""
    terminated: jax.Array
    """Episode reached a terminal state, ``(*batch,)`` bool."""
