"""softmax, log_softmax and logsumexp, in the stable form that shifts by the maximum first.

Shifting by the max changes nothing mathematically (softmax(x) = softmax(x - c)) but keeps e^x from
overflowing: softmax([1000, 1000]) = [0.5, 0.5]. What is left can only underflow (e^-2000 is 0), which is
the right answer, so underflow is not reported as a floating-point problem here.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Attrs, Op, TensorType, normalize_axes, register, require_float
from .reductions import Reduction


class SoftmaxAttrs(Attrs):
    axis: int = Field(default=-1, description="The axis that sums to one (default: the last).")


def stable_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log softmax(x) = x - max - log(sum(e^(x - max))): never exponentiates a positive number."""
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    with np.errstate(under="ignore", divide="ignore"):  # log 0 only for an empty axis (empty result)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class _SoftmaxBase(Op):
    input_names = ("x",)
    family = "softmax"
    Attrs = SoftmaxAttrs

    #: The ONNX op (opset 13 and later normalize along one axis, as here).
    onnx_softmax: str = ""

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op(self.onnx_softmax, inputs[0], axis=attrs.axis)

    def infer(self, attrs, x: TensorType) -> TensorType:
        dtype = require_float(self, [x])
        normalize_axes(self, attrs.axis, x.ndim)
        return TensorType(x.shape, dtype)


@register
class Softmax(_SoftmaxBase):
    """p = e^x / sum(e^x) along ``axis``. Gradient: p * (upstream - sum(upstream * p))."""

    name = "softmax"
    onnx_softmax = "Softmax"
    symbol = "softmax"

    def forward(self, attrs, x):
        with np.errstate(under="ignore"):
            shifted = np.exp(x - np.max(x, axis=attrs.axis, keepdims=True, initial=-np.inf))
        return shifted / np.sum(shifted, axis=attrs.axis, keepdims=True)

    def vjp(self, attrs, upstream, out, values, needs):
        dot = np.sum(upstream * out, axis=attrs.axis, keepdims=True)
        return (out * (upstream - dot),)


@register
class LogSoftmax(_SoftmaxBase):
    """log softmax(x) along ``axis``. Gradient: upstream - softmax(x) * sum(upstream)."""

    name = "log_softmax"
    onnx_softmax = "LogSoftmax"
    symbol = "log softmax"

    def forward(self, attrs, x):
        return stable_log_softmax(x, attrs.axis)

    def vjp(self, attrs, upstream, out, values, needs):
        total = np.sum(upstream, axis=attrs.axis, keepdims=True)
        with np.errstate(under="ignore"):
            return (upstream - np.exp(out) * total,)


@register
class LogSumExp(Reduction):
    """log(sum(e^x)) over the axes, as max + log(sum(e^(x - max))) so it never overflows:
    logsumexp([1000, 1000]) = 1000 + log 2. A slice of all -inf gives -inf (not nan), and so does an
    empty slice (log 0, as numpy and ONNX define it).

    Gradient: upstream x softmax(x) over the reduced axes (zero for an all -inf slice).
    """

    name = "logsumexp"
    onnx_reduce = "ReduceLogSumExp"
    family = "reductions"
    symbol = "log Σ exp"

    def _shifted_exp(self, attrs, x):
        """e^(x - max) over the reduced axes, and the shift (0 where a slice is all -inf: -inf - -inf
        would be nan)."""
        top = np.max(x, axis=self.axes(attrs, x.ndim), keepdims=True, initial=-np.inf)
        shift = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(under="ignore"):
            return np.exp(x - shift), shift

    def forward(self, attrs, x):
        axes = self.axes(attrs, x.ndim)
        exps, shift = self._shifted_exp(attrs, x)
        with np.errstate(divide="ignore"):  # log 0 = -inf for an all -inf slice
            kept = np.log(np.sum(exps, axis=axes, keepdims=True)) + shift
        return kept if attrs.keepdims else np.squeeze(kept, axis=axes)

    def vjp(self, attrs, upstream, out, values, needs):
        # softmax weights from the shifted exponentials, not e^(x - out): at x ~ 1e15, out = x + log 2
        # is rounded to the float spacing and e^(x - out) would be far from 1/2.
        (x,) = values
        exps, _ = self._shifted_exp(attrs, x)
        total = np.sum(exps, axis=self.axes(attrs, x.ndim), keepdims=True)
        weights = np.divide(exps, total, out=np.zeros_like(exps), where=total > 0)
        return (self._keep_dims(attrs, upstream, x.ndim) * weights,)
