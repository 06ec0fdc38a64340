"""Training cases: CartPole with DQN, PPO and PQN, five seeds each, checked against baselines/.

Each case trains its seeds side by side in one compiled program (``myriad_train(..., seeds=)``)
and compares the per-seed evaluation curves with the stored ones: exactly on the platform the
baseline was made on, with the bootstrap (final return and area under the curve) elsewhere.
Budgets are small enough for the whole suite to run in minutes on two CPU cores, and large
enough that each agent learns far beyond the random policy's ~20 steps (PPO and PQN come
close to CartPole's 500-step cap).
"""

from __future__ import annotations

import pytest

import myriad_bench as mb

SEEDS = [0, 1, 2, 3, 4]

CASES = {
    "dqn": {
        "num_envs": 8,
        "steps_per_env": 10_000,
        "eval_frequency": 1_000,
        "epsilon_decay_steps": 5_000,
        "learning_starts": 500,
        "target_update_period": 250,
    },
    "ppo": {"num_envs": 16, "steps_per_env": 5_000, "eval_frequency": 500},
    # At PQN's default learning rate (1e-3) some seeds collapse late in this budget; 5e-4 is stable.
    "pqn": {"num_envs": 16, "steps_per_env": 10_000, "eval_frequency": 1_000, "learning_rate": 5e-4},
}


@pytest.mark.parametrize("agent", sorted(CASES))
def test_cartpole(agent, myriad_train, baseline):
    config = mb.create_config(env="cartpole-control", agent=agent, eval_rollouts=32, seed=0, **CASES[agent])
    results = myriad_train(config, seeds=SEEDS)
    baseline.check(results)
