"""Step-through: backpropagation as a sequence of frames, and a page that steps through them.

Frames, in order: the leaves with their values; one frame per forward step (values appearing node by
node); the seed dL/dL = 1 at the loss; one frame per backward step (each gate sending upstream x local
gradient to its inputs, with the running sum shown where a value feeds several gates). The page
(``index.html``) holds every frame inline and needs no network: buttons, a slider and the arrow keys
move through them.
"""

from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GraphdiffError, Problem
from ..fileio import FolderWriter, check_folder_writable, write_folder
from ..graph import CheckedGraph
from .diagram import Annotations, DiagramOptions, build_diagram
from .labels import summarize
from .output import render_bytes

#: More frames than this would make a page nobody steps through; collapse or pick a smaller graph.
MAX_FRAMES = 600
INDEX = "index.html"
_FRAME_FILE = re.compile(r"frame-\d{3,}\.svg\Z")
#: A page larger than this is not taken for one graphdiff wrote before folders held a manifest.
_LEGACY_PAGE_BYTES = 512 * 1024 * 1024


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


def check_steps_folder(directory: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse, before any work, a folder :func:`write_steps` would not write: a link, a file, a folder
    holding anything graphdiff did not write (even with ``overwrite``), or, without ``overwrite``, an
    existing step-through folder."""
    return check_folder_writable(
        directory, overwrite=overwrite, legacy=is_legacy_steps_folder, main_file=INDEX
    )


def write_steps(
    graph: CheckedGraph,
    frames: list[Frame],
    directory: str | os.PathLike[str],
    options: DiagramOptions,
    *,
    overwrite: bool = True,
) -> Path:
    """Render every frame to SVG and write them with ``index.html`` as the folder ``directory``; returns
    the page's path.

    The folder is written as one change (:func:`graphdiff.fileio.write_folder`): it is built beside
    ``directory`` and renamed into place, so a failure (no ``dot``, a layout error, a full disk) or Ctrl-C
    leaves ``directory`` as it was. An existing step-through folder is replaced only if ``overwrite``; a
    folder holding anything graphdiff did not write is never replaced."""
    if len(frames) > MAX_FRAMES:
        raise GraphdiffError(
            Problem(
                str(directory),
                None,
                f"{len(frames)} frames are too many to step through (the limit is {MAX_FRAMES}); "
                "render a smaller graph",
            )
        )
    folder = write_folder(
        directory,
        lambda out: write_steps_into(out, "", graph, frames, options),
        overwrite=overwrite,
        legacy=is_legacy_steps_folder,
        main_file=INDEX,
    )
    return folder / INDEX


def write_steps_into(
    out: FolderWriter, prefix: str, graph: CheckedGraph, frames: list[Frame], options: DiagramOptions
) -> None:
    """Write the frames and the page into a folder being built, under ``prefix`` ("" or "steps/")."""
    svgs = []
    for index, frame in enumerate(frames, 1):
        name = f"{prefix}frame-{index:03d}.svg"
        svg = render_bytes(build_diagram(graph, frame.annotations, options), "svg", file=out.final(name))
        out.write(name, svg)
        svgs.append(svg.decode("utf-8"))
    title = options.title if options.title is not None else graph.name
    out.write(prefix + INDEX, _page(title, [f.caption for f in frames], svgs))


def is_legacy_steps_folder(folder: Path) -> bool:
    """Whether ``folder`` is a step-through folder written before folders held a manifest: nothing but
    ``index.html`` (a graphdiff page, one figure per frame) and ``frame-001.svg`` ... ``frame-N.svg``, all
    regular files."""
    try:
        names = os.listdir(folder)
        if INDEX not in names:
            return False
        frames = sorted(name for name in names if _FRAME_FILE.match(name))
        expected = [f"frame-{i:03d}.svg" for i in range(1, len(frames) + 1)]
        if len(frames) != len(names) - 1 or frames != expected:
            return False
        if not all(stat.S_ISREG(os.lstat(folder / name).st_mode) for name in names):
            return False
        with open(folder / INDEX, "rb") as file:
            page = file.read(_LEGACY_PAGE_BYTES + 1)
    except OSError:
        return False
    return (
        len(page) <= _LEGACY_PAGE_BYTES
        and page.startswith(b"<!DOCTYPE html>")
        and b": backpropagation step by step</title>" in page
        and page.count(b'<figure class="frame"') == len(frames)
    )


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
