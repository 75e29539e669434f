"""The convolution and pooling part of the op table (see tests/op_cases.py).

The references are plain loops over every output position and kernel element, written from the
definitions (torch.nn.functional's conv2d, max_pool2d, avg_pool2d), independently of graphdiff's
im2col and strided views.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from op_cases import Family, Inputs, OpCase, any_floats


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def ref_conv2d(
    attrs: Mapping[str, Any], x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
) -> np.ndarray:
    sh, sw = _pair(attrs.get("stride", 1))
    ph, pw = _pair(attrs.get("padding", 0))
    dh, dw = _pair(attrs.get("dilation", 1))
    groups = attrs.get("groups", 1)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for b, f, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        total = 0.0 if bias is None else float(bias[f])
        for ch, p, q in itertools.product(range(cg), range(kh), range(kw)):
            row, col = i * sh + p * dh - ph, j * sw + q * dw - pw
            if 0 <= row < h and 0 <= col < w:
                total += float(weight[f, ch, p, q]) * float(x[b, (f // per_group) * cg + ch, row, col])
        out[b, f, i, j] = total
    return out


def _pool(attrs: Mapping[str, Any], x: np.ndarray, kind: str) -> np.ndarray:
    kh, kw = _pair(attrs["kernel_size"])
    stride = attrs.get("stride")
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    ph, pw = _pair(attrs.get("padding", 0))
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for b, ch, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        inside = [
            float(x[b, ch, i * sh + p - ph, j * sw + q - pw])
            for p in range(kh)
            for q in range(kw)
            if 0 <= i * sh + p - ph < h and 0 <= j * sw + q - pw < w
        ]
        if kind == "max":
            out[b, ch, i, j] = max(inside)
        else:
            count = kh * kw if attrs.get("count_include_pad", True) else len(inside)
            out[b, ch, i, j] = math.fsum(inside) / count
    return out


def ref_max_pool2d(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    return _pool(attrs, x, "max")


def ref_avg_pool2d(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    return _pool(attrs, x, "avg")


def distinct_images(rng: np.random.Generator, family: Family) -> Inputs:
    """max_pool2d: all values distinct and at least 0.3 apart, so no window's maximum is tied."""
    (shape,) = family.shapes
    size = math.prod(shape)
    values = rng.permutation(size) * 0.4 + rng.uniform(-0.05, 0.05, size=size) - size / 5
    return (np.asarray(values.reshape(shape), dtype=np.float64),)


CONV_FAMILIES = (
    Family(((1, 1, 4, 4), (2, 1, 3, 3))),
    Family(((2, 2, 5, 4), (3, 2, 3, 2), (3,)), {"padding": 1}),
    Family(((1, 2, 5, 5), (2, 2, 2, 2), (2,)), {"stride": 2}),
    Family(
        ((1, 2, 6, 5), (2, 1, 3, 3), (2,)),
        {"stride": [2, 1], "padding": [1, 2], "dilation": [2, 1], "groups": 2},
    ),
    Family(((1, 4, 4, 4), (4, 1, 3, 3)), {"padding": 1, "groups": 4}),
    Family(((2, 3, 3, 3), (2, 3, 1, 1), (2,))),
    Family(((1, 1, 5, 5), (1, 1, 2, 2)), {"stride": 3, "dilation": 2}),
)

POOL_FAMILIES = (
    Family(((1, 2, 4, 4),), {"kernel_size": 2}),
    Family(((2, 1, 5, 5),), {"kernel_size": 3, "stride": 2, "padding": 1}),
    Family(((1, 2, 5, 6),), {"kernel_size": [2, 3], "stride": [1, 2]}),
    Family(((1, 1, 4, 5),), {"kernel_size": 2, "stride": 3}),
    Family(((1, 1, 3, 4),), {"kernel_size": [3, 2], "stride": 1, "padding": [1, 1]}),
    Family(((1, 1, 3, 3),), {"kernel_size": 1, "stride": 2}),
)

AVG_FAMILIES = POOL_FAMILIES + (
    Family(((2, 1, 5, 5),), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    Family(((1, 1, 3, 4),), {"kernel_size": [3, 2], "stride": 1, "padding": 1, "count_include_pad": False}),
)

CASES: tuple[OpCase, ...] = (
    OpCase("conv2d", CONV_FAMILIES, any_floats, ref_conv2d),
    OpCase("max_pool2d", POOL_FAMILIES, distinct_images, ref_max_pool2d),
    OpCase("avg_pool2d", AVG_FAMILIES, any_floats, ref_avg_pool2d),
)
