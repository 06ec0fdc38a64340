"""One validator for every agent's hyperparameters, built with pydantic from the params class.

An agent's params class (a flax struct dataclass) declares each hyperparameter as a field with
a default, annotated with one of the constrained types below (``learning_rate: PositiveFloat =
5e-4``). :func:`check_hyperparameters` builds a pydantic model from those annotations once per
class and validates the values a user gives against it: numbers and counts are coerced the way
a YAML file or a command line writes them (``"3e-4"``, ``2.0`` for an int, a list for a tuple),
booleans are never numbers and numbers never booleans. The values come back as plain Python
``float``/``int``/``bool``/``str``/``tuple``, whatever NumPy or string type came in, so a config
gives the same params struct — and the same compiled program — however it was written.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from myriad_bench.agents.networks import ACTIVATIONS

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


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1; a flag given where a number belongs is a mistake.
    if isinstance(value, bool | np.bool_):
        raise ValueError("a boolean is not a number")
    return value


def _plain_bool(value: Any) -> Any:
    return bool(value) if isinstance(value, np.bool_) else value


def _list_or_tuple(value: Any) -> Any:
    # pydantic would also take a set (unordered) or a string's characters.
    if not isinstance(value, list | tuple):
        raise ValueError("not a list")
    return value


def _number(description: str, **bounds: Any) -> Any:
    return Annotated[
        float, BeforeValidator(_not_bool), Field(allow_inf_nan=False, description=description, **bounds)
    ]


def _integer(description: str, **bounds: Any) -> Any:
    return Annotated[int, BeforeValidator(_not_bool), Field(description=description, **bounds)]


FiniteFloat = _number("a finite number")
PositiveFloat = _number("a positive number", gt=0)
Probability = _number("a number in [0, 1]", ge=0, le=1)
PositiveFraction = _number("a number in (0, 1]", gt=0, le=1)
PositiveOrInf = Annotated[
    float, BeforeValidator(_not_bool), Field(gt=0, description="a positive number (inf allowed)")
]
Count = _integer("an integer >= 1", ge=1)
NonNegativeInt = _integer("an integer >= 0", ge=0)
Flag = Annotated[bool, BeforeValidator(_plain_bool), Field(strict=True, description="true or false")]
HiddenSizes = Annotated[
    tuple[Annotated[int, BeforeValidator(_not_bool), Field(ge=1)], ...],
    BeforeValidator(_list_or_tuple),
    Field(min_length=1, description="a non-empty list of positive integers"),
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
    model, class_defaults = _model(params_cls)
    unknown = sorted(set(given) - set(class_defaults))
    if unknown:
        raise ValueError(_unknown_message(agent, unknown, list(class_defaults)))
    values = {**class_defaults, **(defaults or {}), **given}
    try:
        return dict(model.model_validate(values))
    except ValidationError as error:
        raise ValueError(_invalid_message(agent, model, values, error)) from None


@functools.cache
def _model(params_cls: type) -> tuple[type[BaseModel], dict[str, Any]]:
    """The pydantic model of the hyperparameters of ``params_cls`` and their defaults."""
    hints = typing.get_type_hints(params_cls, include_extras=True)
    defaults = {
        field.name: field.default
        for field in dataclasses.fields(params_cls)
        if field.default is not dataclasses.MISSING
    }
    model = create_model(
        f"{params_cls.__name__}Hyperparameters",
        __config__=ConfigDict(extra="forbid"),
        **{name: (hints[name], ...) for name in defaults},
    )
    return model, defaults


def _unknown_message(agent: str, unknown: list[str], known: list[str]) -> str:
    def named(name: str) -> str:
        close = difflib.get_close_matches(name, known, n=1)
        return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)

    takes = f"it takes: {', '.join(known)}" if known else "it takes none"
    return f"agent {agent!r} has no hyperparameter {', '.join(map(named, unknown))}; {takes}"


def _invalid_message(
    agent: str, model: type[BaseModel], values: dict[str, Any], error: ValidationError
) -> str:
    problems: dict[str, str] = {}
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else ""
        if name in problems:
            continue  # one line per hyperparameter, even when several of its checks failed
        field = model.model_fields.get(name)
        if field is not None and field.description:
            problems[name] = f"hyperparameter {name} must be {field.description}, got {values[name]!r}"
        else:
            problems[name] = f"hyperparameter {name}: {detail['msg']}"
    return f"agent {agent!r}: " + "; ".join(problems.values())
