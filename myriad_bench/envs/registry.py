"""Name → factory registry of environments; user code extends it with :func:`register_env`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myriad_bench.envs.environment import Environment

__all__ = ["env_names", "make_env", "register_env"]

_FACTORIES: dict[str, Callable[..., Environment]] = {}


def register_env(name: str, factory: Callable[..., Environment], *, overwrite: bool = False) -> None:
    """Register ``factory(**overrides) -> Environment`` under ``name``."""
    if name in _FACTORIES and not overwrite:
        raise ValueError(f"environment {name!r} is already registered; pass overwrite=True to replace it")
    _FACTORIES[name] = factory


def env_names() -> list[str]:
    """Names of all registered environments."""
    _load_builtins()
    return sorted(_FACTORIES)


def make_env(name: str, **overrides: Any) -> Environment:
    """Build the environment registered as ``name``; ``overrides`` change its config/params."""
    _load_builtins()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown environment {name!r}; registered: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(**overrides)


def _load_builtins() -> None:
    # The built-in modules register themselves on import.
    import myriad_bench.envs  # noqa: F401
