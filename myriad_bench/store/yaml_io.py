"""The one YAML reader and writer of the package: configs, run metadata and baselines.

Both use PyYAML's safe C classes when PyYAML was built with libyaml (several times faster than
the pure-Python ones). Reading constructs only plain mappings, lists and scalars, and is
bounded: at most :data:`MAX_YAML_BYTES`, nesting at most
:data:`~myriad_bench.store.bounds.MAX_DEPTH` deep (checked on libyaml's event stream before the
document is built: building recurses, and a 200 KB file of nested ``[`` crashes the
interpreter in libyaml's composer), and aliases may not expand the document beyond a few objects per byte
(:func:`~myriad_bench.store.bounds.check_expansion`). A failure names the file without
quoting its content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from myriad_bench.store.atomic import atomic_write_bytes
from myriad_bench.store.bounds import MAX_DEPTH, check_expansion
from myriad_bench.store.errors import ArtifactError

__all__ = ["MAX_YAML_BYTES", "dump_yaml", "load_yaml", "write_yaml"]

MAX_YAML_BYTES = 16 * 2**20
"""Largest YAML file read (baselines and metadata are a few kilobytes)."""

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_yaml(data: Any) -> bytes:
    """``data`` (plain mappings, lists and scalars) as UTF-8 YAML, keys in their given order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False).encode()


def write_yaml(path: Path | str, data: Any) -> None:
    """Write ``data`` as YAML to ``path`` atomically."""
    atomic_write_bytes(path, dump_yaml(data))


def _too_deep(data: bytes) -> bool:
    """Whether the document nests deeper than MAX_DEPTH (the event parser keeps no recursion)."""
    depth = 0
    for event in yaml.parse(data, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return False


def load_yaml(path: Path | str) -> Any:
    """Read a YAML file; :class:`ArtifactError` naming ``path`` when it is unusable.

    Unusable: over :data:`MAX_YAML_BYTES`, nested too deep, expanding too far through aliases,
    or not parseable.
    """
    path = Path(path)
    with path.open("rb") as f:
        data = f.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise ArtifactError(f"{path}: larger than {MAX_YAML_BYTES:,} bytes; not a myriad-bench YAML file")
    try:
        if _too_deep(data):
            raise ArtifactError(f"{path}: nests deeper than {MAX_DEPTH} levels (corrupt or crafted)")
        value = yaml.load(data, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        # The problem and its position only: the snippet PyYAML adds would copy the file's text.
        where = f" at line {error.problem_mark.line + 1}" if error.problem_mark is not None else ""
        raise ArtifactError(f"{path}: not valid YAML ({error.problem or 'syntax error'}{where})") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ArtifactError(f"{path}: not valid YAML ({type(error).__name__})") from None
    check_expansion(value, len(data), path, what="YAML document")
    return value
