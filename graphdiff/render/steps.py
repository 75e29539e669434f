"""Step-through: backpropagation as a sequence of frames, and a page that steps through them.

Frames, in order: the leaves with their values; one frame per forward step (values appearing node by
node); the seed dL/dL = 1 at the loss; one frame per backward step (each gate sending upstream x local
gradient to its inputs, with the running sum shown where a value feeds several gates). The page
(``index.html``) holds every frame inline and needs no network: buttons, a slider and the arrow keys
move through them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GraphdiffError
from ..fileio import check_writable, write_atomic
from ..graph import CheckedGraph
from .diagram import Annotations, DiagramOptions, build_diagram
from .labels import summarize
from .output import render_bytes

#: More frames than this would make a page nobody steps through; collapse or pick a smaller graph.
MAX_FRAMES = 600
_FRAME_FILE = re.compile(r"frame-\d{3,}\.svg\Z")


@dataclass(frozen=True)
class Frame:
    caption: str
    annotations: Annotations


def step_frames(
    graph: CheckedGraph,
    values: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray] | None,
    edge_grads: Mapping[tuple[str, int], np.ndarray] | None,
    precision: int = 4,
) -> list[Frame]:
    """The frames of one forward and (when gradients are given) one backward pass."""

    def show(array: np.ndarray) -> str:
        lines = summarize(array, precision)
        return lines[0] if len(lines) == 1 else lines[0]

    nodes = [id for id in graph.order if id in graph.nodes]
    known = {id: values[id] for id in graph.order if id in graph.leaves}
    frames = [Frame(f"forward 0/{len(nodes)}: the leaves hold their values", Annotations(values=dict(known)))]
    for step, id in enumerate(nodes, 1):
        node = graph.nodes[id]
        known[id] = values[id]
        caption = (
            f"forward {step}/{len(nodes)}: {id} = {node.op}({', '.join(node.inputs)}) = {show(values[id])}"
        )
        frames.append(Frame(caption, Annotations(values=dict(known), highlight=id)))
    if grads is None or edge_grads is None or graph.loss is None:
        return frames

    loss = graph.loss
    backward = [
        id for id in reversed(nodes) if any((id, p) in edge_grads for p in range(len(graph.nodes[id].inputs)))
    ]
    partial: dict[str, np.ndarray] = {loss: grads[loss]}
    received: dict[str, int] = {}
    arrived: dict[tuple[str, int], np.ndarray] = {}
    frames.append(
        Frame(
            f"backward 0/{len(backward)}: the gradient of the loss {loss} with respect to itself is 1",
            Annotations(values=values, grads=dict(partial), edge_grads={}, received={}, highlight=loss),
        )
    )
    for step, id in enumerate(backward, 1):
        node = graph.nodes[id]
        sent = []
        for position, source in enumerate(node.inputs):
            grad = edge_grads.get((id, position))
            if grad is None:
                continue
            arrived[(id, position)] = grad
            partial[source] = grad if source not in partial else partial[source] + grad
            received[source] = received.get(source, 0) + 1
            note = f" (Σ so far {show(partial[source])})" if received[source] > 1 else ""
            sent.append(f"{source} gets {show(grad)}{note}")
        caption = (
            f"backward {step}/{len(backward)}: {node.op} gate {id} multiplies its upstream gradient "
            f"{show(partial[id])} by its local gradients: " + "; ".join(sent)
        )
        annotations = Annotations(
            values=values,
            grads=dict(partial),
            edge_grads=dict(arrived),
            received=dict(received),
            highlight=id,
        )
        frames.append(Frame(caption, annotations))
    return frames


def write_steps(
    graph: CheckedGraph,
    frames: list[Frame],
    directory: str | Path,
    options: DiagramOptions,
    *,
    overwrite: bool = True,
) -> Path:
    """Render every frame to SVG in ``directory`` and write ``index.html`` there; returns its path.
    A folder that already holds a step-through page is written over only if ``overwrite``."""
    if len(frames) > MAX_FRAMES:
        raise GraphdiffError(
            f"{len(frames)} frames are too many to step through (the limit is {MAX_FRAMES}); "
            "render a smaller graph"
        )
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GraphdiffError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    check_writable(folder / "index.html", overwrite=overwrite)
    svgs = [
        render_bytes(build_diagram(graph, frame.annotations, options), "svg").decode("utf-8")
        for frame in frames
    ]
    for old in folder.iterdir():  # frames of an earlier, longer run would otherwise linger
        if _FRAME_FILE.match(old.name) and old.is_file():
            old.unlink()
    for index, svg in enumerate(svgs, 1):
        write_atomic(folder / f"frame-{index:03d}.svg", svg)
    title = options.title if options.title is not None else graph.name
    return write_atomic(folder / "index.html", _page(title, [f.caption for f in frames], svgs))


def _page(title: str, captions: list[str], svgs: list[str]) -> str:
    frames = "\n".join(
        f'<figure class="frame" data-caption="{html.escape(caption, quote=True)}"'
        f"{'' if i == 0 else ' hidden'}>{_inline(svg)}</figure>"
        for i, (caption, svg) in enumerate(zip(captions, svgs, strict=True))
    )
    return (
        _TEMPLATE.replace("{title}", html.escape(title))
        .replace("{count}", str(len(svgs)))
        .replace("{frames}", frames)
    )


def _inline(svg: str) -> str:
    """The <svg> element alone (no XML declaration or doctype), to sit inside the HTML page."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: backpropagation step by step</title>
<style>
  body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #212121; }
  h1 { font-size: 1.3em; margin: 0 0 .4em; }
  .bar { display: flex; gap: .4em; align-items: center; flex-wrap: wrap; margin-bottom: .6em; }
  button { font-size: 1em; padding: .3em .8em; }
  #caption { font-size: 1.05em; min-height: 2.6em; margin: .4em 0; }
  #counter { font-variant-numeric: tabular-nums; min-width: 5em; }
  input[type=range] { flex: 1; min-width: 10em; }
  figure { margin: 0; overflow: auto; }
  figure svg { width: 100%; max-width: 1200px; height: auto; }
  .hint { color: #757575; font-size: .85em; }
</style>
</head>
<body>
<h1>{title}: backpropagation step by step</h1>
<div class="bar">
  <button id="first" title="first frame (Home)">&#x00AB; first</button>
  <button id="prev" title="previous frame (&#x2190;)">&#x25C0; back</button>
  <button id="play" title="play or pause (space)">play</button>
  <button id="next" title="next frame (&#x2192;)">next &#x25B6;</button>
  <button id="last" title="last frame (End)">last &#x00BB;</button>
  <input id="slider" type="range" min="1" max="{count}" value="1" aria-label="frame">
  <span id="counter"></span>
</div>
<div id="caption" aria-live="polite"></div>
<div class="hint">Keys: &#x2190; &#x2192; step, Home / End jump, space plays. Green: values flowing forward.
Red: gradients flowing back.</div>
{frames}
<script>
(function () {
  "use strict";
  var frames = Array.prototype.slice.call(document.querySelectorAll("figure.frame"));
  var current = 0, timer = null;
  var caption = document.getElementById("caption"), counter = document.getElementById("counter");
  var slider = document.getElementById("slider"), play = document.getElementById("play");
  function show(index) {
    current = Math.max(0, Math.min(frames.length - 1, index));
    frames.forEach(function (frame, i) { frame.hidden = i !== current; });
    caption.textContent = frames[current].getAttribute("data-caption");
    counter.textContent = (current + 1) + " / " + frames.length;
    slider.value = current + 1;
    document.body.setAttribute("data-frame", String(current + 1));
    if (location.hash !== "#" + (current + 1)) { history.replaceState(null, "", "#" + (current + 1)); }
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; play.textContent = "play"; } }
  function toggle() {
    if (timer) { stop(); return; }
    if (current === frames.length - 1) { show(0); }
    play.textContent = "pause";
    timer = setInterval(function () {
      if (current >= frames.length - 1) { stop(); } else { show(current + 1); }
    }, 1200);
  }
  document.getElementById("first").onclick = function () { stop(); show(0); };
  document.getElementById("prev").onclick = function () { stop(); show(current - 1); };
  document.getElementById("next").onclick = function () { stop(); show(current + 1); };
  document.getElementById("last").onclick = function () { stop(); show(frames.length - 1); };
  play.onclick = toggle;
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10) - 1); };
  document.addEventListener("keydown", function (event) {
    var moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) { stop(); show(current + moves[event.key]); }
    else if (event.key === "Home") { stop(); show(0); }
    else if (event.key === "End") { stop(); show(frames.length - 1); }
    else if (event.key === " ") { toggle(); }
    else { return; }
    event.preventDefault();
  });
  var start = parseInt(location.hash.slice(1), 10);
  show(isNaN(start) ? 0 : start - 1);
})();
</script>
</body>
</html>
"""
