"""Losses: scalar functions of scores, predictions or weights.

Classification losses take ``scores`` (or ``logits``) of shape (N, C) with int64 ``labels`` of shape (N,),
or a single example: (C,) with a scalar label. They average over the batch.

Kink: in the multiclass hinge, a margin of exactly zero contributes no gradient (the max(0, m) gate
routes to 0 at m = 0, as relu does).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import ComputeError, ShapeError
from .base import Attrs, Op, TensorType, format_shape, register, require_float, require_labels
from .softmax import stable_log_softmax


class ClassificationLoss(Op):
    """Shared shape rule and batching for losses over (scores, labels)."""

    input_names = ("scores", "labels")
    non_differentiable = frozenset({"labels"})
    family = "losses"
    classifies = True

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
        return TensorType((), dtype)

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


class HingeAttrs(Attrs):
    delta: float = Field(default=1.0, ge=0, description="The margin the correct class must win by.")


@register
class MulticlassHinge(ClassificationLoss):
    """Multiclass SVM loss, averaged over the batch:

    L_i = sum over j != y_i of max(0, s_j - s_{y_i} + delta);  L = (1/N) sum_i L_i.

    Gradient: each wrong class j with a positive margin gets +1/N; the correct class gets -(number of
    positive margins)/N. A margin of exactly 0 counts as not positive (contributes 0).
    """

    name = "multiclass_hinge"
    symbol = "hinge"
    Attrs = HingeAttrs

    def _margins(self, attrs, scores2, labels1):
        rows = np.arange(scores2.shape[0])
        margins = scores2 - scores2[rows, labels1][:, np.newaxis] + attrs.delta
        margins[rows, labels1] = 0.0
        return margins, rows

    def forward(self, attrs, scores, labels):
        scores2, labels1 = self.batch(scores, labels)
        margins, _ = self._margins(attrs, scores2, labels1)
        return np.sum(np.maximum(margins, 0.0)) / scores2.shape[0]

    def vjp(self, attrs, upstream, out, values, needs):
        scores, labels = values
        scores2, labels1 = self.batch(scores, labels)
        margins, rows = self._margins(attrs, scores2, labels1)
        positive = (margins > 0).astype(scores2.dtype)
        positive[rows, labels1] = -positive.sum(axis=1)
        grad = positive * (upstream / scores2.shape[0])
        return grad.reshape(scores.shape), None


@register
class SoftmaxCrossEntropy(ClassificationLoss):
    """Softmax cross-entropy with integer labels, averaged over the batch:

    L_i = -log softmax(s_i)[y_i] = logsumexp(s_i) - s_{i, y_i};  L = (1/N) sum_i L_i.

    Computed through log-sum-exp shifted by the max, so logits of 1e3 and -1e3 are fine.
    Gradient: (softmax(s_i) - onehot(y_i)) / N.
    """

    name = "softmax_cross_entropy"
    symbol = "softmax CE"
    input_names = ("logits", "labels")

    def forward(self, attrs, logits, labels):
        logits2, labels1 = self.batch(logits, labels)
        log_probs = stable_log_softmax(logits2, axis=1)
        return -np.mean(log_probs[np.arange(logits2.shape[0]), labels1])

    def vjp(self, attrs, upstream, out, values, needs):
        logits, labels = values
        logits2, labels1 = self.batch(logits, labels)
        with np.errstate(under="ignore"):
            grad = np.exp(stable_log_softmax(logits2, axis=1))
        grad[np.arange(logits2.shape[0]), labels1] -= 1.0
        grad *= upstream / logits2.shape[0]
        return grad.reshape(logits.shape), None


class SquaredErrorAttrs(Attrs):
    reduction: Literal["mean", "sum"] = Field(
        default="mean", description="Average (mean) or add up (sum) the per-element losses."
    )


@register
class SquaredError(Op):
    """L = 1/2 (y - t)^2, summed or averaged over elements (as in the backprop lecture: dL/dy = y - t).

    ``prediction`` and ``target`` must have the same shape: no broadcasting, since an (N, 1) prediction
    against an (N,) target would silently compare every pair.
    """

    name = "squared_error"
    family = "losses"
    symbol = "½(y−t)²"
    input_names = ("prediction", "target")
    Attrs = SquaredErrorAttrs

    def infer(self, attrs, prediction: TensorType, target: TensorType) -> TensorType:
        dtype = require_float(self, [prediction, target])
        if prediction.shape != target.shape:
            raise ShapeError(
                f"squared_error: prediction {format_shape(prediction.shape)} and target "
                f"{format_shape(target.shape)} must have the same shape"
            )
        return TensorType((), dtype)

    def _scale(self, attrs, prediction: np.ndarray) -> float:
        return 1.0 / prediction.size if attrs.reduction == "mean" and prediction.size else 1.0

    def forward(self, attrs, prediction, target):
        diff = prediction - target
        return 0.5 * np.sum(diff * diff) * self._scale(attrs, prediction)

    def vjp(self, attrs, upstream, out, values, needs):
        prediction, target = values
        grad = (prediction - target) * (upstream * self._scale(attrs, prediction))
        return (grad if needs[0] else None), (-grad if needs[1] else None)


class RegularizationAttrs(Attrs):
    lam: float = Field(
        default=1.0, alias="lambda", ge=0, description="The regularization strength lambda."
    )


class Regularization(Op):
    input_names = ("w",)
    family = "losses"
    Attrs = RegularizationAttrs

    def infer(self, attrs, w: TensorType) -> TensorType:
        return TensorType((), require_float(self, [w]))


@register
class L2Regularization(Regularization):
    """L = lambda * sum(w^2). Gradient: 2 lambda w."""

    name = "l2_regularization"
    symbol = "λ‖w‖²"

    def forward(self, attrs, w):
        return attrs.lam * np.sum(w * w)

    def vjp(self, attrs, upstream, out, values, needs):
        (w,) = values
        return (upstream * (2.0 * attrs.lam) * w,)


@register
class L1Regularization(Regularization):
    """L = lambda * sum(|w|). Gradient: lambda sign(w). Kink: the gradient at w = 0 is 0."""

    name = "l1_regularization"
    symbol = "λ‖w‖₁"

    def forward(self, attrs, w):
        return attrs.lam * np.sum(np.abs(w))

    def vjp(self, attrs, upstream, out, values, needs):
        (w,) = values
        return (upstream * attrs.lam * np.sign(w),)
