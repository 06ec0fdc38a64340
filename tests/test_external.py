"""Results of any training code: ``results_from_curves``, PureJaxRL's metrics, ``CurvesConfig``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import myriad_bench as mb
from myriad_bench.configs import CurvesConfig, load_config


def test_curves_become_one_training_result_per_seed(tmp_path: Path) -> None:
    steps = [1_000, 2_000, 3_000]
    returns = np.array([[10.0, 20.0, 30.0], [12.0, 18.0, 33.0]])
    runs = mb.results_from_curves(steps, returns, seeds=[4, 7], hyperparameters={"LR": np.float32(2.5e-4)})
    assert [run.config.run.seed for run in runs] == [4, 7]
    first = runs[0]
    assert first.eval_metrics.steps_per_env == steps and first.eval_metrics.mean_return == [10.0, 20.0, 30.0]
    assert first.summary()["final_eval_return_mean"] == 30.0
    assert first.config.hyperparameters == {"LR": pytest.approx(2.5e-4)}
    assert isinstance(first.config.hyperparameters["LR"], float)  # plain data, not a NumPy scalar
    assert first.run_dir == Path("seed-4")  # no machine-local path goes into a baseline

    first.save(tmp_path)
    loaded = mb.TrainingResults.load(tmp_path)
    assert loaded.eval_metrics.mean_return == first.eval_metrics.mean_return
    assert load_config(tmp_path / ".hydra" / "config.yaml", CurvesConfig) == first.config
    assert loaded.config.digest() == runs[1].config.digest()  # the seed aside, the same config


def test_episodes_per_evaluation_are_kept() -> None:
    returns = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    (run, _) = mb.results_from_curves([1, 2, 3], returns, seeds=[0, 1], metric="cost", higher_is_better=False)
    assert [len(e) for e in run.eval_metrics.episode_returns] == [5, 5, 5]
    assert run.config.metric == "cost" and not run.config.higher_is_better


@pytest.mark.parametrize(
    ("steps", "returns", "seeds", "match"),
    [
        ([3, 2, 1], np.zeros((1, 3)), [0], "increasing"),
        ([1, 2, 3], np.zeros((2, 3)), [0], r"returns must be shaped .*\(1, 3\[, n\]\), got shape \(2, 3\)"),
        ([1, 2], np.zeros((2, 2)), [0, 0], "seeds must be distinct"),
    ],
)
def test_shapes_that_do_not_fit_are_named(steps, returns, seeds, match) -> None:
    with pytest.raises(ValueError, match=match):
        mb.results_from_curves(steps, returns, seeds=seeds)


def test_hyperparameters_must_be_plain_data() -> None:
    with pytest.raises(ValidationError, match=r"hyperparameters\.fn is a builtin_function_or_method"):
        mb.results_from_curves([1], [[1.0]], seeds=[0], hyperparameters={"fn": print})


def test_purejaxrl_metrics_become_curves() -> None:
    seeds, updates, per_update, envs = 2, 6, 4, 3
    latest = np.arange(seeds * updates * per_update * envs, dtype=float)
    metrics = {"returned_episode_returns": latest.reshape(seeds, updates, per_update, envs)}
    steps, returns = mb.purejaxrl_curves(metrics, every=4)
    assert steps.tolist() == [4 * per_update * envs, 6 * per_update * envs]  # update 4, and the last
    assert returns.shape == (seeds, 2, envs)
    np.testing.assert_array_equal(returns[:, 1], metrics["returned_episode_returns"][:, -1, -1])
    runs = mb.results_from_curves(steps, returns, seeds=[0, 1], hyperparameters={"NUM_ENVS": envs})
    assert runs[1].eval_metrics.mean_return[-1] == float(returns[1, -1].mean())


def test_one_seed_without_the_seed_axis() -> None:
    steps, returns = mb.purejaxrl_curves({"returned_episode_returns": np.ones((5, 2, 4))})
    assert steps.tolist() == [8, 16, 24, 32, 40] and returns.shape == (1, 5, 4)


def test_a_config_holding_non_plain_data_is_refused_when_loaded(tmp_path: Path) -> None:
    (run,) = mb.results_from_curves([1], [[1.0]], seeds=[0])
    run.config.hyperparameters["dtype"] = np.dtype("float32")  # what a crafted pickle can hold
    from myriad_bench.store.pickles import dump_results_pickle

    dump_results_pickle(run, tmp_path / "results.pkl")
    with pytest.raises(mb.ArtifactError, match=r"results\.pkl: the config holds a value that is not plain"):
        mb.TrainingResults.load(tmp_path)
