"""The viewer's state: one checked graph, the value of every leaf, and the result they give.

A :class:`Session` owns the leaf values the viewer shows (the spec's own, the inputs fed at start, and
whatever the user has edited since), runs forward and backward after each change, and answers what the
page asks: the diagram, a node's or a wire's full value and gradient, the step-through frames, a
gradient check. It knows nothing of HTTP: a request it cannot honour raises :class:`RequestError` with
the status the web layer answers with, and the state is left as it was.

Everything addressed by the page is addressed as the SVG draws it (see :mod:`graphdiff.render.diagram`):
``n<i>`` is ``graph.order[i]``, ``w<i>_<p>`` the wire into input p of ``order[i]``, ``c<k>`` the k-th
collapsed cluster box, ``out<k>`` the wire out of the k-th output (the loss last).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..api import Graph, Result
from ..errors import GraphdiffError, Problem
from ..executor import bind_feeds
from ..gradcheck import check_plan_gradients
from ..ops import format_shape
from ..render import DiagramOptions, build_diagram, cluster_of, render_bytes
from ..render import annotations_of as render_annotations
from ..render import diagram as diagram_module
from ..render.diagram import cluster_path
from ..render.steps import Frame, step_frames
from .payload import (
    MAX_EDIT_ELEMENTS,
    MAX_ROWS,
    RequestError,
    array_payload,
    brief,
    count_numbers,
    element_index,
    leaf_numbers,
    number,
)

#: The viewer draws at most this many boxes before collapsing clusters, largest first, as the renderer does.
MAX_DRAWN = 150
#: Forward passes one gradient check may spend (two per coordinate), shared among the float leaves, so a
#: check stays well under a second on the examples whatever their size.
CHECK_PASSES = 400
#: Step-through frames rendered are kept for the current state, up to this many.
FRAME_CACHE = 64


@dataclass(frozen=True)
class DataRows:
    """Examples the viewer can feed by row: ``feeds(rows)`` gives the inputs for those rows."""

    name: str
    size: int
    feeds: Callable[[np.ndarray], Mapping[str, np.ndarray]]
    #: The rows fed at start.
    initial: tuple[int, ...] = (0,)


class Session:
    """The live state of one graph in the viewer; every method is safe to call from several threads."""

    def __init__(
        self, graph: Graph, feeds: Mapping[str, Any] | None = None, *, data: DataRows | None = None
    ) -> None:
        self.graph = graph
        self.checked = graph.checked
        self.plan = graph.plan
        self.data = data
        self._lock = threading.RLock()
        checked = self.checked
        self._consumers: dict[str, list[tuple[str, int]]] = {id: [] for id in checked.order}
        for id in checked.order:
            node = checked.nodes.get(id)
            if node is not None:
                for position, name in enumerate(node.inputs):
                    self._consumers[name].append((id, position))
        self.index = {id: i for i, id in enumerate(checked.order)}
        self._members = self._cluster_members()
        self.version = 0
        self.rows: tuple[int, ...] | None = None
        given = dict(feeds or {})
        if data is not None:
            try:
                rows = self._valid_rows(list(data.initial))
            except RequestError as exc:
                raise GraphdiffError(Problem(data.name, "rows", exc.message)) from None
            # The inputs fed explicitly win over the data's.
            given = {**data.feeds(rows), **given}
            self.rows = tuple(int(r) for r in rows)
        values = bind_feeds(checked, given)
        self._initial = (values, self.rows)
        self.values: dict[str, np.ndarray] = values
        self.result = self._run(values)
        self.collapse: tuple[str, ...] = self._initial_collapse()
        self.direction = self._fixed_direction()
        self._svg: tuple[tuple, bytes] | None = None
        self._frames: tuple[int, list[Frame]] | None = None
        self._frame_svgs: dict[tuple, bytes] = {}

    # --- what the page reads ------------------------------------------------------------------------

    def structure(self) -> dict[str, Any]:
        """The graph as the page needs it: every id by its SVG index, its kind, op, inputs and cluster."""
        checked = self.checked
        items = []
        for i, id in enumerate(checked.order):
            node = checked.nodes.get(id)
            type_ = checked.types[id]
            items.append(
                {
                    "index": i,
                    "id": id,
                    "kind": checked.kind(id),
                    "op": node.op if node is not None else None,
                    "inputs": [self.index[name] for name in node.inputs] if node is not None else [],
                    "input_names": self._input_names(id) if node is not None else [],
                    "shape": [d if isinstance(d, int) else str(d) for d in type_.shape],
                    "dtype": type_.dtype,
                    "cluster": cluster_of(checked, id),
                    "description": (checked.leaves.get(id) or checked.nodes.get(id)).description,
                    "editable": id in checked.leaves,
                }
            )
        ends = self._ends()
        return {
            "name": checked.name,
            "description": checked.spec.description,
            "loss": self.index[checked.loss] if checked.loss else None,
            "outputs": [self.index[id] for id in checked.outputs],
            "ends": [self.index[id] for id in ends],
            "items": items,
            "clusters": [{"name": name, "size": len(ids)} for name, ids in sorted(self._members.items())],
            "data": None if self.data is None else {"name": self.data.name, "size": self.data.size},
            "limits": {"edit_elements": MAX_EDIT_ELEMENTS, "rows": MAX_ROWS},
        }

    def state(self) -> dict[str, Any]:
        """What changes with each edit: the diagram, the loss, a summary of every value and gradient."""
        with self._lock:
            checked = self.checked
            result = self.result
            loss = checked.loss
            summaries = []
            for id in checked.order:
                grad = result.grads.get(id) if result.has_grads else None
                summaries.append(
                    {
                        "value": brief(result.value(id)),
                        "grad": None if grad is None else brief(grad),
                        "shape": list(result.value(id).shape),
                    }
                )
            notes = render_annotations(self.graph, result, self._show()).notes
            return {
                "version": self.version,
                "svg": self.svg().decode("utf-8"),
                "notes": list(notes),
                "loss": None if loss is None else {"index": self.index[loss], "value": number(result.loss)},
                "items": summaries,
                "collapse": list(self.collapse),
                "boxes": self.boxes(),
                "rows": None if self.rows is None else list(self.rows),
                "edited": [self.index[id] for id in self._edited()],
            }

    def node(self, index: int) -> dict[str, Any]:
        """Leaf or node ``n<index>``: its full value and gradient."""
        with self._lock:
            id = self._id_at(index)
            checked = self.checked
            node = checked.nodes.get(id)
            grad = self.result.grads.get(id) if self.result.has_grads else None
            return {
                "version": self.version,
                "index": index,
                "id": id,
                "kind": checked.kind(id),
                "op": node.op if node is not None else None,
                "inputs": [self.index[name] for name in node.inputs] if node is not None else [],
                "consumers": [self.index[c] for c, _ in self._consumers[id]],
                "value": array_payload(self.result.value(id)),
                "grad": None if grad is None else array_payload(grad),
                "grad_note": self._grad_note(id, grad),
            }

    def wire(self, index: int, position: int) -> dict[str, Any]:
        """Wire ``w<index>_<position>``: the value flowing along it and the gradient flowing back."""
        with self._lock:
            consumer = self._id_at(index)
            node = self.checked.nodes.get(consumer)
            if node is None or not 0 <= position < len(node.inputs):
                raise RequestError(
                    404, f"no wire w{index}_{position}: {json.dumps(consumer)} has no such input"
                )
            source = node.inputs[position]
            edges = self.result.edge_grads or {}
            grad = edges.get((consumer, position))
            fan_out = len(self._consumers[source])
            return {
                "version": self.version,
                "consumer": index,
                "position": position,
                "input_name": self._input_names(consumer)[position],
                "source": self.index[source],
                "fan_out": fan_out,
                "value": array_payload(self.result.value(source)),
                "grad": None if grad is None else array_payload(grad),
                "grad_note": None if grad is not None else self._grad_note(source, None),
            }

    def box(self, k: int) -> dict[str, Any]:
        """Collapsed cluster box ``c<k>``: its members and the norm of their gradients."""
        with self._lock:
            boxes = self._box_members()
            if not 0 <= k < len(boxes):
                raise RequestError(404, f"no collapsed box c{k}")
            name, members = boxes[k]
            grads = self.result.grads if self.result.has_grads else {}
            squares = [float(np.sum(np.square(grads[m], dtype=np.float64))) for m in members if m in grads]
            return {
                "version": self.version,
                "box": k,
                "name": name,
                "members": [self.index[m] for m in members],
                "grad_norm": number(math.sqrt(sum(squares))) if squares else None,
            }

    def boxes(self) -> list[str]:
        """The clusters drawn collapsed, in the order of their SVG ids ``c0``, ``c1``, ..."""
        return [name for name, _ in self._box_members()]

    def svg(self) -> bytes:
        """The diagram of the current state (made once per state and view)."""
        with self._lock:
            key = (self.version, self.collapse)
            if self._svg is None or self._svg[0] != key:
                self._svg = (key, self._render("svg"))
            return self._svg[1]

    def image(self, fmt: str) -> bytes:
        """The diagram of the current state as ``svg`` or ``png`` (Graphviz's dot lays it out)."""
        return self.svg() if fmt == "svg" else self._render(fmt)

    def steps(self) -> dict[str, Any]:
        """The captions of the step-through frames of the current state."""
        with self._lock:
            frames = self._step_frames()
            return {"version": self.version, "captions": [frame.caption for frame in frames]}

    def step(self, k: int) -> dict[str, Any]:
        """Frame ``k`` of the step-through: its caption and its diagram."""
        with self._lock:
            frames = self._step_frames()
            if not 0 <= k < len(frames):
                raise RequestError(404, f"no step {k}: there are {len(frames)} (0 to {len(frames) - 1})")
            key = (self.version, self.collapse, k)
            svg = self._frame_svgs.get(key)
            if svg is None:
                diagram = build_diagram(self.checked, frames[k].annotations, self._options())
                svg = render_bytes(diagram, "svg")
                if len(self._frame_svgs) >= FRAME_CACHE:
                    self._frame_svgs.pop(next(iter(self._frame_svgs)))
                self._frame_svgs[key] = svg
            return {
                "version": self.version,
                "step": k,
                "count": len(frames),
                "caption": frames[k].caption,
                "svg": svg.decode("utf-8"),
            }

    def check(self) -> dict[str, Any]:
        """A gradient check of every float leaf at the current values, on a seeded sample of coordinates
        (at most :data:`CHECK_PASSES` forward passes in all)."""
        with self._lock:
            checked = self.checked
            if checked.loss is None:
                raise RequestError(409, "the graph has no loss: there is no gradient to check")
            leaves = [id for id in checked.leaves if checked.types[id].is_float]
            if not leaves:
                raise RequestError(409, "the graph has no float leaf to check")
            per_leaf = max(1, CHECK_PASSES // (2 * len(leaves)))
            try:
                with np.errstate(all="ignore"):
                    report = check_plan_gradients(self.plan, self.values, wrt=leaves, max_coords=per_leaf)
            except GraphdiffError as exc:
                raise RequestError(400, _message(exc)) from None
            rows = [
                {
                    "index": self.index[row.id],
                    "id": row.id,
                    "checked": row.checked,
                    "size": row.size,
                    "max_error": number(row.max_error),
                    "where": list(row.where),
                    "analytic": number(row.analytic),
                    "numeric": number(row.numeric),
                    "passed": row.passed,
                    # Coordinates within h of a kink (relu at 0, tied maxima): differences cannot check them.
                    "at_kinks": row.at_kinks,
                }
                for row in report.rows
            ]
            return {
                "version": self.version,
                "passed": report.passed,
                "max_error": number(report.max_error),
                "tolerance": report.tolerance,
                "mode": report.mode,
                "rows": rows,
            }

    # --- what the page changes ----------------------------------------------------------------------

    def set_leaf(self, id: Any, value: Any, index: Any = None) -> None:
        """Give leaf ``id`` a new value (all of it, or the element at ``index``) and recompute."""
        with self._lock:
            if not isinstance(id, str):
                raise RequestError(400, '"id" must be a string, the id of a leaf')
            checked = self.checked
            if id not in checked.leaves:
                if id in checked.nodes:
                    raise RequestError(
                        400, f"{json.dumps(id)} is a node, computed from its inputs: edit one of its leaves"
                    )
                raise RequestError(404, f"no leaf {json.dumps(id)}")
            current = self.values[id]
            dtype = checked.types[id].dtype
            if index is None:
                if isinstance(value, list) and count_numbers(value) > MAX_EDIT_ELEMENTS:
                    raise RequestError(
                        413, f"a value set at once has at most {MAX_EDIT_ELEMENTS:,} numbers; set elements"
                    )
                array = leaf_numbers(value, dtype, id)
                if array.shape != current.shape:
                    raise RequestError(
                        400,
                        f"{json.dumps(id)} has shape {format_shape(current.shape)}; "
                        f"the value given has shape {format_shape(array.shape)}",
                    )
            else:
                where = element_index(index, current.shape, id)
                if isinstance(value, list):
                    raise RequestError(400, "with an index, the value is one number")
                array = current.copy()
                array[where] = leaf_numbers(value, dtype, id)
            values = dict(self.values)
            values[id] = array
            self._commit(values, self.rows)

    def set_rows(self, rows: Any) -> None:
        """Feed the data rows ``rows`` (a list of row numbers) to the inputs the dataset binds."""
        with self._lock:
            if self.data is None:
                raise RequestError(409, "no data: start the viewer with --data to pick rows")
            picked = self._valid_rows(rows)
            values = self._with_rows(self.values, picked)
            self._commit(values, tuple(int(r) for r in picked))

    def reset(self) -> None:
        """Back to the values the viewer started with."""
        with self._lock:
            values, rows = self._initial
            self._commit(dict(values), rows)

    def set_collapse(self, names: Any) -> None:
        """Draw the clusters ``names`` (a list) collapsed, each as one box; the rest expanded."""
        with self._lock:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise RequestError(400, '"collapse" must be a list of cluster names')
            if len(names) > len(self._members):
                raise RequestError(400, f"the graph has {len(self._members)} clusters")
            for name in names:
                if cluster_path(name) not in self._members:
                    known = ", ".join(json.dumps(c) for c in sorted(self._members)[:20]) or "none"
                    raise RequestError(400, f"no cluster {json.dumps(name)}; its clusters: {known}")
            self.collapse = tuple(dict.fromkeys(names))

    # --- internals --------------------------------------------------------------------------------

    def _commit(self, values: dict[str, np.ndarray], rows: tuple[int, ...] | None) -> None:
        """Recompute with ``values``; only when that works do they become the state."""
        result = self._run(values)
        self.values, self.result, self.rows = values, result, rows
        self.version += 1
        self._frames = None
        self._frame_svgs.clear()

    def _run(self, values: Mapping[str, np.ndarray]) -> Result:
        try:
            with np.errstate(all="ignore"):  # nan and inf are shown on the diagram, not warned about
                trace = self.plan.forward(values)
                gradients = self.plan.backward(trace, record_edges=True) if self.checked.loss else None
        except GraphdiffError as exc:
            raise RequestError(400, _message(exc)) from None
        return Result(self.checked, trace, gradients)

    def _render(self, fmt: str) -> bytes:
        with self._lock:
            annotations = render_annotations(self.graph, self.result, self._show())
            diagram = build_diagram(self.checked, annotations, self._options())
        return render_bytes(diagram, fmt)

    def _show(self) -> str:
        return "both" if self.checked.loss else "values"

    def _options(self) -> DiagramOptions:
        # No cap: the session chose what to collapse (_initial_collapse), so c<k> names a known cluster.
        return replace(DiagramOptions(collapse=self.collapse, max_nodes=None), direction=self.direction)

    def _fixed_direction(self) -> str:
        """The direction the renderer picks for the first state, kept from then on: a diagram that turned
        from left-to-right to top-to-bottom after an edit would lose the viewer's place."""
        options = DiagramOptions(collapse=self.collapse, max_nodes=None)
        choose = getattr(diagram_module, "choose_direction", None)
        if options.direction != "auto" or choose is None:
            return options.direction if options.direction != "auto" else "LR"
        return choose(self.checked, render_annotations(self.graph, self.result, self._show()), options)

    def _step_frames(self) -> list[Frame]:
        if self._frames is None or self._frames[0] != self.version:
            annotations = render_annotations(self.graph, self.result, self._show())
            grads = annotations.grads if self.checked.loss else None
            frames = step_frames(self.checked, annotations.values, grads, annotations.edge_grads)
            self._frames = (self.version, frames)
        return self._frames[1]

    def _cluster_members(self) -> dict[str, list[str]]:
        """Every cluster (nested ones too) -> its member ids, as the diagram groups them."""
        members: dict[str, list[str]] = {}
        for id in self.checked.order:
            cluster = cluster_of(self.checked, id)
            while cluster:
                members.setdefault(cluster, []).append(id)
                cluster = cluster.rpartition("/")[0]
        return members

    def _box_members(self) -> list[tuple[str, list[str]]]:
        """The collapsed boxes the diagram draws, as it chooses them: each requested cluster (and the
        clusters inside it, shortest name first) takes its members not taken yet, if more than one."""
        chosen: list[tuple[str, list[str]]] = []
        taken: set[str] = set()
        for name in filter(None, map(cluster_path, self.collapse)):
            matches = [c for c in self._members if c == name or c.startswith(name + "/")]
            for cluster in sorted(matches, key=len):
                free = [i for i in self._members[cluster] if i not in taken]
                if len(free) > 1:
                    chosen.append((cluster, free))
                    taken.update(free)
        return chosen

    def _initial_collapse(self) -> tuple[str, ...]:
        """Top-level clusters, largest first, until at most :data:`MAX_DRAWN` boxes are drawn."""
        total = len(self.checked.order)
        collapse: list[str] = []
        top = sorted((c for c in self._members if "/" not in c), key=lambda c: -len(self._members[c]))
        for cluster in top:
            if total <= MAX_DRAWN:
                break
            collapse.append(cluster)
            total -= len(self._members[cluster]) - 1
        return tuple(collapse)

    def _ends(self) -> list[str]:
        """The ids whose wires out are ``out0``, ``out1``, ...: the outputs, then the loss."""
        checked = self.checked
        return list(dict.fromkeys([*checked.outputs, *([checked.loss] if checked.loss else [])]))

    def _id_at(self, index: int) -> str:
        order = self.checked.order
        if not 0 <= index < len(order):
            raise RequestError(404, f"no node n{index}: the graph has {len(order)} (n0 to n{len(order) - 1})")
        return order[index]

    def _input_names(self, id: str) -> list[str]:
        node = self.checked.nodes[id]
        op = self.checked.ops[id]
        names = list(op.input_names)
        if op.variadic:
            stem = names[-1]
            return names[:-1] + [f"{stem}[{k}]" for k in range(len(node.inputs) - len(names) + 1)]
        return names[: len(node.inputs)]

    def _grad_note(self, id: str, grad: np.ndarray | None) -> str | None:
        if grad is not None:
            return None
        checked = self.checked
        if checked.loss is None:
            return "the graph has no loss: there are no gradients"
        if not checked.types[id].is_float:
            return f"{checked.types[id].dtype} values carry no gradient"
        return "no gradient reaches it from the loss"

    def _edited(self) -> list[str]:
        initial = self._initial[0]
        return [
            id
            for id in self.checked.leaves
            if self.values[id] is not initial[id] and not np.array_equal(self.values[id], initial[id])
        ]

    def _valid_rows(self, rows: Any) -> np.ndarray:
        assert self.data is not None
        size = self.data.size
        if not isinstance(rows, list) or not rows:
            raise RequestError(400, '"rows" must be a non-empty list of row numbers')
        if len(rows) > MAX_ROWS:
            raise RequestError(400, f"at most {MAX_ROWS} rows at once")
        for row in rows:
            if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < size:
                raise RequestError(400, f"rows are whole numbers from 0 to {size - 1}; got {json.dumps(row)}")
        return np.asarray(rows, dtype=np.int64)

    def _with_rows(self, values: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
        """``values`` with the inputs the dataset binds fed from ``rows``; the other leaves as they are."""
        assert self.data is not None
        try:
            fed = dict(self.data.feeds(rows))
            inputs = {id: values[id] for id in self.checked.ids_of_kind("input") if id not in fed}
            bound = bind_feeds(self.checked, {**inputs, **fed})
        except GraphdiffError as exc:
            raise RequestError(400, _message(exc)) from None
        others = {id: v for id, v in values.items() if self.checked.kind(id) != "input"}
        return {**bound, **others}


def _message(exc: GraphdiffError) -> str:
    return "; ".join(str(problem) for problem in exc.problems)
