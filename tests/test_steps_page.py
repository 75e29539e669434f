"""The step-through page (index.html from ``gd.render_steps``): its captions, and the page in real Chromium.

The captions are checked from ``step_frames`` directly: each backward step shows upstream x local gradient
= what an input gets, with numbers worked out here from the example's own values, and the running sum
where a value feeds several gates. The page is driven by Playwright in the system's Chromium (the shared
fixtures of tests/browser.py, which also fail a test on any console error): stepping with keys, buttons,
the slider and a ``#N`` start; zooming that stays as the frames change; a large graph shown at a readable
size and panned by dragging. Screenshots go to the test's tmp folder. Browser tests are skipped when no
Chromium or Playwright is installed, or when Graphviz's dot is not.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from browser import browser, page  # noqa: F401  (the shared Playwright fixtures)

import graphdiff as gd
from graphdiff.render.steps import Frame, step_frames

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def g4(x: float) -> str:
    """A number as the captions print it at the default precision (4 significant digits)."""
    return f"{float(x):.4g}"


def frames_of(graph: gd.Graph, result) -> list[Frame]:
    return step_frames(graph.checked, result.values, result.grads, result.edge_grads)


def caption_of(frames: list[Frame], gate: str) -> str:
    """The backward caption of ``gate``'s step."""
    (caption,) = [
        f.caption for f in frames if f.caption.startswith("backward") and f" gate {gate} " in f.caption
    ]
    return caption


@pytest.fixture(scope="module")
def sigmoid() -> tuple[gd.Graph, object]:
    graph = gd.load(EXAMPLES / "two_layer_sigmoid.json")
    return graph, graph.run()


def spiral_graph() -> tuple[gd.Graph, object]:
    """The spiral net on five random points (the data it is made for is fed at run time)."""
    graph = gd.load(EXAMPLES / "spiral_two_layer.json")
    rng = np.random.default_rng(0)
    feeds = {"X": rng.normal(size=(5, 2)), "y": np.array([0, 1, 2, 0, 1])}
    return graph, graph.run(feeds=feeds)


# --- captions -------------------------------------------------------------------------------------------


def test_a_sigmoid_caption_multiplies_upstream_by_its_local_gradient(sigmoid):
    graph, result = sigmoid
    z1 = float(result.value("z1"))
    upstream, local = float(result.grad("z1")), z1 * (1 - z1)  # dz1/ds1 = σ(1 - σ), worked out here
    assert (g4(upstream), g4(local), g4(result.grad("s1"))) == ("-0.1224", "0.1683", "-0.0206")
    assert caption_of(frames_of(graph, result), "z1").endswith(
        "sigmoid gate z1 multiplies its upstream gradient -0.1224 by its local gradient ∂z1/∂s1 = 0.1683: "
        "s1 gets -0.1224 × 0.1683 = -0.0206"
    )


def test_each_input_of_a_scalar_gate_shows_its_own_local_gradient(sigmoid):
    graph, result = sigmoid
    frames = frames_of(graph, result)
    up = g4(result.grad("w11o_z1"))
    # mul: each input's local gradient is the other input's value
    assert (
        f"∂w11o_z1/∂w11o = {g4(result.value('z1'))} and ∂w11o_z1/∂z1 = {g4(result.value('w11o'))}: "
        f"w11o gets {up} × {g4(result.value('z1'))} = {g4(result.grad('w11o'))}; "
        f"z1 gets {up} × 0.7 = {g4(result.grad('z1'))}"
    ) in caption_of(frames, "w11o_z1")
    # add: 1 for each input
    assert "by its local gradients ∂y/∂y_partial = 1 and ∂y/∂w21o_z2 = 1" in caption_of(frames, "y")
    # a negative factor is parenthesized: upstream × (-0.5)
    assert f"z2 gets {g4(result.grad('w21o_z2'))} × (-0.5) = {g4(result.grad('z2'))}" in caption_of(
        frames, "w21o_z2"
    )

    # max: 1 for the larger input, 0 for the other
    graph = gd.load(EXAMPLES / "max_gate.json")
    caption = caption_of(frames_of(graph, graph.run()), "m")
    assert "by its local gradients ∂m/∂x = 1 and ∂m/∂y = 0: x gets 3 × 1 = 3; y gets 3 × 0 = 0" in caption


def test_a_zero_upstream_still_shows_the_local_gradient_and_a_repeated_input_is_named():
    spec = {
        "format_version": 1,
        "name": "t",
        "leaves": [
            {"id": "s", "kind": "input", "value": 0.0},
            {"id": "k", "kind": "input", "value": 0.0},
            {"id": "x", "kind": "input", "value": 3.0},
        ],
        "nodes": [
            {"id": "a", "op": "sigmoid", "inputs": ["s"]},
            {"id": "m", "op": "mul", "inputs": ["a", "k"]},
            {"id": "sq", "op": "mul", "inputs": ["x", "x"]},
            {"id": "L", "op": "add", "inputs": ["m", "sq"]},
        ],
        "loss": "L",
    }
    graph = gd.loads(json.dumps(spec), label="t.json")
    frames = frames_of(graph, graph.run())
    # k = 0 sends a to a zero upstream; σ'(0) = 0.25 is still the local gradient (not 0 / 0)
    assert caption_of(frames, "a").endswith("by its local gradient ∂a/∂s = 0.25: s gets 0 × 0.25 = 0")
    assert caption_of(frames, "sq").endswith(
        "∂sq/∂x (as a) = 3 and ∂sq/∂x (as b) = 3: "
        "x gets 1 × 3 = 3 (Σ so far 3, 1 of 2); x gets 1 × 3 = 3 (Σ so far 3 + 3 = 6, 2 of 2)"
    )


def test_a_value_feeding_several_gates_shows_its_running_sum(sigmoid):
    graph, result = sigmoid
    frames = frames_of(graph, result)
    first, second = result.edge_grads[("w12h_x1", 1)], result.edge_grads[("w11h_x1", 1)]
    assert g4(first + second) == g4(result.grad("x1")) == "0.004743"
    assert f"x1 gets 0.02164 × 0.6 = {g4(first)} (Σ so far {g4(first)}, 1 of 2)" in caption_of(
        frames, "w12h_x1"
    )
    assert (
        f"x1 gets -0.0206 × 0.4 = {g4(second)} (Σ so far {g4(first)} + ({g4(second)}) = 0.004743, 2 of 2)"
    ) in caption_of(frames, "w11h_x1")
    # the seed and forward captions are unchanged in form
    assert frames[16].caption == "backward 0/15: the gradient of the loss L with respect to itself is 1"
    assert frames[5].caption == "forward 5/15: z1 = sigmoid(s1) = 0.7858"


def test_a_tensor_edge_says_what_was_sent_rather_than_a_product():
    graph, result = spiral_graph()
    frames = frames_of(graph, result)
    caption = caption_of(frames, "XW1")
    norm = g4(np.linalg.norm(result.grad("XW1")))
    assert (
        f"matmul gate XW1 sends its upstream gradient (5, 100), norm {norm} back through its local "
        "Jacobians: X gets" in caption
    )
    assert f"X gets (5, 2), norm {g4(np.linalg.norm(result.edge_grads[('XW1', 0)]))}" in caption
    # W1 also feeds reg1: the running sum is a tensor's norm, and the last of its two arrivals
    assert f"(Σ so far (2, 100), norm {g4(np.linalg.norm(result.grad('W1')))}, 2 of 2)" in caption
    assert "×" not in caption
    # a scalar loss sending a gradient to a tensor is a Jacobian too
    assert "W2 gets (100, 3), norm" in caption_of(frames, "reg2")
    # a tiny tensor is shown in full
    graph = gd.load(EXAMPLES / "softmax_classifier.json")
    result = graph.run()
    b = result.grad("b")
    assert f"b gets (3,) [{', '.join(g4(v) for v in b)}]" in caption_of(frames_of(graph, result), "scores")


# --- the page in Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """Step pages of the circuit, the two-layer sigmoid net and the spiral net (one folder each)."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    folder = tmp_path_factory.mktemp("steps")
    made = {}
    for name in ("cs231n_circuit", "two_layer_sigmoid"):
        graph = gd.load(EXAMPLES / f"{name}.json")
        made[name] = gd.render_steps(graph, graph.run(), folder / name)
    graph, result = spiral_graph()
    made["spiral"] = gd.render_steps(graph, result, folder / "spiral")
    odd = {
        "format_version": 1,
        "name": "t<script>alert(1)</script>{frames}",
        "leaves": [{"id": "<b>x</b>&amp;", "kind": "input", "value": 2.0}],
        "nodes": [{"id": "f\"q'", "op": "square", "inputs": ["<b>x</b>&amp;"]}],
        "loss": "f\"q'",
    }
    graph = gd.loads(json.dumps(odd), label="odd.json")
    made["odd"] = gd.render_steps(graph, graph.run(), folder / "odd")
    return made


@pytest.fixture
def tab(page):  # noqa: F811  (the shared fixture's page, named so that it does not shadow the import)
    """A Chromium page of 1280x800 that fails the test on any console error (tests/browser.py)."""
    return page


def shoot(tab, path: Path) -> None:
    """A screenshot of the window, checked to be a 1280x800 PNG that is not blank."""
    tab.screenshot(path=str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    assert struct.unpack(">II", data[16:24]) == (1280, 800)  # the IHDR chunk


#: What the page shows now: the frame, visible figures, caption, counter, slider, zoom and scroll.
STATE = """() => {
  const view = document.getElementById("view");
  const figures = [...document.querySelectorAll("figure.frame")];
  const visible = figures.filter(f => !f.hidden && f.getBoundingClientRect().width > 0);
  const svg = visible.length ? visible[0].querySelector("svg") : null;
  return {
    frame: document.body.getAttribute("data-frame"),
    visible: figures.map((f, i) => f.hidden ? 0 : i + 1).filter(i => i),
    frames: figures.length,
    caption: document.getElementById("caption").textContent,
    dataCaption: visible.length ? visible[0].getAttribute("data-caption") : null,
    counter: document.getElementById("counter").textContent,
    slider: document.getElementById("slider").value,
    hash: location.hash,
    scale: svg ? svg.getBoundingClientRect().width / svg.viewBox.baseVal.width : null,
    zoom: document.getElementById("zoom").textContent,
    scrollLeft: view.scrollLeft, scrollTop: view.scrollTop,
    scrollWidth: view.scrollWidth, clientWidth: view.clientWidth,
    scrollHeight: view.scrollHeight, clientHeight: view.clientHeight,
  };
}"""

#: The rendered size in CSS px of text in the visible frame: each labelled node's largest label, and the
#: median over all text.
TEXT_SIZES = """() => {
  const figure = [...document.querySelectorAll("figure.frame")].find(f => !f.hidden);
  const svg = figure.querySelector("svg");
  const px = text => parseFloat(text.getAttribute("font-size")) * text.getScreenCTM().a;
  const largest = g => Math.max(...[...g.querySelectorAll("text")].map(px));
  const nodes = [...svg.querySelectorAll("g.node")].filter(g => g.querySelector("text")).map(largest);
  const all = [...svg.querySelectorAll("text")].map(px).sort((a, b) => a - b);
  return {nodes: nodes, median: all[Math.floor(all.length / 2)]};
}"""


def state(tab) -> dict:
    return tab.evaluate(STATE)


def open_page(tab, index: Path, frame: int | None = None) -> dict:
    tab.goto(index.as_uri() + (f"#{frame}" if frame is not None else ""))
    tab.wait_for_function("document.body.hasAttribute('data-frame')")
    return state(tab)


def test_keys_buttons_and_the_slider_step_through_the_frames(pages, tab, tmp_path):
    start = open_page(tab, pages["cs231n_circuit"])
    assert start["frame"] == "1" and start["visible"] == [1] and start["frames"] == 6
    assert start["caption"] == "forward 0/2: the leaves hold their values" and start["counter"] == "1 / 6"
    for _ in range(3):
        tab.keyboard.press("ArrowRight")
    tab.click("#prev")  # three right from frame 1 reach frame 4; back once: frame 3
    now = state(tab)
    assert now["frame"] == "3" and now["visible"] == [3] and now["hash"] == "#3"
    assert now["caption"] == now["dataCaption"] == "forward 2/2: f = mul(q, z) = -12"
    assert now["counter"] == "3 / 6" and now["slider"] == "3"
    tab.click("#next")
    now = state(tab)
    assert now["frame"] == "4" and now["caption"].startswith("backward 0/2")
    tab.keyboard.press("End")
    assert state(tab)["frame"] == "6"
    tab.click("#first")
    assert state(tab)["frame"] == "1"
    tab.click("#last")
    now = state(tab)
    assert now["frame"] == "6" and now["caption"].startswith("backward 2/2: add gate q")
    tab.keyboard.press("Home")
    assert state(tab)["frame"] == "1"
    tab.fill("#slider", "5")  # dragging the slider fires input events
    now = state(tab)
    assert now["frame"] == "5" and now["visible"] == [5]
    shoot(tab, tmp_path / "circuit.png")


def test_a_frame_number_in_the_url_opens_that_frame(pages, tab):
    now = open_page(tab, pages["cs231n_circuit"], 5)
    assert now["frame"] == "5" and now["visible"] == [5] and now["counter"] == "5 / 6"
    assert now["caption"] == now["dataCaption"]
    assert now["caption"].startswith("backward 1/2: mul gate f multiplies its upstream gradient 1")
    assert "q gets 1 × (-4) = -4; z gets 1 × 3 = 3" in now["caption"]
    tab.goto("about:blank")
    now = open_page(tab, pages["cs231n_circuit"])  # without a hash the page starts at frame 1
    assert now["frame"] == "1" and now["visible"] == [1]


def test_the_page_shows_the_sigmoid_local_gradient_and_wraps_long_captions(pages, tab, tmp_path):
    index = pages["two_layer_sigmoid"]
    open_page(tab, index)
    captions = tab.eval_on_selector_all("figure.frame", "fs => fs.map(f => f.getAttribute('data-caption'))")
    z1 = next(i for i, c in enumerate(captions) if " gate z1 " in c)
    for _ in range(z1):
        tab.keyboard.press("ArrowRight")
    now = state(tab)
    assert now["frame"] == str(z1 + 1)
    assert (
        "sigmoid gate z1 multiplies its upstream gradient -0.1224 by its local gradient ∂z1/∂s1 = 0.1683: "
        "s1 gets -0.1224 × 0.1683 = -0.0206"
    ) in now["caption"]
    shoot(tab, tmp_path / "sigmoid-z1.png")

    # the last caption is longer than a line: it wraps, whole, inside the window
    tab.keyboard.press("End")
    now = state(tab)
    assert (
        now["caption"] == captions[-1]
        and "(Σ so far 0.01298 + (-0.008239) = 0.004743, 2 of 2)" in now["caption"]
    )
    box = tab.eval_on_selector(
        "#caption",
        """c => ({height: c.getBoundingClientRect().height, right: c.getBoundingClientRect().right,
                  line: parseFloat(getComputedStyle(c).lineHeight), scroll: c.scrollWidth,
                  width: c.clientWidth, ellipsis: getComputedStyle(c).textOverflow})""",
    )
    assert box["height"] >= 1.9 * box["line"]  # two lines or more
    assert box["right"] <= 1280 and box["scroll"] <= box["width"]
    assert box["ellipsis"] != "ellipsis"
    shoot(tab, tmp_path / "sigmoid-last.png")


def test_zoom_buttons_keys_and_ctrl_wheel_change_the_scale_and_it_stays_across_steps(pages, tab, tmp_path):
    start = open_page(tab, pages["two_layer_sigmoid"], 20)
    default = start["scale"]
    tab.click("#zoom-in")
    zoomed = state(tab)
    assert zoomed["scale"] == pytest.approx(default * 1.25, rel=1e-3)
    assert zoomed["zoom"] != start["zoom"]
    tab.keyboard.press("ArrowRight")
    tab.click("#next")
    tab.keyboard.press("ArrowLeft")
    now = state(tab)
    assert now["frame"] == "21" and now["scale"] == pytest.approx(zoomed["scale"], rel=1e-3)  # the zoom stays
    assert overflows(now)  # zoomed past the window: there is something to pan
    shoot(tab, tmp_path / "sigmoid-zoomed.png")

    tab.keyboard.press("-")
    tab.keyboard.press("-")
    assert state(tab)["scale"] == pytest.approx(default / 1.25, rel=1e-3)
    tab.click("#zoom-out")
    assert state(tab)["scale"] == pytest.approx(default / 1.25**2, rel=1e-3)
    tab.keyboard.press("+")
    assert state(tab)["scale"] == pytest.approx(default / 1.25, rel=1e-3)
    tab.click("#zoom-reset")
    assert state(tab)["scale"] == pytest.approx(default, rel=1e-3)

    # ctrl + wheel zooms in (wheel up) and keeps the point under the pointer where it was
    view = tab.locator("#view").bounding_box()
    x, y = view["x"] + view["width"] / 2, view["y"] + view["height"] / 2
    tab.mouse.move(x, y)
    tab.keyboard.down("Control")
    tab.mouse.wheel(0, -200)
    tab.keyboard.up("Control")
    tab.wait_for_function(f"document.getElementById('view').getAttribute('data-scale') > {default * 1.01}")
    assert state(tab)["scale"] > default * 1.2
    tab.keyboard.press("0")
    assert state(tab)["scale"] == pytest.approx(default, rel=1e-3)


def test_a_small_circuit_fits_the_window_at_a_large_size(pages, tab, tmp_path):
    now = open_page(tab, pages["cs231n_circuit"], 6)
    assert now["scrollWidth"] <= now["clientWidth"] and now["scrollHeight"] <= now["clientHeight"]
    sizes = tab.evaluate(TEXT_SIZES)
    assert sizes["median"] >= 14  # larger than its own size: it is scaled up to fill the width
    shoot(tab, tmp_path / "circuit-fit.png")

    # a narrower window fits it again, smaller; once the reader has chosen a zoom, it stays
    tab.set_viewport_size({"width": 480, "height": 800})
    tab.wait_for_function(
        f"document.getElementById('view').getAttribute('data-scale') < {now['scale'] * 0.9}"
    )
    narrow = state(tab)
    assert narrow["scrollWidth"] <= narrow["clientWidth"]
    tab.click("#zoom-in")
    chosen = state(tab)["scale"]
    tab.set_viewport_size({"width": 1280, "height": 800})
    tab.wait_for_function("window.innerWidth === 1280")
    tab.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )  # resized
    assert state(tab)["scale"] == pytest.approx(chosen, rel=1e-3)


#: Whether the current step's node (the figure's data-highlight) lies inside the visible part of the view.
HIGHLIGHT_IN_VIEW = """() => {
  const figure = [...document.querySelectorAll("figure.frame")].find(f => !f.hidden);
  const node = figure.querySelector('[id="' + figure.getAttribute("data-highlight") + '"]');
  const box = node.getBoundingClientRect(), view = document.getElementById("view");
  const rect = view.getBoundingClientRect();
  return box.left >= rect.left && box.right <= rect.left + view.clientWidth
    && box.top >= rect.top && box.bottom <= rect.top + view.clientHeight;
}"""


def overflows(now: dict) -> bool:
    """Whether the diagram is larger than the view (so there is something to pan), either way."""
    return now["scrollWidth"] > now["clientWidth"] or now["scrollHeight"] > now["clientHeight"]


def room(now: dict) -> tuple[int, int]:
    """How far the view can scroll, across and down."""
    return now["scrollWidth"] - now["clientWidth"], now["scrollHeight"] - now["clientHeight"]


def drag(tab, dx: float, dy: float) -> None:
    """Press the mouse in the middle of the view, move it by (dx, dy) and let go."""
    view = tab.locator("#view").bounding_box()
    x, y = view["x"] + view["width"] / 2, view["y"] + view["height"] / 2
    tab.mouse.move(x, y)
    tab.mouse.down()
    tab.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    tab.mouse.move(x + dx, y + dy, steps=4)
    tab.mouse.up()


def test_the_spiral_net_is_shown_readable_and_pans_by_dragging(pages, tab, tmp_path):
    start = open_page(tab, pages["spiral"])
    for frame in ("first", "last"):
        sizes = tab.evaluate(TEXT_SIZES)
        assert min(sizes["nodes"]) >= 10 and sizes["median"] >= 10, frame  # not shrunk to fit the window
        shoot(tab, tmp_path / f"spiral-{frame}.png")
        tab.keyboard.press("End")
    assert state(tab)["frame"] == "22" and state(tab)["scale"] == pytest.approx(start["scale"], rel=1e-3)
    assert tab.evaluate(HIGHLIGHT_IN_VIEW)  # XW1, the last gate of the backward pass

    # zoom in until there is room to pan, whatever the layout (the default may fit it all)
    for _ in range(20):
        if max(room(state(tab))) >= 400:
            break
        tab.click("#zoom-in")
    before = state(tab)
    horizontal = room(before)[0] >= 400
    position, limit = (
        (before["scrollLeft"], room(before)[0]) if horizontal else (before["scrollTop"], room(before)[1])
    )
    sign = -1 if position + 300 <= limit else 1  # dragging left (or up) scrolls right (or down)
    dx, dy = (sign * 300, 0) if horizontal else (0, sign * 300)
    drag(tab, dx, dy)
    after = state(tab)
    assert after["scrollLeft"] == pytest.approx(before["scrollLeft"] - dx, abs=2)
    assert after["scrollTop"] == pytest.approx(before["scrollTop"] - dy, abs=2)
    assert after["scale"] == pytest.approx(before["scale"], rel=1e-3) and after["frame"] == "22"
    shoot(tab, tmp_path / "spiral-panned.png")

    # panned until the step's node is out of sight: stepping away and back brings it into view again
    for _ in range(10):
        if not tab.evaluate(HIGHLIGHT_IN_VIEW):
            break
        drag(tab, -dx, -dy)
    assert not tab.evaluate(HIGHLIGHT_IN_VIEW)
    tab.keyboard.press("ArrowLeft")
    tab.keyboard.press("ArrowRight")
    assert state(tab)["frame"] == "22" and tab.evaluate(HIGHLIGHT_IN_VIEW)


def test_a_graph_too_large_to_fit_readably_is_panned_rather_than_squeezed(tab, tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    leaves = [{"id": "x", "kind": "input", "value": 0.5}]
    nodes = [{"id": f"h{i}", "op": "sin", "inputs": [f"h{i - 1}" if i else "x"]} for i in range(30)]
    spec = {"format_version": 1, "name": "chain", "leaves": leaves, "nodes": nodes, "loss": "h29"}
    graph = gd.loads(json.dumps(spec), label="chain.json")
    start = open_page(tab, gd.render_steps(graph, graph.run(), tmp_path / "chain"))
    sizes = tab.evaluate(TEXT_SIZES)
    assert min(sizes["nodes"]) >= 10 and sizes["median"] >= 10
    # thirty gates in a row do not fit a 1280x800 window at that size, either way round
    wide = start["scrollWidth"] > 1.5 * start["clientWidth"]
    assert wide or start["scrollHeight"] > 1.5 * start["clientHeight"]
    drag(tab, -300 if wide else 0, 0 if wide else -300)
    now = state(tab)
    assert (now["scrollLeft"], now["scrollTop"]) == (
        pytest.approx(300 if wide else 0, abs=2),
        pytest.approx(0 if wide else 300, abs=2),
    )
    tab.keyboard.press("End")  # the last step's gate, h0, is at the far end from the loss: followed
    assert tab.evaluate(HIGHLIGHT_IN_VIEW)
    shoot(tab, tmp_path / "chain.png")


def test_user_text_in_captions_and_titles_is_shown_as_written(pages, tab):
    now = open_page(tab, pages["odd"], 2)
    assert now["caption"] == "forward 1/1: f\"q' = square(<b>x</b>&amp;) = 4"
    assert tab.title() == "t<script>alert(1)</script>{frames}: backpropagation step by step"
    assert tab.locator("#caption b").count() == 0 and tab.locator("body > script").count() == 1
    assert tab.locator("figure.frame").count() == now["frames"] == 4
    tab.keyboard.press("End")
    assert state(tab)["caption"].endswith("<b>x</b>&amp; gets 1 × 4 = 4")
