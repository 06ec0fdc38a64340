"""A name → factory registry whose objects are built once per registration and arguments.

Environments (:mod:`myriad_bench.envs.registry`) and agents (:mod:`myriad_bench.agents.registry`)
are both :class:`Registry` instances. ``make`` memoises what a factory returns, keyed on the
registration and the arguments frozen to a hashable canonical form, so a factory that builds
its functions as closures hands back the *same* functions on every call with equal
arguments, and compiled programs keyed on those functions are reused. Registering a name
again gives it a new :attr:`Registration.token` and forgets what the old factory built, so
the new factory builds every object afresh (new closures, so new programs).

>>> shapes = Registry("shape", load_builtins=lambda: None)
>>> shapes.register("square", lambda side=1.0: ("square", side))
>>> shapes.make("square", side=2.0) is shapes.make("square", side=2.0)
True

Factories must be pure descriptions: equal arguments give an equivalent object (the objects
are immutable containers of functions and parameters). Arguments that cannot be frozen
(arrays, objects without a hash) are passed through without memoising.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Registration", "Registry", "freeze"]

T = TypeVar("T")

_tokens = itertools.count(1)  # one counter for every registry: tokens never repeat in a process


class _Unhashable(Exception):
    """An argument that has no hashable canonical form."""


def freeze(value: Any) -> Hashable:
    """A hashable canonical form of ``value`` that keeps its type.

    Lists and tuples become tuples, dicts sorted item tuples, sets frozensets, each tagged with
    the container type; scalars are tagged with their type, so ``1``, ``1.0`` and ``True`` (equal
    in Python) stay apart. Raises ``TypeError`` for a value with no hash (an array, say).
    """
    try:
        return _freeze(value)
    except _Unhashable as error:
        raise TypeError(str(error)) from None


def _freeze(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return (type(value), tuple(_freeze(item) for item in value))
    if isinstance(value, Mapping):
        items = sorted(((_freeze(k), _freeze(v)) for k, v in value.items()), key=repr)
        return (type(value), tuple(items))
    if isinstance(value, set | frozenset):
        return (type(value), frozenset(_freeze(item) for item in value))
    try:
        hash(value)
    except TypeError:
        raise _Unhashable(f"{type(value).__name__} value {value!r:.80} has no hash") from None
    return (type(value), value)


@dataclass(frozen=True, eq=False)
class Registration(Generic[T]):
    """One registration of ``factory`` under ``name``; ``token`` is unique in the process."""

    registry: Registry[T] = field(repr=False)
    name: str
    factory: Callable[..., T]
    token: int

    def make(self, *args: Any, **kwargs: Any) -> T:
        """``factory(*args, **kwargs)``, memoised; see :meth:`Registry.make`."""
        return self.registry._make(self, args, kwargs)

    def accepts(self, keyword: str) -> bool:
        """Whether the factory has a parameter named ``keyword`` (not a ``*args``/``**kwargs`` catch-all)."""
        try:
            parameters = inspect.signature(self.factory).parameters
        except (TypeError, ValueError):  # builtins and some callables have no signature
            return False
        parameter = parameters.get(keyword)
        return parameter is not None and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )


class Registry(Generic[T]):
    """Factories by name, with memoised construction.

    Args:
        kind: what is registered, for messages (``"environment"``, ``"agent"``).
        load_builtins: imports the modules that register the built-in names; called before a
            name is looked up, so the built-ins are there however the registry was reached.
        optional_keywords: keywords passed to a factory only when it has a parameter of that
            name and the value is not ``None`` (hints that older factories do not take).
        memo_size: objects kept (least recently used dropped first).
    """

    def __init__(
        self,
        kind: str,
        load_builtins: Callable[[], None],
        *,
        optional_keywords: tuple[str, ...] = (),
        memo_size: int = 64,
    ) -> None:
        self.kind = kind
        self._load_builtins = load_builtins
        self._optional = optional_keywords
        self._memo_size = memo_size
        self._registrations: dict[str, Registration[T]] = {}
        self._memo: collections.OrderedDict[Hashable, T] = collections.OrderedDict()
        self._lock = threading.Lock()

    def register(self, name: str, factory: Callable[..., T], *, overwrite: bool = False) -> Registration[T]:
        """Register ``factory`` under ``name``; a name already taken needs ``overwrite=True``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r}: the factory must be callable, got {factory!r}")
        with self._lock:
            previous = self._registrations.get(name)
            if previous is not None and not overwrite:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
                )
            registration = Registration(self, name, factory, next(_tokens))
            self._registrations[name] = registration
            if previous is not None:
                self._forget(previous.token)
        return registration

    def unregister(self, name: str) -> None:
        """Remove ``name`` (and what its factory built); an unknown name is ignored."""
        with self._lock:
            registration = self._registrations.pop(name, None)
            if registration is not None:
                self._forget(registration.token)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load_builtins()
        return sorted(self._registrations)

    def registration(self, name: str) -> Registration[T]:
        """The current registration of ``name``; ``ValueError`` listing the known names otherwise."""
        self._load_builtins()
        try:
            return self._registrations[name]
        except KeyError:
            known = ", ".join(sorted(self._registrations))
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def make(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build ``name`` with ``factory(*args, **kwargs)``; equal arguments return the same object."""
        return self.registration(name).make(*args, **kwargs)

    def _make(self, registration: Registration[T], args: tuple, kwargs: dict[str, Any]) -> T:
        for keyword in self._optional:
            if keyword in kwargs and (kwargs[keyword] is None or not registration.accepts(keyword)):
                del kwargs[keyword]
        try:
            key = (registration.token, _freeze(args), _freeze(kwargs))
        except _Unhashable:
            return registration.factory(*args, **kwargs)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        # Built outside the lock: a factory may make other objects (an env wrapping another).
        value = registration.factory(*args, **kwargs)
        with self._lock:
            if self._registrations.get(registration.name) is not registration:
                return value  # re-registered meanwhile: do not keep what the old factory built
            value = self._memo.setdefault(key, value)  # a racing thread's object wins if first
            self._memo.move_to_end(key)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return value

    def _forget(self, token: int) -> None:
        for key in [key for key in self._memo if key[0] == token]:
            del self._memo[key]
