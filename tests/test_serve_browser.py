"""The live viewer in real Chromium (Playwright driving the system's browser, see tests/browser.py): the
page loads, a click on a gate shows its value and gradient, an edit of a leaf (x = 1 in the CS231n circuit)
updates the numbers and gradients on the page, the step-through moves both ways, a cluster collapses and
expands, the download link gives the SVG, tensors are drawn as heat maps and images, and hostile ids stay
text. The ``page`` fixture fails a test on any console error (a CSP violation included).

Each test starts the real server (uvicorn on a free port of 127.0.0.1) in a thread.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import classifier_spec, grouped_spec, write_spec

import graphdiff as gd
from graphdiff.serve import DataRows, Session

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from graphdiff.serve.app import create_app  # noqa: E402
from graphdiff.serve.server import bind, make_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CIRCUIT = ROOT / "examples" / "cs231n_circuit.json"
#: Waits for the page (each only stops a hung test; no test asserts how long anything takes).
WAIT_MS = 30_000

#: The shared Chromium fixtures, ``browser`` and ``page`` (tests/browser.py).
pytest_plugins = ("browser",)

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


class Viewer:
    """The viewer app served by uvicorn in a thread, on a free port."""

    def __init__(self, session: Session) -> None:
        sock = bind(0)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.server = make_server(create_app(session, port=self.port))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=WAIT_MS / 1000)


@pytest.fixture
def serve() -> Iterator:
    viewers: list[Viewer] = []

    def start(graph: gd.Graph | Session, feeds: dict | None = None) -> str:
        viewer = Viewer(graph if isinstance(graph, Session) else Session(graph, feeds))
        viewers.append(viewer)
        return viewer.url

    yield start
    for viewer in viewers:
        viewer.stop()


def open_viewer(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=WAIT_MS)


def click(page, svg_id: str) -> None:
    """Click an item of the diagram and wait for the panel to show it (the panel names it by its id)."""
    page.locator(f"#canvas g#{svg_id}").first.click(timeout=WAIT_MS)
    page.wait_for_selector(f"#panel[data-selection='{svg_id}']", timeout=WAIT_MS)


def panel_text(page, selector: str) -> str:
    return page.locator(f"#panel {selector}").first.inner_text(timeout=WAIT_MS).strip()


def wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => { const e = document.querySelector(s); return e && e.textContent.trim() === t; }",
        arg=[selector, text],
        timeout=WAIT_MS,
    )


def test_a_click_on_a_leaf_shows_its_value_and_gradient(serve, page):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    assert page.title() == "cs231n_circuit · graphdiff viewer"
    assert page.locator("#loss-value").inner_text() == "-12"
    click(page, "n0")
    assert panel_text(page, "h2") == "x"
    assert panel_text(page, ".big.value") == "-2"
    assert panel_text(page, ".big.grad") == "-4"
    assert page.locator("#canvas g#n0.selected").count() == 1
    click(page, "n4")  # the loss gate f
    assert panel_text(page, "h2") == "f"
    assert (panel_text(page, ".big.value"), panel_text(page, ".big.grad")) == ("-12", "1")
    assert "f = mul(q, z)" in panel_text(page, ".formula")


def test_editing_x_recomputes_every_value_and_gradient_on_the_page(serve, page, tmp_path):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    click(page, "n0")
    page.fill("#panel .scalar-input", "1")
    page.press("#panel .scalar-input", "Enter")
    wait_for_text(page, "#loss-value", "-24")  # f = (1 + 5) * -4
    wait_for_text(page, "#panel .big.value", "1")
    assert panel_text(page, ".big.grad") == "-4"  # dx = z
    assert "-24" in page.locator("#canvas g#out0").text_content()
    click(page, "n2")  # z: its gradient is q, now 6
    assert (panel_text(page, "h2"), panel_text(page, ".big.grad")) == ("z", "6")
    click(page, "w4_0")  # the wire q -> f carries q = 6 forward and -4 back
    assert (panel_text(page, ".big.value"), panel_text(page, ".big.grad")) == ("6", "-4")
    assert "q → f" in panel_text(page, "h2")
    page.screenshot(path=str(tmp_path / "edited.png"))
    assert (tmp_path / "edited.png").read_bytes().startswith(b"\x89PNG")
    page.click("#reset")
    wait_for_text(page, "#loss-value", "-12")


def test_the_slider_of_a_scalar_drives_the_recompute(serve, page):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    click(page, "n2")  # z = -4
    page.locator("#panel .scalar-slider").fill("2")
    wait_for_text(page, "#loss-value", "6")  # f = 3 * 2
    assert page.locator("#panel .scalar-input").input_value() == "2"


def test_the_step_through_moves_forward_and_backward(serve, page):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    page.click("#steps-toggle")
    wait_for_text(page, "#step-counter", "1 / 6")
    assert page.locator("#stepbar").is_visible()
    assert page.locator("#step-caption").inner_text().startswith("forward")
    page.keyboard.press("ArrowRight")
    wait_for_text(page, "#step-counter", "2 / 6")
    page.click("#step-next")
    wait_for_text(page, "#step-counter", "3 / 6")
    page.click("#step-last")
    wait_for_text(page, "#step-counter", "6 / 6")
    assert page.locator("#step-caption").inner_text().startswith("backward")
    page.keyboard.press("ArrowLeft")
    wait_for_text(page, "#step-counter", "5 / 6")
    page.click("#step-first")
    wait_for_text(page, "#step-counter", "1 / 6")
    page.keyboard.press("Escape")
    page.wait_for_selector("#stepbar", state="hidden", timeout=WAIT_MS)


def test_a_cluster_collapses_into_a_box_and_expands(serve, page, tmp_path):
    open_viewer(page, serve(gd.load(write_spec(tmp_path, "grouped.json", grouped_spec()))))
    assert page.locator("#canvas g#c0").count() == 0
    page.click("#panel button[data-cluster='layer1']")
    page.wait_for_selector("#canvas g#c0", timeout=WAIT_MS)
    assert page.locator("#canvas g#n0").count() == 0
    click(page, "c0")
    assert panel_text(page, "h2") == "layer1"
    assert "3 nodes" in panel_text(page, ".meta")
    page.click("#panel >> text=expand this cluster")
    page.wait_for_selector("#canvas g#n0", timeout=WAIT_MS)
    assert page.locator("#canvas g#c0").count() == 0
    # An expanded cluster's frame, clicked, offers to collapse it (found by the nodes inside the frame).
    page.locator("#canvas g.cluster", has_text="layer1").locator("text").first.click(timeout=WAIT_MS)
    page.wait_for_selector("#panel[data-selection='cluster:layer1']", timeout=WAIT_MS)
    page.click("#panel >> text=collapse this cluster")
    page.wait_for_selector("#canvas g#c0", timeout=WAIT_MS)


def test_the_download_link_gives_the_diagram_as_svg(serve, page, tmp_path):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    with page.expect_download(timeout=WAIT_MS) as info:
        page.click("#download-svg")
    download = info.value
    assert download.suggested_filename == "cs231n_circuit.svg"
    target = tmp_path / "diagram.svg"
    download.save_as(str(target))
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and 'id="n0"' in text and "<svg" in text


def test_gradient_check_badges_mark_every_leaf(serve, page):
    open_viewer(page, serve(gd.load(CIRCUIT)))
    page.wait_for_function("document.querySelectorAll('#canvas .badge').length === 3", timeout=WAIT_MS)
    assert page.locator("#canvas .badge.fail").count() == 0
    assert page.locator("#canvas g#n0 .badge").text_content().startswith("✓")


def conv_spec() -> dict:
    """A tiny NCHW network: X (2, 1, 4, 4) through a 3-filter 3x3 conv, summed."""
    image = [[[[float((i + j + n) % 3) for j in range(4)] for i in range(4)]] for n in range(2)]
    kernel = [[[[0.1 * (k - 1) * (i - j) for j in range(3)] for i in range(3)]] for k in range(3)]
    return {
        "format_version": 1,
        "name": "tiny_conv",
        "leaves": [
            {"id": "X", "kind": "input", "value": image},
            {"id": "W", "kind": "parameter", "value": kernel},
        ],
        "nodes": [
            {"id": "conv", "op": "conv2d", "inputs": ["X", "W"], "attrs": {"padding": 1}},
            {"id": "L", "op": "sum", "inputs": ["conv"]},
        ],
        "loss": "L",
    }


def test_an_nchw_activation_is_drawn_as_images_and_a_matrix_as_a_heat_map(serve, page):
    url = serve(gd.loads(json.dumps(conv_spec())))
    open_viewer(page, url)
    click(page, "n2")  # conv: (2, 3, 4, 4)
    assert panel_text(page, ".meta").startswith("(2, 3, 4, 4)")
    assert page.locator("#panel .array.value .heat-grid canvas.heat").count() == 6  # 2 samples x 3 channels
    click(page, "n1")  # W: (3, 1, 3, 3) kernels, edited element by element
    assert page.locator("#panel .array.value .heat-grid canvas.heat").count() == 3
    page.locator("#panel .array.value canvas.heat").first.click(position={"x": 2, "y": 2})
    assert panel_text(page, ".element-label") == "W[0, 0, 0, 0]"
    before = page.locator("#loss-value").inner_text()
    page.fill("#panel .element-input", "1")
    page.press("#panel .element-input", "Enter")
    page.wait_for_function(
        "t => document.querySelector('#loss-value').textContent !== t", arg=before, timeout=WAIT_MS
    )
    assert page.request.get(url + "api/node/1").json()["value"]["data"][0] == 1.0

    attention = gd.load(ROOT / "examples" / "self_attention.json")
    open_viewer(page, serve(attention))
    click(page, f"n{attention.checked.order.index('A')}")  # the (4, 4) attention weights
    assert page.locator("#panel .array.value table.numbers").count() == 1
    assert page.locator("#panel .array.value canvas.heat").count() == 1


def test_data_rows_are_picked_in_the_page(serve, page):
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((6, 3)), np.array([0, 1, 1, 0, 1, 0])
    data = DataRows("toy", 6, lambda rows: {"X": features[rows], "y": labels[rows]}, initial=(0, 1))
    open_viewer(page, serve(Session(gd.loads(json.dumps(classifier_spec())), data=data)))
    assert page.locator("#rows-input").input_value() == "0:2"
    page.fill("#rows-input", "3:6")
    page.press("#rows-input", "Enter")
    wait_for_text(page, "#panel .editor .meta", "toy: 6 examples; the inputs hold rows 3:6")
    click(page, "n0")  # X now holds rows 3, 4 and 5
    assert panel_text(page, ".meta").startswith("(3, 3)")
    page.keyboard.press("Escape")
    page.click("#panel .editor button[title='the rows before']")
    wait_for_text(page, "#panel .editor .meta", "toy: 6 examples; the inputs hold rows 0:3")


EVIL = '<img src=x onerror="window.hacked=1">'


def test_hostile_ids_are_shown_as_text(serve, page):
    spec = {
        "format_version": 1,
        "name": "<script>window.hacked=1</script>",
        "leaves": [{"id": EVIL, "kind": "input", "value": 2.0}],
        "nodes": [{"id": "<script>window.hacked=2</script>", "op": "square", "inputs": [EVIL]}],
        "loss": "<script>window.hacked=2</script>",
    }
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_viewer(page, serve(gd.loads(json.dumps(spec))))
    assert page.locator("#graph-name").inner_text() == "<script>window.hacked=1</script>"
    click(page, "n0")
    assert panel_text(page, "h2") == EVIL
    click(page, "n1")
    assert panel_text(page, "h2") == "<script>window.hacked=2</script>"
    assert page.evaluate("window.hacked") is None
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert dialogs == []
