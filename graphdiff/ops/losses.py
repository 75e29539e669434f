"""Losses: functions of scores, predictions or weights, reduced to a scalar (or kept per example).

Classification losses take ``scores`` (``logits``, ``log_probs``) of shape (N, C) with int64 ``labels`` of
shape (N,), or a single example: (C,) with a scalar label. The others (``binary_cross_entropy_with_logits``,
``huber``, ``mse``, ``squared_error``) take two float tensors of the same shape (no broadcasting: an (N, 1)
prediction against an (N,) target would silently compare every pair).

Every loss has ``reduction``, as PyTorch's losses do: ``"mean"`` (the default) averages the per-example
losses (classification: over the N examples; the others: over every element), ``"sum"`` adds them up and
``"none"`` returns them, shape (N,) for a classification loss ((), for the (C,) single-example form) and the
elementwise shape for the others. The mean over no elements is nan (numpy's, PyTorch's and graphdiff's
``mean``), except for ``squared_error``, which has always given 0 there. ``l1_regularization`` and
``l2_regularization`` have no ``reduction``: they are sums over the weights (lambda times a norm), not
averages over examples.

Kinks:
- in ``multiclass_hinge``, a margin of exactly zero contributes no gradient (the max(0, m) gate routes
  to 0 at m = 0, as relu does);
- ``huber`` is quadratic for |d| <= delta and linear beyond; its gradient is continuous at |d| = delta
  (both pieces give delta sign(d)), so there is no kink to choose a side of;
- ``l1_regularization``'s gradient at w = 0 is 0.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..errors import ComputeError, ShapeError
from .base import Attrs, OnnxEmitter, Op, TensorType, format_shape, register, require_float, require_labels
from .softmax import stable_log_softmax

Reduction = Literal["mean", "sum", "none"]

REDUCTION_DESCRIPTION = (
    "How the per-example losses are combined: averaged (mean), added up (sum), or returned one per "
    "example (none: shape (N,) for (N, C) scores, () for a single example)."
)
ELEMENT_REDUCTION_DESCRIPTION = (
    "How the per-element losses are combined: averaged over every element (mean), added up (sum), or "
    "returned elementwise in the inputs' shape (none)."
)


def _reduction_field() -> Any:
    return Field(default="mean", description=REDUCTION_DESCRIPTION)


def _element_reduction_field() -> Any:
    return Field(default="mean", description=ELEMENT_REDUCTION_DESCRIPTION)


# --- classification losses: (scores, labels) -----------------------------------------------------------


def reduced(emit: OnnxEmitter, losses: str, ndim: int, reduction: str) -> str:
    """ONNX nodes reducing per-example or per-element ``losses`` as a loss's ``reduction`` says."""
    if reduction == "none":
        return losses
    return emit.reduce("ReduceMean" if reduction == "mean" else "ReduceSum", losses, range(ndim), False)


class ClassificationAttrs(Attrs):
    reduction: Reduction = _reduction_field()


class ClassificationLoss(Op):
    """Shared shape rule, label checks and reduction for losses over (scores, labels).

    A subclass gives the per-example losses (:meth:`per_example`, shape (N,)) and their gradient
    (:meth:`per_example_grad`, shape (N, C), for a unit upstream on every example); this class reduces
    them and scales the gradient by the upstream gradient of the reduction.
    """

    input_names = ("scores", "labels")
    non_differentiable = frozenset({"labels"})
    family = "losses"
    classifies = True
    vjp_reads = frozenset({"inputs"})
    Attrs = ClassificationAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        scores, labels = emit.cast(inputs[0], out.dtype, types[0].dtype), inputs[1]
        single = types[0].ndim == 1
        if single:  # one example: ONNX's losses take a batch
            scores, labels = (emit.op("Unsqueeze", name, emit.ints([0])) for name in (scores, labels))
        loss = self.onnx_loss(attrs, emit, scores, labels, out.dtype)
        return emit.op("Squeeze", loss, emit.ints([0])) if single and attrs.reduction == "none" else loss

    def onnx_loss(self, attrs, emit: OnnxEmitter, scores: str, labels: str, dtype: str) -> str:
        """The loss of (N, C) scores and (N,) labels, reduced as ``attrs.reduction`` says."""
        raise NotImplementedError(f"{self.name} has no ONNX form")

    def infer(self, attrs, scores: TensorType, labels: TensorType) -> TensorType:
        dtype = require_float(self, [scores], names=self.input_names[:1])
        require_labels(self, self.input_names[1], labels)
        expected = scores.shape[:1] if scores.ndim == 2 else ()
        if scores.ndim not in (1, 2) or labels.shape != expected:
            raise ShapeError(
                f"{self.name}: {self.input_names[0]} {format_shape(scores.shape)} with labels "
                f"{format_shape(labels.shape)}: expected scores (N, C) with labels (N,), "
                "or scores (C,) with a scalar label"
            )
        if scores.shape[-1] == 0 or (scores.ndim == 2 and scores.shape[0] == 0):
            raise ShapeError(f"{self.name}: {self.input_names[0]} {format_shape(scores.shape)} is empty")
        return TensorType(expected if attrs.reduction == "none" else (), dtype)

    def batch(self, scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores as (N, C) and labels as (N,), with every label checked to be a class index."""
        scores2 = scores if scores.ndim == 2 else scores[np.newaxis, :]
        labels1 = labels.reshape(-1)
        if scores2.shape[0] == 0:
            raise ComputeError(f"{self.name}: the batch is empty")
        classes = scores2.shape[1]
        bad = (labels1 < 0) | (labels1 >= classes)
        if bad.any():
            raise ComputeError(
                f"{self.name}: label {int(labels1[bad][0])} is not a class index (0 to {classes - 1})"
            )
        return scores2, labels1

    def per_example(self, attrs, scores2: np.ndarray, labels1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def per_example_grad(self, attrs, scores2: np.ndarray, labels1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, attrs, scores, labels):
        scores2, labels1 = self.batch(scores, labels)
        losses = self.per_example(attrs, scores2, labels1)
        if attrs.reduction == "none":
            return losses.reshape(scores.shape[:-1])
        total = np.sum(losses)
        return total / scores2.shape[0] if attrs.reduction == "mean" else total

    def vjp(self, attrs, upstream, out, values, needs):
        scores, labels = values
        scores2, labels1 = self.batch(scores, labels)
        grad = self.per_example_grad(attrs, scores2, labels1)
        if attrs.reduction == "none":
            grad *= upstream.reshape(-1, 1)
        elif attrs.reduction == "mean":
            grad *= upstream / scores2.shape[0]
        else:
            grad *= upstream
        return grad.reshape(scores.shape), None


class HingeAttrs(Attrs):
    delta: float = Field(default=1.0, ge=0, description="The margin the correct class must win by.")
    reduction: Reduction = _reduction_field()


@register
class MulticlassHinge(ClassificationLoss):
    """Multiclass SVM loss, averaged over the batch by default:

    L_i = sum over j != y_i of max(0, s_j - s_{y_i} + delta);  L = (1/N) sum_i L_i (reduction "mean"),
    sum_i L_i ("sum") or the L_i themselves ("none").

    Gradient of L_i: each wrong class j with a positive margin gets +1; the correct class gets -(number
    of positive margins); "mean" divides by N. Kink: a margin of exactly 0 counts as not positive
    (contributes 0).
    """

    name = "multiclass_hinge"
    symbol = "hinge"
    Attrs = HingeAttrs

    def onnx_loss(self, attrs, emit, scores, labels, dtype):
        correct = emit.op("GatherElements", scores, emit.op("Unsqueeze", labels, emit.ints([1])), axis=1)
        margins = emit.op(
            "Relu", emit.op("Add", emit.op("Sub", scores, correct), emit.scalar(attrs.delta, dtype))
        )
        # The correct class's own margin is max(0, delta) = delta: take it back out.
        per_example = emit.op(
            "Sub", emit.reduce("ReduceSum", margins, [1], False), emit.scalar(attrs.delta, dtype)
        )
        return reduced(emit, per_example, 1, attrs.reduction)

    def _margins(self, attrs, scores2, labels1):
        rows = np.arange(scores2.shape[0])
        margins = scores2 - scores2[rows, labels1][:, np.newaxis] + attrs.delta
        margins[rows, labels1] = 0.0
        return margins, rows

    def per_example(self, attrs, scores2, labels1):
        margins, _ = self._margins(attrs, scores2, labels1)
        return np.sum(np.maximum(margins, 0.0), axis=1)

    def per_example_grad(self, attrs, scores2, labels1):
        margins, rows = self._margins(attrs, scores2, labels1)
        positive = (margins > 0).astype(scores2.dtype)
        positive[rows, labels1] = -positive.sum(axis=1)
        return positive


@register
class SoftmaxCrossEntropy(ClassificationLoss):
    """Softmax cross-entropy with integer labels, averaged over the batch by default:

    L_i = -log softmax(s_i)[y_i] = logsumexp(s_i) - s_{i, y_i};  L = (1/N) sum_i L_i (reduction "mean"),
    sum_i L_i ("sum") or the L_i themselves ("none").

    Computed through log-sum-exp shifted by the max, so logits of 1e3 and -1e3 are fine.
    Gradient of L_i: softmax(s_i) - onehot(y_i); "mean" divides by N. No kinks (smooth everywhere).
    """

    name = "softmax_cross_entropy"
    symbol = "softmax CE"
    input_names = ("logits", "labels")

    def onnx_loss(self, attrs, emit, scores, labels, dtype):
        return emit.op("SoftmaxCrossEntropyLoss", scores, labels, reduction=attrs.reduction)

    def per_example(self, attrs, logits2, labels1):
        log_probs = stable_log_softmax(logits2, axis=1)
        return -log_probs[np.arange(logits2.shape[0]), labels1]

    def per_example_grad(self, attrs, logits2, labels1):
        with np.errstate(under="ignore"):
            grad = np.exp(stable_log_softmax(logits2, axis=1))
        grad[np.arange(logits2.shape[0]), labels1] -= 1.0
        return grad


@register
class NLLLoss(ClassificationLoss):
    """Negative log-likelihood of the labels under given log-probabilities (PyTorch's nll_loss):

    L_i = -log_probs[i, y_i];  L = (1/N) sum_i L_i (reduction "mean"), sum_i L_i ("sum") or the L_i
    themselves ("none"). ``log_probs`` is usually log_softmax(scores); nothing checks that it is.

    Gradient of L_i: -1 at the label's entry, 0 elsewhere; "mean" divides by N. Linear, so no kinks.
    There is no ignore_index and no class weights: every label must be a class index (0 to C-1).
    """

    name = "nll_loss"
    symbol = "NLL"
    input_names = ("log_probs", "labels")

    def onnx_loss(self, attrs, emit, scores, labels, dtype):
        return emit.op("NegativeLogLikelihoodLoss", scores, labels, reduction=attrs.reduction)

    def per_example(self, attrs, log_probs2, labels1):
        return -log_probs2[np.arange(log_probs2.shape[0]), labels1]

    def per_example_grad(self, attrs, log_probs2, labels1):
        grad = np.zeros_like(log_probs2)
        grad[np.arange(log_probs2.shape[0]), labels1] = -1.0
        return grad


# --- elementwise losses: (prediction, target) of the same shape ----------------------------------------


class ElementwiseLossAttrs(Attrs):
    reduction: Reduction = _element_reduction_field()


class ElementwiseLoss(Op):
    """Shared shape rule and reduction for losses over two same-shape tensors, element by element.

    A subclass gives the elementwise losses (:meth:`elementwise_loss`) and their partial derivatives
    with respect to both inputs (:meth:`elementwise_grads`); this class reduces and scales them.
    """

    family = "losses"
    input_names = ("prediction", "target")
    vjp_reads = frozenset({"inputs"})
    Attrs = ElementwiseLossAttrs
    #: The reduction "mean" of no elements (nan, as numpy, PyTorch and graphdiff's mean give).
    empty_mean = float("nan")

    def to_onnx(self, attrs, emit, inputs, types, out):
        a, b = (emit.cast(name, out.dtype, t.dtype) for name, t in zip(inputs, types, strict=True))
        losses = self.onnx_elementwise(attrs, emit, a, b, out.dtype)
        return reduced(emit, losses, types[0].ndim, attrs.reduction)

    def onnx_elementwise(self, attrs, emit: OnnxEmitter, a: str, b: str, dtype: str) -> str:
        """The elementwise losses as ONNX nodes (no ONNX op has them: each is written out)."""
        raise NotImplementedError(f"{self.name} has no ONNX form")

    def infer(self, attrs, first: TensorType, second: TensorType) -> TensorType:
        dtype = require_float(self, [first, second])
        if first.shape != second.shape:
            a, b = self.input_names
            raise ShapeError(
                f"{self.name}: {a} {format_shape(first.shape)} and {b} {format_shape(second.shape)} "
                "must have the same shape"
            )
        return TensorType(first.shape if attrs.reduction == "none" else (), dtype)

    def elementwise_loss(self, attrs, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def elementwise_grads(self, attrs, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def forward(self, attrs, a, b):
        losses = self.elementwise_loss(attrs, a, b)
        if attrs.reduction == "none":
            return losses
        total = np.sum(losses)
        if attrs.reduction == "sum":
            return total
        if losses.size == 0:
            return np.asarray(self.empty_mean, dtype=losses.dtype)
        return total / losses.size

    def vjp(self, attrs, upstream, out, values, needs):
        a, b = values
        grad_a, grad_b = self.elementwise_grads(attrs, a, b)
        if attrs.reduction == "mean" and a.size:
            scale = upstream / a.size
        else:
            scale = upstream  # "sum" and "none" (elementwise; same shape as the losses)
        return (
            (grad_a * scale).astype(a.dtype, copy=False) if needs[0] else None,
            (grad_b * scale).astype(b.dtype, copy=False) if needs[1] else None,
        )


@register
class SquaredError(ElementwiseLoss):
    """L = 1/2 (y - t)^2 per element, averaged over elements by default (the backprop lecture's loss:
    dL/dy = y - t); reduction "sum" adds them up and "none" returns them.

    Gradient: (y - t) for the prediction, -(y - t) for the target ("mean" divides by the element count).
    ``prediction`` and ``target`` must have the same shape: no broadcasting, since an (N, 1) prediction
    against an (N,) target would silently compare every pair. Its mean over no elements is 0 (unlike mse).
    """

    name = "squared_error"
    symbol = "½(y−t)²"
    empty_mean = 0.0

    def onnx_elementwise(self, attrs, emit, a, b, dtype):
        diff = emit.op("Sub", a, b)
        return emit.op("Mul", emit.scalar(0.5, dtype), emit.op("Mul", diff, diff))

    def elementwise_loss(self, attrs, prediction, target):
        diff = prediction - target
        return 0.5 * (diff * diff)

    def elementwise_grads(self, attrs, prediction, target):
        diff = prediction - target
        return diff, -diff


@register
class MSE(ElementwiseLoss):
    """Mean squared error (PyTorch's mse_loss): L = (y - t)^2 per element (no 1/2), averaged over
    elements by default; reduction "sum" adds them up and "none" returns them.

    Gradient: 2 (y - t) for the prediction, -2 (y - t) for the target ("mean" divides by the element
    count). Same shapes only, as squared_error. Smooth: no kinks.
    """

    name = "mse"
    symbol = "(y−t)²"

    def onnx_elementwise(self, attrs, emit, a, b, dtype):
        diff = emit.op("Sub", a, b)
        return emit.op("Mul", diff, diff)

    def elementwise_loss(self, attrs, prediction, target):
        diff = prediction - target
        return diff * diff

    def elementwise_grads(self, attrs, prediction, target):
        diff = prediction - target
        return 2.0 * diff, -2.0 * diff


class HuberAttrs(Attrs):
    delta: float = Field(
        default=1.0, gt=0, description="Where the loss turns from quadratic to linear (|y - t| = delta)."
    )
    reduction: Reduction = _element_reduction_field()


@register
class Huber(ElementwiseLoss):
    """Huber loss (PyTorch's huber_loss), with d = y - t per element:

    L = 1/2 d^2 where |d| <= delta, delta (|d| - delta/2) elsewhere; averaged over elements by default,
    reduction "sum" adds them up and "none" returns them.

    Gradient: d where |d| <= delta, delta sign(d) elsewhere (for the prediction; the target gets the
    negative). Kink rule: none needed — both pieces meet with the same value and slope at |d| = delta, so
    the gradient is continuous there (delta sign(d) from either side). Same shapes only, as squared_error.
    (The builder takes ``delta`` before ``reduction``, as multiclass_hinge does; PyTorch's order is the
    other way round.)
    """

    name = "huber"
    symbol = "huber"
    Attrs = HuberAttrs

    def onnx_elementwise(self, attrs, emit, a, b, dtype):
        diff = emit.op("Sub", a, b)
        size, delta = emit.op("Abs", diff), emit.scalar(attrs.delta, dtype)
        quadratic = emit.op("Mul", emit.scalar(0.5, dtype), emit.op("Mul", diff, diff))
        linear = emit.op("Mul", delta, emit.op("Sub", size, emit.scalar(0.5 * attrs.delta, dtype)))
        return emit.op("Where", emit.op("Less", delta, size), linear, quadratic)

    def elementwise_loss(self, attrs, prediction, target):
        diff = prediction - target
        size = np.abs(diff)
        delta = attrs.delta
        return np.where(size <= delta, 0.5 * (diff * diff), delta * (size - 0.5 * delta))

    def elementwise_grads(self, attrs, prediction, target):
        diff = prediction - target
        grad = np.clip(diff, -attrs.delta, attrs.delta)
        return grad, -grad


@register
class BinaryCrossEntropyWithLogits(ElementwiseLoss):
    """Binary cross-entropy on logits (PyTorch's binary_cross_entropy_with_logits), per element:

    L = -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) = max(x, 0) - x t + log(1 + e^-|x|),

    computed in the second form, which never exponentiates a positive number: logits of +-1000 are fine.
    Averaged over elements by default; reduction "sum" adds them up and "none" returns them. Targets are
    floats of the logits' shape (usually in [0, 1]; any value is accepted, as PyTorch does).

    Gradient: sigmoid(x) - t for the logits, -x for the targets ("mean" divides by the element count).
    Smooth in both inputs: no kinks (the max(x, 0) and |x| pieces cancel each other's kinks at x = 0).
    """

    name = "binary_cross_entropy_with_logits"
    symbol = "BCE logits"
    input_names = ("logits", "targets")

    def onnx_elementwise(self, attrs, emit, a, b, dtype):
        # max(x, 0) - x t + log(1 + e^-|x|), the stable form forward computes.
        tail = emit.op("Softplus", emit.op("Neg", emit.op("Abs", a)))
        return emit.op("Add", emit.op("Sub", emit.op("Relu", a), emit.op("Mul", a, b)), tail)

    def elementwise_loss(self, attrs, logits, targets):
        with np.errstate(under="ignore"):
            return np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))

    def elementwise_grads(self, attrs, logits, targets):
        with np.errstate(under="ignore"):
            small = np.exp(-np.abs(logits))  # in (0, 1]: e^-|x|
        sigmoid = np.where(logits >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
        return sigmoid - targets, -logits


# --- regularization: sums over the weights (no reduction) ----------------------------------------------


class RegularizationAttrs(Attrs):
    lam: float = Field(default=1.0, alias="lambda", ge=0, description="The regularization strength lambda.")


class Regularization(Op):
    """A penalty on weights: lambda times a sum over every weight. It has no ``reduction`` attribute
    (unlike the data losses): it is a sum over the weights by definition, not an average over examples."""

    input_names = ("w",)
    family = "losses"
    vjp_reads = frozenset({"inputs"})
    Attrs = RegularizationAttrs

    def infer(self, attrs, w: TensorType) -> TensorType:
        return TensorType((), require_float(self, [w]))


@register
class L2Regularization(Regularization):
    """L = lambda * sum(w^2) (a sum over the weights; no reduction attribute). Gradient: 2 lambda w."""

    name = "l2_regularization"
    symbol = "λ‖w‖²"

    def to_onnx(self, attrs, emit, inputs, types, out):
        w = emit.cast(inputs[0], out.dtype, types[0].dtype)
        total = emit.reduce("ReduceSum", emit.op("Mul", w, w), range(types[0].ndim), False)
        return emit.op("Mul", emit.scalar(attrs.lam, out.dtype), total)

    def forward(self, attrs, w):
        return attrs.lam * np.sum(w * w)

    def vjp(self, attrs, upstream, out, values, needs):
        (w,) = values
        return (upstream * (2.0 * attrs.lam) * w,)


@register
class L1Regularization(Regularization):
    """L = lambda * sum(|w|) (a sum over the weights; no reduction attribute). Gradient: lambda sign(w).
    Kink: the gradient at w = 0 is 0."""

    name = "l1_regularization"
    symbol = "λ‖w‖₁"

    def to_onnx(self, attrs, emit, inputs, types, out):
        w = emit.cast(inputs[0], out.dtype, types[0].dtype)
        total = emit.reduce("ReduceSum", emit.op("Abs", w), range(types[0].ndim), False)
        return emit.op("Mul", emit.scalar(attrs.lam, out.dtype), total)

    def forward(self, attrs, w):
        return attrs.lam * np.sum(np.abs(w))

    def vjp(self, attrs, upstream, out, values, needs):
        (w,) = values
        return (upstream * attrs.lam * np.sign(w),)
