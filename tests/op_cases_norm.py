"""The normalization part of the op table (see tests/op_cases.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from op_cases import Family, Inputs, OpCase


def _spread(values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The biased variance of every slice over ``axes`` (the smallest decides how well-conditioned
    the standardization is)."""
    return np.var(values, axis=axes)


def normalization_inputs(axes_of: Any):
    """x drawn in [-2, 2] with every standardized slice's variance at least 0.2 (a nearly constant slice
    makes 1/sqrt(var + eps) large and centered differences inexact); gamma, beta in [-2, 2]."""

    def make(rng: np.random.Generator, family: Family) -> Inputs:
        x_shape, *param_shapes = family.shapes
        axes = axes_of(family, len(x_shape))
        while True:
            x = np.asarray(rng.uniform(-2.0, 2.0, size=x_shape), dtype=np.float64)
            if np.all(_spread(x, axes) >= 0.2):
                break
        params = tuple(np.asarray(rng.uniform(-2.0, 2.0, size=s), dtype=np.float64) for s in param_shapes)
        return (x, *params)

    return make


def _batch_axes(family: Family, ndim: int) -> tuple[int, ...]:
    return (0, *range(2, ndim))


def _layer_axes(family: Family, ndim: int) -> tuple[int, ...]:
    k = family.attrs.get("normalized_ndim", 1)
    return tuple(range(ndim - k, ndim))


def _standardized(values: list[float], eps: float) -> list[float]:
    """Plain Python: (v - mean) / sqrt(biased variance + eps) for one slice."""
    mean = math.fsum(values) / len(values)
    var = math.fsum((v - mean) ** 2 for v in values) / len(values)
    return [(v - mean) / math.sqrt(var + eps) for v in values]


def ref_batch_norm(attrs: Mapping[str, Any], x: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """Channel by channel: move the channel axis first, flatten the rest, standardize each row."""
    eps = attrs.get("eps", 1e-5)
    channels = x.shape[1]
    moved = np.moveaxis(x, 1, 0).reshape(channels, -1)
    rows = []
    for c in range(channels):
        row = _standardized([float(v) for v in moved[c]], eps)
        scale = float(params[0][c]) if len(params) >= 1 else 1.0
        shift = float(params[1][c]) if len(params) == 2 else 0.0
        rows.append([scale * v + shift for v in row])
    other = (x.shape[0], *x.shape[2:])
    return np.moveaxis(np.array(rows, dtype=np.float64).reshape((channels, *other)), 0, 1)


def ref_layer_norm(attrs: Mapping[str, Any], x: np.ndarray, *params: np.ndarray) -> np.ndarray:
    """Example by example: flatten the trailing axes, standardize each row, scale and shift elementwise."""
    eps = attrs.get("eps", 1e-5)
    k = attrs.get("normalized_ndim", 1)
    trailing = x.shape[x.ndim - k :]
    size = math.prod(trailing)
    rows = x.reshape(-1, size)
    weight = params[0].reshape(-1) if len(params) >= 1 else np.ones(size)
    bias = params[1].reshape(-1) if len(params) == 2 else np.zeros(size)
    out = []
    for row in rows:
        standardized = _standardized([float(v) for v in row], eps)
        out.append([float(w) * v + float(b) for v, w, b in zip(standardized, weight, bias, strict=True)])
    return np.array(out, dtype=np.float64).reshape(x.shape)


BATCH_NORM = (
    Family(((4, 3), (3,), (3,))),
    Family(((4, 3),)),
    Family(((4, 3), (3,))),
    Family(((6, 1), (1,), (1,))),
    Family(((3, 2, 4), (2,), (2,))),
    Family(((2, 3, 2, 2), (3,), (3,))),
    Family(((1, 2, 2, 3), (2,), (2,))),
    Family(((2, 2, 3, 2),)),
    Family(((4, 3), (3,), (3,)), {"eps": 0.1}),
    Family(((2, 3, 2, 2), (3,), (3,)), {"eps": 1e-3}),
)

LAYER_NORM = (
    Family(((3, 4), (4,), (4,))),
    Family(((3, 4),)),
    Family(((3, 4), (4,))),
    Family(((4,), (4,), (4,))),
    Family(((2, 3, 4), (4,), (4,))),
    Family(((2, 3, 4), (3, 4), (3, 4)), {"normalized_ndim": 2}),
    Family(((2, 2, 3), (2, 2, 3), (2, 2, 3)), {"normalized_ndim": 3}),
    Family(((2, 3, 2, 2), (2, 2)), {"normalized_ndim": 2}),
    Family(((3, 4), (4,), (4,)), {"eps": 0.1}),
    Family(((2, 3, 4),), {"normalized_ndim": 2, "eps": 1e-3}),
)

CASES: tuple[OpCase, ...] = (
    OpCase("batch_norm", BATCH_NORM, normalization_inputs(_batch_axes), ref_batch_norm),
    OpCase("layer_norm", LAYER_NORM, normalization_inputs(_layer_axes), ref_layer_norm),
)
