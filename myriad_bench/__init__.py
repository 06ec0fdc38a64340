"""myriad-bench: JAX reinforcement-learning runs as pytest benchmark cases.

>>> import myriad_bench as mb
>>> config = mb.create_config(env="cartpole-control", agent="dqn", num_envs=8, steps_per_env=2_000)
>>> results = mb.train_and_evaluate(config)          # doctest: +SKIP

Names are imported lazily so that loading the pytest plugin does not import JAX.

PYTEST_DONT_REWRITE: ``myriad-bench run`` imports this module before it starts pytest, which
would then warn that it cannot rewrite it; it has no asserts to rewrite.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # configs
    "AgentConfig": "myriad_bench.configs",
    "Config": "myriad_bench.configs",
    "ConfigError": "myriad_bench.configs",
    "CurvesConfig": "myriad_bench.configs",
    "EnvConfig": "myriad_bench.configs",
    "EvalConfig": "myriad_bench.configs",
    "EvalRunConfig": "myriad_bench.configs",
    "RunConfig": "myriad_bench.configs",
    "config_to_eval_config": "myriad_bench.configs",
    "create_config": "myriad_bench.configs",
    "create_eval_config": "myriad_bench.configs",
    "load_config": "myriad_bench.configs",
    "save_config": "myriad_bench.configs",
    # result types
    "EvaluationMetrics": "myriad_bench.platform.types",
    "EvaluationResults": "myriad_bench.platform.types",
    "TrainingEnvState": "myriad_bench.platform.types",
    "TrainingMetrics": "myriad_bench.platform.types",
    "TrainingResults": "myriad_bench.platform.types",
    "purejaxrl_curves": "myriad_bench.platform.external",
    "results_from_curves": "myriad_bench.platform.external",
    # persistence errors
    "ArtifactError": "myriad_bench.store.errors",
    "UnsafePickleError": "myriad_bench.store.errors",
    # environments and agents
    "Environment": "myriad_bench.envs",
    "make_env": "myriad_bench.envs",
    "register_env": "myriad_bench.envs",
    "Agent": "myriad_bench.agents",
    "make_agent": "myriad_bench.agents",
    "register_agent": "myriad_bench.agents",
    # runs
    "evaluate": "myriad_bench.platform.evaluation",
    "train_and_evaluate": "myriad_bench.platform.training",
    # compile apart from the run (prepare_*: compile, then run() and results())
    "compile_evaluation": "myriad_bench.platform.evaluation",
    "compile_training": "myriad_bench.platform.training",
    "prepare_evaluation": "myriad_bench.platform.evaluation",
    "prepare_training": "myriad_bench.platform.training",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'myriad_bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
