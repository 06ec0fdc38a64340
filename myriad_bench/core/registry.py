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

A namespace (:meth:`Registry.register_namespace`) stands for a family of names that another
library defines, ``<prefix>:<id>`` (``gymnax:CartPole-v1``): its resolver turns an id into a
factory the first time the name is used, and the name then behaves like a registered one (one
registration, so the same memo). Names registered explicitly win over a namespace.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Names", "Registration", "Registry", "Resolver", "freeze"]

T = TypeVar("T")

Resolver = Callable[[str], Callable[..., Any]]
"""``resolver(id) -> factory`` of a namespace; raises (``ValueError``, ``ImportError``) saying why
an id does not resolve."""

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


class Names(list):
    """The registered names (a sorted list) whose ``in`` also answers for namespaced names.

    ``"<prefix>:<id>" in names`` resolves the name through its namespace: ``True`` when it
    resolves, and otherwise the namespace's own error (an unknown id with its closest matches,
    a missing optional package) rather than a bare ``False``, so that a caller that checks
    ``name in registry.names()`` reports why the name is not there.
    """

    def __init__(self, names: list[str], registry: Registry[Any]) -> None:
        super().__init__(names)
        self._registry = registry

    def __contains__(self, name: object) -> bool:
        if super().__contains__(name):
            return True
        if isinstance(name, str) and self._registry.namespace_of(name) is not None:
            self._registry.registration(name)  # raises when the name does not resolve
            return True
        return False


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
        self._namespaces: dict[str, Resolver] = {}
        self._resolved: dict[str, Registration[T]] = {}  # namespaced names used so far
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
            for replaced in (previous, self._resolved.pop(name, None)):
                if replaced is not None:
                    self._forget(replaced.token)
        return registration

    def register_namespace(self, prefix: str, resolver: Resolver, *, overwrite: bool = False) -> None:
        """Let names ``<prefix>:<id>`` resolve through ``resolver(id) -> factory`` on first use.

        ``prefix`` must be non-empty without ``:``; one already taken needs ``overwrite=True``
        (which forgets the names resolved through the old resolver and what they built).
        """
        if not isinstance(prefix, str) or not prefix or ":" in prefix:
            raise ValueError(
                f"{self.kind} namespace prefixes must be non-empty strings without ':', got {prefix!r}"
            )
        if not callable(resolver):
            raise TypeError(
                f"{self.kind} namespace {prefix!r}: the resolver must be callable, got {resolver!r}"
            )
        with self._lock:
            if prefix in self._namespaces and not overwrite:
                raise ValueError(
                    f"{self.kind} namespace {prefix!r} is already registered; "
                    "pass overwrite=True to replace it"
                )
            self._namespaces[prefix] = resolver
            for name in [name for name in self._resolved if name.startswith(prefix + ":")]:
                self._forget(self._resolved.pop(name).token)

    def namespace_of(self, name: str) -> str | None:
        """The namespace prefix of ``name`` (``"gymnax"`` for ``"gymnax:CartPole-v1"``), else ``None``."""
        prefix, colon, _ = name.partition(":")
        return prefix if colon and prefix in self._namespaces else None

    def unregister(self, name: str) -> None:
        """Remove ``name`` (and what its factory built); an unknown name is ignored."""
        with self._lock:
            for registration in (self._registrations.pop(name, None), self._resolved.pop(name, None)):
                if registration is not None:
                    self._forget(registration.token)

    def names(self) -> Names:
        """The registered names, sorted; ``in`` also accepts names that a namespace resolves."""
        self._load_builtins()
        return Names(sorted(self._registrations), self)

    def registration(self, name: str) -> Registration[T]:
        """The current registration of ``name``; ``ValueError`` listing the known names otherwise.

        A namespaced name is resolved on first use (the resolver's error when it does not resolve).
        """
        self._load_builtins()
        registration = self._registrations.get(name) or self._resolved.get(name)
        if registration is not None:
            return registration
        prefix = self.namespace_of(name)
        if prefix is None:
            known = ", ".join(sorted(self._registrations))
            namespaces = "".join(f"; or {p}:<id>" for p in sorted(self._namespaces))
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {known}{namespaces}")
        # Resolved outside the lock: a resolver may import a library (slow) or use this registry.
        resolver = self._namespaces[prefix]
        factory = resolver(name[len(prefix) + 1 :])
        registration = Registration(self, name, factory, next(_tokens))
        with self._lock:
            if self._namespaces.get(prefix) is not resolver:
                return registration  # the namespace was replaced meanwhile: do not keep the old one
            # A racing thread's registration wins if it came first: one token, one memo per name.
            return self._resolved.setdefault(name, registration)

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
            current = self._registrations.get(registration.name) or self._resolved.get(registration.name)
            if current is not registration:
                return value  # re-registered meanwhile: do not keep what the old factory built
            value = self._memo.setdefault(key, value)  # a racing thread's object wins if first
            self._memo.move_to_end(key)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return value

    def _forget(self, token: int) -> None:
        for key in [key for key in self._memo if key[0] == token]:
            del self._memo[key]
