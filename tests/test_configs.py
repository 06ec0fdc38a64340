"""Configs: keyword routing, validation errors that name field and value, digest, YAML round trip."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import myriad_bench.strategies as mbst
from myriad_bench.configs import (
    Config,
    ConfigError,
    EvalConfig,
    config_to_eval_config,
    create_config,
    create_eval_config,
    load_config,
    save_config,
)


@pytest.fixture
def env(names: tuple[str, str]) -> str:
    return names[0]


@pytest.fixture
def agent(names: tuple[str, str]) -> str:
    return names[1]


def test_keywords_are_routed_to_their_section(env: str, agent: str) -> None:
    config = create_config(
        env=env, agent=agent, num_envs=4, steps_per_env=100, seed=7, learning_rate=3e-4, hidden=[8, 8]
    )
    assert (config.run.num_envs, config.run.steps_per_env, config.run.seed) == (4, 100, 7)
    assert config.agent.params() == {"learning_rate": 3e-4, "hidden": [8, 8]}
    assert config.env.params() == {}
    assert config.run.total_timesteps == 400


def test_dotted_keys_pick_the_section(env: str, agent: str) -> None:
    config = create_config(
        env=env, agent=agent, steps_per_env=10, **{"agent.seed": 3, "env.max_steps": 50, "run.num_envs": 2}
    )
    assert config.agent.params() == {"seed": 3}
    assert config.run.seed == 42  # the run's own seed is untouched by agent.seed
    assert config.env.params() == {"max_steps": 50}
    assert config.run.num_envs == 2


@pytest.mark.parametrize("key", ["foo.bar", "agent.", "agent.x.y"])
def test_dotted_key_with_unknown_section_is_refused(env: str, agent: str, key: str) -> None:
    with pytest.raises(ConfigError, match="cannot place"):
        create_config(env=env, agent=agent, steps_per_env=10, **{key: 1})


def test_names_cannot_be_set_through_dotted_keys(env: str, agent: str) -> None:
    with pytest.raises(ConfigError, match=r"agent=\.\.\."):
        create_config(env=env, agent=agent, steps_per_env=10, **{"agent.name": "other"})


def test_misspelled_run_field_names_field_and_value(env: str, agent: str) -> None:
    with pytest.raises(ValidationError) as error:
        create_config(env=env, agent=agent, steps_per_env=10, **{"run.num_env": 4})
    assert "num_env" in str(error.value)
    assert "input_value=4" in str(error.value)


@pytest.mark.parametrize(("field", "value"), [("num_envs", 0), ("steps_per_env", -5), ("eval_rollouts", 0)])
def test_non_positive_sizes_name_field_and_value(env: str, agent: str, field: str, value: int) -> None:
    kwargs = {"steps_per_env": 10, field: value}
    with pytest.raises(ValidationError) as error:
        create_config(env=env, agent=agent, **kwargs)
    message = str(error.value)
    assert f"run.{field}" in message
    assert f"input_value={value}" in message


def test_unknown_env_and_agent_names_are_refused(env: str, agent: str) -> None:
    with pytest.raises(ValidationError) as error:
        create_config(env="no-such-env", agent=agent, steps_per_env=10)
    assert "env.name" in str(error.value) and "no-such-env" in str(error.value)
    with pytest.raises(ValidationError) as error:
        create_eval_config(env=env, agent="no-such-agent")
    assert "agent.name" in str(error.value) and "no-such-agent" in str(error.value)


def test_training_fields_are_not_eval_fields(env: str, agent: str) -> None:
    # steps_per_env is no EvalRunConfig field, so it is an agent hyperparameter there.
    config = create_eval_config(env=env, agent=agent, eval_rollouts=5, steps_per_env=10)
    assert config.run.eval_rollouts == 5
    assert config.agent.params() == {"steps_per_env": 10}


def test_config_to_eval_config_keeps_agent_env_and_eval_settings(env: str, agent: str) -> None:
    config = create_config(
        env=env, agent=agent, steps_per_env=10, seed=3, eval_rollouts=7, eval_max_steps=20, lr=0.1
    )
    eval_config = config_to_eval_config(config)
    assert isinstance(eval_config, EvalConfig)
    assert (eval_config.run.seed, eval_config.run.eval_rollouts, eval_config.run.eval_max_steps) == (3, 7, 20)
    assert eval_config.agent == config.agent and eval_config.env == config.env


def test_digest_ignores_the_seed_only(env: str, agent: str) -> None:
    base = create_config(env=env, agent=agent, steps_per_env=100, lr=0.1)
    assert base.digest() == create_config(env=env, agent=agent, steps_per_env=100, lr=0.1, seed=1).digest()
    changed = [
        create_config(env=env, agent=agent, steps_per_env=101, lr=0.1),
        create_config(env=env, agent=agent, steps_per_env=100, lr=0.2),
        create_config(env=env, agent=agent, steps_per_env=100, lr=0.1, **{"env.max_steps": 9}),
        create_config(env=env, agent=agent, steps_per_env=100, lr=0.1, eval_rollouts=3),
    ]
    digests = {c.digest() for c in changed}
    assert base.digest() not in digests and len(digests) == len(changed)


@given(mbst.configs(), st.integers(0, 2**31 - 1))
def test_digest_is_seed_independent_for_any_config(config: Config, seed: int) -> None:
    reseeded = config.model_copy(update={"run": config.run.model_copy(update={"seed": seed})})
    assert reseeded.digest() == config.digest()


@given(mbst.configs())
def test_config_yaml_round_trip(config: Config) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ".hydra" / "config.yaml"
        save_config(config, path)
        loaded = load_config(path, Config)
    assert mbst.values_equal(loaded, config), mbst.first_difference(loaded, config)
    assert loaded.digest() == config.digest()


@given(mbst.eval_configs())
def test_eval_config_yaml_round_trip(config: EvalConfig) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        save_config(config, path)
        loaded = load_config(path, EvalConfig)
    assert mbst.values_equal(loaded, config), mbst.first_difference(loaded, config)


def test_load_config_errors_name_the_file(tmp_path: Path, env: str, agent: str) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load_config(missing)
    training = tmp_path / "training.yaml"
    save_config(create_config(env=env, agent=agent, steps_per_env=10), training)
    with pytest.raises(ConfigError, match=r"training\.yaml.*EvalConfig"):
        load_config(training, EvalConfig)  # steps_per_env is not an EvalRunConfig field
    misspelled = tmp_path / "misspelled.yaml"
    misspelled.write_text(
        f"run: {{steps_per_env: 10, num_env: 3}}\nagent: {{name: {agent}}}\nenv: {{name: {env}}}\n"
    )
    with pytest.raises(ConfigError, match=r"(?s)misspelled\.yaml.*num_env"):
        load_config(misspelled)


# ------------------------------------------------------------------ run.scan_chunk_size (removed)

SCAN_CHUNK_SIZE_RUNS = Path(__file__).parent / "data" / "scan_chunk_size"


def test_scan_chunk_size_is_dropped_and_warns_only_when_set(env: str, agent: str) -> None:
    plain = create_config(env=env, agent=agent, steps_per_env=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unset = create_config(env=env, agent=agent, steps_per_env=100, scan_chunk_size=None)
    with pytest.warns(UserWarning, match=r"run\.scan_chunk_size was removed and is ignored"):
        chosen = create_config(env=env, agent=agent, steps_per_env=100, scan_chunk_size=500)
    for config in (unset, chosen):
        assert "scan_chunk_size" not in config.model_dump()["run"]
        assert "scan_chunk_size" not in config.agent.params()  # not routed as a hyperparameter
        assert config.digest() == plain.digest()
    assert not hasattr(chosen.run, "scan_chunk_size")


def test_config_files_with_scan_chunk_size_still_load(tmp_path: Path, env: str, agent: str) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(
        f"run: {{steps_per_env: 10, scan_chunk_size: 64}}\nagent: {{name: {agent}}}\nenv: {{name: {env}}}\n"
    )
    with pytest.warns(UserWarning, match="scan_chunk_size"):
        loaded = load_config(path)
    assert loaded == create_config(env=env, agent=agent, steps_per_env=10)


@pytest.mark.parametrize(
    "run_dir", sorted(SCAN_CHUNK_SIZE_RUNS.glob("*/seed-0")), ids=lambda path: path.parent.name
)
def test_results_pickled_with_scan_chunk_size_load_without_it(run_dir: Path) -> None:
    """Runs the suite's baselines held before the field's removal (frozen copies: the committed
    baselines have been rewritten since)."""
    from myriad_bench.platform.types import TrainingResults

    assert b"scan_chunk_size" in (run_dir / "results.pkl").read_bytes()  # pickled before the removal
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = TrainingResults.load(run_dir).config
    dumped = config.model_dump()
    assert "scan_chunk_size" not in dumped["run"]
    assert "scan_chunk_size" not in config.run.model_fields_set
    # The loaded config equals and digests like the same config made today.
    remade = Config.model_validate(dumped)
    assert config == remade and config.digest() == remade.digest()


@pytest.mark.parametrize("seed", [2**31, 2**63, -(2**31) - 1, True])
def test_seeds_outside_32_bits_are_refused_at_construction(seed: int) -> None:
    # Wider seeds wrap onto narrower ones in JAX's keys (2**63 - 1 and -1 give one key).
    with pytest.raises(ValidationError, match=r"run\.seed"):
        create_config(env="cartpole-control", agent="dqn", steps_per_env=10, seed=seed)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"lerning_rate": 1e-3}, r"no hyperparameter 'lerning_rate' \(did you mean 'learning_rate'\?\)"),
        ({"learning_rate": "fast"}, r"learning_rate must be a positive number, got 'fast'"),
        (
            {"eval_frequncy": 10},
            r"'eval_frequncy' is not a run setting either \(did you mean run\.eval_frequency\?\)",
        ),
        (
            {"env.gravity": "x"},
            r"environment 'cartpole-control': field gravity must be a finite number, got 'x'",
        ),
        ({"env.gravty": 9.8}, r"no field 'gravty' \(did you mean 'gravity'\?\)"),
    ],
)
def test_typos_and_bad_values_fail_at_construction(settings: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        create_config(env="cartpole-control", agent="dqn", steps_per_env=10, **settings)


def test_a_config_file_with_a_typo_fails_when_loaded(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "run: {steps_per_env: 10}\nagent: {name: dqn, lerning_rate: 0.001}\nenv: {name: cartpole-control}\n"
    )
    with pytest.raises(ConfigError, match=r"(?s)config\.yaml.*did you mean .learning_rate."):
        load_config(path)


@pytest.mark.parametrize(
    "explicit",
    [
        {"learning_rate": 3e-3},  # PPOParams' default
        {"learning_rate": 3e-3, "hidden_sizes": [64, 64], "gamma": 0.99},
        {"env.gravity": 9.8},  # cartpole's default
        {"rollout_steps": 32},  # PPO's own rollout length
    ],
)
def test_explicit_defaults_equal_absent_ones_in_digest_and_diff(explicit: dict) -> None:
    from myriad_bench.agents.ppo import DEFAULT_ROLLOUT_STEPS
    from myriad_bench.harness.check import config_differences

    assert DEFAULT_ROLLOUT_STEPS == 32
    settings = {"env": "cartpole-control", "agent": "ppo", "num_envs": 4, "steps_per_env": 100}
    absent, given = create_config(**settings), create_config(**settings, **explicit)
    assert given.model_dump() != absent.model_dump()  # the config keeps what the user wrote
    assert given.digest() == absent.digest()
    assert config_differences(absent, given) == [] and config_differences(given, absent) == []
    changed = create_config(**settings, **explicit, max_grad_norm=1.0)  # not the default (0.5)
    assert changed.digest() != absent.digest()
    assert [d.field for d in config_differences(given, changed)] == ["agent.max_grad_norm"]


def test_control_hint_defaults_of_classical_controllers_count_as_absent() -> None:
    # pid on pendulum-control picks obs_index=1, kp=10, kd=1, dt=0.05 from the env's hints.
    hinted = create_eval_config(env="pendulum-control", agent="pid", obs_index=1, kp=10.0, kd=1.0, dt=0.05)
    assert hinted.digest() == create_eval_config(env="pendulum-control", agent="pid").digest()
    assert hinted.digest() != create_eval_config(env="pendulum-control", agent="pid", kp=9.0).digest()


def test_settings_an_agent_does_not_keep_in_its_params_stay_in_the_digest(env: str, agent: str) -> None:
    # The test agent ignores every setting: none may vanish from the digest (a factory that keeps
    # a setting in a closure looks the same from outside).
    a = create_config(env=env, agent=agent, steps_per_env=100, lr=0.1, **{"env.max_steps": 9})
    b = create_config(env=env, agent=agent, steps_per_env=100, lr=0.2, **{"env.max_steps": 9})
    assert a.digest() != b.digest() and a.digest() == a.legacy_digest()
    assert a.canonical_data()["agent"] == {"name": agent, "lr": 0.1}


def test_configs_of_unregistered_agents_still_have_a_digest() -> None:
    from myriad_bench.agents.registry import make_agent, register_agent, unregister_agent

    register_agent("test-configs-gone", lambda space, **params: make_agent("ppo", space, **params))
    config = create_config(
        env="cartpole-control", agent="test-configs-gone", steps_per_env=10, learning_rate=3e-3
    )
    canonical = config.digest()
    assert canonical != config.legacy_digest()  # learning_rate=3e-3 is PPO's default
    unregister_agent("test-configs-gone")  # a pickled config read where its agent is not registered
    assert config.digest() == config.legacy_digest()


def test_baselines_recording_the_legacy_digest_are_accepted() -> None:
    from myriad_bench.harness.baseline_meta import BaselineMeta

    config = create_config(env="cartpole-control", agent="ppo", steps_per_env=10, learning_rate=3e-3)
    assert config.digest() != config.legacy_digest()
    for recorded in (config.digest(), config.legacy_digest()):
        assert BaselineMeta(kind="training", config_digest=recorded).accepts_config(config)
    other = create_config(env="cartpole-control", agent="ppo", steps_per_env=10, learning_rate=1e-3)
    assert not BaselineMeta(kind="training", config_digest=other.digest()).accepts_config(config)


def test_committed_baselines_match_their_configs_written_with_or_without_defaults() -> None:
    from myriad_bench.harness.baseline_store import BaselineStore
    from myriad_bench.harness.check import config_differences

    root = Path(__file__).resolve().parents[1] / "baselines"
    if not root.is_dir():
        pytest.skip("no committed baselines")
    store = BaselineStore(root)
    for case in store.cases():
        stored = store.read(case)  # refuses a run whose config digest the file does not accept
        config = next(iter(stored.platforms[0].runs.values())).config
        assert stored.meta.accepts_config(config), case
        bare = type(config).model_validate(config.canonical_data())  # explicit defaults left out
        assert bare.digest() == config.digest() and config_differences(config, bare) == [], case
