"""Name → factory registry of agents; user code extends it with :func:`register_agent`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myriad_bench.agents.agent import Agent
from myriad_bench.core.spaces import Space

__all__ = ["agent_names", "make_agent", "register_agent"]

_FACTORIES: dict[str, Callable[..., Agent]] = {}


def register_agent(name: str, factory: Callable[..., Agent], *, overwrite: bool = False) -> None:
    """Register ``factory(action_space, **params) -> Agent`` under ``name``."""
    if name in _FACTORIES and not overwrite:
        raise ValueError(f"agent {name!r} is already registered; pass overwrite=True to replace it")
    _FACTORIES[name] = factory


def agent_names() -> list[str]:
    """Names of all registered agents."""
    _load_builtins()
    return sorted(_FACTORIES)


def make_agent(name: str, action_space: Space, **params: Any) -> Agent:
    """Build the agent registered as ``name`` for ``action_space`` with hyperparameters ``params``."""
    _load_builtins()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; registered: {', '.join(sorted(_FACTORIES))}") from None
    return factory(action_space, **params)


def _load_builtins() -> None:
    import myriad_bench.agents  # noqa: F401
