"""Step-through: backpropagation as a sequence of frames, and a page that steps through them.

Frames, in order: the leaves with their values; one frame per forward step (values appearing node by
node); the seed dL/dL = 1 at the loss; one frame per backward step (each gate sending upstream x local
gradient to its inputs, with the running sum shown where a value feeds several gates). A backward caption
gives the numbers: the local gradient of each scalar edge comes from the op's own vector-Jacobian product
(never from its name), and a tensor edge says what it sent.

The page (``index.html``) holds every frame inline and needs no network: buttons, a slider and the arrow
keys move through them, ``#N`` in the URL opens frame N. The diagram fits the window, but never below a
readable text size (a large graph is panned instead); it zooms (buttons, + and -, ctrl + wheel), pans by
dragging, keeps its zoom from frame to frame and brings each step's node into view. It selects nodes only
by the SVG ids diagram.py documents (``n<i>``).
"""

from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import GraphdiffError, Problem
from ..fileio import FolderWriter, check_folder_writable, write_folder
from ..graph import CheckedGraph
from ..ops import format_shape
from .diagram import Annotations, DiagramOptions, build_diagram, choose_direction
from .labels import format_number
from .output import render_bytes

#: More frames than this would make a page nobody steps through; collapse or pick a smaller graph.
MAX_FRAMES = 600
INDEX = "index.html"
_FRAME_FILE = re.compile(r"frame-\d{3,}\.svg\Z")
#: Tensors up to this many elements (and at most 2-D) are written out in full in a caption.
_CAPTION_ELEMENTS = 9
#: A page larger than this is not taken for one graphdiff wrote before folders held a manifest.
_LEGACY_PAGE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Frame:
    """One step: its caption (plain text, escaped when the page is written) and what the diagram shows."""

    caption: str
    annotations: Annotations


def step_frames(
    graph: CheckedGraph,
    values: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray] | None,
    edge_grads: Mapping[tuple[str, int], np.ndarray] | None,
    precision: int = 4,
) -> list[Frame]:
    """The frames of one forward and (when gradients are given) one backward pass.

    A backward caption shows the chain rule with its numbers: for a scalar edge, upstream x local
    gradient = what the input gets; for a tensor edge, what was sent (its shape and norm). Where a value
    feeds several gates, each arrival shows the running sum (``Σ so far a + b = c, 2 of 3``).
    """
    nodes = [id for id in graph.order if id in graph.nodes]
    known = {id: values[id] for id in graph.order if id in graph.leaves}
    frames = [Frame(f"forward 0/{len(nodes)}: the leaves hold their values", Annotations(values=dict(known)))]
    for step, id in enumerate(nodes, 1):
        node = graph.nodes[id]
        known[id] = values[id]
        caption = (
            f"forward {step}/{len(nodes)}: {id} = {node.op}({', '.join(node.inputs)}) = "
            f"{_describe(values[id], precision)}"
        )
        frames.append(Frame(caption, Annotations(values=dict(known), highlight=id)))
    if grads is None or edge_grads is None or graph.loss is None:
        return frames

    loss = graph.loss
    backward = [
        id for id in reversed(nodes) if any((id, p) in edge_grads for p in range(len(graph.nodes[id].inputs)))
    ]
    # How many gradients each value will receive in all: the "n" of "k of n" at fan-out.
    expected: dict[str, int] = {}
    for consumer, position in edge_grads:
        source = graph.nodes[consumer].inputs[position]
        expected[source] = expected.get(source, 0) + 1
    partial: dict[str, np.ndarray] = {loss: grads[loss]}
    terms: dict[str, list[np.ndarray]] = {}
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
        # The gradient the executor sent on (the sum of what arrived here, added in its order).
        upstream = grads[id] if id in grads else partial[id]
        positions = [p for p in range(len(node.inputs)) if (id, p) in edge_grads]
        local = _local_gradients(graph, id, values, positions)
        scalar = {p for p in positions if _is_scalar_edge(upstream, values[node.inputs[p]])}
        sent = []
        for position in positions:
            source, grad = node.inputs[position], edge_grads[(id, position)]
            arrived[(id, position)] = grad
            partial[source] = grad if source not in partial else partial[source] + grad
            terms.setdefault(source, []).append(grad)
            received[source] = received.get(source, 0) + 1
            got = (
                _product(upstream, _scalar_local(local.get(position), grad, upstream), grad, precision)
                if position in scalar
                else _describe(grad, precision, gradient=True)
            )
            sent.append(f"{source} gets {got}{_fan_in(terms[source], expected[source], precision)}")
        caption = f"backward {step}/{len(backward)}: {node.op} gate {id} " + _chain_rule(
            graph, id, upstream, positions, scalar, local, precision
        )
        frames.append(
            Frame(
                caption + ": " + "; ".join(sent),
                Annotations(
                    values=values,
                    grads=dict(partial),
                    edge_grads=dict(arrived),
                    received=dict(received),
                    highlight=id,
                ),
            )
        )
    return frames


def _local_gradients(
    graph: CheckedGraph, id: str, values: Mapping[str, np.ndarray], positions: list[int]
) -> dict[int, np.ndarray]:
    """The local gradient d(id)/d(input) of each scalar input at ``positions``, from the op's own
    vector-Jacobian product with an upstream of 1 (so it shows even when the real upstream is 0).

    Only asked of a scalar output: there the product with 1 is the local gradient itself (for a tensor
    input, the row of the Jacobian). An op that cannot be asked (it raises, or returns nothing for an
    input) gives no entry, and the caption falls back to what was sent."""
    node, op = graph.nodes[id], graph.ops[id]
    out = np.asarray(values[id])
    if out.ndim != 0 or not positions:
        return {}
    needs = tuple(p in positions for p in range(len(node.inputs)))
    inputs = tuple(np.asarray(values[source]) for source in node.inputs)
    try:
        with np.errstate(all="ignore"):
            local = op.vjp(graph.attrs[id], np.ones_like(out), out, inputs, needs)
    except (GraphdiffError, ArithmeticError, ValueError):
        return {}
    return {p: np.asarray(local[p]) for p in positions if p < len(local) and local[p] is not None}


def _is_scalar_edge(upstream: np.ndarray, value: np.ndarray) -> bool:
    """Whether the gate's output and this input are both scalars: the local gradient is then one number
    (otherwise a Jacobian, which a caption does not spell out)."""
    return np.ndim(upstream) == 0 and np.ndim(value) == 0


def _scalar_local(local: np.ndarray | None, grad: np.ndarray, upstream: np.ndarray) -> float | None:
    """The local gradient of a scalar edge: the vjp's, else (an op that could not be asked) what was sent
    divided by the upstream, when that is not 0."""
    if local is not None and np.ndim(local) == 0:
        return float(local)
    if float(upstream) != 0.0:
        with np.errstate(all="ignore"):
            return float(grad) / float(upstream)
    return None


def _product(upstream: np.ndarray, local: float | None, grad: np.ndarray, precision: int) -> str:
    """``-0.1224 × 0.1683 = -0.0206``: upstream x local gradient = what a scalar input gets (just what it
    gets when the local gradient is unknown)."""
    if local is None:
        return _number(grad, precision)
    return f"{_number(upstream, precision)} × {_factor(local, precision)} = {_number(grad, precision)}"


def _chain_rule(
    graph: CheckedGraph,
    id: str,
    upstream: np.ndarray,
    positions: list[int],
    scalar: set[int],
    local: Mapping[int, np.ndarray],
    precision: int,
) -> str:
    """``multiplies its upstream gradient u by its local gradient ∂z/∂s = g`` (scalar edges), or, when
    any edge carries a tensor, ``sends its upstream gradient ... back through its local Jacobians``."""
    if scalar != set(positions):
        return f"sends its upstream gradient {_brief(upstream, precision)} back through its local Jacobians"
    node = graph.nodes[id]
    named = []
    for position in positions:
        value = local.get(position)
        if value is None:
            continue
        source = node.inputs[position]
        # mul(x, x) uses x twice: name the input each local gradient is for.
        role = f" (as {graph.ops[id].input_name(position)})" if node.inputs.count(source) > 1 else ""
        named.append(f"∂{id}/∂{source}{role} = {_number(value, precision)}")
    head = f"multiplies its upstream gradient {_number(upstream, precision)}"
    if not named:
        return head + " by its local gradient"
    return f"{head} by its local gradient{'s' if len(named) > 1 else ''} " + " and ".join(named)


def _fan_in(terms: list[np.ndarray], total: int, precision: int) -> str:
    """The running sum where a value feeds several gates: ``(Σ so far 0.2 + 0.3 = 0.5, 2 of 2)``."""
    if total < 2:
        return ""
    count = f"{len(terms)} of {total}"
    sum_so_far = np.sum(np.stack(terms), axis=0) if len(terms) > 1 else terms[0]
    if np.ndim(sum_so_far) != 0:
        if len(terms) == 1:  # a tensor's first arrival is the sum so far: saying it again only repeats it
            return f" ({count} so far)"
        return f" (Σ so far {_brief(sum_so_far, precision)}, {count})"
    if len(terms) == 1:
        return f" (Σ so far {_number(sum_so_far, precision)}, {count})"
    # Every term while they fit on a line; then what was there plus what just came.
    shown = terms if len(terms) <= 4 else [sum_so_far - terms[-1], terms[-1]]
    addition = " + ".join([_number(shown[0], precision)] + [_factor(float(t), precision) for t in shown[1:]])
    return f" (Σ so far {addition} = {_number(sum_so_far, precision)}, {count})"


def _number(x: np.ndarray | float, precision: int) -> str:
    return format_number(np.asarray(x).item(), precision)


def _factor(x: float, precision: int) -> str:
    """A number as the right operand of × or +: negatives in parentheses, so ``1 × (-4)``."""
    text = format_number(x, precision)
    return f"({text})" if text.startswith("-") else text


def _describe(array: np.ndarray, precision: int, *, gradient: bool = False) -> str:
    """A value or gradient on one caption line: a scalar's number; a tensor's shape and, when tiny, its
    numbers, else its norm (a gradient) or range (a value)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return _number(array, precision)
    shape = format_shape(array.shape)
    if array.size == 0:
        return f"{shape} empty"
    if array.size <= _CAPTION_ELEMENTS and array.ndim <= 2:
        return f"{shape} {_nested(array.tolist(), precision)}"
    if array.dtype == np.bool_:
        return f"{shape}, {int(np.count_nonzero(array))} of {array.size} true"
    with np.errstate(all="ignore"):
        if gradient:
            return f"{shape}, norm {format_number(float(np.linalg.norm(array.ravel())), precision)}"
        low, high = array.min(), array.max()
    return f"{shape}, min {format_number(low, precision)}, max {format_number(high, precision)}"


def _brief(array: np.ndarray, precision: int) -> str:
    """A gradient in a few words: a scalar's number, else a tensor's shape and norm."""
    array = np.asarray(array)
    if array.ndim == 0:
        return _number(array, precision)
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(array.ravel()))
    return f"{format_shape(array.shape)}, norm {format_number(norm, precision)}"


def _nested(items: list | float | int | bool, precision: int) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(item, precision) for item in items) + "]"
    return format_number(items, precision)


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
    if options.direction == "auto" and frames:
        # One direction for every frame, chosen for the last (it carries every label): chosen frame by
        # frame, the drawing would turn from left-to-right to top-to-bottom in the middle of the pass.
        options = replace(options, direction=choose_direction(graph, frames[-1].annotations, options))
    svgs = []
    for index, frame in enumerate(frames, 1):
        name = f"{prefix}frame-{index:03d}.svg"
        svg = render_bytes(build_diagram(graph, frame.annotations, options), "svg", file=out.final(name))
        out.write(name, svg)
        svgs.append(svg.decode("utf-8"))
    title = options.title if options.title is not None else graph.name
    captions = [frame.caption for frame in frames]
    out.write(prefix + INDEX, _page(title, captions, svgs, _svg_ids(graph, frames)))


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


def _page(title: str, captions: list[str], svgs: list[str], highlights: list[str | None]) -> str:
    """The page: every frame's SVG inline in a ``figure`` holding its caption (escaped) and the SVG id of
    its highlighted node, which the page keeps in view when the diagram is larger than the window."""
    figures = []
    for i, (caption, svg, highlight) in enumerate(zip(captions, svgs, highlights, strict=True)):
        attributes = f' data-caption="{html.escape(caption, quote=True)}"'
        if highlight is not None:
            attributes += f' data-highlight="{html.escape(highlight, quote=True)}"'
        hidden = "" if i == 0 else " hidden"
        figures.append(f'<figure class="frame"{attributes}{hidden}>{_inline(svg)}</figure>')
    frames = "\n".join(figures)
    fields = {"title": html.escape(title), "count": str(len(svgs)), "frames": frames}
    # One pass, so a title holding "{frames}" is printed as written, not filled in.
    return re.sub(r"\{(title|count|frames)\}", lambda match: fields[match[1]], _TEMPLATE)


def _svg_ids(graph: CheckedGraph, frames: list[Frame]) -> list[str | None]:
    """The SVG id of each frame's highlighted node: ``n<i>`` for ``graph.order[i]`` (diagram.py)."""
    index = {id: i for i, id in enumerate(graph.order)}
    return [
        None if frame.annotations.highlight not in index else f"n{index[frame.annotations.highlight]}"
        for frame in frames
    ]


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
  body {
    font-family: Helvetica, Arial, sans-serif; color: #212121; margin: 0; padding: 1em 1em .5em;
    box-sizing: border-box; height: 100vh; display: flex; flex-direction: column;
  }
  [hidden] { display: none !important; }
  h1 { font-size: 1.3em; margin: 0 0 .4em; overflow-wrap: anywhere; }
  .bar { display: flex; gap: .4em; align-items: center; flex-wrap: wrap; margin-bottom: .4em; }
  button { font-size: 1em; padding: .3em .8em; }
  .zoom button { padding: .3em .6em; min-width: 2.2em; }
  #caption {
    font-size: 1.05em; line-height: 1.35; min-height: 2.7em; margin: .3em 0 .5em; overflow-wrap: anywhere;
  }
  #counter, #zoom { font-variant-numeric: tabular-nums; min-width: 4.5em; }
  input[type=range] { flex: 1; min-width: 10em; }
  #view {
    flex: 1 1 auto; min-height: 12em; overflow: auto; border: 1px solid #e0e0e0; border-radius: 4px;
    cursor: grab; user-select: none; -webkit-user-select: none; touch-action: none; background: #fff;
  }
  #view.dragging { cursor: grabbing; }
  figure.frame { margin: 0 auto; width: max-content; }
  figure.frame svg { display: block; }
  .hint { color: #757575; font-size: .85em; margin-top: .4em; }
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
  <span class="zoom" role="group" aria-label="zoom">
    <button id="zoom-out" title="zoom out (-)" aria-label="zoom out">&#x2212;</button>
    <button id="zoom-reset" title="fit the window, or a readable size if too large (0)">reset</button>
    <button id="zoom-in" title="zoom in (+)" aria-label="zoom in">+</button>
  </span>
  <span id="zoom" title="100% is the diagram's own size"></span>
</div>
<div id="caption" aria-live="polite"></div>
<div id="view">
{frames}
</div>
<div class="hint">Keys: &#x2190; &#x2192; step, Home / End jump, space plays, + / &#x2212; zoom, 0 resets.
Ctrl + wheel zooms, drag pans. Green: values flowing forward. Red: gradients flowing back.</div>
<script>
(function () {
  "use strict";
  // The diagram is shown at one scale for every frame (CSS px per SVG unit), so stepping keeps the zoom.
  // By default it fits the window, but never below a readable size: text would otherwise shrink to a
  // few pixels on a large graph, which is then panned instead.
  var READABLE_PX = 10, FIT_MAX = 2, STEP = 1.25, MIN_SCALE = 0.05, MAX_SCALE = 12;
  var frames = Array.prototype.slice.call(document.querySelectorAll("figure.frame"));
  var svgs = frames.map(function (frame) { return frame.querySelector("svg"); });
  var current = 0, timer = null, scale = 1, chosen = false, drag = null;
  var caption = document.getElementById("caption"), counter = document.getElementById("counter");
  var slider = document.getElementById("slider"), play = document.getElementById("play");
  var view = document.getElementById("view"), zoomLabel = document.getElementById("zoom");

  function sizeOf(svg) {
    var box = svg && svg.viewBox && svg.viewBox.baseVal;
    if (box && box.width > 0 && box.height > 0) { return { width: box.width, height: box.height }; }
    // Without a viewBox a resized SVG would crop rather than scale: give it one of its drawn size.
    var rect = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    var size = { width: rect.width || 1, height: rect.height || 1 };
    if (svg) { svg.setAttribute("viewBox", "0 0 " + size.width + " " + size.height); }
    return size;
  }
  var sizes = svgs.map(sizeOf);
  var largest = { width: 1, height: 1 }, densest = 0;
  sizes.forEach(function (size, i) {
    largest.width = Math.max(largest.width, size.width);
    largest.height = Math.max(largest.height, size.height);
    if (size.width * size.height > sizes[densest].width * sizes[densest].height) { densest = i; }
  });
  // The diagram's own size, as the browser draws the SVG before any zoom (Graphviz writes points).
  var natural = svgs[0] ? svgs[0].getBoundingClientRect().width / sizes[0].width || 4 / 3 : 4 / 3;
  // The typical text size in SVG units: the median over the fullest frame's text (the title and the
  // legend are a few items among many and do not move it).
  var textSize = (function () {
    var texts = svgs[densest] ? svgs[densest].querySelectorAll("text") : [];
    var found = Array.prototype.map.call(texts, function (text) {
      return parseFloat(text.getAttribute("font-size") || getComputedStyle(text).fontSize);
    }).filter(function (size) { return size > 0; }).sort(function (a, b) { return a - b; });
    return found.length ? found[Math.floor(found.length / 2)] : 10;
  })();

  function defaultScale() {
    var fit = Math.min((view.clientWidth - 2) / largest.width, (view.clientHeight - 2) / largest.height);
    return Math.max(Math.min(fit, FIT_MAX), READABLE_PX / textSize);
  }
  // Set the scale, keeping the diagram point under (x, y) (client coordinates; default: the middle of
  // the view) where it is.
  function zoomTo(next, x, y) {
    var rect = view.getBoundingClientRect();
    if (x === undefined) { x = rect.left + view.clientWidth / 2; y = rect.top + view.clientHeight / 2; }
    var svg = svgs[current], before = svg.getBoundingClientRect();
    var u = (x - before.left) / scale, v = (y - before.top) / scale;
    scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, next));
    // Rounded up to the 1/64 px layout grid: rounding down would draw a hair below the scale.
    svgs.forEach(function (each, i) {
      each.style.width = Math.ceil(sizes[i].width * scale * 64) / 64 + "px";
      each.style.height = Math.ceil(sizes[i].height * scale * 64) / 64 + "px";
    });
    var after = svg.getBoundingClientRect();
    view.scrollLeft += after.left + u * scale - x;
    view.scrollTop += after.top + v * scale - y;
    zoomLabel.textContent = Math.round((scale / natural) * 100) + "%";
    view.setAttribute("data-scale", scale.toFixed(4));
  }
  function zoomBy(factor, x, y) { chosen = true; zoomTo(scale * factor, x, y); }
  function fit() {
    chosen = false;
    zoomTo(defaultScale());
    view.scrollLeft = 0;
    view.scrollTop = 0;
    follow();
  }
  // Bring the current step's node into view when it is outside (a large graph, or zoomed in).
  function follow() {
    var id = frames[current].getAttribute("data-highlight");
    var node = id ? frames[current].querySelector('[id="' + id + '"]') : null;
    if (!node) { return; }
    var box = node.getBoundingClientRect(), rect = view.getBoundingClientRect();
    var width = view.clientWidth, height = view.clientHeight, margin = 16;
    if (box.left < rect.left + margin || box.right > rect.left + width - margin) {
      view.scrollLeft += (box.left + box.right) / 2 - (rect.left + width / 2);
    }
    if (box.top < rect.top + margin || box.bottom > rect.top + height - margin) {
      view.scrollTop += (box.top + box.bottom) / 2 - (rect.top + height / 2);
    }
  }

  function show(index) {
    current = Math.max(0, Math.min(frames.length - 1, index));
    frames.forEach(function (frame, i) { frame.hidden = i !== current; });
    caption.textContent = frames[current].getAttribute("data-caption");
    counter.textContent = (current + 1) + " / " + frames.length;
    slider.value = current + 1;
    document.body.setAttribute("data-frame", String(current + 1));
    if (location.hash !== "#" + (current + 1)) { history.replaceState(null, "", "#" + (current + 1)); }
    follow();
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
  document.getElementById("zoom-in").onclick = function () { zoomBy(STEP); };
  document.getElementById("zoom-out").onclick = function () { zoomBy(1 / STEP); };
  document.getElementById("zoom-reset").onclick = fit;
  play.onclick = toggle;
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10) - 1); };
  document.addEventListener("keydown", function (event) {
    var moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    var zooms = { "+": STEP, "=": STEP, "-": 1 / STEP, "_": 1 / STEP };
    var plain = !event.ctrlKey && !event.metaKey && !event.altKey;  // ctrl + / - stay the browser's zoom
    if (event.key in moves) { stop(); show(current + moves[event.key]); }
    else if (event.key === "Home") { stop(); show(0); }
    else if (event.key === "End") { stop(); show(frames.length - 1); }
    else if (event.key === " ") { toggle(); }
    else if (plain && event.key in zooms) { zoomBy(zooms[event.key]); }
    else if (plain && event.key === "0") { fit(); }
    else { return; }
    event.preventDefault();
  });
  view.addEventListener("wheel", function (event) {
    if (!event.ctrlKey && !event.metaKey) { return; }  // a plain wheel scrolls
    event.preventDefault();
    var pixels = event.deltaY * (event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1);
    zoomBy(Math.exp(-Math.max(-200, Math.min(200, pixels)) / 300), event.clientX, event.clientY);
  }, { passive: false });
  view.addEventListener("pointerdown", function (event) {
    var rect = view.getBoundingClientRect();
    var onScrollbar = event.clientX >= rect.left + view.clientLeft + view.clientWidth ||
      event.clientY >= rect.top + view.clientTop + view.clientHeight;
    if (event.button !== 0 || onScrollbar) { return; }
    drag = { x: event.clientX, y: event.clientY, left: view.scrollLeft, top: view.scrollTop };
    view.setPointerCapture(event.pointerId);
    view.classList.add("dragging");
    event.preventDefault();
  });
  view.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    view.scrollLeft = drag.left - (event.clientX - drag.x);
    view.scrollTop = drag.top - (event.clientY - drag.y);
  });
  function release() { drag = null; view.classList.remove("dragging"); }
  view.addEventListener("pointerup", release);
  view.addEventListener("pointercancel", release);
  // A new window size refits, unless the reader chose a zoom.
  window.addEventListener("resize", function () { if (!chosen) { zoomTo(defaultScale()); } });

  var start = parseInt(location.hash.slice(1), 10);
  zoomTo(defaultScale());
  show(isNaN(start) ? 0 : start - 1);
})();
</script>
</body>
</html>
"""
