"""Hypothesis strategies for configs, metrics, results and agent states, and a value equality.

Use them to property-test code that consumes or persists myriad-bench objects:

>>> from hypothesis import given
>>> from myriad_bench import strategies as mbst
>>> @given(mbst.training_results())
... def test_round_trip(results):
...     ...

Config strategies draw environment and agent names from the registries at draw time, so
register the names your tests need (``register_env`` / ``register_agent``) before drawing.

:func:`values_equal` / :func:`first_difference` compare the drawn objects after a round trip:
arrays by dtype, shape and value (NaN equals NaN), floats with NaN equal to NaN, dataclasses
and pydantic models field by field.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp
from pydantic import BaseModel, ValidationError

from myriad_bench.configs import (
    AgentConfig,
    Config,
    EnvConfig,
    EvalConfig,
    EvalRunConfig,
    RunConfig,
)
from myriad_bench.platform.types import (
    EvaluationMetrics,
    EvaluationResults,
    TrainingEnvState,
    TrainingMetrics,
    TrainingResults,
)

__all__ = [
    "agent_states",
    "configs",
    "eval_configs",
    "evaluation_metrics",
    "evaluation_results",
    "first_difference",
    "training_metrics",
    "training_results",
    "values_equal",
]

_FIELD_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_UTF8_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


# --------------------------------------------------------------------------- configs


def _registered_name(kind: str) -> st.SearchStrategy[str]:
    @st.composite
    def draw_name(draw: st.DrawFn) -> str:
        # Looked up at draw time: the registries fill as modules (and tests) register names.
        if kind == "env":
            from myriad_bench.envs.registry import env_names as names
        else:
            from myriad_bench.agents.registry import agent_names as names
        known = names()
        if not known:
            raise InvalidArgument(
                f"no {kind} is registered; register one (register_{kind}) before drawing configs"
            )
        return draw(st.sampled_from(known))

    return draw_name()


def _extra_values() -> st.SearchStrategy[Any]:
    # What a YAML config section can carry and give back unchanged.
    scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _FINITE | _UTF8_TEXT
    return scalars | st.lists(st.integers(-100, 100) | _FINITE, max_size=4)


def _extras(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = _FIELD_NAME.filter(lambda key: key != "name" and key not in reserved)
    return st.dictionaries(keys, _extra_values(), max_size=3)


def _optional_positive(high: int) -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(1, high)


def _eval_run_fields() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "seed": st.integers(0, 2**31 - 1),
        "eval_rollouts": st.integers(1, 64),
        "eval_max_steps": _optional_positive(1_000),
        "save_agent_checkpoint": st.booleans(),
    }


@st.composite
def configs(draw: st.DrawFn, *, env: str | None = None, agent: str | None = None) -> Config:
    """Valid training :class:`~myriad_bench.configs.Config` objects.

    ``env`` / ``agent`` fix the names; otherwise they are drawn from the registries. The
    agent and env sections get up to three extra fields of YAML-safe values when the agent and
    env accept them (a config is valid only if both build from it).
    """
    run = draw(
        st.fixed_dictionaries(
            {
                **_eval_run_fields(),
                "steps_per_env": st.integers(1, 100_000),
                "num_envs": st.integers(1, 256),
                "eval_frequency": st.integers(1, 10_000),
                "buffer_size": st.integers(1, 100_000),
                "batch_size": st.integers(1, 512),
                "rollout_steps": _optional_positive(512),
            }
        )
    )
    agent = agent or draw(_registered_name("agent"))
    env = env or draw(_registered_name("env"))
    return _valid(
        Config, RunConfig(**run), agent, env, draw(_extras(set(RunConfig.model_fields))), draw(_extras(set()))
    )


@st.composite
def eval_configs(draw: st.DrawFn, *, env: str | None = None, agent: str | None = None) -> EvalConfig:
    """Valid :class:`~myriad_bench.configs.EvalConfig` objects (see :func:`configs`)."""
    run = draw(st.fixed_dictionaries(_eval_run_fields()))
    agent = agent or draw(_registered_name("agent"))
    env = env or draw(_registered_name("env"))
    agent_extras, env_extras = draw(_extras(set(EvalRunConfig.model_fields))), draw(_extras(set()))
    return _valid(EvalConfig, EvalRunConfig(**run), agent, env, agent_extras, env_extras)


def _valid(cls: type[Any], run: Any, agent: str, env: str, agent_extras: dict, env_extras: dict) -> Any:
    """The config with the drawn extra fields if the agent and env accept them, else without.

    A config is valid only if its env and agent build from it; registered names that take any
    keyword (as test doubles do) keep the drawn fields, built-in ones get their defaults.
    """
    for agent_fields, env_fields in (
        (agent_extras, env_extras),
        (agent_extras, {}),
        ({}, env_extras),
        ({}, {}),
    ):
        try:
            return cls(
                run=run, agent=AgentConfig(name=agent, **agent_fields), env=EnvConfig(name=env, **env_fields)
            )
        except ValidationError:
            continue
    reject()  # this agent does not act in this env (e.g. a discrete-action agent on a Box space)


# --------------------------------------------------------------------------- metrics


def _floats(allow_nan: bool, width: int = 64) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=allow_nan, allow_infinity=allow_nan, width=width)


def _checkpoint_steps(num_checkpoints: int) -> st.SearchStrategy[list[int]]:
    steps = st.lists(st.integers(1, 10**6), min_size=num_checkpoints, max_size=num_checkpoints, unique=True)
    return steps.map(sorted)


@st.composite
def training_metrics(
    draw: st.DrawFn,
    num_checkpoints: int | None = None,
    *,
    num_envs: int | None = None,
    allow_nan: bool = True,
) -> TrainingMetrics:
    """:class:`~myriad_bench.platform.types.TrainingMetrics` with consistent list lengths.

    ``global_steps`` is ``steps_per_env * num_envs``; ``loss``, ``reward`` and
    ``agent_metrics`` are each either ``None`` or one value per checkpoint (NaN and inf
    included unless ``allow_nan=False``).
    """
    n = draw(st.integers(0, 5)) if num_checkpoints is None else num_checkpoints
    num_envs = draw(st.integers(1, 64)) if num_envs is None else num_envs
    steps = draw(_checkpoint_steps(n))
    values = st.lists(_floats(allow_nan), min_size=n, max_size=n)
    return TrainingMetrics(
        global_steps=[s * num_envs for s in steps],
        steps_per_env=steps,
        loss=draw(st.none() | values),
        reward=draw(st.none() | values),
        agent_metrics=draw(st.none() | st.dictionaries(_FIELD_NAME, values, max_size=3)),
    )


def _returns(num_episodes: int, allow_nan: bool) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, (num_episodes,), elements=_floats(allow_nan, 32))


def _lengths(num_episodes: int) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int32, (num_episodes,), elements=st.integers(1, 1_000))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    with np.errstate(all="ignore"):  # inf - inf in the std is NaN, as the run would report it
        return float(np.mean(values)), float(np.std(values))


@st.composite
def evaluation_metrics(
    draw: st.DrawFn,
    num_checkpoints: int | None = None,
    num_episodes: int | None = None,
    *,
    num_envs: int | None = None,
    allow_nan: bool = True,
) -> EvaluationMetrics:
    """:class:`~myriad_bench.platform.types.EvaluationMetrics` whose means match the episodes.

    Each checkpoint has ``num_episodes`` float32 returns and int32 lengths; ``mean_return``,
    ``std_return`` and ``mean_length`` are computed from them.
    """
    n = draw(st.integers(0, 5)) if num_checkpoints is None else num_checkpoints
    episodes = draw(st.integers(1, 8)) if num_episodes is None else num_episodes
    num_envs = draw(st.integers(1, 64)) if num_envs is None else num_envs
    steps = draw(_checkpoint_steps(n))
    returns = [draw(_returns(episodes, allow_nan)) for _ in range(n)]
    lengths = [draw(_lengths(episodes)) for _ in range(n)]
    return_stats = [_mean_std(r) for r in returns]
    return EvaluationMetrics(
        global_steps=[s * num_envs for s in steps],
        steps_per_env=steps,
        episode_returns=returns,
        episode_lengths=lengths,
        mean_return=[mean for mean, _ in return_stats],
        std_return=[std for _, std in return_stats],
        mean_length=[float(np.mean(length)) for length in lengths],
    )


# --------------------------------------------------------------------------- results

_run_dirs = st.lists(st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True), min_size=1, max_size=3).map(
    lambda parts: Path("outputs", *parts)
)


@st.composite
def training_results(draw: st.DrawFn, *, allow_nan: bool = True) -> TrainingResults:
    """:class:`~myriad_bench.platform.types.TrainingResults` consistent with their config.

    Evaluations have ``config.run.eval_rollouts`` episodes; both metric histories share their
    checkpoints. ``agent_state`` is ``None`` or drawn from :func:`agent_states`;
    ``final_env_state`` is ``None`` or a small :class:`TrainingEnvState`.
    """
    config = draw(configs())
    n = draw(st.integers(0, 4))
    num_envs = config.run.num_envs
    evals = draw(evaluation_metrics(n, config.run.eval_rollouts, num_envs=num_envs, allow_nan=allow_nan))
    training = draw(training_metrics(n, num_envs=num_envs, allow_nan=allow_nan))
    training.steps_per_env = list(evals.steps_per_env)
    training.global_steps = list(evals.global_steps)
    env_state = st.builds(
        TrainingEnvState,
        env_state=st.builds(dict, time=hnp.arrays(np.int32, (2,), elements=st.integers(0, 500))),
        obs=hnp.arrays(np.float32, (2, 3), elements=st.floats(-10, 10, width=32)),
    )
    return TrainingResults(
        agent_state=draw(st.none() | agent_states()),
        training_metrics=training,
        eval_metrics=evals,
        config=config,
        run_dir=draw(_run_dirs),
        final_env_state=draw(st.none() | env_state),
    )


@st.composite
def evaluation_results(draw: st.DrawFn, *, allow_nan: bool = True) -> EvaluationResults:
    """:class:`~myriad_bench.platform.types.EvaluationResults` whose statistics match the episodes.

    ``episodes`` is ``None`` or trajectories of a few steps; ``agent_state`` is ``None`` or
    drawn from :func:`agent_states`.
    """
    config = draw(eval_configs())
    n = config.run.eval_rollouts
    returns = draw(_returns(n, allow_nan))
    lengths = draw(_lengths(n))
    steps, obs_dim = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    trajectories = st.fixed_dictionaries(
        {
            "observations": hnp.arrays(np.float32, (n, steps, obs_dim), elements=_floats(allow_nan, 32)),
            "actions": hnp.arrays(np.int32, (n, steps), elements=st.integers(0, 3)),
            "rewards": hnp.arrays(np.float32, (n, steps), elements=_floats(allow_nan, 32)),
            "dones": hnp.arrays(np.bool_, (n, steps)),
        }
    )
    return EvaluationResults.from_episodes(
        returns,
        lengths,
        seed=config.run.seed,
        config=config,
        run_dir=draw(_run_dirs),
        episodes=draw(st.none() | trajectories),
        agent_state=draw(st.none() | agent_states()),
    )


# --------------------------------------------------------------------------- agent states

_ARRAY_DTYPES = (np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_)
_STATE_KEY = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)


def _array_leaves() -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    numpy_arrays = st.sampled_from(_ARRAY_DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, shapes))
    # hypothesis has no bfloat16; draw float32 values (NaN and inf included) and round them.
    bfloat16_arrays = hnp.arrays(np.float32, shapes, elements=st.floats(width=32)).map(
        lambda a: a.astype(ml_dtypes.bfloat16)
    )
    return numpy_arrays | bfloat16_arrays


@st.composite
def agent_states(draw: st.DrawFn, *, max_leaves: int = 8) -> dict[str, Any]:
    """Agent states as Flax state dicts: nested dicts of arrays and Python scalars.

    Arrays are float16/32/64, bfloat16, int8/32/64, uint8 and bool, with 0 to 3 dimensions,
    empty ones included, floats with NaN and inf; scalars are ints, floats and bools.
    """
    scalars = st.integers(-(2**63), 2**63 - 1) | st.floats() | st.booleans()
    leaves = _array_leaves() | scalars
    tree = st.recursive(
        leaves,
        lambda children: st.dictionaries(_STATE_KEY, children, min_size=1, max_size=3),
        max_leaves=max_leaves,
    )
    return draw(st.dictionaries(_STATE_KEY, tree, min_size=1, max_size=3))


# --------------------------------------------------------------------------- equality


def values_equal(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are equal, NaN counting as equal to NaN. See :func:`first_difference`."""
    return first_difference(a, b) is None


def first_difference(a: Any, b: Any, path: str = "value") -> str | None:
    """The first place where ``a`` and ``b`` differ, as a readable line, or ``None``.

    Types must match exactly (a NumPy array is not a list, ``float32`` is not ``float64``);
    arrays compare by dtype, shape and values with NaN equal to NaN; dataclasses by their
    fields; pydantic models by their dumped fields; dicts by keys, not order.
    """
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray | np.generic):
        return _array_difference(np.asarray(a), np.asarray(b), path)
    if isinstance(a, float):
        same = a == b or (math.isnan(a) and math.isnan(b))
        return None if same else f"{path}: {a!r} != {b!r}"
    if isinstance(a, BaseModel):
        return first_difference(a.model_dump(), b.model_dump(), path)
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            found = first_difference(getattr(a, field.name), getattr(b, field.name), f"{path}.{field.name}")
            if found:
                return found
        return None
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def _array_difference(a: np.ndarray, b: np.ndarray, path: str) -> str | None:
    if a.dtype != b.dtype:
        return f"{path}: dtype {a.dtype} != {b.dtype}"
    if a.shape != b.shape:
        return f"{path}: shape {a.shape} != {b.shape}"
    if a.tobytes() == b.tobytes():
        return None
    inexact = a.dtype.kind in "fc" or a.dtype == ml_dtypes.bfloat16
    if np.array_equal(a, b, equal_nan=inexact):
        return None
    mismatch = ~((a == b) | (np.isnan(a) & np.isnan(b))) if inexact else a != b
    differs = int(np.sum(mismatch))
    return f"{path}: {differs} of {a.size} values differ"
