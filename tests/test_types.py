"""The seed's result types: summary, repr, save layout, load, agent checkpoints, round trips."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from hypothesis import given

import myriad_bench as mb
import myriad_bench.strategies as mbst
from myriad_bench.configs import EvalConfig, create_config, create_eval_config, load_config
from myriad_bench.platform.types import (
    EvaluationMetrics,
    EvaluationResults,
    TrainingEnvState,
    TrainingMetrics,
    TrainingResults,
    stack_episode_returns,
)
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.rundir import RunInfo, read_run_metadata


def _training_results(
    names: tuple[str, str], num_evals: int = 3, agent_state: object = None
) -> TrainingResults:
    env, agent = names
    config = create_config(env=env, agent=agent, num_envs=4, steps_per_env=3000, eval_rollouts=2, lr=0.1)
    steps = [1000 * (i + 1) for i in range(num_evals)]
    returns = [np.array([10.0 * i, 10.0 * i + 2], np.float32) for i in range(num_evals)]
    lengths = [np.array([5, 7], np.int32) for _ in range(num_evals)]
    return TrainingResults(
        agent_state=agent_state,
        training_metrics=TrainingMetrics(
            global_steps=[4 * s for s in steps], steps_per_env=steps, loss=[0.5] * num_evals
        ),
        eval_metrics=EvaluationMetrics(
            global_steps=[4 * s for s in steps],
            steps_per_env=steps,
            episode_returns=returns,
            episode_lengths=lengths,
            mean_return=[float(r.mean()) for r in returns],
            std_return=[float(r.std()) for r in returns],
            mean_length=[6.0] * num_evals,
        ),
        config=config,
        run_dir=Path("outputs/run"),
        final_env_state=TrainingEnvState(env_state={"time": jnp.zeros(4, jnp.int32)}, obs=jnp.ones((4, 2))),
    )


def _evaluation_results(names: tuple[str, str], agent_state: object = None) -> EvaluationResults:
    env, agent = names
    returns = np.array([1.0, 2.0, 6.0], np.float32)
    lengths = np.array([10, 20, 30], np.int32)
    return EvaluationResults(
        mean_return=3.0,
        std_return=float(returns.std()),
        min_return=1.0,
        max_return=6.0,
        mean_length=20.0,
        std_length=float(lengths.std()),
        min_length=10,
        max_length=30,
        episode_returns=returns,
        episode_lengths=lengths,
        num_episodes=3,
        seed=5,
        config=create_eval_config(env=env, agent=agent, eval_rollouts=3, seed=5),
        run_dir=Path("outputs/eval"),
        agent_state=agent_state,
    )


def _empty_training_results(names: tuple[str, str]) -> TrainingResults:
    env, agent = names
    return TrainingResults(
        agent_state=None,
        training_metrics=TrainingMetrics(global_steps=[], steps_per_env=[]),
        eval_metrics=EvaluationMetrics([], [], [], [], [], [], []),
        config=create_config(env=env, agent=agent, steps_per_env=1),
        run_dir=Path("."),
    )


# --------------------------------------------------------------------------- the seed's behaviour


def test_training_summary_reads_the_last_checkpoint(names: tuple[str, str]) -> None:
    results = _training_results(names)
    assert results.summary() == {
        "final_eval_return_mean": 21.0,
        "final_eval_return_std": 1.0,
        "training_steps_per_env": 3000,
        "training_global_steps": 12000,
        "num_eval_checkpoints": 3,
    }


def test_training_summary_of_empty_history_has_defaults(names: tuple[str, str]) -> None:
    assert _empty_training_results(names).summary() == {
        "final_eval_return_mean": 0.0,
        "final_eval_return_std": 0.0,
        "training_steps_per_env": 0,
        "training_global_steps": 0,
        "num_eval_checkpoints": 0,
    }


def test_training_repr_is_the_seed_text(names: tuple[str, str]) -> None:
    results = _training_results(names)
    results.eval_metrics.steps_per_env[-1] = 1_234_567
    assert repr(results) == (
        "TrainingResults(\n"
        "  final_eval_return=21.0 ± 1.0,\n"
        "  steps_per_env=1,234,567,\n"
        "  global_steps=12,000,\n"
        "  num_evals=3\n"
        ")"
    )
    assert repr(_empty_training_results(names)).splitlines()[1] == "  final_eval_return=0.0 ± 0.0,"


def test_evaluation_summary_and_repr(names: tuple[str, str]) -> None:
    results = _evaluation_results(names)
    assert results.summary() == {
        "mean_return": 3.0,
        "std_return": pytest.approx(2.160247),
        "min_return": 1.0,
        "max_return": 6.0,
        "mean_length": 20.0,
        "num_episodes": 3,
    }
    assert repr(results) == (
        "EvaluationResults(\n"
        "  mean_return=3.0 ± 2.2,\n"
        "  range=[1.0, 6.0],\n"
        "  mean_length=20.0,\n"
        "  num_episodes=3\n"
        ")"
    )


def test_field_order_and_defaults_follow_the_seed() -> None:
    from dataclasses import MISSING, fields

    def layout(cls: type) -> list[tuple[str, bool]]:
        return [(f.name, f.default is MISSING) for f in fields(cls)]

    assert layout(TrainingResults) == [
        ("agent_state", True),
        ("training_metrics", True),
        ("eval_metrics", True),
        ("config", True),
        ("run_dir", True),
        ("final_env_state", False),
    ]
    assert [name for name, _ in layout(EvaluationResults)] == [
        "mean_return", "std_return", "min_return", "max_return", "mean_length", "std_length",
        "min_length", "max_length", "episode_returns", "episode_lengths", "num_episodes", "seed",
        "config", "run_dir", "episodes", "agent_state",
    ]  # fmt: skip
    assert layout(TrainingMetrics)[2:] == [("loss", False), ("reward", False), ("agent_metrics", False)]


def test_training_env_state_is_a_pytree() -> None:
    state = TrainingEnvState(env_state={"time": jnp.arange(3)}, obs=jnp.ones((3, 2)))
    doubled = jax.jit(lambda s: jax.tree.map(lambda x: x * 2, s))(state)
    assert isinstance(doubled, TrainingEnvState)
    np.testing.assert_array_equal(doubled.env_state["time"], [0, 2, 4])
    assert len(jax.tree.leaves(state)) == 2


def test_results_are_exported_from_the_package() -> None:
    assert mb.TrainingResults is TrainingResults and mb.EvaluationResults is EvaluationResults


# --------------------------------------------------------------------------- save and load


def test_save_writes_the_seed_layout(tmp_path: Path, names: tuple[str, str]) -> None:
    results = _training_results(names, agent_state={"w": np.arange(3.0)})
    results.save(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        ".hydra/config.yaml",
        "results.pkl",
        "run_metadata.yaml",
    ]
    # The caller's object keeps its agent and env state; the pickle has neither.
    assert results.agent_state is not None and results.final_env_state is not None
    with open(tmp_path / "results.pkl", "rb") as f:
        stored = pickle.load(f)
    assert stored.agent_state is None and stored.final_env_state is None
    assert load_config(tmp_path / ".hydra" / "config.yaml") == results.config
    assert read_run_metadata(tmp_path)["result_type"] == "TrainingResults"


def test_checkpoint_only_when_asked_and_present(tmp_path: Path, names: tuple[str, str]) -> None:
    with_state = _training_results(names, agent_state={"w": np.arange(3.0)})
    with_state.save(tmp_path / "asked", save_checkpoint=True)
    raw = TrainingResults.load_agent(tmp_path / "asked" / "checkpoints" / "final.msgpack")
    np.testing.assert_array_equal(raw["w"], np.arange(3.0))
    _training_results(names).save(tmp_path / "no-state", save_checkpoint=True)
    assert not (tmp_path / "no-state" / "checkpoints").exists()
    _evaluation_results(names, agent_state={"k": np.ones(2)}).save(tmp_path / "eval", save_checkpoint=True)
    assert (tmp_path / "eval" / "checkpoints" / "final.msgpack").is_file()


def test_load_returns_what_was_saved(tmp_path: Path, names: tuple[str, str]) -> None:
    results = _training_results(names, agent_state={"w": np.arange(3.0)})
    results.save(tmp_path)
    loaded = TrainingResults.load(tmp_path)
    expected = _training_results(names)  # same data, no agent or env state
    expected.final_env_state = None
    assert mbst.values_equal(loaded, expected), mbst.first_difference(loaded, expected)
    assert TrainingResults.load(tmp_path / "results.pkl").summary() == results.summary()


def test_load_of_the_other_result_type_names_both(tmp_path: Path, names: tuple[str, str]) -> None:
    _evaluation_results(names).save(tmp_path)
    with pytest.raises(
        ArtifactError, match=r"results\.pkl holds a EvaluationResults, expected TrainingResults"
    ):
        TrainingResults.load(tmp_path)
    assert isinstance(EvaluationResults.load(tmp_path).config, EvalConfig)


def test_load_of_a_missing_dir_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere.results\.pkl"):
        TrainingResults.load(tmp_path / "nowhere")


def test_load_checks_the_fields_of_what_it_unpickles(tmp_path: Path, names: tuple[str, str]) -> None:
    results = _training_results(names)
    results.config = {"not": "a config"}  # type: ignore[assignment]
    from myriad_bench.store.pickles import dump_results_pickle

    dump_results_pickle(results, tmp_path / "results.pkl")
    with pytest.raises(ArtifactError, match=r"TrainingResults\.config is a dict, expected Config"):
        TrainingResults.load(tmp_path)


def test_save_records_run_times(tmp_path: Path, names: tuple[str, str]) -> None:
    info = RunInfo.start().finish(duration_s=12.5)
    _training_results(names).save(tmp_path, run_info=info)
    metadata = yaml.safe_load((tmp_path / "run_metadata.yaml").read_text())
    assert metadata["duration_s"] == 12.5
    assert metadata["created"].endswith("+00:00") and metadata["finished"] >= metadata["created"]


def test_save_agent_and_load_agent(tmp_path: Path, names: tuple[str, str]) -> None:
    state = {"params": {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.zeros(3)}, "step": 7}
    _training_results(names, agent_state=state).save_agent(tmp_path / "agent.msgpack")
    raw = TrainingResults.load_agent(tmp_path / "agent.msgpack")
    assert raw["step"] == 7 and raw["params"]["w"].dtype == jnp.bfloat16
    with pytest.raises(FileNotFoundError, match=r"absent\.msgpack"):
        TrainingResults.load_agent(tmp_path / "absent.msgpack")
    (tmp_path / "bad.msgpack").write_bytes(b"\xc1 not msgpack")
    with pytest.raises(RuntimeError, match=r"bad\.msgpack"):
        TrainingResults.load_agent(tmp_path / "bad.msgpack")
    with pytest.raises(RuntimeError, match="no agent state"):
        _training_results(names).save_agent(tmp_path / "none.msgpack")


# --------------------------------------------------------------------------- the stacked pickle


def test_per_checkpoint_arrays_load_as_a_list_of_arrays(names: tuple[str, str]) -> None:
    metrics = _training_results(names).eval_metrics
    loaded = pickle.loads(pickle.dumps(metrics))
    assert type(loaded.episode_returns) is list and len(loaded.episode_returns) == 3
    assert all(type(r) is np.ndarray and r.dtype == np.float32 for r in loaded.episode_returns)
    assert mbst.values_equal(loaded, metrics)


def test_arrays_of_different_shapes_are_kept_as_they_are() -> None:
    ragged = [np.ones(2), np.ones(3, np.float32), np.array(1.0)]
    metrics = EvaluationMetrics([1, 2, 3], [1, 2, 3], ragged, list(ragged), [1.0] * 3, [0.0] * 3, [1.0] * 3)
    assert mbst.values_equal(pickle.loads(pickle.dumps(metrics)), metrics)


def test_seed_era_pickles_without_stacking_still_load() -> None:
    metrics = EvaluationMetrics([1], [1], [np.ones(2)], [np.ones(2, np.int32)], [1.0], [0.0], [2.0])
    plain = EvaluationMetrics.__new__(EvaluationMetrics)
    plain.__setstate__(dict(metrics.__dict__))  # what a pickle without the stacked marker holds
    assert mbst.values_equal(plain, metrics)


def test_stack_episode_returns(names: tuple[str, str]) -> None:
    runs = [_training_results(names), _training_results(names)]
    assert stack_episode_returns(runs).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="differ"):
        stack_episode_returns([_training_results(names, 3), _training_results(names, 2)])


# --------------------------------------------------------------------------- property round trips


@given(mbst.training_results())
def test_training_results_round_trip(results: TrainingResults) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results.save(tmp, save_checkpoint=results.agent_state is not None)
        loaded = TrainingResults.load(tmp)
        config = load_config(Path(tmp) / ".hydra" / "config.yaml")
        checkpoint = Path(tmp) / "checkpoints" / "final.msgpack"
        raw_state = TrainingResults.load_agent(checkpoint) if results.agent_state is not None else None
    assert loaded.agent_state is None and loaded.final_env_state is None
    expected = TrainingResults(
        None, results.training_metrics, results.eval_metrics, results.config, results.run_dir
    )
    assert mbst.values_equal(loaded, expected), mbst.first_difference(loaded, expected)
    assert mbst.values_equal(config, results.config), mbst.first_difference(config, results.config)
    assert mbst.values_equal(raw_state, results.agent_state), mbst.first_difference(
        raw_state, results.agent_state
    )


@given(mbst.evaluation_results())
def test_evaluation_results_round_trip(results: EvaluationResults) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results.save(tmp)
        loaded = EvaluationResults.load(tmp)
    expected_fields = {**results.__dict__, "agent_state": None}
    expected = EvaluationResults(**expected_fields)
    assert mbst.values_equal(loaded, expected), mbst.first_difference(loaded, expected)
    assert repr(loaded) == repr(results) and loaded.summary().keys() == results.summary().keys()
