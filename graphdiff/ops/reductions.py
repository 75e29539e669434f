"""Reductions over axes: sum, mean and max, each with ``axis`` (an int, a list, or null for all) and
``keepdims``.

The gradient of a reduction spreads the upstream gradient back over the reduced axes: first put the
reduced axes back as size-1 axes (:func:`_keep_dims`), then let broadcasting stretch them.

Kink: ``max`` divides the gradient equally among tied maxima, so the gradients still sum to upstream.

Empty axes give numpy's (and ONNX's) answers, never an error at run time: a sum over nothing is 0, a mean
is nan, and a max is -inf (the identity of max, as ONNX's ReduceMax defines it; numpy itself refuses).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from .base import Attrs, Op, TensorType, normalize_axes, register, require_float


class ReduceAttrs(Attrs):
    axis: int | list[int] | None = Field(
        default=None, description="Axis or axes to reduce; null (the default) reduces over all of them."
    )
    keepdims: bool = Field(default=False, description="Keep reduced axes as size-1 dimensions.")


class Reduction(Op):
    input_names = ("x",)
    family = "reductions"
    Attrs = ReduceAttrs

    #: The ONNX Reduce* op of the same reduction.
    onnx_reduce: str = ""

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.reduce(self.onnx_reduce, inputs[0], self.axes(attrs, types[0].ndim), attrs.keepdims)

    def infer(self, attrs, x: TensorType) -> TensorType:
        dtype = require_float(self, [x])
        axes = normalize_axes(self, attrs.axis, x.ndim)
        if attrs.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return TensorType(shape, dtype)

    def axes(self, attrs, ndim: int) -> tuple[int, ...]:
        return normalize_axes(self, attrs.axis, ndim)

    def _keep_dims(self, attrs, array: np.ndarray, ndim: int) -> np.ndarray:
        """``array`` (a reduced result) with the reduced axes restored as size-1 axes."""
        if attrs.keepdims:
            return array
        return np.expand_dims(array, self.axes(attrs, ndim))


@register
class Sum(Reduction):
    """Sum over the axes. Each input element gets the upstream gradient of its sum."""

    name = "sum"
    onnx_reduce = "ReduceSum"
    vjp_reads = frozenset()
    symbol = "Σ"

    def forward(self, attrs, x):
        return np.sum(x, axis=self.axes(attrs, x.ndim), keepdims=attrs.keepdims)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.broadcast_to(self._keep_dims(attrs, upstream, x.ndim), x.shape),)


@register
class Mean(Reduction):
    """Mean over the axes. Each input element gets upstream / (number of elements averaged)."""

    name = "mean"
    onnx_reduce = "ReduceMean"
    vjp_reads = frozenset()
    symbol = "mean"

    def forward(self, attrs, x):
        axes = self.axes(attrs, x.ndim)
        if x.size and any(x.shape[i] == 0 for i in axes) or (not x.size and axes):
            # numpy's answer for an empty mean (nan), without its "Mean of empty slice" warning
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sum(x, axis=axes, keepdims=attrs.keepdims) / x.dtype.type(0)
        return np.mean(x, axis=axes, keepdims=attrs.keepdims)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        count = math.prod(x.shape[i] for i in self.axes(attrs, x.ndim))
        spread = np.broadcast_to(self._keep_dims(attrs, upstream, x.ndim), x.shape)
        return (spread / count,)


@register
class Max(Reduction):
    """Maximum over the axes. The gradient goes to the maximal element.

    Kink: when several elements tie for the maximum, each gets upstream / (number tied).
    Over an empty axis the maximum is -inf (and there is no element to get a gradient).
    """

    name = "max"
    onnx_reduce = "ReduceMax"
    symbol = "max"

    def forward(self, attrs, x):
        return np.max(x, axis=self.axes(attrs, x.ndim), keepdims=attrs.keepdims, initial=-np.inf)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        is_max = x == self._keep_dims(attrs, out, x.ndim)
        ties = np.sum(is_max, axis=self.axes(attrs, x.ndim), keepdims=True)
        return (self._keep_dims(attrs, upstream, x.ndim) * is_max / ties,)
