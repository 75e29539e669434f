"""The losses part of the op table (see tests/op_cases.py)."""

from __future__ import annotations

import numpy as np
from op_cases import (
    CLASSIFICATION,
    SAME_SHAPE_PAIRS,
    WEIGHTS,
    Family,
    OpCase,
    any_floats,
    hinge_scores_and_labels,
    nonzero,
    ref_multiclass_hinge,
    ref_softmax_cross_entropy,
    ref_squared_error,
    scores_and_labels,
)

CASES: tuple[OpCase, ...] = (
    # losses
    OpCase(
        "softmax_cross_entropy", CLASSIFICATION, scores_and_labels, ref_softmax_cross_entropy, is_loss=True
    ),
    OpCase(
        "multiclass_hinge",
        CLASSIFICATION
        + tuple(Family(f.shapes, {"delta": 0.5}) for f in CLASSIFICATION)
        + (Family(((4, 3), (4,)), {"delta": 0.0}),),
        hinge_scores_and_labels,
        ref_multiclass_hinge,
        is_loss=True,
    ),
    OpCase("squared_error", SAME_SHAPE_PAIRS, any_floats, ref_squared_error, is_loss=True),
    OpCase(
        "l2_regularization",
        WEIGHTS,
        any_floats,
        lambda attrs, w: attrs.get("lambda", 1.0) * float((w**2).sum()),
        is_loss=True,
    ),
    OpCase(
        "l1_regularization",
        WEIGHTS,
        nonzero,
        lambda attrs, w: attrs.get("lambda", 1.0) * float(np.where(w < 0, -w, w).sum()),
        is_loss=True,
    ),
)
