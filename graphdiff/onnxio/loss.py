"""Appending a loss to an imported inference model, so grad, check, render and train work on it at once.

Kept apart from the importer, which needs the onnx package. The losses it can append are listed by
:func:`graphdiff.ops.catalog.loss_ops`, so the command line's help names them without importing
graphdiff.onnxio.
"""

from __future__ import annotations

import json

from ..api import Graph
from ..errors import ModelError
from ..ops import REGISTRY, format_shape
from ..ops.catalog import loss_ops


def append_loss(
    graph: Graph, loss: str, *, prediction: str | None = None, labels: str | None = None
) -> Graph:
    """Append ``loss`` (a registered loss op, see :func:`loss_ops`) of the graph's output ``prediction``
    (default: its only output) and a new input ``labels``: int64 class labels for a classification loss,
    else a target of the prediction's shape and dtype. The loss becomes the graph's loss."""
    if loss not in loss_ops():
        raise ModelError(f"--loss {json.dumps(loss)}: choose one of {', '.join(loss_ops())}")
    outputs = graph.spec.outputs
    if prediction is None:
        if len(outputs) != 1:
            raise ModelError(
                f"the model has {len(outputs)} outputs ({', '.join(outputs)}); name the one the loss reads "
                "(--prediction)"
            )
        prediction = outputs[0]
    if prediction not in graph:
        raise ModelError(f"--prediction {json.dumps(prediction)} is not a value of the graph")
    predicted = graph[prediction]
    op = REGISTRY[loss]
    labels = labels or ("labels" if op.classifies else "target")
    if labels in graph:
        raise ModelError(f"--labels {json.dumps(labels)}: the graph already has a value with that id")
    if op.classifies:
        if predicted.type.ndim not in (1, 2):
            raise ModelError(
                f"{loss} reads scores of shape (N, C) or (C,); {prediction} has shape "
                f"{format_shape(predicted.shape)}"
            )
        target = graph.input(labels, shape=predicted.shape[:-1], dtype="int64", description="class labels")
    else:
        target = graph.input(labels, shape=predicted.shape, dtype=predicted.dtype, description="targets")
    ids = {leaf.id for leaf in graph.spec.leaves} | {node.id for node in graph.spec.nodes}
    loss_id = (
        "loss"
        if "loss" not in ids
        else next(f"loss_{n}" for n in range(2, len(ids) + 3) if f"loss_{n}" not in ids)
    )
    graph.set_loss(graph.apply(loss, predicted, target, id=loss_id))
    return graph
