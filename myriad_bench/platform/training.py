"""``train_and_evaluate``: a whole training run, evaluations included, as one compiled JAX program.

The run follows PureJaxRL's ``make_train``: :func:`make_train` builds a pure
``train(key)``; seeds are a ``vmap`` axis; the host sees only the final arrays.

- Every ``rollout_steps`` steps of the ``num_envs`` vectorised environments, ``agent.update``
  runs once: on-policy agents get that rollout (a ``Transition`` shaped
  ``(rollout_steps, num_envs, ...)``), off-policy agents (``Agent.off_policy``) get
  ``run.batch_size`` transitions sampled from a replay buffer of ``run.buffer_size`` that the
  rollout is added to first. ``rollout_steps`` is ``run.rollout_steps``, else the agent's
  default (``Agent.rollout_steps``).
- Evaluation boundaries are the multiples of ``eval_frequency`` and the end of training,
  exactly; no step is taken past the end. Between two boundaries, a ``lax.fori_loop`` turns
  over *chunks* of steps (a ``lax.scan`` over steps): whole rollouts when ``rollout_steps``
  divides every segment, otherwise the largest common divisor, with the rollout gathered
  across chunks (and boundaries) and the update run when it is complete. Steps after the
  last complete rollout are taken but not trained on.
- At each boundary the agent plays ``eval_rollouts`` greedy episodes through the shared
  evaluation rollout (:func:`~myriad_bench.platform.rollout.make_rollout`), and the
  segment's mean reward per step and the mean of each metric ``update`` returned (``loss``,
  ``q_value``, ...) are recorded.
- Randomness depends on position only: step t uses ``fold_in(step_key, t)``, update u
  ``fold_in(update_key, u)``, boundary b ``fold_in(eval_key, b)``. Where the boundaries fall
  therefore does not change the training, and seeds are independent streams.

The program (a ``lax.scan`` over boundaries, seeds ``vmap``-ed inside it) is compiled once per
static shape and cached in-process: another seed, other hyperparameter values, environment
constants or step counts with the same number of boundaries and chunk size reuse it; with
JAX's persistent compilation cache enabled, later processes skip XLA compilation too.
``run.scan_chunk_size`` is not used: the whole run is a single program.

>>> config = create_config(env="cartpole-control", agent="pqn", num_envs=32, steps_per_env=2_000,
...                        eval_frequency=500)
>>> results = train_and_evaluate(config)                  # doctest: +SKIP
>>> many = train_and_evaluate(config, seeds=[0, 1, 2, 3])  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from myriad_bench.agents.agent import Agent
from myriad_bench.agents.registry import make_agent
from myriad_bench.configs import Config
from myriad_bench.core.replay_buffer import ReplayBuffer
from myriad_bench.core.transition import Transition
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.registry import make_env
from myriad_bench.envs.vector import HASH_PRNG, vector_reset, vector_step
from myriad_bench.platform.rollout import make_rollout, reset_carry
from myriad_bench.platform.types import EvaluationMetrics, TrainingEnvState, TrainingMetrics, TrainingResults
from myriad_bench.store.rundir import RunInfo, default_run_dir

__all__ = [
    "clear_compiled_programs",
    "compile_training",
    "make_train",
    "train_and_evaluate",
    "training_key",
]

VERBOSE_ENV_VAR = "MYRIAD_BENCH_VERBOSE"
"""Set to 1 / 0 to turn the progress line on / off when ``verbose`` is not given."""

_CACHE_SIZE = 16
_programs: collections.OrderedDict[Hashable, Callable[..., Any]] = collections.OrderedDict()
_programs_lock = threading.Lock()
_trace_count = 0  # training programs traced in this process (tests check that reuse does not trace)


# --------------------------------------------------------------------------- the static plan


class _Plan(NamedTuple):
    """Everything static about a run's program (hashable); the step counts are arguments."""

    num_envs: int
    rollout_steps: int
    chunk_steps: int
    """Steps collected per loop turn: ``rollout_steps`` when it divides every segment, else
    the greatest common divisor of the segment lengths and ``rollout_steps``."""
    num_boundaries: int
    off_policy: bool
    buffer_size: int
    batch_size: int
    eval_rollouts: int
    eval_max_steps: int
    num_seeds: int
    progress: bool


def _rollout_steps(config: Config, agent: Agent) -> int:
    rollout_steps = config.run.rollout_steps or agent.rollout_steps
    if not isinstance(rollout_steps, int) or isinstance(rollout_steps, bool) or rollout_steps < 1:
        raise ValueError(
            f"agent {agent.name!r}: rollout_steps must be a positive integer, got {rollout_steps!r}"
        )
    return rollout_steps


def _boundaries(config: Config) -> tuple[int, ...]:
    """Steps per env at each evaluation boundary: the multiples of eval_frequency, then the end."""
    steps, frequency = config.run.steps_per_env, config.run.eval_frequency
    return (*range(frequency, steps, frequency), steps)


def _plan(config: Config, env: Environment, agent: Agent, num_seeds: int, progress: bool) -> _Plan:
    run = config.run
    rollout_steps = _rollout_steps(config, agent)
    boundaries = _boundaries(config)
    lengths = np.diff((0, *boundaries))
    return _Plan(
        num_envs=run.num_envs,
        rollout_steps=rollout_steps,
        chunk_steps=int(np.gcd.reduce([rollout_steps, *lengths.tolist()])),
        num_boundaries=len(boundaries),
        off_policy=bool(agent.off_policy),
        # Only off-policy programs depend on the replay settings.
        buffer_size=run.buffer_size if agent.off_policy else 0,
        batch_size=run.batch_size if agent.off_policy else 0,
        eval_rollouts=run.eval_rollouts,
        eval_max_steps=run.eval_max_steps or env.max_steps,
        num_seeds=num_seeds,
        progress=progress,
    )


def _segment_chunks(config: Config, plan: _Plan) -> np.ndarray:
    """Loop turns of each segment, ``(num_boundaries,)`` int32 (an argument of the program)."""
    return (np.diff((0, *_boundaries(config))) // plan.chunk_steps).astype(np.int32)


# --------------------------------------------------------------------------- the program


@struct.dataclass
class _RunState:
    """One seed's training state, carried through the whole run."""

    agent_state: Any
    env_state: Any
    obs: jax.Array
    policy_carry: Any
    buffer: ReplayBuffer | None
    """The replay buffer of an off-policy agent."""
    rollout: Transition | None
    """The rollout being collected, ``(rollout_steps, num_envs, ...)``, when a loop turn
    collects fewer steps than a rollout."""
    step: jax.Array
    """int32 steps of each environment taken so far."""
    keys: jax.Array
    """The run's base keys: step, update, replay sample, evaluation (fixed for the run)."""


_STEP, _UPDATE, _SAMPLE, _EVAL = range(4)


def _build_program(env: Environment, agent: Agent, plan: _Plan) -> Callable[..., Any]:
    """``program(keys (S,), segment_chunks (B,), env_params, agent_params) -> (states, outputs)``.

    Outputs (leading axes: boundary B, seed S): ``train`` metrics ``(B, S)`` — ``reward``
    (mean per step) and each metric the agent's ``update`` returns, averaged over the
    segment's updates (a segment that completes no rollout repeats the latest values; NaN
    before the first update) — and ``episode_returns`` / ``episode_lengths``
    ``(B, S, eval_rollouts)``.

    Randomness is a function of position only: step t of the run uses ``fold_in(step_key, t)``,
    update u ``fold_in(update_key, u)``, the evaluation at boundary b ``fold_in(eval_key, b)``.
    So where the evaluation boundaries fall does not change the training.
    """
    rollout = make_rollout(env, agent, plan.eval_rollouts, plan.eval_max_steps)
    num_envs, rollout_steps, chunk_steps = plan.num_envs, plan.rollout_steps, plan.chunk_steps

    def env_step(state: _RunState, step: jax.Array, env_params: Any, agent_params: Any) -> tuple:
        key_action, key_env = jax.random.split(jax.random.fold_in(state.keys[_STEP], step))
        action, policy_carry = agent.select_action(
            key_action, state.obs, state.policy_carry, state.agent_state, agent_params, False
        )
        next_obs, env_state, reward, done, info = vector_step(
            env._replace(params=env_params), key_env, state.env_state, action
        )
        transition = Transition(
            obs=state.obs,
            action=action,
            reward=reward.astype(jnp.float32),
            next_obs=next_obs,
            done=done,
            terminated=info["terminated"],
        )
        policy_carry = reset_carry(agent, agent_params, policy_carry, done)
        return state.replace(env_state=env_state, obs=next_obs, policy_carry=policy_carry), transition

    def collect(state: _RunState, num_steps: int, env_params: Any, agent_params: Any) -> tuple:
        """``num_steps`` (static) steps of every environment: ``(state, Transition (num_steps, N))``."""
        if num_steps == 1:
            state, transition = env_step(state, state.step, env_params, agent_params)
            batch = jax.tree.map(lambda x: x[None], transition)
        else:
            state, batch = jax.lax.scan(
                lambda s, t: env_step(s, t, env_params, agent_params),
                state,
                state.step + jnp.arange(num_steps, dtype=jnp.int32),
            )
        return state.replace(step=state.step + num_steps), batch

    def learn(state: _RunState, rollout_batch: Transition, agent_params: Any) -> tuple:
        """One ``agent.update`` on a full rollout (fed through the replay buffer if off-policy)."""
        update = state.step // rollout_steps - 1
        buffer = state.buffer
        if plan.off_policy:
            buffer = buffer.add(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), rollout_batch))
            batch = buffer.sample(jax.random.fold_in(state.keys[_SAMPLE], update), plan.batch_size)
        else:
            batch = rollout_batch
        key = jax.random.fold_in(state.keys[_UPDATE], update)
        agent_state, metrics = agent.update(key, state.agent_state, batch, agent_params)
        metrics = {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
        return state.replace(agent_state=agent_state, buffer=buffer), metrics

    def metric_names(state: _RunState, env_params: Any, agent_params: Any) -> list[str]:
        """Names of the metrics ``agent.update`` returns (traced abstractly, once per program)."""
        shapes = jax.eval_shape(
            lambda s: learn(*collect(s, rollout_steps, env_params, agent_params), agent_params)[1], state
        )
        for name, shape in shapes.items():
            if shape.shape != ():
                raise ValueError(
                    f"agent {agent.name!r}: update() returned metric {name!r} with shape {shape.shape}; "
                    "metrics must be scalars"
                )
        return list(shapes)

    def turn(state: _RunState, names: list[str], env_params: Any, agent_params: Any) -> tuple:
        """One loop turn: ``chunk_steps`` steps, and an update when they complete a rollout.

        Returns ``(state, metrics, reward, updated)`` with ``updated`` a float 0/1.
        """
        state, batch = collect(state, chunk_steps, env_params, agent_params)
        reward = jnp.sum(batch.reward)
        if chunk_steps == rollout_steps:
            state, metrics = learn(state, batch, agent_params)
            return state, metrics, reward, jnp.float32(1.0)
        offset = (state.step - chunk_steps) % rollout_steps
        rollout_batch = jax.tree.map(
            lambda store, x: jax.lax.dynamic_update_slice_in_dim(store, x, offset, axis=0),
            state.rollout,
            batch,
        )
        state = state.replace(rollout=rollout_batch)
        complete = state.step % rollout_steps == 0
        state, metrics = jax.lax.cond(
            complete,
            lambda s: learn(s, rollout_batch, agent_params),
            lambda s: (s, {name: jnp.zeros((), jnp.float32) for name in names}),
            state,
        )
        return state, metrics, reward, complete.astype(jnp.float32)

    def init(key: jax.Array, env_params: Any, agent_params: Any) -> _RunState:
        key_reset, key_agent, key_run = jax.random.split(key, 3)
        obs, env_state = vector_reset(env._replace(params=env_params), key_reset, num_envs)
        state = _RunState(
            agent_state=agent.init(key_agent, obs[0], agent_params),
            env_state=env_state,
            obs=obs,
            policy_carry=agent.init_carry(num_envs, agent_params),
            buffer=None,
            rollout=None,
            step=jnp.zeros((), jnp.int32),
            keys=jax.random.split(key_run, 4),
        )
        shapes = jax.eval_shape(lambda s: collect(s, 1, env_params, agent_params)[1], state)
        if plan.off_policy:
            example = jax.tree.map(lambda x: jnp.zeros(x.shape[2:], x.dtype), shapes)
            state = state.replace(buffer=ReplayBuffer.create(example, plan.buffer_size))
        if chunk_steps != rollout_steps:
            rollout_batch = jax.tree.map(lambda x: jnp.zeros((rollout_steps, *x.shape[1:]), x.dtype), shapes)
            state = state.replace(rollout=rollout_batch)
        return state

    def segment(
        state: _RunState,
        index: jax.Array,
        num_chunks: jax.Array,
        names: list[str],
        env_params: Any,
        agent_params: Any,
    ) -> tuple[_RunState, dict]:
        """``num_chunks`` (traced) loop turns, then the evaluation of boundary ``index``."""

        # Sums in one vector: [metrics..., reward, updates], one add per turn.
        def body(_: jax.Array, carry: tuple) -> tuple:
            state, sums = carry
            state, metrics, reward, updated = turn(state, names, env_params, agent_params)
            return state, sums + jnp.stack([*(metrics[name] for name in names), reward, updated])

        start = state.step
        state, sums = jax.lax.fori_loop(
            0, num_chunks, body, (state, jnp.zeros((len(names) + 2,), jnp.float32))
        )
        updates = sums[-1]
        train = {name: sums[i] / jnp.maximum(updates, 1.0) for i, name in enumerate(names)}
        train["reward"] = sums[-2] / ((state.step - start) * num_envs).astype(jnp.float32)
        train["updates"] = updates
        evaluation = rollout(
            jax.random.fold_in(state.keys[_EVAL], index),
            state.agent_state,
            env_params=env_params,
            agent_params=agent_params,
        )
        outputs = {
            "train": train,
            "episode_returns": evaluation["episode_returns"],
            "episode_lengths": evaluation["episode_lengths"],
        }
        return state, outputs

    def program(
        keys: jax.Array, segment_chunks: jax.Array, env_params: Any, agent_params: Any
    ) -> tuple[_RunState, dict]:
        global _trace_count
        _trace_count += 1
        states = _over_seeds(init, plan.num_seeds, (0, None, None))(keys, env_params, agent_params)
        total_steps = jnp.sum(segment_chunks) * chunk_steps
        names = metric_names(jax.tree.map(lambda x: x[0], states), env_params, agent_params)
        # Metrics of the latest update, for a segment in which no rollout completed.
        latest = {name: jnp.full((plan.num_seeds,), jnp.nan, jnp.float32) for name in names}

        def boundary(carry: tuple, inputs: tuple) -> tuple[tuple, dict]:
            states, latest = carry
            index, num_chunks = inputs
            states, outputs = _over_seeds(
                lambda s, i, n, e, a: segment(s, i, n, names, e, a),
                plan.num_seeds,
                (0, None, None, None, None),
            )(states, index, num_chunks, env_params, agent_params)
            updated = outputs["train"].pop("updates") > 0
            train = {
                name: value if name == "reward" else jnp.where(updated, value, latest[name])
                for name, value in outputs["train"].items()
            }
            outputs["train"] = train
            latest = {name: train.get(name, value) for name, value in latest.items()}
            if plan.progress:
                loss = outputs["train"].get("loss", jnp.full((plan.num_seeds,), jnp.nan))
                jax.debug.callback(
                    _progress_printer(plan), states.step[0], total_steps, loss, outputs["episode_returns"]
                )
            return (states, latest), outputs

        indices = jnp.arange(plan.num_boundaries, dtype=jnp.int32)
        (states, _), outputs = jax.lax.scan(boundary, (states, latest), (indices, segment_chunks))
        return states, outputs

    return program


def _over_seeds(fn: Callable[..., Any], num_seeds: int, in_axes: tuple) -> Callable[..., Any]:
    """``jax.vmap(fn, in_axes)`` over the seed axis; with one seed, ``fn`` on that seed's slice.

    One seed runs unbatched so that ``lax.cond`` in agents stays a branch rather than the
    ``select`` of both sides that batching turns it into.
    """
    if num_seeds > 1:
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args: Any) -> Any:
        args = [
            jax.tree.map(lambda x: x[0], a) if axis == 0 else a for a, axis in zip(args, in_axes, strict=True)
        ]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return single


def _progress_printer(plan: _Plan) -> Callable[..., None]:
    seeds = f" (mean of {plan.num_seeds} seeds)" if plan.num_seeds > 1 else ""

    def show(steps: np.ndarray, total: np.ndarray, loss: np.ndarray, returns: np.ndarray) -> None:
        steps, total = int(steps), int(total)
        elapsed = time.perf_counter() - _run_started
        rate = steps * plan.num_envs * plan.num_seeds / max(elapsed, 1e-9)
        width = len(f"{total:,}")
        print(
            f"[myriad-bench] step {steps:>{width},}/{total:,} ({100 * steps / total:3.0f}%) | "
            f"loss {float(np.mean(loss)):.4g} | eval return {float(np.mean(returns)):.1f} "
            f"± {float(np.mean(np.std(returns, axis=-1))):.1f}{seeds} | {rate:,.0f} env steps/s",
            file=sys.stdout,
            flush=True,
        )

    return show


_run_started = time.perf_counter()


# --------------------------------------------------------------------------- compile cache


def _leaf_signature(tree: Any) -> tuple:
    return tuple(
        (np.shape(x), jax.dtypes.canonicalize_dtype(np.asarray(x).dtype)) for x in jax.tree.leaves(tree)
    )


def _as_arrays(tree: Any) -> Any:
    # Strongly typed arrays: the compiled program's inputs do not depend on Python scalar types.
    return jax.tree.map(
        lambda x: jnp.asarray(np.asarray(x), jax.dtypes.canonicalize_dtype(np.asarray(x).dtype)), tree
    )


def _cache_key(env: Environment, agent: Agent, plan: _Plan) -> Hashable:
    """What the traced program depends on besides its argument values."""
    return (
        env.name,
        env.config,
        env.reset_env,
        env.step_env,
        env.observation_space,
        env.action_space,
        jax.tree.structure(env.params),
        _leaf_signature(env.params),
        agent.name,
        agent.action_space,
        agent.init,
        agent.select_action,
        agent.update,
        agent.init_carry,
        jax.tree.structure(agent.params),
        _leaf_signature(agent.params),
        plan,
    )


def _program(env: Environment, agent: Agent, plan: _Plan) -> tuple[Callable[..., Any], float]:
    """The compiled program for this run and the seconds spent compiling it (0 when cached)."""
    key = _cache_key(env, agent, plan)
    with _programs_lock:
        compiled = _programs.get(key)
        if compiled is not None:
            _programs.move_to_end(key)
            return compiled, 0.0
        started = time.perf_counter()
        keys = jax.ShapeDtypeStruct((plan.num_seeds,), _seed_keys([0]).dtype)
        segment_chunks = jax.ShapeDtypeStruct((plan.num_boundaries,), jnp.int32)
        compiled = (
            jax.jit(_build_program(env, agent, plan))
            .lower(keys, segment_chunks, _as_arrays(env.params), _as_arrays(agent.params))
            .compile()
        )
        seconds = time.perf_counter() - started
        _programs[key] = compiled
        if len(_programs) > _CACHE_SIZE:
            _programs.popitem(last=False)
        return compiled, seconds


def clear_compiled_programs() -> None:
    """Forget every cached training program (the next run compiles again)."""
    with _programs_lock:
        _programs.clear()


# --------------------------------------------------------------------------- public API


def _resolve(config: Config, agent: Agent | None) -> tuple[Environment, Agent]:
    if not isinstance(config, Config):
        raise TypeError(
            f"train_and_evaluate() needs a Config (create_config/load_config), got {type(config).__name__}"
        )
    env = make_env(config.env.name, **config.env.params())
    if agent is None:
        agent = make_agent(config.agent.name, env.action_space, **config.agent.params())
    return env, agent


def training_key(seed: int) -> jax.Array:
    """The root key of a run of ``seed`` (what ``train_and_evaluate`` passes to ``make_train``'s ``train``).

    Training draws its randomness (actions, exploration, minibatches, initial weights) from
    :data:`~myriad_bench.envs.vector.HASH_PRNG`, the counter-based generator the vectorised
    environments use: a few fused integer operations per draw instead of threefry's rounds,
    which on CPU cuts both the per-step cost of small-batch training and compile time.
    """
    return jax.random.key(int(seed), impl=HASH_PRNG)


def _seed_keys(seeds: Sequence[int]) -> jax.Array:
    return jnp.stack([training_key(seed) for seed in seeds])


def _seed_list(config: Config, seeds: Sequence[int] | None) -> list[int]:
    if seeds is None:
        return [config.run.seed]
    values = list(seeds)
    if not values:
        raise ValueError("seeds must name at least one seed, got an empty list")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ValueError(f"seeds must be integers, got {seed!r} in {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds must be distinct (each gets its own run dir seed-<k>), got {values!r}")
    return [int(seed) for seed in values]


def _verbose(verbose: bool | None) -> bool:
    if verbose is not None:
        return bool(verbose)
    setting = os.environ.get(VERBOSE_ENV_VAR)
    if setting is not None:
        return setting.strip().lower() not in ("", "0", "false", "no", "off")
    return "PYTEST_CURRENT_TEST" not in os.environ


def compile_training(
    config: Config,
    agent: Agent | None = None,
    seeds: Sequence[int] | None = None,
    verbose: bool | None = None,
) -> float:
    """Compile (or find cached) the program ``train_and_evaluate`` would run; return the seconds spent.

    Lets a caller time compilation apart from the run: a following ``train_and_evaluate``
    with the same arguments (any seed values) reuses the program.
    """
    env, agent = _resolve(config, agent)
    plan = _plan(config, env, agent, len(_seed_list(config, seeds)), _verbose(verbose))
    return _program(env, agent, plan)[1]


def make_train(config: Config, agent: Agent | None = None) -> Callable[[jax.Array], tuple[Any, dict]]:
    """PureJaxRL's ``make_train``: a pure ``train(key) -> (final_state, outputs)`` for one seed.

    ``train(training_key(seed))`` is the run ``train_and_evaluate`` makes for ``seed``.

    ``jax.jit(train)`` runs the whole run; ``jax.vmap(train)`` over keys runs seeds side by side.
    ``final_state`` has ``agent_state``, ``env_state`` and ``obs``; ``outputs`` has ``train``
    (a dict of ``(num_boundaries,)`` metrics: ``reward`` and the agent's metrics) and
    ``episode_returns`` / ``episode_lengths`` ``(num_boundaries, eval_rollouts)``.
    """
    env, agent = _resolve(config, agent)
    plan = _plan(config, env, agent, 1, progress=False)
    program = _build_program(env, agent, plan)
    segment_chunks = jnp.asarray(_segment_chunks(config, plan))

    def train(key: jax.Array) -> tuple[Any, dict]:
        states, outputs = program(key[None], segment_chunks, env.params, agent.params)
        states = jax.tree.map(lambda x: x[0], states)
        return states, jax.tree.map(lambda x: x[:, 0], outputs)

    return train


def train_and_evaluate(
    config: Config,
    agent: Agent | None = None,
    seeds: Sequence[int] | None = None,
    run_dir: Path | str | None = None,
    verbose: bool | None = None,
) -> TrainingResults | list[TrainingResults]:
    """Train ``config``'s agent on its environment, evaluating at every boundary; save the results.

    Args:
        config: the run. ``make_env(config.env.name, **config.env.params())`` and
            ``make_agent(config.agent.name, env.action_space, **config.agent.params())``.
        agent: an agent to train instead of the one the config names.
        seeds: train these seeds side by side in one compiled program (``config.run.seed``
            is ignored) and return one result per seed, each as a single run of that seed.
        run_dir: where results go; by default a fresh ``outputs/<date>/<time>/``. With
            ``seeds``, each seed's run goes to ``<run_dir>/seed-<k>/``.
        verbose: print a progress line at each evaluation boundary. By default on, except
            under pytest; the environment variable ``MYRIAD_BENCH_VERBOSE`` (1/0) decides
            when set.

    Returns:
        :class:`TrainingResults` (a list of them with ``seeds``) holding the trained agent
        state, per-boundary training metrics (``loss`` and the agent's other metrics
        averaged over the segment, mean ``reward`` per step) and evaluation metrics (raw
        returns and lengths of ``eval_rollouts`` greedy episodes), the final environment
        state and the config of that seed. Each is saved to its run dir (``.hydra/config.yaml``,
        ``results.pkl``, ``run_metadata.yaml``; ``checkpoints/final.msgpack`` with
        ``config.run.save_agent_checkpoint``).
    """
    global _run_started
    run_info = RunInfo.start()
    env, agent = _resolve(config, agent)
    seed_values = _seed_list(config, seeds)
    plan = _plan(config, env, agent, len(seed_values), _verbose(verbose))
    compiled, _ = _program(env, agent, plan)

    keys = _seed_keys(seed_values)
    _run_started = time.perf_counter()
    segment_chunks = jnp.asarray(_segment_chunks(config, plan))
    states, outputs = compiled(keys, segment_chunks, _as_arrays(env.params), _as_arrays(agent.params))
    outputs = jax.device_get(outputs)
    run_info = run_info.finish()

    base = default_run_dir() if run_dir is None else Path(run_dir)
    results = []
    for index, seed in enumerate(seed_values):
        seed_config = config.model_copy(update={"run": config.run.model_copy(update={"seed": seed})})
        directory = base if seeds is None else base / f"seed-{seed}"
        result = _seed_results(seed_config, states, outputs, index, directory)
        result.save(directory, save_checkpoint=config.run.save_agent_checkpoint, run_info=run_info)
        results.append(result)
    return results[0] if seeds is None else results


def _seed_results(
    config: Config, states: _RunState, outputs: dict, index: int, run_dir: Path
) -> TrainingResults:
    steps_per_env = list(_boundaries(config))
    global_steps = [steps * config.run.num_envs for steps in steps_per_env]
    train = {name: np.asarray(values[:, index], np.float64) for name, values in outputs["train"].items()}
    reward = train.pop("reward")
    loss = train.pop("loss", None)
    returns = np.asarray(outputs["episode_returns"][:, index], np.float32)
    lengths = np.asarray(outputs["episode_lengths"][:, index], np.int32)
    state = jax.tree.map(lambda x: x[index], states)
    return TrainingResults(
        agent_state=state.agent_state,
        training_metrics=TrainingMetrics(
            global_steps=global_steps,
            steps_per_env=steps_per_env,
            loss=None if loss is None else loss.tolist(),
            reward=reward.tolist(),
            agent_metrics={name: values.tolist() for name, values in train.items()} or None,
        ),
        eval_metrics=EvaluationMetrics(
            global_steps=list(global_steps),
            steps_per_env=list(steps_per_env),
            episode_returns=list(returns),
            episode_lengths=list(lengths),
            mean_return=returns.mean(axis=-1).astype(float).tolist(),
            std_return=returns.std(axis=-1).astype(float).tolist(),
            mean_length=lengths.mean(axis=-1).astype(float).tolist(),
        ),
        config=config,
        run_dir=run_dir,
        final_env_state=TrainingEnvState(env_state=state.env_state, obs=state.obs),
    )
