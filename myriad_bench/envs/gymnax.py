"""``gymnax:<id>``: any gymnax environment as an :class:`~myriad_bench.envs.environment.Environment`.

>>> env = make_env("gymnax:CartPole-v1", max_steps_in_episode=200, gravity=9.0)  # doctest: +SKIP
>>> env.config, env.action_space                                                  # doctest: +SKIP
(GymnaxConfig(env_id='CartPole-v1', max_steps=200), Discrete(n=2))

gymnax is an optional extra (``pip install 'myriad-bench[gymnax]'``): this module imports it only
when a gymnax environment is built, and says how to install it when it is missing.

The adapter's ``reset_env(key, params, config)`` and ``step_env(key, state, action, params,
config)`` call gymnax's own ``reset_env(key, params)`` / ``step_env(key, state, action, params)``
(the steps that do not reset); the :class:`Environment` adds the one auto-resetting step, as for
the built-in environments. ``params`` is gymnax's ``EnvParams``, a dynamic argument of the
compiled programs: overrides (``make_env("gymnax:<id>", **overrides)``) set its number and flag
fields, validated like :func:`~myriad_bench.envs.environment.apply_overrides` (unknown names with
the closest ones, floats finite numbers, ints integers, flags booleans); fields that hold arrays
are not overridable, and a field is set as given (gymnax's derived fields, such as CartPole's
``total_mass``, are not recomputed from the ones they derive from). ``config`` is
:class:`GymnaxConfig`: the id and ``max_steps``, which is ``params.max_steps_in_episode``
(override either name; ``max_steps`` is this package's name for it).

- Spaces: gymnax ``Discrete(n)`` actions become :class:`~myriad_bench.core.spaces.Discrete`,
  ``Box`` spaces :class:`~myriad_bench.core.spaces.Box` with the same shape and bounds as
  (nested) tuples of floats, computed from the overridden params. A ``Discrete`` observation
  (FrozenLake's cell index) becomes a float32 ``Box(0, n - 1, shape=())``; ``Dict`` and
  ``Tuple`` spaces are refused. Observations are float32 whatever gymnax returns (MinAtar's
  bool grids, bsuite's int32 boards); shapes are gymnax's (the built-in agents' MLPs expect a
  vector, so multi-dimensional observations suit the ``random`` agent or an agent of one's own).
- State: gymnax's ``EnvState`` itself, every leaf strongly typed and kept at the dtype the reset
  gave it (some gymnax steps turn an int ``time`` into a float), so that it can be the carry of
  a ``lax.scan``. ``time`` is int32, except in the gymnax environments that count it in floats
  (MetaMaze, PointRobot, Reacher, the Bernoulli and Gaussian bandits), where it stays float32.

Termination and truncation. gymnax >= 1.0 keeps them apart: its ``step_env`` returns in ``done``
the natural termination only (``is_terminated``: the pole fell, the goal was reached), and its
auto-resetting ``step`` adds truncation at ``state.time >= params.max_steps_in_episode``. gymnax
0.0.x, and gymnax-style environments that do not implement ``is_terminated``, fold that time
limit into ``done``. The adapter maps:

- ``terminated`` = gymnax's ``done`` when the environment's class implements ``is_terminated``
  (every built-in of gymnax >= 1.0); otherwise ``done`` and ``time < max_steps_in_episode``, i.e.
  a ``done`` at the time limit is read as a truncation. What that reading gets wrong is only a
  natural termination on exactly the last step, which is then bootstrapped.
- ``truncated`` = ``time >= config.max_steps`` and not terminated (the Environment's step),
  which is gymnax's ``is_truncated`` since ``config.max_steps == params.max_steps_in_episode``.

The agents bootstrap from the next observation's value unless a step ``terminated``: an episode
cut by the time limit bootstraps (Gymnasium's ``TimeLimit`` semantics), one that ended naturally
does not. Code that feeds gymnax's own ``done = terminated | truncated`` to its returns as terminal
(PureJaxRL's PPO) does not bootstrap at the limit, so its learning can differ on time-limited
tasks (CartPole at 500 steps, Pendulum's every episode) even with the same environment.

Compiled programs: the functions of an id are built once per process and shared by every set of
overrides, and the registry returns the same :class:`Environment` for equal overrides, so a second
``evaluate`` or ``train_and_evaluate`` reuses the program (and other values of physics constants
do too; another ``max_steps`` or an override that changes a space compiles anew).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from myriad_bench.core.params import Count, PositiveFloat, check_fields, field_defaults, unknown_names
from myriad_bench.core.spaces import Box, Discrete, Space
from myriad_bench.envs.environment import Environment, ResetFn, StepFn

__all__ = ["INSTALL_HINT", "GymnaxConfig", "from_gymnax", "gymnax_factory", "gymnax_ids", "make_gymnax_env"]

PREFIX = "gymnax:"
INSTALL_HINT = "pip install 'myriad-bench[gymnax]'"
_MAX_STEPS = "max_steps_in_episode"


@dataclass(frozen=True)
class GymnaxConfig:
    """Static settings of a gymnax environment: its id and the episode limit (truncation)."""

    env_id: str
    max_steps: int


class _Adapter(NamedTuple):
    """The adapted pure functions of one gymnax environment object."""

    reset_env: ResetFn
    step_env: StepFn


def _gymnax() -> Any:
    """The gymnax module; ``ModuleNotFoundError`` naming the extra to install when it cannot be imported."""
    try:
        import gymnax
    except ImportError as error:
        raise ModuleNotFoundError(
            f"gymnax environments need the gymnax package, which could not be imported ({error}); "
            f"install the extra: {INSTALL_HINT}",
            name="gymnax",
        ) from error
    return gymnax


def gymnax_ids() -> list[str]:
    """The ids gymnax can make (its built-ins and those registered with ``gymnax.register``)."""
    return list(_gymnax().registered_envs)


def gymnax_factory(env_id: str) -> Callable[..., Environment]:
    """The factory ``make_env("gymnax:<env_id>", **overrides)`` calls (the registry's namespace resolver).

    Raises ``ValueError`` for an id gymnax does not know, with the closest ids, and
    ``ModuleNotFoundError`` naming the extra when gymnax is not installed.
    """
    ids = gymnax_ids()
    if env_id not in ids:
        close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"unknown gymnax environment {env_id!r}{hint}; gymnax ids: {', '.join(ids)}")
    return functools.partial(make_gymnax_env, env_id)


_GYMNAX_ENVS: dict[str, tuple[Any, Any]] = {}  # id -> (gymnax object, default params): one per process
# Functions by gymnax object (identity): kept for the process, as compiled programs keyed on them are.
_ADAPTERS: dict[Any, _Adapter] = {}
_LOCK = threading.Lock()


def make_gymnax_env(env_id: str, **overrides: Any) -> Environment:
    """The gymnax environment ``env_id`` with ``overrides`` of its params (see the module docstring).

    One gymnax object, so one pair of functions, per ``env_id`` in the process; prefer
    ``make_env("gymnax:<id>")``, which also returns the same object for equal overrides.
    """
    with _LOCK:
        if env_id not in _GYMNAX_ENVS:
            _GYMNAX_ENVS[env_id] = _gymnax().make(env_id)
        env, params = _GYMNAX_ENVS[env_id]
    return _environment(PREFIX + env_id, env_id, env, params, overrides)


def from_gymnax(env: Any, params: Any = None, *, name: str | None = None, **overrides: Any) -> Environment:
    """Adapt a gymnax environment object (one's own, or a configured one) with ``overrides`` of ``params``.

    ``params`` defaults to ``env.default_params``; ``name`` to ``"gymnax:<env.name>"``. The
    functions are made once per object, so adapting the same object again (other overrides or
    params) reuses compiled programs. To use it by name, ``register_env(name, lambda **overrides:
    from_gymnax(env, name=name, **overrides))``.
    """
    env_id = str(env.name)
    params = env.default_params if params is None else params
    return _environment(name or PREFIX + env_id, env_id, env, params, overrides)


def _environment(
    name: str, env_id: str, env: Any, default_params: Any, overrides: Mapping[str, Any]
) -> Environment:
    if not hasattr(default_params, _MAX_STEPS):
        raise ValueError(f"environment {name!r}: its gymnax params have no {_MAX_STEPS} field")
    params = _override(name, default_params, overrides)
    adapter = _adapter(env)
    return Environment(
        name=name,
        config=GymnaxConfig(env_id=env_id, max_steps=int(getattr(params, _MAX_STEPS))),
        params=params,
        observation_space=_space(name, "observation", env.observation_space(params)),
        action_space=_space(name, "action", env.action_space(params)),
        reset_env=adapter.reset_env,
        step_env=adapter.step_env,
    )


def _adapter(env: Any) -> _Adapter:
    """The functions of ``env``, made on its first use (an unhashable object's: on every call)."""
    with _LOCK:
        try:
            adapter = _ADAPTERS.get(env)
        except TypeError:
            return _adapt(env)
        if adapter is None:
            adapter = _ADAPTERS[env] = _adapt(env)
        return adapter


def _adapt(env: Any) -> _Adapter:
    """Our pure ``reset_env``/``step_env`` around ``env``'s (non-resetting) ones."""
    done_is_terminated = _states_termination_apart(env)

    def reset_env(key: jax.Array, params: Any, config: GymnaxConfig) -> tuple[jax.Array, Any]:
        obs, state = env.reset_env(key, params)
        return _observation(obs), jax.tree.map(_strongly_typed, state)

    def step_env(
        key: jax.Array, state: Any, action: jax.Array, params: Any, config: GymnaxConfig
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        obs, next_state, reward, done, info = env.step_env(key, state, action, params)
        # A step may widen a leaf's dtype (an int time + 1.0); the scan carry must keep the reset's.
        next_state = jax.tree.map(lambda new, old: jnp.asarray(new, jnp.result_type(old)), next_state, state)
        terminated = jnp.reshape(jnp.asarray(done, jnp.bool_), ())
        if not done_is_terminated:
            terminated = terminated & (next_state.time < getattr(params, _MAX_STEPS))
        return (
            _observation(obs),
            next_state,
            jnp.reshape(jnp.asarray(reward, jnp.float32), ()),
            terminated,
            dict(info),
        )

    return _Adapter(reset_env, step_env)


def _states_termination_apart(env: Any) -> bool:
    """Whether ``env``'s ``done`` is its natural termination only (it implements ``is_terminated``)."""
    base = getattr(_gymnax().environments.environment.Environment, "is_terminated", None)
    own = getattr(type(env), "is_terminated", None)
    return own is not None and own is not base


def _observation(obs: Any) -> jax.Array:
    return jnp.asarray(obs, jnp.float32)


def _strongly_typed(leaf: Any) -> jax.Array:
    # Python scalars in a fresh state would trace weakly typed, the stepped ones strongly.
    return jnp.asarray(leaf, jnp.result_type(leaf))


def _space(name: str, what: str, space: Any) -> Space:
    """Our space for a gymnax ``Discrete`` or ``Box`` (see the module docstring)."""
    spaces = _gymnax().environments.spaces
    if isinstance(space, spaces.Discrete):
        if what == "observation":
            return Box(low=0.0, high=float(space.n - 1), shape=())
        return Discrete(int(space.n))
    if isinstance(space, spaces.Box):
        shape = (int(space.shape),) if np.ndim(space.shape) == 0 else tuple(int(d) for d in space.shape)
        return Box(low=_bound(space.low, shape), high=_bound(space.high, shape), shape=shape)
    raise ValueError(
        f"environment {name!r}: its {what} space is a gymnax {type(space).__name__} "
        f"({space!r}); the adapter maps Discrete and Box spaces"
    )


def _bound(value: Any, shape: tuple[int, ...]) -> float | tuple:
    """A scalar bound as a float, an array bound as nested tuples of floats (hashable)."""
    array = np.asarray(value, np.float64)
    if array.ndim == 0:
        return float(array)

    def nested(x: Any) -> Any:
        return tuple(nested(item) for item in x) if isinstance(x, list) else float(x)

    return nested(np.broadcast_to(array, shape).tolist())


# ------------------------------------------------------------------ overrides of EnvParams


def _override(name: str, params: Any, overrides: Mapping[str, Any]) -> Any:
    """``params`` with ``overrides`` validated and applied; ``max_steps`` is ``max_steps_in_episode``."""
    fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    known = sorted({*fields, "max_steps"})
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(
            f"environment {name!r} has no field {unknown_names(unknown, known)}; its params fields: "
            f"{', '.join(sorted(fields))} (max_steps is max_steps_in_episode)"
        )
    given = dict(overrides)
    if "max_steps" in given:
        steps = given.pop("max_steps")
        if _MAX_STEPS in given and given[_MAX_STEPS] != steps:
            raise ValueError(
                f"environment {name!r}: max_steps={steps!r} and {_MAX_STEPS}={given[_MAX_STEPS]!r} "
                "name the same setting; give one"
            )
        given[_MAX_STEPS] = steps
    schema = _schema(type(params).__name__, _kinds(params))
    scalars = field_defaults(schema)
    fixed = sorted(set(given) - set(scalars))
    if fixed:
        described = ", ".join(f"{field} ({type(fields[field]).__name__})" for field in fixed)
        raise ValueError(
            f"environment {name!r}: field {described} cannot be overridden; "
            f"overridable: {', '.join(sorted(scalars))}"
        )
    current = {field: np.asarray(fields[field]).item() for field in scalars}
    owner = f"environment {name!r}"
    try:
        values = check_fields(owner, "field", schema, {**current, **given})
    except ValueError as error:
        if "max_steps" not in overrides:
            raise
        raise ValueError(
            str(error).replace(f"field {_MAX_STEPS} ", f"field {_MAX_STEPS} (max_steps) ")
        ) from None
    if not float(values[_MAX_STEPS]).is_integer():
        raise ValueError(
            f"{owner}: field {_MAX_STEPS} must be a whole number of steps, got {values[_MAX_STEPS]!r}"
        )
    return params.replace(**{field: values[field] for field in given})


def _kinds(params: Any) -> tuple[tuple[str, type], ...]:
    """``(field, float | int | bool)`` for each field of ``params`` that holds one number or flag."""
    try:
        hints = typing.get_type_hints(type(params))
    except Exception:  # annotations naming types gymnax does not import: fall back on the values
        hints = {}
    kinds = []
    for field in dataclasses.fields(params):
        hint, value = hints.get(field.name), getattr(params, field.name)
        if hint in (bool, int, float):
            kinds.append((field.name, hint))
        elif np.ndim(value) == 0 and np.asarray(value).dtype.kind in "bif":
            kinds.append((field.name, {"b": bool, "i": int, "f": float}[np.asarray(value).dtype.kind]))
    return tuple(kinds)


@functools.cache
def _schema(class_name: str, kinds: tuple[tuple[str, type], ...]) -> type:
    """A dataclass of the overridable fields, typed for :func:`check_fields` (one class per layout)."""
    steps_type = {int: Count, float: PositiveFloat}
    fields = [
        (name, steps_type.get(kind, kind) if name == _MAX_STEPS else kind, dataclasses.field(default=None))
        for name, kind in kinds
    ]
    return dataclasses.make_dataclass(f"{class_name}Overrides", fields, frozen=True)
