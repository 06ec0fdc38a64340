"""``baseline.yaml``: what it holds, how it is checked when read and built when written.

Format 2 (written)::

    format_version: 2
    kind: training | evaluation | speed
    config_digest: ...           # Config.digest() of the runs (seeds aside); null for speed
    metric: {name: return, higher_is_better: true}
    created: ...                 # ISO UTC: when the content last changed
    versions: {...}              # library versions of the writer
    platforms:                   # the first is the primary, its runs at seed-<k>/
    - {fingerprint, digest, dir: ".", seeds, summary, speed}
    - {fingerprint, digest, dir: platform-<digest>, seeds, summary, speed}
    files: {relative path: sha256}   # every file of the case but baseline.yaml

A ``speed`` case (``myriad_benchmark`` + ``baseline.check_speed``) holds no runs: each platform
has ``seeds: []`` and its ``speed``, and ``files`` is empty.

Format 1 (the committed baselines before it: one platform, no digests) is still read. The file
arrives in pull requests: every field is checked, and a failure is a :class:`BaselineError`
naming the file and the field, never quoting the file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myriad_bench.harness.records import Kind
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.fingerprint import fingerprint_digest
from myriad_bench.store.yaml_io import load_yaml

__all__ = [
    "BASELINE_FILE",
    "BASELINE_FORMAT_VERSION",
    "DEFAULT_METRIC",
    "BaselineDocument",
    "BaselineError",
    "BaselineMeta",
    "PlatformEntry",
    "SpeedSection",
    "check_metric",
    "shown",
    "utc_now",
]

BASELINE_FORMAT_VERSION = 2
"""Version of the baseline folder's layout and ``baseline.yaml`` this library writes (it reads 1
and 2; run dirs have their own, :data:`~myriad_bench.store.rundir.RUN_DIR_FORMAT_VERSION`)."""
BASELINE_FILE = "baseline.yaml"
DEFAULT_METRIC: dict[str, Any] = {"name": "return", "higher_is_better": True}
COMPILE_CACHES = ("cold", "compiled", "persistent", "memory")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_MAX_PLATFORMS, _MAX_SEEDS, _MAX_FILES = 64, 10_000, 100_000


class BaselineError(Exception):
    """A baseline that cannot be used (missing, truncated, foreign or unsafe file); names the file."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def utc_now() -> str:
    """Now, as ``created`` stores it (ISO 8601, UTC, seconds)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SpeedSection:
    """A platform's stored throughput: the median env-steps/s of ``rounds`` warm rounds.

    ``spread`` is the interquartile range of the rounds' rates over their median; ``rates`` each
    round's env-steps/s; ``compile_s`` the cold compile seconds and ``compile_cache`` where that
    build came from (``cold``/``compiled``, ``persistent`` or ``memory``), when known.
    """

    env_steps_per_s: float
    spread: float
    rounds: int
    rates: list[float] = field(default_factory=list)
    compile_s: float | None = None
    compile_cache: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _number(self.env_steps_per_s) or self.env_steps_per_s <= 0:
            problems.append(f"env_steps_per_s must be a finite number > 0, got {shown(self.env_steps_per_s)}")
        if not _number(self.spread) or self.spread < 0:
            problems.append(f"spread must be a finite number >= 0, got {shown(self.spread)}")
        if not isinstance(self.rounds, int) or isinstance(self.rounds, bool) or self.rounds < 1:
            problems.append(f"rounds must be an integer >= 1, got {shown(self.rounds)}")
        rates = self.rates
        if not isinstance(rates, list) or len(rates) > _MAX_SEEDS or not all(_number(r) for r in rates):
            problems.append("rates must be a list of finite numbers")
        if self.compile_s is not None and (not _number(self.compile_s) or self.compile_s < 0):
            problems.append(f"compile_s must be null or a finite number >= 0, got {shown(self.compile_s)}")
        if self.compile_cache is not None and self.compile_cache not in COMPILE_CACHES:
            problems.append(f"compile_cache must be null or one of {', '.join(COMPILE_CACHES)}")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML (floats as Python floats)."""
        data = asdict(self)
        data["env_steps_per_s"], data["spread"] = float(self.env_steps_per_s), float(self.spread)
        data["rates"] = [float(rate) for rate in self.rates]
        data["compile_s"] = None if self.compile_s is None else float(self.compile_s)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> SpeedSection:
        """From :meth:`to_dict`'s plain data; ``ValueError`` saying which field is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        unknown = sorted(str(key) for key in data if key not in cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
        try:
            return cls(**{str(key): value for key, value in data.items()})
        except TypeError:  # a required key missing
            missing = [k for k in ("env_steps_per_s", "spread", "rounds") if k not in data]
            raise ValueError(f"missing {', '.join(missing)}") from None


@dataclass(frozen=True)
class BaselineMeta:
    """The case-wide part of ``baseline.yaml``."""

    kind: Kind
    config_digest: str | None
    metric: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_METRIC))
    created: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    format_version: int = BASELINE_FORMAT_VERSION

    def accepts_config(self, config: Any) -> bool:
        """Whether runs of ``config`` belong to this file's ``config_digest`` (when it has one).

        Format 1 files written before ``run.scan_chunk_size`` was removed hold the digest of the
        config with that (always null) field: those are accepted too, and so is the digest of
        files written before explicit defaults counted as absent (``legacy_digest``).
        """
        if self.config_digest is None:
            return True
        accepted = {config.digest(), config.legacy_digest()}
        if self.format_version == 1:
            accepted.add(_digest_with_scan_chunk_size(config))
        return self.config_digest in accepted


def _digest_with_scan_chunk_size(config: Any) -> str:
    """``config.digest()`` as computed while training configs had ``run.scan_chunk_size: null``."""
    data = config.model_dump(mode="json")
    data["run"].pop("seed", None)
    if "steps_per_env" in data["run"]:  # a training run; evaluation configs never had the field
        data["run"]["scan_chunk_size"] = None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PlatformEntry:
    """One platform of ``baseline.yaml``: its fingerprint, where its runs are, and their speed."""

    fingerprint: dict[str, Any] | None
    digest: str | None
    dir: str
    seeds: list[int]
    summary: dict[str, Any] | None = None
    speed: SpeedSection | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "digest": self.digest,
            "dir": self.dir,
            "seeds": list(self.seeds),
            "summary": self.summary,
            "speed": None if self.speed is None else self.speed.to_dict(),
        }


@dataclass(frozen=True)
class BaselineDocument:
    """A whole ``baseline.yaml``: ``files`` is ``None`` for format 1 (no digests recorded)."""

    meta: BaselineMeta
    platforms: list[PlatformEntry]
    files: dict[str, str] | None

    @classmethod
    def read(cls, yaml_file: Path) -> BaselineDocument:
        """Read and check ``baseline.yaml``; :class:`BaselineError` naming the file otherwise."""
        if not yaml_file.is_file():
            raise BaselineError(f"baseline file missing: {yaml_file}", yaml_file)
        try:
            data = load_yaml(yaml_file)
        except (ArtifactError, OSError) as error:
            reason = str(error).removeprefix(f"{yaml_file}: ")
            raise BaselineError(f"{yaml_file}: not a valid baseline.yaml ({reason})", yaml_file) from None
        return cls.parse(data, yaml_file)

    @classmethod
    def parse(cls, data: Any, yaml_file: Path) -> BaselineDocument:
        """Check loaded YAML data (format 1 or 2)."""

        def refuse(problem: str) -> BaselineError:
            return BaselineError(f"{yaml_file}: {problem}", yaml_file)

        if not isinstance(data, dict) or "format_version" not in data:
            raise refuse(
                "not a myriad-bench baseline (no format_version mapping); "
                "delete the folder or rewrite it with --myriad-update-baselines"
            )
        version = data["format_version"]
        if isinstance(version, bool) or version not in (1, BASELINE_FORMAT_VERSION):
            raise refuse(
                f"baseline format_version {shown(version)} is not supported (this myriad-bench reads 1 "
                f"and {BASELINE_FORMAT_VERSION}); upgrade myriad-bench or rewrite it with "
                "--myriad-update-baselines"
            )
        kind = data.get("kind")
        if kind not in ("training", "evaluation", "speed") or (kind == "speed" and version == 1):
            raise refuse(f"kind must be 'training', 'evaluation' or 'speed', got {shown(kind)}")
        digest = data.get("config_digest")
        if digest is not None and not isinstance(digest, str):
            raise refuse(f"config_digest must be a string, got {shown(digest)}")
        versions = data.get("versions") or {}
        if not isinstance(versions, dict):
            raise refuse(f"versions must be a mapping, got {type(versions).__name__}")
        created = data.get("created")
        meta = BaselineMeta(
            kind=kind,
            config_digest=digest,
            metric=_metric(data.get("metric", DEFAULT_METRIC), refuse),
            created=None if created is None else str(created),
            versions={str(k): str(v) for k, v in versions.items()},
            format_version=version,
        )
        if version == 1:
            fingerprint = data.get("platform_fingerprint") or None
            if fingerprint is not None and not isinstance(fingerprint, dict):
                raise refuse("platform_fingerprint must be a mapping")
            seeds = _seeds(data.get("seeds"), "seeds", refuse)
            fp_digest = fingerprint_digest(fingerprint) if fingerprint else None
            return cls(meta, [PlatformEntry(fingerprint, fp_digest, ".", seeds)], None)
        platforms = data.get("platforms")
        if not isinstance(platforms, list) or not platforms or len(platforms) > _MAX_PLATFORMS:
            raise refuse(f"platforms must be a list of 1 to {_MAX_PLATFORMS} mappings")
        entries = [_platform(p, i, refuse, speed_only=kind == "speed") for i, p in enumerate(platforms)]
        digests = [e.digest for e in entries if e.digest is not None]
        if len(set(digests)) != len(digests):
            raise refuse("platforms: the same platform digest appears twice")
        return cls(meta, entries, _files(data.get("files"), refuse))

    def to_yaml(self) -> dict[str, Any]:
        """Plain data in the order ``baseline.yaml`` is written (always format 2)."""
        meta = self.meta
        return {
            "format_version": BASELINE_FORMAT_VERSION,
            "kind": meta.kind,
            "config_digest": meta.config_digest,
            "metric": dict(meta.metric),
            "created": meta.created,
            "versions": dict(meta.versions),
            "platforms": [entry.to_dict() for entry in self.platforms],
            "files": dict(sorted((self.files or {}).items())),
        }


_SHOWN = re.compile(r"[A-Za-z0-9_.\-/]{1,80}")


def shown(value: Any) -> str:
    """A value named in an error: numbers and short path-like words as they are, anything else by
    its type only (an error never copies free text of a file that may be crafted)."""
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str) and _SHOWN.fullmatch(value):
        return repr(value)
    return f"a {type(value).__name__}" + (f" of {len(value)} characters" if isinstance(value, str) else "")


def check_metric(value: Any) -> dict[str, Any]:
    """A ``metric`` section: ``{name: <non-empty string>, higher_is_better: <bool>}``; ``ValueError``
    otherwise."""
    if (
        not isinstance(value, Mapping)
        or not isinstance(value.get("name"), str)
        or not 0 < len(value["name"]) <= 200
        or not isinstance(value.get("higher_is_better"), bool)
    ):
        raise ValueError(
            "metric must be a mapping with a name (1 to 200 characters) and higher_is_better (true/false)"
        )
    return {"name": value["name"], "higher_is_better": value["higher_is_better"]}


def _metric(value: Any, refuse: Any) -> dict[str, Any]:
    try:
        return check_metric(value)
    except ValueError as error:
        raise refuse(str(error)) from None


def _seeds(value: Any, where: str, refuse: Any, *, empty: bool = False) -> list[int]:
    if empty:  # a speed-only case stores no runs
        if value != []:
            raise refuse(f"{where} must be an empty list (a speed-only case stores no runs)")
        return []
    if (
        not isinstance(value, list)
        or not value
        or len(value) > _MAX_SEEDS
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)
        or len(set(value)) != len(value)
    ):
        raise refuse(f"{where} must be a non-empty list of distinct integers")
    return list(value)


def _platform(value: Any, index: int, refuse: Any, *, speed_only: bool = False) -> PlatformEntry:
    where = f"platforms[{index}]"
    if not isinstance(value, dict):
        raise refuse(f"{where} must be a mapping")
    fingerprint, digest = value.get("fingerprint"), value.get("digest")
    if fingerprint is not None and not isinstance(fingerprint, dict):
        raise refuse(f"{where}.fingerprint must be a mapping or null")
    if digest is not None and not (isinstance(digest, str) and _HEX16.fullmatch(digest)):
        raise refuse(f"{where}.digest must be 16 hexadecimal digits or null")
    if fingerprint and digest != fingerprint_digest(fingerprint):
        raise refuse(f"{where}.digest does not match its fingerprint (edited by hand?)")
    expected = "." if index == 0 else f"platform-{digest}"
    if index > 0 and digest is None:
        raise refuse(f"{where}: a further platform needs its fingerprint and digest")
    if value.get("dir") != expected:
        raise refuse(f"{where}.dir must be {expected!r}, got {shown(value.get('dir'))}")
    speed = value.get("speed")
    if speed is not None:
        try:
            speed = SpeedSection.from_dict(speed)
        except ValueError as error:
            raise refuse(f"{where}.speed: {error}") from None
    if speed_only and speed is None:
        raise refuse(f"{where}.speed is missing (a speed-only case stores its speed and nothing else)")
    summary = value.get("summary")
    return PlatformEntry(
        fingerprint=fingerprint or None,
        digest=digest,
        dir=expected,
        seeds=_seeds(value.get("seeds"), f"{where}.seeds", refuse, empty=speed_only),
        summary=summary if isinstance(summary, dict) else None,
        speed=speed,
    )


def _files(value: Any, refuse: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > _MAX_FILES:
        raise refuse("files must be a mapping of relative paths to sha256 digests")
    files = {}
    for name, digest in value.items():
        # The writer's names only (letters, digits, '.', '_', '-' between '/'), so that a name
        # named in an error is never free text, and never leaves the case folder.
        if (
            not isinstance(name, str)
            or not _FILE_NAME.fullmatch(name)
            or len(name) > 1000
            or any(part in (".", "..") for part in name.split("/"))
            or name == BASELINE_FILE
        ):
            raise refuse(f"files: {shown(name)} is not a relative path inside the case")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise refuse(f"files: {name}: expected a sha256 digest (64 hexadecimal digits)")
        files[name] = digest
    return files
