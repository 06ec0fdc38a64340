"""``evaluate``: an evaluation-only run of an agent (classical, random or trained) on an environment.

>>> config = create_eval_config(env="cartpole-control", agent="bangbang", eval_rollouts=64)
>>> results = evaluate(config)                                     # doctest: +SKIP
>>> results.mean_length > 100                                      # doctest: +SKIP
True

The episodes run in :func:`~myriad_bench.platform.rollout.make_rollout`'s rollout, compiled once
per static shape and kept in a small cache, so a second ``evaluate`` of the same environment,
agent and sizes (any seed, agent state or parameter values) reuses the compiled program.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import make_agent
from myriad_bench.configs import Config, EvalConfig, config_to_eval_config
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.registry import make_env
from myriad_bench.platform.rollout import make_rollout
from myriad_bench.platform.types import EvaluationResults
from myriad_bench.store.agent_state import restore_agent_state
from myriad_bench.store.rundir import RunInfo, default_run_dir

__all__ = ["evaluate"]

_CACHE_SIZE = 32
_compiled: collections.OrderedDict[Hashable, Callable[..., dict[str, jax.Array]]] = collections.OrderedDict()
_compiled_lock = threading.Lock()


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
            env.action_space, **config.agent.params())``.
        return_episodes: also return the trajectories (``results.episodes``: observations
            ``(E, T, obs_dim)``, actions ``(E, T, ...)``, rewards and dones ``(E, T)``).
        run_dir: where the results go; by default a fresh ``outputs/<date>/<time>/``.

    Returns:
        :class:`EvaluationResults` with statistics over the E episodes, the raw returns and
        lengths as NumPy arrays, and the agent state that was evaluated. The run dir holds
        ``.hydra/config.yaml``, ``results.pkl``, ``run_metadata.yaml`` and, with
        ``config.run.save_agent_checkpoint``, ``checkpoints/final.msgpack``.
    """
    run_info = RunInfo.start()
    if isinstance(config, Config):
        config = config_to_eval_config(config)
    elif not isinstance(config, EvalConfig):
        raise TypeError(
            f"evaluate() needs an EvalConfig (create_eval_config/load_config), got {type(config).__name__}"
        )
    env = make_env(config.env.name, **config.env.params())
    if agent is None:
        agent = make_agent(config.agent.name, env.action_space, **config.agent.params())
    num_episodes = config.run.eval_rollouts
    max_steps = config.run.eval_max_steps or env.max_steps

    key_init, key_rollout = jax.random.split(jax.random.key(config.run.seed))
    state = _agent_state(env, agent, agent_state, key_init)
    rollout = _compiled_rollout(env, agent, num_episodes, max_steps, return_episodes)
    out = jax.block_until_ready(rollout(key_rollout, state, env.params, agent.params))
    out = jax.device_get(out)

    results = EvaluationResults.from_episodes(
        np.asarray(out.pop("episode_returns")),
        np.asarray(out.pop("episode_lengths")),
        seed=config.run.seed,
        config=config,
        run_dir=default_run_dir() if run_dir is None else Path(run_dir),
        episodes={name: np.asarray(value) for name, value in out.items()} if return_episodes else None,
        agent_state=state,
    )
    save_checkpoint = config.run.save_agent_checkpoint
    results.save(results.run_dir, save_checkpoint=save_checkpoint, run_info=run_info.finish())
    return results


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


def _compiled_rollout(
    env: Environment, agent: Agent, num_episodes: int, max_steps: int, return_episodes: bool
) -> Callable[..., dict[str, jax.Array]]:
    """``jit(rollout)(key, agent_state, env_params, agent_params)``, one per static setting.

    The key holds what the traced program depends on besides its arguments: the environment's
    and the agent's functions and static config, and the static fields of the parameter
    structs (their tree structure); the parameter values are arguments, so new gains or
    physics constants reuse the program (``jax.jit`` itself retraces on new shapes).
    """
    key = (
        env.name,
        env.config,
        env.reset_env,
        env.step_env,
        jax.tree.structure(env.params),
        agent.name,
        agent.action_space,
        agent.init_carry,
        agent.select_action,
        jax.tree.structure(agent.params),
        num_episodes,
        max_steps,
        return_episodes,
    )
    with _compiled_lock:
        compiled = _compiled.get(key)
        if compiled is not None:
            _compiled.move_to_end(key)
            return compiled
        rollout = make_rollout(env, agent, num_episodes, max_steps, return_episodes)

        def run(key: jax.Array, agent_state: Any, env_params: Any, agent_params: Any) -> dict[str, jax.Array]:
            return rollout(key, agent_state, env_params=env_params, agent_params=agent_params)

        compiled = jax.jit(run)
        _compiled[key] = compiled
        if len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
        return compiled
