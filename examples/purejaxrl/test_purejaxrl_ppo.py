"""The baseline check of a PureJaxRL-style ``make_train``: these lines are all it takes."""

from ppo import CONFIG, make_train


def test_ppo(myriad_train, baseline):
    results = myriad_train(make_train(CONFIG), seeds=range(4), hyperparameters=CONFIG)
    baseline.check(results)
