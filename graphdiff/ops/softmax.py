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
    shifted = x - np.max(x, axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class _SoftmaxBase(Op):
    input_names = ("x",)
    Attrs = SoftmaxAttrs

    def infer(self, attrs, x: TensorType) -> TensorType:
        dtype = require_float(self, [x])
        normalize_axes(self, attrs.axis, x.ndim)
        return TensorType(x.shape, dtype)


@register
class Softmax(_SoftmaxBase):
    """p = e^x / sum(e^x) along ``axis``. Gradient: p * (upstream - sum(upstream * p))."""

    name = "softmax"
    symbol = "softmax"

    def forward(self, attrs, x):
        with np.errstate(under="ignore"):
            shifted = np.exp(x - np.max(x, axis=attrs.axis, keepdims=True))
        return shifted / np.sum(shifted, axis=attrs.axis, keepdims=True)

    def vjp(self, attrs, upstream, out, values, needs):
        dot = np.sum(upstream * out, axis=attrs.axis, keepdims=True)
        return (out * (upstream - dot),)


@register
class LogSoftmax(_SoftmaxBase):
    """log softmax(x) along ``axis``. Gradient: upstream - softmax(x) * sum(upstream)."""

    name = "log_softmax"
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
    logsumexp([1000, 1000]) = 1000 + log 2. A slice of all -inf gives -inf (not nan).

    Gradient: upstream x softmax(x) over the reduced axes (zero for an all -inf slice).
    """

    name = "logsumexp"
    symbol = "log Σ exp"

    def forward(self, attrs, x):
        axes = self.axes(attrs, x.ndim)
        top = np.max(x, axis=axes, keepdims=True)
        shift = np.where(np.isfinite(top), top, 0.0)  # -inf - -inf would be nan
        with np.errstate(under="ignore", divide="ignore"):
            kept = np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift
        return kept if attrs.keepdims else np.squeeze(kept, axis=axes)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        kept = self._keep_dims(attrs, out, x.ndim)
        with np.errstate(under="ignore", invalid="ignore"):
            weights = np.where(np.isfinite(kept), np.exp(x - kept), 0.0)
        return (self._keep_dims(attrs, upstream, x.ndim) * weights,)
