"""Reading arrays from ``.npy`` and ``.npz`` files, safely.

A spec file may come from anywhere, so the arrays it names are read with suspicion:
- the path is relative, stays inside the spec's folder (no ``..``, no absolute path), passes through no
  symbolic link, and names a regular file;
- pickles are never loaded, and only plain numeric dtypes are accepted;
- the header is read first; the declared shape, an element cap and the real size of the data are checked
  before numpy allocates anything, so a 128-byte file cannot ask for 8 TiB;
- the header's form is checked too: numpy parses a 1-tuple ``descr`` or a shape of bools, negative or
  huge dimensions without complaint, and would fail later with errors of its own;
- integers are read as floats only when no value changes (int64 2**53 + 1 is not a float64).
Every failure, numpy's and zipfile's included, becomes an :class:`ArrayFileError` naming the file.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

import numpy as np

from ..errors import ArrayFileError
from ..ops import bind_symbols, format_shape

#: Default cap on the number of elements of one array read from a file (800 MB of float64).
DEFAULT_MAX_ELEMENTS = 100_000_000
_MAX_HEADER_BYTES = 10_000
#: A .npz member may expand at most this many times over its compressed size, past a small floor.
_BOMB_RATIO = 1_000
_BOMB_FLOOR = 1 << 20
#: numpy's limits on any array: dimensions, and the product of the non-zero dimensions (2**63 bytes of
#: 8-byte elements; numpy refuses a shape past it even when another dimension is 0).
MAX_DIMENSIONS = 64
MAX_ARRAY_ELEMENTS = (2**63 - 1) // 8
#: What numpy raises on a header whose dict parses but whose descr or shape has an odd form.
_HEADER_ERRORS = (ValueError, TypeError, IndexError, KeyError, SyntaxError, RecursionError, MemoryError)
#: What numpy and zipfile raise on a malformed file (numpy parses the header's dict with Python's tokenizer).
_READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    tokenize.TokenError,
    zlib.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    RuntimeError,
    NotImplementedError,
)


def resolve_inside(folder: Path, relative: str, *, what: str = "array", owner: str = "spec") -> Path:
    """The path of ``relative`` inside ``folder``, refusing anything that could lead outside it.

    ``what`` and ``owner`` name the path and the file holding it in messages ("array paths must be
    relative to the spec's folder"; an ONNX model's external data says "external data", "model")."""
    if "\\" in relative or PureWindowsPath(relative).drive or PurePosixPath(relative).is_absolute():
        raise ArrayFileError(
            f"{relative}: {what} paths must be relative to the {owner}'s folder (use / as separator)"
        )
    if "\x00" in relative:
        raise ArrayFileError(f"{what} paths may not contain NUL characters")
    parts = PurePosixPath(relative).parts
    if any(part == ".." for part in parts):
        raise ArrayFileError(f"{relative}: {what} paths may not contain '..'")
    if not parts:
        raise ArrayFileError(f"{relative}: names the {owner}'s folder, not a file")
    path = folder
    for part in parts:
        path = path / part
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise ArrayFileError(f"{relative}: no such file beside the {owner}") from None
        except OSError as exc:
            raise ArrayFileError(f"{relative}: cannot read: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise ArrayFileError(f"{relative}: symbolic links are not followed")
    _check_regular(relative, info)
    return path


def _check_regular(label: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ArrayFileError(f"{label}: not a regular file")
    if info.st_nlink > 1:
        # A hard link can make a file from anywhere on the disk look as if it lived beside the spec.
        raise ArrayFileError(f"{label}: has {info.st_nlink} hard links; only files with one name are read")


def open_regular(path: Path, label: str) -> BinaryIO:
    """Open ``path`` for reading without following a link or blocking on a FIFO that replaced it since
    it was checked, and check again on the open file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        _check_regular(label, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_array(
    path: Path,
    key: str | None,
    *,
    label: str,
    dtype: str | None,
    shape: Sequence[int | str] | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> np.ndarray:
    """Read one array from a ``.npy`` file (``key`` None) or a ``.npz`` file (``key`` names the array).

    ``label`` names the file in messages. The array must be castable to ``dtype`` without loss (``None``:
    floats are read as float64, integers and booleans as int64); ``shape`` (ints, or symbols that must be
    consistent within this array) is checked against the header.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if key is not None:
                raise ArrayFileError(f"{label}: a .npy file holds one array; remove the key {key!r}")
            with open_regular(path, label) as stream:
                return _read_npy(stream, os.fstat(stream.fileno()).st_size, label, dtype, shape, max_elements)
        if suffix == ".npz":
            if key is None:
                raise ArrayFileError(f'{label}: a .npz file holds several arrays; name one with "key"')
            with open_regular(path, label) as raw, zipfile.ZipFile(raw) as archive:
                try:
                    info = archive.getinfo(f"{key}.npy")
                except KeyError:
                    names = ", ".join(n.removesuffix(".npy") for n in archive.namelist()[:20])
                    raise ArrayFileError(f"{label}: no array {key!r} in the file (it has: {names})") from None
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    # numpy writes stored or deflated members; other codecs (LZMA) size their buffers
                    # from the member's own header, so a tiny file could claim gigabytes.
                    raise ArrayFileError(
                        f"{label}[{key}]: compression method {info.compress_type} is not read"
                    )
                if info.file_size > _BOMB_FLOOR and info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
                    raise ArrayFileError(
                        f"{label}[{key}]: {info.compress_size} compressed bytes claim to expand to "
                        f"{info.file_size}; refusing a possible compression bomb"
                    )
                with archive.open(info) as stream:
                    return _read_npy(stream, info.file_size, f"{label}[{key}]", dtype, shape, max_elements)
        raise ArrayFileError(f"{label}: array files must end in .npy or .npz")
    except ArrayFileError:
        raise
    except _READ_ERRORS as exc:
        raise ArrayFileError(f"{label}: not a readable array file ({exc})") from None


def npz_keys(path: Path, *, label: str) -> list[str]:
    """The names of the arrays in a ``.npz`` file, in the file's order."""
    if path.suffix.lower() != ".npz":
        raise ArrayFileError(f"{label}: expected an .npz file of named arrays")
    try:
        with open_regular(path, label) as raw, zipfile.ZipFile(raw) as archive:
            names = archive.namelist()
    except ArrayFileError:
        raise
    except _READ_ERRORS as exc:
        raise ArrayFileError(f"{label}: not a readable array file ({exc})") from None
    return [name.removesuffix(".npy") for name in names if name.endswith(".npy")]


def _read_npy(
    stream: BinaryIO,
    size: int,
    label: str,
    dtype: str | None,
    shape: Sequence[int | str] | None,
    max_elements: int,
) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        read_header = np.lib.format.read_array_header_1_0
    elif version == (2, 0):
        read_header = np.lib.format.read_array_header_2_0
    else:
        raise ArrayFileError(f"{label}: unsupported .npy format version {version[0]}.{version[1]}")
    try:
        header = read_header(stream, max_header_size=_MAX_HEADER_BYTES)
    except _HEADER_ERRORS as exc:
        # numpy turns the header's dict into a dtype and a shape without checking their form: a 1-tuple
        # or empty descr is an IndexError, an odd shape a TypeError, a deep one a RecursionError.
        reason = re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc))  # numpy names AST nodes by their address
        raise ArrayFileError(f"{label}: malformed .npy header ({type(exc).__name__}: {reason})") from None
    file_shape, fortran_order, file_dtype = header
    if file_dtype.hasobject or file_dtype.fields is not None or file_dtype.kind not in "biuf":
        raise ArrayFileError(f"{label}: dtype {file_dtype} is not a plain numeric type")
    shape_problem = header_shape_problem(file_shape)
    if shape_problem is not None:
        raise ArrayFileError(f"{label}: the header's shape {shape_problem}")
    if dtype is None:
        dtype = "float64" if file_dtype.kind == "f" else "int64"
    if not np.can_cast(file_dtype, dtype, casting="safe"):
        raise ArrayFileError(f"{label}: dtype {file_dtype} cannot be read as {dtype} without loss")
    if shape is not None:
        _check_shape(label, file_shape, shape)
    count = math.prod(file_shape)
    if count > max_elements:
        raise ArrayFileError(f"{label}: {count} elements exceed the limit of {max_elements}")
    data_bytes = count * file_dtype.itemsize
    header_bytes = stream.tell()
    if size - header_bytes != data_bytes:
        raise ArrayFileError(
            f"{label}: the header declares {file_shape} {file_dtype} ({data_bytes} bytes) "
            f"but the file holds {size - header_bytes} bytes of data"
        )
    data = stream.read(data_bytes)
    if len(data) != data_bytes:
        raise ArrayFileError(f"{label}: the file is truncated")
    array = np.frombuffer(data, dtype=file_dtype).reshape(file_shape, order="F" if fortran_order else "C")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        bad = array[where] if where else array.item()
        raise ArrayFileError(f"{label}: holds {bad} at index {list(where)}; array values must be finite")
    result = array.astype(dtype, order="C")
    _check_exact(label, array, result)
    return result


def header_shape_problem(shape: object) -> str | None:
    """What is wrong with a shape read from a header (numpy checks only that it is a tuple of ints, and a
    bool is an int), or None: every dimension an int >= 0 (not a bool), at most 64 of them, and the
    non-zero ones multiplying to at most :data:`MAX_ARRAY_ELEMENTS` (numpy's limit)."""
    if not isinstance(shape, tuple):
        return f"{shape!r} is not a tuple of dimensions"
    for index, dim in enumerate(shape):
        if type(dim) is not int:
            return f"{_shown(shape)} holds {dim!r} at index {index}; dimensions are integers"
        if dim < 0:
            return f"{_shown(shape)} holds the negative dimension {dim} at index {index}"
    return shape_size_problem(shape)


def shape_size_problem(shape: Sequence[int | str]) -> str | None:
    """Why no numpy array can have ``shape`` (its integer dimensions; symbols are not counted), or None.

    numpy allows at most 64 dimensions, and refuses a shape whose non-zero dimensions multiply past
    2**63 bytes, even when another dimension is 0 and the array would hold nothing."""
    if len(shape) > MAX_DIMENSIONS:
        return f"has {len(shape)} dimensions; numpy allows at most {MAX_DIMENSIONS}"
    nonzero = math.prod(d for d in shape if isinstance(d, int) and d)
    if nonzero > MAX_ARRAY_ELEMENTS:
        zero = " (even with a 0 dimension)" if any(d == 0 for d in shape) else ""
        return (
            f"{_shown(shape)} is too large for any array{zero}: its non-zero dimensions multiply to "
            f"{nonzero}, more than numpy's limit of {MAX_ARRAY_ELEMENTS} (2**60 - 1)"
        )
    return None


def _shown(shape: Sequence[object]) -> str:
    text = format_shape(shape)  # type: ignore[arg-type]
    return text if len(text) <= 200 else text[:200] + "...)"


def _check_exact(label: str, array: np.ndarray, result: np.ndarray) -> None:
    problem = inexact_cast(array, result)
    if problem is not None:
        raise ArrayFileError(f"{label}: {problem}")


def inexact_cast(array: np.ndarray, result: np.ndarray) -> str | None:
    """What a cast from integers to floats changed (None if nothing): 64-bit integers from 2**53 on are
    not all floats (2**53 + 1 would become 2**53). Narrower integers convert exactly, and every other cast
    the reader allows (floats to wider floats, bools) is exact by construction."""
    if array.dtype.kind not in "iu" or result.dtype.kind != "f" or not array.size:
        return None
    bits = array.dtype.itemsize * 8 - (array.dtype.kind == "i")  # the integer type's magnitude bits
    exact_below = 2.0 ** (np.finfo(result.dtype).nmant + 1)  # every integer under it is a float
    if 2.0**bits <= exact_below:
        return None
    near = result >= exact_below
    near |= result <= -exact_below
    if not near.any():
        return None
    floats, ints = result[near], array[near]  # both in C order, whatever the file's order
    overflow = floats >= 2.0**bits  # past the integer type's maximum: rounded up
    changed = overflow | (np.where(overflow, 0.0, floats).astype(array.dtype) != ints)
    if not changed.any():
        return None
    first = int(np.argmax(changed))
    index = [int(i) for i in np.argwhere(near)[first]]
    return (
        f"holds {int(ints[first])} at index {index}, which {result.dtype} cannot represent (it would "
        f"become {int(floats[first])}); {array.dtype} values are read as {result.dtype} only when no "
        "value changes"
    )


def _check_shape(label: str, actual: tuple[int, ...], declared: Sequence[int | str]) -> None:
    if not bind_symbols(actual, declared, {}):
        raise ArrayFileError(
            f"{label}: the file holds shape {format_shape(actual)}, the spec declares "
            f"{format_shape(declared)}"
        )
