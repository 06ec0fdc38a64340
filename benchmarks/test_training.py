"""Training cases: CartPole with DQN, PPO and PQN, checked against baselines/.

Each case trains eight seeds side by side in one compiled program (``myriad_train(..., seeds=)``)
and compares the per-seed evaluation curves with the stored ones: exactly on a platform that has
its own runs in the baseline, statistically (final return and area under the curve) elsewhere.

The cases are built to catch an agent that learns worse, not only one that stops learning:
learning rates below the agents' defaults and budgets that end while the curves still rise,
so the area under the curve depends on how fast each agent learns.

Sized so that each sees a 20% drop of the area under the curve on another machine: baselines
hold ``MAX_SEEDS`` seeds, and an inconclusive statistical check trains further seeds (in
batches of eight, with the compiled program, at most four looks) up to as many. The counts
come from the detectable drop the check itself reported in null reruns (AUC at 104/40/40 seeds
a side: DQN 0.184–0.194, PPO 0.194–0.198, PQN 0.186–0.201; PQN 0.193–0.215 at 48), scaled by
1/sqrt(n) to at most 0.19; the worst case (every look inconclusive) trains for about a minute on
two cores. On the baseline's platform only the eight seeds run (exact).
"""

from __future__ import annotations

import pytest

import myriad_bench as mb

SEEDS = list(range(8))
MAX_SEEDS = {"dqn": 120, "ppo": 48, "pqn": 56}

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
    baseline.check(results, max_seeds=MAX_SEEDS[agent])
