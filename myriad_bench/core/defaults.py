"""Explicit defaults told apart from chosen values: what a config's digest leaves out.

A setting given at the value its factory uses without it builds the same thing; the digest and a
baseline's config diff must read it as absent. Generic over what is built (an agent, an env):
the caller passes ``build``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["holds", "same_tree", "without_defaults"]


def without_defaults(params: dict[str, Any], build: Any) -> dict[str, Any]:
    """``params`` less each explicit default.

    ``build(params)`` returns ``(structs, compared)``: a key is an explicit default when one of
    ``structs`` (the hyperparameter struct an agent or env keeps) holds the given value under that
    name and ``compared`` is the same without the key. The field must hold it: a factory that
    keeps a setting in a closure, or ignores it, would otherwise lose it from the digest. Keys are tried
    one at a time in sorted order against those kept so far, so the result is deterministic and
    builds what ``params`` builds; ``params`` come back whole when they do not build.
    """
    try:
        structs, reference = build(params)
    except Exception:  # a factory of the user's may raise anything; the digest must still exist
        return params
    kept = dict(params)
    for key in sorted(params):
        if not any(holds(struct, key, params[key]) for struct in structs):
            continue
        trial = {name: value for name, value in kept.items() if name != key}
        try:
            same = same_tree(build(trial)[1], reference)
        except Exception:  # a required setting: it stays
            same = False
        if same:
            kept = trial
    return kept


def holds(struct: Any, key: str, value: Any) -> bool:
    """Whether ``struct`` has a field ``key`` equal to ``value`` (lists and tuples alike)."""
    import numpy as np

    if not hasattr(struct, key):
        return False
    try:
        held, given = np.asarray(getattr(struct, key)), np.asarray(value)
        return held.shape == given.shape and bool(np.array_equal(held, given))
    except (TypeError, ValueError):  # values NumPy cannot hold side by side are not the same
        return False


def same_tree(a: Any, b: Any) -> bool:
    """Whether two pytrees (hyperparameter structs, env params) have one structure and equal leaves."""
    import jax
    import numpy as np

    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    if tree_a != tree_b:
        return False
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or not np.array_equal(x, y):
            return False
    return True
