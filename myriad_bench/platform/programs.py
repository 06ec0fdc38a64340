"""The one cache of compiled programs, for training and evaluation alike.

A program is keyed on everything it depends on besides its argument values:

- its ``kind`` (``"training"``, ``"evaluation"``) and static ``plan`` (sizes, flags);
- the environment: its name, static config, functions and spaces (:func:`static_key`); the
  agent likewise;
- the tree structure and leaf shapes/dtypes of every argument (:func:`signature`): the
  parameter structs' static fields live in their tree structure, so new gains or physics
  constants reuse the program while a new network size compiles anew.

Functions are keyed by identity (as ``jax.jit`` keys them). The registries build an object
once per registration and arguments, so an environment or agent whose factory returns fresh
closures still maps to one program. A re-registered name builds its objects afresh: new
functions (closures, or other definitions) compile a new program; a factory that hands back the
very same functions, config and spaces gets the program those define, which is the program it
would compile (as with ``jax.jit``, globals a function reads while traced are baked in).

>>> program, compilation = PROGRAMS.get(key, lambda: jax.jit(f).lower(*args).compile())  # doctest: +SKIP
>>> PROGRAMS.stats().compiles                                                        # doctest: +SKIP
1
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = [
    "PROGRAMS",
    "CacheStats",
    "Compilation",
    "ProgramCache",
    "clear_compiled_programs",
    "program_cache_stats",
    "signature",
    "static_key",
]


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """Counts of a :class:`ProgramCache` since it was created (or cleared)."""

    compiles: int
    """Programs built and compiled (cache misses)."""
    hits: int
    """Lookups answered from the cache."""
    entries: int
    """Programs held now."""
    compiles_by_kind: dict[str, int]
    """``compiles`` split by the key's first element (``"training"``, ``"evaluation"``)."""


@dataclasses.dataclass(frozen=True)
class Compilation:
    """How a program was obtained: ``seconds`` this lookup spent building it (0 from memory),
    ``cold_s`` what its build took when it was first built in this process (compile time with
    an empty in-memory cache), ``source``: ``"memory"`` (this process had it), ``"persistent"``
    (built, with XLA's executable read from JAX's persistent compilation cache) or
    ``"compiled"`` (built and compiled by XLA), and ``cold_source`` the source of that first
    build."""

    seconds: float
    cold_s: float
    source: str
    cold_source: str


_persistent_hits = 0


def _count_persistent_hits(event: str, **_: Any) -> None:
    global _persistent_hits
    if event == "/jax/compilation_cache/cache_hits":
        _persistent_hits += 1


jax.monitoring.register_event_listener(_count_persistent_hits)


class ProgramCache:
    """A thread-safe LRU map from program keys to compiled programs.

    ``get(key, build)`` returns ``(program, compilation)``: the cached program, or what
    ``build()`` returns, and a :class:`Compilation` saying how long its build took and where it
    came from. Keys are tuples whose first element names the kind of program. Building holds
    the cache's lock, so two threads asking for one new program compile it once.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._programs: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.RLock()
        self._hits = 0
        self._compiles: collections.Counter[str] = collections.Counter()

    def get(self, key: tuple, build: Callable[[], Any]) -> tuple[Any, Compilation]:
        with self._lock:
            if key in self._programs:
                self._programs.move_to_end(key)
                self._hits += 1
                program, built = self._programs[key]
                return program, dataclasses.replace(built, seconds=0.0, source="memory")
            hits_before = _persistent_hits
            started = time.perf_counter()
            program = build()
            seconds = time.perf_counter() - started
            source = "persistent" if _persistent_hits > hits_before else "compiled"
            built = Compilation(seconds, seconds, source, source)
            self._programs[key] = (program, built)
            self._compiles[str(key[0])] += 1
            while len(self._programs) > self._size:
                self._programs.popitem(last=False)
            return program, built

    def clear(self) -> None:
        """Forget every program and reset the counts."""
        with self._lock:
            self._programs.clear()
            self._hits = 0
            self._compiles.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                compiles=sum(self._compiles.values()),
                hits=self._hits,
                entries=len(self._programs),
                compiles_by_kind=dict(self._compiles),
            )


PROGRAMS = ProgramCache()
"""The process's compiled training and evaluation programs."""


def clear_compiled_programs() -> None:
    """Forget every cached program (the next run compiles again)."""
    PROGRAMS.clear()


def program_cache_stats() -> CacheStats:
    """Compiles, hits and entries of the program cache (see :class:`CacheStats`)."""
    return PROGRAMS.stats()


def static_key(component: NamedTuple) -> tuple:
    """What a program depends on in an ``Environment`` or ``Agent`` besides its ``params``.

    Every field but ``params`` (name, static config, functions, spaces, ...), by value (functions
    by identity). Raises ``TypeError`` naming the field when one is not hashable.
    """
    fields = tuple((name, getattr(component, name)) for name in component._fields if name != "params")
    for name, value in fields:
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"{type(component).__name__} {getattr(component, 'name', '?')!r}: field {name!r} "
                f"({type(value).__name__}) must be hashable to key its compiled programs"
            ) from None
    return (type(component).__name__, fields)


def signature(tree: Any) -> tuple:
    """Tree structure and per-leaf ``(shape, dtype, weak_type)`` of ``tree``: what tracing sees."""
    leaves, treedef = jax.tree.flatten(tree)
    return (treedef, tuple(_leaf_signature(leaf) for leaf in leaves))


def _leaf_signature(leaf: Any) -> tuple:
    if isinstance(leaf, jax.Array):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return (leaf.shape, str(leaf.dtype), False)
        return (leaf.shape, leaf.dtype, bool(getattr(leaf, "weak_type", False)))
    if isinstance(leaf, bool | int | float | complex):  # Python scalars trace weakly typed
        return ((), jax.dtypes.canonicalize_dtype(np.asarray(leaf).dtype), True)
    array = np.asarray(leaf)
    return (array.shape, jax.dtypes.canonicalize_dtype(array.dtype), False)
