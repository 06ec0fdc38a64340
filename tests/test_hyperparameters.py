"""The one hyperparameter validator: coercion to plain Python types, refusals, messages."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from myriad_bench.agents import make_agent
from myriad_bench.agents.bangbang import BangBangParams
from myriad_bench.agents.dqn import DQNParams
from myriad_bench.agents.hyperparameters import check_hyperparameters
from myriad_bench.agents.pid import PIDParams
from myriad_bench.agents.ppo import PPOParams
from myriad_bench.agents.pqn import PQNParams
from myriad_bench.agents.random import RandomParams
from myriad_bench.core.spaces import Discrete

PARAMS = {
    "bangbang": BangBangParams,
    "dqn": DQNParams,
    "pid": PIDParams,
    "ppo": PPOParams,
    "pqn": PQNParams,
    "random": RandomParams,
}


@pytest.mark.parametrize("agent", sorted(PARAMS))
def test_every_agents_defaults_pass_their_own_annotations_unchanged(agent):
    cls = PARAMS[agent]
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    values = check_hyperparameters(agent, cls, {})
    assert values == defaults
    assert {name: type(v) for name, v in values.items()} == {name: type(v) for name, v in defaults.items()}


def test_values_written_as_yaml_or_numpy_come_back_as_plain_python_types():
    params = make_agent(
        "pqn",
        Discrete(2),
        learning_rate="3e-4",  # PyYAML reads 3e-4 (no dot) as a string
        num_epochs=2.0,
        hidden_sizes=[np.int64(32), 16.0],
        layer_norm=np.bool_(False),
        gamma=np.float32(0.5),
        epsilon_decay_steps=np.int32(10),
    ).params
    assert params.learning_rate == 3e-4 and type(params.learning_rate) is float
    assert params.num_epochs == 2 and type(params.num_epochs) is int
    assert params.hidden_sizes == (32, 16) and all(type(size) is int for size in params.hidden_sizes)
    assert params.layer_norm is False
    assert params.gamma == 0.5 and type(params.gamma) is float
    assert params.epsilon_decay_steps == 10 and type(params.epsilon_decay_steps) is int
    # The same struct however it was written: same hash, hence the same compiled program.
    assert hash(params) == hash(
        make_agent(
            "pqn", Discrete(2), learning_rate=3e-4, num_epochs=2, hidden_sizes=(32, 16), layer_norm=False
        ).params.replace(gamma=0.5, epsilon_decay_steps=10)
    )


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("learning_rate", True, "a positive number"),
        ("learning_rate", 0.0, "a positive number"),
        ("gamma", 1.5, "a number in [0, 1]"),
        ("reward_scale", float("inf"), "a finite number"),
        ("num_epochs", 0, "an integer >= 1"),
        ("num_epochs", False, "an integer >= 1"),
        ("epsilon_decay_steps", -1, "an integer >= 0"),
        ("layer_norm", 1, "true or false"),
        ("layer_norm", "yes", "true or false"),
        ("hidden_sizes", "64", "a non-empty list of positive integers"),
        ("hidden_sizes", {64, 32}, "a non-empty list of positive integers"),
        ("hidden_sizes", [], "a non-empty list of positive integers"),
        ("hidden_sizes", [64, True], "a non-empty list of positive integers"),
    ],
)
def test_unusable_values_are_refused_naming_agent_name_kind_and_value(name, value, kind):
    message = f"agent 'pqn': hyperparameter {name} must be {kind}, got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_agent("pqn", Discrete(2), **{name: value})


def test_every_unusable_value_is_named_in_one_message():
    with pytest.raises(ValueError) as error:
        make_agent("ppo", Discrete(2), clip_eps=-1, num_minibatches=0.5, activation="swish")
    message = str(error.value)
    assert message.count("hyperparameter ") == 3
    assert "clip_eps must be a positive number, got -1" in message
    assert "num_minibatches must be an integer >= 1, got 0.5" in message
    assert "activation must be one of 'elu', 'gelu', 'relu', 'silu', 'tanh', got 'swish'" in message


def test_unknown_names_get_the_closest_known_one():
    with pytest.raises(ValueError) as error:
        make_agent("ppo", Discrete(2), lerning_rate=1e-3, clipeps=0.1, banana=1)
    assert str(error.value).startswith(
        "agent 'ppo' has no hyperparameter 'banana', 'clipeps' (did you mean 'clip_eps'?), "
        "'lerning_rate' (did you mean 'learning_rate'?); it takes: hidden_sizes, activation,"
    )
    with pytest.raises(ValueError, match=r"^agent 'random' has no hyperparameter 'seed'; it takes none$"):
        make_agent("random", Discrete(2), seed=1)


def test_given_values_win_over_an_agents_defaults_which_are_checked_too():
    values = check_hyperparameters("pid", PIDParams, {"kp": 2}, defaults={"kp": 5.0, "dt": 0.1})
    assert (values["kp"], values["dt"], values["kd"]) == (2.0, 0.1, 0.0)
    with pytest.raises(
        ValueError, match=r"^agent 'pid': hyperparameter dt must be a positive number, got 0$"
    ):
        check_hyperparameters("pid", PIDParams, {}, defaults={"dt": 0})
