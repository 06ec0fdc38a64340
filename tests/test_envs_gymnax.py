"""gymnax environments through ``make_env("gymnax:<id>")``: names, spaces, overrides, termination
and truncation, compiled-program reuse, the optional extra, and the built-in agents on them.

The registry's namespaces (what makes ``gymnax:<id>`` a name) are tested first, without gymnax.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.core.registry import Registry
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs.gymnax import INSTALL_HINT, GymnaxConfig, from_gymnax
from myriad_bench.envs.vector import vector_reset, vector_step
from myriad_bench.platform.programs import program_cache_stats

HAVE_GYMNAX = importlib.util.find_spec("gymnax") is not None
needs_gymnax = pytest.mark.skipif(not HAVE_GYMNAX, reason="gymnax is the 'gymnax' extra")
REPO = Path(__file__).resolve().parents[1]


def gymnax_ids() -> list[str]:
    if not HAVE_GYMNAX:
        return []
    import gymnax

    # MNISTBandit downloads its data set when built (no network in CI).
    return [env_id for env_id in gymnax.registered_envs if env_id != "MNISTBandit-bsuite"]


# ------------------------------------------------------------------ registry namespaces


class Built:
    def __init__(self, env_id: str, **kwargs: Any) -> None:
        self.env_id, self.kwargs = env_id, kwargs


def namespaced() -> tuple[Registry[Any], list[str]]:
    resolved: list[str] = []

    def resolver(env_id: str) -> Any:
        if env_id not in ("a", "b"):
            raise ValueError(f"lib has no {env_id!r}")
        resolved.append(env_id)
        return lambda **kwargs: Built(env_id, **kwargs)

    registry: Registry[Any] = Registry("thing", lambda: None)
    registry.register("plain", Built)
    registry.register_namespace("lib", resolver)
    return registry, resolved


def test_namespaced_names_resolve_once_and_share_the_memo() -> None:
    registry, resolved = namespaced()
    first = registry.make("lib:a", size=2)
    assert first.env_id == "a" and first.kwargs == {"size": 2}
    assert registry.make("lib:a", size=2) is first
    assert registry.make("lib:a", size=3) is not first
    assert resolved == ["a"]  # one resolution, so one registration token, so one memo
    assert registry.names() == ["plain"]  # names() lists registrations, not a library's ids
    assert "lib:b" in registry.names() and "plain" in registry.names()
    assert "other:a" not in registry.names() and "lib" not in registry.names()
    with pytest.raises(ValueError, match="lib has no 'zz'"):
        _ = "lib:zz" in registry.names()  # the namespace says why, as configs report it
    with pytest.raises(ValueError, match=r"unknown thing 'nope'; registered: plain; or lib:<id>$"):
        registry.make("nope")


def test_explicit_registration_wins_and_unregister_forgets() -> None:
    registry, resolved = namespaced()
    old = registry.make("lib:a")
    registry.register("lib:a", lambda **kwargs: "explicit")
    assert registry.make("lib:a") == "explicit"
    registry.unregister("lib:a")
    fresh = registry.make("lib:a")
    assert isinstance(fresh, Built) and fresh is not old and resolved == ["a", "a"]


def test_replacing_a_namespace_needs_overwrite_and_forgets_its_names() -> None:
    registry, _ = namespaced()
    old = registry.make("lib:a")
    with pytest.raises(ValueError, match="thing namespace 'lib' is already registered; pass overwrite"):
        registry.register_namespace("lib", lambda env_id: Built)
    registry.register_namespace("lib", lambda env_id: lambda **kw: ("new", env_id), overwrite=True)
    assert registry.make("lib:a") == ("new", "a") and old is not registry.make("lib:a")
    with pytest.raises(ValueError, match="without ':'"):
        registry.register_namespace("a:b", lambda env_id: Built)


# ------------------------------------------------------------------ the optional extra

_WITHOUT_GYMNAX = textwrap.dedent(
    """
    import sys
    import myriad_bench as mb

    config = mb.create_config(env="cartpole-control", agent="ppo", num_envs=2, steps_per_env=8)
    mb.make_env("pendulum-control")
    assert "gymnax" not in sys.modules, "importing and using myriad_bench imported gymnax"
    sys.modules["gymnax"] = None  # as if it were not installed
    for build in (
        lambda: mb.make_env("gymnax:CartPole-v1"),
        lambda: mb.create_config(env="gymnax:CartPole-v1", agent="ppo", num_envs=2, steps_per_env=8),
    ):
        try:
            build()
        except ModuleNotFoundError as error:
            print("ERROR:", error)
        else:
            raise SystemExit("no error without gymnax")
    """
)


def test_without_gymnax_the_error_names_the_extra_and_myriad_bench_never_imports_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_GYMNAX], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 2
    assert all(INSTALL_HINT in line and "gymnax" in line for line in errors)


# ------------------------------------------------------------------ the adapter


@needs_gymnax
@pytest.mark.parametrize("env_id", gymnax_ids())
def test_every_gymnax_id_builds_resets_and_steps(env_id: str) -> None:
    env = mb.make_env(f"gymnax:{env_id}")
    assert env.name == f"gymnax:{env_id}" and env.config.env_id == env_id and env.control is None
    hash((env.config, env.observation_space, env.action_space))  # static: keys compiled programs
    assert env.max_steps == int(env.params.max_steps_in_episode)

    @jax.jit
    def run(key: jax.Array) -> Any:
        obs, state = vector_reset(env, key, 3)

        def step(carry: Any, step_key: jax.Array) -> Any:
            # scan checks that the state keeps its dtypes from one step to the next
            obs, state, reward, done, info = vector_step(
                env, step_key, carry[1], env.action_space.sample(step_key, (3,))
            )
            return (obs, state), (obs, reward, done, info["terminated"], info["truncated"])

        return obs, state, jax.lax.scan(step, (obs, state), jax.random.split(key, 4))[1]

    obs, state, (step_obs, reward, done, terminated, truncated) = run(jax.random.key(0))
    assert obs.shape == (3, *env.observation_space.shape) and obs.dtype == jnp.float32
    assert step_obs.dtype == jnp.float32 and reward.shape == (4, 3) and reward.dtype == jnp.float32
    assert done.dtype == terminated.dtype == truncated.dtype == jnp.bool_
    assert state.time.dtype in (jnp.int32, jnp.float32)  # float in gymnax's float-time envs
    assert np.all(np.isfinite(np.asarray(step_obs))) and np.all(np.isfinite(np.asarray(reward)))


@needs_gymnax
def test_spaces_config_and_params_come_from_gymnax() -> None:
    import gymnax

    env = mb.make_env("gymnax:CartPole-v1")
    genv, gparams = gymnax.make("CartPole-v1")
    assert env.action_space == Discrete(2)
    assert env.config == GymnaxConfig(env_id="CartPole-v1", max_steps=500)
    gspace = genv.observation_space(gparams)
    assert env.observation_space.shape == (4,)
    np.testing.assert_array_equal(env.observation_space.low, np.asarray(gspace.low))
    np.testing.assert_array_equal(env.observation_space.high, np.asarray(gspace.high))
    assert env.params == gparams

    pendulum = mb.make_env("gymnax:Pendulum-v1")
    assert pendulum.action_space == Box(low=-2.0, high=2.0, shape=(1,)) and pendulum.max_steps == 200
    # Spaces follow the overridden params; max_steps is our name for max_steps_in_episode.
    weaker = mb.make_env("gymnax:Pendulum-v1", max_torque=1.5, max_steps=50)
    assert weaker.action_space == Box(low=-1.5, high=1.5, shape=(1,))
    assert weaker.max_steps == 50 and weaker.params.max_steps_in_episode == 50
    assert mb.make_env("gymnax:Pendulum-v1", max_steps_in_episode=50).params == weaker.params.replace(
        max_torque=2.0
    )
    assert mb.make_env("gymnax:FrozenLake-misc").observation_space == Box(low=0.0, high=15.0, shape=())
    assert mb.make_env("gymnax:Breakout-MinAtar").observation_space.shape == (10, 10, 4)
    # gymnax counts the bandit's episode in floats: the param stays a float, the config an int.
    bandit = mb.make_env("gymnax:BernoulliBandit-misc", max_steps=40)
    assert bandit.config.max_steps == 40 and bandit.params.max_steps_in_episode == 40.0


@needs_gymnax
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gravty": 9.8}, r"'gymnax:CartPole-v1' has no field 'gravty' \(did you mean 'gravity'\?\)"),
        ({"gravity": float("nan")}, "field gravity must be a finite number, got nan"),
        ({"gravity": True}, "field gravity must be a finite number, got True"),
        ({"max_steps": 0}, r"max_steps_in_episode \(max_steps\) must be an integer >= 1, got 0"),
        ({"max_steps_in_episode": 2.5}, "max_steps_in_episode must be an integer >= 1, got 2.5"),
        ({"max_steps": 5, "max_steps_in_episode": 6}, "name the same setting; give one"),
    ],
)
def test_overrides_are_checked_by_name_and_type(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mb.make_env("gymnax:CartPole-v1", **overrides)


@needs_gymnax
def test_override_values_are_coerced_and_array_fields_refused() -> None:
    env = mb.make_env("gymnax:CartPole-v1", gravity=9, force_mag="5.0")
    assert type(env.params.gravity) is float and env.params.gravity == 9.0 and env.params.force_mag == 5.0
    with pytest.raises(ValueError, match=r"field available_torque \(ArrayImpl\) cannot be overridden"):
        mb.make_env("gymnax:Acrobot-v1", available_torque=1.0)
    with pytest.raises(
        ValueError, match=r"field max_steps_in_episode must be a whole number of steps, got 40\.5"
    ):
        mb.make_env("gymnax:BernoulliBandit-misc", max_steps_in_episode=40.5)


@needs_gymnax
def test_dict_spaces_are_refused_by_name() -> None:
    from gymnax.environments import spaces
    from gymnax.environments.classic_control.cartpole import CartPole

    class DictCartPole(CartPole):
        def observation_space(self, params: Any) -> Any:
            return spaces.Dict({"x": spaces.Box(-1.0, 1.0, ())})

    with pytest.raises(
        ValueError, match=r"'mine': its observation space is a gymnax Dict .*Discrete and Box"
    ):
        from_gymnax(DictCartPole(), name="mine")


@needs_gymnax
def test_unknown_ids_list_the_closest_gymnax_ids() -> None:
    with pytest.raises(
        ValueError, match=r"unknown gymnax environment 'cartpole-v1' \(did you mean 'CartPole-v1'"
    ):
        mb.make_env("gymnax:cartpole-v1")
    with pytest.raises(
        ValueError, match=r"(?s)env\.name.*unknown gymnax environment 'Acrobot' \(did you mean"
    ):
        mb.create_config(env="gymnax:Acrobot", agent="ppo", num_envs=2, steps_per_env=8)
    with pytest.raises(
        ValueError, match=r"(?s)env section: .*has no field 'gravty' \(did you mean 'gravity'"
    ):
        mb.create_config(
            env="gymnax:CartPole-v1", agent="ppo", num_envs=2, steps_per_env=8, **{"env.gravty": 1.0}
        )
    config = mb.create_config(
        env="gymnax:CartPole-v1", agent="ppo", num_envs=2, steps_per_env=8, **{"env.gravity": 9.0}
    )
    assert config.env.params() == {"gravity": 9.0}


@needs_gymnax
def test_terminated_and_truncated_match_gymnax_own_step_on_cartpole() -> None:
    """Our step against gymnax's ``step`` from the same states, with a short time limit."""
    import gymnax

    env = mb.make_env("gymnax:CartPole-v1", max_steps=20)
    genv, _ = gymnax.make("CartPole-v1")
    ours = jax.jit(env.step)
    theirs = jax.jit(lambda key, state, action: genv.step(key, state, action, env.params))
    _, state = env.reset(jax.random.key(0))
    seen = {"terminated": 0, "truncated": 0}
    for t in range(300):
        key = jax.random.key(t + 1)
        action = jax.random.randint(jax.random.fold_in(key, 1), (), 0, 2)  # random: ~22 steps a fall
        obs, next_state, reward, done, info = ours(key, state, action)
        _, _, g_reward, g_terminated, g_truncated, g_info = theirs(key, state, action)
        terminated, truncated = bool(info["terminated"]), bool(info["truncated"])
        assert terminated == bool(g_terminated), t
        assert truncated == (bool(g_truncated) and not bool(g_terminated)), t
        assert bool(done) == (terminated or truncated) and float(reward) == float(g_reward) == 1.0
        if done:  # reset: the final observation is gymnax's, the returned one a fresh episode's
            assert int(next_state.time) == 0
            seen["terminated" if terminated else "truncated"] += 1
        else:
            np.testing.assert_allclose(obs, g_info["final_observation"], rtol=1e-6)
            assert int(next_state.time) == int(state.time) + 1
        state = next_state
    assert seen["terminated"] >= 3 and seen["truncated"] >= 3, seen


@needs_gymnax
def test_a_done_at_the_time_limit_reads_as_truncation_for_gymnax_0_0_style_envs() -> None:
    """gymnax 0.0.x folded the time limit into ``done`` and had no ``is_terminated``."""
    from gymnax.environments.classic_control.cartpole import CartPole
    from gymnax.environments.environment import Environment as GymnaxEnvironment

    class OldCartPole(CartPole):
        is_terminated = GymnaxEnvironment.is_terminated  # not implemented, as in gymnax 0.0.x

        def is_terminal(self, state: Any, params: Any) -> jax.Array:
            return CartPole.is_terminated(self, state, params) | (state.time >= params.max_steps_in_episode)

        def discount(self, state: Any, params: Any) -> jax.Array:
            return jnp.float32(1.0)

    old = OldCartPole()
    env = from_gymnax(old, max_steps=5)
    assert env.max_steps == 5 and env.name == "gymnax:CartPole-v1"
    # One pair of functions per gymnax object: adapting it again reuses compiled programs.
    assert from_gymnax(old, name="old", gravity=9.0).step_env is env.step_env
    _, state = env.reset(jax.random.key(0))
    infos = []
    for t in range(5):  # balanced pushes: the pole stays up for 5 steps
        _, state, _, done, info = env.step(jax.random.key(t), state, jnp.int32(t % 2))
        infos.append((bool(done), bool(info["terminated"]), bool(info["truncated"])))
    assert infos == [(False, False, False)] * 4 + [(True, False, True)]
    # A natural end before the limit stays a termination.
    env = from_gymnax(old, max_steps=500)
    _, state = env.reset(jax.random.key(0))
    for t in range(100):
        _, state, _, done, info = env.step(jax.random.key(t), state, jnp.int32(1))
        if done:
            break
    assert bool(info["terminated"]) and not bool(info["truncated"]) and t < 50


@needs_gymnax
def test_gymnax_cartpole_steps_like_cartpole_control() -> None:
    """Same physics, same reset draw, same auto-reset: the same batched trajectories."""
    ours, theirs = mb.make_env("cartpole-control"), mb.make_env("gymnax:CartPole-v1")

    def trajectory(env: mb.Environment) -> Any:
        @jax.jit
        def run(key: jax.Array) -> Any:
            _, state = vector_reset(env, key, 8)

            def step(carry: Any, t: jax.Array) -> Any:
                step_key = jax.random.fold_in(key, t)
                actions = jax.random.randint(step_key, (8,), 0, 2)
                obs, state, reward, done, info = vector_step(env, step_key, carry, actions)
                return state, (obs, reward, done, info["terminated"])

            return jax.lax.scan(step, state, jnp.arange(200))[1]

        return run(jax.random.key(3))

    (obs_a, reward_a, done_a, term_a), (obs_b, reward_b, done_b, term_b) = map(trajectory, (ours, theirs))
    np.testing.assert_allclose(obs_a, obs_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(reward_a, reward_b)
    np.testing.assert_array_equal(done_a, done_b)
    np.testing.assert_array_equal(term_a, term_b)
    assert int(done_a.sum()) > 8 * 200 / 50  # episodes really ended and reset


# ------------------------------------------------------------------ compiled once, runs of the agents


@needs_gymnax
def test_equal_names_and_overrides_give_one_environment_and_one_compiled_program(tmp_path: Path) -> None:
    env = mb.make_env("gymnax:CartPole-v1", gravity=9.5)
    assert mb.make_env("gymnax:CartPole-v1", gravity=9.5) is env
    other = mb.make_env("gymnax:CartPole-v1", gravity=9.0)
    assert other is not env and other.step_env is env.step_env and other.reset_env is env.reset_env

    def evaluate(**env_overrides: Any) -> Any:
        config = mb.create_eval_config(
            env="gymnax:CartPole-v1", agent="random", eval_rollouts=5, eval_max_steps=37,
            **{f"env.{name}": value for name, value in env_overrides.items()},
        )  # fmt: skip
        return mb.evaluate(config, run_dir=tmp_path / f"run-{len(list(tmp_path.iterdir()))}")

    before = program_cache_stats().compiles_by_kind.get("evaluation", 0)
    first = evaluate(gravity=9.5)
    second = evaluate(gravity=9.5)
    np.testing.assert_array_equal(first.episode_returns, second.episode_returns)
    evaluate(gravity=9.0)  # another physics constant is another params value, not another program
    assert program_cache_stats().compiles_by_kind.get("evaluation", 0) - before == 1


def final_mean_returns(results: Any) -> list[float]:
    return list(results.eval_metrics.mean_return)


@needs_gymnax
def test_ppo_learns_gymnax_cartpole(tmp_path: Path) -> None:
    config = mb.create_config(
        env="gymnax:CartPole-v1", agent="ppo", num_envs=16, steps_per_env=2_000, eval_frequency=500,
        eval_rollouts=16, seed=0,
    )  # fmt: skip
    results = mb.train_and_evaluate(config, run_dir=tmp_path, verbose=False)
    returns = final_mean_returns(results)
    # A random policy lasts about 22 steps; PPO's defaults balance the pole within 32 000 steps.
    assert len(returns) == 4 and returns[-1] > 200, returns
    assert results.eval_metrics.episode_lengths[-1].max() <= 500  # the time limit, as truncation


@needs_gymnax
def test_ppo_learns_gymnax_acrobot(tmp_path: Path) -> None:
    config = mb.create_config(
        env="gymnax:Acrobot-v1", agent="ppo", num_envs=16, steps_per_env=2_000, eval_frequency=1_000,
        eval_rollouts=16, seed=0,
    )  # fmt: skip
    results = mb.train_and_evaluate(config, run_dir=tmp_path, verbose=False)
    returns = final_mean_returns(results)
    random = mb.evaluate(
        mb.create_eval_config(env="gymnax:Acrobot-v1", agent="random", eval_rollouts=16),
        run_dir=tmp_path / "random",
    )
    # At random the free end almost never swings up within 500 steps (return -500); PPO learns to
    # within about 150 steps in these 32 000.
    assert random.mean_return < -450, random.mean_return
    assert returns[-1] > -300, returns


@needs_gymnax
def test_random_agent_evaluates_on_gymnax_envs(tmp_path: Path) -> None:
    def evaluate(env: str) -> Any:
        config = mb.create_eval_config(env=env, agent="random", eval_rollouts=8, seed=1)
        return mb.evaluate(config, run_dir=tmp_path / env.replace(":", "-"))

    pendulum = evaluate("gymnax:Pendulum-v1")  # never terminates: every episode is truncated at 200
    assert np.all(pendulum.episode_lengths == 200)
    assert np.all(np.isfinite(pendulum.episode_returns)) and np.all(pendulum.episode_returns < 0)
    car = evaluate("gymnax:MountainCar-v0")  # -1 per step; a random walk does not reach the flag
    np.testing.assert_array_equal(car.episode_returns, -200.0)
    breakout = evaluate("gymnax:Breakout-MinAtar")  # (10, 10, 4) observations; ends when the ball is lost
    assert np.all(breakout.episode_lengths < 1_000) and np.all(breakout.episode_returns >= 0)
