"""Shape ops: reshape."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..errors import ShapeError
from .base import Attrs, Dim, Op, TensorType, format_shape, register


class ReshapeAttrs(Attrs):
    shape: list[int] = Field(description="The new shape; at most one entry may be -1 (inferred).")


@register
class Reshape(Op):
    """The same elements in a new shape (C order). The gradient is reshaped back.

    A symbolic dimension (``N``) can only be carried by ``-1``: reshaping ``(N, 2, 3)`` to ``(-1, 6)`` gives
    ``(N, 6)``, since the sizes that are known agree.
    """

    name = "reshape"
    family = "shape"
    vjp_reads = frozenset()
    symbol = "reshape"
    input_names = ("x",)
    Attrs = ReshapeAttrs

    def infer(self, attrs, x: TensorType) -> TensorType:
        target = attrs.shape
        where = f"reshape {format_shape(x.shape)} to {format_shape(target)}"
        if target.count(-1) > 1 or any(d < -1 for d in target):
            raise ShapeError(f"{where}: dimensions must be >= 0, with at most one -1")
        symbols = [d for d in x.shape if isinstance(d, str)]
        known = math.prod(d for d in x.shape if isinstance(d, int))
        fixed = math.prod(d for d in target if d != -1)
        if -1 not in target:
            if symbols or known != fixed:
                raise ShapeError(
                    f"{where}: sizes differ ({known if not symbols else format_shape(x.shape)} "
                    f"vs {fixed} elements)"
                )
            return TensorType(tuple(target), x.dtype)
        inferred: Dim
        if not symbols and fixed and known % fixed == 0:
            inferred = known // fixed
        elif len(symbols) == 1 and fixed == known:
            inferred = symbols[0]
        else:
            raise ShapeError(f"{where}: the size of -1 cannot be inferred")
        return TensorType(tuple(inferred if d == -1 else d for d in target), x.dtype)

    def forward(self, attrs, x):
        return np.reshape(x, attrs.shape)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.reshape(upstream, x.shape),)
