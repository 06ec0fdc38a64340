"""Control hints: the built-in environments describe their loop, the classical controllers take
working defaults from it, and explicit hyperparameters still win."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.agents.bangbang import BangBangParams, make_bangbang
from myriad_bench.agents.pid import PIDParams, make_pid
from myriad_bench.agents.random import make_random
from myriad_bench.core.control import ControlHints
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs import make_env
from myriad_bench.platform.rollout import make_rollout

CARTPOLE, PENDULUM, GFP = "cartpole-control", "pendulum-control", "ccasr-gfp-control"

# What each controller must default to on each environment, with no hyperparameters given.
EXPECTED = {
    (CARTPOLE, "bangbang"): {"obs_index": 3, "setpoint": 0.0, "invert": False},
    (CARTPOLE, "pid"): {"obs_index": 2, "kp": -1.0, "ki": 0.0, "kd": -0.1, "setpoint": 0.0, "dt": 0.02},
    (PENDULUM, "bangbang"): {"obs_index": 1, "setpoint": 0.0, "invert": True},
    (PENDULUM, "pid"): {"obs_index": 1, "kp": 10.0, "ki": 0.0, "kd": 1.0, "setpoint": 0.0, "dt": 0.05},
    (GFP, "bangbang"): {"obs_index": 0, "setpoint": 25 / 80, "invert": True},
    (GFP, "pid"): {"obs_index": 0, "kp": 1.0, "ki": 0.0, "kd": 0.0, "setpoint": 25 / 80, "dt": 5.0},
}
FACTORIES = {"bangbang": make_bangbang, "pid": make_pid}


@pytest.mark.parametrize(("env_name", "agent_name"), sorted(EXPECTED))
def test_each_builtin_env_gives_each_controller_its_defaults(env_name, agent_name):
    env = make_env(env_name)
    params = FACTORIES[agent_name](env.action_space, control=env.control).params
    for name, value in EXPECTED[env_name, agent_name].items():
        got = getattr(params, name)
        assert got == value and type(got) is type(value), (name, got)
        if isinstance(got, float):
            assert math.copysign(1.0, got) == math.copysign(1.0, value), (name, got)  # no -0.0 gains
    if agent_name == "pid":
        assert params.anti_windup == 10.0  # not hinted: the class default


def test_hints_follow_the_environments_own_constants():
    assert make_env(CARTPOLE, tau=0.01).control.dt == 0.01
    assert make_env(PENDULUM, dt=0.1).control.dt == 0.1
    gfp = make_env(GFP, protein_target=40.0, interval_minutes=2.5)
    assert gfp.control.setpoint == 0.5 and gfp.control.dt == 2.5
    assert make_pid(gfp.action_space, control=gfp.control).params.setpoint == 0.5


def test_without_hints_the_defaults_are_unchanged():
    for factory, cls in ((make_bangbang, BangBangParams), (make_pid, PIDParams)):
        params = factory(Discrete(2)).params
        for field in cls.__dataclass_fields__.values():
            if field.name != "action_space":
                assert getattr(params, field.name) == field.default, field.name


def test_explicit_hyperparameters_win_over_hints():
    env = make_env(PENDULUM)
    pid = make_pid(env.action_space, control=env.control, kd=0.0, dt=0.1).params
    assert (pid.kd, pid.dt, pid.kp, pid.obs_index) == (0.0, 0.1, 10.0, 1)
    bangbang = make_bangbang(env.action_space, control=env.control, invert=False, setpoint="0.2").params
    assert (bangbang.invert, bangbang.setpoint, bangbang.obs_index) == (False, 0.2, 1)


def test_another_component_gets_only_what_holds_for_any_component():
    cartpole = make_env(CARTPOLE, tau=0.01)
    # PID on the cart position: the hinted gains and setpoint are the angle's; dt is the env's.
    pid = make_pid(cartpole.action_space, control=cartpole.control, obs_index=0).params
    assert (pid.obs_index, pid.kp, pid.kd, pid.dt) == (0, 1.0, 0.0, 0.01)
    # Bang-bang on the angle, the regulated component: its setpoint and the loop's orientation.
    angle = make_bangbang(cartpole.action_space, control=cartpole.control, obs_index="2").params
    assert (angle.obs_index, angle.setpoint, angle.invert) == (2, 0.0, False)
    gfp = make_env(GFP)
    other = make_bangbang(gfp.action_space, control=gfp.control, obs_index=1).params
    assert (other.obs_index, other.setpoint, other.invert) == (1, 0.0, False)


def test_a_hinted_loop_is_oriented_by_action_sign():
    hints = ControlHints(obs_index=0, setpoint=0.5, dt=0.1, action_sign=-1, kp=2.0, ki=0.5)
    space = Box(low=-1.0, high=1.0, shape=(1,))
    pid = make_pid(space, control=hints).params
    assert (pid.kp, pid.ki, pid.kd, pid.setpoint, pid.dt) == (-2.0, -0.5, 0.0, 0.5, 0.1)
    assert make_bangbang(space, control=hints).params.invert is False
    assert make_bangbang(space, control=ControlHints(obs_index=0)).params.invert is True


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("obs_index", -1, "an integer >= 0"),
        ("obs_index", 1.0, "an integer >= 0"),
        ("switch_index", True, "None or an integer >= 0"),
        ("setpoint", math.nan, "a finite number"),
        ("dt", 0.0, "a positive number"),
        ("action_sign", 0, "-1 or 1"),
        ("kd", -0.1, "a number >= 0"),
    ],
)
def test_control_hints_refuse_unusable_values(field, value, kind):
    given = {"obs_index": 0, field: value}
    with pytest.raises(ValueError, match=rf"ControlHints\.{field} must be {kind}, got {value!r}"):
        ControlHints(**given)


def rollout_returns(env, agent, num_episodes):
    state = agent.init(jax.random.key(0), jnp.zeros(env.observation_space.shape), agent.params)
    out = jax.jit(make_rollout(env, agent, num_episodes))(jax.random.key(1), state)
    return np.asarray(out["episode_returns"])


@pytest.mark.parametrize("env_name", [CARTPOLE, PENDULUM, GFP])
def test_every_classical_agent_controls_every_builtin_env_without_hyperparameters(env_name):
    env = make_env(env_name)
    episodes = 256 if env_name == PENDULUM else 64  # pendulum returns spread widely (sd ~400)
    random = rollout_returns(env, make_random(env.action_space), episodes).mean()
    bangbang = rollout_returns(env, make_bangbang(env.action_space, control=env.control), episodes)
    pid = rollout_returns(env, make_pid(env.action_space, control=env.control), episodes)
    if env_name == CARTPOLE:  # returns are episode lengths; random ~22
        assert bangbang.mean() > 4 * random
        assert np.all(pid == 500)
    elif env_name == PENDULUM:  # random ~-1250, bang-bang ~-1060, PID ~-750
        assert bangbang.mean() > random + 100 and pid.mean() > random + 300
    else:  # random ~-63, both controllers ~-21 (the light held around the target)
        assert bangbang.mean() > random + 30 and pid.mean() > random + 30


@pytest.mark.parametrize("agent_name", ["bangbang", "pid"])
def test_a_config_naming_only_env_and_controller_evaluates(agent_name, tmp_path):
    # Once failed: "obs_index=3 does not select a component of observations of shape (3,)".
    config = mb.create_eval_config(env=PENDULUM, agent=agent_name, eval_rollouts=8, seed=0)
    results = mb.evaluate(config, run_dir=tmp_path)
    assert results.num_episodes == 8
    np.testing.assert_array_equal(results.episode_lengths, 200)
