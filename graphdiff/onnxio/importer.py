"""ONNX in: a model's graph as a graphdiff graph, with exact gradients through every node.

The walk is one pass over the model's nodes (ONNX stores them in topological order). Each ONNX value
becomes either a graphdiff tensor (a leaf or node of the graph being built) or a *static* value: a numpy
array known while importing (a Constant node, an initializer, a Shape of a tensor whose shape is known).
Static values are what ONNX passes as inputs where graphdiff has attributes (Reshape's shape, Slice's
starts, a Reduce's axes, Clip's bounds); nodes whose inputs are all static and which only compute shapes
(Shape, Gather, Concat, Unsqueeze, ...) are folded with numpy, so the ``x.view(x.size(0), -1)`` that
exporters write as Shape -> Gather -> Concat -> Reshape becomes one graphdiff reshape. A symbolic dimension
(ONNX's ``dim_param``) may flow through such folding as a name, but never into arithmetic.

An initializer becomes a leaf only when a computation uses it: a parameter when it is floating point (a
constant with ``freeze``), a constant otherwise. Node names become ids, made unique and valid; a node that
makes a graph output takes that output's name, so ``--loss`` and ``--feed`` can name it. Every ONNX name
is kept in the description of what it became.

ONNX's defaults are translated where they differ from graphdiff's (``keepdims`` is 1 there, pool strides
are 1, AveragePool leaves the padding out of its count, Reshape's 0 copies a dimension). An attribute a
converter does not read is refused, never ignored, unless the converter says why it has no effect.
Problems are collected over the whole model and raised as one :class:`~graphdiff.errors.ModelError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..api import Graph, Tensor
from ..errors import SAFE_NAME_PATTERN, GraphdiffError, ModelError, Problem
from ..ops import Dim, TensorType, format_shape
from ..spec import DEFAULT_MAX_ELEMENTS
from .reader import VALUE_DTYPES, ModelSource, dtype_name, tensor_array

#: The default-domain opsets whose op definitions the converters below follow.
OPSETS = range(13, 22)
#: The names of ONNX's default domain.
DEFAULT_DOMAINS = ("", "ai.onnx")


class Unsupported(Exception):
    """A node uses something graphdiff cannot import; the message says what (an attribute, a dtype...)."""


@dataclass(frozen=True)
class Static:
    """A value known while importing. ``initializer`` is set when it is one (it may become a parameter)."""

    value: np.ndarray
    id_hint: str
    description: str
    initializer: bool = False


Value = Tensor | Static

#: Marks the outputs of a node that could not be imported: nodes using them are skipped, not reported
#: again (their one cause is reported at the node that failed).
_FAILED = object()


# --- the converter table ---------------------------------------------------------------------------------

Converter = Callable[["NodeContext"], "Value | tuple[Value, ...]"]
#: ONNX op type -> how to import it. The ONNX side's own table; graphdiff's ops export themselves.
CONVERTERS: dict[str, Converter] = {}
#: ONNX op types evaluated with numpy when every input is static (shape arithmetic).
FOLDERS: dict[str, Callable[[NodeContext], np.ndarray]] = {}


def converts(*op_types: str) -> Callable[[Converter], Converter]:
    def decorate(function: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[op_type] = function
        return function

    return decorate


def folds(*op_types: str) -> Callable[[Callable], Callable]:
    def decorate(function: Callable) -> Callable:
        for op_type in op_types:
            FOLDERS[op_type] = function
        return function

    return decorate


_REQUIRED = object()


class NodeContext:
    """One ONNX node being imported: its attributes (each read is recorded), inputs and the graph."""

    def __init__(self, importer: _Importer, node: onnx.NodeProto, base_id: str, place: str) -> None:
        self.importer = importer
        self.node = node
        self.base_id = base_id
        self.place = place
        self._attributes = {a.name: a for a in node.attribute}
        self._read: set[str] = set()

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def opset(self) -> int:
        return self.importer.opset

    # attributes

    def attr(self, name: str, default: Any = _REQUIRED) -> Any:
        """An attribute's value (bytes decoded to str, repeated fields as lists), or ``default``."""
        self._read.add(name)
        attribute = self._attributes.get(name)
        if attribute is None:
            if default is _REQUIRED:
                raise Unsupported(f"attribute {name} is required")
            return default
        if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise Unsupported(f"attribute {name} holds a subgraph, which graphdiff does not import")
        if attribute.type == onnx.AttributeProto.TENSOR:
            return self.importer.array(attribute.t, f"{self.place} attribute {name}")
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, list):
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        return value

    def ignore(self, *names: str) -> None:
        """Attributes that have no effect on what graphdiff computes (a Dropout seed, a BN momentum)."""
        self._read.update(names)

    def refuse(self, name: str, default: Any) -> None:
        """Read attribute ``name`` and refuse any value but ``default``."""
        got = self.attr(name, default)
        if got != default:
            raise Unsupported(f"attribute {name}={_show(got)} is not supported (only {_show(default)})")

    def unread_attributes(self) -> list[str]:
        return sorted(set(self._attributes) - self._read)

    # inputs

    @property
    def input_count(self) -> int:
        return len(self.node.input)

    def has(self, index: int) -> bool:
        """Whether optional input ``index`` is given (ONNX leaves out an optional input with "")."""
        return index < len(self.node.input) and self.node.input[index] != ""

    def value(self, index: int) -> Value:
        return self.importer.values[self.node.input[index]]

    def tensor(self, index: int, *, trainable: bool = True) -> Tensor:
        """Input ``index`` as a graphdiff tensor; an initializer that is not ``trainable`` (a running
        statistic) becomes a constant, not a parameter."""
        return self.importer.as_tensor(self.node.input[index], trainable=trainable)

    def tensors(self) -> list[Tensor]:
        return [self.tensor(i) for i in range(self.input_count) if self.has(i)]

    def type(self, index: int) -> TensorType:
        value = self.value(index)
        if isinstance(value, Static):
            return TensorType(value.value.shape, _value_dtype(value.value))
        return value.type

    def static(self, index: int, what: str) -> np.ndarray:
        """Input ``index`` as an array known now; graphdiff takes it as an attribute (``what`` it is)."""
        value = self.value(index)
        if isinstance(value, Static):
            return value.value
        raise Unsupported(
            f"input {index} ({what}, {json.dumps(self.node.input[index])}) is computed at run time; "
            "graphdiff needs it as a constant"
        )

    def ints(self, index: int, what: str) -> list[int]:
        array = self.static(index, what)
        if array.dtype == object:
            raise Unsupported(
                f"input {index} ({what}) depends on a symbolic dimension: {_show(array.tolist())}"
            )
        if array.dtype.kind not in "iu":
            raise Unsupported(f"input {index} ({what}) must hold integers, not {array.dtype}")
        return [int(v) for v in array.reshape(-1)]

    def scalar(self, index: int, what: str) -> float:
        array = self.static(index, what)
        if array.size != 1 or array.dtype == object:
            raise Unsupported(f"input {index} ({what}) must be one number, got shape {array.shape}")
        return array.reshape(()).item()

    # building

    def output_id(self, position: int, part: str) -> str:
        """The id of a multi-output node's output ``position``: the graph output's name when it is one,
        the node's own id for the first, else ``<id>.<part>``."""
        name = self.node.output[position] if position < len(self.node.output) else ""
        if position == 0:
            return self.base_id
        if name and name in self.importer.graph_outputs:
            return self.importer.ids.fresh(name)
        return self.importer.ids.fresh(f"{self.base_id}.{part}")

    def apply(
        self, op: str, *inputs: Tensor | float, part: str | None = None, id: str | None = None, **attrs: Any
    ) -> Tensor:
        """Apply a graphdiff op; ``part`` names an intermediate node (``<id>.<part>``), else it is the
        node's own id."""
        if id is None:
            id = self.base_id if part is None else self.importer.ids.fresh(f"{self.base_id}.{part}")
        tensors = [
            x if isinstance(x, Tensor) else self.constant(x, part=f"{part or op}.const") for x in inputs
        ]
        return self.importer.graph.apply(op, *tensors, id=id, description=self.description, **attrs)

    def passed_through(self, value: Value) -> Value:
        """``value`` as this node's result, unchanged (Identity, Dropout at inference). It is the same
        graphdiff value, unless the node makes a graph output: then a reshape to the same shape carries
        the output's name (graphdiff has no identity op; the reshape computes nothing)."""
        if not (self.node.output and self.node.output[0] in self.importer.graph_outputs):
            return value
        x = value if isinstance(value, Tensor) else self.importer.as_tensor(self.node.input[0])
        return self.apply("reshape", x, shape=reshape_target(x.shape, list(x.shape), allowzero=True))

    def constant(self, value: Any, *, part: str, dtype: str | None = None) -> Tensor:
        """A constant leaf for this node: a Python number takes the dtype of the node's first float input."""
        array = np.asarray(value)
        if dtype is None and array.dtype.kind == "f" and array.ndim == 0:
            dtype = self._float_dtype()
        dtype = dtype or _value_dtype(array)
        return self.importer.constant(
            array.astype(dtype), self.importer.ids.fresh(f"{self.base_id}.{part}"), self.description
        )

    def _float_dtype(self) -> str:
        for index in range(self.input_count):
            if self.has(index):
                dtype = self.type(index).dtype
                if dtype in ("float32", "float64"):
                    return dtype
        return "float64"

    @property
    def description(self) -> str:
        name = f" {json.dumps(self.node.name)}" if self.node.name else ""
        return f"ONNX {self.op_type}{name}"


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _value_dtype(array: np.ndarray) -> str:
    if array.dtype == object:
        return "int64"
    kind = {"f": None, "i": "int64", "u": "int64", "b": "bool"}.get(array.dtype.kind)
    return kind or str(array.dtype)


# --- ids ---------------------------------------------------------------------------------------------------


#: What a graphdiff name may not hold (controls, bidirectional and invisible formatting): replaced by "_".
_UNSAFE = re.compile(SAFE_NAME_PATTERN.removeprefix("^[^").removesuffix("]+$").join("[]"))


class IdMaker:
    """Valid, unique graphdiff ids from ONNX names (any string): control, bidirectional and invisible
    formatting characters become ``_``, runs of
    ``/`` one ``/`` (a ``/`` nests diagram clusters), no ``/`` at either end, at most 200 characters."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self._next: dict[str, int] = {}

    def fresh(self, name: str) -> str:
        stem = _UNSAFE.sub("_", name)
        stem = re.sub(r"/{2,}", "/", stem).strip("/")[:200] or "node"
        if stem not in self.used:
            self.used.add(stem)
            return stem
        n = self._next.get(stem, 2)
        while f"{stem}_{n}" in self.used:
            n += 1
        self._next[stem] = n + 1
        self.used.add(f"{stem}_{n}")
        return f"{stem}_{n}"


def symbol_name(dim_param: str, fallback: str) -> str:
    """A graphdiff symbol (``[A-Za-z_][A-Za-z0-9_]*``) for an ONNX ``dim_param`` such as ``batch_size``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", dim_param)
    if not name:
        return fallback
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


# --- the importer ------------------------------------------------------------------------------------------


class _Importer:
    def __init__(
        self,
        model: onnx.ModelProto,
        source: ModelSource,
        *,
        name: str | None,
        freeze: bool,
        max_elements: int,
    ) -> None:
        self.model = model
        self.source = source
        self.freeze = freeze
        self.max_elements = max_elements
        self.problems: list[Problem] = []
        self.values: dict[str, Any] = {}
        self.ids = IdMaker()
        graph = model.graph
        self.graph = Graph(_graph_name(name or graph.name or "onnx_model"), _model_description(model, source))
        self.opset = self._default_opset()

    def run(self) -> Graph:
        if self.problems:
            raise ModelError(*self.problems)
        graph = self.model.graph
        self.graph_outputs = {o.name for o in graph.output}
        consumed = {name for node in graph.node for name in node.input} | self.graph_outputs
        self._initializers(graph)
        self._inputs(graph)
        unsupported = [node for node in graph.node if not self._known(node)]
        for index, node in enumerate(graph.node):
            if node in unsupported:
                self._report_unknown(index, node)
                self._fail(node)
                continue
            self._convert(index, node, consumed)
        for output in graph.output:
            value = self.values.get(output.name)
            if value is None:
                self.problems.append(
                    Problem(self.source.label, f"graph output {json.dumps(output.name)}", "is never computed")
                )
            elif value is not _FAILED:
                try:
                    self.graph.add_output(self.as_tensor(output.name))
                except (Unsupported, GraphdiffError) as exc:
                    self.problems.append(
                        Problem(self.source.label, f"graph output {json.dumps(output.name)}", _text(exc))
                    )
        if self.problems:
            raise ModelError(*self.problems)
        self.graph.checked  # noqa: B018 (check the whole graph now, not at its first use)
        return self.graph

    # setup

    def _default_opset(self) -> int:
        versions = [o.version for o in self.model.opset_import if o.domain in DEFAULT_DOMAINS]
        if not versions:
            self.problems.append(
                Problem(self.source.label, None, "imports no version of ONNX's default opset")
            )
            return OPSETS.stop - 1
        version = versions[0]
        if version not in OPSETS:
            self.problems.append(
                Problem(
                    self.source.label,
                    None,
                    f"uses opset {version}; graphdiff imports opsets {OPSETS.start} to {OPSETS.stop - 1} "
                    "(onnx.version_converter.convert_version can move a model between them)",
                )
            )
        return version

    def _initializers(self, graph: onnx.GraphProto) -> None:
        if len(graph.sparse_initializer):
            self.problems.append(Problem(self.source.label, None, "sparse initializers are not supported"))
        for tensor in graph.initializer:
            place = f"initializer {json.dumps(tensor.name)}"
            try:
                array = tensor_array(tensor, self.source, max_elements=self.max_elements, place=place)
            except ModelError as exc:
                self.problems.extend(exc.problems)
                self.values[tensor.name] = _FAILED
                continue
            self.values[tensor.name] = Static(
                array, tensor.name, f"ONNX initializer {json.dumps(tensor.name)}", initializer=True
            )

    def _inputs(self, graph: onnx.GraphProto) -> None:
        for index, value_info in enumerate(graph.input):
            default = self.values.get(value_info.name)
            if default is not None and self.model.ir_version < 4:
                continue  # before IR 4 every initializer was also listed as an input: a weight, not a feed
            if default is _FAILED:
                continue
            place = f"graph input {json.dumps(value_info.name)}"
            try:
                dtype, shape = self._input_type(value_info, index)
                id = self.ids.fresh(value_info.name)
                # An input with an initializer of its name has that as its default value (ONNX IR 4).
                self.values[value_info.name] = self.graph.input(
                    id,
                    value=None if default is None else default.value,
                    shape=shape,
                    dtype=dtype,
                    description=f"ONNX graph input {json.dumps(value_info.name)}"
                    + ("" if default is None else " (with a default value)"),
                )
            except (Unsupported, GraphdiffError) as exc:
                self.problems.append(Problem(self.source.label, place, _text(exc)))
                self.values[value_info.name] = _FAILED

    def _input_type(self, value_info: onnx.ValueInfoProto, index: int) -> tuple[str, list[Dim]]:
        if not value_info.type.HasField("tensor_type"):
            raise Unsupported("is not a tensor (graphdiff imports tensor inputs only)")
        tensor_type = value_info.type.tensor_type
        dtype = VALUE_DTYPES.get(tensor_type.elem_type)
        if dtype is None:
            raise Unsupported(
                f"has dtype {dtype_name(tensor_type.elem_type)}; graphdiff's inputs are float32, float64, "
                "int64 or bool"
            )
        if not tensor_type.HasField("shape"):
            raise Unsupported("has no shape; graphdiff needs each input's rank and dimensions")
        shape: list[Dim] = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            else:
                fallback = f"{symbol_name(value_info.name, 'input')}_dim{axis}"
                shape.append(symbol_name(dim.dim_param, fallback) if dim.dim_param else fallback)
        return dtype, shape

    # values

    def array(self, tensor: onnx.TensorProto, place: str) -> np.ndarray:
        try:
            return tensor_array(tensor, self.source, max_elements=self.max_elements, place=place)
        except ModelError as exc:
            raise Unsupported("; ".join(p.message for p in exc.problems)) from None

    def as_tensor(self, name: str, *, trainable: bool = True) -> Tensor:
        """The graphdiff tensor of ONNX value ``name``, making a leaf of a static value at its first use."""
        value = self.values[name]
        if isinstance(value, Tensor):
            return value
        if value.value.dtype == object:
            raise Unsupported(
                f"{json.dumps(name)} depends on a symbolic dimension ({_show(value.value.tolist())})"
            )
        dtype = _value_dtype(value.value)
        if dtype not in VALUE_DTYPES.values():
            raise Unsupported(
                f"{json.dumps(name)} has dtype {dtype}; graphdiff's values are float32, float64, "
                "int64 or bool"
            )
        # A node's id was reserved when the node was read (a Constant, a folded Shape): it is this value's.
        reserved = value.id_hint in self.ids.used and value.id_hint not in self.graph
        id = value.id_hint if reserved else self.ids.fresh(value.id_hint)
        if value.initializer and dtype in ("float32", "float64") and trainable and not self.freeze:
            tensor = self.graph.parameter(id, value.value, dtype=dtype, description=value.description)
        else:
            tensor = self.constant(value.value.astype(dtype), id, value.description)
        self.values[name] = tensor
        return tensor

    def constant(self, array: np.ndarray, id: str, description: str) -> Tensor:
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise Unsupported(
                f"constant {json.dumps(id)} holds inf or nan; graphdiff's files hold finite numbers"
            )
        return self.graph.constant(id, array, dtype=_value_dtype(array), description=description)

    # nodes

    def _known(self, node: onnx.NodeProto) -> bool:
        return node.domain in DEFAULT_DOMAINS and node.op_type in CONVERTERS

    def _place(self, index: int, node: onnx.NodeProto) -> str:
        name = json.dumps(node.name) if node.name else f"#{index}"
        domain = node.domain or "ai.onnx"
        return f"node {name} ({node.op_type}, domain {json.dumps(domain)})"

    def _report_unknown(self, index: int, node: onnx.NodeProto) -> None:
        if node.domain not in DEFAULT_DOMAINS:
            why = f"custom domain {json.dumps(node.domain)}: graphdiff imports ONNX's standard ops only"
        else:
            why = f"op type {node.op_type} is not supported"
        self.problems.append(Problem(self.source.label, self._place(index, node), why))

    def _fail(self, node: onnx.NodeProto) -> None:
        for name in node.output:
            if name:
                self.values[name] = _FAILED

    def _convert(self, index: int, node: onnx.NodeProto, consumed: set[str]) -> None:
        place = self._place(index, node)
        for name in node.input:
            if name and name not in self.values:
                self.problems.append(
                    Problem(
                        self.source.label, place, f"input {json.dumps(name)} is not defined before this node"
                    )
                )
                self._fail(node)
                return
        if any(self.values.get(name) is _FAILED for name in node.input if name):
            self._fail(node)
            return
        context = NodeContext(self, node, self._base_id(node), place)
        try:
            outputs = self._run_converter(context)
            unread = context.unread_attributes()
            if unread:
                raise Unsupported(f"attribute {', '.join(unread)} is not supported")
            for position, name in enumerate(node.output):
                if position >= len(outputs) and name and name in consumed:
                    raise Unsupported(
                        f"output {position} ({json.dumps(name)}) is used, but graphdiff computes "
                        f"only the first {len(outputs)}"
                    )
        except (Unsupported, GraphdiffError) as exc:
            self.problems.append(Problem(self.source.label, place, _text(exc)))
            self._fail(node)
            return
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                self.values[name] = value

    def _run_converter(self, context: NodeContext) -> tuple[Value, ...]:
        fold = FOLDERS.get(context.op_type)
        inputs = [context.value(i) for i in range(context.input_count) if context.has(i)]
        if fold is not None and all(isinstance(v, Static) and self._foldable(v) for v in inputs):
            array = np.asarray(fold(context))
            if array.dtype.kind in "US":  # a symbol numpy picked out as a str: keep symbols as objects
                array = array.astype(object)
            return (Static(array, context.base_id, context.description),)
        result = CONVERTERS[context.op_type](context)
        return result if isinstance(result, tuple) else (result,)

    def _foldable(self, value: Static) -> bool:
        # A float initializer is a parameter: computing with it must stay in the graph to get its gradient.
        return not (value.initializer and value.value.dtype.kind == "f" and not self.freeze)

    def _base_id(self, node: onnx.NodeProto) -> str:
        first = node.output[0] if node.output else ""
        name = first if first in self.graph_outputs else (node.name or first or node.op_type)
        return self.ids.fresh(name)


def _text(exc: BaseException) -> str:
    if isinstance(exc, GraphdiffError):
        return "; ".join(": ".join(part for part in (p.place, p.message) if part) for p in exc.problems)
    return str(exc)


def _model_description(model: onnx.ModelProto, source: ModelSource) -> str:
    producer = " ".join(part for part in (model.producer_name, model.producer_version) if part)
    made = f", made by {producer}" if producer else ""
    graph = f" (graph {json.dumps(model.graph.name)})" if model.graph.name else ""
    return f"Imported from the ONNX model {source.label}{graph}{made}."


def _graph_name(name: str) -> str:
    """A graph name from a file: no control characters (they would reach a terminal), at most 256."""
    return _UNSAFE.sub("_", name)[:256] or "onnx_model"


def import_model(
    model: onnx.ModelProto,
    source: ModelSource,
    *,
    name: str | None = None,
    freeze: bool = False,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Graph:
    """The graph of ``model`` (see the module docstring); raises ModelError listing every problem."""
    return _Importer(model, source, name=name, freeze=freeze, max_elements=max_elements).run()


# --- the converters, by family -----------------------------------------------------------------------------

_UNARY = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Exp": "exp",
    "Log": "log",
    "Abs": "abs",
    "Neg": "neg",
    "Sqrt": "sqrt",
    "Sin": "sin",
    "Cos": "cos",
    "Softplus": "softplus",
}
_BINARY = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Greater": "greater",
    "Less": "less",
    "Equal": "equal",
}


@converts(*_UNARY)
def _unary(ctx: NodeContext) -> Tensor:
    """The graphdiff op of the same name: relu, sigmoid, tanh, exp, log, abs, neg, sqrt, sin, cos,
    softplus."""
    return ctx.apply(_UNARY[ctx.op_type], ctx.tensor(0))


@converts(*_BINARY)
def _binary(ctx: NodeContext) -> Tensor:
    """add, sub, mul, div, greater, less, equal (numpy broadcasting, as ONNX's multidirectional)."""
    return ctx.apply(_BINARY[ctx.op_type], ctx.tensor(0), ctx.tensor(1))


@converts("LessOrEqual", "GreaterOrEqual")
def _or_equal(ctx: NodeContext) -> Tensor:
    """(a < b) + (a == b) > 0 through cast, add and greater: graphdiff has no logical or; nan compares false,
    as in ONNX."""
    a, b = ctx.tensor(0), ctx.tensor(1)
    strict = ctx.apply("less" if ctx.op_type == "LessOrEqual" else "greater", a, b, part="strict")
    equal = ctx.apply("equal", a, b, part="equal")
    either = ctx.apply(
        "add",
        ctx.apply("cast", strict, part="strict.float", dtype="float64"),
        ctx.apply("cast", equal, part="equal.float", dtype="float64"),
        part="either",
    )
    return ctx.apply("greater", either, 0.0)


@converts("Reciprocal")
def _reciprocal(ctx: NodeContext) -> Tensor:
    """div(1, x)."""
    return ctx.apply("div", 1.0, ctx.tensor(0))


@converts("Identity", "Dropout")
def _identity(ctx: NodeContext) -> Value:
    """The same value (no node, unless it makes a graph output). Dropout is inference's identity: ratio and
    seed have no effect; training_mode true and a used mask output are refused."""
    if ctx.op_type == "Dropout":
        # Inference: Dropout passes x through unless training_mode is true (ratio and seed then do nothing).
        ctx.ignore("seed")
        if ctx.has(2) and bool(ctx.scalar(2, "training_mode")):
            raise Unsupported("training_mode is true; graphdiff imports Dropout as the identity of inference")
    return ctx.passed_through(ctx.value(0))


@converts("Max", "Min", "Sum", "Mean")
def _variadic(ctx: NodeContext) -> Tensor:
    """A chain of maximum, minimum or add over any number of inputs; Mean divides the sum by their count."""
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[ctx.op_type]
    tensors = ctx.tensors()
    if len(tensors) == 1 and ctx.op_type != "Mean":
        return ctx.passed_through(tensors[0])
    result = tensors[0]
    last = len(tensors) - 1 if ctx.op_type != "Mean" else len(tensors)
    for index, tensor in enumerate(tensors[1:], start=1):
        result = ctx.apply(op, result, tensor, part=None if index == last else f"{op}{index}")
    if ctx.op_type == "Mean":
        result = ctx.apply("div", result, float(len(tensors)))
    return result


@converts("Pow")
def _pow(ctx: NodeContext) -> Tensor:
    """pow(exponent=b) when b is a constant scalar; power(a, b) otherwise (b cast to a's dtype)."""
    exponent = ctx.value(1)
    if isinstance(exponent, Static) and exponent.value.size == 1 and exponent.value.dtype != object:
        if not exponent.initializer or exponent.value.dtype.kind != "f" or ctx.importer.freeze:
            return ctx.apply("pow", ctx.tensor(0), exponent=float(exponent.value.reshape(())))
    base, power = ctx.tensor(0), ctx.tensor(1)
    if power.dtype != base.dtype:
        power = ctx.apply("cast", power, part="exponent", dtype=base.dtype)
    return ctx.apply("power", base, power)


@converts("LeakyRelu")
def _leaky_relu(ctx: NodeContext) -> Tensor:
    """leaky_relu(negative_slope=alpha); alpha's default 0.01."""
    return ctx.apply("leaky_relu", ctx.tensor(0), negative_slope=float(ctx.attr("alpha", 0.01)))


@converts("Elu")
def _elu(ctx: NodeContext) -> Tensor:
    """elu(alpha); alpha's default 1."""
    return ctx.apply("elu", ctx.tensor(0), alpha=float(ctx.attr("alpha", 1.0)))


@converts("Gelu")
def _gelu(ctx: NodeContext) -> Tensor:
    """gelu(approximate: none or tanh), opset 20."""
    return ctx.apply("gelu", ctx.tensor(0), approximate=ctx.attr("approximate", "none"))


@converts("Clip")
def _clip(ctx: NodeContext) -> Tensor:
    """clip(min, max) from the optional constant inputs min and max."""
    low = float(ctx.scalar(1, "min")) if ctx.has(1) else None
    high = float(ctx.scalar(2, "max")) if ctx.has(2) else None
    return ctx.apply("clip", ctx.tensor(0), min=low, max=high)


@converts("Where")
def _where(ctx: NodeContext) -> Tensor:
    """where(condition, a, b)."""
    return ctx.apply("where", ctx.tensor(0), ctx.tensor(1), ctx.tensor(2))


_CAST_TARGETS = VALUE_DTYPES


@converts("Cast")
def _cast(ctx: NodeContext) -> Tensor:
    """cast(dtype) to float32, float64, int64 or bool; other targets (float16, int32, ...) are refused."""
    to = ctx.attr("to")
    ctx.ignore("saturate", "round_mode")  # they concern 8-bit float targets, which are refused below
    if to not in _CAST_TARGETS:
        raise Unsupported(f"attribute to={dtype_name(to)} is not supported (float32, float64, int64, bool)")
    return ctx.apply("cast", ctx.tensor(0), dtype=_CAST_TARGETS[to])


# linear algebra


@converts("MatMul")
def _matmul(ctx: NodeContext) -> Tensor:
    """matmul (numpy semantics, batched and 1-D included)."""
    return ctx.apply("matmul", ctx.tensor(0), ctx.tensor(1))


@converts("Gemm")
def _gemm(ctx: NodeContext) -> Tensor:
    """alpha A' B' + beta C as transpose (transA, transB), matmul, mul by alpha and beta where they are not 1,
    and add of the optional C."""
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    a, b = ctx.tensor(0), ctx.tensor(1)
    if ctx.attr("transA", 0):
        a = ctx.apply("transpose", a, part="transA")
    if ctx.attr("transB", 0):
        b = ctx.apply("transpose", b, part="transB")
    with_c = ctx.has(2) and beta != 0.0
    y = ctx.apply("matmul", a, b, part="matmul" if alpha != 1.0 or with_c else None)
    if alpha != 1.0:
        y = ctx.apply("mul", y, alpha, part="alpha" if with_c else None)
    if with_c:
        c = ctx.tensor(2)
        if beta != 1.0:
            c = ctx.apply("mul", c, beta, part="beta")
        y = ctx.apply("add", y, c)
    return y


@converts("Einsum")
def _einsum(ctx: NodeContext) -> Tensor:
    """einsum(subscripts=equation)."""
    return ctx.apply("einsum", *ctx.tensors(), subscripts=ctx.attr("equation").replace(" ", ""))


# softmax and reductions


@converts("Softmax", "LogSoftmax")
def _softmax(ctx: NodeContext) -> Tensor:
    """softmax / log_softmax(axis); axis's default -1 (opset 13 and later normalize along one axis)."""
    op = "softmax" if ctx.op_type == "Softmax" else "log_softmax"
    return ctx.apply(op, ctx.tensor(0), axis=int(ctx.attr("axis", -1)))


def _reduce_axes(ctx: NodeContext) -> list[int] | None:
    """A Reduce's axes, from the attribute (ReduceSum before opset 13, the others before 18) or input 1;
    None means every axis, unless noop_with_empty_axes makes no axes mean none (returned as [])."""
    axes = ctx.attr("axes", None)
    if axes is None and ctx.has(1):
        axes = ctx.ints(1, "axes")
    noop = bool(ctx.attr("noop_with_empty_axes", 0))
    if not axes:
        return [] if noop else None
    return [int(a) for a in axes]


_REDUCTIONS = {
    "ReduceSum": ("sum",),
    "ReduceMean": ("mean",),
    "ReduceMax": ("max",),
    "ReduceLogSumExp": ("logsumexp",),
    "ReduceSumSquare": ("square", "sum"),
    "ReduceL1": ("abs", "sum"),
    "ReduceL2": ("square", "sum", "sqrt"),
    "ReduceLogSum": ("sum", "log"),
    "ReduceMin": ("neg", "max", "neg"),
}


@converts(*_REDUCTIONS)
def _reduce(ctx: NodeContext) -> Value:
    """sum, mean, max, logsumexp, and for ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum and ReduceMin the
    elementwise steps around sum or max. Axes from the attribute (before opset 18) or the constant input;
    keepdims's default 1; noop_with_empty_axes. ReduceProd is not supported."""
    axes = _reduce_axes(ctx)
    keepdims = bool(ctx.attr("keepdims", 1))
    x = ctx.tensor(0)
    # With noop_with_empty_axes and no axes, the reductions reduce nothing (axis [] in graphdiff); the
    # elementwise steps still apply, as in ONNX's reference implementation (ReduceSumSquare squares).
    steps = _REDUCTIONS[ctx.op_type]
    for index, op in enumerate(steps):
        part = None if index == len(steps) - 1 else op
        if op in ("sum", "mean", "max", "logsumexp"):
            x = ctx.apply(op, x, part=part, axis=axes, keepdims=keepdims)
        else:
            x = ctx.apply(op, x, part=part)
    return x


# shape


def _dims_product(dims: Sequence[Dim]) -> Dim | None:
    """The product of dims: an int, a symbol times ones, or None when a symbol meets other sizes."""
    symbols = [d for d in dims if isinstance(d, str)]
    known = math.prod(d for d in dims if isinstance(d, int))
    if not symbols:
        return known
    return symbols[0] if len(symbols) == 1 and known == 1 else None


def reshape_target(shape: Sequence[Dim], target: Sequence[Any], allowzero: bool) -> list[int]:
    """ONNX Reshape's target (0 copies a dimension unless allowzero, -1 is inferred, entries may be
    symbols folded from a Shape) as graphdiff's reshape attribute, where only -1 can carry a symbol."""
    dims: list[Any] = []
    for index, d in enumerate(target):
        if isinstance(d, str):
            dims.append(d)
        elif int(d) == 0 and not allowzero:
            if index >= len(shape):
                raise Unsupported(
                    f"shape {list(target)}: 0 at position {index} copies no dimension of the input"
                )
            dims.append(shape[index])
        else:
            dims.append(int(d))
    symbols = [d for d in dims if isinstance(d, str)]
    if not symbols:
        return dims
    if len(symbols) > 1 or (
        symbols and -1 in dims and sorted(s for s in shape if isinstance(s, str)) != symbols
    ):
        raise Unsupported(
            f"shape {_show([str(d) for d in dims])} has more than one dimension graphdiff "
            "cannot size before run time"
        )
    if -1 in dims:
        known_in = math.prod(d for d in shape if isinstance(d, int))
        known_out = math.prod(d for d in dims if isinstance(d, int) and d != -1)
        if known_out == 0 or known_in % known_out:
            raise Unsupported(
                f"shape {_show([str(d) for d in dims])} does not fit the input {format_shape(shape)}"
            )
        dims[dims.index(-1)] = known_in // known_out
    return [-1 if isinstance(d, str) else d for d in dims]


@converts("Reshape")
def _reshape(ctx: NodeContext) -> Tensor:
    """reshape with the constant (or folded) shape: 0 copies a dimension unless allowzero, -1 is inferred, a
    symbolic dimension is carried by -1."""
    target = ctx.static(1, "shape").reshape(-1).tolist()
    x = ctx.tensor(0)
    return ctx.apply("reshape", x, shape=reshape_target(x.shape, target, bool(ctx.attr("allowzero", 0))))


@converts("Flatten")
def _flatten(ctx: NodeContext) -> Tensor:
    """reshape to ONNX Flatten's 2-D (d_0 ... d_axis-1, d_axis ... d_n); axis's default 1."""
    x = ctx.tensor(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.type.ndim if axis < 0 else axis
    head, tail = _dims_product(x.shape[:axis]), _dims_product(x.shape[axis:])
    if head is None and tail is None:
        raise Unsupported(f"flattening {format_shape(x.shape)} at axis {axis} leaves two sizes unknown")
    target = [-1 if head is None else head, -1 if tail is None else tail]
    return ctx.apply("reshape", x, shape=reshape_target(x.shape, target, allowzero=True))


@converts("Transpose")
def _transpose(ctx: NodeContext) -> Tensor:
    """transpose(axes=perm); perm's default reverses the axes."""
    perm = ctx.attr("perm", None)
    return ctx.apply("transpose", ctx.tensor(0), axes=None if perm is None else [int(p) for p in perm])


def _axes_input(ctx: NodeContext, index: int) -> list[int] | None:
    axes = ctx.attr("axes", None)  # opsets before 13
    if axes is None and ctx.has(index):
        axes = ctx.ints(index, "axes")
    return None if axes is None else [int(a) for a in axes]


@converts("Squeeze")
def _squeeze(ctx: NodeContext) -> Tensor:
    """squeeze(axis) from the optional constant axes input (the attribute before opset 13)."""
    return ctx.apply("squeeze", ctx.tensor(0), axis=_axes_input(ctx, 1))


@converts("Unsqueeze")
def _unsqueeze(ctx: NodeContext) -> Tensor:
    """expand_dims(axis) from the constant axes input (the attribute before opset 13)."""
    axes = _axes_input(ctx, 1)
    if axes is None:
        raise Unsupported("input 1 (axes) is required")
    return ctx.apply("expand_dims", ctx.tensor(0), axis=axes)


@converts("Concat")
def _concat(ctx: NodeContext) -> Tensor:
    """concat(axis)."""
    return ctx.apply("concat", *ctx.tensors(), axis=int(ctx.attr("axis")))


@converts("Slice")
def _slice(ctx: NodeContext) -> Tensor:
    """slice(start, stop, step, axes) from the constant inputs; ONNX clamps as Python's slices do, so its
    sentinels (INT64_MAX, -INT64_MAX) carry over."""
    starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    axes = ctx.ints(3, "axes") if ctx.has(3) else None
    steps = ctx.ints(4, "steps") if ctx.has(4) else None
    # ONNX clamps starts and ends exactly as Python's slices do, huge sentinels included.
    return ctx.apply("slice", ctx.tensor(0), start=starts, stop=ends, step=steps, axes=axes)


@converts("Split")
def _split(ctx: NodeContext) -> tuple[Tensor, ...]:
    """One slice per output, sizes from the split input (or attribute), else equal parts (num_outputs)."""
    x = ctx.tensor(0)
    axis = int(ctx.attr("axis", 0)) % max(x.type.ndim, 1)
    size = x.shape[axis]
    count = len(ctx.node.output)
    sizes = ctx.ints(1, "split") if ctx.has(1) else ctx.attr("split", None)
    if sizes is None:
        if not isinstance(size, int):
            raise Unsupported(f"splitting the symbolic axis {axis} ({size}) needs its sizes")
        # Even parts, the last smaller when they do not divide (num_outputs, opset 18).
        ctx.attr("num_outputs", None)
        part = -(-size // count)
        sizes = [min(part, size - part * i) for i in range(count)]
    outputs, offset = [], 0
    for index, length in enumerate(sizes):
        outputs.append(
            ctx.apply(
                "slice",
                x,
                id=ctx.output_id(index, f"split{index}"),
                start=[offset],
                stop=[offset + int(length)],
                axes=[axis],
            )
        )
        offset += int(length)
    return tuple(outputs)


@converts("Expand")
def _expand(ctx: NodeContext) -> Tensor:
    """broadcast_to the bidirectional broadcast of x's shape and the constant shape (sizes known)."""
    x = ctx.tensor(0)
    shape = ctx.ints(1, "shape")
    # Expand broadcasts both ways: the result has the broadcast of x's shape and the given one.
    ndim = max(len(shape), x.type.ndim)
    padded_x = (1,) * (ndim - x.type.ndim) + tuple(x.shape)
    padded = [1] * (ndim - len(shape)) + shape
    target = [d if s == 1 else s for d, s in zip(padded_x, padded, strict=True)]
    if any(isinstance(d, str) for d in target):
        raise Unsupported(
            f"expanding {format_shape(x.shape)} to {shape} keeps a symbolic dimension; "
            "graphdiff's broadcast_to needs sizes"
        )
    return ctx.apply("broadcast_to", x, shape=target)


@converts("Pad")
def _pad(ctx: NodeContext) -> Tensor:
    """pad(pad_width, value) in mode constant, from the pads, constant_value and axes inputs; negative pads
    (cropping) and the other modes are refused."""
    mode = ctx.attr("mode", "constant")
    if mode != "constant":
        raise Unsupported(f'attribute mode={json.dumps(mode)} is not supported (only "constant")')
    x = ctx.tensor(0)
    pads = ctx.ints(1, "pads")
    value = float(ctx.scalar(2, "constant_value")) if ctx.has(2) else 0.0
    ndim = x.type.ndim
    axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(ndim))
    axes = [a % ndim for a in axes]
    width = [[0, 0] for _ in range(ndim)]
    for position, axis in enumerate(axes):
        before, after = pads[position], pads[position + len(axes)]
        if before < 0 or after < 0:
            raise Unsupported(f"negative pads {pads} (cropping) are not supported")
        width[axis] = [before, after]
    return ctx.apply("pad", x, pad_width=width, value=value)


# indexing


@converts("Gather")
def _gather(ctx: NodeContext) -> Tensor:
    """take(x, indices, axis); axis's default 0."""
    return ctx.apply("take", ctx.tensor(0), ctx.tensor(1), axis=int(ctx.attr("axis", 0)))


@converts("GatherElements")
def _gather_elements(ctx: NodeContext) -> Tensor:
    """take_along_axis(x, indices, axis); axis's default 0."""
    return ctx.apply("take_along_axis", ctx.tensor(0), ctx.tensor(1), axis=int(ctx.attr("axis", 0)))


@converts("OneHot")
def _one_hot(ctx: NodeContext) -> Tensor:
    """one_hot(depth), scaled to the values' off and on, along axis (a transpose when not last); a negative
    label is refused at run time, where ONNX counts it from the end."""
    labels = ctx.tensor(0)
    depth = int(ctx.scalar(1, "depth"))
    values = ctx.static(2, "values").reshape(-1)
    dtype = _value_dtype(values)
    if dtype not in ("float32", "float64"):
        raise Unsupported(f"input 2 (values) is {values.dtype}; graphdiff's one_hot makes float32 or float64")
    axis = int(ctx.attr("axis", -1))
    if labels.dtype != "int64":
        labels = ctx.apply("cast", labels, part="labels", dtype="int64")
    off, on = float(values[0]), float(values[1])
    plain, last = off == 0.0 and on == 1.0, axis in (-1, labels.type.ndim)
    hot = ctx.apply("one_hot", labels, part=None if plain and last else "one_hot", depth=depth, dtype=dtype)
    if not plain:
        hot = ctx.apply("mul", hot, on - off, part="scaled")
        hot = ctx.apply("add", hot, off, part=None if last else "shifted")
    if not last:
        ndim = labels.type.ndim + 1
        axis %= ndim
        hot = ctx.apply("transpose", hot, axes=list(range(axis)) + [ndim - 1] + list(range(axis, ndim - 1)))
    return hot


# convolution and pooling


def _spatial(ctx: NodeContext, name: str, default: int) -> tuple[int, int]:
    values = ctx.attr(name, [default, default])
    if len(values) != 2:
        raise Unsupported(f"attribute {name}={values} is not 2-D; graphdiff convolves (N, C, H, W) images")
    return int(values[0]), int(values[1])


def _pads(
    ctx: NodeContext, x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> list[int]:
    """[top, left, bottom, right], from ``pads`` or ``auto_pad`` (SAME_* needs the image size)."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = [int(p) for p in ctx.attr("pads", [0, 0, 0, 0])]
        if len(pads) != 4:
            raise Unsupported(f"attribute pads={pads} is not 2-D")
        return pads
    if auto_pad == "VALID":
        ctx.attr("pads", None)
        return [0, 0, 0, 0]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"attribute auto_pad={json.dumps(auto_pad)} is not supported")
    before, after = [], []
    for axis in (0, 1):
        size = x.shape[2 + axis]
        if not isinstance(size, int):
            raise Unsupported(f"auto_pad={auto_pad} over the symbolic size {size} cannot be computed")
        out = -(-size // stride[axis])
        total = max(0, (out - 1) * stride[axis] + (kernel[axis] - 1) * dilation[axis] + 1 - size)
        small, large = total // 2, total - total // 2
        before.append(small if auto_pad == "SAME_UPPER" else large)
        after.append(large if auto_pad == "SAME_UPPER" else small)
    return [before[0], before[1], after[0], after[1]]


def _image(ctx: NodeContext) -> Tensor:
    x = ctx.tensor(0)
    if x.type.ndim != 4:
        raise Unsupported(
            f"input X has shape {format_shape(x.shape)}; graphdiff convolves and pools 4-D "
            "(N, C, H, W) images only"
        )
    return x


def _symmetric_or_padded(
    ctx: NodeContext, x: Tensor, pads: list[int], value: float | None
) -> tuple[Tensor, tuple[int, int]]:
    """graphdiff's padding is the same on both sides of an axis; other pads become an explicit pad node
    (of ``value``; None when that would change the result)."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    if value is None:
        raise Unsupported(
            f"attribute pads={pads} pads the sides unequally, which graphdiff's {ctx.op_type} cannot"
        )
    padded = ctx.apply(
        "pad", x, part="pad", pad_width=[[0, 0], [0, 0], [top, bottom], [left, right]], value=value
    )
    return padded, (0, 0)


@converts("Conv")
def _conv(ctx: NodeContext) -> Tensor:
    """conv2d(stride=strides, padding, dilation=dilations, groups=group) on (N, C, H, W), bias optional;
    unequal pads and auto_pad SAME_UPPER / SAME_LOWER (with known sizes) add a pad node, VALID pads
    nothing. 1-D and 3-D convolutions are refused."""
    x = _image(ctx)
    weight = ctx.tensor(1)
    kernel = tuple(weight.shape[2:])
    if (
        "kernel_shape" in {a.name for a in ctx.node.attribute}
        and tuple(_spatial(ctx, "kernel_shape", 1)) != kernel
    ):
        raise Unsupported(f"attribute kernel_shape does not match the weight's {kernel}")
    stride, dilation = _spatial(ctx, "strides", 1), _spatial(ctx, "dilations", 1)
    pads = _pads(ctx, x, kernel, stride, dilation)
    x, padding = _symmetric_or_padded(ctx, x, pads, 0.0)
    inputs = [x, weight] + ([ctx.tensor(2)] if ctx.has(2) else [])
    return ctx.apply(
        "conv2d",
        *inputs,
        stride=list(stride),
        padding=list(padding),
        dilation=list(dilation),
        groups=int(ctx.attr("group", 1)),
    )


@converts("MaxPool", "AveragePool")
def _pool(ctx: NodeContext) -> Tensor:
    """max_pool2d / avg_pool2d(kernel_size=kernel_shape, stride=strides, padding=pads); ONNX's stride default
    is 1, AveragePool's count_include_pad default 0. ceil_mode 1, dilations, storage_order 1 and a used
    Indices output are refused; unequal pads only for AveragePool counting the padding."""
    x = _image(ctx)
    kernel = _spatial(ctx, "kernel_shape", 1)
    stride = _spatial(ctx, "strides", 1)  # ONNX's default stride is 1, graphdiff's (and torch's) the kernel
    ctx.refuse("ceil_mode", 0)
    if ctx.op_type == "MaxPool":
        ctx.refuse("storage_order", 0)
    if _spatial(ctx, "dilations", 1) != (1, 1):
        raise Unsupported("attribute dilations is not supported for pooling (only 1)")
    pads = _pads(ctx, x, kernel, stride, (1, 1))
    if ctx.op_type == "MaxPool":
        x, padding = _symmetric_or_padded(ctx, x, pads, None)
        return ctx.apply(
            "max_pool2d", x, kernel_size=list(kernel), stride=list(stride), padding=list(padding)
        )
    count_include_pad = bool(ctx.attr("count_include_pad", 0))
    x, padding = _symmetric_or_padded(ctx, x, pads, 0.0 if count_include_pad else None)
    return ctx.apply(
        "avg_pool2d",
        x,
        kernel_size=list(kernel),
        stride=list(stride),
        padding=list(padding),
        count_include_pad=count_include_pad,
    )


@converts("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: NodeContext) -> Tensor:
    """mean / max over the spatial axes, keepdims."""
    x = ctx.tensor(0)
    op = "mean" if ctx.op_type == "GlobalAveragePool" else "max"
    return ctx.apply(op, x, axis=list(range(2, x.type.ndim)), keepdims=True)


# normalization


@converts("BatchNormalization")
def _batch_norm(ctx: NodeContext) -> Tensor:
    """Inference form: (x - mean) / sqrt(var + epsilon) * scale + B as elementwise nodes, the running
    statistics constants and scale, B parameters; momentum has no effect; training_mode 1 is refused."""
    if bool(ctx.attr("training_mode", 0)):
        raise Unsupported("attribute training_mode=1 is not supported (graphdiff imports inference form)")
    ctx.ignore("momentum")  # it only updates the running statistics in training
    eps = float(ctx.attr("epsilon", 1e-5))
    x = ctx.tensor(0)
    if x.type.ndim < 2:
        raise Unsupported(f"input X has shape {format_shape(x.shape)}; batch normalization needs (N, C, ...)")
    view = [-1] + [1] * (x.type.ndim - 2)
    scale, bias, mean, var = (
        ctx.apply("reshape", ctx.tensor(i, trainable=i < 3), part=f"{name}.view", shape=view)
        for i, name in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var"))
    )
    centered = ctx.apply("sub", x, mean, part="centered")
    std = ctx.apply("sqrt", ctx.apply("add", var, eps, part="var_eps"), part="std")
    normalized = ctx.apply("div", centered, std, part="normalized")
    return ctx.apply("add", ctx.apply("mul", normalized, scale, part="scaled"), bias)


@converts("LayerNormalization")
def _layer_norm(ctx: NodeContext) -> Tensor:
    """layer_norm(normalized_ndim from axis, eps=epsilon), Scale and B as weight and bias; stash_type 1 only;
    the Mean and InvStdDev outputs are refused when used."""
    x = ctx.tensor(0)
    axis = int(ctx.attr("axis", -1))
    axis = axis % x.type.ndim
    ctx.refuse("stash_type", 1)
    eps = float(ctx.attr("epsilon", 1e-5))
    inputs = [x, ctx.tensor(1)] + ([ctx.tensor(2)] if ctx.has(2) else [])
    return ctx.apply("layer_norm", *inputs, normalized_ndim=x.type.ndim - axis, eps=eps)


# losses


def _loss_reduction(ctx: NodeContext) -> str:
    if ctx.has(2):
        raise Unsupported("input 2 (weights) is not supported: graphdiff's losses weigh classes equally")
    if ctx.attr("ignore_index", None) is not None:
        raise Unsupported("attribute ignore_index is not supported: every label must be a class")
    return ctx.attr("reduction", "mean")


@converts("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(ctx: NodeContext) -> Tensor:
    """softmax_cross_entropy(reduction) of (N, C) scores and (N,) labels; weights and ignore_index are
    refused."""
    return ctx.apply("softmax_cross_entropy", ctx.tensor(0), ctx.tensor(1), reduction=_loss_reduction(ctx))


@converts("NegativeLogLikelihoodLoss")
def _nll_loss(ctx: NodeContext) -> Tensor:
    """nll_loss(reduction), as SoftmaxCrossEntropyLoss."""
    return ctx.apply("nll_loss", ctx.tensor(0), ctx.tensor(1), reduction=_loss_reduction(ctx))


# constants and shape arithmetic, folded while importing


@converts("Constant")
def _constant(ctx: NodeContext) -> Static:
    """A constant known while importing (value, value_float(s), value_int(s)); it becomes a leaf where a
    computation uses it."""
    present = [a.name for a in ctx.node.attribute]
    if len(present) != 1:
        raise Unsupported(f"a Constant has exactly one value attribute, not {present}")
    name = present[0]
    if name in ("sparse_value", "value_string", "value_strings"):
        raise Unsupported(f"attribute {name} is not supported (graphdiff's constants are numbers)")
    value = ctx.attr(name)
    if name == "value_float":
        value = np.asarray(value, dtype=np.float32)
    elif name == "value_floats":
        value = np.asarray(value, dtype=np.float32)
    elif name in ("value_int", "value_ints"):
        value = np.asarray(value, dtype=np.int64)
    return Static(np.asarray(value), ctx.base_id, ctx.description)


@converts("Shape")
def _shape(ctx: NodeContext) -> Static:
    """Folded to a constant of x's dimensions (start, end), a symbolic dimension kept as its name for Gather,
    Concat, Unsqueeze, Squeeze, Slice, Cast and Reshape to carry."""
    dims = list(ctx.type(0).shape)
    start, end = int(ctx.attr("start", 0)), ctx.attr("end", None)
    picked = dims[start:] if end is None else dims[start : int(end)]
    kind = object if any(isinstance(d, str) for d in picked) else np.int64
    return Static(np.array(picked, dtype=kind), ctx.base_id, ctx.description)


@converts("Size")
def _size(ctx: NodeContext) -> Static:
    """Folded to a constant when every dimension is known."""
    shape = ctx.type(0).shape
    if any(isinstance(d, str) for d in shape):
        raise Unsupported(f"the size of {format_shape(shape)} depends on a symbolic dimension")
    return Static(np.array(math.prod(shape), dtype=np.int64), ctx.base_id, ctx.description)


def _numeric(array: np.ndarray) -> np.ndarray:
    if array.dtype == object:
        raise Unsupported(f"arithmetic on the symbolic dimension in {_show(array.tolist())} cannot be folded")
    return array


@folds(
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Equal",
    "Greater",
    "Less",
    "Max",
    "Min",
    "Abs",
    "Sqrt",
    "Exp",
    "Log",
    "Reciprocal",
    "Relu",
)
def _fold_arithmetic(ctx: NodeContext) -> np.ndarray:
    values = [_numeric(ctx.static(i, "operand")) for i in range(ctx.input_count) if ctx.has(i)]
    functions: dict[str, Callable[..., np.ndarray]] = {
        "Add": np.add,
        "Sub": np.subtract,
        "Mul": np.multiply,
        "Neg": np.negative,
        "Equal": np.equal,
        "Greater": np.greater,
        "Less": np.less,
        "Abs": np.abs,
        "Sqrt": np.sqrt,
        "Exp": np.exp,
        "Log": np.log,
        "Reciprocal": np.reciprocal,
        "Relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    }
    if ctx.op_type == "Div":
        a, b = values
        if a.dtype.kind in "iu":  # ONNX's integer division truncates toward zero
            if np.any(b == 0):
                raise Unsupported("integer division by zero")
            return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)
        return np.divide(a, b)
    if ctx.op_type in ("Max", "Min"):
        reduce = np.maximum if ctx.op_type == "Max" else np.minimum
        result = values[0]
        for value in values[1:]:
            result = reduce(result, value)
        return result
    with np.errstate(all="ignore"):
        return np.asarray(functions[ctx.op_type](*values))


@folds("Cast")
def _fold_cast(ctx: NodeContext) -> np.ndarray:
    to = ctx.attr("to")
    ctx.ignore("saturate", "round_mode")
    value = ctx.static(0, "input")
    if to not in _CAST_TARGETS and to != onnx.TensorProto.INT32:
        raise Unsupported(f"attribute to={dtype_name(to)} is not supported")
    if value.dtype == object:
        if to not in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            raise Unsupported("casting a symbolic dimension to a non-integer type cannot be folded")
        return value
    return value.astype("int32" if to == onnx.TensorProto.INT32 else _CAST_TARGETS[to])


@folds("Identity")
def _fold_identity(ctx: NodeContext) -> np.ndarray:
    return ctx.static(0, "input")


@folds("Gather")
def _fold_gather(ctx: NodeContext) -> np.ndarray:
    data, indices = ctx.static(0, "data"), _numeric(ctx.static(1, "indices"))
    axis = int(ctx.attr("axis", 0))
    try:
        return np.take(data, indices.astype(np.int64), axis=axis)
    except IndexError as exc:
        raise Unsupported(f"index out of range: {exc}") from None


@folds("Unsqueeze")
def _fold_unsqueeze(ctx: NodeContext) -> np.ndarray:
    value = ctx.static(0, "data")
    axes = _axes_input(ctx, 1) or []
    return np.expand_dims(value, tuple(axes)) if axes else value


@folds("Squeeze")
def _fold_squeeze(ctx: NodeContext) -> np.ndarray:
    value = ctx.static(0, "data")
    axes = _axes_input(ctx, 1)
    return np.squeeze(value, axis=None if axes is None else tuple(axes))


@folds("Concat")
def _fold_concat(ctx: NodeContext) -> np.ndarray:
    parts = [ctx.static(i, "input") for i in range(ctx.input_count) if ctx.has(i)]
    return np.concatenate(parts, axis=int(ctx.attr("axis")))


@folds("Slice")
def _fold_slice(ctx: NodeContext) -> np.ndarray:
    value = ctx.static(0, "data")
    starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(len(starts)))
    steps = ctx.ints(4, "steps") if ctx.has(4) else [1] * len(starts)
    index = [slice(None)] * value.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        index[axis % value.ndim] = slice(start, end, step)
    return value[tuple(index)]


@folds("Reshape")
def _fold_reshape(ctx: NodeContext) -> np.ndarray:
    value = ctx.static(0, "data")
    target = reshape_target(value.shape, ctx.ints(1, "shape"), bool(ctx.attr("allowzero", 0)))
    return value.reshape(target)


@folds("ConstantOfShape")
def _fold_constant_of_shape(ctx: NodeContext) -> np.ndarray:
    shape = ctx.ints(0, "shape")
    fill = ctx.attr("value", np.zeros(1, dtype=np.float32))
    if math.prod(shape) > ctx.importer.max_elements:
        raise Unsupported(f"shape {shape} is over the cap of {ctx.importer.max_elements} elements")
    return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)


@converts("ConstantOfShape")
def _constant_of_shape(ctx: NodeContext) -> Static:
    """Folded to a constant (the shape known while importing)."""
    ctx.static(0, "shape")
    return Static(_fold_constant_of_shape(ctx), ctx.base_id, ctx.description)


@folds("Range")
def _fold_range(ctx: NodeContext) -> np.ndarray:
    start, limit, delta = (
        _numeric(ctx.static(i, name)) for i, name in enumerate(("start", "limit", "delta"))
    )
    count = max(int(np.ceil((limit - start) / delta)), 0) if delta != 0 else -1
    if count < 0 or count > ctx.importer.max_elements:
        raise Unsupported(f"Range({start}, {limit}, {delta}) has no size graphdiff can hold")
    return np.arange(count, dtype=start.dtype) * delta + start


@converts("Range")
def _range(ctx: NodeContext) -> Static:
    """Folded to a constant (the bounds known while importing)."""
    for index in range(3):
        ctx.static(index, "bound")
    return Static(_fold_range(ctx), ctx.base_id, ctx.description)


@folds("Where")
def _fold_where(ctx: NodeContext) -> np.ndarray:
    condition, a, b = (ctx.static(i, "input") for i in range(3))
    return np.where(_numeric(condition), a, b)


@folds("Expand")
def _fold_expand(ctx: NodeContext) -> np.ndarray:
    value, shape = ctx.static(0, "input"), ctx.ints(1, "shape")
    target = np.broadcast_shapes(value.shape, tuple(shape))
    if math.prod(target) > ctx.importer.max_elements:
        raise Unsupported(f"shape {list(target)} is over the cap of {ctx.importer.max_elements} elements")
    return np.broadcast_to(value, target).copy()


def support_table() -> str:
    """README's ONNX support table, one row per converter: the ONNX op types and what they become (the
    first paragraph of the converter's docstring). Made from :data:`CONVERTERS`, never kept by hand."""
    by_converter: dict[Converter, list[str]] = {}
    for op_type, converter in CONVERTERS.items():
        by_converter.setdefault(converter, []).append(op_type)
    lines = ["| ONNX op | graphdiff | ", "| --- | --- |"]
    for converter, op_types in by_converter.items():
        doc = " ".join((converter.__doc__ or "").split("\n\n")[0].split()).replace("|", "\\|")
        lines.append(f"| {', '.join(f'`{t}`' for t in op_types)} | {doc} |")
    lines[0] = lines[0].rstrip()
    return "\n".join(lines) + "\n"
