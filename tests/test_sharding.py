"""Seeds over several devices: a child process with two CPU devices against this one-device process.

``--xla_force_host_platform_device_count`` takes effect only before JAX starts, so the sharded
runs happen in a subprocess that writes what they trained to an ``.npz``; this process trains the
same seeds on its one device and compares. On XLA:CPU the partitioned program rounds differently
in the last bits (as a run of other batch sizes does on one device, see
``myriad_bench/platform/devices.py``), so losses and weights agree to float rounding; greedy
CartPole returns amplify such bits, so they are compared at the first boundary only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.platform.devices import seed_layout
from myriad_bench.platform.resolve import VERBOSE_ENV_VAR
from myriad_bench.platform.training import prepare_training

SMALL = {"num_envs": 4, "steps_per_env": 64, "eval_frequency": 32, "eval_rollouts": 2}
RATES = [3e-3, 1e-2]

CHILD = textwrap.dedent(
    """
    import sys
    import jax
    import numpy as np
    import myriad_bench as mb
    from myriad_bench.platform.training import prepare_training

    assert jax.local_device_count() == 2, jax.local_devices()
    out, rates = sys.argv[1], [3e-3, 1e-2]
    config = mb.create_config(env="cartpole-control", agent="ppo", num_envs=4, steps_per_env=64,
                              eval_frequency=32, eval_rollouts=2, learning_rate=rates[0])
    arrays = {}

    def keep(name, runs):
        for k, run in enumerate(runs):
            arrays[f"{name}/{k}/loss"] = np.asarray(run.training_metrics.loss)
            arrays[f"{name}/{k}/returns"] = np.asarray(run.eval_metrics.episode_returns)
            for i, leaf in enumerate(jax.tree.leaves(run.agent_state.params)):
                arrays[f"{name}/{k}/param{i}"] = np.asarray(leaf)

    program = prepare_training(config, seeds=[0, 1, 2], verbose=False)
    layout = program.layout
    assert (layout.num_devices, layout.num_runs, layout.seeds_per_device) == (2, 4, 2), layout
    keep("three", program.results(program.run(), run_dir=out + "/three"))
    two = prepare_training(config, seeds=[0, 1], verbose=False)
    assert two.layout.seeds_per_device == 1, two.layout
    keep("two", two.results(two.run(), run_dir=out + "/two"))
    swept = mb.train_and_evaluate(config, seeds=[0, 1, 2], sweep={"learning_rate": rates},
                                  run_dir=out + "/sweep", verbose=False)
    for index, runs in enumerate(swept):
        keep(f"sweep{index}", runs)
    np.savez(out + "/runs.npz", **arrays)
    """
)


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERBOSE_ENV_VAR, "0")


def test_layout_pads_seeds_to_the_devices_and_keeps_one_seed_on_one_device() -> None:
    assert seed_layout(3, 2) == seed_layout(3, 2).__class__(3, 4, 2)
    assert (seed_layout(8, 2).num_runs, seed_layout(8, 2).seeds_per_device) == (8, 4)
    assert seed_layout(3, 8).num_devices == 3  # never more devices than seeds
    assert seed_layout(1, 4).num_devices == 1 and seed_layout(5, 1).num_devices == 1
    assert seed_layout(8).num_devices == jax.local_device_count() == 1


def runs_of(arrays: dict[str, np.ndarray], name: str, count: int) -> list[dict[str, np.ndarray]]:
    return [
        {key.split("/")[2]: value for key, value in arrays.items() if key.startswith(f"{name}/{k}/")}
        for k in range(count)
    ]


def as_arrays(run: mb.TrainingResults) -> dict[str, np.ndarray]:
    found = {
        "loss": np.asarray(run.training_metrics.loss),
        "returns": np.asarray(run.eval_metrics.episode_returns),
    }
    for i, leaf in enumerate(jax.tree.leaves(run.agent_state.params)):
        found[f"param{i}"] = np.asarray(leaf)
    return found


def assert_runs(got: dict[str, Any], want: dict[str, Any], exact: bool) -> None:
    __tracebackhide__ = True
    assert sorted(got) == sorted(want)
    for name in sorted(want):
        if exact:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        elif name == "returns":
            np.testing.assert_array_equal(got[name][0], want[name][0], err_msg=name)
        else:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_seeds_sharded_over_two_devices_train_as_on_one(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        VERBOSE_ENV_VAR: "0",
        "JAX_COMPILATION_CACHE_DIR": str(Path(__file__).parents[1] / ".jax_cache"),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=800
    )
    assert child.returncode == 0, child.stderr[-4000:]
    arrays = dict(np.load(tmp_path / "runs.npz"))

    three = runs_of(arrays, "three", 3)
    # One seed per device (unbatched there) or two (batched, one of them padding): the same runs.
    for got, want in zip(runs_of(arrays, "two", 2), three, strict=False):
        assert_runs(got, want, exact=False)
    # A sweep over devices: its first point is the plain sharded run.
    for got, want in zip(runs_of(arrays, "sweep0", 3), three, strict=True):
        assert_runs(got, want, exact=False)

    # One device, the same seeds and rates: the same runs (to float rounding).
    for index, rate in enumerate(RATES):
        config = mb.create_config(env="cartpole-control", agent="ppo", learning_rate=rate, **SMALL)
        program = prepare_training(config, seeds=[0, 1, 2])
        assert program.layout.num_devices == 1
        here = [as_arrays(run) for run in program.results(program.run(), run_dir=tmp_path / f"one{index}")]
        for got, want in zip(runs_of(arrays, f"sweep{index}", 3), here, strict=True):
            assert_runs(got, want, exact=False)
    assert not np.array_equal(arrays["sweep0/0/param0"], arrays["sweep1/0/param0"])
