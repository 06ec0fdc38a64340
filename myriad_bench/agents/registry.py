"""Name → factory registry of agents; user code extends it with :func:`register_agent`.

``make_agent`` builds an agent once per registration, action space, control hints and
hyperparameters (see :class:`~myriad_bench.core.registry.Registry`): an agent whose factory
builds closures gets the same functions on every call, so its compiled programs are reused,
and ``register_agent(..., overwrite=True)`` starts afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myriad_bench.agents.agent import Agent
from myriad_bench.core.registry import Registry
from myriad_bench.core.spaces import Space

__all__ = ["agent_names", "make_agent", "register_agent"]


def _load_builtins() -> None:
    # The built-in modules register themselves on import.
    import myriad_bench.agents  # noqa: F401


_AGENTS: Registry[Agent] = Registry("agent", _load_builtins, optional_keywords=("control",))


def register_agent(name: str, factory: Callable[..., Agent], *, overwrite: bool = False) -> None:
    """Register ``factory(action_space, **params) -> Agent`` under ``name``.

    A factory with a ``control`` parameter also gets the environment's control hints (see
    :func:`make_agent`).
    """
    _AGENTS.register(name, factory, overwrite=overwrite)


def agent_names() -> list[str]:
    """Names of all registered agents."""
    return _AGENTS.names()


def make_agent(name: str, action_space: Space, control: Any = None, **params: Any) -> Agent:
    """Build the agent registered as ``name`` for ``action_space`` with hyperparameters ``params``.

    ``control`` (the environment's ``ControlHints``, or ``None``) is passed on to factories that
    have a ``control`` parameter, so classical controllers can pick working defaults for the
    environment; other factories never see it. Equal arguments return the same agent object.
    """
    return _AGENTS.make(name, action_space, control=control, **params)


def unregister_agent(name: str) -> None:
    """Remove ``name`` from the registry (tests that register temporary agents)."""
    _AGENTS.unregister(name)
