"""A built-in agent trained on a gymnax environment, checked against its baseline."""

import myriad_bench as mb


def test_ppo_on_gymnax_cartpole(myriad_train, baseline):
    config = mb.create_config(
        env="gymnax:CartPole-v1",  # any gymnax id; pip install "myriad-bench[gymnax]"
        agent="ppo",
        num_envs=4,
        steps_per_env=400,
        eval_frequency=100,
        eval_rollouts=8,
        eval_max_steps=200,
        hidden_sizes=[16, 16],  # an agent hyperparameter: a tiny network keeps the example quick
    )
    results = myriad_train(config, seeds=range(4))
    baseline.check(results)
