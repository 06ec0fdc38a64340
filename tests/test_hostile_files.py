"""Files crafted to crash, exhaust or mislead the loaders: each is refused with the documented error.

A crash or a runaway allocation is the failure mode here, and a segfault in the test process
is not a test result: every crafted file is loaded in a child process under a memory cap
(``RLIMIT_AS``), which reports the exception type and the peak memory it used.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MEMORY_CAP = 3 * 2**30  # address space of the child: Python, NumPy and pydantic fit well below

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    kind, path, cap = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from myriad_bench.store.errors import ArtifactError
    if kind == "msgpack":
        import flax.serialization  # imports JAX: not part of what the file costs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = "loaded"
    try:
        if kind == "pickle":
            from myriad_bench.store.pickles import load_results_pickle
            value = load_results_pickle(path)
            repr(value)  # reading the values is where a forged pointer would crash
        elif kind == "yaml":
            from myriad_bench.store.yaml_io import load_yaml
            value = load_yaml(path)
        elif kind == "msgpack":
            from myriad_bench.store.agent_state import load_agent_state
            value = load_agent_state(path)
            repr(value)
    except ArtifactError as error:
        outcome = type(error).__name__ + ": " + str(error)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "peak_kib": after - before}))
    """
)


def load_in_child(kind: str, path: Path) -> dict:
    """Load ``path`` in a capped child; the outcome (error text or "loaded") and the memory it took."""
    # The child caps itself first thing: a preexec_fn would make subprocess fork this
    # (multithreaded, JAX-importing) process instead of spawning.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path), str(MEMORY_CAP)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the loader crashed (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- crafted pickles

PROTO = b"\x80\x02"
MARK, TUPLE, REDUCE, BUILD, STOP = b"(", b"t", b"R", b"b", b"."
NONE, TRUE, FALSE, EMPTY_DICT, SETITEM = b"N", b"\x88", b"\x89", b"}", b"s"


def glob(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def raw(value: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(value)) + value


def integer(value: int) -> bytes:
    data = pickle.encode_long(value)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def call(target: bytes, *args: bytes) -> bytes:
    return target + MARK + b"".join(args) + TUPLE + REDUCE


def dtype(spec: str) -> bytes:
    return call(glob("numpy", "dtype"), text(spec), FALSE, TRUE)


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


OBJECT_FIELD_STATE = tup(
    integer(3),
    text("|"),
    NONE,
    tup(text("a")),
    EMPTY_DICT + text("a") + tup(dtype("O"), integer(0)) + SETITEM,
    integer(8),
    integer(8),
    integer(63),
)

HOSTILE_PICKLES = {
    # ndarray((1,), 'O', b'AAAAAAAA'): an object array whose item is the pointer 0x4141414141414141.
    "ndarray call with an object dtype": call(
        glob("numpy", "ndarray"), tup(integer(1)), text("O"), raw(b"A" * 8)
    ),
    "object dtype through _frombuffer": call(
        glob("numpy._core.numeric", "_frombuffer"), raw(b"A" * 8), dtype("O"), tup(integer(1)), text("C")
    ),
    # A void dtype whose BUILD state adds an object field over the raw bytes.
    "structured dtype with an object field": call(
        glob("numpy._core.numeric", "_frombuffer"),
        raw(b"A" * 8),
        dtype("V8") + OBJECT_FIELD_STATE + BUILD,
        tup(integer(1)),
        text("C"),
    ),
    "float dtype rebuilt with an object field": dtype("f8") + OBJECT_FIELD_STATE + BUILD,
    "scalar of an object dtype": call(glob("numpy._core.multiarray", "scalar"), dtype("O"), raw(b"A" * 8)),
    # 65 bytes of allowed names: frozenset(range(10**12)).
    "frozenset of a huge range": call(
        glob("builtins", "frozenset"), call(glob("builtins", "range"), integer(10**12))
    ),
    # An array of 10**18 items claimed over 8 bytes of data (a zero-stride view in NumPy's own loader).
    "array state claiming 8e18 bytes": call(
        glob("numpy._core.multiarray", "_reconstruct"), glob("numpy", "ndarray"), tup(integer(0)), raw(b"b")
    )
    + tup(integer(1), tup(integer(10**18)), dtype("f8"), FALSE, raw(b"A" * 8))
    + BUILD,
    # Items of size 0: 10**18 of them fit in no bytes at all, and every use iterates over them.
    "array of 10**18 zero-size items": call(
        glob("numpy._core.multiarray", "_reconstruct"), glob("numpy", "ndarray"), tup(integer(0)), raw(b"b")
    )
    + tup(integer(1), tup(integer(10**18)), dtype("V0"), FALSE, raw(b""))
    + BUILD,
    "bytes of a huge length": call(glob("builtins", "bytes"), integer(10**12)),
    "latin1 encoder asked for another codec": call(glob("_codecs", "encode"), text("x"), text("rot13")),
    # pickle's BYTEARRAY8 allocates its length before reading: one flipped byte asked for 2.4 GB.
    "bytearray8 claiming 2**31 bytes": b"\x96" + struct.pack("<Q", 2**31) + b"A" * 8,
}


def _billion_laughs(levels: int) -> bytes:
    """A list of 10 references to a list of 10 references ... (``levels`` deep), pickled once each."""
    value: list = ["lol"]
    for _ in range(levels):
        value = [value] * 10
    return pickle.dumps({"agent": {"name": "x", "extras": value}}, protocol=5)


@pytest.mark.parametrize("name", sorted(HOSTILE_PICKLES))
def test_crafted_pickles_are_refused_without_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / "results.pkl"
    path.write_bytes(PROTO + HOSTILE_PICKLES[name] + STOP)
    found = load_in_child("pickle", path)
    assert found["outcome"].startswith(("UnsafePickleError", "ArtifactError")), found
    assert str(path) in found["outcome"]
    assert found["peak_kib"] < 64 * 1024, found


@pytest.mark.parametrize("levels", [7, 9])
def test_aliased_lists_are_refused_before_anything_expands_them(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "results.pkl"
    path.write_bytes(_billion_laughs(levels))
    assert path.stat().st_size < 2_000
    found = load_in_child("pickle", path)
    assert found["outcome"].startswith("ArtifactError") and "expands to more than" in found["outcome"], found
    assert found["peak_kib"] < 64 * 1024, found


def test_a_list_holding_itself_half_a_million_times_is_refused_within_the_budget(tmp_path: Path) -> None:
    # 1 MiB: an empty list, memoised, then appended to itself by reference (BINGET 0) 2**19 times.
    # Walking it pushed 2**19 entries per level until the depth limit: 2.4 GB before the fix.
    path = tmp_path / "results.pkl"
    path.write_bytes(b"\x80\x04]\x94(" + b"h\x00" * 2**19 + b"e.")
    found = load_in_child("pickle", path)
    assert found["outcome"].startswith("ArtifactError") and "expands to more than" in found["outcome"], found
    assert found["peak_kib"] < 64 * 1024, found


def test_a_data_class_missing_a_field_is_refused_or_given_its_default(tmp_path: Path) -> None:
    # A mutated key in a BUILD state left a half-built object whose first use raised AttributeError.
    from myriad_bench.platform.types import EvaluationMetrics, TrainingMetrics
    from myriad_bench.store.errors import UnsafePickleError
    from myriad_bench.store.pickles import load_results_pickle

    path = tmp_path / "results.pkl"
    metrics = EvaluationMetrics([1], [1], [[1.0]], [[1]], [1.0], [0.0], [1.0])
    del vars(metrics)["mean_return"]
    path.write_bytes(pickle.dumps(metrics, protocol=5))
    with pytest.raises(
        UnsafePickleError, match="a EvaluationMetrics without its field 'mean_return'"
    ) as info:
        load_results_pickle(path)
    assert str(path) in str(info.value)
    older = TrainingMetrics([1], [1], loss=[0.5])
    del vars(older)["agent_metrics"]  # a field with a default: a file written before it existed
    path.write_bytes(pickle.dumps(older, protocol=5))
    assert load_results_pickle(path) == TrainingMetrics([1], [1], loss=[0.5])


def test_results_pickles_that_share_nothing_still_load(tmp_path: Path) -> None:
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps({"rows": [[float(i)] * 10 for i in range(1_000)]}, protocol=5))
    assert load_in_child("pickle", path)["outcome"] == "loaded"


# --------------------------------------------------------------------------- crafted YAML

HOSTILE_YAML = {
    # 1.4 KB that PyYAML loads instantly as shared references: 10**9 leaves when flattened.
    "alias bomb": "\n".join(
        ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    ),
    "10 000 nested flow sequences": "[" * 10_000,
    "200 000 nested flow sequences": "[" * 200_000,
    "100 000 nested block sequences": "- " * 100_000 + "x",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
def test_crafted_yaml_is_refused_without_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(HOSTILE_YAML[name])
    found = load_in_child("yaml", path)
    assert found["outcome"].startswith("ArtifactError") and str(path) in found["outcome"], found
    assert found["peak_kib"] < 64 * 1024, found


def test_yaml_errors_do_not_quote_the_file(tmp_path: Path) -> None:
    from myriad_bench.store.errors import ArtifactError
    from myriad_bench.store.yaml_io import load_yaml

    secret = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG"
    path = tmp_path / "baseline.yaml"
    path.write_text(f"[default]\n{secret}\n: {{\n")
    with pytest.raises(ArtifactError) as error:
        load_yaml(path)
    assert str(path) in str(error.value) and "wJalrXUtnFEMI" not in str(error.value)
    assert error.value.__suppress_context__  # the parser's own error, which quotes, is not chained


# --------------------------------------------------------------------------- crafted msgpack


def _msgpack_array(shape: list[int], dtype_name: bytes, buffer: bytes) -> bytes:
    import msgpack

    payload = msgpack.packb([shape, dtype_name, buffer], use_bin_type=True)
    return msgpack.packb({"params": msgpack.ExtType(1, payload)}, use_bin_type=True)


HOSTILE_MSGPACK = {
    "object dtype array": _msgpack_array([1], b"O", b"A" * 8),
    "structured array with fields": _msgpack_array([1], b"f4,i4", b"A" * 8),
    "10 000 nested maps": b"\x81\xa1k" * 10_000 + b"\xc0",
    "array header claiming 2**32 items": b"\xdd\xff\xff\xff\xff",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MSGPACK))
def test_crafted_agent_states_are_refused_without_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / "final.msgpack"
    path.write_bytes(HOSTILE_MSGPACK[name])
    found = load_in_child("msgpack", path)
    assert found["outcome"].startswith("ArtifactError") and str(path) in found["outcome"], found
    assert found["peak_kib"] < 64 * 1024, found
