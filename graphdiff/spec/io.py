"""Loading and saving spec files: bytes -> strict JSON -> migration -> pydantic models, and back.

Loading reports every problem at once, each naming the file and the place (``nodes[1] "f"``). Saving is
deterministic (model field order, floats in their shortest round-trip form, so float64 values are
bit-exact and saving twice gives identical bytes) and atomic.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, SpecError
from ..fileio import write_atomic
from .migrate import migrate
from .models import GraphSpec
from .problems import describe_place, validation_problems
from .strict_json import parse_json

#: Spec files larger than this are refused before parsing; no more than this many bytes and one are read.
MAX_SPEC_BYTES = 256 * 1024 * 1024
#: After a first read of the size the file reports, the rest (of a file that grew, or of a file whose
#: reported size is wrong, as in /proc) is read in pieces of this many bytes.
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SpecSource:
    """Where a spec came from: the name used in messages, the folder its array files are relative to,
    and the raw JSON tree (so later checks can name a node by its id and place)."""

    label: str | None
    folder: Path | None
    tree: Any = None


def read_spec(path: str | os.PathLike[str]) -> tuple[GraphSpec, SpecSource]:
    """Read and validate the spec file at ``path``."""
    label = str(path)
    return parse_spec(read_spec_bytes(path, label), label=label, folder=Path(path).parent)


def read_spec_bytes(path: str | os.PathLike[str], label: str) -> bytes:
    """The bytes of the spec file at ``path``: a regular file (a symbolic link to one is followed) of at
    most ``MAX_SPEC_BYTES``, of which never more than that and one byte are read, whatever size the file
    claims. Devices, FIFOs, sockets and folders are refused from their ``stat`` before they are opened
    (opening some devices acts), and the descriptor is checked again after a non-blocking open, so a file
    swapped for a FIFO in between cannot block the read either."""
    limit = MAX_SPEC_BYTES
    try:
        _check_spec_file(label, os.stat(path), limit)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            _check_spec_file(label, info, limit)
            chunks: list[bytes] = []
            total = 0
            want = info.st_size + 1  # the whole file in one read when its size is right; then EOF
            while total <= limit:
                chunk = os.read(fd, min(want, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                want = _READ_CHUNK
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise SpecError(Problem(label, None, "no such file")) from None
    except IsADirectoryError:
        raise SpecError(Problem(label, None, "is a folder, not a spec file")) from None
    except OSError as exc:
        raise SpecError(Problem(label, None, f"cannot read: {exc.strerror or exc}")) from None
    except ValueError:  # a NUL character in the path
        raise SpecError(Problem(label, None, "cannot read: the path contains a NUL character")) from None
    if total > limit:
        raise SpecError(Problem(label, None, f"the file is over {limit} bytes; specs are limited to {limit}"))
    return b"".join(chunks)


_NOT_REGULAR = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_spec_file(label: str, info: os.stat_result, limit: int) -> None:
    """Refuse anything but a regular file of at most ``limit`` bytes."""
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(Problem(label, None, "is a folder, not a spec file"))
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "a special file")
        raise SpecError(Problem(label, None, f"is {kind}, not a regular file"))
    if info.st_size > limit:
        raise SpecError(
            Problem(label, None, f"the file is {info.st_size} bytes; specs are limited to {limit}")
        )


def parse_spec(
    data: bytes | str, *, label: str | None = None, folder: Path | None = None
) -> tuple[GraphSpec, SpecSource]:
    """Validate spec text; ``folder`` is where its array files live (None: array files are refused)."""
    tree = parse_json(data, label)
    if not isinstance(tree, dict):
        raise SpecError(Problem(label, None, f"a spec is a JSON object, not {_json_type(tree)}"))
    tree = migrate(tree, label)
    deep = list(_deep_literals(tree, label))
    if deep:
        raise SpecError(*deep)
    try:
        spec = GraphSpec.model_validate(tree)
    except ValidationError as exc:
        raise SpecError(*validation_problems(exc, tree, label)) from None
    return spec, SpecSource(label, folder, tree)


#: numpy's limit on dimensions; a literal nested deeper cannot be a tensor.
MAX_LITERAL_DEPTH = 64


def _deep_literals(tree: dict[str, Any], label: str | None):
    """Leaf values nested deeper than any tensor, found before pydantic (whose errors for them would
    repeat at every level of the nesting)."""
    leaves = tree.get("leaves")
    for index, leaf in enumerate(leaves if isinstance(leaves, list) else []):
        value = leaf.get("value") if isinstance(leaf, dict) else None
        stack = [(value, 1)] if isinstance(value, list) else []
        while stack:
            items, depth = stack.pop()
            if depth > MAX_LITERAL_DEPTH:
                place, _ = describe_place(tree, ("leaves", index))
                yield Problem(label, place, f"value: lists nested more than {MAX_LITERAL_DEPTH} deep")
                break
            stack.extend((item, depth + 1) for item in items if isinstance(item, list))


def dump_spec(spec: GraphSpec) -> str:
    """The spec as JSON text: stable key order, defaults left out, numeric arrays on one line each."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    return _format(data, 0) + "\n"


def write_spec(spec: GraphSpec, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Save the spec atomically to ``path`` (replacing an existing file only if ``overwrite``)."""
    return write_atomic(path, dump_spec(spec), overwrite=overwrite)


def _format(value: Any, level: int) -> str:
    """JSON with 2-space indents; tensor literals and small flat objects (attrs) stay on one line."""
    if isinstance(value, dict) and value and not _is_small_flat(value):
        pad = "  " * (level + 1)
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_format(v, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list) and value and not _is_numeric(value):
        pad = "  " * (level + 1)
        return "[\n" + ",\n".join(pad + _format(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _is_small_flat(value: dict[str, Any]) -> bool:
    flat = all(not isinstance(v, dict | list) or _is_numeric(v) for v in value.values())
    return flat and len(json.dumps(value)) <= 90


def _is_numeric(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, int | float | str):
            return False
    return True


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
