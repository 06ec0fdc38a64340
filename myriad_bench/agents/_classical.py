"""Shared pieces of the classical (non-learning) agents: hyperparameters with control hints,
and checks of spaces and observation indices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from myriad_bench.agents.hyperparameters import check_hyperparameters
from myriad_bench.core.control import ControlHints
from myriad_bench.core.spaces import Box

__all__ = ["check_finite_box", "check_obs_index", "controller_hyperparameters"]

Hinted = Callable[[ControlHints, int | None], dict[str, Any]]


def controller_hyperparameters(
    agent: str,
    params_cls: type,
    given: Mapping[str, Any],
    control: ControlHints | None,
    hinted: Hinted,
) -> dict[str, Any]:
    """The validated hyperparameters of a controller: ``given`` first, then the environment's hints.

    ``hinted(control, obs_index)`` gives the defaults the hints imply for the component the
    user chose (``obs_index``, or ``None`` when they did not name one); the class defaults
    fill the rest, and fill everything when there are no hints.
    """
    values = check_hyperparameters(agent, params_cls, given)
    if control is None:
        return values
    chosen = values["obs_index"] if "obs_index" in given else None
    return check_hyperparameters(agent, params_cls, given, defaults=hinted(control, chosen))


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
