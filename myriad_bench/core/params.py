"""Validated dataclass fields: the constrained types and the one checker agents and envs share.

A parameter class (a flax struct or frozen dataclass) declares each setting as a field with a
default, annotated with one of the constrained types below (``learning_rate: PositiveFloat =
5e-4``); bare ``float``, ``int`` and ``bool`` annotations get :data:`FiniteFloat`,
:data:`Integer` and :data:`Flag`. :func:`check_fields` builds a pydantic model from those
annotations once per class and validates what a user gives against it: numbers and counts are
coerced the way a YAML file or a command line writes them (``"3e-4"``, ``2.0`` for an int, a
list for a tuple), booleans are never numbers and numbers never booleans, and the values come
back as plain Python ``float``/``int``/``bool``/``str``/``tuple`` whatever NumPy or string type
came in, so equal settings give equal structs (and the same compiled program).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

__all__ = [
    "Count",
    "FiniteFloat",
    "Flag",
    "HiddenSizes",
    "Integer",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveFraction",
    "PositiveOrInf",
    "Probability",
    "check_fields",
    "field_defaults",
    "unknown_names",
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
Integer = _integer("an integer")
Count = _integer("an integer >= 1", ge=1)
NonNegativeInt = _integer("an integer >= 0", ge=0)
Flag = Annotated[bool, BeforeValidator(_plain_bool), Field(strict=True, description="true or false")]
HiddenSizes = Annotated[
    tuple[Annotated[int, BeforeValidator(_not_bool), Field(ge=1)], ...],
    BeforeValidator(_list_or_tuple),
    Field(min_length=1, description="a non-empty list of positive integers"),
]
_PLAIN = {float: FiniteFloat, int: Integer, bool: Flag}


def unknown_names(unknown: list[str], known: list[str]) -> str:
    """``'x' (did you mean 'y'?), 'z'``: each unknown name with its closest known one."""

    def named(name: str) -> str:
        close = difflib.get_close_matches(name, known, n=1)
        return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)

    return ", ".join(map(named, unknown))


def field_defaults(cls: type) -> dict[str, Any]:
    """The fields of a dataclass that have defaults, with those defaults."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


@functools.cache
def _model(cls: type) -> type[BaseModel]:
    """The pydantic model of the fields of ``cls`` that have defaults."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return create_model(
        f"{cls.__name__}Fields",
        __config__=ConfigDict(extra="forbid"),
        **{name: (_PLAIN.get(hints[name], hints[name]), ...) for name in field_defaults(cls)},
    )


def check_fields(owner: str, noun: str, cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (one per field of ``cls`` with a default) validated and coerced.

    Raises ``ValueError`` starting with ``owner`` (``"agent 'dqn'"``) with one line per bad
    field: ``<noun> <name> must be <what>, got <value>``.
    """
    model = _model(cls)
    try:
        return dict(model.model_validate(dict(values)))
    except ValidationError as error:
        problems: dict[str, str] = {}
        for detail in error.errors():
            name = str(detail["loc"][0]) if detail["loc"] else ""
            if name in problems:
                continue  # one line per field, even when several of its checks failed
            field = model.model_fields.get(name)
            got = values.get(name, "(missing)")
            if field is not None and field.description:
                problems[name] = f"{noun} {name} must be {field.description}, got {got!r}"
            else:
                problems[name] = f"{noun} {name}: {detail['msg']}"
        raise ValueError(f"{owner}: " + "; ".join(problems.values())) from None
