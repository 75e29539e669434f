"""The losses part of the op table (see tests/op_cases.py).

The data losses' rows mix reductions: "mean" and "sum" give a scalar, "none" one loss per example (or
element). So no row here is ``is_loss``: test_ops.py then checks every family's gradient through
sum(out * R) with a random R, which for a scalar output is a random scalar weight (a stricter check of
the upstream scaling than the unit seed of an ``is_loss`` row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from op_cases import (
    CLASSIFICATION,
    SAME_SHAPE_PAIRS,
    WEIGHTS,
    Family,
    Inputs,
    OpCase,
    any_floats,
    hinge_scores_and_labels,
    nonzero,
    ref_squared_error,
    scores_and_labels,
)

# --- references (plain Python per example, written independently of graphdiff) ------------------------


def _examples(scores: np.ndarray, labels: np.ndarray) -> list[tuple[list[float], int]]:
    rows = scores.reshape(-1, scores.shape[-1])
    return [([float(s) for s in row], int(y)) for row, y in zip(rows, labels.reshape(-1), strict=True)]


def _reduce_examples(attrs: Mapping[str, Any], losses: list[float], scores: np.ndarray) -> Any:
    reduction = attrs.get("reduction", "mean")
    if reduction == "none":
        return np.array(losses, dtype=np.float64).reshape(scores.shape[:-1])
    total = math.fsum(losses)
    return total / len(losses) if reduction == "mean" else total


def _classification(per_example: Callable[[Mapping[str, Any], list[float], int], float]):
    def reference(attrs: Mapping[str, Any], scores: np.ndarray, labels: np.ndarray) -> Any:
        losses = [per_example(attrs, row, y) for row, y in _examples(scores, labels)]
        return _reduce_examples(attrs, losses, scores)

    return reference


def _cross_entropy(attrs: Mapping[str, Any], row: list[float], y: int) -> float:
    return -math.log(math.exp(row[y]) / math.fsum(math.exp(s) for s in row))


def _hinge(attrs: Mapping[str, Any], row: list[float], y: int) -> float:
    delta = attrs.get("delta", 1.0)
    return math.fsum(max(0.0, row[j] - row[y] + delta) for j in range(len(row)) if j != y)


def _nll(attrs: Mapping[str, Any], row: list[float], y: int) -> float:
    return -row[y]


def _reduce_elements(attrs: Mapping[str, Any], losses: np.ndarray) -> Any:
    reduction = attrs.get("reduction", "mean")
    if reduction == "none":
        return losses
    total = math.fsum(float(v) for v in losses.reshape(-1))
    return total / losses.size if reduction == "mean" else total


def _elementwise(loss: Callable[[Mapping[str, Any], float, float], float]):
    def reference(attrs: Mapping[str, Any], a: np.ndarray, b: np.ndarray) -> Any:
        per = np.vectorize(lambda u, v: loss(attrs, float(u), float(v)), otypes=[np.float64])(a, b)
        return _reduce_elements(attrs, np.asarray(per, dtype=np.float64).reshape(a.shape))

    return reference


def _huber(attrs: Mapping[str, Any], y: float, t: float) -> float:
    delta = attrs.get("delta", 1.0)
    d = y - t
    return 0.5 * d * d if abs(d) <= delta else delta * abs(d) - 0.5 * delta * delta


def _bce(attrs: Mapping[str, Any], x: float, t: float) -> float:
    p = 1.0 / (1.0 + math.exp(-x))
    return -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))


def ref_squared_error_any(attrs: Mapping[str, Any], prediction: np.ndarray, target: np.ndarray) -> Any:
    if attrs.get("reduction", "mean") == "none":
        return 0.5 * (prediction - target) ** 2
    return ref_squared_error(attrs, prediction, target)


# --- input generators ----------------------------------------------------------------------------------


def huber_pairs(rng: np.random.Generator, family: Family, margin: float = 0.05) -> Inputs:
    """huber: both pieces (|d| up to 4 around delta 0.5 to 2), |d| kept ``margin`` away from delta, where
    the loss switches pieces (its second derivative jumps there)."""
    delta = family.attrs.get("delta", 1.0)
    a_shape, b_shape = family.shapes
    while True:
        a = np.asarray(rng.uniform(-2.0, 2.0, size=a_shape), dtype=np.float64)
        b = np.asarray(rng.uniform(-2.0, 2.0, size=b_shape), dtype=np.float64)
        if np.all(np.abs(np.abs(a - b) - delta) > margin):
            return a, b


def logits_and_targets(rng: np.random.Generator, family: Family) -> Inputs:
    """binary cross-entropy: logits in [-4, 4], targets (probabilities) in [0, 1]."""
    a_shape, b_shape = family.shapes
    logits = np.asarray(rng.uniform(-4.0, 4.0, size=a_shape), dtype=np.float64)
    return logits, np.asarray(rng.uniform(0.0, 1.0, size=b_shape), dtype=np.float64)


# --- shape families ------------------------------------------------------------------------------------

REDUCTIONS = ("sum", "none")


def _with_reductions(families: tuple[Family, ...]) -> tuple[Family, ...]:
    """The families as given (the default, mean), then each again with every other reduction."""
    return families + tuple(
        Family(f.shapes, {**f.attrs, "reduction": r}) for r in REDUCTIONS for f in families
    )


CLASSIFICATION_REDUCED = _with_reductions(CLASSIFICATION) + (Family(((4, 3), (4,)), {"reduction": "mean"}),)
ELEMENT_SHAPES = tuple(Family((s, s)) for s in ((), (3,), (3, 2), (2, 3, 2)))
ELEMENT_REDUCED = _with_reductions(ELEMENT_SHAPES) + (Family(((3, 2), (3, 2)), {"reduction": "mean"}),)

CASES: tuple[OpCase, ...] = (
    # classification losses: (N, C) scores with (N,) labels, or (C,) with a scalar label
    OpCase(
        "softmax_cross_entropy", CLASSIFICATION_REDUCED, scores_and_labels, _classification(_cross_entropy)
    ),
    OpCase(
        "multiclass_hinge",
        CLASSIFICATION
        + tuple(Family(f.shapes, {"delta": 0.5}) for f in CLASSIFICATION)
        + (Family(((4, 3), (4,)), {"delta": 0.0}),)
        + tuple(Family(f.shapes, {"reduction": r}) for r in REDUCTIONS for f in CLASSIFICATION)
        + (
            Family(((4, 3), (4,)), {"delta": 0.5, "reduction": "none"}),
            Family(((5, 4), (5,)), {"delta": 2.0, "reduction": "sum"}),
        ),
        hinge_scores_and_labels,
        _classification(_hinge),
    ),
    OpCase("nll_loss", CLASSIFICATION_REDUCED, scores_and_labels, _classification(_nll)),
    # elementwise losses: two same-shape tensors
    OpCase(
        "squared_error",
        SAME_SHAPE_PAIRS
        + tuple(Family((s, s), {"reduction": "none"}) for s in ((), (3,), (3, 2), (2, 3, 2)))
        + (Family(((2, 3, 2), (2, 3, 2)), {"reduction": "mean"}),),
        any_floats,
        ref_squared_error_any,
    ),
    OpCase("mse", ELEMENT_REDUCED, any_floats, _elementwise(lambda attrs, y, t: (y - t) ** 2)),
    OpCase(
        "huber",
        ELEMENT_REDUCED
        + tuple(
            Family(((3, 2), (3, 2)), {"delta": d, "reduction": r})
            for d in (0.5, 2.0)
            for r in ("mean", "sum", "none")
        ),
        huber_pairs,
        _elementwise(_huber),
    ),
    OpCase("binary_cross_entropy_with_logits", ELEMENT_REDUCED, logits_and_targets, _elementwise(_bce)),
    # regularization: sums over the weights (no reduction attribute)
    OpCase(
        "l2_regularization",
        WEIGHTS,
        any_floats,
        lambda attrs, w: attrs.get("lambda", 1.0) * float((w**2).sum()),
    ),
    OpCase(
        "l1_regularization",
        WEIGHTS,
        nonzero,
        lambda attrs, w: attrs.get("lambda", 1.0) * float(np.where(w < 0, -w, w).sum()),
    ),
)
