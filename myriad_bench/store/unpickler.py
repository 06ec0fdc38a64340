"""The safe unpickler: results pickles are read without running code or crashing the process.

Only allow-listed globals resolve, and every one of them resolves to a function of this module
that checks its arguments before anything is built:

- NumPy arrays come only through :func:`_frombuffer` (protocol 5) and :func:`_reconstruct` +
  ``BUILD`` (older protocols, ``ml_dtypes``), from a byte buffer of exactly the array's size, of
  a plain numeric or bool dtype. ``numpy.ndarray`` itself is never callable: its constructor
  takes a buffer and a dtype from the file, which with an object dtype yields raw pointers.
- ``numpy.dtype`` builds only plain numeric, bool and ``ml_dtypes`` dtypes, and its ``BUILD``
  state is checked against the dtype's own before the byte order is taken from it: NumPy's
  ``dtype.__setstate__`` would take flags and fields (an object field over raw bytes) from the
  file. ``BUILD`` is intercepted for that reason, which needs the pure-Python unpickler.
- Containers are built from lists and tuples only (no ``range``: ``frozenset(range(10**12))``
  is 65 bytes of pickle and unbounded memory).

Anything else raises :class:`UnsafePickleError` naming the global before it is imported or
called. Results pickles hold small metadata and a few large arrays, so the pure-Python loop
costs little: arrays arrive as one buffer each.
"""

from __future__ import annotations

import collections
import datetime
import math
import os
import pathlib
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from myriad_bench.store.bounds import ML_DTYPES as _ML_DTYPES
from myriad_bench.store.bounds import is_plain_dtype
from myriad_bench.store.errors import UnsafePickleError

__all__ = ["SafeUnpickler"]

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# The modules whose data classes results pickles hold (pickled module paths, a contract).
_OWN_MODULES = ("myriad_bench.platform.types", "myriad_bench.configs")
_PATH_CLASSES = {"Path", "PurePath", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"}
# A concrete path of the other OS cannot be instantiated here; its pure twin carries the same parts.
_FOREIGN_PATH = {"nt": "PosixPath", "posix": "WindowsPath"}.get(os.name)
_STDLIB = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
}


class _Refused(Exception):
    """Raised by the allow-listed functions; the unpickler adds the file and re-raises."""


# --------------------------------------------------------------------------- dtypes


def _checked_dtype(dtype: Any) -> np.dtype:
    """``dtype`` if it is a plain numeric, bool or ml_dtypes dtype; else :class:`_Refused`."""
    if not isinstance(dtype, np.dtype):
        raise _Refused(f"expected a NumPy dtype, got {type(dtype).__name__}")
    if not is_plain_dtype(dtype):
        raise _Refused(f"refused dtype {dtype.str!r}: arrays in results files hold numbers and bools only")
    return dtype


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """``numpy.dtype(spec)`` for a type code such as ``'f4'`` or an ml_dtypes type only."""
    if isinstance(spec, str):
        if not re.fullmatch(r"[<>|=]?[biufc]\d{1,2}", spec):
            raise _Refused(f"refused dtype spec {spec!r}")
    elif spec not in _ML_DTYPES:
        raise _Refused(f"refused dtype spec of type {type(spec).__name__}")
    return _checked_dtype(np.dtype(spec))


def _build_dtype(dtype: np.dtype, state: Any) -> np.dtype:
    """The dtype a ``BUILD`` of ``state`` describes, when the state is the dtype's own.

    A plain dtype's state is ``(3, byteorder, None, None, None, elsize, alignment, flags)``; all
    but the byte order must equal what NumPy reports for the dtype itself.
    """
    own = dtype.__reduce__()[2]
    if not isinstance(state, tuple) or len(state) != len(own) or state[0] not in (3, 4):
        raise _Refused("refused a dtype state that is not a plain dtype's")
    byteorder = state[1]
    if byteorder not in ("<", ">", "|", "=") or state[2:] != own[2:]:
        raise _Refused("refused a dtype state with fields, flags or sizes of another dtype")
    return dtype if byteorder in ("|", "=") else dtype.newbyteorder(byteorder)


# --------------------------------------------------------------------------- arrays and scalars


class _NdarrayType:
    """Stands for ``numpy.ndarray`` in a pickle: an argument of ``_reconstruct``, never callable."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _Refused("refused a call of numpy.ndarray (it builds arrays from raw memory)")


_NDARRAY = _NdarrayType()


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple) or len(shape) > 32:
        raise _Refused(f"refused an array shape of type {type(shape).__name__}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _Refused("refused an array shape with a negative or non-integer size")
    return shape


def _array_from(data: Any, dtype: Any, shape: Any, fortran: bool) -> np.ndarray:
    dtype, shape = _checked_dtype(dtype), _shape(shape)
    if not isinstance(data, bytes | bytearray):
        raise _Refused(f"refused array data of type {type(data).__name__}")
    if math.prod(shape) * dtype.itemsize != len(data):
        raise _Refused(f"array data of {len(data)} bytes does not fill shape {shape} of {dtype.str}")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """NumPy's protocol-5 array reconstructor, with its arguments checked."""
    if order not in ("C", "F"):
        raise _Refused(f"refused array order {order!r}")
    array = _array_from(
        bytes(buffer) if isinstance(buffer, memoryview) else buffer, dtype, shape, order == "F"
    )
    return array if isinstance(buffer, bytearray) else array.copy()  # writable, like NumPy's own


class _PendingArray:
    """What ``_reconstruct`` returns: an array whose data the following ``BUILD`` brings."""


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _PendingArray:
    if subtype is not _NDARRAY:
        raise _Refused("refused an array reconstruction of a type other than numpy.ndarray")
    return _PendingArray()


def _build_array(state: Any) -> np.ndarray:
    """The array a protocol-2 ``BUILD`` state ``(version, shape, dtype, fortran, data)`` describes."""
    if not isinstance(state, tuple) or len(state) != 5 or not isinstance(state[3], bool):
        raise _Refused("refused an array state that is not (version, shape, dtype, fortran, data)")
    _, shape, dtype, fortran, data = state
    return _array_from(data, dtype, shape, fortran).copy()


def _scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _checked_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused(f"refused scalar data for {dtype.str}")
    return np.frombuffer(data, dtype)[0]


# --------------------------------------------------------------------------- builtins


def _from_items(kind: type) -> Callable[..., Any]:
    def build(items: Any = ()) -> Any:
        if not isinstance(items, list | tuple):
            raise _Refused(f"refused {kind.__name__}() of a {type(items).__name__}")
        return kind(items)

    return build


def _bytes(value: Any = b"", encoding: Any = None) -> bytes:
    # Protocol 2 writes empty bytes as bytes(); a bytes(n) call would allocate n zero bytes.
    if isinstance(value, bytes) and encoding is None:
        return value
    if isinstance(value, str) and encoding in ("latin1", "latin-1"):
        return value.encode("latin1")
    raise _Refused("refused a bytes() call other than bytes() or bytes(text, 'latin1')")


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles (numpy 1 era) store bytes as _codecs.encode(text, "latin1").
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused(f"refused _codecs.encode with encoding {encoding!r}; only latin1 is admitted")
    return text.encode("latin1")


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(x, int | float) for x in (real, imag)):
        raise _Refused("refused complex() of non-numbers")
    return complex(real, imag)


_BUILTINS: dict[str, Callable[..., Any]] = {
    "complex": _complex,
    "set": _from_items(set),
    "frozenset": _from_items(frozenset),
    "bytearray": _from_items(bytearray),
    "bytes": _bytes,
}


# --------------------------------------------------------------------------- resolution


def _resolve(module: str, name: str) -> Any | None:
    if not _MODULE_NAME.fullmatch(module) or not name.isidentifier():
        return None
    if module == "builtins":
        return _BUILTINS.get(name)
    if (module, name) == ("_codecs", "encode"):
        return _latin1_encode
    if (module, name) in _STDLIB:
        return _STDLIB[module, name]
    if module in ("pathlib", "pathlib._local") and name in _PATH_CLASSES:
        return getattr(pathlib, "Pure" + name if name == _FOREIGN_PATH else name)
    if module == "numpy":
        return {"dtype": _dtype, "ndarray": _NDARRAY}.get(name) or _scalar_type(np, name)
    parts = module.split(".")
    # numpy 1 pickles say numpy.core, numpy 2 numpy._core; read both.
    if len(parts) == 3 and parts[:2] in (["numpy", "core"], ["numpy", "_core"]):
        return {
            ("multiarray", "_reconstruct"): _reconstruct,
            ("multiarray", "scalar"): _scalar,
            ("numeric", "_frombuffer"): _frombuffer,
        }.get((parts[2], name))
    if module == "ml_dtypes":
        value = getattr(__import__("ml_dtypes"), name, None)
        return value if value in _ML_DTYPES else None
    if module in _OWN_MODULES:
        return _own_type(module, name)
    return None


def _scalar_type(namespace: Any, name: str) -> type | None:
    value = getattr(namespace, name, None)
    ok = isinstance(value, type) and (issubclass(value, np.number | np.bool_) or value in _ML_DTYPES)
    return value if ok else None


def _own_type(module: str, name: str) -> type | None:
    import dataclasses
    import enum
    import importlib

    from pydantic import BaseModel

    value = getattr(importlib.import_module(module), name, None)
    if not isinstance(value, type) or value.__module__ != module:
        return None
    # Only plain data holders: building one stores its fields and runs no other code.
    if dataclasses.is_dataclass(value) or issubclass(value, BaseModel | enum.Enum):
        return value
    return None


def _complete_dataclass(obj: Any) -> None:
    """A data class whose state lacks a field gets the field's default (a file written before the
    field existed); lacking one without a default, it is refused, never returned half-built."""
    import dataclasses

    if not dataclasses.is_dataclass(obj):
        return
    state = vars(obj)
    for each in dataclasses.fields(obj):
        if each.name in state:
            continue
        if each.default is not dataclasses.MISSING:
            state[each.name] = each.default
        elif each.default_factory is not dataclasses.MISSING:
            state[each.name] = each.default_factory()
        else:
            raise _Refused(f"a {type(obj).__name__} without its field {each.name!r}")


class SafeUnpickler(pickle._Unpickler):
    """An unpickler that resolves only allow-listed globals and checks every array it builds.

    See the module docstring for what is admitted; anything else raises
    :class:`UnsafePickleError` (naming ``source`` and the global) before it is called.
    """

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], *, source: Path | str = "<bytes>") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = _resolve(module, name)
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused to load global '{module}.{name}'. Results files may only "
                "hold myriad_bench result types, NumPy arrays, paths and builtin containers; this "
                "file is corrupt or was crafted to run code. Nothing in it was executed."
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refused a persistent id; results files have none")

    def load(self) -> Any:
        try:
            return super().load()
        except _Refused as error:
            raise UnsafePickleError(f"{self.source}: {error}. Nothing in the file was executed.") from None

    def _load_bytearray8(self) -> None:
        # pickle's own allocates bytearray(length) before reading: a flipped length byte in a 2 KB
        # file asked for 2.4 GB. read() is bounded by the file (or the frame) it reads from.
        (length,) = struct.unpack("<Q", self.read(8))
        data = self.read(length)
        if len(data) != length:
            raise _Refused(f"a bytearray of {length} bytes where fewer remain (truncated or corrupt)")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, np.dtype):
            self.stack[-1] = _build_dtype(target, state)
        elif isinstance(target, _PendingArray):
            self.stack[-1] = _build_array(state)
        elif type(target).__module__ in _OWN_MODULES:
            self.stack.append(state)
            pickle._Unpickler.load_build(self)
            _complete_dataclass(target)
        else:
            raise _Refused(f"refused to set the state of a {type(target).__name__}")

    dispatch[pickle.BUILD[0]] = _load_build
