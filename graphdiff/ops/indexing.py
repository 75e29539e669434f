"""Indexing: take, take_along_axis (gathers by int64 indices) and one_hot.

Indices are int64 inputs that carry no gradient. An index may be negative (numpy's wrap-around: -1 is the
last); one outside [-n, n) is refused at run time with a :class:`ComputeError` naming the op, the index,
the axis and its size. Shapes are checked statically, so symbolic dimensions (``N``) pass through: an
embedding lookup ``take(E, ids, axis=0)`` of E (V, D) with ids (N,) is (N, D).

The gradient of a gather is a scatter-add: every element of ``x`` gets the sum of the upstream gradients
of the output positions that read it, so an index repeated k times collects k contributions and an
element never read gets 0. It is computed in one ``np.bincount`` over flat positions (no Python loop).

These ops move values of any dtype (an int64 or bool table is gathered unchanged); only a float ``x``
gets a gradient.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import ComputeError, ShapeError
from .base import (
    Attrs,
    Dim,
    Op,
    TensorType,
    format_shape,
    normalize_axis,
    register,
    require_dtype,
)
from .shape import allocating, require_size


def checked_indices(op: Op, indices: np.ndarray, size: int, where: str) -> np.ndarray:
    """``indices`` with negative ones wrapped (numpy: -1 is the last); any outside [-size, size) is refused.

    ``where`` names what is indexed in the message ("axis 1", "the flattened x").
    """
    bad = (indices < -size) | (indices >= size)
    if bad.any():
        index = int(indices[bad].flat[0])
        allowed = f"[{-size}, {size})" if size else "none: the axis is empty"
        raise ComputeError(
            f"{op.name}: index {index} is out of range for {where} of size {size} (valid indices: {allowed})"
        )
    return np.where(indices < 0, indices + size, indices)


def scatter_add(upstream: np.ndarray, flat_positions: np.ndarray, size: int) -> np.ndarray:
    """A flat array of ``size`` zeros with ``upstream``'s elements added at ``flat_positions`` (repeats
    accumulate), in upstream's dtype. The sums run in float64 (np.bincount's weights)."""
    summed = np.bincount(flat_positions.reshape(-1), weights=upstream.reshape(-1), minlength=size)
    return summed.astype(upstream.dtype, copy=False)


class TakeAttrs(Attrs):
    axis: int | None = Field(
        default=None,
        description="The axis to pick along (negative counts from the end); null (the default) picks from "
        "the flattened x, as numpy.take.",
    )


@register
class Take(Op):
    """Pick elements (or slices) of x by integer indices along an axis, as ``numpy.take``.

    out[a, i..., b] = x[a, indices[i...], b] with a ranging over x.shape[:axis] and b over
    x.shape[axis+1:]: out's shape is x.shape[:axis] + indices.shape + x.shape[axis+1:]. With axis null,
    x is flattened first and out has indices' shape. An embedding lookup is take(E, ids, axis=0).

    Gradient: d/dx is a scatter-add of upstream: x[a, j, b] gets the sum of upstream[a, i..., b] over the
    positions i with indices[i] = j (0 if j is never picked; an index repeated k times collects k
    contributions). indices get no gradient.

    Kink rule: none; take is linear in x. Indices in [-n, n) (negative wrap around); others are refused
    at run time.
    """

    name = "take"
    family = "indexing"
    symbol = "take"
    input_names = ("x", "indices")
    non_differentiable = frozenset({"indices"})
    vjp_reads = frozenset({"inputs"})
    Attrs = TakeAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        x, indices = inputs
        if attrs.axis is None:
            return emit.op("Gather", emit.op("Reshape", x, emit.ints([-1])), indices, axis=0)
        return emit.op("Gather", x, indices, axis=attrs.axis % types[0].ndim)

    def infer(self, attrs, x: TensorType, indices: TensorType) -> TensorType:
        require_dtype(self, "indices", indices, "int64", "indices")
        if attrs.axis is None:
            return TensorType(indices.shape, x.dtype)
        if x.ndim == 0:
            raise ShapeError(f"take: axis {attrs.axis} given for a scalar x; use axis null")
        axis = normalize_axis(self, attrs.axis, x.ndim)
        shape = x.shape[:axis] + indices.shape + x.shape[axis + 1 :]
        require_size(self, shape)
        return TensorType(shape, x.dtype)

    def forward(self, attrs, x, indices):
        if attrs.axis is None:
            flat = x.reshape(-1)
            return flat[checked_indices(self, indices, flat.size, "the flattened x")]
        axis = attrs.axis % x.ndim
        picked = checked_indices(self, indices, x.shape[axis], f"axis {axis}")
        shape = x.shape[:axis] + indices.shape + x.shape[axis + 1 :]
        return allocating(self, shape, x.dtype, lambda: np.take(x, picked, axis=axis))

    def vjp(self, attrs, upstream, out, values, needs):
        x, indices = values
        if not needs[0]:
            return None, None
        if attrs.axis is None:
            flat = checked_indices(self, indices, x.size, "the flattened x")
            return scatter_add(upstream, flat, x.size).reshape(x.shape), None
        axis = attrs.axis % x.ndim
        n = x.shape[axis]
        before, after = math.prod(x.shape[:axis]), math.prod(x.shape[axis + 1 :])
        picked = checked_indices(self, indices, n, f"axis {axis}").reshape(-1)
        # upstream as (before, k, after); x as (before, n, after): element (p, i, q) of upstream adds
        # into (p, picked[i], q), flat position (p * n + picked[i]) * after + q.
        rows = np.arange(before)[:, np.newaxis] * n + picked[np.newaxis, :]
        flat = rows[:, :, np.newaxis] * after + np.arange(after)[np.newaxis, np.newaxis, :]
        return scatter_add(upstream, flat, x.size).reshape(x.shape), None


class TakeAlongAxisAttrs(Attrs):
    axis: int = Field(default=-1, description="The axis to pick along (negative counts from the end).")


@register
class TakeAlongAxis(Op):
    """Pick one element of x along an axis for every index, as ``numpy.take_along_axis``.

    indices has x's number of dimensions. Along ``axis``, out[..., i, ...] = x[..., indices[..., i, ...],
    ...]; the other axes of x and indices broadcast against each other (numpy rules), so out's shape is
    their broadcast with indices.shape[axis] on ``axis``. This is ``torch.gather`` when the shapes match
    (a per-row pick: x (N, C) with indices (N, 1) along axis 1 gives each row's chosen score).

    Gradient: d/dx is a scatter-add of upstream along the axis (repeated indices accumulate, unpicked
    elements get 0), then summed over the axes on which x was broadcast. indices get no gradient.

    Kink rule: none; the op is linear in x. Indices in [-n, n) (negative wrap around); others are refused
    at run time.
    """

    name = "take_along_axis"
    family = "indexing"
    symbol = "take"
    input_names = ("x", "indices")
    non_differentiable = frozenset({"indices"})
    vjp_reads = frozenset({"inputs"})
    Attrs = TakeAlongAxisAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        # GatherElements does not broadcast: expand x and indices to out's shape first where numpy would.
        (x, indices), (x_type, index_type) = inputs, types
        axis = attrs.axis % x_type.ndim
        if any(
            i != axis and d != o for i, (d, o) in enumerate(zip(index_type.shape, out.shape, strict=True))
        ):
            target = [1 if i == axis else d for i, d in enumerate(x_type.shape)]
            indices = emit.op("Expand", indices, emit.shape(target, x, x_type))
        if any(i != axis and d != o for i, (d, o) in enumerate(zip(x_type.shape, out.shape, strict=True))):
            target = [1 if i == axis else d for i, d in enumerate(index_type.shape)]
            x = emit.op("Expand", x, emit.shape(target, inputs[1], index_type))
        return emit.op("GatherElements", x, indices, axis=axis)

    def infer(self, attrs, x: TensorType, indices: TensorType) -> TensorType:
        require_dtype(self, "indices", indices, "int64", "indices")
        if x.ndim == 0:
            raise ShapeError("take_along_axis: x is a scalar; it needs at least one axis")
        if indices.ndim != x.ndim:
            raise ShapeError(
                f"take_along_axis: indices {format_shape(indices.shape)} must have as many dimensions as "
                f"x {format_shape(x.shape)} ({x.ndim})"
            )
        axis = normalize_axis(self, attrs.axis, x.ndim)
        shape: list[Dim] = []
        for i, (a, b) in enumerate(zip(x.shape, indices.shape, strict=True)):
            if i == axis:
                shape.append(b)
            elif a == b or b == 1:
                shape.append(a)
            elif a == 1:
                shape.append(b)
            else:
                raise ShapeError(
                    f"take_along_axis: x {format_shape(x.shape)} and indices {format_shape(indices.shape)} "
                    f"do not broadcast on axis {i} ({a} vs {b}; only axis {axis}, the one picked along, "
                    "may differ)"
                )
        return TensorType(tuple(shape), x.dtype)

    def forward(self, attrs, x, indices):
        axis = attrs.axis % x.ndim
        picked = checked_indices(self, indices, x.shape[axis], f"axis {axis}")
        return np.take_along_axis(x, picked, axis=axis)

    def vjp(self, attrs, upstream, out, values, needs):
        x, indices = values
        if not needs[0]:
            return None, None
        axis = attrs.axis % x.ndim
        n = x.shape[axis]
        picked = checked_indices(self, indices, n, f"axis {axis}")
        # Scatter into x broadcast to the output's shape (with x's size on the axis), then undo the
        # broadcast. With the axis moved last, element (m, i) of upstream adds into (m, picked[m, i]).
        spread_shape = upstream.shape[:axis] + (n,) + upstream.shape[axis + 1 :]
        up = np.moveaxis(upstream, axis, -1)
        picked = np.broadcast_to(np.moveaxis(picked, axis, -1), up.shape)
        rows = math.prod(up.shape[:-1])
        flat = np.arange(rows).reshape(up.shape[:-1] + (1,)) * n + picked
        spread = scatter_add(up, flat, rows * n).reshape(up.shape[:-1] + (n,))
        spread = np.moveaxis(spread, -1, axis)
        sum_axes = tuple(i for i, d in enumerate(x.shape) if d == 1 and spread_shape[i] != 1)
        grad = spread.sum(axis=sum_axes, keepdims=True) if sum_axes else spread
        return np.ascontiguousarray(grad), None


class OneHotAttrs(Attrs):
    depth: int = Field(ge=1, description="The number of classes: the length of the new last axis.")
    dtype: Literal["float64", "float32"] = Field(default="float64", description="The result's dtype.")


@register
class OneHot(Op):
    """One-hot vectors of int64 labels: out[..., c] = 1 if labels[...] == c else 0, for c in 0..depth-1.

    out's shape is labels.shape + (depth,), in ``dtype``. Labels must lie in [0, depth) (as
    torch.nn.functional.one_hot; no negative wrap-around): others are refused at run time.

    Gradient: none; labels are integers (one_hot's output is a constant of the graph).

    Kink rule: none (no gradient flows).
    """

    name = "one_hot"
    family = "indexing"
    symbol = "one-hot"
    input_names = ("labels",)
    non_differentiable = frozenset({"labels"})
    vjp_reads = frozenset()
    Attrs = OneHotAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        values = emit.array(np.array([0, 1], dtype=attrs.dtype))
        labels = inputs[0] if types[0].ndim else emit.op("Unsqueeze", inputs[0], emit.ints([0]))
        hot = emit.op("OneHot", labels, emit.scalar(attrs.depth, "int64"), values, axis=-1)
        return hot if types[0].ndim else emit.op("Squeeze", hot, emit.ints([0]))  # OneHot needs rank >= 1

    def infer(self, attrs, labels: TensorType) -> TensorType:
        require_dtype(self, "labels", labels, "int64", "class labels")
        shape = labels.shape + (attrs.depth,)
        require_size(self, shape)
        return TensorType(shape, attrs.dtype)

    def forward(self, attrs, labels):
        bad = (labels < 0) | (labels >= attrs.depth)
        if bad.any():
            raise ComputeError(
                f"one_hot: label {int(labels[bad].flat[0])} is out of range for depth {attrs.depth} "
                f"(valid labels: 0 to {attrs.depth - 1})"
            )
        shape = labels.shape + (attrs.depth,)
        out = allocating(self, shape, attrs.dtype, lambda: np.zeros(shape, dtype=attrs.dtype))
        # one 1 per label, written in place (no depth-long comparison per label)
        out.reshape(-1, attrs.depth)[np.arange(labels.size), labels.reshape(-1)] = 1
        return out

    def vjp(self, attrs, upstream, out, values, needs):
        return (None,)
