"""The one table of op cases: a row for every op in ``graphdiff.ops.REGISTRY``.

The table is assembled here from one part per op family: the rows below, and ``CASES`` of each
``tests/op_cases_<family>.py`` (imported at the end of this file; they take Family, OpCase and the input
generators from here). Adding an op adds its row to its family's part.

Each row names the op, the shape families it is tested on (input shapes plus attributes), how to draw
valid float64 inputs for a family (kept away from kinks and domain edges so centered differences are
exact to ~1e-9), and a plain-numpy reference forward written here, independently of the op's own code.

tests/test_ops.py parametrizes over this table for forward-vs-numpy, gradient checks, shape rules,
attribute validation and dtype handling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]
Inputs = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Family:
    """One way of calling an op: the shapes of its inputs and the attributes to pass."""

    shapes: tuple[Shape, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        shapes = "+".join("x".join(map(str, s)) if s else "scalar" for s in self.shapes)
        if not self.attrs:
            return shapes
        attrs = ",".join(f"{k}={v!r}".replace(" ", "") for k, v in self.attrs.items())
        return f"{shapes}[{attrs}]"


@dataclass(frozen=True)
class OpCase:
    """A row of the table."""

    op: str
    families: tuple[Family, ...]
    #: Valid inputs for a family: (rng, family) -> one array per input (float64, labels int64).
    make_inputs: Callable[[np.random.Generator, Family], Inputs]
    #: Plain-numpy forward: (attrs, *inputs) -> expected output.
    reference: Callable[..., Any]
    #: A scalar loss: the gradient check differentiates its output directly.
    is_loss: bool = False
    #: Refuses integer inputs (reshape and transpose move any dtype).
    float_only: bool = True
    #: The output's dtype for float64 inputs (comparisons give bool, one_hot float64, cast its dtype).
    out_dtype: str = "float64"

    @property
    def differentiable(self) -> bool:
        """Whether a gradient flows through the op (its output is a float)."""
        return self.out_dtype in ("float64", "float32")

    def params(self) -> list[tuple[OpCase, Family]]:
        return [(self, family) for family in self.families]


# --- input generators --------------------------------------------------------------------------------


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _uniform(rng: np.random.Generator, shape: Shape, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return _arr(rng.uniform(low, high, size=shape))


def _away_from_zero(rng: np.random.Generator, shape: Shape, margin: float, high: float = 2.0) -> np.ndarray:
    sign = rng.choice([-1.0, 1.0], size=shape)
    return _arr(sign * rng.uniform(margin, high, size=shape))


def any_floats(rng: np.random.Generator, family: Family) -> Inputs:
    """Smooth ops: anything in [-2, 2]."""
    return tuple(_uniform(rng, s) for s in family.shapes)


def positive(rng: np.random.Generator, family: Family) -> Inputs:
    """log and pow: bases in [0.5, 2], away from the domain edge at 0."""
    return tuple(_uniform(rng, s, 0.5, 2.0) for s in family.shapes)


def nonzero(rng: np.random.Generator, family: Family) -> Inputs:
    """relu, abs, l1: |x| >= 0.1, away from the kink at 0."""
    return tuple(_away_from_zero(rng, s, 0.1) for s in family.shapes)


def pow_bases(rng: np.random.Generator, family: Family) -> Inputs:
    """pow: any sign with |x| >= 0.5 for an integer exponent; positive bases in [0.5, 2] otherwise (a
    negative base with a fractional exponent is nan)."""
    (shape,) = family.shapes
    if float(family.attrs["exponent"]).is_integer():
        return (_away_from_zero(rng, shape, 0.5),)
    return (_uniform(rng, shape, 0.5, 2.0),)


def numerator_and_denominator(rng: np.random.Generator, family: Family) -> Inputs:
    """div: |b| >= 0.5."""
    a_shape, b_shape = family.shapes
    return _uniform(rng, a_shape), _away_from_zero(rng, b_shape, 0.5)


def separated_pair(rng: np.random.Generator, family: Family, margin: float = 0.05) -> Inputs:
    """maximum and minimum: |a - b| > margin at every position of the broadcast."""
    a_shape, b_shape = family.shapes
    while True:
        a, b = _uniform(rng, a_shape), _uniform(rng, b_shape)
        if np.all(np.abs(a - b) > margin):
            return a, b


def distinct(rng: np.random.Generator, family: Family) -> Inputs:
    """reduce max: all values distinct, at least 0.3 apart, so the maximum is never tied."""
    (shape,) = family.shapes
    n = math.prod(shape)
    values = rng.permutation(n) * 0.5 + rng.uniform(-0.1, 0.1, size=n) - n / 4
    return (_arr(values.reshape(shape)),)


def _labels(rng: np.random.Generator, scores_shape: Shape, labels_shape: Shape) -> np.ndarray:
    return np.asarray(rng.integers(0, scores_shape[-1], size=labels_shape), dtype=np.int64)


def scores_and_labels(rng: np.random.Generator, family: Family) -> Inputs:
    scores_shape, labels_shape = family.shapes
    return _arr(rng.normal(0.0, 1.5, size=scores_shape)), _labels(rng, scores_shape, labels_shape)


def hinge_scores_and_labels(rng: np.random.Generator, family: Family, margin: float = 0.05) -> Inputs:
    """multiclass_hinge: every margin s_j - s_y + delta (j != y) at least ``margin`` away from 0."""
    scores_shape, labels_shape = family.shapes
    delta = family.attrs.get("delta", 1.0)
    while True:
        scores = _uniform(rng, scores_shape)
        labels = _labels(rng, scores_shape, labels_shape)
        margins = hinge_margins(scores, labels, delta)
        wrong = np.ones(margins.shape, dtype=bool)
        wrong[np.arange(margins.shape[0]), labels.reshape(-1)] = False
        if np.all(np.abs(margins[wrong]) > margin):
            return scores, labels


# --- reference forwards (plain numpy, written independently of graphdiff) -----------------------------


def _axes(axis: int | list[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in ([axis] if isinstance(axis, int) else axis)))


def ref_matmul(attrs: Mapping[str, Any], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of products over the inner index, with 1-D operands promoted and the promoted axis dropped."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    product = (a2[:, :, np.newaxis] * b2[np.newaxis, :, :]).sum(axis=1)
    return product.reshape(a.shape[:-1] + b.shape[1:])


def ref_transpose(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    axes = attrs.get("axes")
    perm = list(reversed(range(x.ndim))) if axes is None else [a % x.ndim for a in axes]
    letters = "abcdefgh"[: x.ndim]
    return np.einsum(f"{letters}->{''.join(letters[p] for p in perm)}", x)


def ref_reshape(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    target = list(attrs["shape"])
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = x.size // known
    flat = [float(v) for v in x.flatten()]
    return np.array(flat, dtype=np.float64).reshape(target)


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def reference(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
        return fn(x, axis=_axes(attrs.get("axis"), x.ndim), keepdims=attrs.get("keepdims", False))

    return reference


def _mean(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    count = math.prod(x.shape[i] for i in axis)
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / count


def _logsumexp(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return np.log(np.add.reduce(np.exp(x), axis=axis, keepdims=keepdims))  # unshifted: small test inputs


def ref_softmax(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    e = np.exp(x)  # unshifted: the test inputs are small
    return e / e.sum(axis=attrs.get("axis", -1), keepdims=True)


def ref_log_softmax(attrs: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    return x - np.log(np.exp(x).sum(axis=attrs.get("axis", -1), keepdims=True))


def _rows(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    return scores.reshape(-1, scores.shape[-1]), [int(y) for y in labels.reshape(-1)]


def ref_softmax_cross_entropy(attrs: Mapping[str, Any], logits: np.ndarray, labels: np.ndarray) -> float:
    rows, ys = _rows(logits, labels)
    losses = [
        -math.log(math.exp(row[y]) / sum(math.exp(s) for s in row)) for row, y in zip(rows, ys, strict=True)
    ]
    return sum(losses) / len(losses)


def hinge_margins(scores: np.ndarray, labels: np.ndarray, delta: float) -> np.ndarray:
    rows, ys = _rows(scores, labels)
    return np.array([[s - row[y] + delta for s in row] for row, y in zip(rows, ys, strict=True)])


def ref_multiclass_hinge(attrs: Mapping[str, Any], scores: np.ndarray, labels: np.ndarray) -> float:
    delta = attrs.get("delta", 1.0)
    rows, ys = _rows(scores, labels)
    total = 0.0
    for row, y in zip(rows, ys, strict=True):
        total += sum(max(0.0, row[j] - row[y] + delta) for j in range(len(row)) if j != y)
    return total / len(rows)


def ref_squared_error(attrs: Mapping[str, Any], prediction: np.ndarray, target: np.ndarray) -> float:
    total = 0.5 * float(((prediction - target) ** 2).sum())
    return total / prediction.size if attrs.get("reduction", "mean") == "mean" else total


# --- shape families ----------------------------------------------------------------------------------

SCALAR: Shape = ()
VECTOR: Shape = (3,)
MATRIX: Shape = (3, 2)

UNARY = tuple(Family((s,)) for s in (SCALAR, VECTOR, MATRIX))
BINARY = tuple(
    Family(pair)
    for pair in [
        ((), ()),
        ((3,), (3,)),
        ((3, 2), (3, 2)),
        ((3, 2), (2,)),
        ((3, 1), (1, 2)),
        ((), (3, 2)),
        ((2,), (3, 2)),
        ((2, 1, 3), (4, 1)),
    ]
)
REDUCTIONS = (
    Family((SCALAR,)),
    Family((VECTOR,)),
    Family((VECTOR,), {"axis": 0}),
    Family((MATRIX,)),
    Family((MATRIX,), {"axis": 0}),
    Family((MATRIX,), {"axis": 1}),
    Family((MATRIX,), {"axis": -1}),
    Family((MATRIX,), {"axis": [0, 1]}),
    Family((MATRIX,), {"axis": []}),
    Family((MATRIX,), {"keepdims": True}),
    Family((MATRIX,), {"axis": 0, "keepdims": True}),
    Family((MATRIX,), {"axis": 1, "keepdims": True}),
    Family(((2, 3, 2),), {"axis": [0, 2]}),
    Family(((2, 3, 2),), {"axis": [2, 0], "keepdims": True}),
)
SOFTMAX = (
    Family((VECTOR,)),
    Family((VECTOR,), {"axis": 0}),
    Family(((2, 3),), {"axis": 0}),
    Family(((2, 3),), {"axis": 1}),
    Family(((2, 3),), {"axis": -1}),
    Family(((2, 3),), {"axis": -2}),
)
CLASSIFICATION = (
    Family(((4, 3), (4,))),
    Family(((1, 3), (1,))),
    Family(((3,), ())),
)
SAME_SHAPE_PAIRS = tuple(
    Family((s, s), attrs) for s in (SCALAR, VECTOR, MATRIX) for attrs in ({}, {"reduction": "sum"})
)
WEIGHTS = tuple(Family((s,), attrs) for s in (SCALAR, VECTOR, MATRIX) for attrs in ({}, {"lambda": 0.3}))


# --- the table ---------------------------------------------------------------------------------------


def _unary(op: str, make: Callable[..., Inputs], reference: Callable[[np.ndarray], Any]) -> OpCase:
    return OpCase(op, UNARY, make, lambda attrs, x: reference(x))


def _binary(op: str, make: Callable[..., Inputs], reference: Callable[[Any, Any], Any]) -> OpCase:
    return OpCase(op, BINARY, make, lambda attrs, a, b: reference(a, b))


CASES: tuple[OpCase, ...] = (
    # elementwise, binary (numpy broadcasting)
    _binary("add", any_floats, lambda a, b: a + b),
    _binary("sub", any_floats, lambda a, b: a - b),
    _binary("mul", any_floats, lambda a, b: a * b),
    _binary("div", numerator_and_denominator, lambda a, b: a * (1.0 / b)),
    _binary("maximum", separated_pair, lambda a, b: np.where(a > b, a, b)),
    _binary("minimum", separated_pair, lambda a, b: np.where(a < b, a, b)),
    # elementwise, unary
    _unary("neg", any_floats, lambda x: 0.0 - x),
    OpCase(
        "pow",
        tuple(
            Family((s,), {"exponent": p})
            for s in (SCALAR, VECTOR, MATRIX)
            for p in (3.0, 2.0, 2.5, 0.5, 1.0, -1.5, -2.0)
        ),
        pow_bases,
        lambda attrs, x: np.vectorize(lambda v: v ** attrs["exponent"], otypes=[float])(x),
    ),
    _unary("square", any_floats, lambda x: x**2),
    _unary("exp", any_floats, lambda x: np.e**x),
    _unary("log", positive, lambda x: np.vectorize(math.log, otypes=[float])(x)),
    _unary("abs", nonzero, lambda x: np.where(x < 0, -x, x)),
    _unary("relu", nonzero, lambda x: np.where(x > 0, x, 0.0)),
    _unary("sigmoid", any_floats, lambda x: 1.0 / (1.0 + np.exp(-x))),
    _unary("tanh", any_floats, lambda x: np.sinh(x) / np.cosh(x)),
    # linear algebra and shapes
    OpCase(
        "transpose",
        (
            Family((MATRIX,)),
            Family((MATRIX,), {"axes": [1, 0]}),
            Family((MATRIX,), {"axes": [0, 1]}),
            Family((VECTOR,)),
            Family((SCALAR,)),
            Family(((2, 3, 4),)),
            Family(((2, 3, 4),), {"axes": [1, 2, 0]}),
            Family(((2, 3, 4),), {"axes": [-1, 0, 1]}),
        ),
        any_floats,
        ref_transpose,
        float_only=False,
    ),
    OpCase(
        "reshape",
        (
            Family((MATRIX,), {"shape": [6]}),
            Family((MATRIX,), {"shape": [-1]}),
            Family((MATRIX,), {"shape": [2, 3]}),
            Family((MATRIX,), {"shape": [-1, 3]}),
            Family(((6,),), {"shape": [3, -1]}),
            Family(((2, 3, 2),), {"shape": [-1, 2]}),
            Family((SCALAR,), {"shape": [1, 1]}),
            Family(((1,),), {"shape": []}),
        ),
        any_floats,
        ref_reshape,
        float_only=False,
    ),
    # reductions
    OpCase("sum", REDUCTIONS, any_floats, _reduce(np.add.reduce)),
    OpCase("mean", REDUCTIONS, any_floats, _reduce(_mean)),
    OpCase("max", REDUCTIONS, distinct, _reduce(np.maximum.reduce)),
    OpCase("logsumexp", REDUCTIONS, any_floats, _reduce(_logsumexp)),
    # softmax
    OpCase("softmax", SOFTMAX, any_floats, ref_softmax),
    OpCase("log_softmax", SOFTMAX, any_floats, ref_log_softmax),
)

# The other parts of the table (each imports the helpers above from this module, so they come last).
from op_cases_conv import CASES as CONV_CASES  # noqa: E402
from op_cases_elementwise import CASES as ELEMENTWISE_CASES  # noqa: E402
from op_cases_indexing import CASES as INDEXING_CASES  # noqa: E402
from op_cases_linalg import CASES as LINALG_CASES  # noqa: E402
from op_cases_losses import CASES as LOSS_CASES  # noqa: E402
from op_cases_norm import CASES as NORM_CASES  # noqa: E402
from op_cases_shape import CASES as SHAPE_CASES  # noqa: E402

CASES = (
    CASES
    + ELEMENTWISE_CASES
    + INDEXING_CASES
    + SHAPE_CASES
    + LINALG_CASES
    + CONV_CASES
    + NORM_CASES
    + LOSS_CASES
)
CASES_BY_OP: dict[str, OpCase] = {case.op: case for case in CASES}
