"""``train_and_evaluate``: a whole training run, evaluations included, as one compiled JAX program.

The run follows PureJaxRL's ``make_train``: :func:`make_train` builds a pure ``train(key)``;
seeds are a ``vmap`` axis; the host sees only the final arrays. The program itself is
:class:`~myriad_bench.platform.loop.TrainingLoop`; its static shape is a
:class:`~myriad_bench.platform.plan.Plan`.

- Every ``rollout_steps`` steps of the ``num_envs`` vectorised environments, ``agent.update``
  runs once: on-policy agents get that rollout (a ``Transition`` shaped
  ``(rollout_steps, num_envs, ...)``), off-policy agents (``Agent.off_policy``) get
  ``run.batch_size`` transitions sampled from a replay buffer of ``run.buffer_size`` that the
  rollout is added to first. ``rollout_steps`` is ``run.rollout_steps``, else the agent's
  default (``Agent.rollout_steps``). Steps after the last complete rollout are taken but not
  trained on.
- At each evaluation boundary (the multiples of ``eval_frequency`` and the end) the agent plays
  ``eval_rollouts`` greedy episodes through the shared evaluation rollout, and the segment's
  mean reward per step and the mean of each metric ``update`` returned (``loss``,
  ``q_value``, ...) are recorded.

Compiling, running and assembling results are separate steps (:func:`prepare_training`), so a
caller can time the run alone. Programs live in the one cache of
:mod:`~myriad_bench.platform.programs`: another seed, other hyperparameter values, environment
constants or step counts with the same number of boundaries and chunk size reuse a program; with
JAX's persistent compilation cache enabled, later processes skip XLA compilation too.
Hyperparameters are program arguments, so ``sweep=`` trains a grid of their values × the seeds
in one program (:mod:`~myriad_bench.platform.sweep`); with several local devices the seeds are
sharded over them (:mod:`~myriad_bench.platform.devices`).

>>> config = create_config(env="cartpole-control", agent="pqn", num_envs=32, steps_per_env=2_000,
...                        eval_frequency=500)
>>> results = train_and_evaluate(config)                  # doctest: +SKIP
>>> many = train_and_evaluate(config, seeds=[0, 1, 2, 3])  # doctest: +SKIP
>>> program = prepare_training(config, seeds=[0, 1])      # doctest: +SKIP
>>> program.results(program.run(), run_dir="runs/pqn")    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from myriad_bench.agents.agent import Agent
from myriad_bench.configs import Config
from myriad_bench.core.random import HASH_PRNG
from myriad_bench.platform.devices import SeedLayout, seed_layout
from myriad_bench.platform.loop import ProgressPrinter, TrainingLoop
from myriad_bench.platform.plan import Plan, boundaries, make_plan, segment_chunks
from myriad_bench.platform.programs import (
    PROGRAMS,
    Compilation,
    clear_compiled_programs,
    signature,
    static_key,
)
from myriad_bench.platform.resolve import resolve, resolve_verbose
from myriad_bench.platform.sweep import Sweep, as_arrays, make_sweep, sweep_program
from myriad_bench.platform.types import EvaluationMetrics, TrainingEnvState, TrainingMetrics, TrainingResults
from myriad_bench.store.rundir import RunInfo, default_run_dir

__all__ = [
    "TrainingOutputs",
    "TrainingProgram",
    "clear_compiled_programs",
    "compile_training",
    "make_train",
    "prepare_training",
    "train_and_evaluate",
    "training_key",
]


def training_key(seed: int) -> jax.Array:
    """The root key of a run of ``seed`` (what ``train_and_evaluate`` passes to ``make_train``'s ``train``).

    Training draws its randomness (actions, exploration, minibatches, initial weights) from
    :data:`~myriad_bench.core.random.HASH_PRNG`, the counter-based generator the vectorised
    environments use (see :mod:`myriad_bench.core.random` for why and how it compares).
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
        if not -(2**31) <= seed < 2**31:
            raise ValueError(f"seeds must be 32-bit signed integers (wider ones wrap), got {seed!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds must be distinct (each gets its own run dir seed-<k>), got {values!r}")
    return [int(seed) for seed in values]


@dataclass(frozen=True)
class TrainingOutputs:
    """What one run of a :class:`TrainingProgram` left on the host (NumPy), for ``results``."""

    seeds: list[int]
    states: dict[str, Any]
    """Final ``agent_state``, ``env_state`` and ``obs``, each with a leading seed axis (after
    the sweep axis of a sweep: ``(P, S, ...)``)."""
    outputs: dict[str, Any]
    """``train`` metrics ``(B, S)`` and ``episode_returns`` / ``episode_lengths`` ``(B, S, E)``
    (``(P, B, S, ...)`` for a sweep of P points). Seeds past ``len(seeds)`` pad the seed axis
    to a multiple of the devices and are never read."""
    run_info: RunInfo


class TrainingProgram:
    """A compiled training run of one config: :meth:`run` it (timed), then assemble :meth:`results`.

    Made by :func:`prepare_training`. ``compile_s`` is the seconds that call spent compiling
    (``0.0`` when the program was cached), ``compilation`` how the program was obtained (its cold
    compile time and whether JAX's persistent cache served it); ``env_steps`` the environment
    steps one run takes over all seeds and sweep points. ``sweep`` is the
    :class:`~myriad_bench.platform.sweep.Sweep` it trains (``None`` without one), ``layout``
    the devices its seeds run on (:mod:`~myriad_bench.platform.devices`).
    """

    def __init__(
        self,
        config: Config,
        seeds: list[int],
        per_seed_dirs: bool,
        plan: Plan,
        compiled: Callable[..., Any],
        progress: ProgressPrinter | None,
        params: tuple[Any, Any],
        compilation: Compilation,
        layout: SeedLayout,
        sweep: Sweep | None = None,
    ) -> None:
        self.config = config
        self.seeds = seeds
        self.compilation = compilation
        self.compile_s = compilation.seconds
        self.layout = layout
        self.sweep = sweep
        points = 1 if sweep is None else sweep.num_points
        self.env_steps = config.run.total_timesteps * len(seeds) * points
        self._per_seed_dirs = per_seed_dirs
        self._compiled = compiled
        self._progress = progress
        self._params = layout.replicate(params)
        self._segment_chunks = layout.replicate(jnp.asarray(segment_chunks(config, plan)))
        self._keys = layout.pad(_seed_keys(seeds))

    def run(self, seeds: Sequence[int] | None = None) -> TrainingOutputs:
        """Run the program for ``seeds`` (by default the prepared ones; any as many reuse it).

        Blocks until the run is done and its results are on the host.
        """
        seed_values = self.seeds if seeds is None else _seed_list(self.config, seeds)
        if len(seed_values) != len(self.seeds):
            raise ValueError(
                f"this program trains {len(self.seeds)} seed(s) at once, got {len(seed_values)}: "
                f"{seed_values!r}; prepare_training(config, seeds=...) compiles one for that many"
            )
        run_info = RunInfo.start()
        keys = self._keys if seed_values == self.seeds else self.layout.pad(_seed_keys(seed_values))
        if self._progress is not None:
            self._progress.begin()
        states, outputs = self._compiled(keys, self._segment_chunks, *self._params)
        wanted = {"agent_state": states.agent_state, "env_state": states.env_state, "obs": states.obs}
        host_states, host_outputs = jax.device_get(jax.block_until_ready((wanted, outputs)))
        return TrainingOutputs(list(seed_values), host_states, host_outputs, run_info.finish())

    def results(
        self, outputs: TrainingOutputs, run_dir: Path | str | None = None, save: bool = True
    ) -> list[TrainingResults] | list[list[TrainingResults]]:
        """One :class:`TrainingResults` per seed of ``outputs``, saved unless ``save=False``.

        ``run_dir`` is where the results go (default: a fresh ``outputs/<date>/<time>/``); a
        program prepared with ``seeds`` puts each seed in ``<run_dir>/seed-<k>/``. A sweep's
        program returns one such list per sweep point, point ``i`` under ``<run_dir>/sweep-<i>/``,
        each result's config carrying its point's values. Only NumPy slicing and one
        host-to-device copy of each seed's state: nothing compiles here.
        """
        if run_dir is None and not save:
            raise ValueError("results(save=False) needs a run_dir: each result records where it belongs")
        base = default_run_dir() if run_dir is None else Path(run_dir)
        if self.sweep is None:
            return self._point_results(self.config, outputs, base, save)
        return [
            self._point_results(config, _point(outputs, index), base / f"sweep-{index}", save)
            for index, config in enumerate(self.sweep.configs)
        ]

    def _point_results(
        self, config: Config, outputs: TrainingOutputs, base: Path, save: bool
    ) -> list[TrainingResults]:
        results = []
        for index, seed in enumerate(outputs.seeds):
            directory = base / f"seed-{seed}" if self._per_seed_dirs else base
            result = _seed_results(config, seed, outputs, index, directory)
            if save:
                checkpoint = config.run.save_agent_checkpoint
                result.save(directory, save_checkpoint=checkpoint, run_info=outputs.run_info)
            results.append(result)
        return results


def _point(outputs: TrainingOutputs, index: int) -> TrainingOutputs:
    """Sweep point ``index`` of a sweep's outputs (its leading axis sliced off)."""
    pick = lambda tree: jax.tree.map(lambda x: x[index], tree)  # noqa: E731
    return TrainingOutputs(outputs.seeds, pick(outputs.states), pick(outputs.outputs), outputs.run_info)


def prepare_training(
    config: Config,
    agent: Agent | None = None,
    seeds: Sequence[int] | None = None,
    verbose: bool | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
) -> TrainingProgram:
    """Compile (or find cached) the training program of ``config``; return it ready to run.

    Arguments as in :func:`train_and_evaluate`. ``verbose``: a progress line at each evaluation
    boundary; by default the environment variable ``MYRIAD_BENCH_VERBOSE`` (1/0) decides, and
    when it is unset the line is on.
    """
    if not isinstance(config, Config):
        raise TypeError(
            f"train_and_evaluate() needs a Config (create_config/load_config), got {type(config).__name__}"
        )
    points = None if sweep is None else make_sweep(config, sweep, agent)
    env, agent = resolve(config, agent)
    seed_values = _seed_list(config, seeds)
    layout = seed_layout(len(seed_values))
    plan = make_plan(config, env, agent, layout.num_runs, resolve_verbose(verbose))
    params = as_arrays((env.params, agent.params)) if points is None else points.params
    key = (
        "training",
        static_key(env),
        static_key(agent),
        plan,
        signature(params),
        layout.key(),
        None if points is None else points.program_key(),
    )

    def build() -> tuple[Callable[..., Any], ProgressPrinter | None]:
        # Over several devices, each runs the program of its share of the seeds (devices.py).
        loop = TrainingLoop(env, agent, plan._replace(num_seeds=layout.seeds_per_device))
        program = loop.program if points is None else sweep_program(loop.program, points)
        if layout.num_devices > 1:
            program = layout.shard(program, sweep_axes=0 if points is None else 1)
        jitted = jax.jit(program)
        keys = jax.ShapeDtypeStruct((plan.num_seeds,), _seed_keys([0]).dtype)
        chunks = jax.ShapeDtypeStruct((plan.num_boundaries,), jnp.int32)
        return jitted.lower(keys, chunks, *params).compile(), loop.progress

    (compiled, progress), compilation = PROGRAMS.get(key, build)
    per_seed_dirs = seeds is not None
    return TrainingProgram(
        config, seed_values, per_seed_dirs, plan, compiled, progress, params, compilation, layout, points
    )


def compile_training(
    config: Config,
    agent: Agent | None = None,
    seeds: Sequence[int] | None = None,
    verbose: bool | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
) -> float:
    """Compile (or find cached) the program ``train_and_evaluate`` would run; return the seconds spent.

    A following ``train_and_evaluate`` with the same arguments (any seed values) reuses it.
    """
    return prepare_training(config, agent, seeds, verbose, sweep).compile_s


def make_train(config: Config, agent: Agent | None = None) -> Callable[[jax.Array], tuple[Any, dict]]:
    """PureJaxRL's ``make_train``: a pure ``train(key) -> (final_state, outputs)`` for one seed.

    ``train(training_key(seed))`` is the run ``train_and_evaluate`` makes for ``seed``.

    ``jax.jit(train)`` runs the whole run; ``jax.vmap(train)`` over keys runs seeds side by side.
    ``final_state`` has ``agent_state``, ``env_state`` and ``obs``; ``outputs`` has ``train``
    (a dict of ``(num_boundaries,)`` metrics: ``reward`` and the agent's metrics) and
    ``episode_returns`` / ``episode_lengths`` ``(num_boundaries, eval_rollouts)``.
    """
    env, agent = resolve(config, agent)
    plan = make_plan(config, env, agent, 1, progress=False)
    program = TrainingLoop(env, agent, plan).program
    chunks = jnp.asarray(segment_chunks(config, plan))

    def train(key: jax.Array) -> tuple[Any, dict]:
        states, outputs = program(key[None], chunks, env.params, agent.params)
        states = jax.tree.map(lambda x: x[0], states)
        return states, jax.tree.map(lambda x: x[:, 0], outputs)

    return train


def train_and_evaluate(
    config: Config,
    agent: Agent | None = None,
    seeds: Sequence[int] | None = None,
    run_dir: Path | str | None = None,
    verbose: bool | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
) -> TrainingResults | list[TrainingResults] | list[list[TrainingResults]]:
    """Train ``config``'s agent on its environment, evaluating at every boundary; save the results.

    Args:
        config: the run. ``make_env(config.env.name, **config.env.params())`` and
            ``make_agent(config.agent.name, env.action_space, control=env.control,
            **config.agent.params())``.
        agent: an agent to train instead of the one the config names.
        seeds: train these seeds side by side in one compiled program (``config.run.seed``
            is ignored) and return one result per seed, each as a single run of that seed.
        run_dir: where results go; by default a fresh ``outputs/<date>/<time>/``. With
            ``seeds``, each seed's run goes to ``<run_dir>/seed-<k>/``.
        verbose: print a progress line at each evaluation boundary. By default the environment
            variable ``MYRIAD_BENCH_VERBOSE`` (1/0) decides, and when it is unset the line is on.
        sweep: hyperparameter name -> list of values (``{"learning_rate": [1e-3, 3e-4]}``):
            train every point of their grid (``itertools.product`` order) for every seed in one
            compiled program (:mod:`~myriad_bench.platform.sweep`). Only numbers of the
            agent's params can be swept; a run setting or a static hyperparameter raises
            ``ValueError`` naming the key.

    Returns:
        :class:`TrainingResults` (a list of them with ``seeds``) holding the trained agent
        state, per-boundary training metrics (``loss`` and the agent's other metrics
        averaged over the segment, mean ``reward`` per step) and evaluation metrics (raw
        returns and lengths of ``eval_rollouts`` greedy episodes), the final environment
        state and the config of that seed. Each is saved to its run dir (``.hydra/config.yaml``,
        ``results.pkl``, ``run_metadata.yaml``; ``checkpoints/final.msgpack`` with
        ``config.run.save_agent_checkpoint``).

        With ``sweep``: always a list over the sweep points of lists over the seeds
        (``[config.run.seed]`` without ``seeds``), ``results[i][j]`` the run of point ``i`` and
        seed ``j``, equal to a separate run of it; its config holds the point's values and it is
        saved under ``<run_dir>/sweep-<i>/`` (then ``seed-<k>/`` with ``seeds``).
    """
    program = prepare_training(config, agent, seeds, verbose, sweep)
    results = program.results(program.run(), run_dir=run_dir)
    return results[0] if seeds is None and sweep is None else results


def _seed_results(
    config: Config, seed: int, outputs: TrainingOutputs, index: int, run_dir: Path
) -> TrainingResults:
    """Seed ``index`` of ``outputs`` as the results of a single run of ``seed`` (NumPy slicing only)."""
    config = config.model_copy(update={"run": config.run.model_copy(update={"seed": seed})})
    steps_per_env = list(boundaries(config))
    global_steps = [steps * config.run.num_envs for steps in steps_per_env]
    out = outputs.outputs
    train = {name: np.asarray(values[:, index], np.float64) for name, values in out["train"].items()}
    reward = train.pop("reward")
    loss = train.pop("loss", None)
    returns = np.asarray(out["episode_returns"][:, index], np.float32)
    lengths = np.asarray(out["episode_lengths"][:, index], np.int32)
    # One copy per seed back to the device: results hold JAX arrays, as the sliced run state did.
    state = jax.device_put(jax.tree.map(lambda x: _take(x, index), outputs.states))
    return TrainingResults(
        agent_state=state["agent_state"],
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
        final_env_state=TrainingEnvState(env_state=state["env_state"], obs=state["obs"]),
    )


def _take(leaf: Any, index: int) -> Any:
    """Seed ``index`` of a host leaf; typed PRNG keys, which ``device_get`` leaves on the device, too.

    A key sharded over several devices comes back to the first one, with the rest of the state.
    """
    if not isinstance(leaf, jax.Array):
        return np.array(leaf[index])
    if len(leaf.sharding.device_set) > 1:
        return jax.device_put(leaf[index], jax.local_devices()[0])
    return leaf[index]
