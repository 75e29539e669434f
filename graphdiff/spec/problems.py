"""Pydantic's validation errors as messages: the one translation, for spec files and op attributes.

A pydantic error has a location with the tags of union branches mixed in (``("axis", "list[int]", 1)``)
and a message written for programmers. Here they become one message per place in the JSON that was
validated, the place a JSON path without the tags (``attrs.axis[1]``), a union's failed branches merged
into one expectation (``should be a valid integer or a valid list``), an unknown name given a guess.
A spec's fields and an op's attributes differ only in their :class:`Vocabulary`: the names a misspelt
one is compared with, and how to say that a name is unknown or missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, did_you_mean, printable
from .models import LITERAL_TAG, NAME_PATTERN, SPEC_FIELD_NAMES
from .strict_json import format_path

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Vocabulary:
    """What a model's names are called in messages."""

    #: The names an unknown one may be a misspelling of.
    names: tuple[str, ...]
    #: ``unknown field``, ``unknown attribute for sum``.
    unknown: str
    #: ``required field is missing``, ``required by reshape``.
    missing: str
    #: Said of an unknown name when no known name is close (``sum takes: axis, keepdims``).
    otherwise: str = ""


SPEC_VOCABULARY = Vocabulary(SPEC_FIELD_NAMES, "unknown field", "required field is missing")


def attrs_vocabulary(op_name: str, names: Iterable[str]) -> Vocabulary:
    """The words for an op's attributes."""
    names = tuple(names)
    known = ", ".join(names) if names else "none"
    return Vocabulary(
        names, f"unknown attribute for {op_name}", f"required by {op_name}", f"{op_name} takes: {known}"
    )


def validation_messages(
    exc: ValidationError, tree: Any, vocabulary: Vocabulary = SPEC_VOCABULARY
) -> list[tuple[JsonPath, str]]:
    """Pydantic's errors for ``tree`` (the data that was validated) as (JSON path, message), one per place.

    A value failing a union fails once per branch, and a branch that got further fails deeper inside:
    where a branch failed at an outer place and another at an inner one, only the inner one (the bad
    element) is kept."""
    grouped: dict[JsonPath, list[dict[str, Any]]] = {}
    in_branch: set[JsonPath] = set()
    for error in exc.errors(include_url=False):
        path, tagged = _tree_path(tree, error)
        grouped.setdefault(path, []).append(error)
        if tagged:
            in_branch.add(path)
    # Every proper prefix of a place, found in time linear in the places (a literal may nest 64 deep).
    outer: set[JsonPath] = set()
    for path in grouped:
        while path:
            path = path[:-1]
            if path in outer:
                break
            outer.add(path)
    return [
        (path, _message(errors, path, vocabulary))
        for path, errors in grouped.items()
        if not (path in in_branch and path in outer)
    ]


def validation_problems(exc: ValidationError, tree: Any, label: str | None) -> list[Problem]:
    """A spec's errors as problems, each at its item (``nodes[1] "f"``) and naming the field in it."""
    problems = []
    for path, message in validation_messages(exc, tree):
        place, field = describe_place(tree, path)
        problems.append(Problem(label, place, f"{field}: {message}" if field else message))
    return problems


def describe_place(tree: Any, path: JsonPath) -> tuple[str, str]:
    """Split a JSON path into the item it is in and the field inside it.

    ``("nodes", 1, "attrs", "axis")`` -> ``('nodes[1] "f"', "attrs.axis")``, using the item's id.
    """
    if len(path) >= 2 and path[0] in ("leaves", "nodes") and isinstance(path[1], int):
        item_id = None
        try:
            item_id = tree[path[0]][path[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        head = f"{path[0]}[{path[1]}]"
        if isinstance(item_id, str):  # escaped: an id that breaks the rules is named in its own problem
            head += " " + printable(json.dumps(item_id, ensure_ascii=False))
        return head, format_path(path[2:]) if len(path) > 2 else ""
    return format_path(path), ""


def _tree_path(tree: Any, error: dict[str, Any]) -> tuple[JsonPath, bool]:
    """The JSON path of an error, and whether it is inside a union's branch: pydantic's location without
    the branch tags it inserts (any part that is no key or index of the data)."""
    loc = error["loc"]
    path: list[str | int] = []
    tagged = False
    node = tree
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and error["type"] == "missing":
            path.append(part)
        else:
            tagged = True
    return tuple(path), tagged


def _message(errors: list[dict[str, Any]], path: JsonPath, vocabulary: Vocabulary) -> str:
    first = errors[0]
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(str(path[-1]), vocabulary.names) or vocabulary.otherwise
        return vocabulary.unknown + (f"; {hint}" if hint else "")
    if first["type"] == "missing":
        return vocabulary.missing
    if first["type"] == "string_pattern_mismatch" and first.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return _unsafe_name_message(first["input"])
    tags = {part for e in errors for part in e["loc"] if isinstance(part, str)}
    if LITERAL_TAG in tags:
        return "must be a number or a nested list of numbers"
    if "constrained-int" in tags:
        return "a dimension is a non-negative integer or a symbol such as N"
    return _expectation(errors)


def _expectation(errors: list[dict[str, Any]]) -> str:
    """``should be a valid integer or a valid list`` from one error per union branch; a validator's own
    sentence as it is."""
    texts = list(dict.fromkeys(str(e["msg"]).removeprefix("Value error, ") for e in errors))
    expected = [t.removeprefix("Input should be ") for t in texts if t.startswith("Input should be ")]
    if len(expected) == len(texts):
        return "should be " + " or ".join(expected)
    return "; ".join(t.replace("Input should be", "should be") for t in texts)


def _unsafe_name_message(text: Any) -> str:
    """What is wrong with a name that does not match NAME_PATTERN (it is not empty: min_length says so)."""
    bad = next((c for c in text if printable(c) != c), None) if isinstance(text, str) else None
    found = f" (U+{ord(bad):04X} at character {text.index(bad)})" if bad is not None else ""
    return f"may not contain control, bidirectional-formatting or invisible characters{found}"
