"""Agent state <-> Flax msgpack files (``checkpoints/final.msgpack``, ``save_agent``).

The file holds ``flax.serialization.to_state_dict(state)`` packed with msgpack, the format of
``flax.serialization.to_bytes``: nested dicts of NumPy arrays (any dtype, bfloat16 included) and
Python scalars. Loading gives that raw nested dict back; :func:`restore_agent_state` puts it
onto an agent's own state structure (a flax struct, an optax state, ...). Flax and JAX are
imported when a function needs them, not with this module.

>>> save_agent_state(results.agent_state, "agent.msgpack")          # doctest: +SKIP
>>> raw = load_agent_state("agent.msgpack")                          # doctest: +SKIP
>>> state = restore_agent_state(agent.init(key, obs, agent.params), raw)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from myriad_bench.store.atomic import atomic_write_bytes
from myriad_bench.store.bounds import check_expansion, non_plain_arrays
from myriad_bench.store.errors import ArtifactError

__all__ = [
    "AgentStateMismatch",
    "flatten",
    "load_agent_state",
    "restore_agent_state",
    "save_agent_state",
    "shown_leaves",
]


def save_agent_state(state: Any, path: Path | str) -> None:
    """Write ``state`` (any pytree Flax can turn into a state dict) to ``path`` atomically.

    Raises :class:`ArtifactError` (a ``RuntimeError``) naming the path when there is no state
    or it cannot be serialized.
    """
    from flax import serialization

    path = Path(path)
    if state is None:
        raise ArtifactError(f"no agent state to save to {path}: the results carry agent_state=None")
    try:
        data = serialization.to_bytes(state)
    except Exception as error:  # msgpack and flax raise a variety of types for unsupported leaves
        raise ArtifactError(
            f"could not serialize the agent state for {path} ({type(error).__name__}: {error}); "
            "agent states must be pytrees of arrays and Python scalars"
        ) from error
    atomic_write_bytes(path, data)


def load_agent_state(path: Path | str) -> Any:
    """Read an agent state written by :func:`save_agent_state` (or ``flax.serialization.to_bytes``).

    Returns the raw state dict: nested dicts of NumPy arrays and scalars. Raises
    ``FileNotFoundError`` when ``path`` does not exist and :class:`ArtifactError` (a
    ``RuntimeError``) naming the path when it is not a complete Flax msgpack file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"agent state file not found: {path}")
    if path.is_dir():
        raise ArtifactError(
            f"{path} is a directory, expected a msgpack file "
            "(a run dir keeps its agent state in checkpoints/final.msgpack)"
        )
    from flax import serialization

    data = path.read_bytes()
    if not data:
        raise ArtifactError(f"{path} is empty, expected a Flax msgpack agent state")
    try:
        # msgpack bounds every length by the buffer's size; arrays come from their own bytes.
        raw = serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises its own types, ValueError and TypeError alike
        raise ArtifactError(
            f"{path} could not be read as a Flax msgpack agent state ({type(error).__name__}); "
            "the file is truncated, corrupt or of another format"
        ) from None
    check_expansion(raw, len(data), path, what="agent state")
    odd = non_plain_arrays(raw)
    if odd:
        raise ArtifactError(
            f"{path}: holds arrays of dtype {odd[0]!r}; agent states hold numbers and bools only "
            "(corrupt or crafted)"
        )
    return raw


def restore_agent_state(target: Any, raw: Any, *, source: Path | str | None = None) -> Any:
    """Put a raw state dict (from :func:`load_agent_state`) onto ``target``'s structure.

    ``target`` is a state of the same agent built fresh (e.g. ``agent.init(...)``); its
    structure is kept and its leaves are replaced by the stored ones. Raises
    :class:`AgentStateMismatch` naming ``source`` (the file) and every mismatching leaf (missing,
    unexpected, or of another shape) when the stored state does not fit.
    """
    from flax import serialization

    where = f"{source}: " if source is not None else ""
    wanted = flatten(serialization.to_state_dict(target))
    stored = flatten(raw)
    leaves = [f"{path} (missing from the file)" for path in wanted if path not in stored]
    leaves += [f"{path} (not in this agent)" for path in stored if path not in wanted]
    leaves += [
        f"{path} (stored {np.shape(stored[path])}, this agent {np.shape(value)})"
        for path, value in wanted.items()
        if path in stored and np.shape(stored[path]) != np.shape(value)
    ]
    if leaves:
        shown = shown_leaves(leaves)
        raise AgentStateMismatch(
            f"{where}stored agent state does not fit this agent's state: {shown}; was it saved by "
            "another agent or with other hyperparameters (network size, number of actions)?",
            leaves,
        )
    try:
        return serialization.from_state_dict(target, raw)
    except Exception as error:  # flax raises ValueError/KeyError/TypeError for other mismatches
        raise AgentStateMismatch(
            f"{where}stored agent state does not fit this agent's state ({type(error).__name__}); "
            "was it saved by another agent or with other hyperparameters?",
            [],
        ) from error


def shown_leaves(leaves: list[str], most: int = 8) -> str:
    """The first ``most`` mismatching leaves, ``; ``-joined, and how many more there are."""
    more = f"; and {len(leaves) - most} more" if len(leaves) > most else ""
    return "; ".join(leaves[:most]) + more


class AgentStateMismatch(ArtifactError):
    """A stored agent state that does not fit the agent's structure; ``leaves`` says where."""

    def __init__(self, message: str, leaves: list[str]) -> None:
        super().__init__(message)
        self.leaves = leaves


def flatten(tree: Any, sep: str = "/", prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level, keys joined by ``sep``: ``{"params/Dense_0/kernel": leaf}``."""
    if isinstance(tree, Mapping):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, sep, f"{prefix}{sep}{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}
