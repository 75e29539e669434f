"""Slide-ready diagrams: the layout of the examples, as Graphviz placed it and as Chromium draws it.

- From Graphviz's own JSON layout: no text of one label runs into another's, no wire label reaches into a
  gate, and the spiral net, the digits CNN and the attention example fit a 16:9 slide (1920 x 1080) with
  their 10 pt wire text at least 8.5 px tall (a scale of 0.64; the old layout put the CNN at 0.33).
- From Chromium's own text bounding boxes of the SVG (the font it actually drew with): the same, and every
  text inside its gate or box and inside the picture (the legend was clipped where fonts ran wider).
- A loss named ``loss`` keeps its double red border.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from browser import browser, page  # noqa: F401  (fixtures)
from helpers import lab_feeds
from layout_check import layout_of

import graphdiff as gd
from graphdiff.render import render_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SLIDE_EXAMPLES = ["spiral_two_layer", "digits_cnn", "self_attention"]
ALL_EXAMPLES = sorted(path.stem for path in EXAMPLES.glob("*.json"))
#: 10 pt wire text (13.3 CSS px) drawn at least 8.5 px tall on a 1920 x 1080 slide.
SLIDE_SCALE = 0.64
GRAD_COLOR = "#c62828"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def diagram_of(name: str, **options):
    graph = gd.load(EXAMPLES / f"{name}.json")
    try:
        result = graph.run()
    except gd.FeedError:  # the lab examples' data inputs: a few rows of their data
        result = graph.run(feeds=lab_feeds(name))
    return gd.render(graph, result, **options)


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_no_label_runs_into_another_or_into_a_gate(name):
    layout = layout_of(diagram_of(name))
    assert layout.overlapping_texts() == []
    assert layout.texts_on_shapes() == []


@pytest.mark.parametrize("name", SLIDE_EXAMPLES)
def test_the_tensor_examples_fit_a_16_9_slide(name):
    layout = layout_of(diagram_of(name))
    assert layout.slide_scale() >= SLIDE_SCALE, (layout.width, layout.height)


def test_the_scalar_circuits_stay_left_to_right_as_the_slides_draw_them():
    for name in ["cs231n_circuit", "max_gate", "two_layer_sigmoid", "x_y2_plus_z"]:
        assert "rankdir=LR" in diagram_of(name).source, name
    assert "rankdir=TB" in diagram_of("digits_cnn").source  # far too long left to right


def test_a_loss_named_loss_keeps_its_double_red_border():
    spec = json.loads((EXAMPLES / "spiral_two_layer.json").read_text())
    graph = gd.load(EXAMPLES / "spiral_two_layer.json")
    assert graph.checked.loss == "loss" and "loss" in json.dumps(spec)
    layout = json.loads(diagram_of("spiral_two_layer").pipe(format="json"))
    (node,) = [obj for obj in layout["objects"] if obj.get("id") == f"n{graph.checked.order.index('loss')}"]
    assert node.get("peripheries") == "2" and node.get("color") == GRAD_COLOR
    ellipses = [op for op in node["_draw_"] if op["op"] in ("e", "E")]
    assert len(ellipses) == 2  # two outlines drawn


# --- in Chromium ------------------------------------------------------------------------------------------

#: Every <text>'s box in page pixels with its owner (the node, edge or cluster group, or the graph's title).
MEASURE = """() => {
  const svg = document.querySelector("svg");
  const owner = (el) => {
    const g = el.closest("g.node, g.edge, g.cluster");
    return g ? g.id || g.querySelector("title").textContent : "graph";
  };
  const texts = Array.from(svg.querySelectorAll("text")).map((el) => {
    const r = el.getBoundingClientRect();
    return {owner: owner(el), text: el.textContent, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
  });
  const shapes = Array.from(svg.querySelectorAll("g.node")).map((g) => {
    const outline = g.querySelector("ellipse, polygon, path");
    const r = outline.getBoundingClientRect();
    return {owner: g.id, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
  });
  const r = svg.getBoundingClientRect();
  return {texts: texts, shapes: shapes, picture: {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}};
}"""


def overlap(a: dict, b: dict, slack: float) -> bool:
    return (
        a["x0"] + slack < b["x1"]
        and b["x0"] + slack < a["x1"]
        and a["y0"] + slack < b["y1"]
        and b["y0"] + slack < a["y1"]
    )


def inside(inner: dict, outer: dict, slack: float) -> bool:
    return (
        inner["x0"] >= outer["x0"] - slack
        and inner["y0"] >= outer["y0"] - slack
        and inner["x1"] <= outer["x1"] + slack
        and inner["y1"] <= outer["y1"] + slack
    )


@pytest.mark.parametrize("name", [*SLIDE_EXAMPLES, "cs231n_circuit", "two_layer_sigmoid"])
def test_chromium_draws_every_text_clear_of_the_others_and_inside_its_box(name, page, tmp_path):  # noqa: F811
    svg = tmp_path / f"{name}.svg"
    svg.write_bytes(render_bytes(diagram_of(name), "svg"))
    page.goto(svg.as_uri())
    drawn = page.evaluate(MEASURE)
    texts = [t for t in drawn["texts"] if t["text"].strip()]
    # A glyph's box includes its line's leading: boxes of one label touch; 1 px of slack between labels.
    clashes = [
        (a["text"], b["text"])
        for i, a in enumerate(texts)
        for b in texts[i + 1 :]
        if a["owner"] != b["owner"] and overlap(a, b, 1.0)
    ]
    assert clashes == []
    outside = [t["text"] for t in texts if not inside(t, drawn["picture"], 0.5)]
    assert outside == []
    shapes = {s["owner"]: s for s in drawn["shapes"]}
    spilled = [
        (t["owner"], t["text"])
        for t in texts
        if t["owner"] in shapes
        and not inside({**t, "y0": t["y0"] + 2, "y1": t["y1"] - 2}, shapes[t["owner"]], 1.0)
        and t["owner"].startswith("n")
        and not t["text"].startswith("Σ∇")  # a gate's fan-in sum is drawn beside it, as an xlabel
    ]
    assert spilled == []
