"""Library versions and the platform fingerprint: what decides whether a rerun is bit-exact.

The CPU's model and instruction-set extensions come from py-cpuinfo (installed with
pytest-benchmark). JAX is imported only when a fingerprint is asked for, for its backend.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import re
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from typing import Any

__all__ = [
    "canonical_fingerprint",
    "fingerprint_digest",
    "library_versions",
    "platform_fingerprint",
    "same_platform",
]

_VERSIONED_DISTRIBUTIONS = ("myriad-bench", "jax", "jaxlib", "flax", "optax", "numpy")
# Libraries whose versions can change the numbers a run produces (the fingerprint's part).
_NUMERIC_DISTRIBUTIONS = ("jax", "jaxlib", "flax", "optax", "numpy")

# Instruction-set extensions decide which code XLA emits for this CPU (and so the order of
# floating-point operations); other flags (microcode, virtualisation, power) do not.
_ISA_FLAG = re.compile(
    r"(avx|sse|ssse|fma|f16c|bmi|amx|adx|aes|sha|gfni|vaes|vpclmul|pclmul|popcnt|lzcnt|movbe|"
    r"asimd|neon|sve|fp|bf16|i8mm|dotprod|fhm|crc|atomics|vnni).*"
)
# Linux and CPUID spell some extensions apart (avx512_vnni / avx512vnni, sha_ni / sha); py-cpuinfo
# merges both spellings. Compared without underscores and with these aliases, they coincide.
_ALIASES = {"sha": "shani"}


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for dist in _VERSIONED_DISTRIBUTIONS:
        try:
            versions.append((dist, importlib_metadata.version(dist)))
        except importlib_metadata.PackageNotFoundError:
            versions.append((dist, "not installed"))
    versions.append(("python", platform.python_version()))
    return tuple(versions)


def library_versions() -> dict[str, str]:
    """Versions of myriad-bench, jax, jaxlib, flax, optax, numpy and python."""
    return dict(_library_versions())


def _canonical_features(flags: Iterable[str]) -> list[str]:
    features = set()
    for flag in flags:
        name = str(flag).lower().replace("_", "")
        features.add(_ALIASES.get(name, name))
    return sorted(features)


@functools.cache
def _cpu() -> tuple[str, tuple[str, ...]]:
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    flags = [flag for flag in info.get("flags", []) if _ISA_FLAG.fullmatch(flag)]
    model = info.get("brand_raw") or platform.processor() or "unknown"
    return model, tuple(_canonical_features(flags))


@functools.cache
def _platform_fingerprint_json() -> str:
    import jax

    model, features = _cpu()
    versions = library_versions()
    devices = jax.devices()
    fingerprint = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_model": model,
        "cpu_features": list(features),
        "cpu_features_digest": hashlib.sha256(" ".join(features).encode()).hexdigest()[:16],
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind if devices else "none",
        "x64": bool(jax.config.jax_enable_x64),
        "versions": {name: versions[name] for name in _NUMERIC_DISTRIBUTIONS},
    }
    return json.dumps(fingerprint)


def platform_fingerprint() -> dict[str, Any]:
    """What decides whether a rerun reproduces a stored run bit for bit.

    Keys: ``machine``, ``system``, ``cpu_model``, ``cpu_features`` (the CPU's instruction-set
    extensions, canonical spelling, sorted), ``cpu_features_digest``, ``backend``,
    ``device_kind``, ``x64`` (``jax_enable_x64``) and ``versions`` of jax, jaxlib, flax, optax and
    numpy. Two platforms are the same when :func:`same_platform` says so.
    """
    return json.loads(_platform_fingerprint_json())


def canonical_fingerprint(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """``fingerprint`` with its CPU features in canonical spelling, the derived digest left out.

    Fingerprints written before the canonical spelling (Linux's flag names) compare equal to
    today's of the same machine.
    """
    canonical = {key: value for key, value in fingerprint.items() if key != "cpu_features_digest"}
    features = canonical.get("cpu_features")
    if isinstance(features, list):
        canonical["cpu_features"] = _canonical_features(features)
    return canonical


def fingerprint_digest(fingerprint: Mapping[str, Any]) -> str:
    """A short stable digest (16 hex digits) of a fingerprint's canonical form."""
    canonical = json.dumps(
        canonical_fingerprint(fingerprint), sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def same_platform(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two fingerprints describe the same platform (``False`` when either is missing)."""
    return bool(a) and bool(b) and fingerprint_digest(a) == fingerprint_digest(b)
