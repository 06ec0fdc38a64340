"""The files of a baseline case: found without trusting them, verified, and compared by content.

- :func:`scan_case` lists every regular file of a case folder, refusing symbolic links that
  resolve outside the baselines folder (never reading through them) and anything that is not a
  file or a folder (a FIFO would block a reader forever).
- :func:`verify_files` holds the files against ``baseline.yaml``'s ``files:`` (sha256 each):
  missing, unlisted or changed files are refused by name, before any of them is loaded.
- :func:`content_digest` says whether two runs hold the same results (config, metrics, arrays by
  dtype, shape and bytes, the agent checkpoint's bytes), where pickle bytes cannot: pydantic
  pickles a set whose order changes from one process to the next.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from pydantic import BaseModel

from myriad_bench.harness.baseline_meta import BASELINE_FILE, BaselineError
from myriad_bench.harness.curves import consistent_kind, results_kind, run_curves, seed_of
from myriad_bench.harness.records import Kind, finite

__all__ = [
    "STRAY",
    "checked_runs",
    "checkpoint_bytes",
    "content_digest",
    "copy_files",
    "non_finite",
    "runs_summary",
    "same_content",
    "scan_case",
    "sha256_file",
    "verify_files",
]

STRAY = re.compile(r"\.baseline\.yaml\..+\.tmp")
"""The temporary file of a killed atomic rewrite of ``baseline.yaml`` (removed by recovery,
never read)."""
_MAX_FILES, _MAX_DEPTH = 100_000, 32
_NOT_PART_OF_RUNS = {"run_dir", "agent_state", "final_env_state"}


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def scan_case(directory: Path, root: Path) -> dict[str, Path]:
    """Every regular file under ``directory`` by relative POSIX path; :class:`BaselineError`
    naming the entry for a link leaving ``root``, a dangling link, a special file or a loop."""
    root_real = os.path.realpath(root)
    if os.path.islink(directory) and not _inside(str(directory), root_real):
        raise BaselineError(
            f"{directory}: the case folder is a symbolic link to a path outside the baselines "
            f"folder {root}; refused (links may only point inside it)",
            directory,
        )
    if not directory.is_dir():
        raise BaselineError(f"baseline folder missing: {directory}", directory)
    found: dict[str, Path] = {}
    stack: list[tuple[Path, str, int]] = [(directory, "", 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        folder, prefix, depth = stack.pop()
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen or depth > _MAX_DEPTH:
            raise BaselineError(f"{folder}: folders loop or nest too deep (links?); refused", folder)
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
        for name in names:
            path, rel = folder / name, prefix + name
            if prefix == "" and STRAY.fullmatch(name):
                continue
            if path.is_symlink() and not _inside(str(path), root_real):
                raise BaselineError(
                    f"{path}: a symbolic link to a path outside the baselines folder {root}; "
                    "refused without reading it",
                    path,
                )
            try:
                mode = os.stat(path).st_mode
            except OSError:
                raise BaselineError(f"{path}: a dangling symbolic link; refused", path) from None
            if stat.S_ISDIR(mode):
                stack.append((path, rel + "/", depth + 1))
            elif stat.S_ISREG(mode):
                found[rel] = path
                if len(found) > _MAX_FILES:
                    raise BaselineError(f"{directory}: more than {_MAX_FILES:,} files; refused", directory)
            else:
                raise BaselineError(f"{path}: not a regular file or folder; refused", path)
    return found


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(directory: Path, found: Mapping[str, Path], listed: Mapping[str, str]) -> None:
    """Refuse (naming the file) a listed file that is missing or differs, or a file not listed."""
    yaml_file = directory / BASELINE_FILE
    for rel in sorted(listed):
        if rel not in found:
            raise BaselineError(f"{directory / rel}: listed in {yaml_file} but missing", directory / rel)
    for rel in sorted(found):
        if rel != BASELINE_FILE and rel not in listed:
            raise BaselineError(
                f"{found[rel]}: not listed in {yaml_file} (files:); added by hand or by another "
                "tool: remove it, or rewrite the case with --myriad-update-baselines",
                found[rel],
            )
    for rel, expected in sorted(listed.items()):
        if sha256_file(found[rel]) != expected:
            raise BaselineError(
                f"{found[rel]}: its sha256 differs from the one {yaml_file} records (the file was "
                "modified, truncated or replaced); restore it, or rewrite the case with "
                "--myriad-update-baselines",
                found[rel],
            )


def non_finite(run: Any) -> str | None:
    """Where a run holds a NaN or infinite evaluation return (``None`` when it holds none)."""
    curves = run_curves(run)
    for label, values in (("episode return", curves.episode_returns), ("mean return", curves.mean_return)):
        bad = np.argwhere(~np.isfinite(values))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            what = (
                f"evaluation {index[0]} (step {int(curves.steps[index[0]])})"
                if results_kind(run) == "training"
                else "the evaluation"
            )
            return f"seed {curves.seed}: {what} holds a non-finite {label} ({float(values[index])})"
    return None


def content_digest(run: Any, checkpoint: bytes | None) -> str:
    """A digest of what a run holds (not where it was saved), and of its checkpoint's bytes.

    Equal for a run and the same run saved and loaded again: arrays count by dtype, shape and
    bytes (NumPy or JAX alike), configs by their JSON dump, dataclasses field by field.
    """
    digest = hashlib.sha256()

    def put(tag: bytes, payload: bytes = b"") -> None:
        digest.update(tag + len(payload).to_bytes(8, "little") + payload)

    def walk(value: Any, top: bool = False) -> None:
        if value is None:
            put(b"N")
        elif isinstance(value, bool):
            put(b"B", b"1" if value else b"0")
        elif isinstance(value, np.ndarray | np.generic) or (
            hasattr(value, "__array__") and hasattr(value, "dtype") and hasattr(value, "shape")
        ):
            array = np.ascontiguousarray(np.asarray(value))
            put(b"A", f"{array.dtype.str}{array.shape}".encode())
            put(b"a", array.tobytes())
        elif isinstance(value, int):
            put(b"I", str(value).encode())
        elif isinstance(value, float):
            put(b"F", value.hex().encode())
        elif isinstance(value, str | PurePath):
            put(b"S", str(value).encode())
        elif isinstance(value, BaseModel):
            put(b"M", type(value).__name__.encode())
            walk(value.model_dump(mode="json"))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            put(b"C", type(value).__name__.encode())
            for each in dataclasses.fields(value):
                if not (top and each.name in _NOT_PART_OF_RUNS):
                    put(b"k", each.name.encode())
                    walk(getattr(value, each.name))
        elif isinstance(value, Mapping):
            put(b"D", str(len(value)).encode())
            for key in sorted(value, key=repr):
                walk(key)
                walk(value[key])
        elif isinstance(value, list | tuple):
            put(b"L", str(len(value)).encode())
            for item in value:
                walk(item)
        else:
            raise TypeError(f"cannot compare results holding a {type(value).__name__}")

    walk(run, top=True)
    put(b"K" if checkpoint is not None else b"N", checkpoint or b"")
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """NumPy (and JAX) scalars as Python numbers: YAML writes plain types only."""
    if isinstance(value, np.generic) or (hasattr(value, "item") and getattr(value, "shape", None) == ()):
        return value.item()
    return value


def runs_summary(
    runs: Sequence[Any], checkpoint_returns: Mapping[int, float] | None = None
) -> dict[str, Any]:
    """A platform's ``summary``: means over seeds of the final return (and, for training, the area
    under the eval curve), and each seed's ``results.summary()`` (with ``checkpoint_return``, the
    mean return of its saved agent evaluated with the case's eval settings, when given)."""
    kind = consistent_kind(runs)
    per_seed, finals, aucs = {}, [], []
    for run in runs:
        curves = run_curves(run)
        summary = {key: _plain(value) for key, value in run.summary().items()}
        finals.append(curves.final_return)
        aucs.append(curves.auc)
        if kind == "training":
            summary["eval_return_auc"] = finite(curves.auc)
        if checkpoint_returns and seed_of(run) in checkpoint_returns:
            summary["checkpoint_return"] = finite(float(checkpoint_returns[seed_of(run)]))
        per_seed[seed_of(run)] = summary
    return {
        "final_return_mean": finite(float(np.mean(finals))),
        "eval_return_auc_mean": finite(float(np.mean(aucs))) if kind == "training" else None,
        "per_seed": per_seed,
    }


def checked_runs(runs: Iterable[Any]) -> tuple[Kind, dict[int, Any]]:
    """The kind of runs a case may be written from, and the runs by seed; refused (``ValueError``,
    ``TypeError``, or :class:`BaselineError` for a non-finite return) before anything is written."""
    runs = list(runs)
    kind = consistent_kind(runs)
    for run in runs:
        problem = non_finite(run)
        if problem:
            raise BaselineError(f"{problem}; a baseline must hold finite returns: nothing was written")
    return kind, {seed_of(run): run for run in runs}


def checkpoint_bytes(run: Any, kind: Kind) -> bytes | None:
    """The bytes ``checkpoints/final.msgpack`` gets for a run (training runs with an agent state)."""
    if kind != "training" or getattr(run, "agent_state", None) is None:
        return None
    from flax import serialization

    return serialization.to_bytes(run.agent_state)


def same_content(
    runs: Mapping[int, Any], stored: Mapping[int, Any], checkpoints: Mapping[int, Path], kind: Kind
) -> list[int]:
    """The seeds whose new run holds what the stored run (and its checkpoint file) holds."""
    same = []
    for seed, run in runs.items():
        if seed in stored:
            checkpoint = checkpoints.get(seed)
            old = content_digest(stored[seed], checkpoint.read_bytes() if checkpoint else None)
            if content_digest(run, checkpoint_bytes(run, kind)) == old:
                same.append(seed)
    return same


def copy_files(files: Mapping[str, Path], destination: Path) -> None:
    """Copy files (relative path -> source) under ``destination`` byte for byte, times kept."""
    for rel, source in sorted(files.items()):
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
