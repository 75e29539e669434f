"""Comparison and selection: greater, less, equal (bool results), where (select by a bool mask), cast.

None of these is ``elementwise`` in the executor's sense (one float dtype in and out): comparisons give
bool, ``where`` reads a bool condition, ``cast`` changes dtype. So a scalar graph using them runs step by
step rather than through the scalar-batching fast path.

Gradients: comparisons have none (a bool result). ``where`` routes the upstream gradient to ``a`` where
the condition holds and to ``b`` where it does not (no kink: the condition is data, not a function of a
or b). ``cast`` passes the gradient only float -> float, cast back to the input's dtype.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..errors import ComputeError
from .base import (
    Attrs,
    Op,
    TensorType,
    broadcast_shapes,
    register,
    require_dtype,
    require_float,
    unbroadcast,
)

FAMILY = "comparison and selection"


class Comparison(Op):
    """a <op> b elementwise with numpy broadcasting: a bool result, no gradient.

    Any dtypes compare (float32, float64, int64, bool), mixed as numpy mixes them (an int64 and a
    float64 compare as float64). nan compares false with everything (equal(nan, nan) is false).
    """

    input_names = ("a", "b")
    family = FAMILY
    non_differentiable = frozenset({"a", "b"})
    vjp_reads = frozenset()

    def infer(self, attrs: Any, a: TensorType, b: TensorType) -> TensorType:
        return TensorType(broadcast_shapes(self, a.shape, b.shape), "bool")

    def compare(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, attrs, a, b):
        with np.errstate(invalid="ignore"):  # nan compares false, quietly
            return np.asarray(self.compare(a, b), dtype=bool)

    def vjp(self, attrs, upstream, out, values, needs):
        return None, None


@register
class Greater(Comparison):
    """a > b elementwise (bool). No gradient (a step function: zero almost everywhere, undefined at ties)."""

    name = "greater"
    onnx_op = "Greater"
    symbol = ">"

    def compare(self, a, b):
        return np.greater(a, b)


@register
class Less(Comparison):
    """a < b elementwise (bool). No gradient."""

    name = "less"
    onnx_op = "Less"
    symbol = "<"

    def compare(self, a, b):
        return np.less(a, b)


@register
class Equal(Comparison):
    """a == b elementwise (bool; exact equality, nan != nan). No gradient."""

    name = "equal"
    onnx_op = "Equal"
    symbol = "=="

    def compare(self, a, b):
        return np.equal(a, b)


@register
class Where(Op):
    """condition ? a : b elementwise, broadcasting over all three (numpy's where, PyTorch's where).

    condition must be bool; a and b are floats (float32 with float64 gives float64). Gradient: a gets
    the upstream where the condition is true and 0 elsewhere, b the reverse, each summed back to its
    input's shape. The condition gets none. Kink rule: none (the condition is data, not a function of
    a or b). The unselected side gets exactly 0 even where its value is nan or inf; but, as in PyTorch,
    a branch whose own backward is nan there (sqrt of a negative number: 0 / nan) still gives nan
    upstream of it, so guard the branch's input (clip) rather than only its output.
    """

    name = "where"
    onnx_op = "Where"
    input_names = ("condition", "a", "b")
    family = FAMILY
    non_differentiable = frozenset({"condition"})
    vjp_reads = frozenset({"inputs"})
    symbol = "where"

    def infer(self, attrs: Any, condition: TensorType, a: TensorType, b: TensorType) -> TensorType:
        require_dtype(self, "condition", condition, "bool", "(a mask, e.g. from greater)")
        dtype = require_float(self, [a, b], ("a", "b"))
        return TensorType(broadcast_shapes(self, condition.shape, a.shape, b.shape), dtype)

    def forward(self, attrs, condition, a, b):
        return np.where(condition, a, b)

    def vjp(self, attrs, upstream, out, values, needs):
        condition, a, b = values
        zero = np.zeros((), dtype=upstream.dtype)
        grad_a = unbroadcast(np.where(condition, upstream, zero), a.shape) if needs[1] else None
        grad_b = unbroadcast(np.where(condition, zero, upstream), b.shape) if needs[2] else None
        if grad_a is not None and grad_a.dtype != a.dtype:
            grad_a = grad_a.astype(a.dtype)
        if grad_b is not None and grad_b.dtype != b.dtype:
            grad_b = grad_b.astype(b.dtype)
        return None, grad_a, grad_b


class CastAttrs(Attrs):
    dtype: Literal["float64", "float32", "int64", "bool"] = Field(description="The result's dtype.")


#: int64's range as floats: [-2^63, 2^63). Both bounds are exact in float32 and float64.
_INT64_LOW, _INT64_HIGH = -(2.0**63), 2.0**63


@register
class Cast(Op):
    """x converted to ``dtype`` as numpy's astype; a float that has no int64 value is refused.

    - float -> int64 truncates toward zero (2.7 -> 2, -2.7 -> -2); nan, +-inf and values outside
      int64's range are refused at run time (ComputeError naming the value), where numpy would give
      an arbitrary integer.
    - anything -> bool is x != 0 (so nan -> true); bool -> numbers gives 0 and 1.
    - float64 -> float32 rounds (overflowing to +-inf, as numpy).

    Gradient: only float -> float, where it is the upstream cast back to x's dtype. An integer or bool
    result carries no gradient (a step function), and an integer or bool x gets none.
    """

    name = "cast"
    input_names = ("x",)
    family = FAMILY
    vjp_reads = frozenset()
    symbol = "cast"
    Attrs = CastAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.cast(inputs[0], attrs.dtype)

    def infer(self, attrs: Any, x: TensorType) -> TensorType:
        return TensorType(x.shape, attrs.dtype)

    def forward(self, attrs, x):
        x = np.asarray(x)
        if attrs.dtype == "bool":
            return x != 0
        if attrs.dtype == "int64" and x.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                fits = (x >= _INT64_LOW) & (x < _INT64_HIGH)  # false for nan
            if not fits.all():
                bad = float(x[~fits].flat[0])
                count = x.size - int(np.count_nonzero(fits))
                raise ComputeError(
                    f"cast: cannot cast {bad!r} to int64 ({count} of {x.size} values are nan, infinite or "
                    "outside int64's range [-2^63, 2^63))"
                )
        return x.astype(attrs.dtype)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        if x.dtype.kind != "f" or np.dtype(attrs.dtype).kind != "f":
            return (None,)
        return (upstream.astype(x.dtype, copy=False),)
