"""Linear algebra: matmul (numpy semantics for 1-D and 2-D operands) and transpose."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..errors import ShapeError
from .base import Attrs, Op, TensorType, format_shape, register, require_float


@register
class Matmul(Op):
    """a @ b with numpy's rules for 1-D and 2-D operands.

    (m, n) @ (n, p) -> (m, p); (m, n) @ (n,) -> (m,); (n,) @ (n, p) -> (p,); (n,) @ (n,) -> ().
    Gradients: d/da = upstream @ b^T, d/db = a^T @ upstream, computed by promoting 1-D operands to
    matrices (a row for a, a column for b) so the four cases share one rule.
    """

    name = "matmul"
    family = "linear algebra"
    vjp_reads = frozenset({"inputs"})
    symbol = "@"
    input_names = ("a", "b")

    def infer(self, attrs, a: TensorType, b: TensorType) -> TensorType:
        dtype = require_float(self, [a, b])
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise ShapeError(
                f"matmul {format_shape(a.shape)} @ {format_shape(b.shape)}: operands must be 1-D or 2-D"
            )
        inner_a = a.shape[-1]
        inner_b = b.shape[0]
        if inner_a != inner_b:
            raise ShapeError(
                f"matmul {format_shape(a.shape)} @ {format_shape(b.shape)}: inner dimensions differ "
                f"({inner_a} vs {inner_b})"
            )
        return TensorType(a.shape[:-1] + b.shape[1:], dtype)

    def forward(self, attrs, a, b):
        return np.matmul(a, b)

    def vjp(self, attrs, upstream, out, values, needs):
        a, b = values
        a2 = a if a.ndim == 2 else a[np.newaxis, :]
        b2 = b if b.ndim == 2 else b[:, np.newaxis]
        up2 = upstream.reshape(a2.shape[0], b2.shape[1])
        # The products already have the 2-D operands' shapes; reshape only 1-D operands (no views).
        grad_a = (up2 @ b2.T if a.ndim == 2 else (up2 @ b2.T).reshape(a.shape)) if needs[0] else None
        grad_b = (a2.T @ up2 if b.ndim == 2 else (a2.T @ up2).reshape(b.shape)) if needs[1] else None
        return grad_a, grad_b


class TransposeAttrs(Attrs):
    axes: list[int] | None = Field(
        default=None, description="A permutation of the axes; default reverses them (a matrix transpose)."
    )


@register
class Transpose(Op):
    """Permute the axes (default: reverse them). The gradient is permuted back by the inverse permutation."""

    name = "transpose"
    family = "shape"
    vjp_reads = frozenset()
    symbol = "ᵀ"
    input_names = ("x",)
    Attrs = TransposeAttrs

    def infer(self, attrs, x: TensorType) -> TensorType:
        axes = self._axes(attrs, x.ndim)
        return TensorType(tuple(x.shape[i] for i in axes), x.dtype)

    def _axes(self, attrs, ndim: int) -> tuple[int, ...]:
        if attrs.axes is None:
            return tuple(reversed(range(ndim)))
        axes = tuple(a % ndim if -ndim <= a < ndim else a for a in attrs.axes)
        if sorted(axes) != list(range(ndim)):
            raise ShapeError(f"transpose: axes {attrs.axes} are not a permutation of {ndim} axes")
        return axes

    def forward(self, attrs, x):
        return np.transpose(x, self._axes(attrs, x.ndim))

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.transpose(upstream, np.argsort(self._axes(attrs, x.ndim))),)
