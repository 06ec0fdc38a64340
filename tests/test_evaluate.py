"""evaluate(): statistics, the saved run dir, the compiled-rollout cache and trained agent states."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import myriad_bench as mb
from myriad_bench.agents import Agent, register_agent
from myriad_bench.configs import load_config
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs import Environment, register_env
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.rundir import read_run_metadata

# --- a tiny task and agent whose episodes are known by hand --------------------------------------
# "test-eval-stairs": start at 0; action 1 climbs one step, 0 stays; reward 1 per step; the
# episode terminates on reaching the top (3) and is truncated after 10 steps. Tracing its step
# function appends to STEP_TRACES, so the tests can count compilations.

STEP_TRACES: list[int] = []


@dataclass(frozen=True)
class StairsConfig:
    max_steps: int = 10


@struct.dataclass
class StairsParams:
    top: float = 3.0


@struct.dataclass
class StairsState:
    position: jax.Array
    time: jax.Array


def stairs_reset(key, params, config):
    state = StairsState(position=jnp.float32(0.0), time=jnp.int32(0))
    return state.position[None], state


def stairs_step(key, state, action, params, config):
    STEP_TRACES.append(1)
    position = state.position + action.astype(jnp.float32)
    next_state = StairsState(position=position, time=state.time + 1)
    return position[None], next_state, jnp.float32(1.0), position >= params.top, {}


def make_stairs(**overrides) -> Environment:
    return Environment(
        name="test-eval-stairs",
        config=StairsConfig(),
        params=StairsParams(**overrides),
        observation_space=Box(low=0.0, high=10.0, shape=(1,)),
        action_space=Discrete(2),
        reset_env=stairs_reset,
        step_env=stairs_step,
    )


# "test-gate": a state-ful agent that climbs while the position is below state["limit"].
@struct.dataclass
class GateParams:
    initial_limit: float = 100.0


def gate_init(key, obs, params):
    return {"limit": jnp.float32(params.initial_limit)}


def gate_select_action(key, obs, carry, state, params, deterministic):
    return (obs[:, 0] < state["limit"]).astype(jnp.int32), carry


def make_gate(action_space, **hyperparams) -> Agent:
    return Agent(
        name="test-gate",
        action_space=action_space,
        params=GateParams(**hyperparams),
        init=gate_init,
        select_action=gate_select_action,
    )


register_env("test-eval-stairs", make_stairs, overwrite=True)
register_agent("test-gate", make_gate, overwrite=True)


@pytest.fixture(scope="module")
def cartpole_results(tmp_path_factory):
    config = mb.create_eval_config(env="cartpole-control", agent="bangbang", eval_rollouts=16, seed=3)
    run_dir = tmp_path_factory.mktemp("cartpole-eval")
    return mb.evaluate(config, return_episodes=True, run_dir=run_dir)


def test_statistics_match_the_raw_arrays(cartpole_results):
    results = cartpole_results
    returns, lengths = results.episode_returns, results.episode_lengths
    assert isinstance(returns, np.ndarray) and returns.shape == (16,)
    assert isinstance(lengths, np.ndarray) and lengths.shape == (16,)
    assert results.num_episodes == 16 and results.seed == 3
    assert results.mean_return == pytest.approx(returns.mean())
    assert results.std_return == pytest.approx(returns.std())
    assert (results.min_return, results.max_return) == (returns.min(), returns.max())
    assert results.mean_length == pytest.approx(lengths.mean())
    assert results.std_length == pytest.approx(lengths.std())
    assert (results.min_length, results.max_length) == (lengths.min(), lengths.max())
    assert isinstance(results.min_length, int) and isinstance(results.mean_return, float)
    # CartPole pays 1 per step, and the default bang-bang keeps the pole up for a while.
    np.testing.assert_allclose(returns, lengths)
    assert results.std_length > 0 and results.mean_length > 100


def test_episodes_are_numpy_arrays_of_the_documented_shapes(cartpole_results):
    episodes = cartpole_results.episodes
    assert set(episodes) == {"observations", "actions", "rewards", "dones"}
    assert all(isinstance(value, np.ndarray) for value in episodes.values())
    assert episodes["observations"].shape == (16, 500, 4)
    assert episodes["actions"].shape == (16, 500)
    assert episodes["rewards"].shape == episodes["dones"].shape == (16, 500)
    np.testing.assert_allclose(episodes["rewards"].sum(axis=1), cartpole_results.episode_returns)


def test_saved_run_dir_loads_back(cartpole_results):
    run_dir = cartpole_results.run_dir
    loaded = mb.EvaluationResults.load(run_dir)
    assert loaded.summary() == cartpole_results.summary()
    np.testing.assert_array_equal(loaded.episode_returns, cartpole_results.episode_returns)
    np.testing.assert_array_equal(loaded.episodes["actions"], cartpole_results.episodes["actions"])
    assert loaded.config == cartpole_results.config and loaded.agent_state is None
    assert load_config(run_dir / ".hydra" / "config.yaml", mb.EvalConfig) == cartpole_results.config
    metadata = read_run_metadata(run_dir)
    assert metadata["result_type"] == "EvaluationResults" and metadata["duration_s"] > 0
    assert not (run_dir / "checkpoints").exists()  # save_agent_checkpoint is off by default


def test_second_evaluate_of_the_same_shape_does_not_retrace(tmp_path):
    config = mb.create_eval_config(env="test-eval-stairs", agent="random", eval_rollouts=8, seed=0)
    first = mb.evaluate(config, run_dir=tmp_path / "a")
    traces = len(STEP_TRACES)
    assert traces > 0
    # Another seed, another run dir, a fresh (equal) env and agent: the same compiled program.
    again = config.model_copy(update={"run": config.run.model_copy(update={"seed": 1})})
    second = mb.evaluate(again, run_dir=tmp_path / "b")
    assert len(STEP_TRACES) == traces
    assert not np.array_equal(first.episode_lengths, second.episode_lengths)
    # New parameter values are arguments too (a higher top), but a new shape compiles anew.
    higher = config.model_copy(update={"env": mb.EnvConfig(name="test-eval-stairs", top=5.0)})
    assert mb.evaluate(higher, run_dir=tmp_path / "c").min_length >= 5
    assert len(STEP_TRACES) == traces
    more = config.model_copy(update={"run": config.run.model_copy(update={"eval_rollouts": 9})})
    mb.evaluate(more, run_dir=tmp_path / "d")
    assert len(STEP_TRACES) > traces


def test_random_agent_lengths_on_stairs_are_within_the_task_bounds(tmp_path):
    config = mb.create_eval_config(env="test-eval-stairs", agent="random", eval_rollouts=64, seed=2)
    results = mb.evaluate(config, run_dir=tmp_path)
    # The top (3) takes at least 3 steps; truncation ends the others at 10.
    assert results.min_length >= 3 and results.max_length <= 10
    assert results.min_length < results.max_length


def test_raw_agent_state_dict_is_restored_and_checkpoint_round_trips(tmp_path):
    config = mb.create_eval_config(
        env="test-eval-stairs", agent="test-gate", eval_rollouts=4, save_agent_checkpoint=True
    )
    climbing = mb.evaluate(config, run_dir=tmp_path / "init")  # limit 100: climbs in 3 steps
    np.testing.assert_array_equal(climbing.episode_lengths, [3, 3, 3, 3])

    # A raw state dict, as TrainingResults.load_agent returns it: limit 0 never climbs.
    stuck = mb.evaluate(config, agent_state={"limit": np.float32(0.0)}, run_dir=tmp_path / "raw")
    np.testing.assert_array_equal(stuck.episode_lengths, [10, 10, 10, 10])
    assert isinstance(stuck.agent_state["limit"], jax.Array)

    checkpoint = tmp_path / "raw" / "checkpoints" / "final.msgpack"
    raw = mb.TrainingResults.load_agent(checkpoint)
    reloaded = mb.evaluate(config, agent_state=raw, run_dir=tmp_path / "reloaded")
    np.testing.assert_array_equal(reloaded.episode_lengths, stuck.episode_lengths)

    with pytest.raises(ArtifactError, match="agent_state for agent 'test-gate'"):
        mb.evaluate(config, agent_state={"threshold": np.float32(0.0)}, run_dir=tmp_path / "bad")


def test_given_agent_replaces_the_configured_one(tmp_path):
    config = mb.create_eval_config(env="test-eval-stairs", agent="random", eval_rollouts=4)
    gate = make_gate(Discrete(2), initial_limit=1.0)  # climbs to 1, then stays until truncation
    results = mb.evaluate(config, agent=gate, run_dir=tmp_path)
    np.testing.assert_array_equal(results.episode_lengths, [10, 10, 10, 10])
    assert results.agent_state["limit"] == 1.0


def test_training_config_is_reduced_and_default_run_dir_is_dated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = mb.create_config(
        env="test-eval-stairs", agent="random", steps_per_env=10, eval_rollouts=2, eval_max_steps=4
    )
    results = mb.evaluate(config)
    assert isinstance(results.config, mb.EvalConfig) and results.config.run.eval_max_steps == 4
    assert results.max_length <= 4
    date_dir, time_dir = results.run_dir.relative_to("outputs").parts
    assert (
        len(date_dir) == len("2026-01-31")
        and len(time_dir) == len("14-30-52")
        and (results.run_dir / "results.pkl").is_file()
    )


def test_wrong_config_type_is_rejected():
    with pytest.raises(TypeError, match="needs an EvalConfig"):
        mb.evaluate({"env": "cartpole-control"})
