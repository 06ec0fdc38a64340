"""The one YAML reader and writer of the package: configs, run metadata and baselines.

Both use PyYAML's safe C classes when PyYAML was built with libyaml (several times faster than
the pure-Python ones). Reading never constructs anything but plain mappings, lists and scalars,
and a failure names the file without quoting its content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from myriad_bench.store.atomic import atomic_write_bytes
from myriad_bench.store.errors import ArtifactError

__all__ = ["dump_yaml", "load_yaml", "write_yaml"]

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_yaml(data: Any) -> bytes:
    """``data`` (plain mappings, lists and scalars) as UTF-8 YAML, keys in their given order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False).encode()


def write_yaml(path: Path | str, data: Any) -> None:
    """Write ``data`` as YAML to ``path`` atomically."""
    atomic_write_bytes(path, dump_yaml(data))


def load_yaml(path: Path | str) -> Any:
    """Read a YAML file; :class:`ArtifactError` naming ``path`` when it cannot be parsed."""
    path = Path(path)
    try:
        return yaml.load(path.read_bytes(), Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        # The problem and its position only: the snippet PyYAML adds would copy the file's text.
        where = f" at line {error.problem_mark.line + 1}" if error.problem_mark is not None else ""
        raise ArtifactError(f"{path}: not valid YAML ({error.problem or 'syntax error'}{where})") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ArtifactError(f"{path}: not valid YAML ({type(error).__name__})") from None
