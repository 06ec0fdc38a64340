"""The training program: a whole run of one (environment, agent, plan) as a pure JAX function.

:class:`TrainingLoop` builds ``program(keys (S,), segment_chunks (B,), env_params,
agent_params) -> (states, outputs)`` (S seeds, B evaluation boundaries) in small steps:

- :meth:`~TrainingLoop.env_step`: one step of the ``num_envs`` environments with the agent's
  exploring actions; :meth:`~TrainingLoop.collect`: a ``lax.scan`` of such steps;
- :meth:`~TrainingLoop.learn`: one ``agent.update`` on a full rollout (through the replay
  buffer for off-policy agents); :meth:`~TrainingLoop.turn`: one chunk of steps and, when it
  completes a rollout, the update;
- :meth:`~TrainingLoop.segment`: the turns up to a boundary (a ``lax.fori_loop`` whose count
  is an argument), then the greedy evaluation there through the shared rollout;
- :meth:`~TrainingLoop.program`: a ``lax.scan`` over boundaries, seeds ``vmap``-ed inside.

Randomness depends on position only: step t uses ``fold_in(step_key, t)``, update u
``fold_in(update_key, u)``, boundary b ``fold_in(eval_key, b)``. Where the boundaries fall
therefore does not change the training, and seeds are independent streams.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from myriad_bench.agents.agent import Agent
from myriad_bench.core.replay_buffer import ReplayBuffer
from myriad_bench.core.transition import Transition
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.vector import vector_reset, vector_step
from myriad_bench.platform.plan import Plan
from myriad_bench.platform.rollout import make_rollout, reset_carry

__all__ = ["ProgressPrinter", "RunState", "TrainingLoop"]


@struct.dataclass
class RunState:
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


class _Params(NamedTuple):
    """The program's parameter arguments (traced, so new values reuse the program)."""

    env: Any
    agent: Any


class ProgressPrinter:
    """The progress line printed at each boundary (a host callback inside the program).

    The program is compiled once and run many times, so the run's start time is set by
    :meth:`begin` before each run rather than captured when the program is built.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.started = time.perf_counter()

    def begin(self) -> None:
        self.started = time.perf_counter()

    def __call__(
        self, steps: np.ndarray, total: np.ndarray, loss: np.ndarray, returns: np.ndarray, spread: np.ndarray
    ) -> None:
        """Print the line: ``loss``, ``returns`` and ``spread`` are means over the seeds."""
        plan = self.plan
        steps, total = int(steps), int(total)
        elapsed = time.perf_counter() - self.started
        rate = steps * plan.num_envs * plan.num_seeds / max(elapsed, 1e-9)
        width = len(f"{total:,}")
        seeds = f" (mean of {plan.num_seeds} seeds)" if plan.num_seeds > 1 else ""
        print(
            f"[myriad-bench] step {steps:>{width},}/{total:,} ({100 * steps / total:3.0f}%) | "
            f"loss {float(loss):.4g} | eval return {float(returns):.1f} "
            f"± {float(spread):.1f}{seeds} | {rate:,.0f} env steps/s",
            file=sys.stdout,
            flush=True,
        )


class TrainingLoop:
    """The training program of ``agent`` on ``env`` under ``plan`` (see the module docstring).

    Outputs of :meth:`program` (leading axes: boundary B, seed S): ``train`` metrics ``(B, S)``
    — ``reward`` (mean per step) and each metric the agent's ``update`` returns, averaged over
    the segment's updates (a segment that completes no rollout repeats the latest values; NaN
    before the first update) — and ``episode_returns`` / ``episode_lengths``
    ``(B, S, eval_rollouts)``.
    """

    def __init__(self, env: Environment, agent: Agent, plan: Plan) -> None:
        self.env, self.agent, self.plan = env, agent, plan
        self.evaluation = make_rollout(env, agent, plan.eval_rollouts, plan.eval_max_steps)
        self.progress = ProgressPrinter(plan) if plan.progress else None

    # ------------------------------------------------------------------ steps and updates

    def env_step(self, state: RunState, step: jax.Array, p: _Params) -> tuple[RunState, Transition]:
        key_action, key_env = jax.random.split(jax.random.fold_in(state.keys[_STEP], step))
        action, policy_carry = self.agent.select_action(
            key_action, state.obs, state.policy_carry, state.agent_state, p.agent, False
        )
        next_obs, env_state, reward, done, info = vector_step(
            self.env._replace(params=p.env), key_env, state.env_state, action
        )
        transition = Transition(
            obs=state.obs,
            action=action,
            reward=reward.astype(jnp.float32),
            next_obs=next_obs,
            done=done,
            terminated=info["terminated"],
        )
        policy_carry = reset_carry(self.agent, p.agent, policy_carry, done)
        return state.replace(env_state=env_state, obs=next_obs, policy_carry=policy_carry), transition

    def collect(self, state: RunState, num_steps: int, p: _Params) -> tuple[RunState, Transition]:
        """``num_steps`` (static) steps of every environment: ``(state, Transition (num_steps, N))``."""
        if num_steps == 1:
            state, transition = self.env_step(state, state.step, p)
            batch = jax.tree.map(lambda x: x[None], transition)
        else:
            state, batch = jax.lax.scan(
                lambda s, t: self.env_step(s, t, p),
                state,
                state.step + jnp.arange(num_steps, dtype=jnp.int32),
            )
        return state.replace(step=state.step + num_steps), batch

    def learn(self, state: RunState, rollout_batch: Transition, p: _Params) -> tuple[RunState, dict]:
        """One ``agent.update`` on a full rollout (fed through the replay buffer if off-policy)."""
        update = state.step // self.plan.rollout_steps - 1
        buffer = state.buffer
        if self.plan.off_policy:
            buffer = buffer.add(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), rollout_batch))
            batch = buffer.sample(jax.random.fold_in(state.keys[_SAMPLE], update), self.plan.batch_size)
        else:
            batch = rollout_batch
        key = jax.random.fold_in(state.keys[_UPDATE], update)
        agent_state, metrics = self.agent.update(key, state.agent_state, batch, p.agent)
        metrics = {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
        return state.replace(agent_state=agent_state, buffer=buffer), metrics

    def metric_names(self, state: RunState, p: _Params) -> list[str]:
        """Names of the metrics ``agent.update`` returns (traced abstractly, once per program)."""
        shapes = jax.eval_shape(
            lambda s: self.learn(*self.collect(s, self.plan.rollout_steps, p), p)[1], state
        )
        for name, shape in shapes.items():
            if shape.shape != ():
                raise ValueError(
                    f"agent {self.agent.name!r}: update() returned metric {name!r} with shape "
                    f"{shape.shape}; metrics must be scalars"
                )
        return list(shapes)

    def turn(self, state: RunState, names: list[str], p: _Params, step: jax.Array) -> tuple:
        """One loop turn: ``chunk_steps`` steps, and an update when they complete a rollout.

        ``step`` is the step count before the turn, passed apart from ``state.step`` (which holds
        the same number) because it is one value for every seed: under ``vmap`` the rollout's
        ``lax.cond`` then stays a branch. Computed from the seed's own (batched) counter it became
        a ``select`` that ran the update at every turn and threw most of them away (the suite's
        PPO case: 4 turns a rollout, 8 seeds ran 24× one seed's time instead of about 8×).
        Returns ``(state, metrics, reward, updated)`` with ``updated`` a float 0/1.
        """
        chunk_steps, rollout_steps = self.plan.chunk_steps, self.plan.rollout_steps
        state, batch = self.collect(state, chunk_steps, p)
        reward = jnp.sum(batch.reward)
        if chunk_steps == rollout_steps:
            state, metrics = self.learn(state, batch, p)
            return state, metrics, reward, jnp.float32(1.0)
        offset = step % rollout_steps
        rollout_batch = jax.tree.map(
            lambda store, x: jax.lax.dynamic_update_slice_in_dim(store, x, offset, axis=0),
            state.rollout,
            batch,
        )
        state = state.replace(rollout=rollout_batch)
        complete = (step + chunk_steps) % rollout_steps == 0
        state, metrics = jax.lax.cond(
            complete,
            lambda s: self.learn(s, rollout_batch, p),
            lambda s: (s, {name: jnp.zeros((), jnp.float32) for name in names}),
            state,
        )
        return state, metrics, reward, complete.astype(jnp.float32)

    # ------------------------------------------------------------------ a seed's run

    def init(self, key: jax.Array, p: _Params) -> RunState:
        plan = self.plan
        key_reset, key_agent, key_run = jax.random.split(key, 3)
        obs, env_state = vector_reset(self.env._replace(params=p.env), key_reset, plan.num_envs)
        state = RunState(
            agent_state=self.agent.init(key_agent, obs[0], p.agent),
            env_state=env_state,
            obs=obs,
            policy_carry=self.agent.init_carry(plan.num_envs, p.agent),
            buffer=None,
            rollout=None,
            step=jnp.zeros((), jnp.int32),
            keys=jax.random.split(key_run, 4),
        )
        shapes = jax.eval_shape(lambda s: self.collect(s, 1, p)[1], state)
        if plan.off_policy:
            example = jax.tree.map(lambda x: jnp.zeros(x.shape[2:], x.dtype), shapes)
            state = state.replace(buffer=ReplayBuffer.create(example, plan.buffer_size))
        if plan.chunk_steps != plan.rollout_steps:
            rollout_batch = jax.tree.map(
                lambda x: jnp.zeros((plan.rollout_steps, *x.shape[1:]), x.dtype), shapes
            )
            state = state.replace(rollout=rollout_batch)
        return state

    def segment(
        self,
        state: RunState,
        index: jax.Array,
        num_chunks: jax.Array,
        names: list[str],
        p: _Params,
        first_step: jax.Array,
    ) -> tuple[RunState, dict]:
        """``num_chunks`` (traced) loop turns from step ``first_step`` (one value for every seed),
        then the evaluation of boundary ``index``."""

        # Sums in one vector: [metrics..., reward, updates], one add per turn.
        def body(turn: jax.Array, carry: tuple) -> tuple:
            state, sums = carry
            step = first_step + turn * self.plan.chunk_steps
            state, metrics, reward, updated = self.turn(state, names, p, step)
            return state, sums + jnp.stack([*(metrics[name] for name in names), reward, updated])

        start = state.step
        state, sums = jax.lax.fori_loop(
            0, num_chunks, body, (state, jnp.zeros((len(names) + 2,), jnp.float32))
        )
        updates = sums[-1]
        train = {name: sums[i] / jnp.maximum(updates, 1.0) for i, name in enumerate(names)}
        train["reward"] = sums[-2] / ((state.step - start) * self.plan.num_envs).astype(jnp.float32)
        train["updates"] = updates
        evaluation = self.evaluation(
            jax.random.fold_in(state.keys[_EVAL], index),
            state.agent_state,
            env_params=p.env,
            agent_params=p.agent,
        )
        outputs = {
            "train": train,
            "episode_returns": evaluation["episode_returns"],
            "episode_lengths": evaluation["episode_lengths"],
        }
        return state, outputs

    # ------------------------------------------------------------------ the whole program

    def program(
        self, keys: jax.Array, segment_chunks: jax.Array, env_params: Any, agent_params: Any
    ) -> tuple[RunState, dict]:
        """The run of every seed: ``(final states (S, ...), outputs (B, S, ...))``."""
        plan, p = self.plan, _Params(env_params, agent_params)
        states = over_seeds(self.init, plan.num_seeds, (0, None))(keys, p)
        total_steps = jnp.sum(segment_chunks) * plan.chunk_steps
        names = self.metric_names(jax.tree.map(lambda x: x[0], states), p)
        # Metrics of the latest update, for a segment in which no rollout completed.
        latest = {name: jnp.full((plan.num_seeds,), jnp.nan, jnp.float32) for name in names}

        def boundary(carry: tuple, inputs: tuple) -> tuple[tuple, dict]:
            states, latest = carry
            index, num_chunks = inputs
            states, outputs = over_seeds(
                lambda s, i, n, q, first: self.segment(s, i, n, names, q, first),
                plan.num_seeds,
                (0, None, None, None, None),
            )(states, index, num_chunks, p, states.step[0])
            updated = outputs["train"].pop("updates") > 0
            train = {
                name: value if name == "reward" else jnp.where(updated, value, latest[name])
                for name, value in outputs["train"].items()
            }
            outputs["train"] = train
            latest = {name: train.get(name, value) for name, value in latest.items()}
            if self.progress is not None:
                # Means taken in the program: with seeds sharded over devices, the callback then
                # gathers scalars rather than every seed's arrays.
                loss = jnp.mean(outputs["train"].get("loss", jnp.full((plan.num_seeds,), jnp.nan)))
                returns = outputs["episode_returns"]
                spread = jnp.mean(jnp.std(returns, axis=-1))
                jax.debug.callback(
                    self.progress, states.step[0], total_steps, loss, jnp.mean(returns), spread
                )
            return (states, latest), outputs

        indices = jnp.arange(plan.num_boundaries, dtype=jnp.int32)
        (states, _), outputs = jax.lax.scan(boundary, (states, latest), (indices, segment_chunks))
        return states, outputs


def over_seeds(fn: Callable[..., Any], num_seeds: int, in_axes: tuple) -> Callable[..., Any]:
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
