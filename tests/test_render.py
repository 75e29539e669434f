"""Gradient diagrams (``gd.render``, ``gd.render_steps``, ``graphdiff render``): numbers on the right wires
in the right colours, structure matching the spec, hostile ids drawn as text, missing or stale gradients
never drawn as zeros, zero-gradient routing, clusters and collapsing, large graphs, output files with and
without Graphviz, the step-through frames, and the CLI.

SVG is parsed with ElementTree; Graphviz writes "-" as "&#45;", which the parser turns back into "-", so
the texts compared here are what a reader sees. Edge groups are found by their <title> ("n0->n3"), node
groups by theirs ("n0"); internal names are n{index in graph.checked.order}, c{k} for collapsed boxes and
out{k} for the sinks after outputs and the loss.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import graphviz
import numpy as np
import pytest
from helpers import assert_no_traceback, circuit_spec, lab_feeds, log_spec, run_cli, snapshot, write_spec

import graphdiff as gd
from graphdiff.render import render_bytes
from graphdiff.render.labels import shorten

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))
CIRCUIT = EXAMPLES / "cs231n_circuit.json"

GREEN = "#2e7d32"  # values
RED = "#c62828"  # gradients
GREY = "#9e9e9e"  # wires along which no gradient was routed
WEIGHT_PALE = "#ef9a9a"  # wires thickened by --weight-edges

SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_NS = "{http://www.w3.org/1999/xlink}"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


# --- parsing what was drawn ----------------------------------------------------------------------------


def norm_text(text: str) -> str:
    """Text as read: Graphviz turns runs of spaces into no-break spaces; compare with single spaces."""
    return " ".join(text.replace("\xa0", " ").split())


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass
class Drawing:
    """An SVG laid out by Graphviz, by group: texts (with their fill colour) per node, edge and cluster."""

    root: ET.Element
    #: node title -> [(text, fill)]
    nodes: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    #: edge title ("n0->n3") -> one [(text, fill)] per drawn edge with that title
    edges: dict[str, list[list[tuple[str, str | None]]]] = field(default_factory=dict)
    #: edge title -> the <g> elements
    edge_groups: dict[str, list[ET.Element]] = field(default_factory=dict)
    #: cluster label texts
    clusters: list[str] = field(default_factory=list)
    #: texts of the graph's own label (title, legend, notes)
    title_texts: list[tuple[str, str | None]] = field(default_factory=list)

    def edge(self, title: str) -> list[tuple[str, str | None]]:
        """The texts of the one edge with this title."""
        assert title in self.edges, f"no edge {title}; edges: {sorted(self.edges)}"
        (texts,) = self.edges[title]
        return texts

    @property
    def title_text(self) -> str:
        return " ".join(text for text, _ in self.title_texts)

    def all_texts(self) -> list[tuple[str, str | None]]:
        return [(norm_text("".join(el.itertext())), el.get("fill")) for el in self.root.iter(f"{SVG_NS}text")]

    def wire_texts(self) -> list[tuple[str, str | None]]:
        return [t for groups in self.edges.values() for texts in groups for t in texts]

    def node_text(self, title: str) -> str:
        return " ".join(text for text, _ in self.nodes[title])


def texts_of(group: ET.Element) -> list[tuple[str, str | None]]:
    return [(norm_text("".join(el.itertext())), el.get("fill")) for el in group.iter(f"{SVG_NS}text")]


def parse_svg(data: bytes) -> Drawing:
    root = ET.fromstring(data)
    assert local(root.tag) == "svg"
    drawing = Drawing(root)
    graph = root.find(f"{SVG_NS}g")
    assert graph is not None and graph.get("class") == "graph"
    drawing.title_texts = [
        (norm_text("".join(el.itertext())), el.get("fill")) for el in graph.findall(f"{SVG_NS}text")
    ]
    for group in root.iter(f"{SVG_NS}g"):
        kind = group.get("class")
        title_el = group.find(f"{SVG_NS}title")
        title = title_el.text if title_el is not None else None
        if kind == "node":
            assert title not in drawing.nodes, f"node {title} drawn twice"
            drawing.nodes[title] = texts_of(group)
        elif kind == "edge":
            drawing.edges.setdefault(title, []).append(texts_of(group))
            drawing.edge_groups.setdefault(title, []).append(group)
        elif kind == "cluster":
            drawing.clusters.append(" ".join(text for text, _ in texts_of(group)))
    return drawing


def svg_of(diagram: graphviz.Digraph) -> bytes:
    return render_bytes(diagram, "svg")


def drawn(diagram: graphviz.Digraph) -> Drawing:
    return parse_svg(svg_of(diagram))


_DOT_NAME = r"[A-Za-z0-9_]+"


def dot_nodes(source: str) -> list[str]:
    """Names of the node statements of DOT source (each statement on its own line)."""
    names = re.findall(rf"^\s*({_DOT_NAME}) \[", source, re.M)
    return [n for n in names if n not in ("node", "edge", "graph")]


def dot_edges(source: str) -> list[tuple[str, str]]:
    return re.findall(rf"^\s*({_DOT_NAME}) -> ({_DOT_NAME})(?: \[|$)", source, re.M)


def dot_edge_attrs(source: str, tail: str, head: str) -> str:
    """The attribute text of the one edge tail -> head."""
    found = re.findall(rf"^\s*{tail} -> {head}(?: \[(.*)\])?$", source, re.M)
    assert len(found) == 1, f"expected one edge {tail} -> {head}, found {len(found)}"
    return found[0]


def dot_clusters(source: str) -> dict[str, list[str]]:
    """Cluster label -> names of the nodes declared directly in it (nested clusters excluded)."""
    lines = source.splitlines()
    clusters: dict[str, list[str]] = {}
    stack: list[tuple[str | None, list[str]]] = []
    for line in lines:
        stripped = line.strip()
        if re.match(r"subgraph cluster_\d+ \{$", stripped):
            stack.append((None, []))
        elif stripped == "}" and stack:
            label, members = stack.pop()
            clusters[label or "?"] = members
        elif stack:
            label_match = re.search(r"label=<<I>(.*?)</I>>", stripped)
            if label_match and stack[-1][0] is None and not re.match(rf"{_DOT_NAME} \[", stripped):
                stack[-1] = (label_match.group(1), stack[-1][1])
            node = re.match(rf"({_DOT_NAME}) \[", stripped)
            if node and node.group(1) not in ("node", "edge", "graph"):
                stack[-1][1].append(node.group(1))
    return clusters


def names_of(graph: gd.Graph) -> dict[str, str]:
    """id -> internal Graphviz name (n{index in the checked topological order})."""
    return {id: f"n{index}" for index, id in enumerate(graph.checked.order)}


def sink_ends(graph: gd.Graph) -> list[str]:
    checked = graph.checked
    return list(dict.fromkeys([*checked.outputs, *([checked.loss] if checked.loss else [])]))


def expected_structure(graph: gd.Graph) -> tuple[set[str], Counter]:
    """Drawn node names (sinks included) and the multiset of edges, from the spec alone."""
    name = names_of(graph)
    checked = graph.checked
    ends = sink_ends(graph)
    nodes = set(name.values()) | {f"out{k}" for k in range(len(ends))}
    edges: Counter = Counter()
    for node in checked.spec.nodes:
        for source in node.inputs:
            edges[(name[source], name[node.id])] += 1
    for k, id in enumerate(ends):
        edges[(name[id], f"out{k}")] += 1
    return nodes, edges


def significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$")


# --- graphs ------------------------------------------------------------------------------------------


def circuit() -> gd.Graph:
    return gd.load(CIRCUIT)


def layered_graph() -> gd.Graph:
    """x feeds four 'layer1/' units (parameter w_i, product m_i, tanh t_i), summed by 'layer2/' adds;
    L = a3^2."""
    g = gd.Graph("layers")
    x = g.input("x", value=0.5)
    units = []
    for i in range(4):
        w = g.parameter(f"layer1/w{i}", 0.1 * (i + 1) * (-1) ** i)
        m = (w * x).named(f"layer1/m{i}")
        units.append(g.apply("tanh", m, id=f"layer1/t{i}"))
    acc = units[0]
    for i in range(1, 4):
        acc = (acc + units[i]).named(f"layer2/a{i}")
    g.set_loss(g.apply("square", acc, id="L"))
    return g


def big_spec(width: int = 200, layers: int = 10) -> dict:
    """layers x width scalar nodes: 'in/' leaves, 'layer1/'..'layer9/' of tanh / add / mul units, and a
    'layer10/' binary tree of adds reducing to the loss (exactly width * layers nodes)."""
    leaves = [{"id": f"in/x{i}", "kind": "input", "value": 0.01 * (i + 1)} for i in range(width)]
    nodes: list[dict] = []
    prev = [leaf["id"] for leaf in leaves]
    for k in range(1, layers):
        current = [f"layer{k}/n{i}" for i in range(width)]
        for i in range(width):
            if k % 3 == 0:
                op = "mul" if i % 2 else "add"
                nodes.append({"id": current[i], "op": op, "inputs": [prev[i], prev[(i + 1) % width]]})
            else:
                nodes.append({"id": current[i], "op": "tanh", "inputs": [prev[i]]})
        prev = current
    level, j = prev, 0
    while len(level) > 1:
        nxt = []
        for a in range(0, len(level) - 1, 2):
            id = f"layer{layers}/s{j}"
            j += 1
            nodes.append({"id": id, "op": "add", "inputs": [level[a], level[a + 1]]})
            nxt.append(id)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    nodes.append({"id": f"layer{layers}/loss", "op": "neg", "inputs": [level[0]]})
    return {
        "format_version": 1,
        "name": "big",
        "leaves": leaves,
        "nodes": nodes,
        "loss": f"layer{layers}/loss",
    }


# --- 1. the CS231n circuit -----------------------------------------------------------------------------


@needs_dot
def test_circuit_wires_carry_values_in_green_and_gradients_in_red():
    graph = circuit()
    n = names_of(graph)
    drawing = drawn(gd.render(graph, graph.run()))
    expected = {
        ("x", "q"): ("-2", "-4"),
        ("y", "q"): ("5", "-4"),
        ("z", "f"): ("-4", "3"),
        ("q", "f"): ("3", "-4"),
    }
    for (source, consumer), (value, grad) in expected.items():
        texts = drawing.edge(f"{n[source]}->{n[consumer]}")
        assert texts == [(value, GREEN), (grad, RED)], (source, consumer, texts)
    assert drawing.edge(f"{n['f']}->out0") == [("-12", GREEN), ("1", RED)]
    assert set(drawing.edges) == {f"{n[s]}->{n[c]}" for s, c in expected} | {f"{n['f']}->out0"}


# --- 2. structure of every example ---------------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_draw_one_node_per_leaf_and_node_and_one_edge_per_input(path):
    graph = gd.load(path)
    spec = graph.checked.spec
    nodes, edges = expected_structure(graph)
    sinks = len(sink_ends(graph))
    assert len(nodes) - sinks == len(spec.leaves) + len(spec.nodes)
    assert sum(edges.values()) == sum(len(node.inputs) for node in spec.nodes) + sinks

    needs_data = any(graph.checked.leaf_values[id] is None for id in graph.checked.ids_of_kind("input"))
    diagram = gd.render(graph, graph.run(lab_feeds(path.stem) if needs_data else None))
    assert sorted(dot_nodes(diagram.source)) == sorted(nodes)
    assert Counter(dot_edges(diagram.source)) == edges

    drawing = drawn(diagram)
    assert set(drawing.nodes) == nodes
    assert len(drawing.root.findall(f".//{SVG_NS}g[@class='node']")) == len(nodes)
    assert len(drawing.root.findall(f".//{SVG_NS}g[@class='edge']")) == sum(edges.values())
    svg_edges = Counter({tuple(title.split("->")): len(groups) for title, groups in drawing.edges.items()})
    assert svg_edges == edges
    # every id is written on its node
    for id, name in names_of(graph).items():
        assert id in [text for text, _ in drawing.nodes[name]], (id, drawing.nodes[name])


# --- 3. hostile names ----------------------------------------------------------------------------------

LONG_ID = "L" + "o" * 250 + "ng_id"  # 256 characters, the longest id allowed
HOSTILE_LEAVES = ["a:b", "<b>x</b>", 'x" onclick="y', "&amp;", "ünïcødé λ→∇ 中文"]
HOSTILE_NODES = ["a:b:c", "node -> other", "layer/with/slashes", "{rec|ord}", LONG_ID]
EVIL = (
    '<a href="http://evil.example/">click</a><img src="http://evil.example/x.png"><script>alert(1)</script>'
)


def hostile_spec() -> dict:
    assert len(LONG_ID) == 256
    return {
        "format_version": 1,
        "name": "hostile",
        "description": EVIL,
        "leaves": [
            {"id": "a:b", "kind": "input", "value": 1.0, "description": EVIL},
            {"id": "<b>x</b>", "kind": "input", "value": 2.0},
            {"id": 'x" onclick="y', "kind": "input", "value": 3.0},
            {"id": "&amp;", "kind": "input", "value": 4.0},
            {"id": "ünïcødé λ→∇ 中文", "kind": "parameter", "value": 5.0},
        ],
        "nodes": [
            {"id": "a:b:c", "op": "add", "inputs": ["a:b", "<b>x</b>"], "description": EVIL},
            {"id": "node -> other", "op": "mul", "inputs": ["a:b:c", 'x" onclick="y']},
            {"id": "layer/with/slashes", "op": "add", "inputs": ["node -> other", "&amp;"]},
            {"id": "{rec|ord}", "op": "mul", "inputs": ["layer/with/slashes", "ünïcødé λ→∇ 中文"]},
            {"id": LONG_ID, "op": "neg", "inputs": ["{rec|ord}"]},
        ],
        "outputs": [LONG_ID],
        "loss": LONG_ID,
    }


def dot_attribute_names(source: str) -> set[str]:
    """Names of the attributes set in DOT source: HTML-like labels and quoted strings (which hold the
    user's text, escaped) are skipped, so only what Graphviz reads as an attribute is left."""
    outside = []
    i = 0
    while i < len(source):
        if source.startswith("label=<", i):
            depth, i = 0, i + len("label=")
            while i < len(source):
                depth += {"<": 1, ">": -1}.get(source[i], 0)
                i += 1
                if depth == 0:
                    break
            continue
        outside.append(source[i])
        i += 1
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', "".join(outside))
    return set(re.findall(r"([A-Za-z_]+)\s*=", text))


LINK_ATTRIBUTES = {
    *("url", "href", "image", "imagepath", "shapefile", "target"),
    *("edgeurl", "headurl", "tailurl", "labelurl", "edgehref", "headhref", "tailhref", "labelhref"),
}


def assert_no_links_or_images(source: str, svg: bytes) -> None:
    attributes = {name.lower() for name in dot_attribute_names(source)}
    assert "label" in attributes and "rankdir" in attributes  # the parser above sees attributes
    assert not attributes & LINK_ATTRIBUTES, attributes & LINK_ATTRIBUTES
    root = ET.fromstring(svg)
    for el in root.iter():
        assert local(el.tag) not in ("image", "script", "foreignObject", "b", "img"), el.tag
        for attr, value in el.attrib.items():
            assert local(attr) not in ("href", "src", "onclick", "onload"), (el.tag, attr, value)
            assert "evil.example" not in value, (el.tag, attr, value)
    for text in root.itertext():
        assert "evil.example" not in text  # descriptions are not drawn (and never as markup)


@needs_dot
def test_hostile_ids_are_drawn_as_text_with_exactly_the_intended_nodes_and_edges():
    graph = gd.loads(json.dumps(hostile_spec()))
    result = graph.run()
    assert result.loss == -65.0
    diagram = gd.render(graph, result)
    source = diagram.source
    nodes, edges = expected_structure(graph)
    assert len(nodes) == 11 and sum(edges.values()) == 10

    assert sorted(dot_nodes(source)) == sorted(nodes)
    assert Counter(dot_edges(source)) == edges
    # every statement line of the DOT is one Graphviz generated from internal names: no user text
    # opened a statement of its own
    for line in source.splitlines():
        assert re.match(
            rf"^\s*(digraph .*\{{|\}}|subgraph cluster_\d+ \{{|{_DOT_NAME}( -> {_DOT_NAME})? \[.*\]|"
            rf"{_DOT_NAME} -> {_DOT_NAME}|(bgcolor|label|color)=.*)$",
            line,
        ), line

    svg = svg_of(diagram)
    drawing = parse_svg(svg)
    assert set(drawing.nodes) == nodes
    svg_edges = Counter({tuple(title.split("->")): len(groups) for title, groups in drawing.edges.items()})
    assert svg_edges == edges
    name = names_of(graph)
    for id in HOSTILE_LEAVES + HOSTILE_NODES:
        texts = [text for text, _ in drawing.nodes[name[id]]]
        # gates show long ids shortened (start ... end), so a long name cannot blow up the circle
        shown = id if id in HOSTILE_LEAVES else shorten(id)
        assert norm_text(shown) in texts, (id, texts)
    assert_no_links_or_images(source, svg)
    # the literal markup is visible text, never an element
    assert b"&lt;b&gt;x&lt;/b&gt;" in svg
    assert "&amp;amp;" in source  # "&amp;" as an id is escaped once more, so it reads "&amp;"


@needs_dot
@pytest.mark.parametrize(
    "name",
    [
        "<b>x</b>",
        '<x> {evil [URL="javascript:alert(1)" label="click"]} digraph <y>',
        "ends in a backslash \\",
        "a \\N and a \\G",
    ],
    ids=["html-name", "injection", "backslash", "graphviz-escapes"],
)
def test_hostile_graph_names_are_drawn_as_text(name, tmp_path):
    spec = {
        "format_version": 1,
        "name": name,
        "leaves": [{"id": "x", "kind": "input", "value": 2.0}],
        "nodes": [{"id": "y", "op": "square", "inputs": ["x"]}],
        "loss": "y",
    }
    graph = gd.loads(json.dumps(spec))  # the spec format accepts the name
    diagram = gd.render(graph, graph.run(), output=tmp_path / "d.svg")
    svg = (tmp_path / "d.svg").read_bytes()
    assert svg.count(b"<svg") == 1
    assert sorted(dot_nodes(diagram.source)) == ["n0", "n1", "out0"]
    assert_no_links_or_images(diagram.source, svg)
    drawing = parse_svg(svg)
    assert set(drawing.nodes) == {"n0", "n1", "out0"}
    for word in "".join(ch if ch.isprintable() else " " for ch in name).split():
        assert word in drawing.title_text, (word, drawing.title_text)


# --- 4. show, direction, precision, title ---------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize(
    ("show", "green", "red"),
    [("both", True, True), ("values", True, False), ("grads", False, True), ("none", False, False)],
)
def test_show_option_decides_which_colours_are_drawn(show, green, red):
    graph = circuit()
    drawing = drawn(gd.render(graph, graph.run(), show=show))
    fills = Counter(fill for _, fill in drawing.all_texts())
    wire_fills = Counter(fill for _, fill in drawing.wire_texts())
    assert (fills[GREEN] > 0) == green and (wire_fills[GREEN] == (5 if green else 0))
    assert (fills[RED] > 0) == red and (wire_fills[RED] == (5 if red else 0))
    if show == "none":
        assert drawing.wire_texts() == []  # structure only
        assert set(drawing.nodes) == {"n0", "n1", "n2", "n3", "n4", "out0"}


@needs_dot
def test_direction_title_and_precision():
    graph = circuit()
    result = graph.run()
    assert "rankdir=LR" in gd.render(graph, result).source
    tb = gd.render(graph, result, direction="TB", title="My <circuit> & co")
    assert "rankdir=TB" in tb.source and "rankdir=LR" not in tb.source
    drawing = drawn(tb)
    assert drawing.title_texts[0][0] == "My <circuit> & co"
    assert "cs231n_circuit" not in drawing.title_text
    assert drawn(gd.render(graph, result)).title_texts[0][0] == "cs231n_circuit"

    net = gd.load(EXAMPLES / "two_layer_sigmoid.json")
    result = net.run()
    long_numbers = [t for t, _ in drawn(gd.render(net, result)).wire_texts() if NUMBER.match(t)]
    short_numbers = [t for t, _ in drawn(gd.render(net, result, precision=2)).wire_texts() if NUMBER.match(t)]
    assert max(significant_digits(t) for t in long_numbers) == 4
    assert short_numbers and max(significant_digits(t) for t in short_numbers) <= 2
    assert "0.7858" in long_numbers and "0.79" in short_numbers  # z1 = 0.785835
    assert "0.7858" not in short_numbers


# --- 5. missing or stale gradients are never drawn as zeros ------------------------------------------------


@needs_dot
def test_without_a_result_the_structure_is_drawn_with_a_not_run_note():
    graph = circuit()
    drawing = drawn(gd.render(graph))
    assert "not run" in drawing.title_text
    assert drawing.wire_texts() == []
    assert set(drawing.nodes) == {"n0", "n1", "n2", "n3", "n4", "out0"}


@needs_dot
def test_forward_only_result_draws_values_and_says_backward_has_not_run():
    graph = circuit()
    n = names_of(graph)
    drawing = drawn(gd.render(graph, graph.forward()))
    assert "backward has not run" in drawing.title_text
    assert drawing.edge(f"{n['x']}->{n['q']}") == [("-2", GREEN)]
    assert drawing.edge(f"{n['f']}->out0") == [("-12", GREEN)]
    assert all(fill != RED for _, fill in drawing.wire_texts())
    assert all(fill != RED for texts in drawing.nodes.values() for _, fill in texts)


@needs_dot
def test_result_from_before_the_graph_changed_is_refused_as_stale():
    g = gd.Graph("circuit")
    x, y, z = g.input("x", value=-2.0), g.input("y", value=5.0), g.input("z", value=-4.0)
    f = ((x + y).named("q") * z).named("f")
    g.set_loss(f)
    result = g.run()
    assert float(result.value("f")) == -12.0
    g.apply("neg", f, id="h")  # the graph changes after it ran
    drawing = drawn(gd.render(g, result))
    assert "stale" in drawing.title_text
    assert drawing.wire_texts() == []
    texts = [t for t, _ in drawing.all_texts()]
    assert not any(NUMBER.match(t) for t in texts), texts
    nodes, _ = expected_structure(g)
    assert set(drawing.nodes) == nodes and len(nodes) == 7  # x y z q f h and the loss's sink


@needs_dot
def test_backward_for_some_leaves_notes_the_gradients_not_computed():
    graph = circuit()
    n = names_of(graph)
    result = graph.run(wrt=["x"])
    drawing = drawn(gd.render(graph, result))
    assert re.search(r"gradients were not computed for 4 values \(y, z, q, f\)", drawing.title_text)
    assert drawing.edge(f"{n['x']}->{n['q']}") == [("-2", GREEN), ("-4", RED)]
    for source, consumer in [("y", "q"), ("z", "f"), ("q", "f")]:
        texts = drawing.edge(f"{n[source]}->{n[consumer]}")
        assert [fill for _, fill in texts] == [GREEN], (source, texts)  # no gradient, not a zero
    assert ("0", RED) not in drawing.wire_texts()


# --- 6. zero-gradient routing and weighted wires -------------------------------------------------------


def path_of(group: ET.Element) -> ET.Element:
    path = next(group.iter(f"{SVG_NS}path"), None)  # inside the tooltip's <a> when the wire has one
    assert path is not None
    return path


@needs_dot
def test_max_gate_draws_the_wire_that_gets_no_gradient_dashed_and_grey():
    graph = gd.load(EXAMPLES / "max_gate.json")
    n = names_of(graph)
    diagram = gd.render(graph, graph.run())
    loser = dot_edge_attrs(diagram.source, n["y"], n["m"])
    winner = dot_edge_attrs(diagram.source, n["x"], n["m"])
    assert "style=dashed" in loser and f'color="{GREY}"' in loser
    assert "dashed" not in winner and GREY not in winner
    drawing = drawn(diagram)
    assert drawing.edge(f"{n['y']}->{n['m']}") == [("2", GREEN), ("0", RED)]
    assert drawing.edge(f"{n['x']}->{n['m']}") == [("4", GREEN), ("3", RED)]
    (loser_group,) = drawing.edge_groups[f"{n['y']}->{n['m']}"]
    (winner_group,) = drawing.edge_groups[f"{n['x']}->{n['m']}"]
    assert path_of(loser_group).get("stroke-dasharray") and path_of(loser_group).get("stroke") == GREY
    assert path_of(winner_group).get("stroke-dasharray") is None
    assert path_of(winner_group).get("stroke") != GREY


@needs_dot
def test_relu_at_a_negative_input_sends_nothing_back():
    g = gd.Graph("relu")
    x = g.input("x", value=-1.5)
    w = g.parameter("w", 2.0)
    r = g.apply("relu", x, id="r")
    g.set_loss((r * w).named("L"))
    n = names_of(g)
    diagram = gd.render(g, g.run())
    assert "style=dashed" in dot_edge_attrs(diagram.source, n["x"], n["r"])
    assert "dashed" not in dot_edge_attrs(diagram.source, n["r"], n["L"])  # dL/dr = 2
    drawing = drawn(diagram)
    assert drawing.edge(f"{n['x']}->{n['r']}") == [("-1.5", GREEN), ("0", RED)]
    assert drawing.edge(f"{n['r']}->{n['L']}") == [("0", GREEN), ("2", RED)]
    (group,) = drawing.edge_groups[f"{n['x']}->{n['r']}"]
    assert path_of(group).get("stroke-dasharray")


@needs_dot
def test_weight_edges_thickens_wires_with_the_size_of_their_gradient():
    graph = circuit()
    n = names_of(graph)
    result = graph.run()
    plain = gd.render(graph, result)
    assert "penwidth" not in "".join(
        dot_edge_attrs(plain.source, n[s], n[c]) for s, c in [("x", "q"), ("z", "f")]
    )
    diagram = gd.render(graph, result, weight_edges=True)
    wires = {  # |gradient| along the wire
        (n["x"], n["q"]): 4.0,
        (n["y"], n["q"]): 4.0,
        (n["q"], n["f"]): 4.0,
        (n["z"], n["f"]): 3.0,
        (n["f"], "out0"): 1.0,
    }
    widths = {}
    for (tail, head), _ in wires.items():
        match = re.search(r"penwidth=\"?([\d.]+)", dot_edge_attrs(diagram.source, tail, head))
        assert match, (tail, head)
        widths[(tail, head)] = float(match.group(1))
    for a, ga in wires.items():
        for b, gb in wires.items():
            if ga > gb:
                assert widths[a] > widths[b], (a, b, widths)
            elif ga == gb:
                assert widths[a] == widths[b], (a, b, widths)
    drawing = drawn(diagram)
    svg_widths = {
        key: float(path_of(drawing.edge_groups[f"{key[0]}->{key[1]}"][0]).get("stroke-width", "1"))
        for key in wires
    }
    assert svg_widths[(n["x"], n["q"])] > svg_widths[(n["z"], n["f"])] > svg_widths[(n["f"], "out0")]
    # Thick wires are pale, so the red gradient numbers beside them stay readable.
    stroke = path_of(drawing.edge_groups[f"{n['x']}->{n['q']}"][0]).get("stroke")
    assert stroke == WEIGHT_PALE and stroke != RED


# --- 7. nan, inf and -0 ---------------------------------------------------------------------------------


@needs_dot
def test_nan_inf_and_negative_zero_print_as_such():
    g = gd.Graph("nonfinite")
    x = g.input("x", value=0.0)
    lx = g.apply("log", x, id="lx")  # -inf
    c = g.constant("c", 0.0)
    g.set_loss((lx * c).named("n"))  # -inf * 0 = nan
    with np.errstate(all="ignore"):
        result = g.run()
    n = names_of(g)
    drawing = drawn(gd.render(g, result))
    assert drawing.edge(f"{n['x']}->{n['lx']}") == [("0", GREEN), ("nan", RED)]  # 0 * (1/0)
    assert drawing.edge(f"{n['lx']}->{n['n']}") == [("-inf", GREEN), ("0", RED)]
    assert drawing.edge(f"{n['c']}->{n['n']}") == [("0", GREEN), ("-inf", RED)]
    assert drawing.edge(f"{n['n']}->out0") == [("nan", GREEN), ("1", RED)]

    logs = gd.loads(json.dumps(log_spec()))  # x = [1, 0], lx = log(x), L = sum(lx)
    with np.errstate(all="ignore"):
        result = logs.run()
    n = names_of(logs)
    texts = drawn(gd.render(logs, result)).edge(f"{n['x']}->{n['lx']}")
    assert ("[1, 0]", GREEN) in texts and ("[1, inf]", RED) in texts
    assert ("[0, -inf]", GREEN) in drawn(gd.render(logs, result)).edge(f"{n['lx']}->{n['L']}")

    g = gd.Graph("negative_zero")
    x = g.input("x", value=0.0)
    y = g.input("y", value=2.0)
    nz = (-x).named("nz")
    g.set_loss((nz * y).named("L"))
    result = g.run()
    assert math.copysign(1.0, float(result.value("nz"))) == -1.0
    n = names_of(g)
    drawing = drawn(gd.render(g, result))
    assert drawing.edge(f"{n['nz']}->{n['L']}") == [("-0", GREEN), ("2", RED)]
    assert drawing.edge(f"{n['y']}->{n['L']}") == [("2", GREEN), ("-0", RED)]
    assert drawing.edge(f"{n['L']}->out0") == [("-0", GREEN), ("1", RED)]


# --- 8. tensors -----------------------------------------------------------------------------------------


@needs_dot
def test_small_tensors_print_in_full_on_one_line_and_large_ones_as_a_range_and_a_norm():
    g = gd.Graph("tensors")
    W = g.parameter("W", [[1.0, 2.0], [3.0, 4.0]])
    big = np.arange(100.0).reshape(10, 10) / 10
    V = g.parameter("V", big)
    column = g.parameter("c", [[1.0], [2.0], [3.0]])
    sw = g.apply("square", W, id="sW")
    sv = g.apply("square", V, id="sV")
    sc = g.apply("square", column, id="sc")
    total = g.apply("sum", sw, id="a") + g.apply("sum", sv, id="b") + g.apply("sum", sc, id="d")
    g.set_loss(total.named("L"))
    n = names_of(g)
    drawing = drawn(gd.render(g, g.run()))

    assert drawing.edge(f"{n['W']}->{n['sW']}") == [("[1, 2; 3, 4]", GREEN), ("[2, 4; 6, 8]", RED)]
    assert drawing.edge(f"{n['c']}->{n['sc']}") == [("[1, 2, 3]ᵀ", GREEN), ("[2, 4, 6]ᵀ", RED)]
    large = drawing.edge(f"{n['V']}->{n['sV']}")
    assert large == [("(10, 10) ∈ [0, 9.9]", GREEN), (f"‖∇‖ {np.linalg.norm(2 * big):.3g}", RED)]
    from graphdiff.render.labels import wire_value

    assert wire_value(np.zeros((16,)), 4) == "(16,) all 0"
    assert wire_value(np.full((4, 5), 2, dtype=np.int64), 4) == "(4, 5) int64 all 2"


@needs_dot
@pytest.mark.parametrize("show", ["both", "values", "grads"])
def test_no_wire_label_is_longer_than_two_lines(show):
    """Every example: at most one line for the value and one for the gradient on any wire."""
    for path in EXAMPLE_FILES:
        graph = gd.load(path)
        drawing = drawn(gd.render(graph, graph.run(feeds=feeds_for_example(graph)), show=show))
        for title, groups in drawing.edges.items():
            for texts in groups:
                assert len(texts) <= (2 if show == "both" else 1), (path.name, title, texts)


@needs_dot
def test_round_off_is_not_drawn_as_data():
    """Centred values have mean 0 up to round-off, and the summaries say 0, not -6e-19."""
    from graphdiff.render.labels import denoised, summarize, wire_value

    noisy = np.array([0.5, -0.5, 3e-17, 1.0])
    assert wire_value(noisy, 4) == "[0.5, -0.5, 0, 1]"
    centred = np.linspace(-1, 1, 30) - np.mean(np.linspace(-1, 1, 30)) + 1e-17
    assert summarize(centred, 4)[1] == "min -1  mean 0  max 1"
    assert denoised(np.array([1e-20, 1e-20])).tolist() == [1e-20, 1e-20]  # nothing larger to be noise next to
    g = gd.Graph("noise")
    x = g.input("x", value=[0.1, 0.2, 0.3])
    c = g.apply("sub", x, g.apply("mean", x, id="m"), id="c")
    g.set_loss(g.apply("sum", g.apply("square", c, id="sq"), id="L"))
    n = names_of(g)
    values = g.run().values
    assert 0 < abs(values["c"][1]) < 1e-16  # 0.2 - mean is round-off in float64
    assert drawn(gd.render(g, g.run())).edge(f"{n['c']}->{n['sq']}")[0] == ("[-0.1, 0, 0.1]", GREEN)


def feeds_for_example(graph: gd.Graph) -> dict | None:
    """The lab examples' data inputs have no values in the spec: a few rows of their data."""
    try:
        graph.run()
    except gd.FeedError:
        return lab_feeds(graph.name)
    return None


# --- 9. fan-out -----------------------------------------------------------------------------------------


@needs_dot
def test_a_value_used_twice_shows_the_sum_of_its_gradients():
    g = gd.Graph("square_by_mul")
    x = g.input("x", value=3.0)
    g.set_loss((x * x).named("f"))
    n = names_of(g)
    drawing = drawn(gd.render(g, g.run()))
    assert ("Σ∇ = 6", RED) in drawing.nodes[n["x"]]
    wires = drawing.edges[f"{n['x']}->{n['f']}"]
    assert wires == [[("3", GREEN), ("3", RED)]] * 2  # each path brings back 3; they add up to 6


@needs_dot
def test_a_node_feeding_two_gates_shows_the_sum_of_its_gradients():
    g = gd.Graph("fan_out")
    x, y = g.input("x", value=3.0), g.input("y", value=2.0)
    q = (x + y).named("q")
    g.set_loss(((q * x).named("a") + (q * y).named("b")).named("L"))
    result = g.run()
    assert float(result.grad("q")) == 5.0 and float(result.grad("x")) == 10.0
    n = names_of(g)
    drawing = drawn(gd.render(g, result))
    assert drawing.edge(f"{n['q']}->{n['a']}") == [("5", GREEN), ("3", RED)]
    assert drawing.edge(f"{n['q']}->{n['b']}") == [("5", GREEN), ("2", RED)]
    assert ("Σ∇ = 5", RED) in drawing.nodes[n["q"]]
    assert ("Σ∇ = 10", RED) in drawing.nodes[n["x"]]  # 5 through q, q = 5 through a
    assert ("Σ∇ = 10", RED) in drawing.nodes[n["y"]]  # 5 through q, q = 5 through b
    assert not any("Σ∇" in t for t, _ in drawing.nodes[n["a"]] + drawing.nodes[n["b"]])


# --- 10. clusters and collapsing -----------------------------------------------------------------------


@needs_dot
def test_id_prefixes_draw_clusters():
    g = layered_graph()
    n = names_of(g)
    diagram = gd.render(g, g.run())
    clusters = dot_clusters(diagram.source)
    assert sorted(clusters) == ["layer1", "layer2"]
    assert sorted(clusters["layer1"]) == sorted(n[id] for id in n if id.startswith("layer1/"))
    assert sorted(clusters["layer2"]) == sorted(n[id] for id in n if id.startswith("layer2/"))
    drawing = drawn(diagram)
    assert sorted(drawing.clusters) == ["layer1", "layer2"]
    flat = gd.render(g, g.run(), clusters=False)
    assert "subgraph" not in flat.source and drawn(flat).clusters == []


@needs_dot
def test_collapsing_a_cluster_draws_one_box_with_its_gradient_norm():
    g = layered_graph()
    result = g.run()
    n = names_of(g)
    members = [id for id in g.checked.order if id.startswith("layer1/")]
    assert len(members) == 12
    norm = math.sqrt(sum(float(np.sum(np.square(result.grad(id)))) for id in members))
    diagram = gd.render(g, result, collapse=["layer1"])
    names = dot_nodes(diagram.source)
    assert not any(n[id] in names for id in members)
    assert "c0" in names
    drawing = drawn(diagram)
    box = drawing.node_text("c0")
    assert "layer1" in box and "12 nodes" in box
    assert f"‖∇‖ = {norm:.4g}" in box, box
    assert ("‖∇‖ = " + f"{norm:.4g}", RED) in drawing.nodes["c0"]
    # the rest is drawn as usual, wired to the box
    assert set(drawing.nodes) == {"c0", "out0"} | {n[id] for id in n if not id.startswith("layer1/")}
    assert f"{n['x']}->c0" in drawing.edges
    assert {f"c0->{n['layer2/a' + str(i)]}" for i in (1, 2, 3)} <= set(drawing.edges)
    assert "layer1" not in drawing.clusters


@needs_dot
def test_max_nodes_collapses_clusters_and_says_so():
    g = layered_graph()
    total = len(g.checked.order)
    drawing = drawn(gd.render(g, g.run(), max_nodes=10))
    assert f"{total} nodes exceed the cap of 10" in drawing.title_text
    assert "layer1 (12 nodes)" in drawing.title_text
    assert len([name for name in drawing.nodes if not name.startswith("out")]) <= 10
    # under the cap nothing is collapsed and nothing is said
    drawing = drawn(gd.render(g, g.run(), max_nodes=total))
    assert "exceed" not in drawing.title_text and not any(name.startswith("c") for name in drawing.nodes)


@needs_dot
def test_a_long_graph_without_clusters_is_collapsed_into_runs_of_steps():
    g = gd.Graph("chain")
    v = g.input("x", value=0.1)
    for i in range(30):
        v = g.apply("tanh", v, id=f"t{i}")
    g.set_loss(v)
    drawing = drawn(gd.render(g, g.run(), max_nodes=10))
    assert "31 nodes exceed the cap of 10" in drawing.title_text and "steps" in drawing.title_text
    boxes = {name: drawing.node_text(name) for name in drawing.nodes if re.fullmatch(r"c\d+", name)}
    assert boxes
    runs = []
    for text in boxes.values():
        match = re.search(r"steps (\d+)–(\d+)", text)
        assert match, text
        runs.append((int(match.group(1)), int(match.group(2))))
    runs.sort()
    assert runs[0][0] == 2 and runs[-1][1] == 31  # the 30 gates, positions 2..31 in topological order
    assert all(b[0] == a[1] + 1 for a, b in zip(runs, runs[1:], strict=False))
    assert len([name for name in drawing.nodes if not name.startswith("out")]) <= 10


@needs_dot
def test_spec_group_field_clusters_nodes():
    spec = circuit_spec()
    spec["leaves"][0]["group"] = "inputs"
    spec["leaves"][1]["group"] = "inputs"
    spec["nodes"][0]["group"] = "gates"
    spec["nodes"][1]["group"] = "gates"
    graph = gd.loads(json.dumps(spec))
    n = names_of(graph)
    diagram = gd.render(graph, graph.run({"z": [1.0, 2.0, 3.0]}))
    clusters = dot_clusters(diagram.source)
    assert sorted(clusters) == ["gates", "inputs"]
    assert sorted(clusters["inputs"]) == sorted([n["x"], n["y"]])
    assert sorted(clusters["gates"]) == sorted([n["q"], n["f"]])
    assert sorted(drawn(diagram).clusters) == ["gates", "inputs"]


# --- 11. a 2,000-node graph ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_graph() -> tuple[gd.Graph, gd.Result]:
    graph = gd.loads(json.dumps(big_spec()))
    assert len(graph.checked.spec.nodes) == 2000
    return graph, graph.run()


@needs_dot
def test_a_2000_node_graph_renders_collapsed(big_graph):
    graph, result = big_graph
    svg = svg_of(gd.render(graph, result))
    drawing = parse_svg(svg)
    assert "nodes exceed the cap" in drawing.title_text
    assert len(drawing.nodes) <= 150 + 1

    # a higher cap keeps the last layer (a tree of 200 adds) drawn gate by gate
    svg = svg_of(gd.render(graph, result, max_nodes=300))
    drawing = parse_svg(svg)
    name = names_of(graph)
    loss = graph.checked.loss
    assert name[loss] in drawing.nodes and 150 < len(drawing.nodes) <= 301
    assert drawing.edge(f"{name[loss]}->out0") == [(f"{float(result.value(loss)):.4g}", GREEN), ("1", RED)]


@needs_dot
def test_a_2000_node_graph_renders_in_full(big_graph):
    graph, result = big_graph
    svg = svg_of(gd.render(graph, result, max_nodes=None))
    drawing = parse_svg(svg)
    nodes, edges = expected_structure(graph)
    assert set(drawing.nodes) == nodes
    assert sum(len(groups) for groups in drawing.edges.values()) == sum(edges.values())
    name = names_of(graph)
    loss = graph.checked.loss
    assert drawing.edge(f"{name[loss]}->out0") == [(f"{float(result.value(loss)):.4g}", GREEN), ("1", RED)]


# --- 12. output files, with and without Graphviz ------------------------------------------------------


MAGIC = {".svg": b"<svg", ".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF", ".dot": b"digraph"}


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf", ".dot"])
def test_output_files_are_written_in_the_format_of_their_suffix(suffix, tmp_path):
    graph = circuit()
    target = tmp_path / f"circuit{suffix}"
    gd.render(graph, graph.run(), output=target)
    data = target.read_bytes()
    if suffix == ".svg":
        assert data.lstrip().startswith(b"<?xml") and MAGIC[suffix] in data[:500]
        assert parse_svg(data).edge("n4->out0") == [("-12", GREEN), ("1", RED)]
    else:
        assert data.startswith(MAGIC[suffix]), data[:20]
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp file left


def test_a_bad_suffix_is_refused_before_any_work(tmp_path, monkeypatch):
    render_module = importlib.import_module("graphdiff.render")  # the package (gd.render is the function)

    def no_work(*args, **kwargs):
        raise AssertionError("the diagram was built before the suffix was checked")

    monkeypatch.setattr(render_module, "build_diagram", no_work)
    graph = circuit()
    for name in ["circuit.jpg", "circuit", "circuit.svg.txt"]:
        with pytest.raises(gd.GraphdiffError, match=r"\.svg, \.png, \.pdf or \.dot"):
            gd.render(graph, graph.run(), output=tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def no_dot(tmp_path, monkeypatch) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None
    out = tmp_path / "out"
    out.mkdir()
    return out


@pytest.mark.parametrize("which", ["none", "stale"], ids=["which-finds-nothing", "which-lies"])
def test_without_dot_svg_is_refused_with_install_advice_and_dot_still_works(which, no_dot, monkeypatch):
    output_module = importlib.import_module("graphdiff.render.output")

    if which == "stale":  # dot was found earlier but is gone now: the executable cannot be run
        monkeypatch.setattr(output_module.shutil, "which", lambda name, *a, **k: "/usr/bin/dot")
    graph = circuit()
    result = graph.run()
    diagram = gd.render(graph, result, output=no_dot / "circuit.dot")
    assert (no_dot / "circuit.dot").read_text(encoding="utf-8") == diagram.source
    assert diagram.source.startswith("digraph")

    (no_dot / "kept.svg").write_text("old picture", encoding="utf-8")
    for suffix in [".svg", ".png", ".pdf"]:
        with pytest.raises(gd.GraphdiffError) as info:
            gd.render(graph, result, output=no_dot / f"circuit{suffix}")
        message = str(info.value)
        assert "apt-get install graphviz" in message and "Graphviz" in message, message
        assert ".dot" in message  # the way out without Graphviz
        with pytest.raises(gd.GraphdiffError):
            gd.render(graph, result, output=no_dot / "kept.svg")
    assert sorted(p.name for p in no_dot.iterdir()) == ["circuit.dot", "kept.svg"]
    assert (no_dot / "kept.svg").read_text(encoding="utf-8") == "old picture"


def test_cli_without_dot_exits_2_with_install_advice_and_writes_nothing(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(CIRCUIT, folder / "circuit.json")
    python_dir = os.path.dirname(sys.executable)
    path = python_dir if shutil.which("dot", path=python_dir) is None else str(tmp_path / "empty")
    before = snapshot(folder)
    proc = subprocess.run(
        [sys.executable, "-m", "graphdiff.cli", "render", "circuit.json", "-o", "out.svg"],
        cwd=folder,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert "apt-get install graphviz" in proc.stderr
    assert "wrote" not in proc.stdout
    assert snapshot(folder) == before  # no out.svg, no temp file


# --- 13. the CLI ----------------------------------------------------------------------------------------


@needs_dot
def test_cli_render_writes_the_file_and_says_so(tmp_path):
    proc = run_cli("render", CIRCUIT, "-o", "c.svg", "--precision", "3", "--title", "Circuit", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert "wrote" in proc.stdout and "c.svg" in proc.stdout
    drawing = parse_svg((tmp_path / "c.svg").read_bytes())
    assert drawing.title_texts[0][0] == "Circuit"
    assert drawing.edge("n0->n3") == [("-2", GREEN), ("-4", RED)]

    proc = run_cli(
        *("render", CIRCUIT, "-o", "s.dot", "--show", "values", "--direction", "TB", "--no-clusters"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    source = (tmp_path / "s.dot").read_text(encoding="utf-8")
    assert "rankdir=TB" in source and "subgraph" not in source
    assert f'<FONT COLOR="{GREEN}">-12</FONT>' in source
    assert f'<FONT COLOR="{RED}">' not in source  # --show values: no gradient text at all


def frame_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("frame-"))


def figure_captions(index: Path) -> list[str]:
    import html

    page = index.read_text(encoding="utf-8")
    return [html.unescape(c) for c in re.findall(r'<figure class="frame" data-caption="([^"]*)"', page)]


@needs_dot
def test_cli_steps_writes_one_frame_per_step_and_the_page(tmp_path):
    graph = circuit()
    ops = len(graph.checked.spec.nodes)
    proc = run_cli("render", CIRCUIT, "--steps", "steps", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert "wrote" in proc.stdout and "index.html" in proc.stdout
    folder = tmp_path / "steps"
    backward_steps = ops  # every gate of the circuit sends gradients back
    count = 1 + ops + 1 + backward_steps
    assert count == 6
    assert frame_files(folder) == [f"frame-{i:03d}.svg" for i in range(1, count + 1)]
    for name in frame_files(folder):
        assert (folder / name).read_bytes().lstrip().startswith(b"<?xml")
    captions = figure_captions(folder / "index.html")
    assert len(captions) == count
    assert [c.split(":")[0] for c in captions] == [
        "forward 0/2",
        "forward 1/2",
        "forward 2/2",
        "backward 0/2",
        "backward 1/2",
        "backward 2/2",
    ]
    assert "q = add(x, y) = 3" in captions[1]
    assert "f = mul(q, z) = -12" in captions[2]
    assert "q gets 1 × (-4) = -4" in captions[4] and "z gets 1 × 3 = 3" in captions[4]
    assert "x gets -4 × 1 = -4" in captions[5] and "y gets -4 × 1 = -4" in captions[5]
    # the last frame carries every number of the finished backward pass
    last = parse_svg((folder / frame_files(folder)[-1]).read_bytes())
    assert last.edge("n0->n3") == [("-2", GREEN), ("-4", RED)]
    assert last.edge("n2->n4") == [("-4", GREEN), ("3", RED)]
    # the first frame has only the leaves' values: no gradient anywhere yet
    first = parse_svg((folder / "frame-001.svg").read_bytes())
    assert all(fill != RED for _, fill in first.wire_texts())


@needs_dot
def test_cli_steps_into_the_same_folder_removes_stale_frames(tmp_path):
    proc = run_cli("render", EXAMPLES / "x_y2_plus_z.json", "--steps", "steps", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "steps"
    assert len(frame_files(folder)) == 1 + 3 + 1 + 3
    # (A folder holding files graphdiff did not write is refused even with --force: test_hardening_files.)
    proc = run_cli("render", EXAMPLES / "cs231n_circuit.json", "--steps", "steps", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert frame_files(folder) == [f"frame-{i:03d}.svg" for i in range(1, 7)]
    assert len(figure_captions(folder / "index.html")) == 6


def test_cli_render_refuses_a_bad_suffix_before_running(tmp_path):
    write_spec(tmp_path, "needs_feed.json", circuit_spec())  # z has no default: running would fail
    for spec in ["needs_feed.json", "does_not_exist.json"]:
        proc = run_cli("render", spec, "-o", "out.jpg", cwd=tmp_path)
        assert proc.returncode == 2
        assert_no_traceback(proc)
        assert ".svg, .png, .pdf or .dot" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # only the suffix: nothing ran
        assert "feed" not in proc.stderr and "not found" not in proc.stderr.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["needs_feed.json"]


def test_cli_render_needs_somewhere_to_draw(tmp_path):
    proc = run_cli("render", CIRCUIT, cwd=tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "-o" in proc.stderr and "--steps" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_cli_steps_for_a_graph_without_a_loss_steps_through_the_forward_pass(tmp_path):
    spec = {
        "format_version": 1,
        "name": "no_loss",
        "leaves": [{"id": "x", "kind": "input", "value": 2.0}],
        "nodes": [{"id": "y", "op": "square", "inputs": ["x"]}, {"id": "z", "op": "neg", "inputs": ["y"]}],
        "outputs": ["z"],
    }
    write_spec(tmp_path, "no_loss.json", spec)
    proc = run_cli("render", "no_loss.json", "--steps", "steps", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert frame_files(tmp_path / "steps") == [f"frame-{i:03d}.svg" for i in range(1, 4)]


# --- 14. the Python API ---------------------------------------------------------------------------------


@needs_dot
def test_render_returns_a_digraph_that_displays_in_jupyter():
    graph = circuit()
    diagram = gd.render(graph, graph.run())
    assert isinstance(diagram, graphviz.Digraph)
    if hasattr(diagram, "_repr_mimebundle_"):
        bundle = diagram._repr_mimebundle_()
        svg = bundle["image/svg+xml"]
    else:
        svg = diagram._repr_svg_()
    assert "<svg" in svg and "&#45;12" in svg


@needs_dot
def test_render_output_is_written_atomically(tmp_path, monkeypatch):
    import graphdiff.fileio as fileio

    target = tmp_path / "circuit.svg"
    target.write_text("old picture", encoding="utf-8")
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        # at the moment of the swap the new file is complete and the old one still intact
        assert Path(dst) == target
        assert Path(src).parent == tmp_path and Path(src) != target
        assert Path(src).read_bytes().rstrip().endswith(b"</svg>")
        assert target.read_text(encoding="utf-8") == "old picture"
        replaced.append((src, dst))
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", spy)
    graph = circuit()
    diagram = gd.render(graph, graph.run(), output=target)
    assert len(replaced) == 1
    assert parse_svg(target.read_bytes()).edge("n4->out0") == [("-12", GREEN), ("1", RED)]
    assert isinstance(diagram, graphviz.Digraph)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circuit.svg"]


@needs_dot
def test_render_steps_api_returns_the_index_and_refuses_incomplete_results(tmp_path):
    graph = circuit()
    index = gd.render_steps(graph, graph.run(), tmp_path / "steps")
    assert index == tmp_path / "steps" / "index.html"
    assert len(figure_captions(index)) == 6
    with pytest.raises(gd.GraphdiffError, match="backward has not run"):
        gd.render_steps(graph, graph.forward(), tmp_path / "forward_only")
    assert not (tmp_path / "forward_only").exists() or frame_files(tmp_path / "forward_only") == []


@needs_dot
def test_tooltips_carry_the_full_values_and_hostile_ids_as_written():
    g = gd.Graph("tips")
    x = g.input("x", value=[1.0, 2.0, 3.0])
    hostile = '<script>"\\N&'
    s = g.apply("square", x, id=hostile)
    g.set_loss(g.apply("sum", s, id="L"))
    svg = svg_of(gd.render(g, g.run()))
    root = ET.fromstring(svg)
    titles = [a.get(f"{XLINK_NS}title") for a in root.iter(f"{SVG_NS}a") if a.get(f"{XLINK_NS}title")]
    wire = next(t for t in titles if t.startswith("x → "))
    assert wire.splitlines() == [f"x → {hostile}", "value (3,) float64", "[1., 2., 3.]",
                                 "gradient (3,) float64", "[2., 4., 6.]"]  # fmt: skip
    assert b"<script>" not in svg  # the id reaches the SVG only escaped
    big = gd.Graph("big")
    v = big.parameter("v", np.arange(1000.0))
    big.set_loss(big.apply("sum", big.apply("square", v, id="sq"), id="L"))
    tips = [
        a.get(f"{XLINK_NS}title") for a in ET.fromstring(svg_of(gd.render(big, big.run()))).iter(f"{SVG_NS}a")
    ]
    tip = next(t for t in tips if t and t.startswith("v → sq"))
    assert "first: 0, 1, 2, 3, 4, 5, 6, 7, …" in tip and len(tip) < 400
