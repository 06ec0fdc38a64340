"""``evaluate``: an evaluation-only run of an agent (classical, random or trained) on an environment.

>>> config = create_eval_config(env="cartpole-control", agent="bangbang", eval_rollouts=64)
>>> results = evaluate(config)                                     # doctest: +SKIP
>>> results.mean_length > 100                                      # doctest: +SKIP
True

The episodes run in :func:`~myriad_bench.platform.rollout.make_rollout`'s rollout. Compiling,
running and assembling results are separate steps (:func:`prepare_evaluation`), so a caller can
time the run alone; the compiled rollout lives in the one cache of
:mod:`~myriad_bench.platform.programs`, so another ``evaluate`` of the same environment, agent
and sizes (any seed, agent state or parameter values) reuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from myriad_bench.agents.agent import Agent
from myriad_bench.configs import Config, EvalConfig, config_to_eval_config
from myriad_bench.envs.environment import Environment
from myriad_bench.platform.programs import PROGRAMS, Compilation, signature, static_key
from myriad_bench.platform.resolve import resolve
from myriad_bench.platform.rollout import make_rollout
from myriad_bench.platform.types import EvaluationResults
from myriad_bench.store.agent_state import restore_agent_state
from myriad_bench.store.rundir import RunInfo, default_run_dir

__all__ = [
    "EvaluationOutputs",
    "EvaluationProgram",
    "agent_state_shapes",
    "compile_evaluation",
    "evaluate",
    "prepare_evaluation",
]


@dataclass(frozen=True)
class EvaluationOutputs:
    """What one run of an :class:`EvaluationProgram` left on the host (NumPy), for ``results``."""

    episodes: dict[str, np.ndarray]
    """``episode_returns`` / ``episode_lengths`` ``(E,)`` and, when asked, the trajectories."""
    run_info: RunInfo

    @property
    def env_steps(self) -> int:
        """Environment steps the run's episodes took."""
        return int(np.sum(self.episodes["episode_lengths"]))


class EvaluationProgram:
    """A compiled evaluation of one config: :meth:`run` it (timed), then assemble :meth:`results`.

    Made by :func:`prepare_evaluation`. ``compile_s`` is the seconds that call spent compiling
    (``0.0`` when the program was cached), ``compilation`` how the program was obtained;
    ``agent_state`` the state being evaluated.
    """

    def __init__(
        self,
        config: EvalConfig,
        compiled: Callable[..., dict[str, jax.Array]],
        arguments: tuple,
        return_episodes: bool,
        compilation: Compilation,
    ) -> None:
        self.config = config
        self.compilation = compilation
        self.compile_s = compilation.seconds
        self.return_episodes = return_episodes
        self.agent_state = arguments[1]
        self._compiled = compiled
        self._arguments = arguments

    def run(self) -> EvaluationOutputs:
        """Play the episodes; blocks until they are done and their arrays are on the host."""
        run_info = RunInfo.start()
        out = jax.device_get(jax.block_until_ready(self._compiled(*self._arguments)))
        return EvaluationOutputs({name: np.asarray(value) for name, value in out.items()}, run_info.finish())

    def results(
        self, outputs: EvaluationOutputs, run_dir: Path | str | None = None, save: bool = True
    ) -> EvaluationResults:
        """The :class:`EvaluationResults` of ``outputs``, saved to ``run_dir`` unless ``save=False``.

        ``run_dir`` defaults to a fresh ``outputs/<date>/<time>/``.
        """
        if run_dir is None and not save:
            raise ValueError("results(save=False) needs a run_dir: the results record where they belong")
        episodes = dict(outputs.episodes)
        results = EvaluationResults.from_episodes(
            episodes.pop("episode_returns"),
            episodes.pop("episode_lengths"),
            seed=self.config.run.seed,
            config=self.config,
            run_dir=default_run_dir() if run_dir is None else Path(run_dir),
            episodes=episodes if self.return_episodes else None,
            agent_state=self.agent_state,
        )
        if save:
            save_checkpoint = self.config.run.save_agent_checkpoint
            results.save(results.run_dir, save_checkpoint=save_checkpoint, run_info=outputs.run_info)
        return results


def prepare_evaluation(
    config: EvalConfig | Config,
    agent_state: Any = None,
    agent: Agent | None = None,
    return_episodes: bool = False,
) -> EvaluationProgram:
    """Compile (or find cached) the evaluation of ``config``; return it ready to run.

    Arguments as in :func:`evaluate`.
    """
    if isinstance(config, Config):
        config = config_to_eval_config(config)
    elif not isinstance(config, EvalConfig):
        raise TypeError(
            f"evaluate() needs an EvalConfig (create_eval_config/load_config), got {type(config).__name__}"
        )
    env, agent = resolve(config, agent)
    num_episodes = config.run.eval_rollouts
    max_steps = config.run.eval_max_steps or env.max_steps

    key_init, key_rollout = jax.random.split(jax.random.key(config.run.seed))
    state = _agent_state(env, agent, agent_state, key_init)
    arguments = (key_rollout, state, env.params, agent.params)
    key = (
        "evaluation",
        static_key(env),
        static_key(agent),
        (num_episodes, max_steps, return_episodes),
        signature(arguments),
    )

    def build() -> Callable[..., dict[str, jax.Array]]:
        rollout = make_rollout(env, agent, num_episodes, max_steps, return_episodes)

        def run(key: jax.Array, agent_state: Any, env_params: Any, agent_params: Any) -> dict[str, jax.Array]:
            return rollout(key, agent_state, env_params=env_params, agent_params=agent_params)

        return jax.jit(run).lower(*arguments).compile()

    compiled, compilation = PROGRAMS.get(key, build)
    return EvaluationProgram(config, compiled, arguments, return_episodes, compilation)


def compile_evaluation(
    config: EvalConfig | Config,
    agent_state: Any = None,
    agent: Agent | None = None,
    return_episodes: bool = False,
) -> float:
    """Compile (or find cached) the program ``evaluate`` would run; return the seconds spent."""
    return prepare_evaluation(config, agent_state, agent, return_episodes).compile_s


def evaluate(
    config: EvalConfig | Config,
    agent_state: Any = None,
    agent: Agent | None = None,
    return_episodes: bool = False,
    run_dir: Path | str | None = None,
) -> EvaluationResults:
    """Run ``config.run.eval_rollouts`` greedy episodes and save the results to a run dir.

    Args:
        config: the evaluation config (a training :class:`Config` is reduced to its evaluation
            part). The environment is ``make_env(config.env.name, **config.env.params())``.
        agent_state: ``None`` starts from ``agent.init`` (seeded by ``config.run.seed``); a
            nested dict (``TrainingResults.load_agent``'s raw state) is restored onto that
            fresh state's structure; anything else is used as the agent's state as is.
        agent: the agent to evaluate; by default ``make_agent(config.agent.name,
            env.action_space, control=env.control, **config.agent.params())``.
        return_episodes: also return the trajectories (``results.episodes``: observations
            ``(E, T, obs_dim)``, actions ``(E, T, ...)``, rewards and dones ``(E, T)``).
        run_dir: where the results go; by default a fresh ``outputs/<date>/<time>/``.

    Returns:
        :class:`EvaluationResults` with statistics over the E episodes, the raw returns and
        lengths as NumPy arrays, and the agent state that was evaluated. The run dir holds
        ``.hydra/config.yaml``, ``results.pkl``, ``run_metadata.yaml`` and, with
        ``config.run.save_agent_checkpoint``, ``checkpoints/final.msgpack``.
    """
    program = prepare_evaluation(config, agent_state, agent, return_episodes)
    return program.results(program.run(), run_dir=run_dir)


def agent_state_shapes(config: EvalConfig | Config) -> Any:
    """The shapes and dtypes of the state of the agent ``config`` builds (``jax.eval_shape`` of
    its ``init``: traced, not compiled or run), to restore stored states onto."""
    if isinstance(config, Config):
        config = config_to_eval_config(config)
    env, agent = resolve(config, None)
    obs = jax.ShapeDtypeStruct(env.observation_space.shape, env.observation_space.dtype)
    return jax.eval_shape(lambda key, o: agent.init(key, o, agent.params), jax.random.key(0), obs)


def _agent_state(env: Environment, agent: Agent, agent_state: Any, key: jax.Array) -> Any:
    """The state to evaluate: fresh from ``agent.init``, or ``agent_state`` (restored if raw)."""
    if agent_state is not None and not isinstance(agent_state, Mapping):
        return agent_state
    obs = jnp.zeros(env.observation_space.shape, env.observation_space.dtype)
    fresh = agent.init(key, obs, agent.params)
    if agent_state is None:
        return fresh
    restored = restore_agent_state(fresh, agent_state, source=f"agent_state for agent {agent.name!r}")
    return jax.device_put(restored)  # the stored leaves are NumPy; keep them on the device once
