"""Models in and out through ONNX: :func:`from_onnx` imports a model as a graph with exact gradients,
:func:`to_onnx` exports a graph as a model any ONNX runtime runs.

This needs the ``onnx`` extra (``pip install 'graphdiff[onnx]'``); importing graphdiff itself does not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..spec import DEFAULT_MAX_ELEMENTS

if TYPE_CHECKING:
    import onnx

    from ..api import Graph

__all__ = ["from_onnx", "to_onnx"]


def require_onnx() -> None:
    """Refuse, with the command that installs it, when the onnx package is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelError(
            "ONNX import and export need the onnx package: pip install 'graphdiff[onnx]'"
        ) from None


def from_onnx(
    model: str | os.PathLike[str] | bytes | onnx.ModelProto,
    *,
    name: str | None = None,
    freeze: bool = False,
    loss: str | None = None,
    labels: str | None = None,
    prediction: str | None = None,
    max_bytes: int | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Graph:
    """Import an ONNX model (a file's path, its bytes, or a ModelProto) as a :class:`~graphdiff.Graph`.

    Graph inputs become input leaves (a ``dim_param`` a symbolic dimension), initializers parameters
    (constants with ``freeze``), nodes graphdiff nodes. ``loss`` appends a loss op of the output
    ``prediction`` (default: the only output) and a new input ``labels`` (class labels for a classification
    loss, else a target). Raises :class:`~graphdiff.ModelError` listing every unsupported node.

    >>> g = gd.from_onnx("lenet.onnx", loss="softmax_cross_entropy")  # doctest: +SKIP
    >>> g.run({"x": images, "labels": labels}).grad("conv1.weight")  # doctest: +SKIP
    """
    require_onnx()
    import onnx

    from .importer import import_model
    from .loss import append_loss
    from .reader import DEFAULT_MAX_MODEL_BYTES, ModelSource, parse_model, read_model

    cap = DEFAULT_MAX_MODEL_BYTES if max_bytes is None else max_bytes
    if isinstance(model, onnx.ModelProto):
        proto, source = model, ModelSource("<ModelProto>", None)
    elif isinstance(model, bytes | bytearray):
        proto, source = (
            parse_model(bytes(model), label="<bytes>", max_bytes=cap),
            ModelSource("<bytes>", None),
        )
    else:
        path = Path(model)
        proto = read_model(path, max_bytes=cap)
        source = ModelSource(str(path), path.parent if str(path.parent) else Path("."))
        # Exporters name every graph alike (torch: "main_graph"); the file's name says which model it is.
        name = name or path.stem
    graph = import_model(proto, source, name=name, freeze=freeze, max_elements=max_elements)
    if loss is not None:
        append_loss(graph, loss, prediction=prediction, labels=labels)
    elif labels is not None or prediction is not None:
        raise ModelError("labels and prediction go with a loss: give loss= (--loss) too")
    return graph


def to_onnx(
    graph: Graph,
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int | None = None,
    overwrite: bool = True,
    **kwargs: Any,
) -> onnx.ModelProto:
    """Export ``graph`` as an ONNX model (opset 20 by default; 17 to 21) that passes
    ``onnx.checker.check_model(full_check=True)``; with ``path``, also write it there atomically.

    Symbolic dimensions become ``dim_param``, parameters and constants initializers, the loss (when the
    graph has one) an output beside the graph's outputs. Raises :class:`~graphdiff.ModelError` when an op
    has no ONNX form at that opset.
    """
    require_onnx()
    from .exporter import export_graph

    model = export_graph(graph, opset=opset, **kwargs)
    if path is not None:
        from ..fileio import write_atomic

        write_atomic(path, model.SerializeToString(), overwrite=overwrite)
    return model
