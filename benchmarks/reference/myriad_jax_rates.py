"""Steady-state training throughput of myriad-jax 0.2.0 on the cases of ``test_training_throughput.py``.

myriad-jax pins jax 0.7.2, so it cannot share an environment with this project; run this in
its own virtual environment, on the same machine and in the same sitting as the benchmark:

    python -m venv /tmp/myriad-jax && /tmp/myriad-jax/bin/pip install myriad-jax==0.2.0
    /tmp/myriad-jax/bin/python benchmarks/reference/myriad_jax_rates.py [CASE ...]

myriad-jax compiles inside ``train_and_evaluate`` and logs one line per evaluation boundary.
The rate printed here is measured between the first and the last of those lines, so it leaves
out compilation and the first segment, like the figures ``test_training_throughput.py`` records
for this project (``min`` of whole runs after ``compile_training``).
"""

from __future__ import annotations

import logging
import sys
import time

from myriad import train_and_evaluate
from myriad.configs.builder import create_config

CASES = {
    "dqn-1env": {
        "agent": "dqn", "num_envs": 1, "steps_per_env": 50_000, "eval_frequency": 5_000, "eval_rollouts": 10,
    },
    "pqn-32env": {  # examples/pqn_cartpole/configs/pqn_cartpole.yaml
        "agent": "pqn", "num_envs": 32, "steps_per_env": 10_000, "rollout_steps": 64, "eval_frequency": 1_280,
        "eval_rollouts": 50, "learning_rate": 1e-4, "max_grad_norm": 10.0, "num_epochs": 4,
        "num_minibatches": 16, "lambda_": 0.95, "reward_scale": 0.1, "epsilon_end": 0.2,
        "epsilon_decay_steps": 63, "hidden_size": 256,
    },
    "pqn-1024env": {
        "agent": "pqn", "num_envs": 1_024, "steps_per_env": 3_000, "rollout_steps": 64, "eval_frequency": 640,
        "eval_rollouts": 50,
    },
}  # fmt: skip


class _BoundaryTimes(logging.Handler):
    """Records when myriad-jax logs each ``Step k/N`` progress line."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[float, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Step "):
            done = int(message.split()[1].split("/")[0])
            self.steps.append((time.perf_counter(), done))


def main() -> None:
    names = sys.argv[1:] or list(CASES)
    for name in names:
        settings = CASES[name]
        handler = _BoundaryTimes()
        logger = logging.getLogger("myriad")
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        config = create_config(env="cartpole-control", seed=0, **settings)
        started = time.perf_counter()
        train_and_evaluate(config)
        wall = time.perf_counter() - started
        logger.removeHandler(handler)
        (t0, s0), (t1, s1) = handler.steps[0], handler.steps[-1]
        rate = (s1 - s0) * config.run.num_envs / (t1 - t0)
        print(f"{name}: {rate:,.0f} env steps/s after the first segment; {wall:.2f} s wall including compile")


if __name__ == "__main__":
    main()
