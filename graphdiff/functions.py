"""Functions that add nodes to a graph: ``gd.sigmoid(x)``, ``gd.matmul(X, W)``, ``gd.relu(h)``.

Each is a thin, typed front for one registered op (the op's class holds its math and its gradient);
``id=`` names the new node, otherwise it gets a readable default such as ``sigmoid_1``.
Python numbers are accepted where a tensor is, and become constant leaves.
"""

from __future__ import annotations

from typing import Literal

from .api import Tensor

Operand = Tensor | float
Axis = int | list[int] | None


def _graph(*operands: Operand) -> Tensor:
    for operand in operands:
        if isinstance(operand, Tensor):
            return operand
    raise TypeError("at least one operand must be a graphdiff Tensor")


def add(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """a + b (broadcasting)."""
    return _graph(a, b).graph.apply("add", a, b, id=id)


def sub(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """a - b (broadcasting)."""
    return _graph(a, b).graph.apply("sub", a, b, id=id)


def mul(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """a * b elementwise (broadcasting)."""
    return _graph(a, b).graph.apply("mul", a, b, id=id)


def div(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """a / b elementwise (broadcasting)."""
    return _graph(a, b).graph.apply("div", a, b, id=id)


def maximum(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """max(a, b) elementwise; at ties the gradient is split equally."""
    return _graph(a, b).graph.apply("maximum", a, b, id=id)


def minimum(a: Operand, b: Operand, *, id: str | None = None) -> Tensor:
    """min(a, b) elementwise; at ties the gradient is split equally."""
    return _graph(a, b).graph.apply("minimum", a, b, id=id)


def neg(x: Tensor, *, id: str | None = None) -> Tensor:
    """-x."""
    return x.graph.apply("neg", x, id=id)


def pow(x: Tensor, exponent: float, *, id: str | None = None) -> Tensor:  # noqa: A001 (numpy's name)
    """x ** exponent, for a constant exponent."""
    return x.graph.apply("pow", x, id=id, exponent=float(exponent))


def square(x: Tensor, *, id: str | None = None) -> Tensor:
    """x^2."""
    return x.graph.apply("square", x, id=id)


def exp(x: Tensor, *, id: str | None = None) -> Tensor:
    """e^x."""
    return x.graph.apply("exp", x, id=id)


def log(x: Tensor, *, id: str | None = None) -> Tensor:
    """Natural logarithm."""
    return x.graph.apply("log", x, id=id)


def abs(x: Tensor, *, id: str | None = None) -> Tensor:  # noqa: A001 (numpy's name)
    """|x|; the gradient at 0 is 0."""
    return x.graph.apply("abs", x, id=id)


def relu(x: Tensor, *, id: str | None = None) -> Tensor:
    """max(0, x); the gradient at 0 is 0."""
    return x.graph.apply("relu", x, id=id)


def sigmoid(x: Tensor, *, id: str | None = None) -> Tensor:
    """1 / (1 + e^-x), computed stably."""
    return x.graph.apply("sigmoid", x, id=id)


def tanh(x: Tensor, *, id: str | None = None) -> Tensor:
    """tanh(x)."""
    return x.graph.apply("tanh", x, id=id)


def matmul(a: Tensor, b: Tensor, *, id: str | None = None) -> Tensor:
    """a @ b for 1-D and 2-D operands (numpy semantics)."""
    return a.graph.apply("matmul", a, b, id=id)


def transpose(x: Tensor, axes: list[int] | None = None, *, id: str | None = None) -> Tensor:
    """Permute axes (default: reverse them)."""
    return x.graph.apply("transpose", x, id=id, axes=axes)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False, *, id: str | None = None) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (default: all axes)."""
    return x.graph.apply("sum", x, id=id, axis=axis, keepdims=keepdims)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False, *, id: str | None = None) -> Tensor:
    """Mean over ``axis`` (default: all axes)."""
    return x.graph.apply("mean", x, id=id, axis=axis, keepdims=keepdims)


def max(x: Tensor, axis: Axis = None, keepdims: bool = False, *, id: str | None = None) -> Tensor:  # noqa: A001
    """Maximum over ``axis`` (default: all axes); tied maxima share the gradient."""
    return x.graph.apply("max", x, id=id, axis=axis, keepdims=keepdims)


def reshape(x: Tensor, shape: list[int], *, id: str | None = None) -> Tensor:
    """The same elements in a new shape (one entry may be -1)."""
    return x.graph.apply("reshape", x, id=id, shape=list(shape))


def softmax(x: Tensor, axis: int = -1, *, id: str | None = None) -> Tensor:
    """Softmax along ``axis``, shifted by the max for stability."""
    return x.graph.apply("softmax", x, id=id, axis=axis)


def log_softmax(x: Tensor, axis: int = -1, *, id: str | None = None) -> Tensor:
    """log softmax along ``axis``, computed stably."""
    return x.graph.apply("log_softmax", x, id=id, axis=axis)


def multiclass_hinge(scores: Tensor, labels: Tensor, delta: float = 1.0, *, id: str | None = None) -> Tensor:
    """Multiclass SVM loss, mean over the batch: sum over j != y of max(0, s_j - s_y + delta)."""
    return scores.graph.apply("multiclass_hinge", scores, labels, id=id, delta=float(delta))


def softmax_cross_entropy(logits: Tensor, labels: Tensor, *, id: str | None = None) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label], computed via a stable log-sum-exp."""
    return logits.graph.apply("softmax_cross_entropy", logits, labels, id=id)


def squared_error(
    prediction: Tensor, target: Tensor, reduction: Literal["mean", "sum"] = "mean", *, id: str | None = None
) -> Tensor:
    """1/2 (prediction - target)^2, averaged (``mean``) or summed over elements."""
    return prediction.graph.apply("squared_error", prediction, target, id=id, reduction=reduction)


def l2_regularization(w: Tensor, lam: float = 1.0, *, id: str | None = None) -> Tensor:
    """lam * sum(w^2) (``lambda`` in spec files)."""
    return w.graph.apply("l2_regularization", w, id=id, lam=float(lam))


def l1_regularization(w: Tensor, lam: float = 1.0, *, id: str | None = None) -> Tensor:
    """lam * sum(|w|) (``lambda`` in spec files)."""
    return w.graph.apply("l1_regularization", w, id=id, lam=float(lam))
