"""Training cases: CartPole with DQN, PPO and PQN, eight seeds each, checked against baselines/.

Each case trains its seeds side by side in one compiled program (``myriad_train(..., seeds=)``)
and compares the per-seed evaluation curves with the stored ones: exactly on the platform the
baseline was made on, with the bootstrap (final return and area under the curve) elsewhere.

The cases are built to catch an agent that learns worse, not only one that stops learning:
learning rates below the agents' defaults and budgets that end while the curves still rise,
so the area under the curve depends on how fast each agent learns. With eight seeds, halving
the learning rate (the same as halving every Adam update) is flagged as a regression for all
three by ``--myriad-compare=stat``; with the defaults, CartPole's 500 cap hides anything short
of updates turned off. The whole module runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import pytest

import myriad_bench as mb

SEEDS = list(range(8))

CASES = {
    "dqn": {
        "num_envs": 8,
        "steps_per_env": 6_000,
        "eval_frequency": 600,
        "learning_rate": 2.5e-4,
        "epsilon_decay_steps": 5_000,
        "learning_starts": 500,
        "target_update_period": 250,
    },
    "ppo": {"num_envs": 16, "steps_per_env": 2_000, "eval_frequency": 200, "learning_rate": 3e-4},
    "pqn": {"num_envs": 16, "steps_per_env": 3_000, "eval_frequency": 300, "learning_rate": 2.5e-4},
}


@pytest.mark.parametrize("agent", sorted(CASES))
def test_cartpole(agent, myriad_train, baseline):
    config = mb.create_config(env="cartpole-control", agent=agent, eval_rollouts=32, seed=0, **CASES[agent])
    results = myriad_train(config, seeds=SEEDS)
    baseline.check(results)
