"""Reading an ONNX model as untrusted input: bounded, contained, and never executing anything.

An ONNX file is data from elsewhere, read with the same suspicion as a spec's array files:
- the file's size is capped before protobuf parses it, and protobuf's own nesting limit turns a deeply
  nested message into a clean error instead of a stack overflow;
- a tensor's element count is computed from its declared dims, and refused over the cap, before anything
  is allocated; its data must have exactly the bytes the dims and dtype say;
- external data (weights kept in a separate file) is read only from a relative path inside the model's
  folder, through no symbolic link, from a regular file (the path-traversal bugs of ONNX's own loader,
  CVE-2022-25882 and CVE-2024-27318, are the cases this guards against); a model given as bytes or a
  ModelProto has no folder, so its external data is refused.
Every failure becomes an :class:`~graphdiff.errors.ModelError` naming the file and the tensor.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ..errors import ArrayFileError, ModelError, Problem
from ..spec.arrays import open_regular, resolve_inside

#: Default cap on the size of an ONNX file (protobuf itself cannot parse more than 2 GiB).
DEFAULT_MAX_MODEL_BYTES = 1 << 30

#: ONNX element types graphdiff holds as values, and their numpy dtypes (little-endian, as ONNX stores them).
VALUE_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.BOOL: "bool",
}
#: Further element types read only as constants that fold into attributes (an int32 shape, say).
_CONSTANT_DTYPES: dict[int, str] = {**VALUE_DTYPES, onnx.TensorProto.INT32: "int32"}
#: Where each element type's values sit in a TensorProto that does not use raw_data.
_TYPED_FIELDS = {"float32": "float_data", "float64": "double_data", "int64": "int64_data"}


def dtype_name(elem_type: int) -> str:
    """``FLOAT16`` for ONNX's element type 10: the name a message shows."""
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from: its label in messages, and the folder its external data may come from."""

    label: str
    folder: Path | None


def read_model(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> onnx.ModelProto:
    """Parse the ONNX file at ``path`` without loading external data (see :func:`tensor_array`)."""
    target = Path(path)
    label = str(target)
    try:
        info = os.stat(target)
    except OSError as exc:
        raise ModelError(Problem(label, None, f"cannot read: {exc.strerror or exc}")) from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(Problem(label, None, "not a regular file"))
    if info.st_size > max_bytes:
        raise ModelError(
            Problem(label, None, f"is {info.st_size} bytes, over the cap of {max_bytes} (--max-bytes)")
        )
    try:
        with open_regular(target, label) as stream:
            data = _read_at_most(stream, max_bytes + 1)
    except ArrayFileError as exc:
        raise ModelError(*exc.problems).located(label) from None
    except OSError as exc:
        raise ModelError(Problem(label, None, f"cannot read: {exc.strerror or exc}")) from None
    return parse_model(data, label=label, max_bytes=max_bytes)


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, in 1 MiB reads: one read of ``limit`` would reserve all of it up front."""
    chunks, total = [], 0
    while total < limit:
        chunk = stream.read(min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def parse_model(data: bytes, *, label: str, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> onnx.ModelProto:
    """Parse an ONNX model from bytes, refusing more than ``max_bytes`` before parsing."""
    if len(data) > max_bytes:
        raise ModelError(Problem(label, None, f"is over the cap of {max_bytes} bytes (--max-bytes)"))
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        # protobuf raises DecodeError for malformed bytes and for nesting deeper than its recursion limit.
        detail = str(exc) or type(exc).__name__
        raise ModelError(Problem(label, None, f"is not a readable ONNX model ({detail})")) from None
    if not model.HasField("graph"):
        raise ModelError(Problem(label, None, "is not an ONNX model (it has no graph)"))
    return model


def tensor_array(
    tensor: onnx.TensorProto, source: ModelSource, *, max_elements: int, place: str
) -> np.ndarray:
    """A TensorProto's value as a numpy array of its own dtype, after every check in the module docstring.

    Raises :class:`ModelError` for an element type graphdiff does not hold (``place`` names the tensor).
    """
    dtype = _CONSTANT_DTYPES.get(tensor.data_type)
    if dtype is None:
        raise ModelError(
            Problem(
                source.label,
                place,
                f"has dtype {dtype_name(tensor.data_type)}, which graphdiff does not "
                "hold (float32, float64, int64, bool)",
            )
        )
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise ModelError(Problem(source.label, place, f"has a negative dimension in {dims}"))
    count = math.prod(dims)
    if count > max_elements:
        raise ModelError(
            Problem(
                source.label, place, f"has {count} elements, over the cap of {max_elements} (--max-elements)"
            )
        )
    itemsize = np.dtype(dtype).itemsize
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raw = _external_bytes(tensor, source, count * itemsize, place)
    elif tensor.HasField("raw_data"):
        raw = tensor.raw_data
    else:
        return _typed_array(tensor, dtype, dims, count, source, place)
    if len(raw) != count * itemsize:
        raise ModelError(
            Problem(
                source.label,
                place,
                f"holds {len(raw)} bytes of data; dims {dims} of {dtype} need {count * itemsize}",
            )
        )
    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(dims)
    return array.astype(dtype)  # native byte order, writable, and not tied to the protobuf's buffer


def _typed_array(
    tensor: onnx.TensorProto, dtype: str, dims: list[int], count: int, source: ModelSource, place: str
) -> np.ndarray:
    # bool and int32 values sit in int32_data (ONNX packs every narrow integer type there).
    field = _TYPED_FIELDS.get(dtype, "int32_data")
    values = getattr(tensor, field)
    if len(values) != count:
        raise ModelError(
            Problem(source.label, place, f"holds {len(values)} values; dims {dims} need {count}")
        )
    return np.asarray(values, dtype=dtype).reshape(dims)


def _external_bytes(tensor: onnx.TensorProto, source: ModelSource, size: int, place: str) -> bytes:
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location")
    if not location:
        raise ModelError(Problem(source.label, place, "keeps its data externally but names no location"))
    if source.folder is None:
        raise ModelError(
            Problem(
                source.label,
                place,
                f"keeps its data in {location!r}; a model given as bytes has no "
                "folder to read it from (load it from its file)",
            )
        )
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries["length"]) if "length" in entries else size
    except ValueError:
        raise ModelError(
            Problem(source.label, place, "has a malformed external-data offset or length")
        ) from None
    if offset < 0 or length != size:
        raise ModelError(
            Problem(
                source.label,
                place,
                f"external data of {length} bytes at offset {offset}; its dims need {size} bytes",
            )
        )
    try:
        path = resolve_inside(source.folder, location, what="external data", owner="model")
        with open_regular(path, location) as stream:
            if os.fstat(stream.fileno()).st_size < offset + size:
                raise ModelError(
                    Problem(
                        source.label,
                        place,
                        f"external data: {location} is shorter than offset {offset} + {size} bytes",
                    )
                )
            stream.seek(offset)
            return stream.read(size)
    except ArrayFileError as exc:
        message = "; ".join(p.message for p in exc.problems)
        raise ModelError(Problem(source.label, place, f"external data: {message}")) from None
    except OSError as exc:
        raise ModelError(
            Problem(source.label, place, f"external data: cannot read {location}: {exc.strerror}")
        ) from None
