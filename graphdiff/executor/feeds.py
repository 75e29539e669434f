"""Binding a run's leaf values: feeds checked against the inputs' declared types, numbers cast exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import FeedError, Problem, did_you_mean
from ..graph import CheckedGraph, first_item
from ..ops import bind_symbols, format_shape
from ..spec.arrays import inexact_cast


def bind_feeds(graph: CheckedGraph, feeds: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Every leaf's value for one run: parameters and constants as stored, inputs fed or defaulted.

    Checks the feeds: each names an input, has its dtype kind and its shape, and symbolic dimensions
    (``N``) agree across all inputs. Raises :class:`FeedError` naming the input.
    """
    feeds = dict(feeds or {})
    label = graph.source.label
    for name in feeds:
        if name not in graph.leaves:
            hint = did_you_mean(name, graph.ids_of_kind("input"))
            hint = f"; {hint}" if hint else ""
            where = " (it is a node, computed from its inputs)" if name in graph.nodes else ""
            raise FeedError(
                Problem(label, f"feed {json.dumps(name)}", f"not an input of the graph{where}{hint}")
            )
        if graph.leaves[name].kind != "input":
            raise FeedError(
                Problem(label, f"feed {json.dumps(name)}", f"is a {graph.leaves[name].kind}, not an input")
            )
    values: dict[str, np.ndarray] = {}
    bound: dict[str, int] = {}
    bound_by: dict[str, str] = {}
    for id in graph.leaves:
        if id in feeds:
            value = _feed_array(label, id, feeds[id], graph.types[id].dtype)
        else:
            default = graph.leaf_values.get(id)
            if default is None:
                # Say how to give it, both ways a user gets here: the command line and Python.
                raise FeedError(
                    Problem(
                        label,
                        f"feed {json.dumps(id)}",
                        f"missing: the input has no default value; give it with --feed {id}=VALUE or "
                        f"--data SOURCE on the command line, or feeds={{{json.dumps(id)}: ...}} in Python",
                    )
                )
            value = default
        declared = graph.types[id].shape
        before = dict(bound)
        if not bind_symbols(value.shape, declared, bound):
            symbols = [d for d in declared if isinstance(d, str) and d in before]
            known = ", ".join(f"{s} = {before[s]} (from {json.dumps(bound_by[s])})" for s in symbols)
            raise FeedError(
                Problem(
                    label,
                    f"feed {json.dumps(id)}",
                    f"shape {format_shape(value.shape)} does not match the declared {format_shape(declared)}"
                    + (f" with {known}" if known else ""),
                )
            )
        for symbol in bound.keys() - before.keys():
            bound_by[symbol] = id
        values[id] = value
    return values


def _feed_array(label: str | None, id: str, value: Any, dtype: str) -> np.ndarray:
    try:
        return numbers_as(value, dtype, "the input")
    except ValueError as exc:
        raise FeedError(Problem(label, f"feed {json.dumps(id)}", str(exc))) from None


def numbers_as(value: Any, dtype: str, what: str) -> np.ndarray:
    """``value`` (an array, a number or nested lists) as an array of ``dtype``; a ValueError says why
    not: not numbers, numbers of the wrong kind, or a cast that would change a value (an integer out of
    int64's range, which numpy would wrap, 2**63 becoming -2**63; an integer a float cannot hold exactly,
    2**53 + 1; a finite float64 that overflows float32). Rounding float64 to float32 is allowed."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"not an array of numbers ({exc})") from None
    if array.dtype == object and dtype != "bool" and array.size and _plain_numbers(array):
        array = _big_integers(array, dtype)  # Python integers past 64 bits (from JSON, or Python)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"not an array of numbers (dtype {array.dtype})")
    if dtype == "bool":
        if array.dtype.kind != "b":
            raise ValueError(f"{what} is bool (a mask); got {array.dtype} values")
    elif dtype == "int64":
        if array.dtype.kind == "f" and not isinstance(value, np.ndarray | np.generic):
            # numpy makes [2**63, 1] a float64 array: name the integer it could not hold
            found = first_item(value, lambda x: type(x) is not int or not _INT64_MIN <= x <= _INT64_MAX)
            if found is not None and type(found[1]) is int:
                shown = f"{found[1]} at index {list(found[0])}" if found[0] else str(found[1])
                raise ValueError(f"holds {shown}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
        if array.dtype.kind not in "iu":
            raise ValueError(f"{what} is int64 (indices or labels); got {array.dtype} values")
        if array.dtype == np.uint64 and array.size and array.max() > _INT64_MAX:
            first = _first(array, array > _INT64_MAX)
            raise ValueError(f"holds {first}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
    elif array.dtype.kind == "b":
        raise ValueError(f"{what} is a float; got booleans")
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        result = array.astype(dtype)
    inexact = inexact_cast(array, result)
    if inexact is not None:
        raise ValueError(inexact)
    if array.dtype.kind == "f" and result.dtype.itemsize < array.dtype.itemsize:
        overflow = np.isinf(result)
        if overflow.any():
            overflow &= np.isfinite(array)  # an infinity fed stays one; a finite number must not become one
            if overflow.any():
                raise ValueError(f"holds {_first(array, overflow)}, which overflows {dtype}")
    return result


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _plain_numbers(array: np.ndarray) -> bool:
    return all(type(x) is int or type(x) is float for x in array.flat)


def _big_integers(array: np.ndarray, dtype: str) -> np.ndarray:
    """An object array of Python numbers, some of them integers past 64 bits, as float64 when each is a
    float64 exactly; otherwise the ValueError naming the first that is not."""
    for index, x in np.ndenumerate(array):
        if type(x) is float:
            continue
        shown = f"{x} at index {list(index)}" if index else str(x)
        if dtype == "int64":
            if not _INT64_MIN <= x <= _INT64_MAX:
                raise ValueError(f"holds {shown}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
        elif not (abs(x) < 2**1024 and int(float(x)) == x):
            raise ValueError(f"holds {shown}, which {dtype} cannot represent exactly")
    return array.astype(np.float64)


def _first(array: np.ndarray, where: np.ndarray) -> str:
    """``9223372036854775808 at index [1]``: the first element of ``array`` where ``where`` holds."""
    index = tuple(int(i) for i in np.argwhere(where)[0])
    return f"{array[index].item()!r} at index {list(index)}" if index else repr(array.item())
