"""Bounds on what a loaded file may expand to: objects per byte and depth of nesting.

A pickle's memo and YAML's aliases let a 1 KB file refer to one list thousands of times; the
loaded object is small, but anything walking it as a tree (``config.digest()``, pydantic, a
flattening diff) expands it to gigabytes. :func:`check_expansion` walks it as such a tree,
counting every reference, and stops at a budget proportional to the file's size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from myriad_bench.store.errors import ArtifactError

__all__ = ["MAX_DEPTH", "check_expansion", "is_plain_dtype", "non_plain_arrays"]

MAX_DEPTH = 64
"""Deepest nesting a loaded file may have (results and baselines nest under 10 levels)."""
_OBJECTS_PER_BYTE = 2
_OBJECTS_FLOOR = 10_000


def _children(obj: Any) -> Any:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return list(vars(obj).values())
    if isinstance(obj, BaseModel):
        return [*vars(obj).values(), *(obj.__pydantic_extra__ or {}).values()]
    return ()


_LEAVES = (int, float, complex, str, bytes, bool, type(None), np.ndarray, np.generic)


def check_expansion(obj: Any, size: int, source: Path | str, *, what: str = "file") -> None:
    """Raise :class:`ArtifactError` naming ``source`` when ``obj`` walked as a tree is too big.

    Every reference counts (aliases included), so the bound holds for anything that later
    walks the object as a tree; arrays count as one object. The limit is
    ``2 * size + 10_000`` objects and :data:`MAX_DEPTH` levels of nesting.
    """
    budget = _OBJECTS_PER_BYTE * size + _OBJECTS_FLOOR
    stack, count = [(obj, 0)], 1
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ArtifactError(
                f"{source}: the {what} nests deeper than {MAX_DEPTH} levels (corrupt or crafted)"
            )
        children = _children(value)
        # Children count when found, before any is pushed: the stack never holds more than the
        # budget (a list holding itself 500 000 times once grew it by that much per level).
        count += len(children)
        if count > budget:
            raise ArtifactError(
                f"{source}: the {what} expands to more than {budget:,} objects ({size:,} bytes on disk); "
                "it repeats references to build a huge structure (corrupt or crafted)"
            )
        if children and not all(isinstance(child, _LEAVES) for child in children):
            stack.extend((child, depth + 1) for child in children)


def _ml_dtype_types() -> tuple[type, ...]:
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - installed with JAX
        return ()
    names = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3b11fnuz", "int4", "uint4")
    return tuple(getattr(ml_dtypes, name) for name in names if hasattr(ml_dtypes, name))


ML_DTYPES = _ml_dtype_types()
"""The ml_dtypes scalar types (bfloat16, float8, int4) saved arrays may hold."""


def is_plain_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a number or bool dtype (NumPy's or ml_dtypes'): no objects, no fields."""
    if not isinstance(dtype, np.dtype):
        return False
    plain = dtype.kind in "biufc" or dtype.type in ML_DTYPES
    return (
        plain
        and not dtype.hasobject
        and dtype.fields is None
        and dtype.subdtype is None
        and dtype.itemsize > 0
    )


def non_plain_arrays(tree: Any) -> list[str]:
    """The dtypes of the arrays in a loaded tree of dicts and lists that are not plain."""
    found, stack = [], [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, np.ndarray | np.generic) and not is_plain_dtype(value.dtype):
            found.append(value.dtype.str)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return found
