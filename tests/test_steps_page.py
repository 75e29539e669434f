"""The step-through page (index.html from ``gd.render_steps``) opens and steps in headless Chromium.

Chromium's ``--dump-dom`` prints the DOM after the page has loaded, so the page's own script has run: a
copy of the page with an extra script (keys and a button press, then the page's state written into a
<pre id="result">) shows that stepping works, a ``#5`` in the URL starts at frame 5, and a screenshot
shows the page draws. Skipped when no Chromium or Chrome is installed, or when Graphviz's dot is not.
"""

from __future__ import annotations

import html
import itertools
import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import graphdiff as gd

ROOT = Path(__file__).resolve().parent.parent
CIRCUIT = ROOT / "examples" / "cs231n_circuit.json"

BROWSER = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
)

pytestmark = [
    pytest.mark.skipif(BROWSER is None, reason="no chromium, chromium-browser or google-chrome on PATH"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Appended before </body>: step with the keys and a button, then record what the page shows.
STEPPER = """
<script>
window.addEventListener("load", function () {
  for (var i = 0; i < 3; i++) {
    var event = new KeyboardEvent("keydown", {key: "ArrowRight", bubbles: true, cancelable: true});
    document.dispatchEvent(event);
  }
  document.getElementById("prev").click();
  var figures = Array.prototype.slice.call(document.querySelectorAll("figure.frame"));
  var visible = [];
  figures.forEach(function (figure, i) { if (!figure.hidden) { visible.push(i + 1); } });
  var pre = document.createElement("pre");
  pre.id = "result";
  pre.textContent = JSON.stringify({
    frame: document.body.getAttribute("data-frame"),
    visible: visible,
    frames: figures.length,
    caption: document.getElementById("caption").textContent,
    counter: document.getElementById("counter").textContent,
    slider: document.getElementById("slider").value
  });
  document.body.appendChild(pre);
});
</script>
"""


class PageState(HTMLParser):
    """What a dumped DOM holds: the body's attributes, each frame figure's, and the #result text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.body: dict[str, str | None] = {}
        self.figures: list[dict[str, str | None]] = []
        self.result: str | None = None
        self.caption: str | None = None
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        elif tag == "figure" and "frame" in (attributes.get("class") or "").split():
            self.figures.append(attributes)
        elif tag == "pre" and attributes.get("id") == "result":
            self._in, self.result = "result", ""
        elif tag == "div" and attributes.get("id") == "caption":
            self._in, self.caption = "caption", ""

    def handle_endtag(self, tag):
        if tag in ("pre", "div"):
            self._in = None

    def handle_data(self, data):
        if self._in == "result":
            self.result = (self.result or "") + data
        elif self._in == "caption":
            self.caption = (self.caption or "") + data


@pytest.fixture(scope="module")
def steps(tmp_path_factory) -> Path:
    graph = gd.load(CIRCUIT)
    folder = tmp_path_factory.mktemp("steps")
    index = gd.render_steps(graph, graph.run(), folder / "circuit")
    assert index.name == "index.html" and index.is_file()
    return index


def captions_of(index: Path) -> list[str]:
    return [figure["data-caption"] or "" for figure in PageState(index.read_text(encoding="utf-8")).figures]


_profiles = itertools.count()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{next(_profiles)}"
    proc = subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    return proc


def test_keys_and_buttons_step_through_the_frames(steps, tmp_path):
    captions = captions_of(steps)
    assert len(captions) == 6  # 3 forward frames, 3 backward
    assert "-12" in captions[2]  # frame 3: forward 2/2, f = mul(q, z) = -12
    page = steps.read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    copy = tmp_path / "stepper.html"
    copy.write_text(page.replace("</body>", STEPPER + "</body>"), encoding="utf-8")

    proc = chromium(tmp_path, "--dump-dom", copy.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = PageState(proc.stdout)
    assert state.result is not None, proc.stdout[-2000:]
    result = json.loads(state.result)
    # three times right from frame 1 reaches frame 4; back once: frame 3 of 6
    assert result["frame"] == "3"
    assert result["visible"] == [3]
    assert result["frames"] == 6
    assert result["caption"] == captions[2]
    assert result["caption"].startswith("forward 2/2") and "f = mul(q, z) = -12" in result["caption"]
    assert result["counter"] == "3 / 6" and result["slider"] == "3"
    assert state.body.get("data-frame") == "3"
    assert state.caption == captions[2]
    hidden = ["hidden" in figure for figure in state.figures]
    assert hidden == [True, True, False, True, True, True]


def test_a_frame_number_in_the_url_opens_that_frame(steps, tmp_path):
    proc = chromium(tmp_path, "--dump-dom", steps.as_uri() + "#5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = PageState(proc.stdout)
    assert state.body.get("data-frame") == "5"
    assert len(state.figures) == 6
    assert ["hidden" in figure for figure in state.figures] == [True, True, True, True, False, True]
    caption = html.unescape(state.figures[4]["data-caption"] or "")
    assert caption.startswith("backward 1/2") and "q gets -4" in caption and "z gets 3" in caption
    assert state.caption == caption  # shown under the buttons

    # without a hash the page starts at frame 1
    proc = chromium(tmp_path, "--dump-dom", steps.as_uri())
    state = PageState(proc.stdout)
    assert state.body.get("data-frame") == "1"
    assert state.caption == html.unescape(state.figures[0]["data-caption"] or "")
    assert ["hidden" in figure for figure in state.figures] == [False, True, True, True, True, True]


def test_a_screenshot_of_the_page_is_a_picture(steps, tmp_path):
    shot = tmp_path / "page.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,800", steps.as_uri() + "#6")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000  # a drawn page, not a blank one
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1200, 800)
