"""Run configurations: pydantic models with the myriad platform's shape, plus YAML I/O.

``Config{run, agent, env}`` describes a training run, ``EvalConfig{run, agent, env}`` an
evaluation-only run. The ``agent`` and ``env`` sections carry a registered ``name`` and free
extra fields that are passed to ``make_agent`` / ``make_env``.

>>> config = create_config(env="cartpole-control", agent="dqn", num_envs=8, steps_per_env=1_000,
...                        learning_rate=3e-4)
>>> config.agent.learning_rate, config.run.total_timesteps
(0.0003, 8000)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import warnings
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from myriad_bench.core.defaults import without_defaults
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.yaml_io import load_yaml, write_yaml

__all__ = [
    "AgentConfig",
    "Config",
    "ConfigError",
    "CurvesConfig",
    "CurvesRunConfig",
    "EnvConfig",
    "EvalConfig",
    "EvalRunConfig",
    "RunConfig",
    "config_to_eval_config",
    "create_config",
    "create_eval_config",
    "load_config",
    "save_config",
]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the file or field."""


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a seed")
    return value


Seed = Annotated[int, BeforeValidator(_not_bool), Field(ge=-(2**31), lt=2**31)]
"""A seed JAX keys hold apart: a 32-bit signed integer (wider seeds wrap onto narrower ones)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EvalRunConfig(_Section):
    """Settings of an evaluation-only run (also the evaluation part of :class:`RunConfig`)."""

    seed: Seed = 42
    eval_rollouts: PositiveInt = 10
    """Number of episodes per evaluation."""
    eval_max_steps: PositiveInt | None = None
    """Step limit of an evaluation episode; ``None`` uses the environment's own episode limit."""
    save_agent_checkpoint: bool = False
    """Write ``checkpoints/final.msgpack`` into the run dir after the run."""


_REMOVED_FIELD = "scan_chunk_size"
_REMOVED_MESSAGE = (
    "run.scan_chunk_size was removed and is ignored: training always compiles the whole run into "
    "one program; delete the setting from the config"
)


class RunConfig(EvalRunConfig):
    """Settings of a training run. ``steps_per_env`` counts steps of each parallel environment."""

    steps_per_env: PositiveInt
    num_envs: PositiveInt = 1
    eval_frequency: PositiveInt = 1000
    """Evaluate (and log) every this many steps per env; the end of training is always a boundary."""
    buffer_size: PositiveInt = 10_000
    """Replay-buffer capacity of off-policy agents (transitions)."""
    batch_size: PositiveInt = 32
    """Batch size sampled from the replay buffer by off-policy agents."""
    rollout_steps: PositiveInt | None = None
    """Steps per env between updates of on-policy agents; ``None`` uses the agent's default."""

    @model_validator(mode="before")
    @classmethod
    def _drop_scan_chunk_size(cls, data: Any) -> Any:
        # Configs written before it was removed still load. It never did anything (the whole run
        # is one program), so only a value someone set deliberately is worth a warning.
        if isinstance(data, dict) and _REMOVED_FIELD in data:
            data = dict(data)
            if data.pop(_REMOVED_FIELD) is not None:
                warnings.warn(_REMOVED_MESSAGE, UserWarning, stacklevel=2)
        return data

    def __setstate__(self, state: dict[str, Any]) -> None:
        # results.pkl files written before the removal pickled the field: drop it on load, so the
        # loaded config dumps (and digests) like a new one.
        fields = state.get("__dict__")
        if isinstance(fields, dict) and _REMOVED_FIELD in fields:
            state = dict(state)
            state["__dict__"] = {k: v for k, v in fields.items() if k != _REMOVED_FIELD}
            fields_set = state.get("__pydantic_fields_set__")
            if isinstance(fields_set, set):
                state["__pydantic_fields_set__"] = fields_set - {_REMOVED_FIELD}
        super().__setstate__(state)

    @property
    def total_timesteps(self) -> int:
        """Environment interactions across all environments: ``steps_per_env * num_envs``."""
        return self.steps_per_env * self.num_envs


def _registered(kind: str, name: str) -> str:
    # Imported here: the registries import JAX and the environment modules, configs must not.
    if kind == "env":
        from myriad_bench.envs.registry import env_names as names
    else:
        from myriad_bench.agents.registry import agent_names as names
    known = names()
    if name not in known:
        raise ValueError(f"unknown {kind} {name!r}; registered {kind}s: {', '.join(sorted(known))}")
    return name


class AgentConfig(BaseModel):
    """Agent section: a registered agent ``name`` plus its hyperparameters as extra fields."""

    model_config = ConfigDict(extra="allow")

    name: str

    @field_validator("name")
    @classmethod
    def _known_agent(cls, name: str) -> str:
        return _registered("agent", name)

    def params(self) -> dict[str, Any]:
        """The extra fields, i.e. the keyword arguments for ``make_agent``."""
        return dict(self.model_extra or {})


class EnvConfig(BaseModel):
    """Environment section: a registered environment ``name`` plus overrides as extra fields."""

    model_config = ConfigDict(extra="allow")

    name: str

    @field_validator("name")
    @classmethod
    def _known_env(cls, name: str) -> str:
        return _registered("env", name)

    def params(self) -> dict[str, Any]:
        """The extra fields, i.e. the keyword arguments for ``make_env``."""
        return dict(self.model_extra or {})


def _digest_of(data: dict[str, Any]) -> str:
    data["run"].pop("seed", None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class _Root(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def canonical_data(self) -> dict[str, Any]:
        """The config as JSON data, written the same way however its values were given."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """A stable hex digest of everything that shapes the run's results, the seed aside.

        Two configs of the same run have the same digest: an agent or env setting given
        explicitly at its default counts as absent (see :meth:`canonical_data`).
        """
        return _digest_of(self.canonical_data())

    def legacy_digest(self) -> str:
        """:meth:`digest` as computed before explicit defaults counted as absent (the digest that
        baselines written then record)."""
        return _digest_of(self.model_dump(mode="json"))


class _Buildable(_Root):
    @model_validator(mode="after")
    def _buildable(self) -> Any:
        """Build the env and the agent once: a typo or a bad value fails here, not when the run starts."""
        from myriad_bench.agents.registry import make_agent
        from myriad_bench.envs.registry import make_env

        # A factory of the user's may refuse an unexpected keyword with TypeError, ours with ValueError.
        try:
            env = make_env(self.env.name, **self.env.params())
        except (ValueError, TypeError) as error:
            raise ValueError(f"env section: {error}") from None
        try:
            make_agent(self.agent.name, env.action_space, control=env.control, **self.agent.params())
        except (ValueError, TypeError) as error:
            raise ValueError(f"agent section: {error}{_run_key_hint(self.agent.params())}") from None
        return self

    def canonical_data(self) -> dict[str, Any]:
        """The config as JSON data, less each agent or env setting given at the value its factory
        uses without it (and ``run.rollout_steps`` at the agent's default): an explicit default
        and an absent one read alike in the digest and in a baseline's config diff."""
        from myriad_bench.agents.registry import make_agent
        from myriad_bench.envs.registry import make_env

        data = self.model_dump(mode="json")
        try:
            env = make_env(self.env.name, **self.env.params())
        except Exception:  # a config loaded from a pickle whose env is not registered here
            return data
        env_params = without_defaults(
            self.env.params(), lambda params: _parts(make_env(self.env.name, **params), "config", "params")
        )

        def agent_parts(params: dict[str, Any]) -> tuple[tuple, tuple]:
            agent = make_agent(self.agent.name, env.action_space, control=env.control, **params)
            return (agent.params,), (agent.params, agent.rollout_steps, agent.off_policy)

        agent_params = without_defaults(self.agent.params(), agent_parts)
        for section, kept in (("env", env_params), ("agent", agent_params)):
            data[section] = {k: v for k, v in data[section].items() if k == "name" or k in kept}
        rollout_steps = data["run"].get("rollout_steps")
        if rollout_steps is not None:
            try:
                if agent_parts(self.agent.params())[1][1] == rollout_steps:
                    data["run"]["rollout_steps"] = None
            except Exception:  # as above: unknown here, so written as given
                pass
        return data


def _parts(env: Any, *names: str) -> tuple[tuple, tuple]:
    parts = tuple(getattr(env, name) for name in names)
    return parts, parts


class Config(_Buildable):
    """A training run: ``run`` settings, the ``agent`` and the ``env``."""

    run: RunConfig
    agent: AgentConfig
    env: EnvConfig


class EvalConfig(_Buildable):
    """An evaluation-only run: ``run`` settings, the ``agent`` and the ``env``."""

    run: EvalRunConfig
    agent: AgentConfig
    env: EnvConfig


def _plain(value: Any, where: str) -> Any:
    """``value`` as YAML/JSON-safe data (NumPy scalars and tuples converted); ValueError naming ``where``."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # a NumPy or JAX scalar
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    raise ValueError(
        f"{where} is a {type(value).__name__}; hyperparameters must be numbers, strings, booleans, "
        "None, lists or mappings of them"
    )


class CurvesRunConfig(_Section):
    """The run settings of results made from curves: which seed a run was."""

    seed: Seed = 0


class CurvesConfig(_Root):
    """The config of results made from the curves of any training code (:func:`results_from_curves`).

    ``hyperparameters`` plays the part of a config in config-change detection: a baseline made
    with other hyperparameters fails the check with the fields that differ. ``metric`` names what
    the curves measure and ``higher_is_better`` which way is better.
    """

    run: CurvesRunConfig = CurvesRunConfig()
    hyperparameters: dict[str, Any] = {}
    metric: str = "return"
    higher_is_better: bool = True

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _plain_hyperparameters(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"hyperparameters must be a mapping, got {type(value).__name__}")
        return {str(key): _plain(item, f"hyperparameters.{key}") for key, item in value.items()}


def _run_key_hint(agent_params: dict[str, Any]) -> str:
    # create_config sends every key that is not a run field to the agent: a typo in a run key
    # surfaces as an unknown hyperparameter, so name the run field it was probably meant to be.
    hints = []
    for key in agent_params:
        close = difflib.get_close_matches(key, list(RunConfig.model_fields), n=1, cutoff=0.8)
        if close:
            hints.append(f"{key!r} is not a run setting either (did you mean run.{close[0]}?)")
    return f"; {'; '.join(hints)}" if hints else ""


def _route(run_fields: set[str], env: str, agent: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    sections: dict[str, dict[str, Any]] = {"run": {}, "agent": {"name": agent}, "env": {"name": env}}
    for key, value in kwargs.items():
        section, dot, field = key.rpartition(".")
        if dot:
            if section not in sections or not field:
                raise ConfigError(
                    f"cannot place {key!r}: dotted keys must start with 'run.', 'agent.' or 'env.'"
                )
        else:
            section = "run" if key in run_fields else "agent"
        if field == "name" and section != "run":
            raise ConfigError(f"set the {section} name with {section}=..., not {key!r}")
        sections[section][field] = value
    return sections


def create_config(*, env: str, agent: str, **kwargs: Any) -> Config:
    """Build a :class:`Config`; each keyword goes to the section that has the field.

    Run fields go to ``run``; ``agent.x`` / ``env.x`` go to that section; any other key is an
    agent hyperparameter. Raises ``pydantic.ValidationError`` naming the field and the value.
    """
    # The removed run field still goes to ``run``, where it is dropped with a warning.
    run_fields = {*RunConfig.model_fields, _REMOVED_FIELD}
    return Config.model_validate(_route(run_fields, env, agent, kwargs))


def create_eval_config(*, env: str, agent: str, **kwargs: Any) -> EvalConfig:
    """Build an :class:`EvalConfig`, routing keywords like :func:`create_config`."""
    return EvalConfig.model_validate(_route(set(EvalRunConfig.model_fields), env, agent, kwargs))


def config_to_eval_config(config: Config) -> EvalConfig:
    """The evaluation part of a training config (same agent, env, seed and eval settings)."""
    run = {name: getattr(config.run, name) for name in EvalRunConfig.model_fields}
    return EvalConfig(run=EvalRunConfig(**run), agent=config.agent, env=config.env)


def save_config(config: Config | EvalConfig | CurvesConfig, path: Path | str) -> None:
    """Write the config as YAML (atomically; parent folders are created)."""
    write_yaml(path, config.model_dump(mode="json"))


_C = TypeVar("_C", Config, EvalConfig, CurvesConfig)


def load_config(path: Path | str, cls: type[_C] = Config) -> _C:
    """Read a config written by :func:`save_config` (or by hand).

    Raises ``FileNotFoundError`` for a missing file and :class:`ConfigError` naming the file for
    YAML that does not parse or does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = load_yaml(path)
    except ArtifactError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping with run/agent/env sections, got {type(data).__name__}"
        )
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path}: invalid {cls.__name__}:\n{error}") from error
