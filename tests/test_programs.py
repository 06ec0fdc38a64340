"""The one program cache: closures compile once, re-registration recompiles, and the prepare API.

The environment and agent here are built by factories that return *fresh closures* on every
call, as a user environment wrapping another does; compiles are counted with the cache's own
statistics.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import myriad_bench as mb
from myriad_bench.agents.agent import Agent
from myriad_bench.agents.random import make_random
from myriad_bench.agents.registry import unregister_agent
from myriad_bench.core.spaces import Box, Discrete
from myriad_bench.envs.environment import Environment
from myriad_bench.envs.registry import unregister_env
from myriad_bench.platform.evaluation import compile_evaluation, prepare_evaluation
from myriad_bench.platform.programs import ProgramCache, program_cache_stats
from myriad_bench.platform.resolve import VERBOSE_ENV_VAR
from myriad_bench.platform.training import compile_training, prepare_training


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERBOSE_ENV_VAR, "0")


def compiles(kind: str) -> int:
    return program_cache_stats().compiles_by_kind.get(kind, 0)


# ------------------------------------------------------------------ closure-built env and agent


@struct.dataclass
class LineState:
    position: jax.Array
    time: jax.Array


@dataclasses.dataclass(frozen=True)
class LineConfig:
    max_steps: int = 8


def make_line(pay: float = 1.0, **overrides: Any) -> Environment:
    """A 1-D line: action 1 moves right and pays ``pay``; position 3 ends the episode.

    Its functions are new closures on every call (like a wrapper around another environment).
    """

    def reset_env(key: jax.Array, params: Any, config: LineConfig) -> tuple:
        state = LineState(position=jnp.zeros((), jnp.float32), time=jnp.zeros((), jnp.int32))
        return state.position[None], state

    def step_env(key: jax.Array, state: LineState, action: jax.Array, params: Any, config: Any) -> tuple:
        position = state.position + action.astype(jnp.float32)
        reward = pay * action.astype(jnp.float32)
        return position[None], LineState(position, state.time + 1), reward, position >= 3.0, {}

    return Environment(
        name="test-line",
        config=LineConfig(**overrides),
        params={},
        observation_space=Box(low=0.0, high=10.0, shape=(1,)),
        action_space=Discrete(2),
        reset_env=reset_env,
        step_env=step_env,
    )


def make_coin(action_space: Any, bias: float = 0.5, hidden_sizes: Any = (4,)) -> Agent:
    """Random actions (1 with probability ``bias``), always 1 when greedy; new closures per call."""

    def init(key: jax.Array, obs: jax.Array, params: Any) -> dict:
        return {"updates": jnp.zeros((), jnp.int32)}

    def select_action(key, obs, carry, state, params, deterministic):
        if deterministic:
            return jnp.ones(obs.shape[:1], jnp.int32), carry
        return jax.random.bernoulli(key, params["bias"], obs.shape[:1]).astype(jnp.int32), carry

    def update(key: jax.Array, state: dict, batch: Any, params: Any) -> tuple:
        return {"updates": state["updates"] + 1}, {"loss": jnp.mean(batch.reward)}

    return Agent(
        name="test-coin",
        action_space=action_space,
        params={"bias": jnp.float32(bias)},
        init=init,
        select_action=select_action,
        update=update,
        rollout_steps=4,
    )


@pytest.fixture(autouse=True)
def registered() -> Any:
    mb.register_env("test-line", make_line, overwrite=True)
    mb.register_agent("test-coin", make_coin, overwrite=True)
    yield
    unregister_env("test-line")
    unregister_agent("test-coin")


def line_config(**overrides: Any) -> mb.Config:
    settings = dict(num_envs=2, steps_per_env=16, eval_frequency=8, eval_rollouts=3, hidden_sizes=[4])
    settings.update(overrides)
    return mb.create_config(env="test-line", agent="test-coin", **settings)


def test_factories_returning_fresh_closures_build_one_object() -> None:
    assert make_line().step_env is not make_line().step_env
    assert mb.make_env("test-line") is mb.make_env("test-line")
    # Equal lists (as YAML gives them) are one key: equal arguments, one agent.
    assert mb.make_agent("test-coin", Discrete(2), hidden_sizes=[4, 4]) is mb.make_agent(
        "test-coin", Discrete(2), hidden_sizes=[4, 4]
    )
    assert mb.make_env("test-line", pay=2.0) is not mb.make_env("test-line", pay=1.0)


def test_closure_env_and_agent_compile_once_for_evaluate(tmp_path: Path) -> None:
    config = mb.config_to_eval_config(line_config())
    before = compiles("evaluation")
    first = mb.evaluate(config, run_dir=tmp_path / "a")
    assert compiles("evaluation") == before + 1
    second = mb.evaluate(config, run_dir=tmp_path / "b")
    assert compiles("evaluation") == before + 1, "a second evaluate of a closure-built env compiled again"
    np.testing.assert_array_equal(first.episode_lengths, second.episode_lengths)
    np.testing.assert_array_equal(first.episode_lengths, [3, 3, 3])


def test_closure_env_and_agent_compile_once_for_training(tmp_path: Path) -> None:
    config = line_config()
    before = compiles("training")
    first = mb.train_and_evaluate(config, run_dir=tmp_path / "a")
    assert compiles("training") == before + 1
    second = mb.train_and_evaluate(config, run_dir=tmp_path / "b")
    assert compiles("training") == before + 1, "a second training run of a closure-built env compiled again"
    assert first.training_metrics == second.training_metrics
    assert int(second.agent_state["updates"]) == 4  # 16 steps, rollouts of 4


def test_re_registered_env_recompiles_and_gives_the_new_results(tmp_path: Path) -> None:
    config = line_config()
    eval_config = mb.config_to_eval_config(config)
    assert mb.evaluate(eval_config, run_dir=tmp_path / "e1").mean_return == 3.0
    trained = mb.train_and_evaluate(config, run_dir=tmp_path / "t1")
    before = program_cache_stats().compiles

    mb.register_env("test-line", lambda **overrides: make_line(pay=10.0, **overrides), overwrite=True)
    assert mb.evaluate(eval_config, run_dir=tmp_path / "e2").mean_return == 30.0
    retrained = mb.train_and_evaluate(config, run_dir=tmp_path / "t2")
    assert program_cache_stats().compiles == before + 2
    rewards = np.asarray(trained.training_metrics.reward)
    np.testing.assert_allclose(retrained.training_metrics.reward, rewards * 10)


def test_re_registering_a_factory_of_the_same_functions_reuses_their_program(tmp_path: Path) -> None:
    # Module-level functions, config and spaces are the same objects: the program they define is
    # the one a recompile would produce. (In-process pytester runs re-register on every run.)
    mb.register_agent("test-module-random", make_random)
    config = mb.create_eval_config(env="cartpole-control", agent="test-module-random", eval_rollouts=3)
    try:
        first = mb.evaluate(config, run_dir=tmp_path / "a")
        before = compiles("evaluation")
        mb.register_agent("test-module-random", lambda space, **kw: make_random(space, **kw), overwrite=True)
        again = mb.evaluate(config, run_dir=tmp_path / "b")
        assert compiles("evaluation") == before
        np.testing.assert_array_equal(first.episode_returns, again.episode_returns)
    finally:
        unregister_agent("test-module-random")


def test_re_registered_agent_with_new_functions_recompiles(tmp_path: Path) -> None:
    config = mb.create_eval_config(env="test-line", agent="test-coin", eval_rollouts=2)
    assert mb.evaluate(config, run_dir=tmp_path / "a").mean_length == 3  # greedy: always right
    before = compiles("evaluation")

    def make_idle(action_space: Any, **params: Any) -> Agent:
        def stay(key, obs, carry, state, params, deterministic):
            return jnp.zeros(obs.shape[:1], jnp.int32), carry

        return make_coin(action_space, **params)._replace(select_action=stay)

    mb.register_agent("test-coin", make_idle, overwrite=True)
    assert mb.evaluate(config, run_dir=tmp_path / "b").mean_length == 8  # never moves: truncated
    assert compiles("evaluation") == before + 1


# ------------------------------------------------------------------ the prepare / run / results API


def test_prepared_training_runs_any_seeds_of_its_length_like_train_and_evaluate(tmp_path: Path) -> None:
    config = line_config(steps_per_env=12, eval_frequency=4)
    program = prepare_training(config, seeds=[0, 1])
    assert program.compile_s > 0 and program.seeds == [0, 1]
    assert program.env_steps == 12 * 2 * 2
    assert prepare_training(config, seeds=[5, 6]).compile_s == 0.0
    assert compile_training(config, seeds=[7, 8]) == 0.0

    outputs = program.run(seeds=[3, 4])
    results = program.results(outputs, run_dir=tmp_path / "prepared")
    direct = mb.train_and_evaluate(config, seeds=[3, 4], run_dir=tmp_path / "direct")
    assert [r.config.run.seed for r in results] == [3, 4]
    assert [r.run_dir for r in results] == [tmp_path / "prepared" / f"seed-{k}" for k in (3, 4)]
    for a, b in zip(results, direct, strict=True):
        assert a.training_metrics == b.training_metrics
        np.testing.assert_array_equal(a.eval_metrics.episode_returns, b.eval_metrics.episode_returns)
        assert isinstance(a.agent_state["updates"], jax.Array)
    with pytest.raises(ValueError, match=r"trains 2 seed\(s\) at once, got 3"):
        program.run(seeds=[0, 1, 2])


def test_results_without_saving_write_nothing_and_compile_nothing(tmp_path: Path) -> None:
    program = prepare_training(line_config(), seeds=[0, 1])
    outputs = program.run()
    events: list[str] = []

    def listen(event: str, seconds: float, **kwargs: Any) -> None:
        if event.startswith("/jax/core/compile/"):
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        results = program.results(outputs, run_dir=tmp_path / "unsaved", save=False)
        assert events == [], "assembling results traced or compiled a JAX program"
        jax.jit(lambda x: x * 3.0 + 0.25)(np.float32(1.0))  # the listener does see a compile
        assert events
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert not (tmp_path / "unsaved").exists()
    assert len(results) == 2 and results[0].summary()["num_eval_checkpoints"] == 2
    with pytest.raises(ValueError, match="needs a run_dir"):
        program.results(outputs, save=False)


def test_prepared_evaluation_times_apart_from_compiling(tmp_path: Path) -> None:
    config = mb.create_eval_config(env="test-line", agent="test-coin", eval_rollouts=5, seed=1)
    program = prepare_evaluation(config, return_episodes=True)
    assert program.compile_s > 0
    assert compile_evaluation(config, return_episodes=True) == 0.0
    outputs = program.run()
    assert outputs.env_steps == 15
    results = program.results(outputs, run_dir=tmp_path)
    assert results.episodes["rewards"].shape == (5, 8) and (tmp_path / "results.pkl").is_file()
    again = mb.evaluate(config, return_episodes=True, run_dir=tmp_path / "again")
    np.testing.assert_array_equal(again.episode_returns, results.episode_returns)


def test_cache_is_lru_and_counts_by_kind() -> None:
    cache = ProgramCache(size=2)
    built: list[str] = []

    def build(name: str) -> Any:
        return lambda: built.append(name) or name

    assert cache.get(("training", 1), build("a"))[0] == "a"
    assert cache.get(("evaluation", 2), build("b"))[0] == "b"
    program, compilation = cache.get(("training", 1), build("a2"))  # hit; 1 is now the newest
    assert (program, compilation.seconds, compilation.source) == ("a", 0.0, "memory")
    assert compilation.cold_s > 0.0  # what building it took the first time
    cache.get(("training", 3), build("c"))  # evicts 2, the least recently used
    cache.get(("evaluation", 2), build("b2"))
    assert built == ["a", "b", "c", "b2"]
    stats = cache.stats()
    assert (stats.compiles, stats.hits, stats.entries) == (4, 1, 2)
    assert stats.compiles_by_kind == {"training": 2, "evaluation": 2}


def test_agent_state_holding_a_typed_key_is_split_per_seed(tmp_path: Path) -> None:
    def make_keeper(action_space: Any, **params: Any) -> Agent:
        agent = make_coin(action_space, **params)

        def init(key: jax.Array, obs: jax.Array, params: Any) -> dict:
            return {"updates": jnp.zeros((), jnp.int32), "key": key}

        def update(key: jax.Array, state: dict, batch: Any, params: Any) -> tuple:
            return {"updates": state["updates"] + 1, "key": key}, {}

        return agent._replace(init=init, update=update)

    keeper = make_keeper(Discrete(2))
    results = mb.train_and_evaluate(line_config(), agent=keeper, seeds=[0, 1], run_dir=tmp_path)
    keys = [r.agent_state["key"] for r in results]
    assert all(jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == () for key in keys)
    assert not np.array_equal(jax.random.key_data(keys[0]), jax.random.key_data(keys[1]))


def test_compilation_says_whether_the_persistent_cache_served_the_build(tmp_path: Path) -> None:
    import jax

    from myriad_bench.platform.programs import Compilation

    def compile_sum() -> Any:
        return jax.jit(lambda x: (x * 3.0).sum() + 0.125).lower(jnp.ones((7, 5))).compile()

    cache = ProgramCache()
    _, first = cache.get(("evaluation", "a"), compile_sum)
    assert isinstance(first, Compilation) and first.source in ("compiled", "persistent")
    _, again = cache.get(("evaluation", "a"), compile_sum)
    assert again.source == "memory" and again.seconds == 0.0 and again.cold_s == first.seconds
    assert again.cold_source == first.source


def test_a_build_served_by_the_persistent_cache_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = f"""
import jax, jax.numpy as jnp
jax.config.update("jax_compilation_cache_dir", {str(tmp_path / "cache")!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from myriad_bench.platform.programs import ProgramCache
build = lambda: jax.jit(lambda x: (x * 3.0).sum() + 0.125).lower(jnp.ones((7, 5))).compile()
print(ProgramCache().get(("evaluation", 1), build)[1].source)
"""
    sources = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    assert sources == ["compiled", "persistent"]
