"""The indexing part of the op table (see tests/op_cases.py): take, take_along_axis, one_hot.

Indices are drawn in [-n, n) (negative ones included) with repeats, so the scatter-add of the gradient
is exercised; the references pick element by element in Python loops.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from op_cases import Family, Inputs, OpCase, Shape


def _indices(rng: np.random.Generator, size: int, shape: Shape) -> np.ndarray:
    """int64 indices in [-size, size): both signs, repeats likely."""
    return np.asarray(rng.integers(-size, size, size=shape), dtype=np.int64)


def floats_and_indices(rng: np.random.Generator, family: Family) -> Inputs:
    """take: x in [-2, 2]; indices valid for the picked axis (or the flattened x, axis null)."""
    x_shape, indices_shape = family.shapes
    axis = family.attrs.get("axis")
    size = math.prod(x_shape) if axis is None else x_shape[axis]
    x = np.asarray(rng.uniform(-2.0, 2.0, size=x_shape), dtype=np.float64)
    return x, _indices(rng, size, indices_shape)


def along_axis_inputs(rng: np.random.Generator, family: Family) -> Inputs:
    """take_along_axis: x in [-2, 2]; indices valid along the axis (default -1)."""
    x_shape, indices_shape = family.shapes
    axis = family.attrs.get("axis", -1)
    x = np.asarray(rng.uniform(-2.0, 2.0, size=x_shape), dtype=np.float64)
    return x, _indices(rng, x_shape[axis], indices_shape)


def labels_for_depth(rng: np.random.Generator, family: Family) -> Inputs:
    (shape,) = family.shapes
    return (np.asarray(rng.integers(0, family.attrs["depth"], size=shape), dtype=np.int64),)


# --- references: element by element -------------------------------------------------------------------


def ref_take(attrs: Mapping[str, Any], x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis")
    if axis is None:
        flat = [float(v) for v in x.flatten()]
        picked = [flat[int(i)] for i in indices.flatten()]  # Python lists wrap negative indices
        return np.array(picked, dtype=np.float64).reshape(indices.shape)
    axis %= x.ndim
    out_shape = x.shape[:axis] + indices.shape + x.shape[axis + 1 :]
    out = np.empty(out_shape)
    k = indices.ndim
    for position in np.ndindex(*out_shape):
        before, picked, after = position[:axis], position[axis : axis + k], position[axis + k :]
        j = int(indices[picked]) % x.shape[axis]
        out[position] = x[before + (j,) + after]
    return out


def ref_take_along_axis(attrs: Mapping[str, Any], x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis", -1) % x.ndim
    out_shape = tuple(
        indices.shape[i] if i == axis else max(x.shape[i], indices.shape[i]) for i in range(x.ndim)
    )
    out = np.empty(out_shape)
    for position in np.ndindex(*out_shape):
        at_indices = tuple(0 if indices.shape[i] == 1 else p for i, p in enumerate(position))
        j = int(indices[at_indices]) % x.shape[axis]
        at_x = tuple(j if i == axis else (0 if x.shape[i] == 1 else p) for i, p in enumerate(position))
        out[position] = x[at_x]
    return out


def ref_one_hot(attrs: Mapping[str, Any], labels: np.ndarray) -> np.ndarray:
    return np.eye(attrs["depth"])[labels]


CASES: tuple[OpCase, ...] = (
    OpCase(
        "take",
        (
            Family(((5,), (3,))),
            Family(((5,), (3,)), {"axis": 0}),
            Family(((5,), (4,)), {"axis": -1}),
            Family(((), (2,))),
            Family(((3, 4), ())),
            Family(((3, 4), (5,))),
            Family(((3, 4), (2,)), {"axis": 0}),
            Family(((3, 4), (2, 3)), {"axis": 1}),
            Family(((3, 4), ()), {"axis": -1}),
            Family(((2, 3, 4), (5,)), {"axis": 1}),
            Family(((2, 3, 4), (2, 2)), {"axis": -1}),
            Family(((6, 3), (8,)), {"axis": 0}),  # an embedding lookup, repeats certain
            Family(((3, 4), (0,)), {"axis": 1}),  # no indices: an empty result, a zero gradient
        ),
        floats_and_indices,
        ref_take,
        float_only=False,
    ),
    OpCase(
        "take_along_axis",
        (
            Family(((3, 4), (3, 2)), {"axis": 1}),
            Family(((3, 4), (3, 1))),
            Family(((3, 4), (5, 4)), {"axis": 0}),
            Family(((3, 4), (6, 4)), {"axis": -2}),
            Family(((1, 4), (3, 2)), {"axis": 1}),  # x broadcast over rows
            Family(((3, 4), (1, 6)), {"axis": 1}),  # indices broadcast over rows
            Family(((5,), (7,)), {"axis": 0}),
            Family(((2, 3, 4), (2, 3, 2)), {"axis": 2}),
            Family(((2, 3, 4), (2, 5, 1)), {"axis": 1}),
            Family(((2, 3, 4), (2, 3, 0)), {"axis": -1}),
        ),
        along_axis_inputs,
        ref_take_along_axis,
        float_only=False,
    ),
    OpCase(
        # float32 results in the table (test_ops checks float32 runs stay float32); the float64 default
        # is pinned in tests/test_ops_indexing.py.
        "one_hot",
        (
            Family(((4,),), {"depth": 3, "dtype": "float32"}),
            Family(((),), {"depth": 5, "dtype": "float32"}),
            Family(((2, 3),), {"depth": 4, "dtype": "float32"}),
            Family(((3,),), {"depth": 1, "dtype": "float32"}),
        ),
        labels_for_depth,
        ref_one_hot,
        out_dtype="float32",
    ),
)
