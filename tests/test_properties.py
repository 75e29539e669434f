"""Properties of whole graphs built at random with the Python API.

A strategy draws a *recipe*: a few float64 leaves of small, often broadcastable shapes, then a random
sequence of smooth ops (reusing earlier values several times: fan-out), ending in a scalar loss. The recipe
is plain data, so the same graph can be rebuilt with other leaf values. Over those graphs:

- backward's gradient of every float leaf matches centered differences computed here (float64, h = 1e-5,
  rtol 1e-6, atol 1e-8), and every forward value matches a plain-numpy evaluation of the recipe;
- save -> load keeps leaf values, the loss and every gradient bit for bit, whatever the float64 values
  (negative zero, subnormals, the largest finite), and saving the loaded graph gives the same bytes;
- a spec with seeded random initializers gives bit-identical results in two separate processes.

Values stay in a range where centered differences are accurate: an operand whose magnitude could exceed
``LIMIT`` is squashed by tanh first, exponentials only see tanh-squashed values, and logs, divisions and
powers only see bases kept away from zero (``1 + square(.)`` or ``exp(.)``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import graphdiff as gd

H = 1e-5
RTOL = 1e-6
ATOL = 1e-8

#: Leaf shapes: a scalar, vectors and matrices, including (1, 3) and (2, 1), which broadcast.
LEAF_SHAPES = ((), (3,), (2, 3), (1, 3), (2, 1), (3, 2))
#: Leaf values for the gradient property are drawn from [-LEAF_RANGE, LEAF_RANGE].
LEAF_RANGE = 2.0
#: An operand that could be larger than this in magnitude is squashed by tanh before ops that grow values.
LIMIT = 4.0
EXPONENTS = (-1.5, -1.0, 0.5, 1.5, 2.0, 3.0)

#: float64 values whose text form is easy to get wrong.
TRICKY_FLOATS = (
    -0.0,
    0.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,  # the largest subnormal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    0.1,
    1 / 3,
    1e16 + 2,
)

GRADIENT_EXAMPLES = settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ROUND_TRIP_EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- recipes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    id: str
    kind: str  # input, parameter or constant
    shape: tuple[int, ...]
    dtype: str = "float64"
    #: A value the recipe needs as it is (the 1 in ``1 + square(x)``, class labels); None: drawn freely.
    fixed: np.ndarray | None = None


@dataclass(frozen=True)
class Node:
    id: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    leaves: tuple[Leaf, ...]
    nodes: tuple[Node, ...]
    loss: str

    @property
    def float_leaves(self) -> tuple[Leaf, ...]:
        return tuple(leaf for leaf in self.leaves if leaf.dtype == "float64")

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        leaves = ", ".join(f"{leaf.kind} {leaf.id}{leaf.shape}" for leaf in self.leaves)
        nodes = "; ".join(f"{n.id} = {n.op}({', '.join(n.inputs)}){n.attrs or ''}" for n in self.nodes)
        return f"Recipe(leaves: {leaves}; nodes: {nodes}; loss {self.loss})"


def build(recipe: Recipe, values: dict[str, np.ndarray]) -> gd.Graph:
    """The recipe as a graph, built with the Python API; ``values`` holds every free float leaf's value."""
    g = gd.Graph("random")
    tensors: dict[str, gd.Tensor] = {}
    for leaf in recipe.leaves:
        value = leaf.fixed if leaf.fixed is not None else values[leaf.id]
        if leaf.kind == "input":
            tensors[leaf.id] = g.input(leaf.id, value=value, dtype=leaf.dtype)
        elif leaf.kind == "parameter":
            tensors[leaf.id] = g.parameter(leaf.id, value, dtype=leaf.dtype)
        else:
            tensors[leaf.id] = g.constant(leaf.id, value, dtype=leaf.dtype)
    for node in recipe.nodes:
        tensors[node.id] = g.apply(node.op, *(tensors[i] for i in node.inputs), id=node.id, **node.attrs)
    g.set_loss(tensors[recipe.loss])
    return g


def leaf_values(recipe: Recipe, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every leaf's value, fixed ones included."""
    return {leaf.id: leaf.fixed if leaf.fixed is not None else values[leaf.id] for leaf in recipe.leaves}


# --- plain numpy reference ---------------------------------------------------------------------------------


def _axes(attrs: dict[str, Any]) -> int | tuple[int, ...] | None:
    axis = attrs.get("axis")
    return tuple(axis) if isinstance(axis, list) else axis


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    logits2 = logits.reshape(-1, logits.shape[-1])
    log_probs = _log_softmax(logits2, axis=1)
    return -np.mean(log_probs[np.arange(logits2.shape[0]), labels.reshape(-1)])


#: Each op written the naive way (values are bounded, so no stabilizing is needed).
REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "add": lambda attrs, a, b: a + b,
    "sub": lambda attrs, a, b: a - b,
    "mul": lambda attrs, a, b: a * b,
    "div": lambda attrs, a, b: a / b,
    "neg": lambda attrs, x: -x,
    "square": lambda attrs, x: x**2,
    "exp": lambda attrs, x: np.exp(x),
    "log": lambda attrs, x: np.log(x),
    "tanh": lambda attrs, x: np.tanh(x),
    "sigmoid": lambda attrs, x: 1.0 / (1.0 + np.exp(-x)),
    "pow": lambda attrs, x: x ** attrs["exponent"],
    "matmul": lambda attrs, a, b: np.matmul(a, b),
    "sum": lambda attrs, x: np.sum(x, axis=_axes(attrs), keepdims=attrs.get("keepdims", False)),
    "mean": lambda attrs, x: np.mean(x, axis=_axes(attrs), keepdims=attrs.get("keepdims", False)),
    "softmax": lambda attrs, x: np.exp(x) / np.sum(np.exp(x), axis=attrs["axis"], keepdims=True),
    "log_softmax": lambda attrs, x: _log_softmax(x, attrs["axis"]),
    "reshape": lambda attrs, x: np.reshape(x, attrs["shape"]),
    "transpose": lambda attrs, x: np.transpose(x, attrs.get("axes")),
    "softmax_cross_entropy": lambda attrs, logits, labels: _cross_entropy(logits, labels),
    "squared_error": lambda attrs, p, t: 0.5 * np.mean((p - t) ** 2),
}


def reference_values(recipe: Recipe, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {id: np.asarray(v) for id, v in leaf_values(recipe, values).items()}
    for node in recipe.nodes:
        out[node.id] = np.asarray(REFERENCE[node.op](node.attrs, *(out[i] for i in node.inputs)))
    return out


# --- the strategy -------------------------------------------------------------------------------------------


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _reshape_targets(size: int) -> list[list[int]]:
    """Shapes of 0 to 3 dimensions holding ``size`` elements, and the same with one -1."""
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    shapes = [[]] if size == 1 else []
    for ndim in (1, 2, 3):
        shapes += [list(s) for s in product(divisors, repeat=ndim) if math.prod(s) == size]
    return shapes + [[-1 if i == 0 else d for i, d in enumerate(s)] for s in shapes if s]


class RecipeBuilder:
    """Draws a recipe op by op, tracking each value's shape and a bound on its magnitude."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.leaves: list[Leaf] = []
        self.nodes: list[Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.bounds: dict[str, float] = {}
        self.pool: list[str] = []  # float values ops may use
        self.squashed: dict[str, str] = {}
        self.labels: set[str] = set()  # int64 leaves
        self.one: str | None = None

    # leaves and nodes

    def leaf(self, kind: str, shape: tuple[int, ...], *, fixed: Any = None, dtype: str = "float64") -> str:
        id = f"{kind[0]}{len(self.leaves)}"
        value = None if fixed is None else np.asarray(fixed, dtype=dtype)
        self.leaves.append(Leaf(id, kind, shape, dtype, value))
        self.shapes[id] = shape
        if dtype == "int64":
            self.labels.add(id)
        else:
            self.bounds[id] = LEAF_RANGE if fixed is None else float(np.max(np.abs(value), initial=0.0))
            self.pool.append(id)
        return id

    def node(self, op: str, inputs: tuple[str, ...], bound: float, **attrs: Any) -> str:
        id = f"n{len(self.nodes)}"
        dummies = [
            np.zeros(self.shapes[i], dtype=np.int64) if i in self.labels else np.full(self.shapes[i], 0.5)
            for i in inputs
        ]
        self.shapes[id] = np.shape(REFERENCE[op](attrs, *dummies))
        self.bounds[id] = bound
        self.nodes.append(Node(id, op, inputs, attrs))
        self.pool.append(id)
        return id

    # picking operands

    def pick(self, accept: Callable[[tuple[int, ...]], bool] = lambda shape: True) -> str | None:
        candidates = [id for id in self.pool if accept(self.shapes[id])]
        return self.draw(st.sampled_from(candidates)) if candidates else None

    def squash(self, id: str) -> str:
        """tanh(id), made once and then reused (more fan-out)."""
        if id not in self.squashed:
            self.squashed[id] = self.node("tanh", (id,), 1.0)
        return self.squashed[id]

    def tame(self, id: str) -> str:
        """``id`` itself if it is small enough, else tanh(id)."""
        return id if self.bounds[id] <= LIMIT else self.squash(id)

    def positive(self, id: str) -> tuple[str, float, float]:
        """A value in [lo, hi] with 0 < lo made from ``id``: 1 + square(tanh(id)) or exp(tanh(id))."""
        small = self.squash(id)
        if self.draw(st.booleans()):
            if self.one is None:
                self.one = self.leaf("constant", (), fixed=1.0)
            return self.node("add", (self.one, self.node("square", (small,), 1.0)), 2.0), 1.0, 2.0
        return self.node("exp", (small,), math.e), 1 / math.e, math.e

    # one random op

    def add_op(self, op: str) -> str | None:
        b = self.bounds
        if op in ("add", "sub", "mul"):
            a = self.tame(self.pick())
            other = self.tame(self.pick(lambda s: _broadcastable(s, self.shapes[a])))
            bound = b[a] * b[other] if op == "mul" else b[a] + b[other]
            return self.node(op, (a, other), bound)
        if op == "div":
            a = self.tame(self.pick())
            source = self.pick(lambda s: _broadcastable(s, self.shapes[a]))
            denominator, lo, _ = self.positive(source)
            return self.node("div", (a, denominator), b[a] / lo)
        if op in ("neg", "tanh", "sigmoid"):
            x = self.pick()
            return self.node(op, (x,), b[x] if op == "neg" else 1.0)
        if op == "square":
            x = self.tame(self.pick())
            return self.node("square", (x,), b[x] ** 2)
        if op == "exp":
            return self.node("exp", (self.squash(self.pick()),), math.e)
        if op == "log":
            base, lo, hi = self.positive(self.pick())
            return self.node("log", (base,), max(abs(math.log(lo)), abs(math.log(hi))))
        if op == "pow":
            base, lo, hi = self.positive(self.pick())
            p = self.draw(st.sampled_from(EXPONENTS))
            return self.node("pow", (base,), max(lo**p, hi**p), exponent=p)
        if op == "matmul":
            return self.add_matmul()
        if op in ("sum", "mean"):
            return self.add_reduction(op)
        if op in ("softmax", "log_softmax"):
            x = self.pick(lambda s: len(s) >= 1)
            if x is None:
                return None
            x = self.tame(x)
            ndim = len(self.shapes[x])
            axis = self.draw(st.integers(-ndim, ndim - 1))
            bound = 1.0 if op == "softmax" else 2 * b[x] + math.log(self.shapes[x][axis])
            return self.node(op, (x,), bound, axis=axis)
        if op == "reshape":
            x = self.pick()
            target = self.draw(st.sampled_from(_reshape_targets(math.prod(self.shapes[x]))))
            return self.node("reshape", (x,), b[x], shape=target)
        if op == "transpose":
            x = self.pick()
            ndim = len(self.shapes[x])
            axes = self.draw(st.none() | st.permutations(range(ndim)).map(list))
            return self.node("transpose", (x,), b[x], axes=axes)
        raise AssertionError(op)

    def add_matmul(self) -> str | None:
        def partners(shape: tuple[int, ...]) -> list[str]:
            return [
                id for id in self.pool if len(self.shapes[id]) in (1, 2) and self.shapes[id][0] == shape[-1]
            ]

        a = self.pick(lambda s: len(s) in (1, 2) and bool(partners(s)))
        if a is None:
            return None
        other = self.draw(st.sampled_from(partners(self.shapes[a])))
        a, other = self.tame(a), self.tame(other)
        return self.node("matmul", (a, other), self.bounds[a] * self.bounds[other] * self.shapes[a][-1])

    def add_reduction(self, op: str) -> str:
        x = self.pick()
        ndim = len(self.shapes[x])
        axis: Any = None
        if ndim:
            axis = self.draw(
                st.none()
                | st.integers(-ndim, ndim - 1)
                | st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
            )
        keepdims = self.draw(st.booleans())
        attrs = {"axis": axis, "keepdims": keepdims} if axis is not None else {"keepdims": keepdims}
        count = math.prod(self.shapes[x]) / max(
            1, math.prod(REFERENCE[op](attrs, np.ones(self.shapes[x])).shape)
        )
        bound = self.bounds[x] * (count if op == "sum" else 1.0)
        return self.node(op, (x,), bound, **attrs)

    # the loss

    def finish(self) -> Recipe:
        """Add the loss: a head on the last value, plus mean(tame(v)) for every other unused value."""
        consumed = {i for node in self.nodes for i in node.inputs}
        main = self.pool[-1]
        others = [id for id in self.pool if id not in consumed and id != main]
        shape = self.shapes[main]
        heads = ["sum", "squared_error"] + (["softmax_cross_entropy"] if len(shape) in (1, 2) else [])
        head = self.draw(st.sampled_from(heads))
        main = self.tame(main)
        if head == "sum":
            terms = [self.node("sum", (main,), self.bounds[main] * math.prod(shape))]
        elif head == "squared_error":
            target = self.leaf("constant", shape)
            terms = [self.node("squared_error", (main, target), (self.bounds[main] + LEAF_RANGE) ** 2)]
        else:
            classes = shape[-1]
            labels_shape = shape[:1] if len(shape) == 2 else ()
            labels = self.draw(arrays(np.int64, labels_shape, elements=st.integers(0, classes - 1)))
            label_leaf = self.leaf("input", labels_shape, fixed=labels, dtype="int64")
            bound = 2 * self.bounds[main] + math.log(classes)
            terms = [self.node("softmax_cross_entropy", (main, label_leaf), bound)]
        for id in others:
            terms.append(self.node("mean", (self.tame(id),), min(self.bounds[id], LIMIT)))
        loss = terms[0]
        for term in terms[1:]:
            loss = self.node("add", (loss, term), self.bounds[loss] + self.bounds[term])
        return Recipe(tuple(self.leaves), tuple(self.nodes), loss)


OPS = (
    "add", "sub", "mul", "div", "neg", "square", "exp", "tanh", "sigmoid", "log", "pow",
    "matmul", "sum", "mean", "softmax", "log_softmax", "reshape", "transpose",
)  # fmt: skip


@st.composite
def recipes(draw: st.DrawFn, max_ops: int = 10) -> Recipe:
    builder = RecipeBuilder(draw)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("input", "input", "parameter", "constant")))
        builder.leaf(kind, draw(st.sampled_from(LEAF_SHAPES)))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(OPS))
        if builder.add_op(op) is None:  # the op does not fit any shape at hand
            builder.add_op("tanh")
    return builder.finish()


def smooth_values(recipe: Recipe, seed: int) -> dict[str, np.ndarray]:
    """Generic values in [-LEAF_RANGE, LEAF_RANGE] for the free float leaves."""
    rng = np.random.default_rng(seed)
    return {
        leaf.id: rng.uniform(-LEAF_RANGE, LEAF_RANGE, size=leaf.shape)
        for leaf in recipe.float_leaves
        if leaf.fixed is None
    }


# --- gradients against centered differences ---------------------------------------------------------------


def loss_with(
    recipe: Recipe, graph: gd.Graph, values: dict[str, np.ndarray], leaf: Leaf, value: np.ndarray
) -> float:
    """The loss with ``leaf`` set to ``value``: fed when it is an input, else by rebuilding the graph."""
    if leaf.kind == "input":
        return graph.forward({leaf.id: value}).loss
    free = Recipe(
        tuple(replace(other, fixed=None) if other.id == leaf.id else other for other in recipe.leaves),
        recipe.nodes,
        recipe.loss,
    )
    return build(free, {**values, leaf.id: value}).forward().loss


def numerical_gradient(
    recipe: Recipe, graph: gd.Graph, values: dict[str, np.ndarray], leaf: Leaf
) -> np.ndarray:
    """d(loss)/d(leaf) by centered differences. The step is the exact difference of the two perturbed
    floats, so the rounding of x + h and x - h does not bias the quotient."""
    base = np.array(leaf_values(recipe, values)[leaf.id], dtype=np.float64)
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        up, down = base.copy(), base.copy()
        up[index] += H
        down[index] -= H
        difference = loss_with(recipe, graph, values, leaf, up) - loss_with(recipe, graph, values, leaf, down)
        grad[index] = difference / (up[index] - down[index])
    return grad


@GRADIENT_EXAMPLES
@given(recipe=recipes(), seed=st.integers(0, 2**32 - 1))
def test_gradients_of_random_graphs_match_centered_differences(recipe, seed):
    values = smooth_values(recipe, seed)
    graph = build(recipe, values)
    result = graph.run()
    expected = reference_values(recipe, values)
    for id, value in expected.items():
        np.testing.assert_allclose(result.value(id), value, rtol=1e-10, atol=1e-12, err_msg=f"value of {id}")
    assert result.value(recipe.loss).shape == ()
    analytic = {leaf.id: result.grad(leaf.id).copy() for leaf in recipe.float_leaves}
    for leaf in recipe.float_leaves:
        numeric = numerical_gradient(recipe, graph, values, leaf)
        assert analytic[leaf.id].shape == leaf.shape
        np.testing.assert_allclose(
            analytic[leaf.id], numeric, rtol=RTOL, atol=ATOL, err_msg=f"d loss / d {leaf.id} ({leaf.kind})"
        )
    report = gd.check_gradients(graph)
    assert report.passed, report.table()


def test_the_recipe_strategy_draws_every_op_fan_out_and_broadcasting():
    """The property above is only as good as the graphs it sees: over a fixed sample, every op appears,
    some value feeds several nodes, and some binary op broadcasts its operands."""
    seen_ops: set[str] = set()
    fan_out = broadcast = 0

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(recipe=recipes())
    def collect(recipe):
        nonlocal fan_out, broadcast
        seen_ops.update(node.op for node in recipe.nodes)
        uses = [i for node in recipe.nodes for i in node.inputs]
        fan_out += any(uses.count(i) > 1 for i in set(uses))
        shapes = reference_values(recipe, smooth_values(recipe, 0))
        broadcast += any(
            node.op in ("add", "sub", "mul", "div")
            and shapes[node.inputs[0]].shape != shapes[node.inputs[1]].shape
            for node in recipe.nodes
        )

    collect()
    assert seen_ops >= set(OPS) | {"softmax_cross_entropy", "squared_error"}
    assert fan_out >= 50
    assert broadcast >= 20


# --- save -> load is bit-exact ------------------------------------------------------------------------------


def bits(array: Any) -> tuple[str, tuple[int, ...], list[str]]:
    """An array's dtype, shape and the exact bits of each element (as hex floats, readable in a diff)."""
    a = np.asarray(array)
    if a.dtype == np.float64:
        words = np.ascontiguousarray(a).view(np.uint64).ravel()
        return (
            str(a.dtype),
            a.shape,
            [f"{float(v).hex()}|{w:016x}" for v, w in zip(a.ravel(), words, strict=True)],
        )
    return str(a.dtype), a.shape, [str(v) for v in a.ravel()]


@contextmanager
def quiet_floats() -> Iterator[None]:
    """Extreme leaf values overflow to inf and nan along the way; that is expected here."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


ANY_FLOAT = st.sampled_from(TRICKY_FLOATS) | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def wild_values(draw: st.DrawFn, recipe: Recipe) -> dict[str, np.ndarray]:
    return {
        leaf.id: draw(arrays(np.float64, leaf.shape, elements=ANY_FLOAT))
        for leaf in recipe.float_leaves
        if leaf.fixed is None
    }


def assert_round_trip_is_exact(recipe: Recipe, values: dict[str, np.ndarray]) -> None:
    graph = build(recipe, values)
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder, "first.json"), Path(folder, "second.json")
        gd.save(graph, first)
        loaded = gd.load(first)
        gd.save(loaded, second)
        assert second.read_bytes() == first.read_bytes()
    with quiet_floats():
        before = graph.run()
        after = loaded.run()
    for id, value in leaf_values(recipe, values).items():
        assert bits(before.value(id)) == bits(value), id
        assert bits(after.value(id)) == bits(value), id
    assert bits(after.value(recipe.loss)) == bits(before.value(recipe.loss))
    assert after.grads.keys() == before.grads.keys()
    for id, grad in before.grads.items():
        assert bits(after.grad(id)) == bits(grad), id


@ROUND_TRIP_EXAMPLES
@given(data=st.data(), recipe=recipes(max_ops=6))
def test_save_then_load_is_bit_exact_for_any_float64_values(data, recipe):
    assert_round_trip_is_exact(recipe, data.draw(wild_values(recipe)))


def test_save_then_load_is_bit_exact_for_tricky_floats():
    """Every tricky value, in every leaf kind, through a graph that uses them all."""
    tricky = np.array(TRICKY_FLOATS)
    n = tricky.size
    recipe = Recipe(
        leaves=(Leaf("x", "input", (n,)), Leaf("w", "parameter", (n,)), Leaf("c", "constant", (n,))),
        nodes=(
            Node("xw", "mul", ("x", "w")),
            Node("s", "sub", ("xw", "c")),
            Node("t", "tanh", ("s",)),
            Node("L", "sum", ("t",)),
        ),
        loss="L",
    )
    assert_round_trip_is_exact(recipe, {"x": tricky, "w": tricky[::-1].copy(), "c": -tricky})
    assert_round_trip_is_exact(recipe, {"x": np.full(n, 0.1), "w": tricky * 0.5, "c": tricky})


# --- same seed, same bits, in another process ------------------------------------------------------------


def seeded_spec(seed: int) -> dict[str, Any]:
    """A two-layer classifier whose data and weights all come from seeded initializers."""
    return {
        "format_version": 1,
        "name": f"seeded_{seed}",
        "leaves": [
            {
                "id": "X",
                "kind": "input",
                "shape": [6, 5],
                "value": {"init": "uniform", "low": -1.0, "high": 1.0, "seed": seed},
            },
            {"id": "y", "kind": "input", "dtype": "int64", "value": [0, 2, 1, 3, 3, 0]},
            {
                "id": "W1",
                "kind": "parameter",
                "shape": [5, 8],
                "value": {"init": "normal", "std": 0.5, "seed": seed + 1},
            },
            {
                "id": "b1",
                "kind": "parameter",
                "shape": [8],
                "value": {"init": "uniform", "low": -0.1, "high": 0.1, "seed": seed + 2},
            },
            {
                "id": "W2",
                "kind": "parameter",
                "shape": [8, 4],
                "value": {"init": "normal", "mean": 0.1, "std": 0.3, "seed": seed + 3},
            },
        ],
        "nodes": [
            {"id": "h_pre", "op": "matmul", "inputs": ["X", "W1"]},
            {"id": "h_lin", "op": "add", "inputs": ["h_pre", "b1"]},
            {"id": "h", "op": "tanh", "inputs": ["h_lin"]},
            {"id": "scores", "op": "matmul", "inputs": ["h", "W2"]},
            {"id": "data_loss", "op": "softmax_cross_entropy", "inputs": ["scores", "y"]},
            {"id": "reg", "op": "l2_regularization", "inputs": ["W1"], "attrs": {"lambda": 0.01}},
            {"id": "L", "op": "add", "inputs": ["data_loss", "reg"]},
        ],
        "loss": "L",
    }


#: Run each spec read from stdin (a JSON list of spec texts); print the loss and every gradient in hex.
REPORT_SCRIPT = """
import json, sys
import graphdiff as gd
for text in json.load(sys.stdin):
    result = gd.loads(text).run()
    print("loss", float(result.loss).hex())
    for id in sorted(result.grads):
        print(id, " ".join(float(v).hex() for v in result.grads[id].ravel()))
"""


def report_in_process(texts: list[str]) -> str:
    lines = []
    for text in texts:
        result = gd.loads(text).run()
        lines.append(f"loss {float(result.loss).hex()}")
        for id in sorted(result.grads):
            lines.append(f"{id} " + " ".join(float(v).hex() for v in result.grads[id].ravel()))
    return "\n".join(lines) + "\n"


def report_in_subprocess(texts: list[str], hash_seed: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", REPORT_SCRIPT],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_same_seed_gives_bit_identical_results_in_two_processes():
    seeds = [0, 1, 12345, 2**31]
    texts = [json.dumps(seeded_spec(seed)) for seed in seeds]
    first = report_in_subprocess(texts, hash_seed="1")
    second = report_in_subprocess(texts, hash_seed="2024")
    assert first == second
    assert first == report_in_process(texts)
    losses = [line for line in first.splitlines() if line.startswith("loss ")]
    assert len(losses) == len(seeds)
    assert len(set(losses)) == len(seeds), "different seeds should give different losses"
    # 12 lines per spec: the loss and 11 gradients (4 float leaves, 7 nodes), none of them all zeros.
    assert len(first.splitlines()) == len(seeds) * 12
    assert all(set(line.split()[1:]) != {"0x0.0p+0"} for line in first.splitlines())


@pytest.mark.parametrize("seed", [0, 7])
def test_same_seed_gives_the_same_initial_values_in_one_process(seed):
    text = json.dumps(seeded_spec(seed))
    one, two = gd.loads(text).forward(), gd.loads(text).forward()
    for id in ("X", "W1", "b1", "W2"):
        assert bits(one.value(id)) == bits(two.value(id)), id
    other = gd.loads(json.dumps(seeded_spec(seed + 100))).forward()
    assert bits(other.value("W1")) != bits(one.value("W1"))
