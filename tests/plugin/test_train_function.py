"""``myriad_train(train_fn, seeds=...)``: a PureJaxRL-style training function of one's own, checked."""

from __future__ import annotations

TRAINER = """
import os

import jax
import jax.numpy as jnp
import myriad_bench as mb

CONFIG = {"NUM_UPDATES": 20, "NUM_STEPS": 8, "NUM_ENVS": 4, "LR": 2.5e-4}
SCALE = float(os.environ.get("TRAINER_SCALE", "1.0"))  # < 1 learns worse with the same config


def make_train(config):
    # The shape of PureJaxRL's output: metrics (updates, steps, envs) of the latest episode returns.
    def train(rng):
        noise = jax.random.uniform(rng, (config["NUM_UPDATES"], config["NUM_STEPS"], config["NUM_ENVS"]))
        progress = jnp.arange(config["NUM_UPDATES"], dtype=jnp.float32)[:, None, None]
        returns = SCALE * (20.0 + 20.0 * progress + 30.0 * noise)
        return {"runner_state": None, "metrics": {"returned_episode_returns": returns}}

    return train


def test_trainer(myriad_train, baseline):
    results = myriad_train(make_train(CONFIG), seeds=range(6), hyperparameters=CONFIG)
    baseline.check(results)
"""

CASE = "test_trainer_case.test_trainer"
FILE = "test_trainer_case.py"


def test_a_training_function_is_timed_checked_and_catches_a_worse_one(project, monkeypatch):
    project.write_test(body=TRAINER, name="test_trainer_case")
    project.run("--myriad-update-baselines", FILE).assert_outcomes(passed=1)
    meta = project.baseline_meta(CASE)
    assert meta["kind"] == "training" and len(meta["platforms"][0]["seeds"]) == 6

    result = project.run("--myriad-report=out", FILE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{CASE}*6*reproduced*exact*"])
    import json

    (case,) = json.loads((project.root / "out" / "report.json").read_text())["cases"]
    # env steps of a run: the curves' last step (20 x 8 x 4 global steps) for each of 6 seeds
    assert case["speed"]["env_steps_per_s"] > 0

    monkeypatch.setenv("TRAINER_SCALE", "0.5")
    result = project.run("--myriad-compare=stat", FILE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*regression*"])


def test_a_changed_hyperparameter_reads_as_a_config_difference(project):
    project.write_test(body=TRAINER, name="test_trainer_case")
    project.run("--myriad-update-baselines", FILE).assert_outcomes(passed=1)
    project.write_test(body=TRAINER.replace('"LR": 2.5e-4', '"LR": 1e-3'), name="test_trainer_case")
    result = project.run(FILE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*config differs*", "*hyperparameters.LR: baseline 0.00025, now 0.001*"])
