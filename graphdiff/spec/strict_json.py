"""Strict JSON: the parser under every spec file.

Python's ``json`` accepts things a data format must not: duplicate keys (it silently keeps the last),
``NaN`` and ``Infinity``, numbers that overflow to infinity (``1e400``), integers thousands of digits
long. Here each of those is a problem naming its JSON path, every one is reported, and deep nesting,
invalid UTF-8 and syntax errors become a :class:`SpecError` too. Nothing is ever evaluated.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import Problem, SpecError

#: Deeper nesting than this is refused (a real spec needs a handful of levels; a tensor literal one per axis).
MAX_DEPTH = 64
#: Integers longer than this are refused before Python converts them (int64 needs at most 19 digits).
MAX_INT_DIGITS = 40


class _Flagged:
    """Stands in the parsed tree for a value that must be refused, so its path can be reported."""

    def __init__(self, message: str) -> None:
        self.message = message


class _ObjectWithDuplicates(dict):
    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    duplicates = []
    for key, value in pairs:
        if key in obj:
            duplicates.append(key)
        obj[key] = value
    if duplicates:
        flagged = _ObjectWithDuplicates(obj)
        flagged.duplicates = duplicates
        return flagged
    return obj


def _parse_float(text: str) -> float | _Flagged:
    value = float(text)
    if not math.isfinite(value):
        return _Flagged(f"number {text[:40]} is out of the float64 range")
    return value


def _parse_int(text: str) -> int | _Flagged:
    digits = text.lstrip("-")
    if len(digits) > MAX_INT_DIGITS:
        return _Flagged(f"integer with {len(digits)} digits is too long")
    return int(text)


def _parse_constant(name: str) -> _Flagged:
    return _Flagged(f"{name} is not allowed (numbers must be finite)")


def format_path(path: tuple[str | int, ...]) -> str:
    """``nodes[1].attrs.axis`` from ``("nodes", 1, "attrs", "axis")``; ``(top level)`` for the root."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_json(data: bytes | str, file: str | None) -> Any:
    """Parse ``data`` strictly. Raises :class:`SpecError` listing every problem, each with its JSON path."""
    if isinstance(data, bytes):
        try:
            # A UTF-8 byte-order mark (as some Windows editors write) is allowed and skipped.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError(Problem(file, f"byte {exc.start}", "the file is not valid UTF-8")) from None
    else:
        text = data.removeprefix("\ufeff")
    if not text.strip():
        raise SpecError(Problem(file, None, "the file is empty"))
    try:
        tree = json.loads(
            text,
            object_pairs_hook=_object_pairs,
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        place = f"line {exc.lineno} column {exc.colno}"
        raise SpecError(Problem(file, place, f"invalid JSON: {exc.msg}")) from None
    except RecursionError:
        raise SpecError(Problem(file, None, f"JSON nested more than {MAX_DEPTH} levels deep")) from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise SpecError(Problem(file, None, f"invalid JSON: {exc}")) from None
    problems = list(_flagged_places(tree, file))
    if problems:
        raise SpecError(*problems)
    return tree


def _flagged_places(tree: Any, file: str | None):
    """Walk the parsed tree (iteratively: it may be deep) and yield a problem per flagged value."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            yield Problem(file, format_path(path[:MAX_DEPTH]), f"nested more than {MAX_DEPTH} levels deep")
            continue
        if isinstance(node, _Flagged):
            yield Problem(file, format_path(path), node.message)
        elif isinstance(node, dict):
            if isinstance(node, _ObjectWithDuplicates):
                for key in node.duplicates:
                    yield Problem(file, format_path(path), f"duplicate key {key!r}")
            for key, value in reversed(node.items()):
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                stack.append((node[index], (*path, index)))
