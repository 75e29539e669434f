"""Normalization: batch_norm (statistics over the batch, per channel) and layer_norm (statistics over the
trailing axes, per example), each with an optional elementwise scale and shift.

Both standardize x over a set of axes A with M = the number of elements in A:

    mu = mean_A(x),  var = mean_A((x - mu)^2)  (biased: divided by M),  s = 1 / sqrt(var + eps),
    xhat = (x - mu) s,  y = gamma xhat + beta  (gamma = 1 and beta = 0 when left out).

The variance is computed in two passes (the mean first, then the mean of squared deviations), so an
offset of 1e8 on values of size 1 loses nothing to cancellation.

Gradient (the exact closed form, vectorized; g = upstream, gh = g gamma):

    dx = s (gh - mean_A(gh) - xhat mean_A(gh xhat)),  dgamma = sum(g xhat),  dbeta = sum(g),

the sums running over every axis gamma does not have. The formula is exact with eps (eps only shifts
the variance, whose derivative it does not change).

Kink rule: there are none. With eps > 0 (required) both ops are smooth everywhere, also where a slice is
constant (var = 0): there xhat = 0, y = beta and the gradient is finite (s = 1 / sqrt(eps)).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..errors import ShapeError
from .base import Attrs, OnnxEmitter, Op, TensorType, exact_in_float32, format_shape, register, require_float

EPS_DESCRIPTION = "Added to the variance before the square root (> 0), as PyTorch's eps."


def _standardize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(xhat, s, M): x standardized over ``axes`` (kept as size-1 axes in s), s = 1/sqrt(var + eps).

    An empty slice (M = 0) gives an empty xhat: the sums are divided by max(M, 1), so nothing warns.
    """
    count = math.prod(x.shape[i] for i in axes)
    divisor = max(count, 1)
    mean = np.sum(x, axis=axes, keepdims=True) / divisor
    centered = x - mean
    var = np.sum(centered * centered, axis=axes, keepdims=True) / divisor
    inv_std = 1.0 / np.sqrt(var + eps)
    return centered * inv_std, inv_std, count


def _standardize_grad(
    grad_xhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, axes: tuple[int, ...], count: int
) -> np.ndarray:
    """d loss / d x from d loss / d xhat: s (gh - mean(gh) - xhat mean(gh xhat)) over ``axes``."""
    divisor = max(count, 1)
    mean_grad = np.sum(grad_xhat, axis=axes, keepdims=True) / divisor
    mean_proj = np.sum(grad_xhat * xhat, axis=axes, keepdims=True) / divisor
    return inv_std * (grad_xhat - mean_grad - xhat * mean_proj)


class _Normalization(Op):
    """Shared forward and backward: subclasses say which axes are standardized (:meth:`axes`) and how
    gamma and beta line up with x (:meth:`param_view`)."""

    input_names = ("x", "gamma", "beta")
    min_inputs = 1
    family = "normalization"
    vjp_reads = frozenset({"inputs"})

    def axes(self, attrs, ndim: int) -> tuple[int, ...]:
        raise NotImplementedError

    def param_view(self, attrs, param: np.ndarray, ndim: int) -> np.ndarray:
        """gamma or beta shaped to broadcast against x."""
        raise NotImplementedError

    def _check_params(self, x: TensorType, params: tuple[TensorType, ...], want: tuple, what: str) -> str:
        dtype = require_float(self, [x, *params])
        for name, t in zip(self.input_names[1:], params, strict=False):
            if t.shape != want:
                raise ShapeError(
                    f"{self.name}: {name} {format_shape(t.shape)} does not fit x {format_shape(x.shape)}: "
                    f"{' and '.join(self.input_names[1:])} must have shape {format_shape(want)} ({what})"
                )
        return dtype

    def forward(self, attrs, x, *params):
        xhat, _, _ = _standardize(x, self.axes(attrs, x.ndim), attrs.eps)
        out = xhat
        if len(params) >= 1:
            out = out * self.param_view(attrs, params[0], x.ndim)
        if len(params) == 2:
            out = out + self.param_view(attrs, params[1], x.ndim)
        return out

    def vjp(self, attrs, upstream, out, values, needs):
        x, *params = values
        axes = self.axes(attrs, x.ndim)
        # gamma and beta are summed over every axis they do not have.
        param_axes = tuple(i for i in range(x.ndim) if i not in self.param_axes(attrs, x.ndim))
        grads: list[np.ndarray | None] = [None] * len(values)
        if len(params) == 2 and needs[2]:
            grads[2] = np.sum(upstream, axis=param_axes).astype(params[1].dtype, copy=False)
        if not (needs[0] or (len(params) >= 1 and needs[1])):
            return tuple(grads)
        xhat, inv_std, count = _standardize(x, axes, attrs.eps)
        if len(params) >= 1 and needs[1]:
            grads[1] = np.sum(upstream * xhat, axis=param_axes).astype(params[0].dtype, copy=False)
        if needs[0]:
            grad_xhat = upstream * self.param_view(attrs, params[0], x.ndim) if params else upstream
            dx = _standardize_grad(grad_xhat, xhat, inv_std, axes, count)
            grads[0] = dx.astype(x.dtype, copy=False)
        return tuple(grads)

    def param_axes(self, attrs, ndim: int) -> tuple[int, ...]:
        """The axes of x that gamma and beta have."""
        raise NotImplementedError


def _standardized_onnx(emit: OnnxEmitter, x: str, axes: tuple[int, ...], eps: float, dtype: str) -> str:
    """ONNX nodes for (x - mean) / sqrt(var + eps) over ``axes`` (the biased variance)."""
    mean = emit.reduce("ReduceMean", x, axes, True)
    centered = emit.op("Sub", x, mean)
    var = emit.reduce("ReduceMean", emit.op("Mul", centered, centered), axes, True)
    return emit.op("Div", centered, emit.op("Sqrt", emit.op("Add", var, emit.scalar(eps, dtype))))


class BatchNormAttrs(Attrs):
    eps: float = Field(default=1e-5, gt=0, description=EPS_DESCRIPTION)


@register
class BatchNorm(_Normalization):
    """Batch normalization with the batch's own statistics (training mode, as
    F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)): per channel c (axis 1),

    y = gamma_c (x - mu_c) / sqrt(var_c + eps) + beta_c,

    mu_c and the biased var_c taken over every axis but 1 (N for (N, C); N, H, W for (N, C, H, W)).
    x is at least 2-D; gamma and beta have shape (C,) and may be left out (gamma 1, beta 0; beta can only
    be given with gamma). No running statistics are kept.

    Gradient, with g = upstream, gh = g gamma, M = N x H x W and s = 1/sqrt(var + eps):
    dx = s (gh - mean(gh) - xhat mean(gh xhat)) per channel, dgamma = sum(g xhat), dbeta = sum(g).
    Kink rule: none (smooth for eps > 0). A batch of one value per channel (M = 1) normalizes to 0
    (y = beta) where PyTorch refuses it; an empty batch gives an empty result and zero dgamma, dbeta.
    """

    name = "batch_norm"
    symbol = "batch norm"
    Attrs = BatchNormAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        # ONNX's BatchNormalization uses running statistics; the batch's own are written out instead.
        x, dtype = emit.cast(inputs[0], out.dtype, types[0].dtype), out.dtype
        y = _standardized_onnx(emit, x, self.axes(attrs, types[0].ndim), attrs.eps, dtype)
        view = emit.ints([-1] + [1] * (types[0].ndim - 2))
        for name, param, op in zip(inputs[1:], types[1:], ("Mul", "Add"), strict=False):
            y = emit.op(op, y, emit.op("Reshape", emit.cast(name, dtype, param.dtype), view))
        return y

    def infer(self, attrs, x: TensorType, *params: TensorType) -> TensorType:
        if x.ndim < 2:
            raise ShapeError(
                f"batch_norm: x {format_shape(x.shape)} must be at least 2-D: (N, C) or (N, C, ...), "
                "the channels on axis 1"
            )
        dtype = self._check_params(x, params, (x.shape[1],), "C, x's axis 1")
        return TensorType(x.shape, dtype)

    def axes(self, attrs, ndim):
        return (0, *range(2, ndim))

    def param_axes(self, attrs, ndim):
        return (1,)

    def param_view(self, attrs, param, ndim):
        return param.reshape((-1,) + (1,) * (ndim - 2))


class LayerNormAttrs(Attrs):
    normalized_ndim: int = Field(
        default=1,
        ge=1,
        description="How many trailing axes are normalized together (PyTorch's len(normalized_shape)).",
    )
    eps: float = Field(default=1e-5, gt=0, description=EPS_DESCRIPTION)


@register
class LayerNorm(_Normalization):
    """Layer normalization (F.layer_norm(x, x.shape[-k:], weight, bias, eps), k = normalized_ndim):

    y = weight (x - mu) / sqrt(var + eps) + bias,

    mu and the biased var taken over the trailing k axes, separately for every index of the leading
    ones. weight and bias have shape x.shape[-k:] and may be left out (1 and 0; bias can only be given
    with weight).

    Gradient, with g = upstream, gh = g weight, s = 1/sqrt(var + eps), over the trailing k axes:
    dx = s (gh - mean(gh) - xhat mean(gh xhat)); dweight = sum(g xhat) and dbias = sum(g) over the
    leading axes. Kink rule: none (smooth for eps > 0).
    """

    name = "layer_norm"
    symbol = "layer norm"
    input_names = ("x", "weight", "bias")
    Attrs = LayerNormAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        k = attrs.normalized_ndim
        params = [emit.cast(name, out.dtype, t.dtype) for name, t in zip(inputs[1:], types[1:], strict=True)]
        if not params:  # ONNX's Scale is required: ones of the normalized shape
            params = [emit.array(np.ones([int(d) for d in types[0].shape[-k:]], dtype=out.dtype))]
        x = emit.cast(inputs[0], out.dtype, types[0].dtype)
        if out.dtype == "float32" or exact_in_float32(attrs.eps):
            return emit.op("LayerNormalization", x, *params, axis=-k, epsilon=attrs.eps)
        # ONNX's epsilon is a float32: a float64 graph gets the normalization written out with its eps.
        y = _standardized_onnx(emit, x, self.axes(attrs, types[0].ndim), attrs.eps, out.dtype)
        for name, op in zip(params, ("Mul", "Add"), strict=False):
            y = emit.op(op, y, name)
        return y

    def infer(self, attrs, x: TensorType, *params: TensorType) -> TensorType:
        k = attrs.normalized_ndim
        if k > x.ndim:
            raise ShapeError(
                f"layer_norm: normalized_ndim {k} is more than the {x.ndim} axes of x {format_shape(x.shape)}"
            )
        want = tuple(x.shape[x.ndim - k :])
        dtype = self._check_params(x, params, want, f"x's last {k} axes, normalized_ndim {k}")
        return TensorType(x.shape, dtype)

    def axes(self, attrs, ndim):
        return tuple(range(ndim - attrs.normalized_ndim, ndim))

    def param_axes(self, attrs, ndim):
        return self.axes(attrs, ndim)

    def param_view(self, attrs, param, ndim):
        return param
