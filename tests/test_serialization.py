"""Agent state <-> Flax msgpack: round trips, restoring onto an agent's structure, errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization, struct
from hypothesis import given

import myriad_bench.strategies as mbst
from myriad_bench.store.agent_state import load_agent_state, restore_agent_state, save_agent_state
from myriad_bench.store.errors import ArtifactError


@struct.dataclass
class _AgentState:
    params: dict
    opt_state: optax.OptState
    step: jax.Array
    epsilon: float = struct.field(pytree_node=False, default=0.1)


def _agent_state(key: jax.Array, hidden: int = 4) -> _AgentState:
    k1, k2 = jax.random.split(key)
    params = {
        "dense": {"kernel": jax.random.normal(k1, (3, hidden)), "bias": jnp.zeros(hidden)},
        "head": {"kernel": jax.random.normal(k2, (hidden, 2)).astype(jnp.bfloat16)},
    }
    return _AgentState(params=params, opt_state=optax.adam(1e-3).init(params), step=jnp.int32(5))


@given(mbst.agent_states())
def test_agent_state_round_trip(state: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.msgpack"
        save_agent_state(state, path)
        loaded = load_agent_state(path)
    assert mbst.values_equal(loaded, state), mbst.first_difference(loaded, state)


def test_restore_puts_the_stored_leaves_onto_the_agent_structure(tmp_path: Path) -> None:
    trained = _agent_state(jax.random.key(0))
    save_agent_state(trained, tmp_path / "agent.msgpack")
    fresh = _agent_state(jax.random.key(1))
    restored = restore_agent_state(fresh, load_agent_state(tmp_path / "agent.msgpack"))
    assert isinstance(restored, _AgentState)
    assert jax.tree.structure(restored) == jax.tree.structure(trained)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(trained), strict=True):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_restore_names_every_mismatching_leaf(tmp_path: Path) -> None:
    from myriad_bench.store.agent_state import AgentStateMismatch

    save_agent_state(_agent_state(jax.random.key(0), hidden=4), tmp_path / "agent.msgpack")
    raw = load_agent_state(tmp_path / "agent.msgpack")
    with pytest.raises(
        AgentStateMismatch,
        match=r"agent\.msgpack: .*params/dense/bias \(stored \(4,\), this agent \(8,\)\).*and 1 more",
    ) as error:
        restore_agent_state(_agent_state(jax.random.key(0), hidden=8), raw, source=tmp_path / "agent.msgpack")
    assert len(error.value.leaves) == 9 and isinstance(error.value, ArtifactError)


def test_restore_of_another_structure_is_refused() -> None:
    target = {"params": {"w": jnp.zeros(2)}, "step": 0}
    with pytest.raises(ArtifactError, match=r"ckpt\.msgpack: .*params/w \(missing from the file\).*weights"):
        restore_agent_state(target, {"weights": np.zeros(2)}, source="ckpt.msgpack")


def test_files_are_flax_msgpack(tmp_path: Path) -> None:
    state = _agent_state(jax.random.key(0))
    path = tmp_path / "ours.msgpack"
    save_agent_state(state, path)
    assert path.read_bytes() == serialization.to_bytes(state)
    (tmp_path / "flax.msgpack").write_bytes(serialization.to_bytes(state))
    assert mbst.values_equal(load_agent_state(tmp_path / "flax.msgpack"), load_agent_state(path))


def test_saving_no_state_or_an_unserializable_one_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"no agent state to save to .*none\.msgpack"):
        save_agent_state(None, tmp_path / "none.msgpack")
    with pytest.raises(ArtifactError, match=r"could not serialize the agent state for .*bad\.msgpack"):
        save_agent_state({"f": lambda x: x}, tmp_path / "bad.msgpack")
    assert not (tmp_path / "bad.msgpack").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"\xc1", "could not be read"),  # 0xc1 is never valid msgpack
        (b"\x80\x05trailing", "could not be read"),  # an empty map, then extra data
    ],
)
def test_broken_files_raise_runtime_errors_naming_the_path(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "agent.msgpack"
    path.write_bytes(content)
    with pytest.raises(RuntimeError, match=match) as error:
        load_agent_state(path)
    assert isinstance(error.value, ArtifactError) and str(path) in str(error.value)


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.msgpack"
    save_agent_state(_agent_state(jax.random.key(0)), path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="truncated"):
        load_agent_state(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.msgpack"):
        load_agent_state(tmp_path / "absent.msgpack")
    with pytest.raises(ArtifactError, match=r"is a directory.*checkpoints/final\.msgpack"):
        load_agent_state(tmp_path)
