"""Generate graphdiff's independent-reference corpus with PyTorch (float64 autograd).

Run it with a Python that has torch and numpy (never graphdiff's own environment, and never imported by
the test suite):

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/reference/generate.py          # rewrite tests/reference/cases/
    /tmp/torchenv/bin/python tests/reference/generate.py --check  # compare with the files, write nothing

This script does not import graphdiff: every op is re-implemented here in PyTorch from graphdiff's
documented semantics, and gradients come from torch.autograd. Each case is one JSON file:

    {"spec": <a complete graphdiff spec, every leaf value inline>,
     "expected": {"values": {node id: value}, "grads": {float leaf id: d loss / d leaf}},
     "generator": "torch 2.13.0"}

Floats are written by Python's json module, i.e. as ``repr(float)``: the shortest decimal string that
reads back as the very same float64, so the recorded values are exact.

Everything is seeded (numpy.random.default_rng with fixed seeds), so running the script again writes
byte-identical files.

Cases sit away from every kink (relu/abs at 0, ties in maximum/minimum/max, zero hinge margins, l1 at
0) and from the edges of each op's domain (log and non-integer powers of non-positive numbers, division
by numbers near 0): every node is checked as it is built (:func:`check_node`). The kinks of issue 10's
ops whose gradient the op contract pins down (clip at min/max, leaky_relu/elu at 0, tied max_pool2d
windows, power of a zero base) are hit exactly by a few cases on purpose, and never merely approached.

The cases of issue 10's ops (:func:`new_op_cases`, :func:`model_cases`) each draw from a stream of their
own, keyed by the case's name, so they leave the older cases' streams, and each other, alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

EXPECTED_TORCH = "2.13.0"
SEED = 20_26_11_23
CASES = Path(__file__).resolve().parent / "cases"
N_GRAPHS = 240

#: The least distance from a kink (or a tie) any case may have.
KINK_EPS = 1e-3
#: The largest magnitude any value may reach.
MAX_ABS = 1e4
#: The largest dimension in composed graphs.
MAX_DIM = 6

torch.set_num_threads(1)
F64 = torch.float64


class Reject(Exception):
    """A node is too close to a kink or out of range; composed graphs try something else."""


# --- graphdiff's ops, in PyTorch --------------------------------------------------------------------------


def _axes(axis: int | list[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return tuple(sorted(a % ndim for a in axes))


def _reduction(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def reduce(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0:
            return fn(x)  # reducing a scalar over no axes is the identity (with gradient 1)
        axes = _axes(attrs.get("axis"), x.dim())
        assert axes, "an empty axis list would make torch reduce over every axis"
        return fn(x, dim=axes, keepdim=bool(attrs.get("keepdims", False)))

    return reduce


def _transpose(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    axes = attrs.get("axes")
    if axes is None:
        axes = list(reversed(range(x.dim())))
    return x.permute(*axes)


def _batched(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C) scores with (N,) labels, or (C,) with a scalar label as a batch of one."""
    return scores.reshape(-1, scores.shape[-1]), labels.reshape(-1)


def hinge_margins(attrs: dict[str, Any], scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    s, y = _batched(scores, labels)
    correct = s.gather(1, y[:, None])
    return s - correct + float(attrs.get("delta", 1.0))


def _multiclass_hinge(attrs: dict[str, Any], scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    s, y = _batched(scores, labels)
    is_label = F.one_hot(y, s.shape[1]).bool()
    margins = hinge_margins(attrs, scores, labels)
    per_class = torch.where(is_label, torch.zeros_like(margins), torch.clamp(margins, min=0.0))
    reduction = attrs.get("reduction", "mean")
    if reduction == "mean":
        return per_class.sum() / s.shape[0]
    if reduction == "sum":
        return per_class.sum()
    assert reduction == "none", reduction
    return per_class.sum(dim=1).reshape(labels.shape)  # per example: (N,), or () for a scalar label


def _softmax_cross_entropy(attrs: dict[str, Any], logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    s, y = _batched(logits, labels)
    out = F.cross_entropy(s, y, reduction=attrs.get("reduction", "mean"))
    return out.reshape(labels.shape) if attrs.get("reduction") == "none" else out


def _squared_error(attrs: dict[str, Any], p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    sq = torch.square(p - t)
    reduction = attrs.get("reduction", "mean")
    if reduction == "none":
        return 0.5 * sq  # keeps its 1/2
    return 0.5 * (sq.mean() if reduction == "mean" else sq.sum())


def _nll_loss(attrs: dict[str, Any], log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    s, y = _batched(log_probs, labels)
    out = F.nll_loss(s, y, reduction=attrs.get("reduction", "mean"))
    return out.reshape(labels.shape) if attrs.get("reduction") == "none" else out


# --- issue 10's ops, from their contract (names, attributes and semantics) ------------------------------

DTYPES = {"float64": F64, "float32": torch.float32, "int64": torch.int64, "bool": torch.bool}


def _pair(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _axis_list(axis: int | list[int], ndim: int) -> list[int]:
    return sorted(a % ndim for a in ([axis] if isinstance(axis, int) else axis))


def _clip(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    lo, hi = attrs.get("min"), attrs.get("max")
    if lo is None and hi is None:
        return x * 1.0
    return torch.clamp(x, min=lo, max=hi)  # gradient 1 where min <= x <= max, both ends included


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x) = logaddexp(0, x), gradient sigmoid(x). (F.softplus turns linear above its threshold
    # of 20, which is 2e-9 off: more than the tolerance.)
    return torch.logaddexp(torch.zeros_like(x), x)


def _cast(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    return x.to(DTYPES[attrs["dtype"]], copy=True)  # float -> int64 truncates toward 0, as numpy


def _take(attrs: dict[str, Any], x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    axis = attrs.get("axis")
    if axis is None:
        flat = x.reshape(-1)
        n = flat.shape[0]
        assert bool(((indices >= -n) & (indices < n)).all()), "take: an index out of range"
        return flat[indices % n]  # numpy.take of the flattened array; repeated indices accumulate
    a = axis % x.dim()
    n = x.shape[a]
    assert bool(((indices >= -n) & (indices < n)).all()), "take: an index out of range"
    out = x.index_select(a, (indices % n).reshape(-1))
    return out.reshape(x.shape[:a] + indices.shape + x.shape[a + 1 :])


def _take_along_axis(attrs: dict[str, Any], x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    assert indices.dim() == x.dim(), "take_along_axis: indices need x's ndim"
    a = attrs.get("axis", -1) % x.dim()
    n = x.shape[a]
    assert bool(((indices >= -n) & (indices < n)).all()), "take_along_axis: an index out of range"
    # numpy: the other axes of x and indices broadcast against each other
    xs, js = list(x.shape), list(indices.shape)
    xs[a] = js[a] = 1
    common = list(torch.broadcast_shapes(tuple(xs), tuple(js)))
    x_b = x.expand(common[:a] + [n] + common[a + 1 :])
    j_b = indices.expand(common[:a] + [indices.shape[a]] + common[a + 1 :])
    return torch.gather(x_b, a, j_b % n)


def _one_hot(attrs: dict[str, Any], labels: torch.Tensor) -> torch.Tensor:
    depth = int(attrs["depth"])
    assert bool(((labels >= 0) & (labels < depth)).all()), "one_hot: a label out of range"
    return F.one_hot(labels, depth).to(DTYPES[attrs.get("dtype", "float64")])


def _slice(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    start, stop = attrs["start"], attrs["stop"]
    step = attrs.get("step") or [1] * len(start)
    axes = attrs.get("axes")
    axes = list(range(len(start))) if axes is None else axes
    for axis, s, e, st in zip(axes, start, stop, step, strict=True):
        a = axis % x.dim()
        picked = list(range(*slice(s, e, st).indices(x.shape[a])))  # Python's slice, negative steps too
        x = x.index_select(a, torch.tensor(picked, dtype=torch.int64))
    return x


def _squeeze(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    axis = attrs.get("axis")
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = _axis_list(axis, x.dim())
        assert all(x.shape[a] == 1 for a in axes), "squeeze: an axis is not of length 1"
    return x.reshape([d for i, d in enumerate(x.shape) if i not in axes])


def _expand_dims(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    axis = attrs["axis"]
    ndim = x.dim() + (1 if isinstance(axis, int) else len(axis))
    axes = _axis_list(axis, ndim)  # numpy: positions in the result
    sizes = iter(x.shape)
    return x.reshape([1 if i in axes else next(sizes) for i in range(ndim)])


def _pad(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    widths = attrs["pad_width"]
    assert len(widths) == x.dim()
    flat = [int(w) for before, after in reversed(widths) for w in (before, after)]  # F.pad: last axis first
    return F.pad(x, flat, mode="constant", value=float(attrs.get("value", 0.0)))


def _conv2d(
    attrs: dict[str, Any], x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    return F.conv2d(
        x,
        weight,
        bias,
        stride=_pair(attrs.get("stride", 1)),
        padding=_pair(attrs.get("padding", 0)),
        dilation=_pair(attrs.get("dilation", 1)),
        groups=int(attrs.get("groups", 1)),
    )


def _pool_windows(attrs: dict[str, Any], x: torch.Tensor, fill: float) -> tuple[torch.Tensor, int, int]:
    """Every pooling window of x: (N, C, kH * kW, L), with the padding filled with ``fill``."""
    k = _pair(attrs["kernel_size"])
    stride = attrs.get("stride")
    s = k if stride is None else _pair(stride)
    p = _pair(attrs.get("padding", 0))
    n, c, h, w = x.shape
    padded = F.pad(x, (p[1], p[1], p[0], p[0]), value=fill)
    windows = F.unfold(padded.reshape(n * c, 1, h + 2 * p[0], w + 2 * p[1]), kernel_size=k, stride=s)
    out_h = (h + 2 * p[0] - k[0]) // s[0] + 1
    out_w = (w + 2 * p[1] - k[1]) // s[1] + 1
    return windows.reshape(n, c, k[0] * k[1], -1), out_h, out_w


def _max_pool2d(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    # Not F.max_pool2d, which sends a tied window's gradient to one element: graphdiff splits it equally
    # (the max reduction's rule), as torch.amax does. The padding never wins (-inf).
    windows, out_h, out_w = _pool_windows(attrs, x, -math.inf)
    return torch.amax(windows, dim=2).reshape(x.shape[0], x.shape[1], out_h, out_w)


def _avg_pool2d(attrs: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    k = _pair(attrs["kernel_size"])
    stride = attrs.get("stride")
    return F.avg_pool2d(
        x,
        k,
        stride=k if stride is None else _pair(stride),
        padding=_pair(attrs.get("padding", 0)),
        ceil_mode=False,
        count_include_pad=bool(attrs.get("count_include_pad", True)),
    )


def _batch_norm(
    attrs: dict[str, Any],
    x: torch.Tensor,
    gamma: torch.Tensor | None = None,
    beta: torch.Tensor | None = None,
) -> torch.Tensor:
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=float(attrs.get("eps", 1e-5)))


def _layer_norm(
    attrs: dict[str, Any],
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    k = int(attrs.get("normalized_ndim", 1))
    return F.layer_norm(x, x.shape[x.dim() - k :], weight, bias, eps=float(attrs.get("eps", 1e-5)))


TORCH_OPS: dict[str, Callable[..., torch.Tensor]] = {
    "add": lambda attrs, a, b: a + b,
    "sub": lambda attrs, a, b: a - b,
    "mul": lambda attrs, a, b: a * b,
    "div": lambda attrs, a, b: a / b,
    "maximum": lambda attrs, a, b: torch.maximum(a, b),
    "minimum": lambda attrs, a, b: torch.minimum(a, b),
    "neg": lambda attrs, x: torch.neg(x),
    "pow": lambda attrs, x: torch.pow(x, float(attrs["exponent"])),
    "square": lambda attrs, x: torch.square(x),
    "exp": lambda attrs, x: torch.exp(x),
    "log": lambda attrs, x: torch.log(x),
    "abs": lambda attrs, x: torch.abs(x),
    "relu": lambda attrs, x: torch.relu(x),
    "sigmoid": lambda attrs, x: torch.sigmoid(x),
    "tanh": lambda attrs, x: torch.tanh(x),
    "matmul": lambda attrs, a, b: torch.matmul(a, b),
    "transpose": _transpose,
    "sum": _reduction(torch.sum),
    "mean": _reduction(torch.mean),
    "max": _reduction(torch.amax),
    "logsumexp": _reduction(
        lambda x, dim=None, keepdim=False: torch.logsumexp(
            x, dim=tuple(range(x.dim())) if dim is None else dim, keepdim=keepdim
        )
    ),
    "reshape": lambda attrs, x: torch.reshape(x, attrs["shape"]),
    "softmax": lambda attrs, x: torch.softmax(x, dim=attrs.get("axis", -1)),
    "log_softmax": lambda attrs, x: torch.log_softmax(x, dim=attrs.get("axis", -1)),
    "multiclass_hinge": _multiclass_hinge,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "squared_error": _squared_error,
    "l2_regularization": lambda attrs, w: float(attrs.get("lambda", 1.0)) * torch.sum(torch.square(w)),
    "l1_regularization": lambda attrs, w: float(attrs.get("lambda", 1.0)) * torch.sum(torch.abs(w)),
    # elementwise
    "clip": _clip,
    "sqrt": lambda attrs, x: torch.sqrt(x),
    "sin": lambda attrs, x: torch.sin(x),
    "cos": lambda attrs, x: torch.cos(x),
    "softplus": lambda attrs, x: _softplus(x),
    "log_sigmoid": lambda attrs, x: -_softplus(-x),
    "leaky_relu": lambda attrs, x: F.leaky_relu(x, float(attrs.get("negative_slope", 0.01))),
    "elu": lambda attrs, x: F.elu(x, float(attrs.get("alpha", 1.0))),
    "gelu": lambda attrs, x: F.gelu(x, approximate=attrs.get("approximate", "none")),
    "power": lambda attrs, a, b: torch.pow(a, b),
    "greater": lambda attrs, a, b: torch.gt(a, b),
    "less": lambda attrs, a, b: torch.lt(a, b),
    "equal": lambda attrs, a, b: torch.eq(a, b),
    "where": lambda attrs, condition, a, b: torch.where(condition, a, b),
    "cast": _cast,
    # indexing
    "take": _take,
    "take_along_axis": _take_along_axis,
    "one_hot": _one_hot,
    # shape
    "concat": lambda attrs, *xs: torch.cat(xs, dim=int(attrs.get("axis", 0))),
    "stack": lambda attrs, *xs: torch.stack(xs, dim=int(attrs.get("axis", 0))),
    "slice": _slice,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
    "broadcast_to": lambda attrs, x: x.expand(*attrs["shape"]),
    "flatten": lambda attrs, x: torch.flatten(
        x, int(attrs.get("start_axis", 1)), int(attrs.get("end_axis", -1))
    ),
    "pad": _pad,
    # linear algebra (matmul above: numpy's N-D batched semantics, as torch.matmul)
    "einsum": lambda attrs, *xs: torch.einsum(attrs["subscripts"], *xs),
    # convolution and pooling
    "conv2d": _conv2d,
    "max_pool2d": _max_pool2d,
    "avg_pool2d": _avg_pool2d,
    # normalization
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    # losses
    "binary_cross_entropy_with_logits": lambda attrs, z, t: F.binary_cross_entropy_with_logits(
        z, t, reduction=attrs.get("reduction", "mean")
    ),
    "nll_loss": _nll_loss,
    "huber": lambda attrs, p, t: F.huber_loss(
        p, t, reduction=attrs.get("reduction", "mean"), delta=float(attrs.get("delta", 1.0))
    ),
    "mse": lambda attrs, p, t: F.mse_loss(p, t, reduction=attrs.get("reduction", "mean")),
}


def _min_abs(t: torch.Tensor) -> float:
    return float(t.detach().abs().min()) if t.numel() else math.inf


def _near(d: torch.Tensor) -> bool:
    """Some element of d is within KINK_EPS of 0 but not exactly 0.

    New ops' kinks are pinned down by the contract (clip includes its ends, leaky_relu and elu have the
    slope of their negative side at 0, tied windows of max_pool2d split the gradient), and leaf values sit
    exactly on them in some cases on purpose; values merely near a kink are where rounding decides.
    """
    d = d.detach().abs()
    return bool(((d > 0) & (d < KINK_EPS)).any())


def check_node(op: str, attrs: dict[str, Any], inputs: list[torch.Tensor], out: torch.Tensor) -> None:
    """Raise :class:`Reject` when a node is near a kink, outside its op's smooth domain, or too large."""
    x = inputs[0].detach()
    if op in ("relu", "abs", "l1_regularization") and _min_abs(x) < KINK_EPS:
        raise Reject(f"{op}: an input is within {KINK_EPS} of 0")
    if op in ("maximum", "minimum") and _min_abs(inputs[0] - inputs[1]) < KINK_EPS:
        raise Reject(f"{op}: a tie")
    if op == "div" and _min_abs(inputs[1]) < 0.1:
        raise Reject("div: a denominator near 0")
    if op == "log" and float(x.min()) < 0.05:
        raise Reject("log: an input near or below 0")
    if op == "pow":
        p = float(attrs["exponent"])
        if p != int(p) and float(x.min()) < 0.05:
            raise Reject("pow: a non-integer power of a number near or below 0")
        if p < 0 and _min_abs(x) < 0.1:
            raise Reject("pow: a negative power of a number near 0")
    if op == "max" and x.dim() > 0:
        axes = _axes(attrs.get("axis"), x.dim())
        kept = [i for i in range(x.dim()) if i not in axes]
        groups = x.permute(*kept, *axes).reshape(-1, math.prod(x.shape[i] for i in axes))
        if groups.shape[1] > 1:
            top = torch.topk(groups, 2, dim=1).values
            if float((top[:, 0] - top[:, 1]).min()) < KINK_EPS:
                raise Reject("max: a near tie for the maximum")
    if op == "multiclass_hinge":
        s, y = _batched(inputs[0].detach(), inputs[1])
        margins = hinge_margins(attrs, s, y)
        margins[torch.arange(s.shape[0]), y] = math.inf
        if _min_abs(margins) < KINK_EPS:
            raise Reject("multiclass_hinge: a margin near 0")
    check_new_op(op, attrs, [t.detach() for t in inputs])
    value = out.detach()
    if value.dtype == torch.bool:
        return
    if not bool(torch.isfinite(value).all()) or (value.numel() and float(value.abs().max()) > MAX_ABS):
        raise Reject(f"{op}: a value is not finite or too large")


def _groups_variance(x: torch.Tensor, axes: tuple[int, ...]) -> float:
    return float(x.var(dim=axes, unbiased=False).min()) if x.numel() else math.inf


def check_new_op(op: str, attrs: dict[str, Any], inputs: list[torch.Tensor]) -> None:
    """check_node for issue 10's ops."""
    x = inputs[0]
    if op == "clip":
        for bound in (attrs.get("min"), attrs.get("max")):
            if bound is not None and _near(x - bound):
                raise Reject("clip: an input near min or max")
    if op in ("leaky_relu", "elu") and _near(x):
        raise Reject(f"{op}: an input near 0")
    if op == "sqrt" and float(x.min()) < 0.05:
        raise Reject("sqrt: an input near or below 0")
    if op == "power":
        a, b = torch.broadcast_tensors(inputs[0], inputs[1])
        # a ** b of a >= 0.05; an exact 0 base only with b >= 2 (value, both gradients 0)
        if bool(((a < 0.05) & ~((a == 0) & (b >= 2))).any()):
            raise Reject("power: a base near or below 0")
    if op in ("greater", "less", "equal") and x.is_floating_point() and _near(inputs[0] - inputs[1]):
        raise Reject(f"{op}: a near tie")
    if op == "cast" and x.is_floating_point():
        if attrs["dtype"] == "int64" and _near(x - torch.round(x)):
            raise Reject("cast: a float near an integer (truncation jumps there)")
        if attrs["dtype"] == "bool" and _near(x):
            raise Reject("cast: a float near 0")
    if op == "max_pool2d":
        windows, _, _ = _pool_windows(attrs, x, -math.inf)
        if windows.shape[2] > 1:
            top = torch.topk(windows, 2, dim=2).values
            if _near(top[:, :, 0] - top[:, :, 1]):
                raise Reject("max_pool2d: a near tie in a window")
    if op == "huber" and _near((inputs[0] - inputs[1]).abs() - float(attrs.get("delta", 1.0))):
        raise Reject("huber: |prediction - target| near delta")
    if op == "batch_norm" and _groups_variance(x, tuple(i for i in range(x.dim()) if i != 1)) < 0.01:
        raise Reject("batch_norm: a channel of (almost) constant values")
    if op == "layer_norm":
        k = int(attrs.get("normalized_ndim", 1))
        if _groups_variance(x, tuple(range(x.dim() - k, x.dim()))) < 0.01:
            raise Reject("layer_norm: a group of (almost) constant values")


# --- building cases ---------------------------------------------------------------------------------------


class Builder:
    """A graphdiff spec being built together with its PyTorch twin."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self.leaves: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, torch.Tensor] = {}

    # leaves and nodes

    def leaf(self, id: str, kind: str, value: Any, dtype: str = "float64") -> str:
        assert id not in self.tensors, id
        assert dtype in ("float64", "int64", "bool"), dtype  # no float32: the tolerance is float64's
        array = np.asarray(value, dtype={"int64": np.int64, "bool": np.bool_}.get(dtype, np.float64))
        if dtype == "float64":
            assert np.all(np.isfinite(array))
        self.leaves.append(
            {"id": id, "kind": kind, "dtype": dtype, "shape": list(array.shape), "value": array.tolist()}
        )
        tensor = torch.tensor(array.tolist(), dtype=DTYPES[dtype])
        self.tensors[id] = tensor.requires_grad_(dtype == "float64")
        return id

    def node(
        self, op: str, inputs: list[str], attrs: dict[str, Any] | None = None, id: str | None = None
    ) -> str:
        attrs = dict(attrs or {})
        values = [self.tensors[i] for i in inputs]
        out = TORCH_OPS[op](attrs, *values)
        check_node(op, attrs, values, out)
        id = id or f"n{len(self.nodes) + 1}_{op}"
        assert id not in self.tensors, id
        spec: dict[str, Any] = {"id": id, "op": op, "inputs": list(inputs)}
        if attrs:
            spec["attrs"] = attrs
        self.nodes.append(spec)
        self.tensors[id] = out
        return id

    def fresh(self, stem: str) -> str:
        return next(f"{stem}{k}" for k in itertools.count(1) if f"{stem}{k}" not in self.tensors)

    # inspection

    def shape(self, id: str) -> tuple[int, ...]:
        return tuple(self.tensors[id].shape)

    def value(self, id: str) -> torch.Tensor:
        return self.tensors[id].detach()

    def is_leaf(self, id: str) -> bool:
        return any(leaf["id"] == id for leaf in self.leaves)

    def consumers(self, id: str) -> int:
        return sum(node["inputs"].count(id) for node in self.nodes)

    # transactions (composed graphs try a step and take it back when it is rejected)

    def mark(self) -> tuple[int, int]:
        return len(self.leaves), len(self.nodes)

    def rollback(self, mark: tuple[int, int]) -> None:
        for item in self.leaves[mark[0] :] + self.nodes[mark[1] :]:
            del self.tensors[item["id"]]
        del self.leaves[mark[0] :]
        del self.nodes[mark[1] :]

    # the case

    def case(self, loss: str, outputs: list[str]) -> dict[str, Any]:
        for leaf in self.leaves:
            assert self.consumers(leaf["id"]), f"{self.name}: leaf {leaf['id']} is unused"
        loss_tensor = self.tensors[loss]
        assert loss_tensor.dim() == 0
        float_leaves = [leaf["id"] for leaf in self.leaves if leaf["dtype"] == "float64"]
        grads = torch.autograd.grad(loss_tensor, [self.tensors[i] for i in float_leaves], allow_unused=True)
        expected_grads = {}
        for id, grad in zip(float_leaves, grads, strict=True):
            grad = torch.zeros_like(self.tensors[id]) if grad is None else grad
            assert bool(torch.isfinite(grad).all()), (self.name, id)
            expected_grads[id] = grad.detach().numpy().tolist()
        spec = {
            "format_version": 1,
            "name": self.name,
            "description": self.description,
            "leaves": self.leaves,
            "nodes": self.nodes,
            "outputs": outputs,
            "loss": loss,
        }
        return {
            "spec": spec,
            "expected": {
                "values": {node["id"]: self.value(node["id"]).numpy().tolist() for node in self.nodes},
                "grads": expected_grads,
            },
            "generator": f"torch {torch.__version__.split('+')[0]}",
        }


# --- random values ----------------------------------------------------------------------------------------


class Values:
    """Seeded random leaf values, rounded to 4 decimals so the specs stay readable."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    @staticmethod
    def _round(v: np.ndarray) -> np.ndarray:
        return np.round(v, 4) + 0.0  # + 0.0 turns -0.0 into 0.0

    def away(self, v: np.ndarray, eps: float = 0.05) -> np.ndarray:
        """Values pushed at least ``eps`` away from 0 (keeping their sign)."""
        v = np.asarray(v, dtype=np.float64)
        sign = np.where(v >= 0, 1.0, -1.0)
        return self._round(np.where(np.abs(v) < eps, sign * (eps + np.abs(v)), v))

    def uniform(self, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> np.ndarray:
        return self.away(self.rng.uniform(low, high, size=shape))

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return self.away(self.rng.normal(0.0, scale, size=shape), eps=0.01)

    def positive(self, shape: tuple[int, ...], low: float = 0.2, high: float = 3.0) -> np.ndarray:
        return self._round(self.rng.uniform(low, high, size=shape))

    def nonzero(self, shape: tuple[int, ...]) -> np.ndarray:
        """Magnitudes in [0.5, 2] with random signs (denominators)."""
        signs = self.rng.choice([-1.0, 1.0], size=shape)
        return self._round(signs * self.rng.uniform(0.5, 2.0, size=shape))

    def distinct(self, shape: tuple[int, ...], offset: float = 0.0) -> np.ndarray:
        """Every element at least 0.2 from every other (no ties for max)."""
        n = math.prod(shape)
        v = self.rng.permutation(n) * 0.31 - 0.155 * (n - 1) + self.rng.uniform(0.0, 0.1, size=n)
        return self._round(v.reshape(shape) + offset)

    def labels(self, shape: tuple[int, ...], classes: int) -> np.ndarray:
        return self.rng.integers(0, classes, size=shape)


def shape_tag(shape: tuple[int, ...] | list[int]) -> str:
    return "x".join(str(d).replace("-", "m") for d in shape) if len(shape) else "scalar"


def axis_tag(axis: int | list[int] | None) -> str:
    if axis is None:
        return "all"
    axes = [axis] if isinstance(axis, int) else axis
    return "_".join(str(a).replace("-", "m") for a in axes)


# --- one case per op --------------------------------------------------------------------------------------


def wrap(b: Builder, out: str, vals: Values) -> dict[str, Any]:
    """Make the loss sum(out * R), R a constant of fixed random values, so the upstream is not all ones."""
    r = b.leaf("R", "constant", vals.uniform(b.shape(out), -1.5, 1.5))
    weighted = b.node("mul", [out, r], id="weighted")
    loss = b.node("sum", [weighted], id="L")
    return b.case(loss, [out, loss])


def op_cases(seed: int) -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng([seed, 1])
    vals = Values(rng)

    def add(name: str, description: str, build: Callable[[Builder], str]) -> None:
        assert name not in cases, name
        b = Builder(name, description)
        out = build(b)
        cases[name] = wrap(b, out, vals)

    # binary elementwise ops, with every broadcasting pattern
    pairs = [
        ((), ()),
        ((4,), (4,)),
        ((3, 2), (3, 2)),
        ((3, 2), (2,)),
        ((2,), (3, 2)),
        ((3, 1), (1, 4)),
        ((3, 2), ()),
        ((), (4,)),
        ((3, 1), (3, 4)),
        ((2, 1, 3), (4, 3)),
        ((2, 3, 2), (2, 3, 2)),
    ]
    for op in ("add", "sub", "mul", "div", "maximum", "minimum"):
        for sa, sb in pairs:
            tag = "same" if sa == sb else "broadcast"
            name = f"op-{op}-{tag}-{shape_tag(sa)}+{shape_tag(sb)}"

            def build(b: Builder, op: str = op, sa: tuple = sa, sb: tuple = sb) -> str:
                if op in ("maximum", "minimum"):
                    for _ in range(1000):  # resample until no pair is within 0.05 of a tie
                        a, c = vals.uniform(sa), vals.uniform(sb)
                        if np.min(np.abs(np.subtract(a, c)), initial=math.inf) >= 0.05:
                            break
                    else:
                        raise RuntimeError("no tie-free pair")
                else:
                    a = vals.uniform(sa)
                    c = vals.nonzero(sb) if op == "div" else vals.uniform(sb)
                b.leaf("a", "input", a)
                b.leaf("b", "parameter", c)
                return b.node(op, ["a", "b"], id="out")

            add(name, f"{op} of {shape_tag(sa)} and {shape_tag(sb)}", build)
        if op not in ("maximum", "minimum"):  # one node as both inputs: its gradients add up

            def build_self(b: Builder, op: str = op) -> str:
                b.leaf("a", "parameter", vals.nonzero((3, 2)) if op == "div" else vals.uniform((3, 2)))
                return b.node(op, ["a", "a"], id="out")

            add(f"op-{op}-self-3x2", f"{op}(a, a): one input used twice", build_self)

    # unary elementwise ops
    unary_shapes = [(), (5,), (3, 4), (2, 3, 2)]
    for op in ("neg", "exp", "log", "abs", "relu", "sigmoid", "tanh", "square"):
        for shape in unary_shapes:

            def build_unary(b: Builder, op: str = op, shape: tuple = shape) -> str:
                b.leaf("x", "parameter", vals.positive(shape) if op == "log" else vals.uniform(shape))
                return b.node(op, ["x"], id="out")

            add(f"op-{op}-{shape_tag(shape)}", f"{op} of a {shape_tag(shape)} input", build_unary)

    def build_wide(op: str, low: float, high: float) -> Callable[[Builder], str]:
        def build(b: Builder) -> str:
            b.leaf("x", "input", vals.uniform((3, 4), low, high))
            return b.node(op, ["x"], id="out")

        return build

    add("op-sigmoid-wide-3x4", "sigmoid over [-30, 30] (saturated ends)", build_wide("sigmoid", -30, 30))
    add("op-tanh-wide-3x4", "tanh over [-10, 10]", build_wide("tanh", -10, 10))
    add("op-exp-wide-3x4", "exp over [-8, 8]", build_wide("exp", -8, 8))
    add(
        "op-log-small-3x4",
        "log over [0.05, 0.5]",
        lambda b: b.node("log", [b.leaf("x", "parameter", vals.positive((3, 4), 0.05, 0.5))], id="out"),
    )

    # pow: integer exponents on signed inputs, non-integer ones on positive inputs
    for exponent, shape in [
        (2.0, (3, 4)),
        (3.0, (5,)),
        (1.0, (2, 3)),
        (0.0, (4,)),
        (-1.0, (3, 2)),
        (-2.0, ()),
        (0.5, (3, 4)),
        (1.5, (2, 3, 2)),
        (-0.5, (5,)),
        (2.5, ()),
        (0.25, (2, 2)),
    ]:

        def build_pow(b: Builder, exponent: float = exponent, shape: tuple = shape) -> str:
            if exponent == int(exponent):
                x = vals.nonzero(shape) if exponent < 0 else vals.uniform(shape)
            else:
                x = vals.positive(shape)
            b.leaf("x", "parameter", x)
            return b.node("pow", ["x"], {"exponent": exponent}, id="out")

        add(f"op-pow-p{exponent:g}-{shape_tag(shape)}", f"x ** {exponent:g}", build_pow)

    # matmul: every 1-D / 2-D combination
    for sa, sb in [
        ((3, 4), (4, 2)),
        ((3, 4), (4,)),
        ((4,), (4, 2)),
        ((4,), (4,)),
        ((1, 4), (4, 1)),
        ((5, 1), (1, 3)),
        ((1,), (1,)),
        ((2, 5), (5, 6)),
    ]:

        def build_matmul(b: Builder, sa: tuple = sa, sb: tuple = sb) -> str:
            b.leaf("a", "input", vals.uniform(sa))
            b.leaf("b", "parameter", vals.uniform(sb))
            return b.node("matmul", ["a", "b"], id="out")

        add(f"op-matmul-{shape_tag(sa)}@{shape_tag(sb)}", f"{shape_tag(sa)} @ {shape_tag(sb)}", build_matmul)

    # transpose
    for shape, axes in [
        ((3, 4), None),
        ((3, 4), [1, 0]),
        ((2, 2), [0, 1]),
        ((5,), None),
        ((2, 3, 4), None),
        ((2, 3, 4), [1, 0, 2]),
        ((2, 3, 4), [2, 0, 1]),
        ((2, 3, 4), [-1, 0, -2]),
        ((2, 3, 4), [0, 1, 2]),
    ]:

        def build_transpose(b: Builder, shape: tuple = shape, axes: list | None = axes) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            return b.node("transpose", ["x"], {} if axes is None else {"axes": axes}, id="out")

        tag = "default" if axes is None else f"axes_{axis_tag(axes)}"
        add(f"op-transpose-{shape_tag(shape)}-{tag}", f"transpose {tag}", build_transpose)

    # reductions (max and logsumexp share the shapes; max gets tie-free inputs)
    reductions: list[tuple[tuple[int, ...], dict[str, Any]]] = [
        ((5,), {}),
        ((5,), {"axis": 0}),
        ((5,), {"axis": 0, "keepdims": True}),
        ((), {}),
        ((), {"keepdims": True}),
        ((3, 4), {}),
        ((3, 4), {"axis": None, "keepdims": True}),
        ((3, 4), {"axis": 0}),
        ((3, 4), {"axis": 1, "keepdims": True}),
        ((3, 4), {"axis": -1}),
        ((3, 4), {"axis": [0, 1]}),
        ((3, 4), {"axis": -2, "keepdims": False}),
        ((2, 3, 4), {"axis": [0, 2]}),
        ((2, 3, 4), {"axis": 1, "keepdims": True}),
        ((2, 3, 4), {"axis": [-1, -2], "keepdims": True}),
        ((2, 3, 4), {"axis": None}),
    ]
    for op in ("sum", "mean", "max", "logsumexp"):
        for shape, attrs in reductions:

            def build_reduce(b: Builder, op: str = op, shape: tuple = shape, attrs: dict = attrs) -> str:
                b.leaf("x", "parameter", vals.distinct(shape) if op == "max" else vals.uniform(shape))
                return b.node(op, ["x"], attrs, id="out")

            tag = "default" if not attrs else f"axis_{axis_tag(attrs.get('axis'))}"
            if attrs.get("keepdims"):
                tag += "-keepdims"
            add(f"op-{op}-{shape_tag(shape)}-{tag}", f"{op} over {tag}", build_reduce)
    add(
        "op-logsumexp-large-3x4-axis_1",
        "logsumexp of logits around 1000 (needs the max shift)",
        lambda b: b.node(
            "logsumexp", [b.leaf("x", "input", vals.uniform((3, 4), 990, 1010))], {"axis": 1}, id="out"
        ),
    )

    # reshape
    for shape, target in [
        ((2, 3), [3, 2]),
        ((2, 3), [-1]),
        ((2, 3), [6, 1]),
        ((2, 3, 2), [4, -1]),
        ((6,), [1, -1, 3]),
        ((), [1]),
        ((1,), []),
        ((4, 3), [2, -1, 2]),
        ((3, 4), [-1, 3]),
    ]:

        def build_reshape(b: Builder, shape: tuple = shape, target: list = target) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            return b.node("reshape", ["x"], {"shape": target}, id="out")

        add(f"op-reshape-{shape_tag(shape)}-to-{shape_tag(target)}", f"reshape to {target}", build_reshape)

    # softmax and log_softmax
    for op in ("softmax", "log_softmax"):
        for shape, attrs, low, high in [
            ((5,), {}, -2, 2),
            ((5,), {"axis": 0}, -2, 2),
            ((3, 4), {}, -2, 2),
            ((3, 4), {"axis": 0}, -2, 2),
            ((3, 4), {"axis": 1}, -2, 2),
            ((3, 4), {"axis": -2}, -2, 2),
            ((2, 3, 4), {"axis": 1}, -2, 2),
            ((2, 3, 4), {"axis": 0}, -2, 2),
            ((3, 1), {"axis": 1}, -2, 2),
            ((3, 4), {"axis": 1}, 975, 1025),
            ((2, 5), {}, -40, 40),
        ]:

            def build_softmax(
                b: Builder,
                op: str = op,
                shape: tuple = shape,
                attrs: dict = attrs,
                low: float = low,
                high: float = high,
            ) -> str:
                b.leaf("x", "input", vals.uniform(shape, low, high))
                return b.node(op, ["x"], attrs, id="out")

            tag = "default" if not attrs else f"axis_{axis_tag(attrs['axis'])}"
            if low > 100:
                tag += "-large"
            elif high > 10:
                tag += "-wide"
            add(f"op-{op}-{shape_tag(shape)}-{tag}", f"{op} along {tag}", build_softmax)

    # classification losses: (N, C) scores with (N,) labels, and (C,) scores with a scalar label
    def hinge_scores(shape: tuple[int, ...], labels: np.ndarray, delta: float, kind: str) -> np.ndarray:
        for _ in range(10_000):
            s = vals.uniform(shape, -2.0, 2.0)
            m = hinge_margins({"delta": delta}, torch.tensor(s), torch.tensor(labels)).numpy()
            m[np.arange(m.shape[0]), labels.reshape(-1)] = np.nan
            m = m[~np.isnan(m)]
            if np.min(np.abs(m)) < 0.05:
                continue
            if (
                (kind == "mixed" and (m > 0).any() and (m < 0).any())
                or (kind == "all-negative" and (m < 0).all())
                or (kind == "all-positive" and (m > 0).all())
            ):
                return s
        raise RuntimeError("no hinge scores found")

    for shape, attrs, kind in [
        ((4, 3), {}, "mixed"),
        ((4, 3), {"delta": 0.5}, "mixed"),
        ((5, 4), {"delta": 2.0}, "mixed"),
        ((3,), {}, "mixed"),
        ((5,), {"delta": 0.0}, "mixed"),
        ((1, 3), {"delta": 1.0}, "mixed"),
        ((3, 5), {"delta": 0.1}, "all-negative"),
        ((3, 2), {"delta": 3.0}, "all-positive"),
        ((6, 6), {}, "mixed"),
    ]:

        def build_hinge(b: Builder, shape: tuple = shape, attrs: dict = attrs, kind: str = kind) -> str:
            labels = vals.labels(shape[:-1], shape[-1])
            if kind == "all-negative":  # the labelled class wins clearly
                scores = vals.uniform(shape, -1.0, 0.0)
                scores2 = scores.reshape(-1, shape[-1])
                scores2[np.arange(scores2.shape[0]), labels.reshape(-1)] = 1.5
            else:
                scores = hinge_scores(shape, labels, attrs.get("delta", 1.0), kind)
            b.leaf("scores", "parameter", scores)
            b.leaf("labels", "input", labels, dtype="int64")
            return b.node("multiclass_hinge", ["scores", "labels"], attrs, id="out")

        tag = f"{shape_tag(shape)}-" + ("scalar_label" if len(shape) == 1 else "batch")
        tag += f"-delta{attrs['delta']:g}" if "delta" in attrs else "-default"
        if kind != "mixed":
            tag += f"-{kind}"
        add(f"op-multiclass_hinge-{tag}", f"multiclass hinge, {tag}", build_hinge)

    for shape, low, high in [
        ((4, 3), -2, 2),
        ((5, 2), -2, 2),
        ((3,), -2, 2),
        ((1, 4), -2, 2),
        ((3, 4), 980, 1020),
        ((6, 5), -4, 4),
        ((2, 6), -30, 30),
    ]:

        def build_ce(b: Builder, shape: tuple = shape, low: float = low, high: float = high) -> str:
            b.leaf("logits", "parameter", vals.uniform(shape, low, high))
            b.leaf("labels", "constant", vals.labels(shape[:-1], shape[-1]), dtype="int64")
            return b.node("softmax_cross_entropy", ["logits", "labels"], id="out")

        tag = f"{shape_tag(shape)}-" + ("scalar_label" if len(shape) == 1 else "batch")
        tag += "-large" if low > 100 else "-wide" if high > 10 else ""
        add(f"op-softmax_cross_entropy-{tag}", f"softmax cross-entropy, {tag}", build_ce)

    for shape in [(), (4,), (3, 2), (2, 3, 2)]:
        for attrs in ({"reduction": "mean"}, {"reduction": "sum"}, {}):

            def build_se(b: Builder, shape: tuple = shape, attrs: dict = attrs) -> str:
                b.leaf("prediction", "parameter", vals.uniform(shape))
                b.leaf("target", "input", vals.uniform(shape))
                return b.node("squared_error", ["prediction", "target"], attrs, id="out")

            tag = attrs.get("reduction", "default")
            add(f"op-squared_error-{tag}-{shape_tag(shape)}", f"squared error, {tag}", build_se)

    for op in ("l2_regularization", "l1_regularization"):
        for shape, attrs in [
            ((), {}),
            ((4,), {"lambda": 0.1}),
            ((3, 2), {}),
            ((3, 2), {"lambda": 2.5}),
            ((2, 2, 3), {"lambda": 0.001}),
            ((5, 4), {"lambda": 0.0}),
        ]:

            def build_reg(b: Builder, op: str = op, shape: tuple = shape, attrs: dict = attrs) -> str:
                b.leaf("w", "parameter", vals.uniform(shape))
                return b.node(op, ["w"], attrs, id="out")

            tag = f"lambda{attrs['lambda']:g}" if attrs else "default"
            add(f"op-{op}-{shape_tag(shape)}-{tag}", f"{op}, {tag}", build_reg)

    return cases


# --- one case per op: issue 10's ops ----------------------------------------------------------------------


def _case_rng(seed: int, stream: int, name: str, attempt: int) -> np.random.Generator:
    """A case's own stream, keyed by its name: adding, dropping or changing a case leaves the others (and
    the older streams [seed, 1] and [seed, 2, ...]) as they were."""
    return np.random.default_rng([seed, stream, zlib.crc32(name.encode()), attempt])


def _mask(vals: Values, shape: tuple[int, ...]) -> np.ndarray:
    """A random bool array with both values in it (when it has two elements or more)."""
    for _ in range(100):
        m = vals.rng.random(shape) < 0.5
        if m.size < 2 or (m.any() and not m.all()):
            return m
    raise RuntimeError("no mixed mask")


def new_op_cases(seed: int) -> dict[str, dict[str, Any]]:
    """op-* cases for issue 10's ops and reductions, each from its own stream (:func:`_case_rng`)."""
    cases: dict[str, dict[str, Any]] = {}

    def add(name: str, description: str, build: Callable[[Builder, Values], str]) -> None:
        assert name.startswith("op-") and name not in cases, name
        for attempt in range(200):
            vals = Values(_case_rng(seed, 3, name, attempt))
            b = Builder(name, description)
            try:
                out = build(b, vals)
                cases[name] = wrap(b, out, vals)
                return
            except Reject:
                continue
        raise RuntimeError(f"{name}: every attempt was rejected")

    def attrs_tag(attrs: dict[str, Any]) -> str:
        def value(v: Any) -> str:
            if isinstance(v, bool) or v is None or isinstance(v, str):
                return str(v)
            if isinstance(v, float):
                return f"{v:g}".replace("-", "m")
            return axis_tag(v)

        return "-".join(f"{k}_{value(v)}" for k, v in attrs.items()) if attrs else "default"

    # unary elementwise ops
    unary_shapes = [(), (5,), (3, 4), (2, 3, 2)]
    unary: list[tuple[str, list[dict[str, Any]], float, float]] = [
        ("sin", [], -3.0, 3.0),
        ("cos", [], -3.0, 3.0),
        ("sqrt", [], 0.05, 4.0),
        ("softplus", [], -3.0, 3.0),
        ("log_sigmoid", [], -3.0, 3.0),
        (
            "leaky_relu",
            [{"negative_slope": 0.2}, {"negative_slope": 0.01}, {"negative_slope": 1.5}],
            -2.0,
            2.0,
        ),
        ("elu", [{"alpha": 0.5}, {"alpha": 1.0}, {"alpha": 2.0}], -3.0, 2.0),
        ("gelu", [{"approximate": "none"}, {"approximate": "tanh"}], -3.0, 3.0),
        ("clip", [], -2.0, 2.0),
    ]
    clip_attrs = [
        {"min": -0.5, "max": 0.5},
        {"min": 0.0},
        {"max": 1.0},
        {"min": -1.0, "max": 1.5},
        {"min": None, "max": 0.3},
        {"min": -0.25, "max": None},
    ]
    for op, extra, low, high in unary:
        runs = [(shape, {} if op != "clip" else clip_attrs[0]) for shape in unary_shapes]
        runs += [
            (shape, attrs) for attrs in (extra if op != "clip" else clip_attrs[1:]) for shape in [(3, 4)]
        ]
        for shape, attrs in runs:

            def build_unary(
                b: Builder,
                vals: Values,
                op: str = op,
                shape: tuple = shape,
                attrs: dict = attrs,
                low: float = low,
                high: float = high,
            ) -> str:
                x = vals.positive(shape, low, high) if op == "sqrt" else vals.uniform(shape, low, high)
                b.leaf("x", "parameter", x)
                return b.node(op, ["x"], attrs, id="out")

            add(
                f"op-{op}-{shape_tag(shape)}-{attrs_tag(attrs)}",
                f"{op} of a {shape_tag(shape)} input",
                build_unary,
            )

    for op, attrs, low, high, tag in [
        ("sin", {}, -10.0, 10.0, "wide"),
        ("cos", {}, -10.0, 10.0, "wide"),
        ("sqrt", {}, 0.05, 0.5, "small"),
        ("sqrt", {}, 10.0, 1000.0, "large"),
        ("softplus", {}, -40.0, 40.0, "wide"),
        ("log_sigmoid", {}, -40.0, 40.0, "wide"),
        ("gelu", {}, -8.0, 8.0, "wide"),
        ("gelu", {"approximate": "tanh"}, -8.0, 8.0, "wide"),
        ("elu", {}, -12.0, 3.0, "wide"),
    ]:

        def build_wide(
            b: Builder, vals: Values, op: str = op, attrs: dict = attrs, low: float = low, high: float = high
        ) -> str:
            x = vals.positive((3, 4), low, high) if op == "sqrt" else vals.uniform((3, 4), low, high)
            b.leaf("x", "input", x)
            return b.node(op, ["x"], attrs, id="out")

        add(f"op-{op}-{tag}-3x4-{attrs_tag(attrs)}", f"{op} over [{low:g}, {high:g}]", build_wide)

    # kinks the contract pins down, with inputs exactly on them
    def build_at_kink(op: str, attrs: dict[str, Any], kinks: list[float]) -> Callable[[Builder, Values], str]:
        def build(b: Builder, vals: Values) -> str:
            x = vals.uniform((3, 4)).reshape(-1)
            x[vals.rng.permutation(x.size)[: 2 * len(kinks)]] = kinks * 2
            b.leaf("x", "parameter", x.reshape(3, 4))
            return b.node(op, ["x"], attrs, id="out")

        return build

    add(
        "op-leaky_relu-at_0-3x4-default",
        "leaky_relu with inputs exactly 0: slope negative_slope there",
        build_at_kink("leaky_relu", {}, [0.0]),
    )
    add(
        "op-leaky_relu-at_0-3x4-negative_slope_0.3",
        "leaky_relu(0.3) with inputs exactly 0",
        build_at_kink("leaky_relu", {"negative_slope": 0.3}, [0.0]),
    )
    add(
        "op-elu-at_0-3x4-alpha_2",
        "elu(alpha 2) with inputs exactly 0: slope alpha there",
        build_at_kink("elu", {"alpha": 2.0}, [0.0]),
    )
    add(
        "op-clip-at_bounds-3x4-min_m0.5-max_0.5",
        "clip with inputs exactly at min and max: gradient 1 there",
        build_at_kink("clip", {"min": -0.5, "max": 0.5}, [-0.5, 0.5]),
    )
    add(
        "op-clip-at_bounds-3x4-min_0",
        "clip(min 0) with inputs exactly 0",
        build_at_kink("clip", {"min": 0.0}, [0.0]),
    )

    # power: a tensor exponent, broadcasting
    for sa, sb in [
        ((3, 4), (3, 4)),
        ((3, 4), (4,)),
        ((3, 1), (1, 4)),
        ((), (5,)),
        ((2, 3), ()),
        ((2, 3, 2), (3, 2)),
    ]:

        def build_power(b: Builder, vals: Values, sa: tuple = sa, sb: tuple = sb) -> str:
            b.leaf("a", "parameter", vals.positive(sa, 0.2, 3.0))
            b.leaf("b", "parameter", vals.uniform(sb, -2.5, 2.5))
            return b.node("power", ["a", "b"], id="out")

        tag = "same" if sa == sb else "broadcast"
        add(
            f"op-power-{tag}-{shape_tag(sa)}+{shape_tag(sb)}",
            f"{shape_tag(sa)} ** {shape_tag(sb)}",
            build_power,
        )

    def build_power_self(b: Builder, vals: Values) -> str:
        b.leaf("a", "parameter", vals.positive((2, 3), 0.2, 2.5))
        return b.node("power", ["a", "a"], id="out")

    add("op-power-self-2x3", "a ** a: one input used as base and exponent", build_power_self)

    def build_power_zero(b: Builder, vals: Values) -> str:
        b.leaf("a", "parameter", [0.0, 1.3, 0.0, 0.7, 0.0, 2.1])
        b.leaf("b", "parameter", [2.0, -1.5, 2.5, 0.5, 3.0, 1.2])
        return b.node("power", ["a", "b"], id="out")

    add("op-power-zero_base-6+6", "0 ** b for b >= 2: value 0, d/da 0, d/db 0 (as PyTorch)", build_power_zero)

    # comparisons (bool results) feeding where and cast
    for op, sa, sb in [
        ("greater", (3, 4), (3, 4)),
        ("greater", (3, 1), (1, 4)),
        ("greater", (5,), ()),
        ("less", (3, 4), (3, 4)),
        ("less", (2, 3, 2), (3, 2)),
        ("less", (), (4,)),
        ("equal", (3, 4), (3, 4)),
        ("equal", (2, 3), (3,)),
    ]:

        def build_compare(b: Builder, vals: Values, op: str = op, sa: tuple = sa, sb: tuple = sb) -> str:
            a = vals.uniform(sa)
            c = vals.uniform(sb)
            if op == "equal":  # exact copies in some places
                full = np.broadcast_to(a, np.broadcast_shapes(sa, sb))
                c = np.where(vals.rng.random(sb) < 0.5, full[(0,) * (len(full.shape) - len(sb))], c)
            b.leaf("a", "parameter", a)
            b.leaf("b", "parameter", c)
            cond = b.node(op, ["a", "b"], id="cond")
            return b.node("where", [cond, "a", "b"], id="out")

        add(f"op-{op}-{shape_tag(sa)}+{shape_tag(sb)}-where", f"where({op}(a, b), a, b)", build_compare)

    for op in ("greater", "less", "equal"):

        def build_compare_int(b: Builder, vals: Values, op: str = op) -> str:
            b.leaf("i", "input", vals.rng.integers(0, 3, size=(2, 4)), dtype="int64")
            b.leaf("j", "constant", vals.rng.integers(0, 3, size=(4,)), dtype="int64")
            cond = b.node(op, ["i", "j"], id="cond")
            as_float = b.node("cast", [cond], {"dtype": "float64"}, id="as_float")
            b.leaf("w", "parameter", vals.uniform((2, 4)))
            return b.node("mul", [as_float, "w"], id="out")

        add(f"op-{op}-int64-2x4+4-cast", f"cast({op}(i, j)) * w of int64 operands", build_compare_int)

    def build_greater_relu(b: Builder, vals: Values) -> str:
        b.leaf("x", "parameter", vals.uniform((3, 4)))
        b.leaf("zero", "constant", 0.0)
        cond = b.node("greater", ["x", "zero"], id="cond")
        b.leaf("k", "constant", 0.1)
        small = b.node("mul", ["x", "k"], id="small")
        return b.node("where", [cond, "x", small], id="out")

    add("op-greater-3x4+scalar-leaky", "where(x > 0, x, 0.1 x): a hand-made leaky relu", build_greater_relu)

    # where, with a bool leaf condition broadcasting against both branches
    for sc, sa, sb in [
        ((3, 4), (3, 4), (3, 4)),
        ((3, 1), (1, 4), ()),
        ((4,), (3, 4), (3, 1)),
        ((), (2, 3), (2, 3)),
        ((2, 1, 3), (4, 3), (2, 4, 1)),
        ((5,), (5,), (1,)),
    ]:

        def build_where(b: Builder, vals: Values, sc: tuple = sc, sa: tuple = sa, sb: tuple = sb) -> str:
            b.leaf("cond", "input", _mask(vals, sc), dtype="bool")
            b.leaf("a", "parameter", vals.uniform(sa))
            b.leaf("b", "parameter", vals.uniform(sb))
            return b.node("where", ["cond", "a", "b"], id="out")

        add(
            f"op-where-{shape_tag(sc)}+{shape_tag(sa)}+{shape_tag(sb)}",
            "where(cond, a, b), broadcasting",
            build_where,
        )

    def build_where_self(b: Builder, vals: Values) -> str:
        b.leaf("cond", "constant", _mask(vals, (3, 2)), dtype="bool")
        b.leaf("x", "parameter", vals.uniform((3, 2)))
        return b.node("where", ["cond", "x", "x"], id="out")

    add("op-where-self-3x2", "where(cond, x, x): both branches one input", build_where_self)

    # cast
    def build_cast(source: str, target: str, then: str) -> Callable[[Builder, Values], str]:
        def build(b: Builder, vals: Values) -> str:
            if source == "float64":
                x = vals.uniform((3, 4), -3.0, 3.0)
                if target == "bool":
                    x.reshape(-1)[vals.rng.permutation(12)[:4]] = 0.0
                if then == "take":
                    x = vals.positive((2, 3), 0.0, 4.99)
            elif source == "int64":
                x = vals.rng.integers(-2, 3, size=(2, 3) if then == "take" else (3, 4))
            else:
                x = _mask(vals, (2, 3) if then == "take" else (3, 4))
            b.leaf("x", "parameter" if source == "float64" else "input", x, dtype=source)
            out = b.node("cast", ["x"], {"dtype": target}, id="cast")
            if then == "mul":
                if target != "float64":
                    out = b.node("cast", [out], {"dtype": "float64"}, id="back")
                b.leaf("w", "parameter", vals.uniform((3, 4)))
                return b.node("mul", [out, "w"], id="out")
            if then == "where":
                b.leaf("a", "parameter", vals.uniform((3, 4)))
                b.leaf("b", "parameter", vals.uniform((4,)))
                return b.node("where", [out, "a", "b"], id="out")
            b.leaf("E", "parameter", vals.uniform((5, 2)))
            return b.node("take", ["E", out], {"axis": 0}, id="out")

        return build

    for source, target, then in [
        ("float64", "float64", "mul"),
        ("float64", "int64", "mul"),
        ("float64", "bool", "where"),
        ("float64", "int64", "take"),
        ("int64", "float64", "mul"),
        ("int64", "bool", "where"),
        ("bool", "float64", "mul"),
        ("bool", "int64", "take"),
        ("int64", "int64", "take"),
    ]:
        add(
            f"op-cast-{source}_to_{target}-{then}",
            f"cast {source} -> {target}, then {then}",
            build_cast(source, target, then),
        )

    # take: numpy.take, repeated and negative indices (gradients add up where an index repeats)
    for shape, indices, axis in [
        ((3, 4), [0, 5, 5, -1, 11, 5], None),
        ((2, 3, 2), [[0, -12, 7], [7, 7, 11]], None),
        ((5, 3), [[1, 4, 1, 0], [3, 1, 1, -1]], 0),
        ((3, 4), [2, 0, 2, -4, 3], 1),
        ((2, 3, 4), [[3, 0], [3, -1]], -1),
        ((2, 3, 4), 1, 1),
        ((2, 3, 4), -1, 0),
        ((4,), [[0, 3], [3, 3], [-2, 1]], 0),
        ((3, 4), [1, 1, 1], -2),
    ]:

        def build_take(
            b: Builder, vals: Values, shape: tuple = shape, indices: Any = indices, axis: Any = axis
        ) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            b.leaf("indices", "input", indices, dtype="int64")
            return b.node("take", ["x", "indices"], {} if axis is None else {"axis": axis}, id="out")

        tag = f"{shape_tag(shape)}-idx_{shape_tag(np.shape(indices))}-"
        tag += "default" if axis is None else f"axis_{axis_tag(axis)}"
        add(f"op-take-{tag}", f"take along axis {axis} (repeated indices)", build_take)

    def build_take_explicit_null(b: Builder, vals: Values) -> str:
        b.leaf("x", "parameter", vals.uniform((2, 3)))
        b.leaf("indices", "constant", [4, 4, 0], dtype="int64")
        return b.node("take", ["x", "indices"], {"axis": None}, id="out")

    add("op-take-2x3-idx_3-axis_null", "take with axis null: the flattened x", build_take_explicit_null)

    def build_take_twice(b: Builder, vals: Values) -> str:
        b.leaf("E", "parameter", vals.uniform((4, 3)))
        b.leaf("ids", "input", [[0, 2], [2, 2]], dtype="int64")
        b.leaf("more", "input", [2, 3, 0], dtype="int64")
        first = b.node("take", ["E", "ids"], {"axis": 0}, id="first")
        second = b.node("take", ["E", "more"], {"axis": 0}, id="second")
        s1 = b.node("sum", [first], {"axis": [0, 1]}, id="s1")
        s2 = b.node("sum", [second], {"axis": 0}, id="s2")
        return b.node("add", [s1, s2], id="out")

    add("op-take-embedding-shared", "two lookups in one table: gradients add up", build_take_twice)

    # take_along_axis
    for shape, ishape, axis, high in [
        ((3, 4), (3, 2), 1, 4),
        ((3, 4), (2, 4), 0, 3),
        ((2, 3, 4), (2, 3, 5), -1, 4),
        ((2, 3, 4), (2, 2, 4), 1, 3),
        ((3, 5), (1, 3), 1, 5),
        ((1, 5), (3, 2), 1, 5),
        ((2, 1, 4), (2, 3, 2), -1, 4),
        ((4,), (6,), 0, 4),
    ]:

        def build_tal(
            b: Builder,
            vals: Values,
            shape: tuple = shape,
            ishape: tuple = ishape,
            axis: int = axis,
            high: int = high,
        ) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            b.leaf("indices", "input", vals.rng.integers(0, high, size=ishape), dtype="int64")
            return b.node("take_along_axis", ["x", "indices"], {"axis": axis}, id="out")

        tag = f"{shape_tag(shape)}-idx_{shape_tag(ishape)}-axis_{axis_tag(axis)}"
        add(f"op-take_along_axis-{tag}", "take_along_axis (repeated indices)", build_tal)

    def build_tal_default(b: Builder, vals: Values) -> str:
        b.leaf("x", "parameter", vals.uniform((3, 4)))
        b.leaf("indices", "input", [[3, 3, 0], [1, -1, -4], [2, 2, 2]], dtype="int64")
        return b.node("take_along_axis", ["x", "indices"], id="out")

    add(
        "op-take_along_axis-3x4-idx_3x3-default-negative",
        "take_along_axis, default axis -1, negative indices",
        build_tal_default,
    )

    # one_hot
    for shape, depth, attrs in [((4,), 3, {}), ((2, 3), 5, {"dtype": "float64"}), ((), 4, {}), ((3,), 1, {})]:

        def build_one_hot(
            b: Builder, vals: Values, shape: tuple = shape, depth: int = depth, attrs: dict = attrs
        ) -> str:
            b.leaf("labels", "input", vals.labels(shape, depth), dtype="int64")
            hot = b.node("one_hot", ["labels"], {"depth": depth, **attrs}, id="hot")
            b.leaf("w", "parameter", vals.uniform((*shape, depth)))
            return b.node("mul", [hot, "w"], id="out")

        add(f"op-one_hot-{shape_tag(shape)}-depth{depth}", f"one_hot(labels, {depth}) * w", build_one_hot)

    def build_one_hot_ce(b: Builder, vals: Values) -> str:
        b.leaf("labels", "input", vals.labels((4,), 3), dtype="int64")
        b.leaf("logits", "parameter", vals.uniform((4, 3)))
        hot = b.node("one_hot", ["labels"], {"depth": 3}, id="hot")
        logp = b.node("log_softmax", ["logits"], {"axis": -1}, id="logp")
        return b.node("mul", [hot, logp], id="out")

    add("op-one_hot-4-depth3-cross_entropy", "one_hot(labels) * log_softmax(logits)", build_one_hot_ce)

    # concat and stack
    for op, shapes, attrs in [
        ("concat", [(2, 3), (1, 3), (3, 3)], {}),
        ("concat", [(2, 3), (1, 3), (3, 3)], {"axis": 0}),
        ("concat", [(2, 1), (2, 3), (2, 2)], {"axis": 1}),
        ("concat", [(2, 3, 1), (2, 3, 2), (2, 3, 1)], {"axis": -1}),
        ("concat", [(2, 1, 2), (2, 2, 2)], {"axis": -2}),
        ("concat", [(3,), (2,), (4,)], {}),
        ("concat", [(2, 3)], {"axis": 1}),
        ("stack", [(3, 4), (3, 4), (3, 4)], {}),
        ("stack", [(3, 4), (3, 4), (3, 4)], {"axis": 1}),
        ("stack", [(2, 3), (2, 3), (2, 3)], {"axis": -1}),
        ("stack", [(2,), (2,)], {"axis": 0}),
        ("stack", [(), (), ()], {}),
        ("stack", [(2, 3)], {"axis": -3}),
    ]:

        def build_join(
            b: Builder, vals: Values, op: str = op, shapes: list = shapes, attrs: dict = attrs
        ) -> str:
            ids = [b.leaf(f"x{k + 1}", "parameter", vals.uniform(s)) for k, s in enumerate(shapes)]
            return b.node(op, ids, attrs, id="out")

        tag = "+".join(shape_tag(s) for s in shapes) + "-" + attrs_tag(attrs)
        add(f"op-{op}-{tag}", f"{op} of {len(shapes)} inputs, {attrs_tag(attrs)}", build_join)

    for op, attrs in (("concat", {"axis": 1}), ("stack", {"axis": 0})):

        def build_join_self(b: Builder, vals: Values, op: str = op, attrs: dict = attrs) -> str:
            b.leaf("a", "parameter", vals.uniform((2, 3)))
            b.leaf("c", "parameter", vals.uniform((2, 3)))
            return b.node(op, ["a", "c", "a"], attrs, id="out")

        add(f"op-{op}-self-2x3-{attrs_tag(attrs)}", f"{op}(a, c, a): one input twice", build_join_self)

    # slice: Python slice semantics per listed axis, negative steps too
    for shape, attrs, tag in [
        ((5,), {"start": [1], "stop": [4]}, "1_4"),
        ((6,), {"start": [None], "stop": [None], "step": [-1]}, "reverse"),
        ((6,), {"start": [5], "stop": [0], "step": [-2]}, "5_0_m2"),
        ((5,), {"start": [-10], "stop": [10], "step": [2]}, "clamped"),
        ((4, 5), {"start": [1, None], "stop": [3, None], "step": [1, 2]}, "rows_1_3-cols_step2"),
        ((4, 5), {"start": [-3], "stop": [None], "axes": [1]}, "axis1_m3_end"),
        ((3, 4), {"start": [None], "stop": [-1], "step": None}, "to_m1"),
        ((5, 4), {"start": [-1], "stop": [None], "step": [-3]}, "m1_start_m3"),
        ((2, 3, 4), {"start": [3, 0], "stop": [0, 1], "step": [-1, 1], "axes": [-1, 0]}, "axes_m1_0"),
        ((2, 3, 4), {"start": [2, None, 1], "stop": [None, None, None], "step": [-1, -1, 2]}, "all_axes"),
    ]:

        def build_slice(b: Builder, vals: Values, shape: tuple = shape, attrs: dict = attrs) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            return b.node("slice", ["x"], attrs, id="out")

        add(f"op-slice-{shape_tag(shape)}-{tag}", f"slice {attrs}", build_slice)

    # squeeze, expand_dims, broadcast_to, flatten, pad
    for op, shape, attrs in [
        ("squeeze", (1, 3, 1), {}),
        ("squeeze", (1, 3, 1), {"axis": None}),
        ("squeeze", (1, 3, 1), {"axis": 0}),
        ("squeeze", (1, 3, 1), {"axis": [0, -1]}),
        ("squeeze", (2, 1, 2), {"axis": -2}),
        ("squeeze", (1,), {}),
        ("expand_dims", (3,), {"axis": 0}),
        ("expand_dims", (3,), {"axis": -1}),
        ("expand_dims", (2, 3), {"axis": 1}),
        ("expand_dims", (2, 3), {"axis": [0, 3]}),
        ("expand_dims", (2, 3), {"axis": [1, -1]}),
        ("expand_dims", (), {"axis": 0}),
        ("broadcast_to", (3,), {"shape": [2, 3]}),
        ("broadcast_to", (3, 1), {"shape": [3, 4]}),
        ("broadcast_to", (), {"shape": [2, 2]}),
        ("broadcast_to", (1, 4), {"shape": [2, 3, 4]}),
        ("broadcast_to", (2, 1, 3), {"shape": [2, 4, 3]}),
        ("broadcast_to", (2, 3), {"shape": [2, 3]}),
        ("flatten", (2, 3, 4), {}),
        ("flatten", (2, 3, 4), {"start_axis": 0, "end_axis": -1}),
        ("flatten", (2, 3, 2, 2), {"start_axis": 1, "end_axis": 2}),
        ("flatten", (2, 3, 2, 2), {"start_axis": -2}),
        ("flatten", (2, 3, 4), {"start_axis": 1, "end_axis": 1}),
        ("flatten", (2, 3), {}),
        ("flatten", (2, 2, 3), {"start_axis": 0, "end_axis": 1}),
        ("pad", (3,), {"pad_width": [[1, 2]]}),
        ("pad", (2, 3), {"pad_width": [[1, 0], [2, 1]], "value": 0.5}),
        ("pad", (2, 2, 3), {"pad_width": [[0, 0], [1, 1], [0, 2]], "value": -1.0}),
        ("pad", (2, 3), {"pad_width": [[0, 0], [0, 0]]}),
        ("pad", (1, 1, 3, 3), {"pad_width": [[0, 0], [0, 0], [1, 1], [1, 1]], "value": 0.0}),
    ]:

        def build_shape(
            b: Builder, vals: Values, op: str = op, shape: tuple = shape, attrs: dict = attrs
        ) -> str:
            b.leaf("x", "parameter", vals.uniform(shape))
            return b.node(op, ["x"], attrs, id="out")

        if op == "pad":
            tag = "pad_" + "_".join(f"{p}{q}" for p, q in attrs["pad_width"])
            tag += "-value_" + f"{attrs['value']:g}".replace("-", "m") if "value" in attrs else ""
        elif op == "broadcast_to":
            tag = "to_" + shape_tag(attrs["shape"])
        else:
            tag = attrs_tag(attrs)
        add(f"op-{op}-{shape_tag(shape)}-{tag}", f"{op} {attrs}", build_shape)

    # matmul: numpy's N-D batched semantics
    for sa, sb in [
        ((2, 3, 4), (4, 5)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (2, 4, 2)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((3, 4), (2, 4, 5)),
        ((2, 3, 4), (4,)),
        ((1, 3, 4), (2, 4, 2)),
        ((2, 2, 3), (2, 1, 3, 2)),
    ]:

        def build_matmul_nd(b: Builder, vals: Values, sa: tuple = sa, sb: tuple = sb) -> str:
            b.leaf("a", "input", vals.uniform(sa))
            b.leaf("b", "parameter", vals.uniform(sb))
            return b.node("matmul", ["a", "b"], id="out")

        add(
            f"op-matmul-{shape_tag(sa)}@{shape_tag(sb)}",
            f"{shape_tag(sa)} @ {shape_tag(sb)} (batched)",
            build_matmul_nd,
        )

    def build_matmul_self(b: Builder, vals: Values) -> str:
        b.leaf("a", "parameter", vals.uniform((2, 3, 3)))
        return b.node("matmul", ["a", "a"], id="out")

    add("op-matmul-self-2x3x3", "a @ a, batched: one input on both sides", build_matmul_self)

    # einsum
    for subscripts, shapes in [
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
        ("ii->i", [(3, 3)]),
        ("ii->", [(4, 4)]),
        ("ij->", [(3, 4)]),
        ("ij->ji", [(3, 4)]),
        ("ij,j->i", [(3, 4), (4,)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("i,i->", [(5,), (5,)]),
        ("i,j->ij", [(3,), (4,)]),
        ("bi,bi->b", [(3, 4), (3, 4)]),
        ("ij,kj->ik", [(2, 3), (4, 3)]),
        ("bhqd,bhkd->bhqk", [(2, 2, 3, 2), (2, 2, 4, 2)]),
        ("ijk->kj", [(2, 3, 4)]),
        ("i,ij,j->", [(3,), (3, 4), (4,)]),
    ]:

        def build_einsum(
            b: Builder, vals: Values, subscripts: str = subscripts, shapes: list = shapes
        ) -> str:
            ids = [b.leaf(f"x{k + 1}", "parameter", vals.uniform(s)) for k, s in enumerate(shapes)]
            return b.node("einsum", ids, {"subscripts": subscripts}, id="out")

        tag = subscripts.replace(",", "_").replace("->", "-to-")
        tag = tag[:-4] + "-to-scalar" if tag.endswith("-to-") else tag
        add(f"op-einsum-{tag}", f"einsum {subscripts}", build_einsum)

    def build_einsum_self(b: Builder, vals: Values) -> str:
        b.leaf("x", "parameter", vals.uniform((3, 2)))
        return b.node("einsum", ["x", "x"], {"subscripts": "ij,ik->jk"}, id="out")

    add("op-einsum-self-ij_ik-to-jk", "einsum ij,ik->jk of x with itself (a Gram matrix)", build_einsum_self)

    # conv2d
    for xs, ws, bias, attrs in [
        ((2, 1, 5, 5), (2, 1, 3, 3), False, {}),
        ((1, 2, 6, 6), (3, 2, 3, 3), True, {"stride": 2, "padding": 1}),
        ((2, 2, 5, 6), (2, 2, 2, 3), True, {"stride": [1, 2], "padding": [1, 0]}),
        ((1, 1, 7, 7), (2, 1, 3, 3), True, {"dilation": 2}),
        ((2, 4, 5, 5), (4, 2, 3, 3), True, {"groups": 2}),
        ((1, 3, 5, 5), (3, 1, 2, 2), False, {"groups": 3, "padding": 1}),
        ((2, 3, 4, 4), (2, 3, 1, 1), True, {}),
        ((1, 1, 6, 6), (1, 1, 3, 3), False, {"stride": 3, "padding": 2}),
        (
            (1, 2, 6, 5),
            (4, 1, 3, 2),
            True,
            {"stride": [2, 1], "padding": [2, 1], "dilation": [1, 2], "groups": 2},
        ),
        ((2, 2, 4, 4), (2, 2, 3, 3), True, {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}),
    ]:

        def build_conv(
            b: Builder, vals: Values, xs: tuple = xs, ws: tuple = ws, bias: bool = bias, attrs: dict = attrs
        ) -> str:
            b.leaf("x", "input", vals.uniform(xs))
            b.leaf("weight", "parameter", vals.normal(ws, 0.5))
            inputs = ["x", "weight"]
            if bias:
                inputs.append(b.leaf("bias", "parameter", vals.normal((ws[0],), 0.5)))
            return b.node("conv2d", inputs, attrs, id="out")

        tag = f"{shape_tag(xs)}-w{shape_tag(ws)}-" + ("bias" if bias else "nobias") + "-" + attrs_tag(attrs)
        add(f"op-conv2d-{tag}", f"conv2d {attrs}", build_conv)

    # pools
    for op, xs, attrs in [
        ("max_pool2d", (1, 1, 4, 4), {"kernel_size": 2}),
        ("max_pool2d", (2, 2, 5, 5), {"kernel_size": 3, "stride": 1}),
        ("max_pool2d", (1, 2, 5, 6), {"kernel_size": [2, 3], "stride": [1, 2], "padding": [1, 1]}),
        ("max_pool2d", (2, 1, 6, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("max_pool2d", (1, 1, 5, 5), {"kernel_size": 2, "stride": None}),
        ("max_pool2d", (1, 3, 4, 6), {"kernel_size": [1, 2]}),
        ("avg_pool2d", (1, 1, 4, 4), {"kernel_size": 2}),
        ("avg_pool2d", (2, 2, 5, 5), {"kernel_size": 3, "stride": 1}),
        ("avg_pool2d", (1, 2, 6, 5), {"kernel_size": [2, 3], "stride": [2, 1], "padding": [1, 1]}),
        (
            "avg_pool2d",
            (1, 2, 6, 5),
            {"kernel_size": [2, 3], "stride": [2, 1], "padding": [1, 1], "count_include_pad": False},
        ),
        (
            "avg_pool2d",
            (2, 1, 5, 5),
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": True},
        ),
        (
            "avg_pool2d",
            (2, 1, 5, 5),
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        ),
        ("avg_pool2d", (1, 1, 5, 5), {"kernel_size": 2, "stride": None}),
    ]:

        def build_pool(b: Builder, vals: Values, op: str = op, xs: tuple = xs, attrs: dict = attrs) -> str:
            b.leaf("x", "parameter", vals.uniform(xs))
            return b.node(op, ["x"], attrs, id="out")

        tag = attrs_tag(attrs).replace("kernel_size", "k").replace("count_include_pad", "cip")
        add(f"op-{op}-{shape_tag(xs)}-{tag}", f"{op} {attrs}", build_pool)

    def build_max_pool_ties(b: Builder, vals: Values) -> str:
        x = vals.uniform((1, 2, 4, 4))
        x[0, 0, 0, 0] = x[0, 0, 0, 1] = x[0, 0, 1, 0] = 2.5  # a three-way tie in window (0, 0)
        x[0, 0, 2, 3] = x[0, 0, 3, 2] = 2.25  # a two-way tie in window (1, 1)
        x[0, 1, :2, 2:] = 1.0  # a whole window of equal values
        x[0, 1, 1, 1] = x[0, 1, 2, 1] = 3.0  # one value the maximum of two overlapping windows (stride 1)
        b.leaf("x", "parameter", x)
        return b.node("max_pool2d", ["x"], {"kernel_size": 2, "stride": 1}, id="out")

    add(
        "op-max_pool2d-ties-1x2x4x4-k_2-stride_1",
        "max_pool2d with exact ties: the gradient split equally",
        build_max_pool_ties,
    )

    # normalization
    for op, xs, affine, attrs in [
        ("batch_norm", (4, 3), 0, {}),
        ("batch_norm", (4, 3), 1, {}),
        ("batch_norm", (5, 2), 2, {"eps": 1e-3}),
        ("batch_norm", (2, 3), 2, {}),
        ("batch_norm", (2, 3, 3, 3), 2, {}),
        ("batch_norm", (3, 2, 2, 2), 0, {}),
        ("batch_norm", (2, 3, 4), 2, {"eps": 1e-5}),
        ("batch_norm", (2, 2, 3, 3), 1, {"eps": 0.1}),
        ("layer_norm", (3, 4), 0, {}),
        ("layer_norm", (3, 4), 2, {"normalized_ndim": 1}),
        ("layer_norm", (2, 3, 4), 2, {"normalized_ndim": 2}),
        ("layer_norm", (2, 3, 4), 0, {"normalized_ndim": 2}),
        ("layer_norm", (2, 2, 3), 1, {"eps": 1e-3}),
        ("layer_norm", (5,), 2, {}),
        ("layer_norm", (2, 3, 2, 2), 2, {"normalized_ndim": 3, "eps": 0.01}),
    ]:

        def build_norm(
            b: Builder, vals: Values, op: str = op, xs: tuple = xs, affine: int = affine, attrs: dict = attrs
        ) -> str:
            b.leaf("x", "input", vals.uniform(xs))
            k = int(attrs.get("normalized_ndim", 1))
            ps = (xs[1],) if op == "batch_norm" else xs[len(xs) - k :]
            inputs = ["x"]
            if affine >= 1:
                inputs.append(b.leaf("weight", "parameter", vals.uniform(ps, 0.5, 1.5)))
            if affine >= 2:
                inputs.append(b.leaf("bias", "parameter", vals.uniform(ps, -1.0, 1.0)))
            return b.node(op, inputs, attrs, id="out")

        tag = f"{shape_tag(xs)}-" + ("plain", "weight", "affine")[affine] + "-" + attrs_tag(attrs)
        add(f"op-{op}-{tag}", f"{op} {attrs}", build_norm)

    # losses, with every reduction
    reductions: list[dict[str, Any]] = [
        {},
        {"reduction": "mean"},
        {"reduction": "sum"},
        {"reduction": "none"},
    ]

    def red_tag(attrs: dict[str, Any]) -> str:
        tag = attrs.get("reduction", "default")
        return tag + (f"-delta{attrs['delta']:g}" if "delta" in attrs else "")

    for op, shapes in [
        ("binary_cross_entropy_with_logits", [(4,), (3, 2), (), (2, 2, 3)]),
        ("huber", [(5,), (3, 4), (), (2, 2, 3)]),
        ("mse", [(5,), (3, 4), (), (2, 2, 3)]),
    ]:
        for shape in shapes:
            for attrs in reductions:

                def build_pair_loss(
                    b: Builder, vals: Values, op: str = op, shape: tuple = shape, attrs: dict = attrs
                ) -> str:
                    if op == "binary_cross_entropy_with_logits":
                        b.leaf("logits", "parameter", vals.uniform(shape, -3.0, 3.0))
                        b.leaf("targets", "parameter", vals.positive(shape, 0.0, 1.0))
                        return b.node(op, ["logits", "targets"], attrs, id="out")
                    b.leaf("prediction", "parameter", vals.uniform(shape))
                    b.leaf("target", "parameter", vals.uniform(shape))
                    return b.node(op, ["prediction", "target"], attrs, id="out")

                add(
                    f"op-{op}-{shape_tag(shape)}-{red_tag(attrs)}", f"{op}, {red_tag(attrs)}", build_pair_loss
                )

    for attrs in ({"delta": 0.5}, {"delta": 2.0, "reduction": "sum"}, {"delta": 0.3, "reduction": "none"}):

        def build_huber_delta(b: Builder, vals: Values, attrs: dict = attrs) -> str:
            b.leaf("prediction", "parameter", vals.uniform((3, 4)))
            b.leaf("target", "input", vals.uniform((3, 4)))
            return b.node("huber", ["prediction", "target"], attrs, id="out")

        add(f"op-huber-3x4-{red_tag(attrs)}", f"huber, {red_tag(attrs)}", build_huber_delta)

    for attrs in ({}, {"reduction": "sum"}, {"reduction": "none"}):

        def build_bce_wide(b: Builder, vals: Values, attrs: dict = attrs) -> str:
            b.leaf("logits", "parameter", vals.uniform((3, 4), -40.0, 40.0))
            b.leaf("targets", "constant", vals.rng.integers(0, 2, size=(3, 4)).astype(np.float64))
            return b.node("binary_cross_entropy_with_logits", ["logits", "targets"], attrs, id="out")

        add(
            f"op-binary_cross_entropy_with_logits-wide-hard-3x4-{red_tag(attrs)}",
            "binary cross-entropy of logits in [-40, 40] and 0/1 targets",
            build_bce_wide,
        )

    for op in ("nll_loss", "softmax_cross_entropy", "multiclass_hinge"):
        runs: list[tuple[tuple[int, ...], dict[str, Any]]] = (
            [
                ((4, 3), a)
                for a in reductions
                if op == "nll_loss" or a  # the default: the older cases
            ]
            + [((5,), a) for a in reductions[2:]]
            + [((6, 5), {"reduction": "none"})]
        )
        if op == "nll_loss":
            runs += [((5,), {}), ((1, 4), {"reduction": "sum"})]
        if op == "multiclass_hinge":
            runs += [
                ((4, 3), {"delta": 0.5, "reduction": "none"}),
                ((3, 5), {"delta": 2.0, "reduction": "sum"}),
            ]
        for shape, attrs in runs:

            def build_class_loss(
                b: Builder, vals: Values, op: str = op, shape: tuple = shape, attrs: dict = attrs
            ) -> str:
                labels = vals.labels(shape[:-1], shape[-1])
                b.leaf("scores", "parameter", vals.uniform(shape, -2.0, 2.0))
                b.leaf("labels", "input", labels, dtype="int64")
                return b.node(op, ["scores", "labels"], attrs, id="out")

            kind = "scalar_label" if len(shape) == 1 else "batch"
            add(
                f"op-{op}-{shape_tag(shape)}-{kind}-{red_tag(attrs)}",
                f"{op}, {kind}, {red_tag(attrs)}",
                build_class_loss,
            )

    def build_ce_large_none(b: Builder, vals: Values) -> str:
        b.leaf("logits", "parameter", vals.uniform((2, 5), 980.0, 1020.0))
        b.leaf("labels", "constant", vals.labels((2,), 5), dtype="int64")
        return b.node("softmax_cross_entropy", ["logits", "labels"], {"reduction": "none"}, id="out")

    add(
        "op-softmax_cross_entropy-2x5-batch-large-none",
        "softmax cross-entropy per example, logits ~1000",
        build_ce_large_none,
    )

    for shape in [(), (4,), (3, 2), (2, 3, 2)]:

        def build_se_none(b: Builder, vals: Values, shape: tuple = shape) -> str:
            b.leaf("prediction", "parameter", vals.uniform(shape))
            b.leaf("target", "input", vals.uniform(shape))
            return b.node("squared_error", ["prediction", "target"], {"reduction": "none"}, id="out")

        add(
            f"op-squared_error-none-{shape_tag(shape)}",
            "squared error per element (with its 1/2)",
            build_se_none,
        )

    return cases


# --- composed models --------------------------------------------------------------------------------------


class Model:
    """Helpers for one model case: parameters with fan-in scaling, layers as a few nodes."""

    def __init__(self, b: Builder, vals: Values) -> None:
        self.b = b
        self.vals = vals

    def param(self, id: str, shape: tuple[int, ...], fan_in: int | None = None, scale: float = 1.0) -> str:
        return self.b.leaf(id, "parameter", self.vals.normal(shape, scale / math.sqrt(fan_in or 1)))

    def linear(self, x: str, stem: str, d_in: int, d_out: int, bias: bool = True) -> str:
        w = self.param(f"{stem}/weight", (d_in, d_out), fan_in=d_in)
        out = self.b.node("matmul", [x, w], id=f"{stem}/matmul")
        if bias:
            out = self.b.node("add", [out, self.param(f"{stem}/bias", (d_out,), scale=0.3)], id=f"{stem}/add")
        return out

    def conv(self, x: str, stem: str, c_in: int, c_out: int, k: int, bias: bool = True, **attrs: Any) -> str:
        groups = int(attrs.get("groups", 1))
        w = self.param(f"{stem}/weight", (c_out, c_in // groups, k, k), fan_in=c_in // groups * k * k)
        inputs = [x, w] + ([self.param(f"{stem}/bias", (c_out,), scale=0.3)] if bias else [])
        return self.b.node("conv2d", inputs, attrs, id=stem)

    def labels(self, n: int, classes: int) -> str:
        return self.b.leaf("labels", "input", self.vals.labels((n,), classes), dtype="int64")


def model_lenet(b: Builder, vals: Values, n: int, variant: int) -> tuple[str, list[str]]:
    m = Model(b, vals)
    x = b.leaf("x", "input", vals.uniform((n, 1, 8, 8), -1.0, 1.0))
    if variant == 1:  # 8x8 -> conv 3x3 -> 6x6 -> pool 2 -> 3x3 -> conv 2x2 -> 2x2
        h = m.conv(x, "conv1", 1, 4, 3)
        h = b.node("relu", [h], id="relu1")
        h = b.node("max_pool2d", [h], {"kernel_size": 2}, id="pool1")
        h = m.conv(h, "conv2", 4, 6, 2)
        c, classes = 6 * 2 * 2, 3
    else:  # 8x8 -> conv 3x3 pad 1 -> 8x8 -> pool 3 stride 2 pad 1 -> 4x4 -> conv 3x3 stride 1 -> 2x2
        h = m.conv(x, "conv1", 1, 3, 3, padding=1)
        h = b.node("relu", [h], id="relu1")
        h = b.node("max_pool2d", [h], {"kernel_size": 3, "stride": 2, "padding": 1}, id="pool1")
        h = m.conv(h, "conv2", 3, 4, 3, stride=1)
        c, classes = 4 * 2 * 2, 4
    h = b.node("relu", [h], id="relu2")
    h = b.node("flatten", [h], id="flatten")
    logits = m.linear(h, "fc", c, classes)
    loss = b.node("softmax_cross_entropy", [logits, m.labels(n, classes)], id="loss")
    return loss, [logits, loss]


def model_attention(b: Builder, vals: Values, variant: int) -> tuple[str, list[str]]:
    m = Model(b, vals)
    batch, t, d = 2, 3, 4
    x = b.leaf("x", "input", vals.uniform((batch, t, d), -1.5, 1.5))
    q = m.linear(x, "q", d, d, bias=False)  # (B, T, D) @ (D, D)
    k = m.linear(x, "k", d, d, bias=False)
    v = m.linear(x, "v", d, d, bias=False)
    if variant == 1:
        scores = b.node("einsum", [q, k], {"subscripts": "bqd,bkd->bqk"}, id="scores")
        scale = b.leaf("scale", "constant", 1.0 / math.sqrt(d))
        scaled = b.node("mul", [scores, scale], id="scaled")
        weights = b.node("softmax", [scaled], {"axis": -1}, id="weights")
        attended = b.node("matmul", [weights, v], id="attended")
    else:  # matmul with a transpose, and a causal mask
        kt = b.node("transpose", [k], {"axes": [0, 2, 1]}, id="k_t")
        scores = b.node("matmul", [q, kt], id="scores")
        root = b.leaf("sqrt_d", "constant", math.sqrt(d))
        scaled = b.node("div", [scores, root], id="scaled")
        causal = b.leaf("causal", "constant", np.tril(np.ones((t, t), dtype=bool)), dtype="bool")
        hidden = b.leaf("hidden", "constant", -1000.0)
        masked = b.node("where", [causal, scaled, hidden], id="masked")
        weights = b.node("softmax", [masked], {"axis": -1}, id="weights")
        attended = b.node("einsum", [weights, v], {"subscripts": "bqk,bkd->bqd"}, id="attended")
    out = m.linear(attended, "out", d, d, bias=variant == 1)
    residual = b.node("add", [out, x], id="residual")
    if variant == 1:
        gamma = b.leaf("ln/weight", "parameter", vals.uniform((d,), 0.5, 1.5))
        beta = b.leaf("ln/bias", "parameter", vals.uniform((d,), -0.5, 0.5))
        y = b.node("layer_norm", [residual, gamma, beta], id="ln")
        target = b.leaf("target", "input", vals.uniform((batch, t, d), -1.0, 1.0))
        loss = b.node("mse", [y, target], id="loss")
    else:
        y = b.node("layer_norm", [residual], {"normalized_ndim": 1}, id="ln")
        target = b.leaf("target", "input", vals.uniform((batch, t, d), -1.0, 1.0))
        loss = b.node("squared_error", [y, target], {"reduction": "sum"}, id="loss")
    return loss, [y, loss]


def model_rnn(b: Builder, vals: Values, variant: int) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, steps, d, hidden, classes = 2, 4, 3, 4, 3
    wx = m.param("rnn/wx", (d, hidden), fan_in=d)
    wh = m.param("rnn/wh", (hidden, hidden), fan_in=hidden)
    bias = m.param("rnn/bias", (hidden,), scale=0.3)
    if variant == 1:  # token ids through an embedding table
        table = b.leaf("embedding", "parameter", vals.normal((6, d)))
        ids = b.leaf("ids", "input", vals.rng.integers(0, 6, size=(n, steps)), dtype="int64")
        xs = b.node("take", [table, ids], {"axis": 0}, id="embedded")  # (N, T, D)
        h: str | None = b.leaf("h0", "parameter", vals.normal((hidden,), 0.5))
    else:  # given inputs, (T, N, D)
        xs = b.leaf("x", "input", vals.uniform((steps, n, d), -1.5, 1.5))
        h = None
    for step in range(steps):
        if variant == 1:
            at = b.leaf(f"t{step}", "constant", step, dtype="int64")
            x_t = b.node("take", [xs, at], {"axis": 1}, id=f"x{step + 1}")
        else:
            piece = b.node(
                "slice", [xs], {"start": [step], "stop": [step + 1], "axes": [0]}, id=f"slice{step + 1}"
            )
            x_t = b.node("squeeze", [piece], {"axis": 0}, id=f"x{step + 1}")
        pre = b.node("matmul", [x_t, wx], id=f"xw{step + 1}")
        if h is not None:
            pre = b.node("add", [pre, b.node("matmul", [h, wh], id=f"hw{step + 1}")], id=f"sum{step + 1}")
        pre = b.node("add", [pre, bias], id=f"pre{step + 1}")
        h = b.node("tanh", [pre], id=f"h{step + 1}")
    assert h is not None
    logits = m.linear(h, "head", hidden, classes)
    attrs = {} if variant == 1 else {"reduction": "sum"}
    loss = b.node("softmax_cross_entropy", [logits, m.labels(n, classes)], attrs, id="loss")
    return loss, [logits, loss]


def model_embedding_bag(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, bag, vocab, d, classes = 3, 4, 7, 4, 3
    table = b.leaf("embedding", "parameter", vals.normal((vocab, d)))
    ids = vals.rng.integers(0, vocab, size=(n, bag))
    ids[0, 1] = ids[0, 0]  # a repeat within a bag
    ids[2, 3] = ids[1, 0]  # and across bags
    id_leaf = b.leaf("ids", "input", ids, dtype="int64")
    looked_up = b.node("take", [table, id_leaf], {"axis": 0}, id="looked_up")  # (N, bag, D)
    pooled = b.node("mean", [looked_up], {"axis": 1}, id="pooled")
    logits = m.linear(pooled, "fc", d, classes)
    log_probs = b.node("log_softmax", [logits], {"axis": -1}, id="log_probs")
    loss = b.node("nll_loss", [log_probs, m.labels(n, classes)], id="loss")
    return loss, [logits, loss]


def model_mlp_batch_norm(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, d, hidden, classes = 6, 4, 5, 3
    x = b.leaf("x", "input", vals.uniform((n, d), -2.0, 2.0))
    h = m.linear(x, "fc1", d, hidden, bias=False)
    gamma = b.leaf("bn/weight", "parameter", vals.uniform((hidden,), 0.5, 1.5))
    beta = b.leaf("bn/bias", "parameter", vals.uniform((hidden,), -0.5, 0.5))
    h = b.node("batch_norm", [h, gamma, beta], id="bn")
    h = b.node("relu", [h], id="relu")
    logits = m.linear(h, "fc2", hidden, classes)
    loss = b.node("softmax_cross_entropy", [logits, m.labels(n, classes)], id="loss")
    return loss, [logits, loss]


def model_residual_conv(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, c, size, classes = 2, 2, 6, 3
    x = b.leaf("x", "input", vals.uniform((n, c, size, size), -1.0, 1.0))
    h = m.conv(x, "conv1", c, c, 3, bias=False, padding=1)
    gamma = b.leaf("bn/weight", "parameter", vals.uniform((c,), 0.5, 1.5))
    beta = b.leaf("bn/bias", "parameter", vals.uniform((c,), -0.5, 0.5))
    h = b.node("batch_norm", [h, gamma, beta], id="bn")
    h = b.node("relu", [h], id="relu1")
    h = m.conv(h, "conv2", c, c, 3, padding=1)
    h = b.node("add", [h, x], id="skip")
    h = b.node("relu", [h], id="relu2")
    h = b.node("avg_pool2d", [h], {"kernel_size": 2}, id="pool")  # (N, C, 3, 3)
    h = b.node("flatten", [h], id="flatten")
    logits = m.linear(h, "fc", c * 9, classes)
    loss = b.node("softmax_cross_entropy", [logits, m.labels(n, classes)], id="loss")
    return loss, [logits, loss]


def model_gelu_mlp_bce(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, d, hidden = 5, 3, 4
    x = b.leaf("x", "input", vals.uniform((n, d), -2.0, 2.0))
    features = b.node("concat", [x, b.node("sin", [x], id="sin_x")], {"axis": 1}, id="features")
    h = m.linear(features, "fc1", 2 * d, hidden)
    h = b.node("gelu", [h], id="gelu")
    w2 = m.param("fc2/weight", (hidden,), fan_in=hidden)
    logits = b.node(
        "add", [b.node("matmul", [h, w2], id="fc2/matmul"), m.param("fc2/bias", (), scale=0.3)], id="logits"
    )
    targets = b.leaf("targets", "input", vals.rng.integers(0, 2, size=(n,)).astype(np.float64))
    loss = b.node("binary_cross_entropy_with_logits", [logits, targets], id="loss")
    return loss, [logits, loss]


def model_masked_regression(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, d, hidden = 4, 5, 3
    x = b.leaf("x", "input", vals.uniform((n, d), -2.0, 2.0))
    observed = b.leaf("observed", "input", _mask(vals, (n, d)), dtype="bool")
    zero = b.leaf("zero", "constant", 0.0)
    filled = b.node("where", [observed, x, zero], id="filled")
    h = b.node("softplus", [m.linear(filled, "fc1", d, hidden)], id="softplus")
    w2 = m.param("fc2/weight", (hidden,), fan_in=hidden)
    prediction = b.node("matmul", [h, w2], id="prediction")
    clipped = b.node("clip", [prediction], {"min": -1.5, "max": 1.5}, id="clipped")
    target = b.leaf("target", "input", vals.uniform((n,), -1.0, 1.0))
    loss = b.node("huber", [clipped, target], {"delta": 0.5}, id="loss")
    return loss, [clipped, loss]


def model_depthwise_conv(b: Builder, vals: Values) -> tuple[str, list[str]]:
    m = Model(b, vals)
    n, c, size, c_out, classes = 2, 3, 6, 4, 3
    x = b.leaf("x", "input", vals.uniform((n, c, size, size), -1.0, 1.0))
    h = m.conv(x, "depthwise", c, c, 3, padding=1, groups=c)
    h = b.node("elu", [h], id="elu")
    h = m.conv(h, "pointwise", c, c_out, 1)
    h = b.node("leaky_relu", [h], {"negative_slope": 0.1}, id="leaky_relu")
    h = b.node("max_pool2d", [h], {"kernel_size": 3, "stride": 2, "padding": 1}, id="pool")  # (N, 4, 3, 3)
    h = b.node("layer_norm", [h], {"normalized_ndim": 2}, id="ln")  # over H, W
    h = b.node("flatten", [h], {"start_axis": 1}, id="flatten")
    scores = m.linear(h, "fc", c_out * 9, classes)
    loss = b.node("multiclass_hinge", [scores, m.labels(n, classes)], {"reduction": "sum"}, id="loss")
    return loss, [scores, loss]


MODELS: list[tuple[str, str, Callable[[Builder, Values], tuple[str, list[str]]]]] = [
    (
        "model-lenet-n2",
        "LeNet-like CNN: conv 3x3, relu, max pool 2, conv 2x2, relu, flatten, linear, softmax cross-entropy",
        lambda b, v: model_lenet(b, v, 2, 1),
    ),
    (
        "model-lenet-n3",
        "LeNet-like CNN with padding and an overlapping padded max pool",
        lambda b, v: model_lenet(b, v, 3, 2),
    ),
    (
        "model-attention-einsum",
        "single-head self-attention (einsum scores, scale, softmax, matmul), output "
        "projection, residual, layer norm, mse",
        lambda b, v: model_attention(b, v, 1),
    ),
    (
        "model-attention-causal",
        "single-head causal self-attention (matmul with a transpose, where mask, "
        "einsum), residual, layer norm, squared error",
        lambda b, v: model_attention(b, v, 2),
    ),
    (
        "model-rnn-embedding",
        "tanh RNN unrolled over 4 steps with shared weights on an embedding lookup, "
        "softmax cross-entropy on the last state",
        lambda b, v: model_rnn(b, v, 1),
    ),
    (
        "model-rnn-inputs",
        "tanh RNN unrolled over 4 steps on given inputs (slice, squeeze), softmax "
        "cross-entropy (sum) on the last state",
        lambda b, v: model_rnn(b, v, 2),
    ),
    (
        "model-embedding_bag",
        "embedding bag: take, mean over the bag, linear, log_softmax, nll_loss",
        model_embedding_bag,
    ),
    (
        "model-mlp_batch_norm",
        "MLP: matmul, batch norm, relu, matmul, softmax cross-entropy",
        model_mlp_batch_norm,
    ),
    (
        "model-residual_conv",
        "residual conv block: conv, batch norm, relu, conv, skip, relu, avg pool, "
        "flatten, linear, softmax cross-entropy",
        model_residual_conv,
    ),
    (
        "model-gelu_mlp_bce",
        "concat of x and sin(x), gelu MLP, binary cross-entropy with logits",
        model_gelu_mlp_bce,
    ),
    ("model-masked_regression", "where-masked inputs, softplus layer, clip, huber", model_masked_regression),
    (
        "model-depthwise_conv",
        "depthwise and pointwise conv, elu, leaky relu, padded max pool, layer norm over "
        "H, W, multiclass hinge (sum)",
        model_depthwise_conv,
    ),
]


def model_cases(seed: int) -> dict[str, dict[str, Any]]:
    """The model-* cases: each model built from its own stream until no node is rejected."""
    cases = {}
    for name, description, build in MODELS:
        for attempt in range(1000):
            vals = Values(_case_rng(seed, 4, name, attempt))
            b = Builder(name, f"{description} (attempt {attempt})")
            try:
                loss, outputs = build(b, vals)
                cases[name] = b.case(loss, outputs)
                break
            except Reject:
                continue
        else:
            raise RuntimeError(f"{name}: every attempt was rejected")
    return cases


# --- composed graphs --------------------------------------------------------------------------------------

LOSS_KINDS = (
    ("multiclass_hinge",),
    ("softmax_cross_entropy",),
    ("squared_error",),
    ("multiclass_hinge", "softmax_cross_entropy"),
    ("softmax_cross_entropy", "squared_error"),
)
UNARY = ("neg", "exp", "log", "abs", "relu", "sigmoid", "tanh", "square", "pow")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
STEP_WEIGHTS = {
    "matmul": 3.0,
    "binary": 4.0,
    "unary": 4.0,
    "reduce": 2.0,
    "transpose": 1.0,
    "reshape": 1.0,
    "softmax": 1.0,
}


def _fits(shape: tuple[int, ...]) -> bool:
    return len(shape) <= 3 and all(d <= MAX_DIM for d in shape)


class GraphMaker:
    """Grows one random DAG: a pool of tensors that steps consume (recent ones more often, so chains get
    deep, but any of them again, so nodes fan out), then a linear head, the losses and regularization."""

    def __init__(self, b: Builder, rng: np.random.Generator) -> None:
        self.b = b
        self.rng = rng
        self.vals = Values(rng)
        self.pool: list[str] = []

    def choice(self, items: Any) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def pick(self, pred: Callable[[str], bool] = lambda id: True) -> str:
        candidates = [id for id in self.pool if pred(id)]
        if not candidates:
            raise Reject("no operand fits")
        weights = np.arange(1, len(candidates) + 1, dtype=np.float64) ** 1.5
        return candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]

    def param(self, stem: str, shape: tuple[int, ...], fan_in: int | None = None) -> str:
        scale = 1.0 / math.sqrt(fan_in) if fan_in else 1.0
        kind = "parameter" if self.rng.random() < 0.8 else "constant"
        return self.b.leaf(self.b.fresh(stem), kind, self.vals.normal(shape, scale))

    def step(self) -> str:
        kinds = list(STEP_WEIGHTS)
        weights = np.array([STEP_WEIGHTS[k] for k in kinds])
        kind = kinds[int(self.rng.choice(len(kinds), p=weights / weights.sum()))]
        out = getattr(self, f"step_{kind}")()
        if not _fits(self.b.shape(out)):
            raise Reject("too big")
        return out

    def step_matmul(self) -> str:
        b = self.b
        a = self.pick(lambda id: b.tensors[id].dim() in (1, 2))
        sa = b.shape(a)
        if self.rng.random() < 0.2:  # a new matrix on the left: W @ a
            w = self.param("W", (int(self.rng.integers(1, 6)), sa[0]), fan_in=sa[0])
            return b.node("matmul", [w, a])
        partners = [id for id in self.pool if b.tensors[id].dim() in (1, 2) and b.shape(id)[0] == sa[-1]]
        if partners and self.rng.random() < 0.4:
            other = self.choice(partners)  # may be a itself, or a shared weight
        else:
            shape = (sa[-1],) if self.rng.random() < 0.15 else (sa[-1], int(self.rng.integers(2, 6)))
            other = self.param("W", shape, fan_in=sa[-1])
            if self.rng.random() < 0.4:
                self.pool.append(other)  # may be shared by a later step
        return b.node("matmul", [a, other])

    def step_binary(self) -> str:
        b = self.b
        op = self.choice(BINARY)
        a = self.pick()
        sa = b.shape(a)
        r = self.rng.random()
        if r < 0.1 and op not in ("maximum", "minimum"):
            return b.node(op, [a, a])  # one node as both inputs
        if r < 0.5:

            def fits(id: str) -> bool:
                try:
                    return _fits(np.broadcast_shapes(sa, b.shape(id))) and id != a
                except ValueError:
                    return False

            other = self.pick(fits)
        else:
            options = [sa, sa[-1:], ()]
            if len(sa) == 2:
                options += [(sa[0], 1), (1, sa[1])]
            shape = self.choice(options)
            stem = "c" if self.rng.random() < 0.5 else "p"
            kind = "parameter" if stem == "p" else "constant"
            value = self.vals.nonzero(shape) if op == "div" else self.vals.uniform(shape, -1.5, 1.5)
            other = b.leaf(b.fresh(stem), kind, value)
        inputs = [a, other] if self.rng.random() < 0.7 else [other, a]
        return b.node(op, inputs)

    def step_unary(self) -> str:
        b = self.b
        op = self.choice(UNARY)
        if op == "log":
            return b.node(op, [self.pick(lambda id: float(b.value(id).min()) >= 0.05)])
        if op == "exp":
            return b.node(op, [self.pick(lambda id: float(b.value(id).max()) <= 4.0)])
        if op == "pow":
            exponent = self.choice([2.0, 3.0, 1.0, -1.0, 0.5, 1.5, -0.5])  # not 0: it would cut the graph
            if exponent != int(exponent):
                x = self.pick(lambda id: float(b.value(id).min()) >= 0.05)
            else:
                x = self.pick()
            return b.node(op, [x], {"exponent": exponent})
        return b.node(op, [self.pick()])

    def step_reduce(self) -> str:
        b = self.b
        op = self.choice(("sum", "mean", "max", "logsumexp"))
        x = self.pick()
        ndim = b.tensors[x].dim()
        attrs: dict[str, Any] = {}
        r = self.rng.random()
        if ndim and r < 0.5:
            attrs["axis"] = int(self.rng.integers(-ndim, ndim))
        elif ndim >= 2 and r < 0.7:
            axes = sorted(self.rng.choice(ndim, size=2, replace=False).tolist())
            attrs["axis"] = [a - ndim if self.rng.random() < 0.3 else a for a in axes]
        elif r < 0.8:
            attrs["axis"] = None
        if self.rng.random() < 0.5:
            attrs["keepdims"] = bool(self.rng.random() < 0.6)
        return b.node(op, [x], attrs)

    def step_transpose(self) -> str:
        b = self.b
        x = self.pick(lambda id: b.tensors[id].dim() >= 2)
        ndim = b.tensors[x].dim()
        if self.rng.random() < 0.4:
            return b.node("transpose", [x])
        axes = self.rng.permutation(ndim).tolist()
        axes = [a - ndim if self.rng.random() < 0.3 else a for a in axes]
        return b.node("transpose", [x], {"axes": axes})

    def step_reshape(self) -> str:
        b = self.b
        x = self.pick(lambda id: b.tensors[id].numel() >= 2)
        size = b.tensors[x].numel()
        shapes = [
            s
            for n in (1, 2, 3)
            for s in itertools.product(range(1, MAX_DIM + 1), repeat=n)
            if math.prod(s) == size and s != b.shape(x)
        ]
        if not shapes:
            raise Reject("no other shape")
        target = list(self.choice(shapes))
        if self.rng.random() < 0.5:
            target[int(self.rng.integers(len(target)))] = -1
        return b.node("reshape", [x], {"shape": target})

    def step_softmax(self) -> str:
        b = self.b
        op = self.choice(("softmax", "log_softmax"))
        x = self.pick(lambda id: b.tensors[id].dim() >= 1)
        ndim = b.tensors[x].dim()
        attrs = {} if self.rng.random() < 0.3 else {"axis": int(self.rng.integers(-ndim, ndim))}
        return b.node(op, [x], attrs)

    def combine(self, terms: list[str]) -> str:
        total = terms[0]
        for term in terms[1:]:
            if self.rng.random() < 0.3:
                weight = self.b.leaf(self.b.fresh("k"), "constant", self.vals.positive((), 0.1, 2.0))
                term = self.b.node("mul", [weight, term])
            total = self.b.node("add", [total, term])
        return total


def build_graph(b: Builder, rng: np.random.Generator, index: int) -> dict[str, Any]:
    g = GraphMaker(b, rng)
    losses = LOSS_KINDS[index % len(LOSS_KINDS)]
    unbatched = "squared_error" not in losses and rng.random() < 0.2
    n, d, c = (int(v) for v in rng.integers([1, 2, 2], [6, 6, 6]))
    x = b.leaf("x", "input", g.vals.normal((d,) if unbatched else (n, d)))
    g.pool.append(x)

    for _ in range(int(rng.integers(4, 11))):
        for _attempt in range(30):
            mark = b.mark()
            try:
                g.pool.append(g.step())
                break
            except Reject:
                b.rollback(mark)
                g.pool = [id for id in g.pool if id in b.tensors]

    # the head: scores = h @ W_out (+ bias), from the newest tensor with the right shape
    if unbatched:
        heads = [id for id in g.pool if b.tensors[id].dim() == 1]
    else:
        heads = [id for id in g.pool if b.tensors[id].dim() == 2 and b.shape(id)[0] == n]
    h = heads[-1] if rng.random() < 0.7 else g.choice(heads)
    w_out = g.param("W_out", (b.shape(h)[-1], c), fan_in=b.shape(h)[-1])
    scores = b.node("matmul", [h, w_out])
    if rng.random() < 0.7:
        scores = b.node("add", [scores, b.leaf("b_out", "parameter", g.vals.normal((c,), 0.5))])

    terms = []
    labels = None
    if "multiclass_hinge" in losses or "softmax_cross_entropy" in losses:
        labels_shape = () if unbatched else (n,)
        labels = b.leaf("y", g.choice(["input", "constant"]), g.vals.labels(labels_shape, c), dtype="int64")
    if "multiclass_hinge" in losses:
        attrs = g.choice([{}, {"delta": 1.0}, {"delta": 0.5}, {"delta": 2.0}])
        terms.append(b.node("multiclass_hinge", [scores, labels], attrs))
    if "softmax_cross_entropy" in losses:
        terms.append(b.node("softmax_cross_entropy", [scores, labels]))
    if "squared_error" in losses:
        prediction = scores
        if rng.random() < 0.4:
            prediction = b.node(g.choice(["tanh", "sigmoid"]), [scores])
        target = b.leaf("t", "input", g.vals.uniform(b.shape(prediction), -1.0, 1.0))
        attrs = g.choice([{}, {"reduction": "mean"}, {"reduction": "sum"}])
        terms.append(b.node("squared_error", [prediction, target], attrs))

    # regularization: l2 on the output weights, l1 on another weight (or the same one)
    weights = [leaf["id"] for leaf in b.leaves if leaf["id"].startswith(("W", "p"))]
    for op, target in (("l2_regularization", w_out), ("l1_regularization", g.choice(weights))):
        lam = g.choice([None, 0.001, 0.01, 0.1, 0.5])
        terms.append(b.node(op, [target], {} if lam is None else {"lambda": lam}))

    # everything else that nothing consumed feeds the loss too, so every node has a gradient to check
    for id in [id for id in g.pool if not b.consumers(id)]:
        r = b.leaf(b.fresh("r"), "constant", g.vals.uniform(b.shape(id), -1.0, 1.0))
        terms.append(b.node("mean", [b.node("mul", [id, r])]))

    loss = g.combine(terms)
    fanned = [node["id"] for node in b.nodes if b.consumers(node["id"]) >= 2]
    if not fanned:
        raise Reject("no node fans out")
    return b.case(loss, [scores, loss])


def composed_cases(seed: int) -> dict[str, dict[str, Any]]:
    cases = {}
    for index in range(1, N_GRAPHS + 1):
        name = f"graph-{index:04d}"
        for attempt in range(1000):
            rng = np.random.default_rng([seed, 2, index, attempt])
            b = Builder(name, f"seeded random graph {index} (attempt {attempt})")
            try:
                cases[name] = build_graph(b, rng, index)
                break
            except Reject:
                continue
        else:
            raise RuntimeError(f"{name}: every attempt was rejected")
    return cases


# --- writing ----------------------------------------------------------------------------------------------


def dumps(obj: Any, depth: int = 0) -> str:
    """JSON with the case's structure on separate lines and each leaf, node and array on one line."""
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(obj, dict) and depth < 3 and not {"id", "op"} & set(obj):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}" if items else "{}"
    if isinstance(obj, list) and any(isinstance(item, dict) for item in obj):
        items = [f"{inner}{dumps(item, depth + 1)}" for item in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def all_cases(seed: int) -> dict[str, str]:
    cases: dict[str, dict[str, Any]] = {}
    for part in (op_cases(seed), new_op_cases(seed), composed_cases(seed), model_cases(seed)):
        assert not cases.keys() & part.keys(), f"two cases named {sorted(cases.keys() & part.keys())}"
        cases.update(part)
    return {f"{name}.json": dumps(case) + "\n" for name, case in cases.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    args = parser.parse_args()
    version = torch.__version__.split("+")[0]
    if version != EXPECTED_TORCH:
        print(
            f"warning: torch {version}, not {EXPECTED_TORCH}: the files may differ in the last bits",
            file=sys.stderr,
        )
    files = all_cases(SEED)
    existing = {p.name: p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.json"))}
    if args.check:
        differ = sorted(n for n in files.keys() | existing.keys() if files.get(n) != existing.get(n))
        for name in differ:
            print(f"differs: {name}")
        print(f"{len(files)} cases, {len(differ)} differ")
        return 1 if differ else 0
    CASES.mkdir(parents=True, exist_ok=True)
    for name in existing.keys() - files.keys():
        (CASES / name).unlink()
    for name, text in files.items():
        if existing.get(name) != text:
            (CASES / name).write_text(text, encoding="utf-8")
    ops = sum(n.startswith("op-") for n in files)
    size = sum(len(t.encode()) for t in files.values())
    print(f"wrote {len(files)} cases ({ops} per-op, {len(files) - ops} composed), {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
