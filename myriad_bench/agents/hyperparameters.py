"""Hyperparameters of the agents: validated with :func:`myriad_bench.core.params.check_fields`.

Each agent's params class annotates its hyperparameters with the constrained types of
:mod:`myriad_bench.core.params` (re-exported here with the agents' own :data:`Activation`), and
:func:`check_hyperparameters` checks what a user gives against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from myriad_bench.agents.networks import ACTIVATIONS
from myriad_bench.core.params import (
    Count,
    FiniteFloat,
    Flag,
    HiddenSizes,
    NonNegativeInt,
    PositiveFloat,
    PositiveFraction,
    PositiveOrInf,
    Probability,
    check_fields,
    field_defaults,
    unknown_names,
)

__all__ = [
    "Activation",
    "Count",
    "FiniteFloat",
    "Flag",
    "HiddenSizes",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveFraction",
    "PositiveOrInf",
    "Probability",
    "check_hyperparameters",
]

Activation = Annotated[
    Literal[tuple(ACTIVATIONS)],  # type: ignore[valid-type]
    Field(description=f"one of {', '.join(map(repr, sorted(ACTIVATIONS)))}"),
]


def check_hyperparameters(
    agent: str, params_cls: type, given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The hyperparameters of ``params_cls`` for agent ``agent``, validated and coerced.

    The fields of ``params_cls`` that have defaults are its hyperparameters. Their values are
    the class defaults, updated by ``defaults`` (an agent's own choice, e.g. from an
    environment's control hints), then by ``given`` (the user's, which always win). Raises
    ``ValueError`` for a name the class lacks (with the closest names) and for a value its
    annotation refuses, naming the agent, the hyperparameter, what it must be and the value.
    """
    class_defaults = field_defaults(params_cls)
    unknown = sorted(set(given) - set(class_defaults))
    if unknown:
        known = list(class_defaults)
        takes = f"it takes: {', '.join(known)}" if known else "it takes none"
        raise ValueError(f"agent {agent!r} has no hyperparameter {unknown_names(unknown, known)}; {takes}")
    values = {**class_defaults, **(defaults or {}), **given}
    return check_fields(f"agent {agent!r}", "hyperparameter", params_cls, values)
