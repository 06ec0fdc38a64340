"""The generic Registry: errors, memoised construction, re-registration, optional keywords."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import myriad_bench as mb
from myriad_bench.core.registry import Registry, freeze
from myriad_bench.core.spaces import Discrete


def shapes(**kwargs: Any) -> Registry[Any]:
    return Registry("shape", lambda: None, **kwargs)


class Built:
    """A fresh object per call, recording its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


def test_make_returns_one_object_per_registration_and_arguments() -> None:
    registry = shapes()
    registry.register("square", Built)
    first = registry.make("square", 1, sides=[4, 4])
    assert registry.make("square", 1, sides=[4, 4]) is first
    assert registry.make("square", 1, sides=(4, 4)) is not first  # a tuple is not a list
    assert registry.make("square", 1, sides=[4, 5]) is not first
    # Equal in Python but of different types: 1 == 1.0 == True, three objects.
    assert len({id(registry.make("square", value)) for value in (1, 1.0, True)}) == 3
    assert first.kwargs == {"sides": [4, 4]}


def test_unhashable_arguments_skip_the_memo() -> None:
    registry = shapes()
    registry.register("square", Built)
    array = np.ones(3)
    assert registry.make("square", weights=array) is not registry.make("square", weights=array)
    with pytest.raises(TypeError, match=r"ndarray value .* has no hash"):
        freeze({"weights": array})


def test_re_registration_needs_overwrite_and_forgets_the_old_objects() -> None:
    registry = shapes()
    first_registration = registry.register("square", Built)
    old = registry.make("square", 2)
    with pytest.raises(ValueError, match="shape 'square' is already registered; pass overwrite=True"):
        registry.register("square", Built)
    second_registration = registry.register("square", Built, overwrite=True)
    assert second_registration.token != first_registration.token
    assert registry.make("square", 2) is not old
    registry.unregister("square")
    with pytest.raises(ValueError, match=r"unknown shape 'square'; registered: $"):
        registry.make("square", 2)


def test_builtins_are_loaded_before_names_are_looked_up() -> None:
    registry: Registry[Any] = Registry("shape", lambda: registry.register("b", Built, overwrite=True))
    registry.register("a", Built)
    assert registry.names() == ["a", "b"]
    with pytest.raises(ValueError, match="unknown shape 'c'; registered: a, b"):
        registry.registration("c")


def test_memo_keeps_the_most_recent_objects() -> None:
    registry = shapes(memo_size=2)
    registry.register("square", Built)
    one, two = registry.make("square", 1), registry.make("square", 2)
    assert registry.make("square", 1) is one  # 1 is now the most recent
    registry.make("square", 3)  # drops 2
    assert registry.make("square", 1) is one
    assert registry.make("square", 2) is not two


def test_optional_keywords_reach_only_factories_that_take_them() -> None:
    registry = shapes(optional_keywords=("control",))

    def with_control(size: int, *, control: Any = "default") -> tuple:
        return (size, control)

    def without_control(size: int, **params: Any) -> tuple:
        return (size, params)

    registry.register("with", with_control)
    registry.register("without", without_control)
    assert registry.make("with", 1, control="hints") == (1, "hints")
    assert registry.make("with", 1, control=None) == (1, "default")  # None leaves the default
    assert registry.make("without", 1, control="hints") == (1, {})  # **params is no control parameter


def test_make_agent_passes_control_only_to_factories_with_a_control_parameter() -> None:
    seen: list[Any] = []

    def controller(action_space: Any, *, control: Any = None, gain: float = 1.0) -> Any:
        seen.append(control)
        return mb.make_agent("random", action_space)

    mb.register_agent("test-controller", controller, overwrite=True)
    try:
        mb.make_agent("test-controller", Discrete(2), control="hints", gain=2.0)
        mb.make_agent("test-controller", Discrete(2))
        assert seen == ["hints", None]
        # The random agent has no control parameter: the hints are not passed as a hyperparameter.
        assert mb.make_agent("random", Discrete(2), control="hints").name == "random"
    finally:
        from myriad_bench.agents.registry import unregister_agent

        unregister_agent("test-controller")


def test_env_and_agent_errors_keep_their_wording() -> None:
    with pytest.raises(ValueError, match=r"unknown environment 'nope'; registered: .*cartpole-control"):
        mb.make_env("nope")
    with pytest.raises(ValueError, match=r"unknown agent 'nope'; registered: .*dqn"):
        mb.make_agent("nope", Discrete(2))
    with pytest.raises(ValueError, match="agent 'dqn' is already registered; pass overwrite=True"):
        mb.register_agent("dqn", lambda space: None)
    with pytest.raises(ValueError, match="environment 'cartpole-control' is already registered"):
        mb.register_env("cartpole-control", lambda: None)
