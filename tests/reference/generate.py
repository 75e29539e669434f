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
by numbers near 0): every node is checked as it is built (:func:`check_node`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
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
    return per_class.sum() / s.shape[0]


def _softmax_cross_entropy(attrs: dict[str, Any], logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    s, y = _batched(logits, labels)
    return F.cross_entropy(s, y, reduction="mean")


def _squared_error(attrs: dict[str, Any], p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    sq = torch.square(p - t)
    return 0.5 * (sq.mean() if attrs.get("reduction", "mean") == "mean" else sq.sum())


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
}


def _min_abs(t: torch.Tensor) -> float:
    return float(t.detach().abs().min()) if t.numel() else math.inf


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
    value = out.detach()
    if not bool(torch.isfinite(value).all()) or (value.numel() and float(value.abs().max()) > MAX_ABS):
        raise Reject(f"{op}: a value is not finite or too large")


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
        array = np.asarray(value, dtype=np.int64 if dtype == "int64" else np.float64)
        if dtype == "float64":
            assert np.all(np.isfinite(array))
        self.leaves.append(
            {"id": id, "kind": kind, "dtype": dtype, "shape": list(array.shape), "value": array.tolist()}
        )
        tensor = torch.tensor(array.tolist(), dtype=torch.int64 if dtype == "int64" else F64)
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
    cases = {**op_cases(seed), **composed_cases(seed)}
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
