"""A checked graph drawn as the CS231n circuit: gates, wires, values above and gradients below.

:func:`build_diagram` takes the graph and plain mappings of id -> array (values, gradients, and the
gradient along each edge), so it can draw a graph that has not run, has run only forward, or is halfway
through a backward pass (the step-through frames). It never reaches into the executor.

- Ops are small gates labelled with their symbol (+, ×, max, σ, @ ...) and their id; leaves are boxes
  whose colour says their kind; the loss has a double red border and a wire out carrying dL/dL = 1.
- Each wire carries the value flowing forward (green) and the gradient flowing back along it (red).
  A wire along which a gate routes zero gradient (max, relu, hinge) is dashed and grey.
- A value that feeds several gates shows the sum of what flows back (Σ∇): accumulation at fan-out.
- Large graphs: nodes are clustered by their spec ``group`` or by id prefix (``layer1/...``); clusters
  can be collapsed to one box carrying their aggregate gradient norm, and are collapsed, largest first,
  when the graph has more nodes than ``max_nodes``. The title notes what was collapsed.
- Graphviz node names are internal (``n0``, ``n1``, ...), never user text; they are the SVG ids too
  (``n<i>`` is ``graph.order[i]``, ``c<k>`` the k-th collapsed box, ``w<i>_<p>`` the wire into input p
  of ``graph.order[i]``, ``out<k>`` the wires out), which the live viewer and step page select by, and
  every label that holds user text is an HTML-like label with that text escaped; tooltips are DOT strings
  never read as HTML, escaped for DOT (labels.tooltip); no URL, link or image attribute is ever set.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import graphviz
import numpy as np

from ..errors import GraphdiffError, Problem
from ..graph import CheckedGraph
from .labels import (
    FONT,
    GRAD_COLOR,
    MUTED_COLOR,
    VALUE_COLOR,
    colored,
    escape,
    format_number,
    shorten,
    tooltip,
    wire_grad,
    wire_value,
)

Show = Literal["both", "values", "grads", "none"]

_LEAF_STYLE = {
    "input": {"fillcolor": "#e3f2fd", "color": "#1565c0"},
    "parameter": {"fillcolor": "#fff3e0", "color": "#e65100", "penwidth": "2"},
    "constant": {"fillcolor": "#f5f5f5", "color": "#757575", "style": "rounded,filled,dashed"},
}
_HIGHLIGHT = "#fff59d"
#: Wires thickened by --weight-edges: pale, so the red gradient numbers beside them stay readable.
WEIGHT_COLOR = "#ef9a9a"
#: Points of space around a wire's label.
LABEL_PADDING = 2
#: A title row spanning the legend's two columns.
_ROW = '<TD ALIGN="LEFT" COLSPAN="2">'
#: A leaf wired to more drawn gates than this is drawn again beside each of them (see _edges).
PROXY_FANOUT = 6
#: Above this many drawn nodes, Graphviz's network-simplex passes are bounded, trading a little
#: layout polish for a layout in seconds.
LARGE_LAYOUT = 150


@dataclass(frozen=True)
class DiagramOptions:
    """How to draw: what to show on the wires, the direction, number precision, title, clusters."""

    show: Show = "both"
    #: "LR" (the slides' left-to-right circuit), "TB", or "auto": left-to-right when it fits a 16:9 slide
    #: at full size, else whichever of the two fits one larger (see choose_direction).
    direction: Literal["LR", "TB", "auto"] = "auto"
    precision: int = 4
    title: str | None = None
    #: Thicken wires in proportion to the size of the gradient they carry.
    weight_edges: bool = False
    #: Draw clusters (spec groups or id prefixes) as boxes around their nodes.
    clusters: bool = True
    #: Clusters to draw as one box each (a name collapses its sub-clusters too).
    collapse: tuple[str, ...] = ()
    #: Collapse clusters, largest first, until at most this many boxes are drawn (None: no cap).
    max_nodes: int | None = 150


@dataclass(frozen=True)
class Annotations:
    """What is known about one run, as plain mappings (any of them may be partial or empty)."""

    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    grads: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: The gradient along each edge, keyed by (consumer id, input position).
    edge_grads: Mapping[tuple[str, int], np.ndarray] | None = None
    #: Step-through frames: how many of a value's consumers have sent their gradient back so far.
    received: Mapping[str, int] | None = None
    #: Step-through frames: the node of the current step.
    highlight: str | None = None
    #: Lines printed under the title (what is missing, stale or collapsed).
    notes: tuple[str, ...] = ()


def cluster_of(graph: CheckedGraph, id: str) -> str | None:
    """The cluster an id is drawn in: its spec ``group``, else its id's prefix up to the last '/'.

    Empty parts are dropped (``a//b/c`` is in ``a/b``, ``http://host/p`` in ``http:/host``), so every
    cluster and sub-cluster has a name to draw."""
    item = graph.leaves.get(id) or graph.nodes.get(id)
    group = getattr(item, "group", None)
    if group:
        return cluster_path(group)
    prefix, sep, _ = id.rpartition("/")
    return cluster_path(prefix) if sep else None


def cluster_path(name: str) -> str | None:
    """A cluster name with its empty parts dropped ('/a//b/' is 'a/b'); None when nothing is left."""
    return "/".join(part for part in name.split("/") if part) or None


def build_diagram(graph: CheckedGraph, annotations: Annotations, options: DiagramOptions) -> graphviz.Digraph:
    """The diagram of ``graph`` with what ``annotations`` knows drawn on it (``direction="auto"`` is
    resolved by laying the diagram out: see :func:`choose_direction`)."""
    if options.direction == "auto":
        options = replace(options, direction=choose_direction(graph, annotations, options))
    return _Diagram(graph, annotations, options).build()


#: A 16:9 slide, 1920 x 1080 px at 96 px per inch, in inches (Graphviz's layout unit).
SLIDE = (20.0, 11.25)


def choose_direction(
    graph: CheckedGraph, annotations: Annotations, options: DiagramOptions
) -> Literal["LR", "TB"]:
    """Left-to-right, as the slides draw circuits, when the diagram fits a 16:9 slide at full size; else
    the direction in which it fits one at the larger scale (a long tensor network drawn top to bottom is
    often half as wide). Without Graphviz's dot, or above LARGE_LAYOUT nodes (a second layout would take
    seconds), left to right."""
    if options.direction != "auto":
        return options.direction
    if shutil.which("dot") is None or len(graph.order) > LARGE_LAYOUT:
        return "LR"
    scales = {}
    for direction in ("LR", "TB"):
        size = layout_size(_Diagram(graph, annotations, replace(options, direction=direction)).build())
        if size is None:
            return "LR"
        scales[direction] = min(SLIDE[0] / size[0], SLIDE[1] / size[1])
        if direction == "LR" and scales["LR"] >= 1:
            return "LR"
    return "TB" if scales["TB"] > 1.1 * scales["LR"] else "LR"


def layout_size(diagram: graphviz.Digraph) -> tuple[float, float] | None:
    """The laid-out drawing's width and height in inches (None if dot fails: the caller's render will
    say why)."""
    try:
        plain = diagram.pipe(format="plain", quiet=True).decode("utf-8", "replace")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
        return None
    head = plain.split("\n", 1)[0].split()
    if len(head) < 4 or head[0] != "graph":
        return None
    return float(head[2]), float(head[3])


def _padded(lines: list[str], texts: list[str]) -> str:
    """A wire's lines in a borderless table with a spacer cell at each side: a browser draws DejaVu Sans up
    to about 4% wider than Graphviz 2.43 measures it (it rounds each glyph's advance), so the spacers grow
    with the longest line, and neighbouring labels stay apart as drawn, not only as measured."""
    longest = max(map(len, texts), default=0)
    side = math.ceil(LABEL_PADDING + 0.025 * 6.0 * longest)  # about 6 pt per character at 10 pt
    spacer = f'<TD FIXEDSIZE="TRUE" WIDTH="{side}" HEIGHT="2" CELLPADDING="0"></TD>'
    cell = "<BR/>".join(lines)
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f"<TR>{spacer}<TD>{cell}</TD>{spacer}</TR></TABLE>>"
    )


class _Diagram:
    def __init__(self, graph: CheckedGraph, annotations: Annotations, options: DiagramOptions) -> None:
        self.graph = graph
        self.ann = annotations
        self.options = options
        self.show_values = options.show in ("both", "values")
        self.show_grads = options.show in ("both", "grads")
        self.consumers: dict[str, list[tuple[str, int]]] = {id: [] for id in graph.order}
        for id in graph.order:
            node = graph.nodes.get(id)
            if node is not None:
                for position, name in enumerate(node.inputs):
                    self.consumers[name].append((id, position))
        self.cluster: dict[str, str | None] = {
            id: cluster_of(graph, id) if options.clusters else None for id in graph.order
        }
        self.position = {id: index for index, id in enumerate(graph.order)}
        self.name = {id: f"n{index}" for id, index in self.position.items()}
        self.notes = list(annotations.notes)
        self.boxes: dict[str, list[str]] = self._collapsed_boxes()
        self.drawn_as = dict(self.name)
        for index, members in enumerate(self.boxes.values()):
            for id in members:
                self.drawn_as[id] = f"c{index}"
        self.box_name = {box: f"c{index}" for index, box in enumerate(self.boxes)}
        self.leaf_of_name = {self.name[id]: id for id in graph.leaves}
        norms = [float(np.linalg.norm(np.ravel(g))) for g in (annotations.edge_grads or {}).values()]
        self.max_edge_norm = max(norms, default=0.0)

    # --- collapsing -----------------------------------------------------------------------------

    def _collapsed_boxes(self) -> dict[str, list[str]]:
        """Collapsed cluster name -> member ids (requested ones, then largest first up to the cap)."""
        order = self.graph.order
        members: dict[str, list[str]] = {}
        for id in order:
            cluster = self.cluster[id]
            while cluster:
                members.setdefault(cluster, []).append(id)
                cluster = cluster.rpartition("/")[0]
        self._check_collapse(members)
        chosen: dict[str, list[str]] = {}
        taken: set[str] = set()

        def take(name: str, ids: list[str]) -> None:
            free = [i for i in ids if i not in taken]
            if len(free) > 1:
                chosen[name] = free
                taken.update(free)

        for name in filter(None, map(cluster_path, self.options.collapse)):
            matches = [c for c in members if c == name or c.startswith(name + "/")]
            for cluster in sorted(matches, key=len):
                take(cluster, members[cluster])
        cap = self.options.max_nodes
        if cap is not None and len(order) - sum(len(v) - 1 for v in chosen.values()) > cap:
            automatic = []
            top_level = sorted(
                (c for c in members if "/" not in c and c not in chosen), key=lambda c: -len(members[c])
            )
            for cluster in top_level:
                if len(order) - sum(len(v) - 1 for v in chosen.values()) <= cap:
                    break
                take(cluster, members[cluster])
                automatic.append(cluster)
            drawn = len(order) - sum(len(v) - 1 for v in chosen.values())
            if drawn > cap:  # what is left has no clusters: collapse runs of consecutive steps
                loose = [i for i in order if i not in taken and i in self.graph.nodes]
                size = max(2, math.ceil(len(loose) / max(1, cap // 2)))
                for start in range(0, len(loose), size):
                    run = loose[start : start + size]
                    name = f"steps {order.index(run[0]) + 1}–{order.index(run[-1]) + 1}"
                    take(name, run)
                    automatic.append(name)
            if automatic:
                shown = ", ".join(f"{c} ({len(chosen[c])} nodes)" for c in automatic[:6] if c in chosen)
                more = f" and {len(automatic) - 6} more" if len(automatic) > 6 else ""
                self.notes.append(f"{len(order)} nodes exceed the cap of {cap}: collapsed {shown}{more}")
        return chosen

    def _check_collapse(self, members: Mapping[str, list[str]]) -> None:
        """Refuse a cluster name to collapse that names no cluster drawn, listing those there are."""
        for name in self.options.collapse:
            path = cluster_path(name)
            if path is not None and any(c == path or c.startswith(path + "/") for c in members):
                continue
            if not self.options.clusters:
                known = "clusters are off (--no-clusters)"
            elif not members:
                known = "the graph has no clusters (no node has a group or an id prefix such as layer1/)"
            else:
                names = sorted(members)
                more = f" and {len(names) - 20} more" if len(names) > 20 else ""
                known = f"its clusters: {', '.join(json.dumps(c) for c in names[:20])}{more}"
            raise GraphdiffError(
                Problem(self.graph.source.label, "collapse", f"no cluster {json.dumps(name)}; {known}")
            )

    # --- building -------------------------------------------------------------------------------

    def build(self) -> graphviz.Digraph:
        dot = graphviz.Digraph(name="graphdiff", engine="dot")  # never user text in DOT syntax
        dot.attr(
            rankdir=self.options.direction,
            fontname=FONT,
            bgcolor="white",
            nodesep="0.3",
            # Top to bottom, a wire's labels sit beside it, not across it: less room between ranks.
            ranksep="0.5" if self.options.direction == "LR" else "0.25",
            labelloc="t",
            labeljust="l",
        )
        dot.attr("node", fontname=FONT, fontsize="12")
        dot.attr("edge", fontname=FONT, fontsize="10", arrowsize="0.6", color="#424242")
        dot.attr(label=self._title())
        drawn = sum(1 for id in self.graph.order if self.drawn_as[id] == self.name[id]) + len(self.boxes)
        if drawn > LARGE_LAYOUT:
            dot.attr(nslimit="2", nslimit1="2", mclimit="0.5")
        clusters = self._cluster_graphs()
        for id in self.graph.order:
            if self.drawn_as[id] != self.name[id]:
                continue
            target = clusters.get(self.cluster[id] or "", dot)
            target.node(self.name[id], **self._node_attrs(id))
        for box, members in self.boxes.items():
            dot.node(self.box_name[box], **self._box_attrs(box, members))
        self._attach_clusters(dot, clusters)
        self._edges(dot)
        self._output_wires(dot)
        return dot

    def _title(self) -> str:
        """The title, the legend and the notes as a table of left-aligned rows: rows keep the title's
        descenders (an underscore) clear of the legend, and each legend entry is its own cell, measured on
        its own, so a viewer whose font runs a little wider does not clip the line's end."""
        title = self.options.title if self.options.title is not None else self.graph.name
        rows = []
        # Graphviz refuses an element with no text (<B></B>): an empty or blank title draws nothing.
        if title.strip():
            rows.append(f'{_ROW}<FONT POINT-SIZE="16"><B>{escape(title)}</B></FONT></TD>')
        if self.options.show != "none":
            rows.append(self._legend())
        rows += [
            f'{_ROW}<FONT POINT-SIZE="11" COLOR="#b71c1c"><I>{escape(note)}</I></FONT></TD>'
            for note in self.notes
        ]
        if not rows:
            return ""
        body = "".join(f"<TR>{row}</TR>" for row in rows)
        return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">{body}</TABLE>>'

    def _cluster_graphs(self) -> dict[str, graphviz.Digraph]:
        """One subgraph per drawn (not collapsed) cluster, nested clusters attached later."""
        names = sorted({c for c in self.cluster.values() if c})
        expanded = set()
        for name in names:
            while name:
                expanded.add(name)
                name = name.rpartition("/")[0]
        graphs = {}
        for index, name in enumerate(sorted(expanded)):
            if any(name == box or name.startswith(box + "/") for box in self.boxes):
                continue
            sub = graphviz.Digraph(name=f"cluster_{index}")
            sub.attr(
                label=f"<<I>{escape(name.rpartition('/')[2])}</I>>",
                style="rounded,dashed",
                color="#90a4ae",
                fontcolor="#546e7a",
                fontsize="11",
            )
            graphs[name] = sub
        return graphs

    def _attach_clusters(self, dot: graphviz.Digraph, clusters: dict[str, graphviz.Digraph]) -> None:
        """Nest each cluster in its parent, deepest first, so children are complete when attached."""
        for name in sorted(clusters, key=lambda c: -c.count("/")):
            parent = name.rpartition("/")[0]
            while parent and parent not in clusters:
                parent = parent.rpartition("/")[0]
            (clusters[parent] if parent else dot).subgraph(clusters[name])

    # --- nodes ----------------------------------------------------------------------------------

    def _node_attrs(self, id: str) -> dict[str, str]:
        graph = self.graph
        small = '<FONT POINT-SIZE="9" COLOR="#616161">{}</FONT>'
        if id in graph.leaves:
            kind = graph.leaves[id].kind
            lines = [f"<B>{escape(id)}</B>", small.format(kind)]
            attrs = {"shape": "box", "style": "rounded,filled", **_LEAF_STYLE[kind]}
            if len(self.consumers[id]) > PROXY_FANOUT:
                lines.append(small.format(f"feeds {len(self.consumers[id])} gates"))
            if not self.consumers[id] and self.show_values and id in self.ann.values:
                lines.append(colored([wire_value(self.ann.values[id], self.options.precision)], VALUE_COLOR))
        else:
            op = graph.ops[id]
            lines = [f"<B>{escape(op.symbol or op.name)}</B>", small.format(escape(shorten(id)))]
            symbol = op.symbol or op.name
            attrs = {
                # A gate is a small circle, as in the slides; a long name (softmax CE) would make one the
                # size of its text's width, so it is an ellipse instead.
                "shape": "circle" if len(symbol) <= 3 and len(shorten(id)) <= 8 else "ellipse",
                "style": "filled",
                "fillcolor": "#fafafa",
                "color": "#424242",
                "margin": "0.02",
            }
        fan_in = self._fan_in_sum(id)
        if id in graph.leaves:
            lines += fan_in
        elif fan_in:  # outside the gate, which stays a small circle
            attrs["xlabel"] = "<" + "<BR/>".join(fan_in) + ">"
        if id == graph.loss:
            if id != "loss":  # an id that says it already needs no second "loss" under it
                lines.append(small.format("loss"))
            attrs |= {"color": GRAD_COLOR, "peripheries": "2"}
        if id == self.ann.highlight:
            attrs |= {"fillcolor": _HIGHLIGHT, "penwidth": "3"}
            attrs["style"] = attrs["style"].replace("dashed", "") if "filled" in attrs["style"] else "filled"
        attrs["label"] = "<" + "<BR/>".join(lines) + ">"
        attrs["id"] = self.name[id]
        attrs["tooltip"] = self._tooltip(id, self.ann.values.get(id), self.ann.grads.get(id))
        return attrs

    def _tooltip(self, title: str, value: np.ndarray | None, grad: np.ndarray | None) -> str:
        """The full value and gradient, shown when a reader hovers (never drawn on the wire)."""
        return tooltip(
            title,
            value if self.show_values else None,
            grad if self.show_grads else None,
            self.options.precision,
        )

    def _fan_in_sum(self, id: str) -> list[str]:
        """Σ∇ for a value feeding several gates: the gradients flowing back add up here."""
        total = len(self.consumers[id])
        grad = self.ann.grads.get(id)
        if total < 2 or not self.show_grads or grad is None:
            return []
        received = self.ann.received.get(id, total) if self.ann.received is not None else total
        precision = self.options.precision
        if np.ndim(grad) == 0:
            line = f"Σ∇ = {format_number(float(grad), precision)}"
        else:
            line = f"Σ∇ norm {format_number(float(np.linalg.norm(np.ravel(grad))), precision)}"
        if received < total:
            line += f"  ({received} of {total} so far)"
        return [colored([line], GRAD_COLOR)]

    def _box_attrs(self, box: str, members: list[str]) -> dict[str, str]:
        grads = [self.ann.grads[m] for m in members if m in self.ann.grads]
        lines = [f"<B>{escape(box)}</B>", f'<FONT POINT-SIZE="10">{len(members)} nodes, collapsed</FONT>']
        if grads and self.show_grads:
            norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            lines.append(colored([f"‖∇‖ = {format_number(norm, self.options.precision)}"], GRAD_COLOR))
        return {
            "shape": "box3d",
            "style": "filled",
            "fillcolor": "#eceff1",
            "color": "#546e7a",
            "label": "<" + "<BR/>".join(lines) + ">",
            "id": self.box_name[box],
        }

    # --- wires ----------------------------------------------------------------------------------

    def _edges(self, dot: graphviz.Digraph) -> None:
        edges: list[tuple[str, str, dict[str, str]]] = []
        between_boxes: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        for id in self.graph.order:
            node = self.graph.nodes.get(id)
            if node is None:
                continue
            for position, source in enumerate(node.inputs):
                tail, head = self.drawn_as[source], self.drawn_as[id]
                if tail == head:
                    continue  # inside a collapsed box
                wire = (source, id, position)
                if tail != self.name[source] or head != self.name[id]:
                    between_boxes.setdefault((tail, head), []).append(wire)
                    continue
                attrs = self._wire(source, self._edge_grad(*wire), id)
                edges.append((tail, head, {**attrs, "id": self.wire_id(id, position)}))
        for (tail, head), wires in between_boxes.items():
            if len(wires) == 1:  # one wire into or out of a collapsed box: still show what it carries
                source, consumer, position = wires[0]
                attrs = self._wire(source, self._edge_grad(source, consumer, position), consumer)
                attrs["id"] = self.wire_id(consumer, position)
            else:
                label = f'<<FONT COLOR="{MUTED_COLOR}">{len(wires)} wires</FONT>>'
                attrs = {"label": label, "id": f"{tail}_{head}"}
            edges.append((tail, head, {"style": "bold", "color": "#78909c", **attrs}))
        fan_out: dict[str, int] = {}
        for tail, _, _ in edges:
            fan_out[tail] = fan_out.get(tail, 0) + 1
        copies: dict[str, int] = {}
        for tail, head, attrs in edges:
            leaf = self.leaf_of_name.get(tail)
            if leaf is not None and fan_out[tail] > PROXY_FANOUT:
                # A leaf feeding many gates (a shared weight) would pull wires across the whole
                # picture; it is drawn again beside each gate instead, as a small dashed copy.
                copies[tail] = copies.get(tail, 0) + 1
                copy = f"{tail}_{copies[tail]}"
                dot.node(copy, id=copy, **self._copy_attrs(leaf))
                tail = copy
            dot.edge(tail, head, **attrs)

    def _copy_attrs(self, leaf: str) -> dict[str, str]:
        kind = self.graph.leaves[leaf].kind
        return {
            **_LEAF_STYLE[kind],
            "shape": "box",
            "style": "rounded,filled,dashed",
            "penwidth": "1",
            "fontsize": "10",
            "margin": "0.04,0.02",
            "label": f"<{escape(leaf)}>",
        }

    def wire_id(self, consumer: str, position: int) -> str:
        """The SVG id of the wire into input ``position`` of ``consumer``: ``w<order index>_<position>``."""
        return f"w{self.position[consumer]}_{position}"

    def _edge_grad(self, source: str, consumer: str, position: int) -> np.ndarray | None:
        if self.ann.edge_grads is not None:
            return self.ann.edge_grads.get((consumer, position))
        if len(self.consumers[source]) == 1:  # the value's whole gradient flows along its one wire
            return self.ann.grads.get(source)
        return None

    def _wire(self, source: str, grad: np.ndarray | None, consumer: str | None) -> dict[str, str]:
        """Attributes of a wire carrying ``source``'s value forward and ``grad`` back: one short line for
        each (labels.wire_value, wire_grad), the full arrays in its tooltip."""
        lines, texts = [], []
        value = self.ann.values.get(source) if self.show_values else None
        if value is not None:
            texts.append(wire_value(value, self.options.precision))
            lines.append(colored(texts[-1:], VALUE_COLOR))
        if self.show_grads and grad is not None:
            texts.append(wire_grad(grad, self.options.precision, with_shape=value is None))
            lines.append(colored(texts[-1:], GRAD_COLOR))
        attrs = {"label": _padded(lines, texts) if lines else ""}
        if lines:
            where = f"{source} → {consumer}" if consumer else source
            attrs["tooltip"] = attrs["labeltooltip"] = self._tooltip(where, value, grad)
        if grad is not None and self.show_grads:
            upstream = self.ann.grads.get(consumer) if consumer else None
            if not np.any(grad) and (upstream is None or np.any(upstream)):
                attrs |= {"style": "dashed", "color": MUTED_COLOR}  # the gate routed nothing back here
            elif self.options.weight_edges and self.max_edge_norm > 0:
                share = float(np.linalg.norm(np.ravel(grad))) / self.max_edge_norm
                # A pale red: the red gradient numbers beside a thick wire stay readable.
                attrs |= {"penwidth": f"{1 + 5 * math.sqrt(share):.2f}", "color": WEIGHT_COLOR}
        return attrs

    def _output_wires(self, dot: graphviz.Digraph) -> None:
        """A wire out of the loss (carrying dL/dL = 1) and out of each output, as the slides draw them.

        Only the loss's wire carries a gradient: an output's own gradient already flows along its
        wires into the graph, and drawing it again here would count it twice.
        """
        ends = list(dict.fromkeys([*self.graph.outputs, *([self.graph.loss] if self.graph.loss else [])]))
        for index, id in enumerate(ends):
            sink = f"out{index}"
            dot.node(sink, label="", shape="point", width="0.05", color="#424242")
            grad = self.ann.grads.get(id) if id == self.graph.loss else None
            dot.edge(self.drawn_as[id], sink, id=sink, **self._wire(id, grad, None))

    def _legend(self) -> str:
        """Rows of cells under the title saying what the colours and marks mean."""
        parts = []
        if self.show_values:
            parts.append(f'<FONT COLOR="{VALUE_COLOR}"><B>green</B></FONT> value, flowing forward')
        if self.show_grads:
            parts.append(f'<FONT COLOR="{GRAD_COLOR}"><B>red</B></FONT> gradient of the loss, flowing back')
            parts.append("dashed: no gradient routed back")
            parts.append("Σ∇: gradients adding up at fan-out")
        cell = '<TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="#424242">{}</FONT></TD>'
        cells = [cell.format(part) for part in parts] + ["<TD></TD>"] * (len(parts) % 2)
        # Two entries a row: a legend no wider than a small circuit.
        return "</TR><TR>".join("".join(cells[i : i + 2]) for i in range(0, len(cells), 2))
