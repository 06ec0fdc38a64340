"""Hyperparameters are traced: new values reuse the compiled program, and a sweep is one program.

For DQN, PPO and PQN: every hyperparameter that is a leaf of the agent's params can be swept
(and every static one is refused); a config differing from a compiled one in *all* of them at
once reuses its program and trains exactly as a fresh compile of it does (a value baked into
the program would make the two differ); ``train_and_evaluate(..., sweep=...)`` trains each
sweep point × seed as the separate runs do. Runs are tiny: the point is the program, not the
learning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.agents.dqn import DQNParams
from myriad_bench.agents.ppo import PPOParams
from myriad_bench.agents.pqn import PQNParams
from myriad_bench.platform.resolve import VERBOSE_ENV_VAR
from myriad_bench.platform.sweep import make_sweep
from myriad_bench.platform.training import clear_compiled_programs, prepare_training

SMALL = {"num_envs": 4, "steps_per_env": 64, "eval_frequency": 32, "eval_rollouts": 2}
AGENTS: dict[str, dict[str, Any]] = {
    "dqn": {
        "settings": {"learning_starts": 8, "epsilon_decay_steps": 32, "target_update_period": 8},
        "run": {"buffer_size": 256, "batch_size": 16},
        "params": DQNParams,
        # Another value of every traced hyperparameter (huber_delta acts with loss="huber" only).
        "traced": {
            "learning_rate": 2e-3,
            "gamma": 0.9,
            "epsilon_start": 0.8,
            "epsilon_end": 0.1,
            "epsilon_decay_steps": 16,
            "learning_starts": 4,
            "target_update_period": 4,
            "tau": 0.5,
            "huber_delta": 2.0,
            "max_grad_norm": 0.5,
        },
        "static": {"hidden_sizes": (32,), "activation": "tanh", "loss": "huber", "double_dqn": False},
    },
    "ppo": {
        "settings": {},
        "run": {},
        "params": PPOParams,
        "traced": {
            "learning_rate": 1e-2,
            "gamma": 0.9,
            "gae_lambda": 0.8,
            "clip_eps": 0.1,
            "vf_coef": 0.3,
            "ent_coef": 0.05,
            "max_grad_norm": 0.2,
        },
        "static": {
            "hidden_sizes": (32,),
            "activation": "relu",
            "num_epochs": 2,
            "num_minibatches": 2,
            "normalize_advantages": False,
            "clip_value_loss": False,
        },
    },
    "pqn": {
        "settings": {"epsilon_decay_steps": 32},
        "run": {},
        "params": PQNParams,
        "traced": {
            "learning_rate": 1e-2,
            "gamma": 0.9,
            "td_lambda": 0.5,
            "reward_scale": 0.3,
            "epsilon_start": 0.7,
            "epsilon_end": 0.2,
            "epsilon_decay_steps": 16,
            "max_grad_norm": 0.5,
        },
        "static": {
            "hidden_sizes": (32,),
            "activation": "tanh",
            "layer_norm": False,
            "num_epochs": 2,
            "num_minibatches": 2,
        },
    },
}


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERBOSE_ENV_VAR, "0")


def config_of(agent: str, **overrides: Any) -> mb.Config:
    case = AGENTS[agent]
    settings = {**SMALL, **case["run"], **case["settings"], **overrides}
    return mb.create_config(env="cartpole-control", agent=agent, **settings)


def leaf_fields(params_cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(params_cls) if f.metadata.get("pytree_node", True)}


def static_fields(params_cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(params_cls) if not f.metadata.get("pytree_node", True)}


def network(results: mb.TrainingResults) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(results.agent_state.params)]


def assert_same_runs(got: list[mb.TrainingResults], want: list[mb.TrainingResults], exact: bool) -> None:
    """Equal runs: bit for bit when ``exact``, else to float rounding (a sweep's batched program)."""
    __tracebackhide__ = True
    for a, b in zip(got, want, strict=True):
        assert a.config.run.seed == b.config.run.seed
        check = np.testing.assert_array_equal if exact else _close
        check(a.eval_metrics.episode_returns, b.eval_metrics.episode_returns)
        check(a.training_metrics.loss, b.training_metrics.loss)
        for x, y in zip(network(a), network(b), strict=True):
            check(x, y)


def _close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ which keys a sweep takes


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_every_traced_hyperparameter_sweeps_and_every_static_one_is_refused(agent: str) -> None:
    case, config = AGENTS[agent], config_of(agent)
    # The tables above cover every hyperparameter: a new one must be sorted into traced or static.
    assert set(case["traced"]) == leaf_fields(case["params"])
    assert set(case["static"]) == static_fields(case["params"]) - {"action_space"}
    base = config.agent.params()
    defaults = case["params"](action_space=mb.make_env("cartpole-control").action_space)
    for name, value in case["traced"].items():
        start = base.get(name, getattr(defaults, name))
        sweep = make_sweep(config, {name: [start, value]})
        assert [c.agent.params()[name] for c in sweep.configs] == [start, value]
        swept = [axis for axis in jax.tree.leaves(sweep.axes) if axis == 0]
        assert swept == [0], f"{name}: exactly one leaf swept"
        assert jax.tree.leaves(getattr(sweep.params[1], name))[0].shape == (2,)
    for name, value in case["static"].items():
        with pytest.raises(ValueError, match=f"sweep key '{name}' = .* changes the compiled program"):
            make_sweep(config, {name: [getattr(defaults, name), value]})


def test_run_settings_and_malformed_sweeps_are_refused_naming_the_key() -> None:
    config = config_of("ppo")
    for key in ("num_envs", "steps_per_env", "seed", "run.eval_rollouts"):
        with pytest.raises(ValueError, match=f"sweep key '{key}' is a run setting"):
            make_sweep(config, {key: [1, 2]})
    with pytest.raises(ValueError, match="sweep key 'learning_rate' needs a non-empty list"):
        make_sweep(config, {"learning_rate": []})
    with pytest.raises(ValueError, match="sweep key 'learning_rate' needs a non-empty list"):
        make_sweep(config, {"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="non-empty dict"):
        make_sweep(config, {})
    with pytest.raises(ValueError, match="agent 'ppo' has no hyperparameter 'learnig_rate'"):
        make_sweep(config, {"learnig_rate": [1e-3, 1e-4]})
    with pytest.raises(ValueError, match=r"sweep key 'agent\.name'"):
        make_sweep(config, {"agent.name": ["ppo", "pqn"]})
    agent = mb.make_agent("ppo", mb.make_env("cartpole-control").action_space)
    with pytest.raises(ValueError, match="sweep key 'gamma' is a hyperparameter of the config's agent"):
        mb.train_and_evaluate(config, agent=agent, sweep={"gamma": [0.9, 0.99]})


def test_a_sweep_is_the_grid_of_its_keys_in_product_order() -> None:
    config = config_of("ppo")
    sweep = make_sweep(config, {"learning_rate": [1e-3, 3e-4], "agent.gamma": [0.9, 0.95, 0.99]})
    assert sweep.num_points == 6
    got = [(c.agent.params()["learning_rate"], c.agent.params()["gamma"]) for c in sweep.configs]
    assert got == [(lr, g) for lr in (1e-3, 3e-4) for g in (0.9, 0.95, 0.99)]
    # Each point's config is the one create_config makes for those values (same digest on disk).
    want = config_of("ppo", learning_rate=3e-4, gamma=0.95)
    assert sweep.configs[4].digest() == want.digest() and sweep.configs[4] == want
    # Shared leaves are passed once; the two swept ones carry the sweep axis.
    assert sorted(jax.tree.leaves(sweep.axes)) == [0, 0]
    np.testing.assert_allclose(np.asarray(sweep.params[1].gamma), [0.9, 0.95, 0.99] * 2, rtol=1e-6)


# ------------------------------------------------------------------ reuse and sweeps, trained


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_new_hyperparameter_values_reuse_the_program_and_a_sweep_matches_separate_runs(
    agent: str, tmp_path: Path
) -> None:
    seeds = [0, 1]
    clear_compiled_programs()
    base = config_of(agent)
    other = config_of(agent, **AGENTS[agent]["traced"])
    program = prepare_training(base, seeds=seeds)
    assert program.compilation.source != "memory"

    # Every traced hyperparameter changed at once: the same program, from memory.
    reused = prepare_training(other, seeds=seeds)
    assert (reused.compile_s, reused.compilation.source) == (0.0, "memory")
    other_runs = reused.results(reused.run(), run_dir=tmp_path / "reused")
    base_runs = program.results(program.run(), run_dir=tmp_path / "base")
    assert not np.array_equal(network(other_runs[0])[0], network(base_runs[0])[0])

    # ... and it trains exactly as a program compiled for those values does.
    clear_compiled_programs()
    fresh = prepare_training(other, seeds=seeds)
    assert fresh.compilation.source != "memory"
    assert_same_runs(fresh.results(fresh.run(), run_dir=tmp_path / "fresh"), other_runs, exact=True)

    # A learning-rate sweep: one program for both points and both seeds, each as its separate run.
    rates = [mb.make_agent(agent, _space()).params.learning_rate, AGENTS[agent]["traced"]["learning_rate"]]
    swept = mb.train_and_evaluate(
        base, seeds=seeds, sweep={"learning_rate": rates}, run_dir=tmp_path / "sweep"
    )
    assert len(swept) == 2 and all(len(runs) == 2 for runs in swept)
    assert_same_runs(swept[0], base_runs, exact=False)
    separate = prepare_training(config_of(agent, learning_rate=rates[1]), seeds=seeds)
    assert separate.compile_s == 0.0  # the program of `other` (only values differ)
    assert_same_runs(swept[1], separate.results(separate.run(), run_dir=tmp_path / "lr"), exact=False)

    # Each result carries its point's config (digest included) and lives in sweep-<i>/seed-<k>.
    for index, rate in enumerate(rates):
        for seed, run in zip(seeds, swept[index], strict=True):
            want = config_of(agent, learning_rate=rate, seed=seed)
            assert run.config.digest() == want.digest() and run.config.run.seed == seed
            assert run.run_dir == tmp_path / "sweep" / f"sweep-{index}" / f"seed-{seed}"
            saved = mb.load_config(run.run_dir / ".hydra" / "config.yaml")
            assert saved.agent.params()["learning_rate"] == rate


def _space() -> Any:
    return mb.make_env("cartpole-control").action_space
