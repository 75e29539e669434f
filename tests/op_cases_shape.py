"""The shape part of the op table (see tests/op_cases.py): concat, stack, slice, squeeze, expand_dims,
broadcast_to, flatten, pad. (reshape and transpose have their rows in tests/op_cases.py.)

The references rebuild each result another way: Python lists of sub-arrays, list slicing of index
ranges, a new shape written out by hand, multiplication by ones, assignment into a filled array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from op_cases import Family, OpCase, any_floats


def ref_concat(attrs: Mapping[str, Any], *xs: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis", 0) % xs[0].ndim
    rows = [row for x in xs for row in np.moveaxis(x, axis, 0)]  # sub-arrays along the axis, in order
    return np.moveaxis(np.array(rows, dtype=np.float64), 0, axis)


def ref_stack(attrs: Mapping[str, Any], *xs: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis", 0) % (xs[0].ndim + 1)
    return np.moveaxis(np.array(list(xs), dtype=np.float64), 0, axis)


def ref_slice(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    starts, stops = attrs["start"], attrs["stop"]
    steps = attrs.get("step") or [1] * len(starts)
    axes = attrs.get("axes")
    axes = list(range(len(starts))) if axes is None else [a % x.ndim for a in axes]
    kept = [list(range(d)) for d in x.shape]
    for axis, start, stop, step in zip(axes, starts, stops, steps, strict=True):
        kept[axis] = kept[axis][start:stop:step]  # Python list slicing
    if x.ndim == 0:
        return x.copy()
    return x[np.ix_(*[np.array(k, dtype=np.int64) for k in kept])]


def ref_squeeze(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis")
    if axis is None:
        gone = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        gone = {a % x.ndim for a in ([axis] if isinstance(axis, int) else axis)}
    return x.reshape([d for i, d in enumerate(x.shape) if i not in gone])


def ref_expand_dims(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    axis = attrs["axis"]
    axes = [axis] if isinstance(axis, int) else axis
    ndim = x.ndim + len(axes)
    new = {a % ndim for a in axes}
    return x[tuple(np.newaxis if i in new else slice(None) for i in range(ndim))]


def ref_broadcast_to(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    return x * np.ones(attrs["shape"])


def ref_flatten(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        return x.reshape(1)
    start = attrs.get("start_axis", 1) % x.ndim
    end = attrs.get("end_axis", -1) % x.ndim
    shape = list(x.shape[:start]) + [math.prod(x.shape[start : end + 1])] + list(x.shape[end + 1 :])
    return np.array([float(v) for v in x.flatten()]).reshape(shape)


def ref_pad(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    widths = attrs["pad_width"]
    shape = [d + before + after for d, (before, after) in zip(x.shape, widths, strict=True)]
    out = np.full(shape, attrs.get("value", 0.0))
    out[tuple(slice(before, before + d) for d, (before, _) in zip(x.shape, widths, strict=True))] = x
    return out


CASES: tuple[OpCase, ...] = (
    OpCase(
        "concat",
        (
            Family(((3,),)),  # one input
            Family(((3,), (2,))),
            Family(((2, 3), (4, 3))),
            Family(((2, 3), (2, 1)), {"axis": 1}),
            Family(((2, 3), (2, 1), (2, 4)), {"axis": -1}),
            Family(((1, 2), (3, 2), (2, 2)), {"axis": 0}),
            Family(((2, 3, 2), (2, 1, 2), (2, 2, 2)), {"axis": 1}),
            Family(((2, 2, 3), (2, 2, 1)), {"axis": 2}),
            Family(((3, 0), (3, 2)), {"axis": 1}),  # an empty block
            Family(((2, 3),), {"axis": -1}),
        ),
        any_floats,
        ref_concat,
        float_only=False,
    ),
    OpCase(
        "stack",
        (
            Family(((3,),)),
            Family(((3,), (3,))),
            Family(((3,), (3,)), {"axis": 1}),
            Family(((), (), ())),  # scalars into a vector
            Family(((2, 3), (2, 3), (2, 3)), {"axis": 1}),
            Family(((2, 3), (2, 3), (2, 3)), {"axis": -1}),
            Family(((2, 3), (2, 3)), {"axis": -3}),
            Family(((2, 1, 3), (2, 1, 3)), {"axis": 2}),
        ),
        any_floats,
        ref_stack,
        float_only=False,
    ),
    OpCase(
        "slice",
        (
            Family(((5,),), {"start": [1], "stop": [4]}),
            Family(((5,),), {"start": [None], "stop": [None], "step": [-1]}),
            Family(((5,),), {"start": [-2], "stop": [None]}),
            Family(((5,),), {"start": [10], "stop": [20]}),  # clamped: empty
            Family(((5,),), {"start": [-10], "stop": [10], "step": [2]}),
            Family(((5,),), {"start": [3], "stop": [0], "step": [-2]}),
            Family(((),), {"start": [], "stop": []}),
            Family(((4, 5),), {"start": [1, None], "stop": [3, None], "step": [1, -2]}),
            Family(((4, 5),), {"start": [-1], "stop": [0], "step": [-1], "axes": [1]}),
            Family(((4, 5),), {"start": [None, 1], "stop": [-1, 3], "axes": [-1, 0]}),
            Family(((2, 3, 4),), {"start": [3], "stop": [None], "step": [-2], "axes": [2]}),
            Family(((2, 3, 4),), {"start": [0, 1, 1], "stop": [1, 3, -1], "step": [1, 1, 2]}),
        ),
        any_floats,
        ref_slice,
        float_only=False,
    ),
    OpCase(
        "squeeze",
        (
            Family(((1, 3, 1),)),
            Family(((1, 3, 1),), {"axis": 0}),
            Family(((1, 3, 1),), {"axis": [0, -1]}),
            Family(((3, 1),), {"axis": 1}),
            Family(((1,),)),
            Family(((1, 1),)),
            Family(((3, 2),)),
            Family(((2, 1, 3, 1),), {"axis": [-3]}),
            Family(((),)),
        ),
        any_floats,
        ref_squeeze,
        float_only=False,
    ),
    OpCase(
        "expand_dims",
        (
            Family(((3,),), {"axis": 0}),
            Family(((3,),), {"axis": -1}),
            Family(((3,),), {"axis": [0, 2]}),
            Family(((),), {"axis": 0}),
            Family(((3, 2),), {"axis": 1}),
            Family(((3, 2),), {"axis": [-1, 0]}),
            Family(((2, 3),), {"axis": [1, 3]}),
        ),
        any_floats,
        ref_expand_dims,
        float_only=False,
    ),
    OpCase(
        "broadcast_to",
        (
            Family(((3,),), {"shape": [2, 3]}),
            Family(((3, 1),), {"shape": [3, 4]}),
            Family(((),), {"shape": [2, 2]}),
            Family(((1,),), {"shape": [5]}),
            Family(((2, 1, 3),), {"shape": [4, 2, 5, 3]}),
            Family(((3, 2),), {"shape": [3, 2]}),
            Family(((1, 3),), {"shape": [2, 3]}),
            Family(((3, 1),), {"shape": [3, 0]}),  # an empty result
            Family(((2, 1),), {"shape": [2, 2]}),
        ),
        any_floats,
        ref_broadcast_to,
        float_only=False,
    ),
    OpCase(
        "flatten",
        (
            Family(((2, 3, 4),)),
            Family(((2, 3, 4),), {"start_axis": 0}),
            Family(((2, 3, 4),), {"start_axis": 0, "end_axis": 1}),
            Family(((2, 3, 4),), {"end_axis": -2}),
            Family(((2, 3),)),
            Family(((3,),), {"start_axis": 0}),
            Family(((),), {"start_axis": 0}),
            Family(((2, 1, 3, 2),), {"start_axis": 1, "end_axis": 2}),
            Family(((2, 3, 2, 2),), {"start_axis": -3, "end_axis": -2}),
        ),
        any_floats,
        ref_flatten,
        float_only=False,
    ),
    OpCase(
        "pad",
        (
            Family(((3,),), {"pad_width": [[1, 2]]}),
            Family(((3,),), {"pad_width": [[0, 0]], "value": 1.5}),
            Family(((2, 3),), {"pad_width": [[1, 0], [2, 1]], "value": -1.0}),
            Family(((),), {"pad_width": []}),
            Family(((2, 3, 2),), {"pad_width": [[0, 1], [1, 1], [2, 0]]}),
            Family(((2, 0),), {"pad_width": [[1, 1], [0, 2]], "value": 0.25}),  # an empty x
            Family(((1, 2, 3, 3),), {"pad_width": [[0, 0], [0, 0], [1, 1], [1, 1]]}),  # NCHW image
        ),
        any_floats,
        ref_pad,
        float_only=False,
    ),
)
