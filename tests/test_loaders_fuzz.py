"""Fuzzing every loader: random, truncated and mutated bytes raise only the documented errors.

Documented: results (``TrainingResults.load`` / ``EvaluationResults.load``) and run metadata
raise :class:`ArtifactError` (``UnsafePickleError`` is one), agent checkpoints
(``load_agent``) a ``RuntimeError`` (:class:`ArtifactError`), configs :class:`ConfigError`.
A loader may also succeed when the bytes happen to be valid; it must then return its type.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from myriad_bench.configs import (
    Config,
    ConfigError,
    EvalConfig,
    create_config,
    create_eval_config,
    load_config,
)
from myriad_bench.platform.types import EvaluationMetrics, EvaluationResults, TrainingMetrics, TrainingResults
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.rundir import read_run_metadata


def _load_training(path: Path) -> Any:
    return TrainingResults.load(path.parent)


def _load_evaluation(path: Path) -> Any:
    return EvaluationResults.load(path.parent)


# name -> (file name inside the run dir, loader of that file, documented errors, type on success)
LOADERS: dict[str, tuple[str, Callable[[Path], Any], tuple[type[BaseException], ...], type | tuple]] = {
    "training results": ("results.pkl", _load_training, (ArtifactError,), TrainingResults),
    "evaluation results": ("results.pkl", _load_evaluation, (ArtifactError,), EvaluationResults),
    "agent checkpoint": ("checkpoints/final.msgpack", TrainingResults.load_agent, (RuntimeError,), object),
    "training config": (".hydra/config.yaml", lambda p: load_config(p, Config), (ConfigError,), Config),
    "eval config": (".hydra/config.yaml", lambda p: load_config(p, EvalConfig), (ConfigError,), EvalConfig),
    "run metadata": ("run_metadata.yaml", read_run_metadata, (ArtifactError,), dict),
}
# Formats whose every proper prefix is invalid: a pickle ends with STOP, a msgpack map declares
# its size. A cut YAML file may still be valid YAML.
PREFIX_CLOSED = {"training results", "evaluation results", "agent checkpoint"}


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory, names: tuple[str, str]) -> dict[str, bytes]:
    """The bytes of real files, one per loader."""
    env, agent = names
    root = tmp_path_factory.mktemp("valid")
    returns = [np.array([1.0, np.nan, 3.0], np.float32), np.array([2.0, 2.5, -np.inf], np.float32)]
    training = TrainingResults(
        agent_state={"params": {"w": np.ones((2, 3), np.float32)}, "step": np.int32(4)},
        training_metrics=TrainingMetrics([8, 16], [2, 4], loss=[0.5, 0.25], agent_metrics={"q": [1.0, 2.0]}),
        eval_metrics=EvaluationMetrics(
            [8, 16],
            [2, 4],
            returns,
            [np.array([3, 3, 3], np.int32)] * 2,
            [2.0, 2.25],
            [1.0, 0.25],
            [3.0, 3.0],
        ),
        config=create_config(env=env, agent=agent, num_envs=4, steps_per_env=4, eval_rollouts=3, lr=0.1),
        run_dir=Path("outputs/fuzz"),
    )
    training.save(root / "training", save_checkpoint=True)
    evaluation = EvaluationResults(
        1.0, 0.5, 0.5, 1.5, 3.0, 0.0, 3, 3, np.array([0.5, 1.5]), np.array([3, 3]), 2, 0,
        create_eval_config(env=env, agent=agent, eval_rollouts=2), Path("outputs/fuzz-eval"),
    )  # fmt: skip
    evaluation.save(root / "evaluation")
    files = {}
    for name, (relative, *_) in LOADERS.items():
        run = root / ("evaluation" if name in ("evaluation results", "eval config") else "training")
        files[name] = (run / relative).read_bytes()
    return files


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _check(name: str, content: bytes, scratch: Path) -> Any:
    """Load ``content`` as ``name``'s file; fail on anything but the documented outcome."""
    relative, load, errors, result_type = LOADERS[name]
    path = scratch / name.replace(" ", "-") / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    try:
        loaded = load(path)
    except errors as error:
        assert str(path) in str(error) or path.name in str(error), f"error does not name the file: {error}"
        return error
    assert isinstance(loaded, result_type), f"{name} loaded a {type(loaded).__name__}"
    return loaded


def test_the_valid_files_load(valid_files: dict[str, bytes], scratch: Path) -> None:
    for name, content in valid_files.items():
        assert not isinstance(_check(name, content, scratch), BaseException), name


@pytest.mark.parametrize("name", list(LOADERS))
@given(content=st.binary(max_size=512))
def test_random_bytes(name: str, content: bytes, scratch: Path) -> None:
    _check(name, content, scratch)


@pytest.mark.parametrize("name", list(LOADERS))
@given(data=st.data())
def test_truncated_files(
    name: str, data: st.DataObject, valid_files: dict[str, bytes], scratch: Path
) -> None:
    content = valid_files[name]
    cut = data.draw(st.integers(0, len(content) - 1), label="cut")
    outcome = _check(name, content[:cut], scratch)
    if name in PREFIX_CLOSED:
        assert isinstance(outcome, BaseException), f"{name} cut to {cut} of {len(content)} bytes loaded"


@pytest.mark.parametrize("name", list(LOADERS))
@given(data=st.data())
def test_mutated_files(name: str, data: st.DataObject, valid_files: dict[str, bytes], scratch: Path) -> None:
    content = bytearray(valid_files[name])
    positions = data.draw(
        st.lists(st.integers(0, len(content) - 1), min_size=1, max_size=4), label="positions"
    )
    for position in positions:
        content[position] = data.draw(st.integers(0, 255), label=f"byte at {position}")
    _check(name, bytes(content), scratch)


def _crafted() -> dict[str, bytes]:
    from test_hostile_files import (
        HOSTILE_MSGPACK,
        HOSTILE_PICKLES,
        HOSTILE_YAML,
        PROTO,
        STOP,
        _billion_laughs,
    )

    crafted = {f"pickle: {name}": PROTO + body + STOP for name, body in HOSTILE_PICKLES.items()}
    crafted.update({f"yaml: {name}": body.encode() for name, body in HOSTILE_YAML.items()})
    crafted.update({f"msgpack: {name}": body for name, body in HOSTILE_MSGPACK.items()})
    crafted["pickle: aliased lists, 9 levels"] = _billion_laughs(9)
    return crafted


CRAFTED = _crafted()


@pytest.mark.parametrize("name", list(LOADERS))
def test_crafted_files_of_every_format_through_every_loader(name: str, scratch: Path) -> None:
    # Object and structured dtypes, aliased containers and nested YAML, given to each loader
    # (the capped children of test_hostile_files show none of them can crash one).
    for label, content in CRAFTED.items():
        outcome = _check(name, content, scratch)
        assert isinstance(outcome, BaseException), f"{name} loaded {label}"
