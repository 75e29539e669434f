"""The Python API: build a graph (or load one), run it forward and backward, read and save the results.

>>> import graphdiff as gd
>>> g = gd.Graph("circuit")
>>> x, y, z = g.input("x", value=-2.0), g.input("y", value=5.0), g.input("z", value=-4.0)
>>> q = (x + y).named("q")
>>> f = (q * z).named("f")
>>> g.set_loss(f)
>>> result = g.run()
>>> float(result.value("f")), float(result.grad("x")), float(result.grad("z"))
(-12.0, -4.0, 3.0)

A :class:`Graph` is a spec being built plus, once used, its checked graph and compiled plan (made once
and reused until the graph changes). Ops applied in Python are shape-checked at once, so a mistake is
reported at the line that made it.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .errors import GraphdiffError, Problem, ShapeError, SpecError
from .executor import Gradients, Plan, Trace, bind_feeds, compile_plan
from .fileio import write_atomic
from .gradcheck import GradientCheckReport, check_plan_gradients
from .graph import CheckedGraph, check_graph, gc_paused, literal_value
from .nodecheck import check_node, infer_type, undefined_input
from .ops import FLOAT_DTYPES, TensorType, format_shape
from .spec import (
    DEFAULT_MAX_ELEMENTS,
    FORMAT_VERSION,
    GraphSpec,
    LeafSpec,
    NodeSpec,
    SpecSource,
    dump_spec,
    parse_spec,
    read_spec,
)
from .spec.arrays import shape_size_problem
from .spec.problems import validation_messages, validation_problems
from .spec.strict_json import format_path

ArrayLike = Any

#: Results with more elements than this are refused as JSON; save them as .npz.
MAX_JSON_RESULT_ELEMENTS = 1_000_000
#: A notebook's table of a result shows at most this many rows (leaves and nodes) ...
MAX_HTML_ROWS = 100
#: ... and at most this many characters per cell, so a huge graph or a long id stays a readable page.
MAX_HTML_CELL = 120


class Tensor:
    """A leaf or node of a :class:`Graph`, as the builder hands it out: supports ``+ - * / ** @``."""

    __slots__ = ("graph", "id")

    def __init__(self, graph: Graph, id: str) -> None:
        self.graph = graph
        self.id = id

    @property
    def type(self) -> TensorType:
        return self.graph._types[self.id]

    @property
    def shape(self) -> tuple[int | str, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def value(self) -> np.ndarray:
        """This tensor's value in the graph's last run."""
        return self.graph.last_result().value(self.id)

    @property
    def grad(self) -> np.ndarray:
        """d(loss)/d(this tensor) from the graph's last backward pass."""
        return self.graph.last_result().grad(self.id)

    def named(self, id: str) -> Tensor:
        """Give this node a readable id (only while nothing uses it yet): ``q = (x + y).named("q")``."""
        self.graph._rename(self.id, id)
        self.id = id
        return self

    def __repr__(self) -> str:
        kind = self.graph._kind(self.id)
        return f"Tensor({self.id!r}, {kind}, shape={format_shape(self.shape)}, dtype={self.dtype})"

    # Operators. Python numbers become constant leaves of the other operand's dtype.
    def __add__(self, other: Tensor | float) -> Tensor:
        return self.graph.apply("add", self, other)

    def __radd__(self, other: float) -> Tensor:
        return self.graph.apply("add", other, self)

    def __sub__(self, other: Tensor | float) -> Tensor:
        return self.graph.apply("sub", self, other)

    def __rsub__(self, other: float) -> Tensor:
        return self.graph.apply("sub", other, self)

    def __mul__(self, other: Tensor | float) -> Tensor:
        return self.graph.apply("mul", self, other)

    def __rmul__(self, other: float) -> Tensor:
        return self.graph.apply("mul", other, self)

    def __truediv__(self, other: Tensor | float) -> Tensor:
        return self.graph.apply("div", self, other)

    def __rtruediv__(self, other: float) -> Tensor:
        return self.graph.apply("div", other, self)

    def __neg__(self) -> Tensor:
        return self.graph.apply("neg", self)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor):
            raise TypeError("graphdiff's pow takes a constant exponent (a Python number)")
        return self.graph.apply("pow", self, exponent=float(exponent))

    def __matmul__(self, other: Tensor) -> Tensor:
        return self.graph.apply("matmul", self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return self.graph.apply("matmul", other, self)

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy's name)
        return self.graph.apply("transpose", self)

    def sum(self, axis: int | list[int] | None = None, keepdims: bool = False) -> Tensor:
        return self.graph.apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | list[int] | None = None, keepdims: bool = False) -> Tensor:
        return self.graph.apply("mean", self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | list[int] | None = None, keepdims: bool = False) -> Tensor:
        return self.graph.apply("max", self, axis=axis, keepdims=keepdims)


class Result:
    """Values (and, after backward, gradients) of one run, addressable by id."""

    def __init__(
        self,
        graph: CheckedGraph,
        trace: Trace,
        gradients: Gradients | None = None,
        *,
        edges: Callable[[], dict[tuple[str, int], np.ndarray] | None] | None = None,
    ) -> None:
        self.graph = graph
        self.trace = trace
        self._grads = dict(gradients.grads) if gradients is not None else None
        self._edge_grads = gradients.edge_grads if gradients is not None else None
        #: How to record the edges' gradients when first asked, if backward did not (see edge_grads).
        self._edges = edges

    @property
    def loss(self) -> float | None:
        """The loss value, or None when the graph has no loss."""
        return float(self.value(self.graph.loss)) if self.graph.loss else None

    def value(self, id: str) -> np.ndarray:
        """The forward value of a leaf or node."""
        return self.trace.value(id)

    def grad(self, id: str) -> np.ndarray:
        """d(loss)/d(id), as computed by the backward pass."""
        if self._grads is None:
            raise GraphdiffError(f"no gradients: run backward() first (asked for {json.dumps(id)})")
        if id not in self._grads:
            self.trace.plan.slot_of(id)  # raises for an unknown id
            type_ = self.graph.types[id]
            reason = f"{type_.dtype} values have no gradient" if not type_.is_float else "not asked for"
            raise GraphdiffError(f"no gradient for {json.dumps(id)}: {reason}")
        return self._grads[id]

    @property
    def values(self) -> dict[str, np.ndarray]:
        return {id: self.trace.value(id) for id in self.graph.order}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return dict(self._grads or {})

    @property
    def edge_grads(self) -> dict[tuple[str, int], np.ndarray] | None:
        """The gradient along each edge, keyed by (consumer id, input position); their sum over a value's
        consumers is its gradient. None when backward named the gradients it wanted (``wrt``). Diagrams
        ask for them: the first ask reruns the backward pass recording every edge (``graph.run()``
        itself takes the fastest path, which records none), and the answer is kept."""
        if self._edge_grads is None and self._edges is not None:
            self._edge_grads, self._edges = self._edges(), None
        return dict(self._edge_grads) if self._edge_grads is not None else None

    @property
    def has_grads(self) -> bool:
        return self._grads is not None

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        return {id: self.value(id) for id in self.graph.outputs}

    def summary_rows(self, limit: int | None = None) -> list[tuple[str, str, str, str, str]]:
        """One row per leaf and node (the first ``limit`` of them), in the graph's order, as short text:
        the id (the loss marked ``(loss)``), what it is (its kind, or ``op(inputs)``), its shape, its
        value and its gradient (``-`` where there is none). Tensors are summarized by
        :func:`format_array`, never dumped. What ``graphdiff grad`` prints, and the table a notebook
        shows."""
        graph = self.graph
        rows = []
        for id in graph.order[:limit]:
            kind = graph.kind(id)
            if kind == "node":
                node = graph.nodes[id]
                kind = f"{node.op}({', '.join(node.inputs)})"
            try:
                value = format_array(self.value(id))
            except GraphdiffError:  # freed by a memory-saving forward pass
                value = "(not kept)"
            grad = (self._grads or {}).get(id)
            rows.append(
                (
                    id + (" (loss)" if id == graph.loss and id != "loss" else ""),
                    kind,
                    format_shape(graph.types[id].shape) if graph.types[id].shape else "scalar",
                    value,
                    "-" if grad is None else format_array(grad),
                )
            )
        return rows

    def _repr_html_(self) -> str:
        """The value/gradient table Jupyter shows for a result: at most :data:`MAX_HTML_ROWS` rows of at
        most :data:`MAX_HTML_CELL` characters a cell, every string from the graph HTML-escaped."""
        graph = self.graph
        rows = self.summary_rows(MAX_HTML_ROWS)  # the rows shown only: a huge graph costs no more
        loss = graph.loss or "L"
        header = ("id", "kind", "shape", "value", f"d{loss}/d(id)")
        if self.loss is not None:
            status = f"loss {format_array(np.asarray(self.loss))}"
        else:
            status = "no loss"
        status += "" if self.has_grads else "; forward only (run backward() for gradients)"

        def line(tag: str, cells: Iterable[str]) -> str:
            return "<tr>" + "".join(f"<{tag}>{_html_cell(c)}</{tag}>" for c in cells) + "</tr>"

        parts = [
            # Scoped to the table's class: a notebook's other outputs keep their own style.
            "<style>.graphdiff-result caption, .graphdiff-result th, .graphdiff-result td "
            "{text-align: left; vertical-align: top} .graphdiff-result td {font-family: monospace}"
            " .graphdiff-result td:nth-child(-n+3) {white-space: nowrap}</style>",
            '<table class="graphdiff-result">',
            f"<caption>Result of graph <b>{_html_cell(graph.name)}</b>: {html.escape(status)}</caption>",
            "<thead>" + line("th", header) + "</thead>",
            "<tbody>",
            *(line("td", row) for row in rows),
            "</tbody>",
            "</table>",
        ]
        hidden = len(graph.order) - len(rows)
        if hidden > 0:
            parts.append(
                f"<p>... and {hidden:,} more rows: result.values and result.grads hold every one</p>"
            )
        return "\n".join(parts)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Save values and gradients atomically: ``.json`` (small results, bit-exact floats) or ``.npz``.
        An existing file is replaced only if ``overwrite``."""
        target = Path(path)
        if target.suffix == ".npz":
            arrays = {f"value/{id}": v for id, v in self.values.items()}
            arrays |= {f"grad/{id}": g for id, g in self.grads.items()}
            buffer = BytesIO()
            np.savez(buffer, **arrays)
            return write_atomic(target, buffer.getvalue(), overwrite=overwrite)
        if target.suffix == ".json":
            size = sum(v.size for v in self.values.values()) + sum(g.size for g in self.grads.values())
            if size > MAX_JSON_RESULT_ELEMENTS:
                raise GraphdiffError(f"{target}: {size} numbers are too many for JSON; save as .npz")
            document = {
                "graph": self.graph.name,
                "loss": json_number(self.loss) if self.loss is not None else None,
                "values": {id: json_array(v) for id, v in self.values.items()},
                "grads": {id: json_array(g) for id, g in self.grads.items()},
            }
            return write_atomic(
                target, json.dumps(document, indent=1, allow_nan=False) + "\n", overwrite=overwrite
            )
        raise GraphdiffError(f"{target}: results are saved as .json or .npz")


def _html_cell(text: str) -> str:
    """``text`` shortened to :data:`MAX_HTML_CELL` characters and escaped for HTML."""
    if len(text) > MAX_HTML_CELL:
        text = text[: MAX_HTML_CELL - 3] + "..."
    return html.escape(text, quote=True)


def format_array(value: np.ndarray, *, full: bool = False) -> str:
    """A scalar as a number; a small array inline; a large one as shape, dtype and summary statistics.

    Small means up to 9 elements (up to 1,000 with ``full``, as ``graphdiff run`` prints outputs)."""
    value = np.asarray(value)
    if value.ndim == 0:
        return _number(value.item())
    if value.size <= (1000 if full else 9):
        with np.printoptions(precision=6, suppress=True, threshold=1000, linewidth=10_000):
            text = np.array2string(value, separator=", ")
        return " ".join(text.split())
    if np.issubdtype(value.dtype, np.floating):
        finite = value[np.isfinite(value)]
        stats = (
            f"min {_number(finite.min())} mean {_number(finite.mean())} max {_number(finite.max())}"
            if finite.size
            else "no finite values"
        )
        return f"{format_shape(value.shape)} {value.dtype}: {stats}, norm {_number(np.linalg.norm(finite))}"
    if value.dtype == np.bool_:
        return f"{format_shape(value.shape)} bool: {int(np.count_nonzero(value))} of {value.size} true"
    return f"{format_shape(value.shape)} {value.dtype}: min {value.min()} max {value.max()}"


def _number(x: Any) -> str:
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    return f"{float(x):.6g}" if not isinstance(x, int | np.integer) else str(x)


def json_number(x: float) -> float | str:
    """A float for JSON: itself if finite, else "nan", "inf" or "-inf" (JSON has no such numbers)."""
    return x if math.isfinite(x) else str(x)


def json_array(array: np.ndarray) -> Any:
    """An array as nested lists for JSON, non-finite floats as strings."""
    listed = array.tolist()
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        return np.vectorize(json_number, otypes=[object])(array).tolist()
    return listed


class Graph:
    """A computation graph: built in Python or loaded from a spec file, then run forward and backward."""

    def __init__(self, name: str, description: str | None = None) -> None:
        self.name = name
        self.description = description
        self._leaves: list[LeafSpec] = []
        self._nodes: list[NodeSpec] = []
        self._outputs: list[str] = []
        self._loss: str | None = None
        self._schema: str | None = None
        self._source = SpecSource(None, None)
        self._types: dict[str, TensorType] = {}
        self._consumed: set[str] = set()
        #: The next suffix to try per id stem, so naming the n-th node costs O(1), not O(n).
        self._next_suffix: dict[str, int] = {}
        self._checked: CheckedGraph | None = None
        self._plan: Plan | None = None
        self._last: Result | None = None
        self._max_elements = DEFAULT_MAX_ELEMENTS

    @classmethod
    def from_checked(cls, checked: CheckedGraph) -> Graph:
        """A graph around an already checked spec (what :func:`load` returns)."""
        spec = checked.spec
        graph = cls(spec.name, spec.description)
        graph._leaves = list(spec.leaves)
        graph._nodes = list(spec.nodes)
        graph._outputs = list(spec.outputs)
        graph._loss = spec.loss
        graph._schema = spec.schema_
        graph._source = checked.source
        graph._types = dict(checked.types)
        graph._consumed = {name for node in spec.nodes for name in node.inputs}
        graph._checked = checked
        return graph

    # --- building -------------------------------------------------------------------------------

    def input(
        self,
        id: str,
        *,
        value: ArrayLike | None = None,
        shape: Iterable[int | str] | None = None,
        dtype: str = "float64",
        description: str | None = None,
    ) -> Tensor:
        """An input leaf, fed at run time; ``value`` is its default. Shape dims may be symbols (``"N"``)."""
        return self._add_leaf("input", id, value, shape, dtype, description)

    def parameter(
        self,
        id: str,
        value: ArrayLike | Mapping[str, Any],
        *,
        shape: Iterable[int] | None = None,
        dtype: str = "float64",
        description: str | None = None,
    ) -> Tensor:
        """A trainable parameter. ``value`` is an array or an initializer such as
        ``{"init": "normal", "std": 0.01, "seed": 0}`` (which needs ``shape``)."""
        return self._add_leaf("parameter", id, value, shape, dtype, description)

    def constant(
        self,
        id: str,
        value: ArrayLike | Mapping[str, Any],
        *,
        shape: Iterable[int] | None = None,
        dtype: str = "float64",
        description: str | None = None,
    ) -> Tensor:
        """A constant leaf (not trained)."""
        return self._add_leaf("constant", id, value, shape, dtype, description)

    def apply(
        self,
        op: str,
        *inputs: Tensor | float,
        id: str | None = None,
        description: str | None = None,
        **attrs: Any,
    ) -> Tensor:
        """Add a node applying ``op`` (a registered op name) to ``inputs``; returns the new node.

        Attributes are keyword arguments (``axis=1``); ``None`` means "the default". Python numbers
        among the inputs become constant leaves.
        """
        clean = {name: value for name, value in attrs.items() if value is not None}
        if "lam" in clean:  # ``lambda`` is a Python keyword
            clean["lambda"] = clean.pop("lam")
        operands = [self._operand(item) for item in inputs]
        node_id = self._fresh_id(op) if id is None else id
        place = f"node {json.dumps(node_id)}"
        data = {"id": node_id, "op": op, "inputs": [], "attrs": clean, "description": description}
        try:
            node = NodeSpec.model_validate({k: v for k, v in data.items() if v is not None})
        except ValidationError as exc:
            raise SpecError(*_problems_at(place, exc, data)) from None
        if node_id in self._types:
            raise SpecError(Problem(None, place, "id is already used"))
        # The checks a node of a spec file gets, with the same messages; raised at once, at this line.
        checked = check_node(op, clean, len(operands))
        stale = [t.id for t in operands if isinstance(t, Tensor) and t.id not in self._types]  # renamed
        problems = [*checked.problems, *(undefined_input(name, self._types) for name in stale)]
        if problems:
            raise SpecError(*(Problem(None, place, message) for message in problems))
        assert checked.op is not None and checked.attrs is not None
        dtype = next((t.dtype for t in operands if isinstance(t, Tensor)), "float64")
        number_dtype = dtype if dtype in FLOAT_DTYPES else "float64"
        types = [t.type if isinstance(t, Tensor) else TensorType((), number_dtype) for t in operands]
        try:
            out_type = infer_type(checked.op, checked.attrs, types)
        except ShapeError as exc:
            raise exc.located(None, place) from None
        # Only now that the node is sound do its Python numbers become constant leaves.
        tensors = [
            t if isinstance(t, Tensor) else self.constant(self._fresh_id("const"), t, dtype=number_dtype)
            for t in operands
        ]
        node = node.model_copy(update={"inputs": [t.id for t in tensors]})
        self._nodes.append(node)
        self._types[node_id] = out_type
        self._consumed.update(node.inputs)
        self._changed()
        return Tensor(self, node_id)

    def set_loss(self, tensor: Tensor) -> Tensor:
        """Declare the scalar loss that backward differentiates."""
        self._own(tensor)
        if tensor.shape != ():
            raise ShapeError(
                f"the loss must be a scalar; {tensor.id!r} has shape {format_shape(tensor.shape)}"
            )
        self._loss = tensor.id
        self._changed()
        return tensor

    def add_output(self, *tensors: Tensor) -> None:
        """Declare outputs (what ``graphdiff run`` prints)."""
        for tensor in tensors:
            self._own(tensor)
            if tensor.id not in self._outputs:
                self._outputs.append(tensor.id)
        self._changed()

    def __getitem__(self, id: str) -> Tensor:
        if id not in self._types:
            raise KeyError(id)
        return Tensor(self, id)

    def __contains__(self, id: object) -> bool:
        return id in self._types

    # --- checked form ---------------------------------------------------------------------------

    @property
    def spec(self) -> GraphSpec:
        """The graph as a file-format model."""
        if self._checked is not None:
            return self._checked.spec
        data = {
            "$schema": self._schema,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "leaves": self._leaves,
            "nodes": self._nodes,
            "outputs": self._outputs,
            "loss": self._loss,
        }
        try:
            return GraphSpec.model_validate(data)
        except ValidationError as exc:
            raise SpecError(*validation_problems(exc, data, None)) from None

    @property
    def checked(self) -> CheckedGraph:
        """The checked graph (checked once, on first use after a change)."""
        if self._checked is None:
            self._checked = check_graph(self.spec, self._source, max_elements=self._max_elements)
        return self._checked

    @property
    def plan(self) -> Plan:
        """The compiled execution plan (compiled once, on first use after a change)."""
        if self._plan is None:
            self._plan = compile_plan(self.checked)
        return self._plan

    @property
    def loss(self) -> str | None:
        return self._loss

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self.checked.warnings

    # --- running --------------------------------------------------------------------------------

    def forward(self, feeds: Mapping[str, ArrayLike] | None = None, *, check_finite: bool = False) -> Result:
        """Run the forward pass, caching every intermediate value. ``feeds`` maps input ids to arrays."""
        plan = self.plan
        trace = plan.forward(bind_feeds(plan.graph, feeds), check_finite=check_finite)
        self._last = Result(plan.graph, trace)
        return self._last

    def backward(
        self,
        result: Result | None = None,
        *,
        wrt: Iterable[str] | None = None,
        output: str | None = None,
        upstream: ArrayLike | None = None,
        check_finite: bool = False,
        record_edges: bool | None = None,
    ) -> Result:
        """Backpropagate from the loss (or ``output`` seeded with ``upstream``) through the last forward
        run (or ``result``). ``wrt`` names the gradients wanted (default: every float leaf and node).

        ``record_edges`` keeps each edge's gradient (diagrams draw them). By default they are recorded
        only when first asked for (:attr:`Result.edge_grads`), and only when every gradient is wanted,
        so backward itself takes the fastest path.
        """
        base = result or self.last_result()
        trace = base.trace
        gradients = trace.plan.backward(
            trace,
            wrt=wrt,
            output=output,
            upstream=upstream,
            check_finite=check_finite,
            record_edges=bool(record_edges),
        )
        edges = None
        if record_edges is None and wrt is None:

            def edges() -> dict[tuple[str, int], np.ndarray] | None:
                kwargs = {"output": output, "upstream": upstream, "record_edges": True}
                return trace.plan.backward(trace, **kwargs).edge_grads

        self._last = Result(base.graph, trace, gradients, edges=edges)
        return self._last

    def run(
        self,
        feeds: Mapping[str, ArrayLike] | None = None,
        *,
        wrt: Iterable[str] | None = None,
        check_finite: bool = False,
    ) -> Result:
        """Forward then backward: every value and the gradient of the loss with respect to ``wrt``."""
        self.forward(feeds, check_finite=check_finite)
        return self.backward(wrt=wrt, check_finite=check_finite)

    def last_result(self) -> Result:
        if self._last is None:
            raise GraphdiffError(f"graph {self.name!r} has not been run yet: call forward() or run() first")
        return self._last

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the graph as a spec file (atomically). See :func:`save`."""
        return save(self, path, overwrite=overwrite)

    def __repr__(self) -> str:
        return (
            f"Graph({self.name!r}, {len(self._leaves)} leaves, {len(self._nodes)} nodes, loss={self._loss!r})"
        )

    # --- internals ------------------------------------------------------------------------------

    def _add_leaf(
        self, kind: str, id: str, value: Any, shape: Any, dtype: str, description: str | None
    ) -> Tensor:
        place = f"leaf {json.dumps(id)}"
        if id in self._types:
            raise SpecError(Problem(None, place, "id is already used"))
        if value is not None and not isinstance(value, Mapping):
            try:
                value = np.asarray(value).tolist()
            except (ValueError, TypeError, OverflowError) as exc:
                # numpy refuses ragged nested lists ([[1, 2], [3]]) with a ValueError of its own
                reason = (
                    "nested lists have rows of different lengths" if _ragged(exc) else f"not numbers ({exc})"
                )
                raise SpecError(Problem(None, place, f"value: {reason}")) from None
        data = {
            "id": id,
            "kind": kind,
            "dtype": dtype,
            "shape": None if shape is None else list(shape),
            "value": value,
            "description": description,
        }
        try:
            leaf = LeafSpec.model_validate({k: v for k, v in data.items() if v is not None})
        except ValidationError as exc:
            raise SpecError(*_problems_at(place, exc, data)) from None
        if leaf.shape is not None:
            problem = shape_size_problem(leaf.shape)
            if problem is not None:
                raise SpecError(Problem(None, place, f"shape {problem}"))
            leaf_type = TensorType(tuple(leaf.shape), dtype)
        else:
            try:
                leaf_type = TensorType(literal_value(leaf.value, dtype).shape, dtype)
            except SpecError as exc:
                raise exc.located(None, place) from None
        self._leaves.append(leaf)
        self._types[id] = leaf_type
        self._changed()
        return Tensor(self, id)

    def _operand(self, item: Tensor | float) -> Tensor | float:
        """An input of a node being applied: a tensor of this graph, or a number (a constant to be)."""
        if isinstance(item, Tensor):
            self._own(item)
            return item
        if isinstance(item, bool) or not isinstance(item, int | float | np.number):
            raise TypeError(f"expected a Tensor or a number, got {type(item).__name__}")
        return float(item)

    def _own(self, tensor: Tensor) -> None:
        if tensor.graph is not self:
            raise GraphdiffError(f"{tensor.id!r} belongs to graph {tensor.graph.name!r}, not {self.name!r}")

    def _fresh_id(self, stem: str) -> str:
        n = self._next_suffix.get(stem, 1)
        while f"{stem}_{n}" in self._types:  # skips ids the caller chose
            n += 1
        self._next_suffix[stem] = n + 1
        return f"{stem}_{n}"

    def _kind(self, id: str) -> str:
        for leaf in self._leaves:
            if leaf.id == id:
                return leaf.kind
        return next(node.op for node in self._nodes if node.id == id)

    def _rename(self, old: str, new: str) -> None:
        if new == old:
            return
        if new in self._types:
            raise SpecError(
                Problem(None, f"node {json.dumps(old)}", f"cannot rename: {json.dumps(new)} is already used")
            )
        if old in self._consumed or old in self._outputs or old == self._loss:
            raise SpecError(
                Problem(None, f"node {json.dumps(old)}", "cannot rename: something already uses it")
            )
        self._leaves = [
            leaf.model_copy(update={"id": new}) if leaf.id == old else leaf for leaf in self._leaves
        ]
        self._nodes = [
            node.model_copy(update={"id": new}) if node.id == old else node for node in self._nodes
        ]
        self._types[new] = self._types.pop(old)
        self._changed()

    def _changed(self) -> None:
        self._checked = None
        self._plan = None
        self._last = None


def _problems_at(place: str, exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
    """The errors of validating one leaf's or node's ``data`` as problems at ``place``, each naming its
    field (``leaf "w": value.std: required field is missing``), as a spec file's would."""
    return [
        Problem(None, place, f"{format_path(path)}: {message}" if path else message)
        for path, message in validation_messages(exc, data)
    ]


def _ragged(exc: Exception) -> bool:
    return isinstance(exc, ValueError) and ("inhomogeneous" in str(exc) or "sequence" in str(exc))


def load(path: str | os.PathLike[str], *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Graph:
    """Load and check a spec file. Array files it names are read from beside it, at most ``max_elements``
    elements each. Raises :class:`~graphdiff.SpecError` listing every problem found."""
    with gc_paused():
        spec, source = read_spec(path)
        graph = Graph.from_checked(check_graph(spec, source, max_elements=max_elements))
    graph._max_elements = max_elements
    return graph


def loads(
    text: str | bytes, *, folder: str | os.PathLike[str] | None = None, label: str | None = None
) -> Graph:
    """Load a spec from text; array files are read from ``folder`` (refused when it is None)."""
    with gc_paused():
        spec, source = parse_spec(text, label=label, folder=Path(folder) if folder is not None else None)
        return Graph.from_checked(check_graph(spec, source))


def save(graph: Graph, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write ``graph`` as a spec file, atomically, with stable key order (saving twice gives identical bytes).

    Array-file references are written as they are, relative to the new file's folder. An existing file
    is replaced only if ``overwrite``.
    """
    checked = graph.checked  # never save a graph that does not check
    return write_atomic(path, dump_spec(checked.spec), overwrite=overwrite)


def check_gradients(
    graph: Graph,
    feeds: Mapping[str, ArrayLike] | None = None,
    *,
    wrt: Iterable[str] | None = None,
    h: float = 1e-5,
    tolerance: float = 1e-6,
    floor: float | None = None,
    max_coords: int = 100,
    directions: int | None = None,
    seed: int = 0,
) -> GradientCheckReport:
    """Compare backward's gradients with centered differences for every float leaf (or ``wrt``).

    See :mod:`graphdiff.gradcheck` for the error measure; ``directions=k`` switches to the fast mode
    (k random directions per leaf); leaves larger than ``max_coords`` are checked on a seeded sample.
    """
    plan = graph.plan
    return check_plan_gradients(
        plan,
        bind_feeds(plan.graph, feeds),
        wrt=wrt,
        h=h,
        tolerance=tolerance,
        floor=floor,
        max_coords=max_coords,
        directions=directions,
        seed=seed,
    )
