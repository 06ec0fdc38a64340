"""Persistence: atomic writes, the restricted unpickler, run dirs and run metadata."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import myriad_bench.strategies as mbst
from myriad_bench.agents.registry import agent_names, register_agent
from myriad_bench.configs import create_config
from myriad_bench.envs.registry import env_names, register_env
from myriad_bench.platform.types import EvaluationMetrics, TrainingMetrics, TrainingResults
from myriad_bench.store.atomic import atomic_write, atomic_write_bytes
from myriad_bench.store.errors import ArtifactError, UnsafePickleError
from myriad_bench.store.fingerprint import fingerprint_digest, library_versions, platform_fingerprint
from myriad_bench.store.pickles import dump_results_pickle, load_results_pickle
from myriad_bench.store.rundir import (
    RUN_DIR_FORMAT_VERSION as FORMAT_VERSION,
)
from myriad_bench.store.rundir import (
    RunInfo,
    default_run_dir,
    read_run_metadata,
    write_run_metadata,
)

REPO = Path(__file__).resolve().parents[1]
_NAME = st.text("abcxyz-._019", min_size=1, max_size=6)


def _never_built(*args: object, **kwargs: object) -> None:
    raise AssertionError("persistence tests never build environments or agents")


@pytest.fixture(scope="module")
def results() -> TrainingResults:
    if not env_names():
        register_env("dummy-env", _never_built)
    if not agent_names():
        register_agent("dummy-agent", _never_built)
    config = create_config(env=env_names()[0], agent=agent_names()[0], steps_per_env=10)
    returns = [np.arange(4, dtype=np.float32) + i for i in range(3)]
    return TrainingResults(
        agent_state=None,
        training_metrics=TrainingMetrics([10, 20, 30], [10, 20, 30]),
        eval_metrics=EvaluationMetrics(
            [10, 20, 30],
            [10, 20, 30],
            returns,
            [np.full(4, 10, np.int32)] * 3,
            [float(r.mean()) for r in returns],
            [float(r.std()) for r in returns],
            [10.0] * 3,
        ),
        config=config,
        run_dir=Path("outputs/x"),
    )


def _temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_the_file_and_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert _temp_files(path.parent) == []


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    atomic_write_bytes(path, b"old contents")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old contents"
    assert _temp_files(tmp_path) == []


def test_a_failing_pickle_leaves_the_old_results(tmp_path: Path, results: TrainingResults) -> None:
    class Unpicklable:
        def __reduce__(self) -> tuple:
            raise RuntimeError("cannot pickle this")

    path = tmp_path / "results.pkl"
    dump_results_pickle(results, path)
    before = path.read_bytes()
    broken = TrainingResults(
        None, results.training_metrics, results.eval_metrics, results.config, Unpicklable()
    )  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        dump_results_pickle(broken, path)
    assert path.read_bytes() == before
    assert _temp_files(tmp_path) == []


def test_a_process_killed_mid_save_leaves_the_previous_results(
    tmp_path: Path, results: TrainingResults
) -> None:
    results.save(tmp_path)
    before = (tmp_path / "results.pkl").read_bytes()
    ready = tmp_path / "temp-written"
    # The child saves new results and stops for good once the temp file holds the whole new
    # pickle, just before the rename; then it is killed with SIGKILL.
    child = textwrap.dedent(
        f"""
        import os, time
        from pathlib import Path
        from myriad_bench.platform.types import TrainingResults

        real_replace = os.replace

        def replace(source, target):
            if Path(target).name == "results.pkl":
                Path({str(ready)!r}).write_text("temp written")
                time.sleep(600)
            real_replace(source, target)

        os.replace = replace
        results = TrainingResults.load({str(tmp_path)!r})
        results.eval_metrics.mean_return = [123.0] * len(results.eval_metrics.mean_return)
        results.save({str(tmp_path)!r})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", child], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the child never reached the rename (exit code {process.poll()})"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert (tmp_path / "results.pkl").read_bytes() == before
    assert TrainingResults.load(tmp_path).eval_metrics.mean_return == results.eval_metrics.mean_return
    leftovers = _temp_files(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(".results.pkl.")  # hidden, never read


# --------------------------------------------------------------------------- restricted unpickling


class _Poison:
    """Pickles as a call of ``target(*args)``: what a crafted results file would hold."""

    def __init__(self, target: object, *args: object) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple:
        return self.target, self.args


def _poisoned_payloads(marker: Path) -> dict[str, object]:
    return {
        "os.system": _Poison(os.system, f"touch {marker}"),
        "builtins.exec": _Poison(exec, f"open({str(marker)!r}, 'w').close()"),
        "builtins.eval": _Poison(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess.Popen": _Poison(subprocess.Popen, ["touch", str(marker)]),
        "builtins.getattr": _Poison(getattr, "text", "upper"),
    }


@pytest.mark.parametrize(
    "name", ["os.system", "builtins.exec", "builtins.eval", "subprocess.Popen", "builtins.getattr"]
)
def test_poisoned_pickles_are_refused_without_running_code(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    payload = _poisoned_payloads(marker)[name]
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps({"results": [payload]}, protocol=5))
    with pytest.raises(UnsafePickleError) as error:
        load_results_pickle(path)
    message = str(error.value)
    refused = {"os.system": ("posix.system", "nt.system")}.get(name, (name,))
    assert str(path) in message and any(f"'{g}'" in message for g in refused)
    assert not marker.exists()


def test_poison_inside_real_results_is_refused(tmp_path: Path, results: TrainingResults) -> None:
    marker = tmp_path / "pwned"
    poisoned = TrainingResults(
        None,
        results.training_metrics,
        results.eval_metrics,
        results.config,
        _Poison(os.system, f"touch {marker}"),  # type: ignore[arg-type]
    )
    dump_results_pickle(poisoned, tmp_path / "results.pkl")
    with pytest.raises(UnsafePickleError, match="system"):
        TrainingResults.load(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("myriad_bench.store.atomic", "atomic_write_bytes"),  # our own code, but a function
        ("myriad_bench.store.pickles", "Path"),  # a re-exported foreign class
        ("numpy", "load"),
        ("numpy.testing", "assert_equal"),
        ("pathlib", "Path.write_text"),
        ("posix", "system"),
        ("importlib", "import_module"),
    ],
)
def test_globals_outside_the_allow_list_are_refused(tmp_path: Path, module: str, name: str) -> None:
    path = tmp_path / "crafted.pkl"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R.")  # GLOBAL, (), REDUCE
    with pytest.raises(UnsafePickleError, match=rf"crafted\.pkl.*'{module}\.{name}'"):
        load_results_pickle(path)


def test_allowed_values_round_trip(tmp_path: Path) -> None:
    import ml_dtypes

    value = {
        "arrays": [np.arange(3.0), np.zeros((2, 0), np.int8), np.ones(2, ml_dtypes.bfloat16), np.array(True)],
        "scalars": [np.float32(1.5), np.int64(-3), np.bool_(False), 1 + 2j],
        "dtypes": [np.dtype("f2"), np.dtype(ml_dtypes.bfloat16)],
        "paths": [Path("a/b"), Path("/abs")],
        "containers": ({1, 2}, frozenset({"x"}), bytearray(b"ab"), 1 + 2j, b""),
        "date": datetime(2026, 1, 2, 3, 4, 5),
    }
    path = tmp_path / "values.pkl"
    dump_results_pickle(value, path)
    assert mbst.values_equal(load_results_pickle(path), value)


def test_numpy_1_pickles_load_with_numpy_2(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    legacy = pickle.dumps(array, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in legacy
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    np.testing.assert_array_equal(load_results_pickle(path), array)


def test_jax_arrays_are_stored_as_numpy(tmp_path: Path) -> None:
    path = tmp_path / "jax.pkl"
    dump_results_pickle({"x": jnp.arange(3), "y": [jnp.ones(2, jnp.bfloat16)]}, path)
    loaded = load_results_pickle(path)
    assert type(loaded["x"]) is np.ndarray and loaded["x"].tolist() == [0, 1, 2]
    assert str(loaded["y"][0].dtype) == "bfloat16"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"garbage that is not a pickle", "could not be read as a results pickle"),
        (pickle.dumps(42), "holds a int, expected TrainingResults"),
        (pickle.dumps({"a": 1}), "holds a dict, expected TrainingResults"),
        (pickle.dumps([1]) + b"trailing", "unexpected bytes after the pickle"),
    ],
)
def test_foreign_and_broken_files_name_path_and_expectation(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "results.pkl"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=match) as error:
        load_results_pickle(path, expected=TrainingResults)
    assert str(path) in str(error.value)


def test_truncated_results_are_refused(tmp_path: Path, results: TrainingResults) -> None:
    path = tmp_path / "results.pkl"
    dump_results_pickle(results, path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ArtifactError, match="truncated"):
        load_results_pickle(path)


def test_missing_results_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.pkl"):
        load_results_pickle(tmp_path / "nothing.pkl")
    with pytest.raises(ArtifactError, match="is a directory"):
        load_results_pickle(tmp_path)


# --------------------------------------------------------------------------- run dirs and metadata


def test_default_run_dir_is_dated_and_unique(tmp_path: Path) -> None:
    now = datetime(2026, 2, 12, 14, 30, 52)
    first = default_run_dir(tmp_path / "outputs", now=now)
    second = default_run_dir(tmp_path / "outputs", now=now)
    assert first == tmp_path / "outputs" / "2026-02-12" / "14-30-52"
    assert second == tmp_path / "outputs" / "2026-02-12" / "14-30-52-1"
    assert first.is_dir() and second.is_dir()


def test_metadata_has_versions_fingerprint_and_times(tmp_path: Path) -> None:
    info = RunInfo.start().finish()
    written = write_run_metadata(tmp_path, run_info=info, result_type="TrainingResults")
    metadata = read_run_metadata(tmp_path)
    assert metadata == written
    assert metadata["format_version"] == FORMAT_VERSION == 1
    assert set(metadata["versions"]) == {"myriad-bench", "jax", "jaxlib", "flax", "optax", "numpy", "python"}
    assert metadata["versions"] == library_versions()
    assert metadata["backend"] == "cpu"
    fingerprint = metadata["fingerprint"]
    assert {"machine", "cpu_model", "cpu_features", "cpu_features_digest", "device_kind", "versions"} <= set(
        fingerprint
    )
    assert metadata["fingerprint_digest"] == fingerprint_digest(platform_fingerprint())
    created = datetime.fromisoformat(metadata["created"])
    finished = datetime.fromisoformat(metadata["finished"])
    assert created.utcoffset().total_seconds() == 0 and finished >= created
    assert metadata["duration_s"] == pytest.approx((finished - created).total_seconds(), abs=0.01)


def test_metadata_without_run_info_has_no_finish(tmp_path: Path) -> None:
    metadata = write_run_metadata(tmp_path)
    assert metadata["created"] is not None and metadata["finished"] is None and metadata["duration_s"] is None


def test_fingerprint_digest_follows_the_fingerprint() -> None:
    fingerprint = platform_fingerprint()
    fingerprint["versions"]["jax"] = "mutated"  # a copy: the next call is unaffected
    assert platform_fingerprint()["versions"]["jax"] != "mutated"
    assert fingerprint_digest(platform_fingerprint()) == fingerprint_digest(platform_fingerprint())
    assert fingerprint_digest(fingerprint) != fingerprint_digest(platform_fingerprint())
    other_cpu = {**platform_fingerprint(), "cpu_features": ["sse2"]}
    assert fingerprint_digest(other_cpu) != fingerprint_digest(platform_fingerprint())
    assert len(fingerprint_digest(fingerprint)) == 16


@given(
    st.fixed_dictionaries(
        {"format_version": st.integers(1, FORMAT_VERSION)},
        optional={
            "created": st.datetimes().map(lambda d: d.isoformat()),
            "duration_s": st.floats(0, 1e6),
            "versions": st.dictionaries(_NAME, _NAME, max_size=3),
        },
    )
)
def test_metadata_yaml_round_trip(metadata: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        atomic_write_bytes(Path(tmp) / "run_metadata.yaml", yaml.safe_dump(metadata).encode())
        assert read_run_metadata(tmp) == metadata


def test_future_format_version_names_file_and_both_versions(tmp_path: Path, results: TrainingResults) -> None:
    results.save(tmp_path)
    metadata_path = tmp_path / "run_metadata.yaml"
    metadata = yaml.safe_load(metadata_path.read_text())
    metadata["format_version"] = FORMAT_VERSION + 1
    metadata_path.write_text(yaml.safe_dump(metadata))
    pattern = rf"run_metadata\.yaml.*format_version {FORMAT_VERSION + 1}.*format_version {FORMAT_VERSION}"
    with pytest.raises(ArtifactError, match=pattern):
        TrainingResults.load(tmp_path)
    with pytest.raises(ArtifactError, match=pattern):
        read_run_metadata(tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2]", "expected a run-metadata mapping"),
        ("created: today", "expected an integer format_version"),
        ("format_version: 'one'", "expected an integer format_version"),
        ("format_version: true", "expected an integer format_version"),
        ("{unclosed", "not valid YAML"),
    ],
)
def test_broken_metadata_is_refused(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "run_metadata.yaml").write_text(text)
    with pytest.raises(ArtifactError, match=match):
        read_run_metadata(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"run_metadata\.yaml"):
        read_run_metadata(tmp_path / "elsewhere")


def test_seed_era_run_dirs_without_metadata_load(tmp_path: Path, results: TrainingResults) -> None:
    results.save(tmp_path)
    (tmp_path / "run_metadata.yaml").unlink()
    assert TrainingResults.load(tmp_path).summary() == results.summary()


def test_fingerprint_compares_linux_and_cpuid_spellings_alike() -> None:
    # Baselines written before py-cpuinfo recorded Linux's flag names; py-cpuinfo adds CPUID's.
    from myriad_bench.store.fingerprint import same_platform

    current = platform_fingerprint()
    linux_names = {**current, "cpu_features": ["avx512_vnni", "sha_ni", "sse4_1"]}
    cpuid_names = {**current, "cpu_features": ["avx512vnni", "sha", "sse4_1", "sse41"]}
    assert same_platform(linux_names, cpuid_names)
    assert not same_platform(linux_names, {**current, "cpu_features": ["avx512vnni", "sse4_1"]})
    assert not same_platform(current, None)


def test_atomic_writes_get_the_mode_of_a_normal_file(tmp_path: Path) -> None:
    import stat

    from myriad_bench.store import atomic

    atomic_write_bytes(tmp_path / "a.bin", b"x")
    with open(tmp_path / "b.bin", "wb") as f:  # what the process's umask gives a plain open()
        f.write(b"x")
    mode = stat.S_IMODE((tmp_path / "a.bin").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o666 & ~atomic._UMASK
