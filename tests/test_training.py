"""train_and_evaluate: boundaries, metrics, determinism, compile-once, seeds, custom agents, persistence."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import myriad_bench as mb
from myriad_bench.agents.agent import Agent
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs.environment import Environment
from myriad_bench.platform import training
from myriad_bench.platform.programs import program_cache_stats
from myriad_bench.platform.resolve import VERBOSE_ENV_VAR
from myriad_bench.platform.types import TrainingEnvState, TrainingResults

# ------------------------------------------------------------------ a tiny PQN run, shared


def pqn_config(**overrides: Any) -> mb.Config:
    settings = dict(
        num_envs=4,
        steps_per_env=200,
        eval_frequency=64,
        eval_rollouts=3,
        eval_max_steps=100,
        rollout_steps=16,
        seed=7,
        num_minibatches=2,
        num_epochs=1,
        hidden_sizes=[16, 16],
    )
    settings.update(overrides)
    return mb.create_config(env="cartpole-control", agent="pqn", **settings)


@pytest.fixture(scope="module")
def pqn_run(tmp_path_factory: pytest.TempPathFactory) -> TrainingResults:
    return mb.train_and_evaluate(pqn_config(), run_dir=tmp_path_factory.mktemp("pqn"))


def training_compiles() -> int:
    return program_cache_stats().compiles_by_kind.get("training", 0)


def leaves_equal(a: Any, b: Any) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_boundaries_are_multiples_of_eval_frequency_and_the_end(pqn_run: TrainingResults) -> None:
    evals, train = pqn_run.eval_metrics, pqn_run.training_metrics
    assert evals.steps_per_env == [64, 128, 192, 200]
    assert evals.global_steps == [256, 512, 768, 800]
    assert train.steps_per_env == evals.steps_per_env and train.global_steps == evals.global_steps
    assert pqn_run.summary()["num_eval_checkpoints"] == 4
    # 200 steps of rollouts of 16: 12 updates, the 8 steps after the last one are not trained on.
    assert int(pqn_run.agent_state.step) == 192


def test_metrics_have_one_entry_per_boundary(pqn_run: TrainingResults) -> None:
    train, evals = pqn_run.training_metrics, pqn_run.eval_metrics
    assert len(train.loss) == len(train.reward) == 4
    assert set(train.agent_metrics) == {"q_value", "td_error", "epsilon"}
    assert all(len(values) == 4 for values in train.agent_metrics.values())
    # The last segment (steps 192..200) completes no rollout: it repeats the latest update's values.
    assert np.all(np.isfinite(train.loss))
    assert train.loss[3] == train.loss[2]
    # CartPole pays 1 per step.
    assert train.reward == pytest.approx([1.0] * 4)
    assert np.all(np.diff(train.agent_metrics["epsilon"][:3]) < 0)
    for returns, lengths in zip(evals.episode_returns, evals.episode_lengths, strict=True):
        assert returns.shape == lengths.shape == (3,)
        assert np.all((lengths >= 1) & (lengths <= 100))
        np.testing.assert_allclose(returns, lengths)  # reward 1 per step
    assert evals.mean_return == pytest.approx([float(np.mean(r)) for r in evals.episode_returns])
    assert evals.std_return == pytest.approx([float(np.std(r)) for r in evals.episode_returns])


def test_final_env_state_and_config(pqn_run: TrainingResults) -> None:
    state = pqn_run.final_env_state
    assert isinstance(state, TrainingEnvState)
    assert state.obs.shape == (4, 4)
    assert pqn_run.config == pqn_config()


def test_same_config_and_seed_give_identical_results_without_retracing(
    pqn_run: TrainingResults, tmp_path: Any
) -> None:
    compiles = training_compiles()
    again = mb.train_and_evaluate(pqn_config(), run_dir=tmp_path / "again")
    assert training_compiles() == compiles, "a second run of the same static config compiled again"
    assert again.training_metrics == pqn_run.training_metrics
    np.testing.assert_array_equal(again.eval_metrics.episode_returns, pqn_run.eval_metrics.episode_returns)
    assert leaves_equal(again.agent_state, pqn_run.agent_state)

    # Another seed and other hyperparameter values reuse the program too, and change the run.
    other = mb.train_and_evaluate(pqn_config(seed=8, learning_rate=3e-3), run_dir=tmp_path / "other")
    assert training_compiles() == compiles
    assert compile_seconds_cached(pqn_config(seed=9)) == 0.0
    assert not leaves_equal(other.agent_state, pqn_run.agent_state)


def compile_seconds_cached(config: mb.Config) -> float:
    return training.compile_training(config)


def test_where_evaluations_fall_does_not_change_training(pqn_run: TrainingResults, tmp_path: Any) -> None:
    # Randomness depends on the step index only, so moving the boundaries (here to a step
    # count that is not a multiple of the rollout) leaves the trained agent bit-for-bit equal.
    moved = mb.train_and_evaluate(pqn_config(eval_frequency=50), run_dir=tmp_path)
    assert moved.eval_metrics.steps_per_env == [50, 100, 150, 200]
    assert leaves_equal(moved.agent_state, pqn_run.agent_state)


def test_seeds_run_in_one_program_and_match_single_runs(pqn_run: TrainingResults, tmp_path: Any) -> None:
    many = mb.train_and_evaluate(pqn_config(), seeds=[7, 11], run_dir=tmp_path)
    assert [r.config.run.seed for r in many] == [7, 11]
    assert [r.run_dir for r in many] == [tmp_path / "seed-7", tmp_path / "seed-11"]
    assert all((tmp_path / f"seed-{k}" / "results.pkl").is_file() for k in (7, 11))
    # Seed 7 inside the vmapped program is the same run as seed 7 alone (up to float noise).
    first = many[0]
    np.testing.assert_allclose(first.training_metrics.loss, pqn_run.training_metrics.loss, rtol=1e-3)
    np.testing.assert_allclose(
        first.eval_metrics.episode_returns, pqn_run.eval_metrics.episode_returns, rtol=1e-3
    )
    for a, b in zip(jax.tree.leaves(first.agent_state), jax.tree.leaves(pqn_run.agent_state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert not leaves_equal(many[1].agent_state, many[0].agent_state)


def test_saved_run_dir_round_trips_and_the_agent_evaluates(tmp_path: Any) -> None:
    config = pqn_config(save_agent_checkpoint=True)
    results = mb.train_and_evaluate(config, run_dir=tmp_path / "run")
    run_dir = tmp_path / "run"
    for name in (".hydra/config.yaml", "results.pkl", "run_metadata.yaml", "checkpoints/final.msgpack"):
        assert (run_dir / name).is_file(), name
    loaded = TrainingResults.load(run_dir)
    assert loaded.training_metrics == results.training_metrics
    assert loaded.config == config and loaded.agent_state is None

    raw = TrainingResults.load_agent(run_dir / "checkpoints" / "final.msgpack")
    from_disk = mb.evaluate(config, agent_state=raw, run_dir=tmp_path / "eval-disk")
    in_memory = mb.evaluate(config, agent_state=results.agent_state, run_dir=tmp_path / "eval-memory")
    np.testing.assert_array_equal(from_disk.episode_returns, in_memory.episode_returns)
    assert leaves_equal(from_disk.agent_state, results.agent_state)


def test_make_train_is_the_same_run(pqn_run: TrainingResults) -> None:
    train = jax.jit(training.make_train(pqn_config()))
    final, outputs = train(training.training_key(7))
    assert outputs["episode_returns"].shape == (4, 3)
    np.testing.assert_array_equal(
        np.asarray(outputs["episode_returns"]), np.stack(pqn_run.eval_metrics.episode_returns)
    )
    # Hyperparameters are constants here (arguments in train_and_evaluate): float noise only.
    for a, b in zip(jax.tree.leaves(final.agent_state), jax.tree.leaves(pqn_run.agent_state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ DQN and PPO through the loop


def test_dqn_trains_from_its_replay_buffer(tmp_path: Any) -> None:
    config = mb.create_config(
        env="cartpole-control",
        agent="dqn",
        num_envs=2,
        steps_per_env=300,
        eval_frequency=100,
        eval_rollouts=2,
        eval_max_steps=50,
        buffer_size=128,
        batch_size=8,
        learning_starts=50,
        epsilon_decay_steps=200,
        epsilon_end=0.05,
        target_update_period=25,
        hidden_sizes=[16],
    )
    results = mb.train_and_evaluate(config, run_dir=tmp_path)
    state = results.agent_state
    assert int(state.step) == 300  # one update per step
    # The target network was synced at update 300 (a multiple of 25) after learning started.
    assert leaves_equal(state.target_params, state.params)
    epsilon = results.training_metrics.agent_metrics["epsilon"]
    assert epsilon[0] > epsilon[1] > epsilon[2] == pytest.approx(0.05)
    assert np.all(np.isfinite(results.training_metrics.loss))


def test_ppo_trains_on_its_rollouts(tmp_path: Any) -> None:
    config = mb.create_config(
        env="cartpole-control",
        agent="ppo",
        num_envs=4,
        steps_per_env=96,
        eval_frequency=48,
        eval_rollouts=2,
        eval_max_steps=50,
        rollout_steps=24,
        hidden_sizes=[16],
        num_minibatches=2,
        num_epochs=2,
    )
    results = mb.train_and_evaluate(config, run_dir=tmp_path)
    metrics = results.training_metrics.agent_metrics
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "value"} <= set(metrics)
    assert 0.0 < metrics["entropy"][0] <= np.log(2) + 1e-6
    assert int(results.agent_state.step) == 96


# ------------------------------------------------------------------ user-registered agent and env


@struct.dataclass
class WalkState:
    position: jax.Array
    time: jax.Array


@dataclasses.dataclass(frozen=True)
class WalkConfig:
    max_steps: int = 6


def walk_reset(key: jax.Array, params: Any, config: WalkConfig) -> tuple[jax.Array, WalkState]:
    state = WalkState(position=jnp.zeros((), jnp.float32), time=jnp.zeros((), jnp.int32))
    return state.position[None], state


def walk_step(key: jax.Array, state: WalkState, action: jax.Array, params: Any, config: WalkConfig) -> tuple:
    position = state.position + 2.0 * action - 1.0
    next_state = WalkState(position=position, time=state.time + 1)
    return position[None], next_state, action.astype(jnp.float32), jnp.abs(position) >= 3.0, {}


def make_walk(**overrides: Any) -> Environment:
    """A 1-D walk: action 1 steps right and pays 1; three steps from the start ends the episode."""
    return Environment(
        name="test-walk",
        config=WalkConfig(**overrides),
        params={},
        observation_space=Box(low=-3.0, high=3.0, shape=(1,)),
        action_space=Discrete(2),
        reset_env=walk_reset,
        step_env=walk_step,
    )


@struct.dataclass
class TallyState:
    updates: jax.Array
    transitions: jax.Array
    reward: jax.Array
    batch_shape: jax.Array


def make_tally(action_space: Any, off_policy: bool = False, rollout_steps: int = 5) -> Agent:
    """Acts at random and counts what training feeds its update."""

    def init(key: jax.Array, obs: jax.Array, params: Any) -> TallyState:
        zero = jnp.zeros((), jnp.int32)
        return TallyState(zero, zero, jnp.zeros((), jnp.float32), jnp.zeros((2,), jnp.int32))

    def select_action(key, obs, carry, state, params, deterministic):
        if deterministic:
            return jnp.ones(obs.shape[:1], jnp.int32), carry
        return action_space.sample(key, obs.shape[:1]), carry

    def update(key: jax.Array, state: TallyState, batch: Any, params: Any) -> tuple[TallyState, dict]:
        shape = batch.reward.shape if batch.reward.ndim == 2 else (*batch.reward.shape, 0)
        new = TallyState(
            updates=state.updates + 1,
            transitions=state.transitions + batch.reward.size,
            reward=state.reward + jnp.sum(batch.reward),
            batch_shape=jnp.asarray(shape, jnp.int32),
        )
        return new, {"loss": jnp.float32(0.5), "batch_reward": jnp.mean(batch.reward)}

    return Agent(
        name="test-tally",
        action_space=action_space,
        params=None,
        init=init,
        select_action=select_action,
        update=update,
        off_policy=off_policy,
        rollout_steps=rollout_steps,
    )


@pytest.fixture(scope="module", autouse=True)
def registered() -> Any:
    mb.register_env("test-walk", make_walk, overwrite=True)
    mb.register_agent("test-tally", make_tally, overwrite=True)
    yield


@pytest.fixture(scope="module", autouse=True)
def quiet() -> Any:
    # The progress line is on unless asked otherwise; these tests look at it in one place only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(VERBOSE_ENV_VAR, "0")
        yield


def test_user_agent_and_env_train_like_builtins(tmp_path: Any) -> None:
    config = mb.create_config(
        env="test-walk", agent="test-tally", num_envs=3, steps_per_env=23, eval_frequency=10, eval_rollouts=2
    )
    results = mb.train_and_evaluate(config, run_dir=tmp_path)
    state = results.agent_state
    # Rollouts of 5 steps: updates after steps 5, 10, ..., 20; steps 21-23 wait for a rollout
    # that training ends before.
    assert int(state.updates) == 4
    assert np.asarray(state.batch_shape).tolist() == [5, 3]
    assert int(state.transitions) == 4 * 5 * 3
    assert results.eval_metrics.steps_per_env == [10, 20, 23]
    # Mean reward per step over each segment equals the reward the agent was fed.
    rewards = np.asarray(results.training_metrics.reward)
    fed = float(state.reward)
    assert fed == pytest.approx(rewards[0] * 10 * 3 + rewards[1] * 10 * 3)
    assert 0.0 < rewards.mean() < 1.0
    assert results.training_metrics.loss == [0.5, 0.5, 0.5]
    # Greedy evaluation always steps right: three steps to the end, paying 1 each.
    np.testing.assert_array_equal(results.eval_metrics.episode_returns[-1], [3.0, 3.0])


def test_user_off_policy_agent_gets_replay_samples(tmp_path: Any) -> None:
    agent = make_tally(Discrete(2), off_policy=True, rollout_steps=2)
    config = mb.create_config(
        env="test-walk",
        agent="test-tally",
        num_envs=3,
        steps_per_env=12,
        eval_frequency=4,
        eval_rollouts=2,
        batch_size=7,
        buffer_size=5,
    )
    results = mb.train_and_evaluate(config, agent=agent, run_dir=tmp_path)
    state = results.agent_state
    assert int(state.updates) == 6
    assert np.asarray(state.batch_shape).tolist() == [7, 0]
    assert int(state.transitions) == 6 * 7


def progress_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[myriad-bench]")]


def test_progress_line_at_each_boundary_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = mb.create_config(
        env="test-walk", agent="test-tally", num_envs=2, steps_per_env=20, eval_frequency=10, eval_rollouts=2
    )
    mb.train_and_evaluate(config, run_dir=tmp_path / "quiet")
    assert capsys.readouterr().out == ""  # MYRIAD_BENCH_VERBOSE=0 (the module's fixture)
    mb.train_and_evaluate(config, run_dir=tmp_path / "loud", verbose=True)
    lines = progress_lines(capsys.readouterr().out)
    assert len(lines) == 2
    assert "step 10/20 ( 50%)" in lines[0] and "step 20/20 (100%)" in lines[1]
    assert "loss 0.5" in lines[0] and "eval return 3.0" in lines[1]
    # An explicit verbose wins over the variable; without either the line is on (pytest or not).
    monkeypatch.setenv(VERBOSE_ENV_VAR, "1")
    mb.train_and_evaluate(config, run_dir=tmp_path / "explicit", verbose=False)
    assert capsys.readouterr().out == ""
    monkeypatch.delenv(VERBOSE_ENV_VAR)
    mb.train_and_evaluate(config, run_dir=tmp_path / "default")
    assert len(progress_lines(capsys.readouterr().out)) == 2


# ------------------------------------------------------------------ errors


def test_bad_arguments_are_named() -> None:
    config = pqn_config()
    with pytest.raises(ValueError, match="at least one seed"):
        mb.train_and_evaluate(config, seeds=[])
    with pytest.raises(ValueError, match="distinct"):
        mb.train_and_evaluate(config, seeds=[1, 1])
    with pytest.raises(ValueError, match="integers"):
        mb.train_and_evaluate(config, seeds=[1.5])
    with pytest.raises(TypeError, match="needs a Config"):
        mb.train_and_evaluate(mb.config_to_eval_config(config))


def test_agent_metrics_must_be_scalars(tmp_path: Any) -> None:
    agent = make_tally(Discrete(2))
    update = agent.update
    agent = agent._replace(update=lambda k, s, b, p: (update(k, s, b, p)[0], {"per_env": b.reward[0]}))
    config = mb.create_config(
        env="test-walk", agent="test-tally", num_envs=3, steps_per_env=10, eval_frequency=10
    )
    with pytest.raises(ValueError, match=r"metric 'per_env' with shape \(3,\); metrics must be scalars"):
        mb.train_and_evaluate(config, agent=agent, run_dir=tmp_path)
