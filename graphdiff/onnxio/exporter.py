"""ONNX out: a checked graph as an ONNX model of standard ops, which any ONNX runtime runs.

Each graphdiff op writes its own ONNX form (:meth:`graphdiff.ops.Op.to_onnx`, beside its forward and
backward); this module supplies what they write with (:class:`Emitter`) and assembles the model:
- input leaves become graph inputs (a symbolic dimension a ``dim_param``; a default value an
  initializer of the same name, which ONNX runtimes use when the input is not fed), parameters and
  constants initializers;
- every node's result is the ONNX value named by the node's id, so a model imported back has the
  same names; the intermediate values an op needs are named ``<id>/<n>``;
- the graph's outputs, and its loss, are the model's outputs.
The model is checked with ``onnx.checker.check_model(full_check=True)`` (which runs ONNX's strict shape
inference) before it is returned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import __version__
from ..api import Graph
from ..errors import ModelError, Problem
from ..ops import Dim, TensorType

#: The default-domain opsets graphdiff writes (LayerNormalization needs 17), and the default: 20, the
#: first with Gelu (before it gelu is written with Erf, which graphdiff's importer does not read back).
EXPORT_OPSETS = range(17, 22)
DEFAULT_EXPORT_OPSET = 20

_ELEMENT_TYPES = {
    "float32": onnx.TensorProto.FLOAT,
    "float64": onnx.TensorProto.DOUBLE,
    "int64": onnx.TensorProto.INT64,
    "bool": onnx.TensorProto.BOOL,
}


class Emitter:
    """Collects the nodes and initializers of the model being written (the
    :class:`graphdiff.ops.base.OnnxEmitter` that ops write with)."""

    def __init__(self, opset: int, taken: set[str]) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._taken = taken
        self._counter = 0
        #: The id of the graphdiff node being written: the stem of its intermediate names.
        self.stem = "graph"

    def fresh(self) -> str:
        while True:
            self._counter += 1
            name = f"{self.stem}/{self._counter}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        out = self.fresh()
        # Trailing optional inputs left out are dropped; one in the middle stays as "" (ONNX's "absent").
        listed = list(inputs)
        while listed and listed[-1] == "":
            listed.pop()
        self.nodes.append(helper.make_node(op_type, listed, [out], name=out, **attributes))
        return out

    def array(self, value: np.ndarray) -> str:
        name = self.fresh()
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def scalar(self, value: float | int | bool, dtype: str) -> str:
        return self.array(np.asarray(value, dtype=dtype))

    def ints(self, values: Sequence[int]) -> str:
        return self.array(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def cast(self, name: str, dtype: str, current: str | None = None) -> str:
        if current == dtype:
            return name
        return self.op("Cast", name, to=_ELEMENT_TYPES[dtype])

    def reduce(self, op_type: str, name: str, axes: Sequence[int], keepdims: bool) -> str:
        axes = [int(a) for a in axes]
        input_form = op_type == "ReduceSum" or self.opset >= 18
        if not axes:
            # graphdiff reduces over no axes as the identity; ONNX reduces over all of them unless told.
            if not input_form:
                return self.op("Identity", name)
            return self.op(op_type, name, keepdims=int(keepdims), noop_with_empty_axes=1)
        if input_form:
            return self.op(op_type, name, self.ints(axes), keepdims=int(keepdims))
        return self.op(op_type, name, axes=axes, keepdims=int(keepdims))

    def shape(self, dims: Sequence[Dim], like: str, like_type: TensorType) -> str:
        if not any(isinstance(d, str) for d in dims):
            return self.ints([int(d) for d in dims])
        pieces = []
        for d in dims:
            if isinstance(d, str):
                axis = list(like_type.shape).index(d)
                pieces.append(self.op("Shape", like, start=axis, end=axis + 1))
            else:
                pieces.append(self.ints([d]))
        return self.op("Concat", *pieces, axis=0)


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, _ELEMENT_TYPES[t.dtype], list(t.shape))


def export_graph(graph: Graph, *, opset: int | None = None) -> onnx.ModelProto:
    """The ONNX model of ``graph`` (see the module docstring); raises ModelError naming every node that
    has no ONNX form."""
    opset = DEFAULT_EXPORT_OPSET if opset is None else opset
    if opset not in EXPORT_OPSETS:
        raise ModelError(
            f"--opset {opset}: graphdiff writes opsets {EXPORT_OPSETS.start} to {EXPORT_OPSETS.stop - 1}"
        )
    checked = graph.checked
    label = checked.source.label
    emitter = Emitter(opset, set(checked.order))
    inputs, initializers, problems = [], [], []
    for id in checked.order:
        leaf = checked.leaves.get(id)
        if leaf is None:
            continue
        value = checked.leaf_values[id]
        if leaf.kind == "input":
            inputs.append(value_info(id, checked.types[id]))
        if value is not None:
            initializers.append(numpy_helper.from_array(np.asarray(value, dtype=leaf.dtype), id))
    for id in checked.order:
        node = checked.nodes.get(id)
        if node is None:
            continue
        emitter.stem = id
        op = checked.ops[id]
        types = [checked.types[name] for name in node.inputs]
        first = len(emitter.nodes)
        try:
            result = op.to_onnx(checked.attrs[id], emitter, list(node.inputs), types, checked.types[id])
        except NotImplementedError as exc:
            problems.append(checked.problem(id, f"cannot export: {exc}"))
            continue
        _name_result(emitter, first, result, id)
    if problems:
        raise ModelError(*problems)
    outputs = list(checked.outputs)
    if checked.loss and checked.loss not in outputs:
        outputs.append(checked.loss)
    if not outputs:
        raise ModelError(Problem(label, None, "the graph has no outputs and no loss: nothing to export"))
    model_graph = helper.make_graph(
        emitter.nodes,
        checked.name,
        inputs,
        [value_info(id, checked.types[id]) for id in outputs],
        initializer=initializers + emitter.initializers,
        doc_string=checked.spec.description or "",
    )
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        model_graph,
        opset_imports=opset_ids,
        producer_name="graphdiff",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opset_ids),
    )
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        # A graph that checks in graphdiff should always export; this is graphdiff's bug, said plainly.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            Problem(
                label, None, f"the exported model fails ONNX's checker ({first_line}); please report this"
            )
        ) from None
    return model


def _name_result(emitter: Emitter, first: int, result: str, id: str) -> None:
    """Make the ONNX value named ``id`` hold ``result``: rename the node that made it when it is the last
    one this graphdiff node wrote, else copy it with an Identity."""
    last = emitter.nodes[-1] if len(emitter.nodes) > first else None
    if last is not None and list(last.output) == [result]:
        last.output[0] = id
        last.name = id
        return
    emitter.nodes.append(helper.make_node("Identity", [result], [id], name=id))


def describe(model: onnx.ModelProto) -> str:
    """One line about an exported model: ``opset 17, 12 nodes (Conv 2, Relu 3, ...), 61,706 weights``."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    listed = ", ".join(f"{op} {n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return f"opset {opset}, {len(model.graph.node)} nodes ({listed}), {weights:,} weights" + (
        "" if not model.graph.name else f", graph {json.dumps(model.graph.name)}"
    )
