"""Strict JSON: the parser under every spec file.

Python's ``json`` accepts things a data format must not: duplicate keys (it silently keeps the last),
``NaN`` and ``Infinity``, numbers that overflow to infinity (``1e400``), integers thousands of digits
long. Here each of those is a problem naming its JSON path, every one is reported, and deep nesting,
invalid UTF-8 and syntax errors become a :class:`SpecError` too. Nothing is ever evaluated.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import Problem, SpecError

#: Integers longer than this are refused before Python converts them (int64 needs at most 19 digits).
MAX_INT_DIGITS = 40


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


class _Flagged:
    """Stands in the parsed tree for a value that must be refused, so its path can be reported."""

    def __init__(self, message: str) -> None:
        self.message = message


class _ObjectWithDuplicates(dict):
    duplicates: list[str]


class _Hooks:
    """The parser's hooks for one parse; ``flagged`` records whether anything was refused, so the tree is
    walked for the places of problems only when there are some."""

    def __init__(self) -> None:
        self.flagged = False

    def object_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        seen: set[str] = set()
        flagged = _ObjectWithDuplicates(obj)
        flagged.duplicates = [key for key, _ in pairs if key in seen or seen.add(key)]
        self.flagged = True
        return flagged

    def parse_float(self, text: str) -> float | _Flagged:
        value = float(text)
        if math.isfinite(value):
            return value
        self.flagged = True
        return _Flagged(f"number {text[:40]} is out of the float64 range")

    def parse_int(self, text: str) -> int | _Flagged:
        digits = text.lstrip("-")
        if len(digits) <= MAX_INT_DIGITS:
            return int(text)
        self.flagged = True
        return _Flagged(f"integer with {len(digits)} digits is too long")

    def parse_constant(self, name: str) -> _Flagged:
        self.flagged = True
        return _Flagged(f"{name} is not allowed (numbers must be finite)")


def format_path(path: tuple[str | int, ...]) -> str:
    """``nodes[1].attrs.axis`` from ``("nodes", 1, "attrs", "axis")``; ``(top level)`` for the root."""
    if len(path) > 12:  # a deeply nested literal: the middle of its path says nothing
        return f"{format_path(path[:6])}...{format_path(path[-3:]) if isinstance(path[-3], int) else ''}"
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _IDENTIFIER.match(part):  # a key from the file may hold anything, newlines included
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else part
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
        hooks = _Hooks()
        tree = json.loads(
            text,
            object_pairs_hook=hooks.object_pairs,
            parse_float=hooks.parse_float,
            parse_int=hooks.parse_int,
            parse_constant=hooks.parse_constant,
        )
    except json.JSONDecodeError as exc:
        place = f"line {exc.lineno} column {exc.colno}"
        raise SpecError(Problem(file, place, f"invalid JSON: {exc.msg}")) from None
    except RecursionError:
        raise SpecError(Problem(file, None, "JSON nested too deeply")) from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise SpecError(Problem(file, None, f"invalid JSON: {exc}")) from None
    if hooks.flagged:
        raise SpecError(*_flagged_places(tree, file))
    return tree


def _flagged_places(tree: Any, file: str | None):
    """Walk the parsed tree (iteratively: it may be deep) and yield a problem per flagged value."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
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
