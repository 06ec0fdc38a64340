"""Hyperparameter sweeps: one compiled program trains every sweep point × every seed.

PureJaxRL's nested vmap: the training program (seeds ``vmap``-ed inside) is ``vmap``-ed once
more over the sweep points, so ``train_and_evaluate(config, sweep={"learning_rate": [1e-3,
3e-4]}, seeds=[0, 1, 2])`` compiles one program for six runs.

A sweep is a dict from a key, routed as :func:`~myriad_bench.configs.create_config` routes it
(a plain name or ``agent.<name>``: an agent hyperparameter; ``env.<name>``: an environment
setting), to the list of its values. The sweep points are the grid of all keys' values, in
``itertools.product`` order of the dict. Only settings that are *numbers in the params
pytrees* can be swept: each point's environment and agent must have the base config's static
key (functions, spaces, static fields such as ``hidden_sizes`` or ``num_epochs``) and the
same parameter leaf shapes and dtypes. A run setting (``num_envs``, ``steps_per_env``, ...)
or a static or shaped hyperparameter is refused, naming the key.

Leaves that differ between points are stacked along a leading sweep axis; the others are
passed once, unbatched (``in_axes=None``), so the program does only the work the swept values
need.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from myriad_bench.agents.agent import Agent
from myriad_bench.configs import Config, RunConfig
from myriad_bench.platform.programs import signature, static_key
from myriad_bench.platform.resolve import resolve

__all__ = ["Sweep", "as_arrays", "make_sweep", "sweep_program"]


def as_arrays(tree: Any) -> Any:
    """``tree`` with strongly typed array leaves: compiled inputs do not depend on Python scalar types."""
    return jax.tree.map(
        lambda x: jnp.asarray(np.asarray(x), jax.dtypes.canonicalize_dtype(np.asarray(x).dtype)), tree
    )


@dataclass(frozen=True)
class Sweep:
    """The points of a sweep and the program arguments that carry them.

    ``configs[i]`` is the config of point ``i`` (the base config with ``points[i]`` set), what a
    separate run of that point would be given. ``params`` is ``(env_params, agent_params)``
    with the swept leaves stacked ``(num_points, ...)``; ``axes`` the matching ``vmap``
    ``in_axes`` (0 for a swept leaf, ``None`` for a shared one).
    """

    keys: tuple[str, ...]
    points: tuple[dict[str, Any], ...]
    configs: tuple[Config, ...]
    params: tuple[Any, Any]
    axes: tuple[Any, Any]

    @property
    def num_points(self) -> int:
        return len(self.points)

    def program_key(self) -> tuple:
        """What the compiled program depends on besides the arguments' signature."""
        leaves, treedef = jax.tree.flatten(self.axes, is_leaf=lambda x: x is None)
        return ("sweep", self.num_points, treedef, tuple(leaves))


def _section(key: str) -> tuple[str, str]:
    """``(section, field)`` of a sweep key, routed as ``create_config`` routes keywords."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"sweep keys must be setting names, got {key!r}")
    section, dot, field = key.rpartition(".")
    if not dot:
        section, field = ("run" if key in RunConfig.model_fields else "agent"), key
    if section == "run":
        raise ValueError(
            f"sweep key {key!r} is a run setting: it sets the program's shapes or its static plan, "
            "so each value needs its own program; sweep agent hyperparameters (or env.<name> settings) "
            "that are numbers, and train each run setting with its own train_and_evaluate"
        )
    if section not in ("agent", "env") or not field or field == "name":
        raise ValueError(f"sweep key {key!r}: use a hyperparameter name, 'agent.<name>' or 'env.<name>'")
    return section, field


def _with(config: Config, assignments: Mapping[str, Any]) -> Config:
    """``config`` with each sweep key set to its value, validated like ``create_config``."""
    data = config.model_dump()
    for key, value in assignments.items():
        section, field = _section(key)
        data[section][field] = value.item() if isinstance(value, np.generic) else value
    return Config.model_validate(data)


def _program_identity(config: Config, agent: Agent | None) -> tuple[tuple, Any]:
    env, agent = resolve(config, agent)
    params = as_arrays((env.params, agent.params))
    return (static_key(env), static_key(agent), signature(params)), params


def make_sweep(config: Config, sweep: Mapping[str, Sequence[Any]], agent: Agent | None = None) -> Sweep:
    """The sweep of ``config`` over ``sweep`` (see the module docstring).

    Raises ``ValueError`` naming the key for an empty sweep or value list, a run setting, an
    agent hyperparameter swept while ``agent`` is given (its params are the agent's own), and a
    key whose values change the program (a static field, a shape or dtype).
    """
    if not isinstance(sweep, Mapping) or not sweep:
        raise ValueError(f"sweep must be a non-empty dict of setting name -> list of values, got {sweep!r}")
    keys = tuple(sweep)
    values: dict[str, list[Any]] = {}
    for key in keys:
        section, _ = _section(key)
        if section == "agent" and agent is not None:
            raise ValueError(
                f"sweep key {key!r} is a hyperparameter of the config's agent, but an agent object was "
                "given (its own params are trained): sweep its hyperparameters through the config instead"
            )
        given = sweep[key]
        if isinstance(given, str | bytes) or not isinstance(given, Sequence | np.ndarray) or len(given) == 0:
            raise ValueError(f"sweep key {key!r} needs a non-empty list of values, got {given!r}")
        values[key] = list(given)
    base_identity, _ = _program_identity(config, agent)
    # One key at a time first, so that a refusal names the key at fault.
    for key in keys:
        for value in values[key]:
            identity, _ = _program_identity(_with(config, {key: value}), agent)
            if identity != base_identity:
                raise ValueError(
                    f"sweep key {key!r} = {value!r} changes the compiled program (a static setting, or "
                    "a parameter's shape or dtype), so it cannot share one program with the other "
                    "points; sweep only hyperparameters that are numbers (learning rate, discount, "
                    "clip ranges, coefficients, schedule values, ...)"
                )
    points = tuple(dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values.values()))
    configs = tuple(_with(config, point) for point in points)
    params = [_program_identity(point_config, agent)[1] for point_config in configs]
    stacked, axes = _stack(params)
    return Sweep(keys, points, configs, stacked, axes)


def _stack(trees: list[Any]) -> tuple[Any, Any]:
    """Leaves equal in every tree are passed once (axis ``None``); others are stacked (axis 0)."""

    flat = [jax.tree.flatten(tree) for tree in trees]
    treedef = flat[0][1]
    stacked, axes = [], []
    for leaves in zip(*(leaves for leaves, _ in flat), strict=True):
        first = np.asarray(leaves[0])
        if all(np.array_equal(first, np.asarray(leaf)) for leaf in leaves[1:]):
            stacked.append(leaves[0])
            axes.append(None)
        else:
            stacked.append(jnp.stack(leaves))
            axes.append(0)
    return jax.tree.unflatten(treedef, stacked), jax.tree.unflatten(treedef, axes)


def sweep_program(program: Callable[..., Any], sweep: Sweep) -> Callable[..., Any]:
    """``program(keys, segment_chunks, env_params, agent_params)`` over every sweep point.

    The keys and step counts are shared (each point trains the same seeds); outputs get a
    leading sweep axis: states ``(P, S, ...)``, outputs ``(P, B, S, ...)``.
    """
    env_axes, agent_axes = sweep.axes
    return jax.vmap(program, in_axes=(None, None, env_axes, agent_axes), axis_size=sweep.num_points)
