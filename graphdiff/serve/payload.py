"""The JSON the viewer's page reads and the values it sends back: arrays as flat lists with their shape and
statistics (nan and inf as strings, which JSON has no numbers for), and edits checked before they reach
the graph: numbers of the leaf's dtype, finite, at an index inside its shape, not too many at once.

A value that does not pass raises :class:`RequestError`, the session's refusal (a 4xx for the page).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..api import json_array, json_number
from ..executor import numbers_as

#: Arrays larger than this are sent to the page as statistics only (a heat map of a million cells helps
#: no one, and the JSON would be tens of megabytes).
MAX_SENT_ELEMENTS = 65_536
#: A leaf set whole from the page may have at most this many elements (larger ones are edited element by
#: element, or fed at start).
MAX_EDIT_ELEMENTS = 10_000
#: At most this many data rows are fed at once: the picture is for looking at a few examples.
MAX_ROWS = 256


class RequestError(Exception):
    """A request the session refuses: ``status`` (4xx) and a one-line message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def array_payload(array: np.ndarray) -> dict[str, Any]:
    """An array for the page: shape, dtype, statistics and (when not too large) every element, flat, in
    C order, with nan and inf as the strings "nan", "inf", "-inf"."""
    array = np.asarray(array)
    payload: dict[str, Any] = {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "size": int(array.size),
        "stats": stats(array),
    }
    if array.size <= MAX_SENT_ELEMENTS:
        payload["data"] = json_array(array.reshape(-1))
    else:
        payload["data"] = None
        payload["note"] = f"{array.size:,} numbers: too many to show one by one (statistics only)"
    return payload


def stats(array: np.ndarray) -> dict[str, Any] | None:
    """How many elements are not finite, and the min, max, mean and norm of those that are (None for an
    empty array)."""
    if array.size == 0 or array.dtype.kind not in "biuf":
        return None
    numbers = array.astype(np.float64, copy=False)
    finite = numbers[np.isfinite(numbers)]
    result: dict[str, Any] = {"nonfinite": int(array.size - finite.size)}
    if finite.size:
        result |= {
            "min": number(finite.min()),
            "max": number(finite.max()),
            "mean": number(finite.mean()),
            "norm": number(np.linalg.norm(finite)),
        }
    return result


def brief(array: np.ndarray) -> Any:
    """A scalar as its number; anything else as its statistics (the overview's one line)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return json_array(array)
    return {"shape": list(array.shape), "stats": stats(array)}


def number(x: float | np.floating | None) -> float | str | None:
    """A number for JSON: nan and the infinities as strings."""
    return None if x is None else json_number(float(x))


def leaf_numbers(value: Any, dtype: str, id: str) -> np.ndarray:
    """A value sent for leaf ``id``: numbers of its dtype kind, finite when it is a float."""
    if value is None or isinstance(value, str | dict):
        raise RequestError(400, f"the value of {json.dumps(id)} must be a number or a list of numbers")
    try:
        array = numbers_as(value, dtype, f"{json.dumps(id)}")
    except ValueError as exc:
        raise RequestError(400, f"the value of {json.dumps(id)}: {exc}") from None
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise RequestError(400, f"the value of {json.dumps(id)} must be finite numbers")
    return array


def element_index(index: Any, shape: tuple[int, ...], id: str) -> tuple[int, ...]:
    """An element's index sent for leaf ``id``: one whole number per axis, inside ``shape``."""
    if not isinstance(index, list) or len(index) != len(shape):
        raise RequestError(400, f'"index" must be a list of {len(shape)} whole numbers for {json.dumps(id)}')
    for i, (position, size) in enumerate(zip(index, shape, strict=True)):
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < size:
            raise RequestError(
                400, f"index {i} of {json.dumps(id)} runs from 0 to {size - 1}; got {json.dumps(position)}"
            )
    return tuple(index)


def count_numbers(value: list) -> int:
    """How many numbers nested lists hold, at most a little past the edit limit (iteratively)."""
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_EDIT_ELEMENTS:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        else:
            total += 1
    return total
