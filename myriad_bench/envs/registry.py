"""Name → factory registry of environments; user code extends it with :func:`register_env`.

``make_env`` builds an environment once per registration and overrides (see
:class:`~myriad_bench.core.registry.Registry`): an environment whose factory builds closures
gets the same functions on every call, so its compiled programs are reused, and
``register_env(..., overwrite=True)`` starts afresh.

Names ``gymnax:<id>`` resolve to any gymnax environment through the adapter in
:mod:`myriad_bench.envs.gymnax` (with the ``gymnax`` extra installed), imported only when such
a name is first used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myriad_bench.core.registry import Registry
from myriad_bench.envs.environment import Environment

__all__ = ["env_names", "make_env", "register_env"]


def _load_builtins() -> None:
    # The built-in modules register themselves on import.
    import myriad_bench.envs  # noqa: F401


def _gymnax_factory(env_id: str) -> Callable[..., Environment]:
    # Imported here: importing myriad_bench (or any other environment) never imports gymnax.
    from myriad_bench.envs.gymnax import gymnax_factory

    return gymnax_factory(env_id)


_ENVS: Registry[Environment] = Registry("environment", _load_builtins)
_ENVS.register_namespace("gymnax", _gymnax_factory)


def register_env(name: str, factory: Callable[..., Environment], *, overwrite: bool = False) -> None:
    """Register ``factory(**overrides) -> Environment`` under ``name``."""
    _ENVS.register(name, factory, overwrite=overwrite)


def env_names() -> list[str]:
    """Names of all registered environments (``"gymnax:<id>" in env_names()`` checks a gymnax id)."""
    return _ENVS.names()


def make_env(name: str, **overrides: Any) -> Environment:
    """Build the environment registered as ``name``; ``overrides`` change its config/params.

    ``name`` may also be ``"gymnax:<id>"`` for any gymnax environment (overrides set fields of
    its ``EnvParams``; see :mod:`myriad_bench.envs.gymnax`). Equal overrides return the same
    (immutable) environment object.
    """
    return _ENVS.make(name, **overrides)


def unregister_env(name: str) -> None:
    """Remove ``name`` from the registry (tests that register temporary environments)."""
    _ENVS.unregister(name)
