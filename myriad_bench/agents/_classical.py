"""Shared checks of the classical (non-learning) agents: hyperparameter names and values."""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from myriad_bench.core.spaces import Box

__all__ = [
    "check_finite_box",
    "check_obs_index",
    "field_defaults",
    "finite_float",
    "hyperparameters",
    "non_negative_int",
    "positive_float",
]


def hyperparameters(agent: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown name raises ``ValueError`` listing the known ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"agent {agent!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            + (f"it takes: {', '.join(defaults)}" if defaults else "it takes none")
        )
    return {**defaults, **given}


def field_defaults(cls: type, skip: tuple[str, ...] = ("action_space",)) -> dict[str, Any]:
    """The default values of a (flax struct) dataclass's fields, minus ``skip``."""
    return {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.name not in skip and f.default is not dataclasses.MISSING
    }


def finite_float(agent: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"agent {agent!r}: hyperparameter {name} must be a finite number, got {value!r}")
    return number


def positive_float(agent: str, name: str, value: Any, *, allow_inf: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number > 0 or (math.isinf(number) and not allow_inf):
        kind = "a positive number" + (" (inf allowed)" if allow_inf else "")
        raise ValueError(f"agent {agent!r}: hyperparameter {name} must be {kind}, got {value!r}")
    return number


def non_negative_int(agent: str, name: str, value: Any) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = -1
    if isinstance(value, bool) or number < 0:
        raise ValueError(f"agent {agent!r}: hyperparameter {name} must be an integer >= 0, got {value!r}")
    return number


def check_obs_index(agent: str, obs_index: int, obs_shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``obs_index`` selects a component of flat observations of ``obs_shape``."""
    if len(obs_shape) != 1 or obs_index >= obs_shape[0]:
        raise ValueError(
            f"agent {agent!r}: obs_index={obs_index} does not select a component of observations of "
            f"shape {obs_shape}; choose an index below {obs_shape[-1] if obs_shape else 0}"
        )


def check_finite_box(agent: str, space: Box, why: str) -> None:
    """Raise ``ValueError`` if a bound of ``space`` is infinite; ``why`` says what needs them."""
    if not (np.all(np.isfinite(np.asarray(space.low))) and np.all(np.isfinite(np.asarray(space.high)))):
        raise ValueError(
            f"agent {agent!r} {why}, so the action bounds must be finite; "
            f"got low={space.low}, high={space.high}"
        )
