"""The environment container: static config, dynamic params and pure functions.

An environment module implements the physics and the task once, as two pure functions on a
single (unbatched) environment:

- ``reset_env(key, params, config) -> (obs, state)``
- ``step_env(key, state, action, params, config) -> (obs, state, reward, terminated, info)``

``config`` is a hashable static struct (passed as a static argument to ``jax.jit``; changing it
recompiles) with at least ``max_steps``; ``params`` is a pytree of dynamic parameters (may be
empty). ``state`` is a pytree with an int32 ``time`` field (steps taken in the episode).

:class:`Environment` adds the one shared auto-resetting ``step`` on top: ``done`` is
``terminated | truncated`` (``time >= max_steps``), and a done environment comes back already
reset (its returned ``obs`` is the first observation of the next episode). An environment may
describe its control loop in observation terms (:class:`~myriad_bench.core.control.ControlHints`),
from which classical controllers take working defaults. The batched form is
in :mod:`myriad_bench.envs.vector`; :func:`apply_overrides` is the ``make_env(name, **overrides)``
helper that environment factories share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from myriad_bench.core.control import ControlHints
from myriad_bench.core.params import check_fields, field_defaults, unknown_names
from myriad_bench.core.spaces import Box, Space

__all__ = ["Environment", "apply_overrides", "auto_reset_step", "auto_reset_step_with_keys"]

ResetFn = Callable[[jax.Array, Any, Any], tuple[jax.Array, Any]]
StepFn = Callable[[jax.Array, Any, jax.Array, Any, Any], tuple[jax.Array, Any, jax.Array, jax.Array, dict]]


def auto_reset_step(
    step_env: StepFn,
    reset_env: ResetFn,
    key: jax.Array,
    state: Any,
    action: jax.Array,
    params: Any,
    config: Any,
) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
    """One step of a single environment with truncation at ``config.max_steps`` and auto-reset.

    Returns ``(obs, state, reward, done, info)``; ``info`` holds ``terminated`` and
    ``truncated`` (bool scalars) next to the task's own entries.
    """
    step_key, reset_key = jax.random.split(key)
    return auto_reset_step_with_keys(step_env, reset_env, step_key, reset_key, state, action, params, config)


def auto_reset_step_with_keys(
    step_env: StepFn,
    reset_env: ResetFn,
    step_key: jax.Array,
    reset_key: jax.Array,
    state: Any,
    action: jax.Array,
    params: Any,
    config: Any,
) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
    """:func:`auto_reset_step` with the keys of the step and of the reset given separately."""
    obs, next_state, reward, terminated, info = step_env(step_key, state, action, params, config)
    terminated = jnp.asarray(terminated, jnp.bool_)
    truncated = jnp.logical_and(next_state.time >= config.max_steps, jnp.logical_not(terminated))
    done = jnp.logical_or(terminated, truncated)
    # Computed for every env and selected: under vmap a branch would run both sides anyway. The
    # barrier keeps XLA from fusing the reset into every consumer of the selected state, which
    # would recompute its random draws once per output array (measured: 1.6x slower CartPole).
    reset_obs, reset_state = jax.lax.optimization_barrier(reset_env(reset_key, params, config))
    next_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, next_state)
    obs = jnp.where(done, reset_obs, obs)
    info = {**info, "terminated": terminated, "truncated": truncated}
    return obs, next_state, jnp.asarray(reward, jnp.float32), done, info


class Environment(NamedTuple):
    """A JAX environment: its name, static ``config``, dynamic ``params`` and pure functions.

    ``reset``/``step`` act on one environment; ``jax.vmap`` them for a batch.
    """

    name: str
    config: Any
    params: Any
    observation_space: Box
    action_space: Space
    reset_env: ResetFn
    step_env: StepFn
    control: ControlHints | None = None
    """Which observation component a classical controller should regulate, and how (``None``:
    the environment does not say)."""

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """``(obs, state)`` of a fresh episode."""
        return self.reset_env(key, self.params if params is None else params, self.config)

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        """Auto-resetting step: ``(obs, state, reward, done, info)``, see :func:`auto_reset_step`."""
        params = self.params if params is None else params
        return auto_reset_step(self.step_env, self.reset_env, key, state, action, params, self.config)

    @property
    def max_steps(self) -> int:
        return int(self.config.max_steps)


def apply_overrides(env_name: str, config: Any, params: Any, overrides: dict[str, Any]) -> tuple[Any, Any]:
    """``(config, params)`` with each override validated and applied to the dataclass that has it.

    ``config`` and ``params`` are dataclasses (frozen dataclasses or flax structs) with disjoint
    field names, annotated with :mod:`myriad_bench.core.params` types (bare ``float``/``int``/
    ``bool`` must be finite numbers, integers, booleans). Raises ``ValueError`` naming the
    environment, the field and the value for an unknown field (with the closest names) or a
    value of the wrong type.
    """
    config_fields, params_fields = field_defaults(type(config)), field_defaults(type(params))
    unknown = sorted(set(overrides) - set(config_fields) - set(params_fields))
    if unknown:
        raise ValueError(
            f"environment {env_name!r} has no field "
            f"{unknown_names(unknown, sorted({*config_fields, *params_fields}))}; "
            f"config fields: {', '.join(sorted(config_fields))}; "
            f"params fields: {', '.join(sorted(params_fields))}"
        )
    owner = f"environment {env_name!r}"

    def updated(target: Any, fields: dict[str, Any]) -> Any:
        given = {name: value for name, value in overrides.items() if name in fields}
        if not given:
            return target
        current = {name: getattr(target, name) for name in fields}
        values = check_fields(owner, "field", type(target), {**current, **given})
        return dataclasses.replace(target, **{name: values[name] for name in given})

    return updated(config, config_fields), updated(params, params_fields)
