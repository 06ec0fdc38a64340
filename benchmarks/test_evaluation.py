"""Evaluation cases: the classical agents on all three environments, checked against baselines/.

Each case evaluates 100 greedy episodes of a non-learning agent; their returns are fixed by
the environment and controller code, so any change to either shows up here.
"""

from __future__ import annotations

import pytest

import myriad_bench as mb

TARGET = 25 / 80  # ccasr-gfp-control's default protein target in observation units

CONTROLLERS = {
    "cartpole-random": ("cartpole-control", "random", {}),
    "cartpole-bangbang": ("cartpole-control", "bangbang", {}),
    "cartpole-pid": ("cartpole-control", "pid", {"obs_index": 2, "kp": -1.0, "kd": -0.1, "dt": 0.02}),
    "pendulum-random": ("pendulum-control", "random", {}),
    # Torque against sin(theta): holds the pendulum when it comes near the top.
    "pendulum-bangbang": ("pendulum-control", "bangbang", {"obs_index": 1, "invert": True}),
    "pendulum-pid": ("pendulum-control", "pid", {"obs_index": 1, "kp": 10.0, "kd": 1.0, "dt": 0.05}),
    "gfp-random": ("ccasr-gfp-control", "random", {}),
    # Light on while the protein level is below the target.
    "gfp-bangbang": ("ccasr-gfp-control", "bangbang", {"obs_index": 0, "setpoint": TARGET, "invert": True}),
    "gfp-pid": ("ccasr-gfp-control", "pid", {"obs_index": 0, "setpoint": TARGET, "kp": 1.0}),
}


@pytest.mark.parametrize("case", sorted(CONTROLLERS))
def test_classical(case, myriad_evaluate, baseline):
    env, agent, params = CONTROLLERS[case]
    config = mb.create_eval_config(env=env, agent=agent, eval_rollouts=100, seed=0, **params)
    results = myriad_evaluate(config)
    baseline.check(results)
