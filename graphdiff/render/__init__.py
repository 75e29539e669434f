"""Gradient diagrams: a graph drawn as the CS231n circuit, with values and gradients on its wires.

>>> import graphdiff as gd
>>> graph = gd.load("examples/cs231n_circuit.json")
>>> diagram = gd.render(graph, graph.run(), output="circuit.svg")   # a graphviz.Digraph

In Jupyter the returned ``graphviz.Digraph`` displays inline. :func:`render_steps` writes the
step-through frames and their page.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import graphviz

from ..errors import GraphdiffError, Problem
from ..fileio import FolderWriter, check_folder_writable, check_writable, write_folder
from .diagram import Annotations, DiagramOptions, Show, build_diagram, choose_direction, cluster_of
from .output import FORMATS, diagram_format, render_bytes, write_diagram
from .steps import (
    Frame,
    check_steps_folder,
    is_legacy_steps_folder,
    step_frames,
    write_steps,
    write_steps_into,
)

if TYPE_CHECKING:
    from ..api import Graph, Result
    from ..graph import CheckedGraph

__all__ = [
    "FORMATS",
    "Annotations",
    "DiagramOptions",
    "build_diagram",
    "check_steps_folder",
    "choose_direction",
    "cluster_of",
    "diagram_format",
    "render",
    "render_bytes",
    "render_steps",
    "write_diagram",
]


def render(
    graph: Graph,
    result: Result | None = None,
    *,
    show: Show = "both",
    direction: Literal["LR", "TB", "auto"] = "auto",
    precision: int = 4,
    title: str | None = None,
    weight_edges: bool = False,
    clusters: bool = True,
    collapse: Iterable[str] = (),
    max_nodes: int | None = 150,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = True,
) -> graphviz.Digraph:
    """Draw ``graph`` with the values and gradients of ``result`` (from ``graph.run()``).

    Without a result the graph's structure is drawn and the title says it has not run; a result from
    before backward, or from before the graph changed, is never drawn as zero gradients: the title
    says what is missing. Each wire carries one short line for its value and one for its gradient (a small
    tensor in full, else its shape and range, and the gradient's norm); hovering shows the full arrays.
    ``direction="auto"`` draws left to right when that fits a 16:9 slide, else in whichever direction
    fits one larger. ``output`` (``.svg``, ``.png``, ``.pdf`` or ``.dot``) also writes a file,
    replacing an existing one only if ``overwrite``.
    """
    options = DiagramOptions(
        show=show,
        direction=direction,
        precision=precision,
        title=title,
        weight_edges=weight_edges,
        clusters=clusters,
        collapse=tuple(collapse),
        max_nodes=max_nodes,
    )
    if output is not None:
        diagram_format(output)  # refuse a bad suffix, or a file not to be replaced, before any work
        check_writable(output, overwrite=overwrite)
    diagram = build_diagram(graph.checked, annotations_of(graph, result, show), options)
    if output is not None:
        write_diagram(diagram, output, overwrite=overwrite)
    return diagram


def render_steps(
    graph: Graph,
    result: Result,
    directory: str | os.PathLike[str],
    *,
    direction: Literal["LR", "TB", "auto"] = "auto",
    precision: int = 4,
    title: str | None = None,
    clusters: bool = True,
    overwrite: bool = True,
) -> Path:
    """Write one SVG frame per forward and backward step of ``result`` and an ``index.html`` that steps
    through them (buttons, slider, arrow keys; no network needed) as the folder ``directory``.

    The folder is written as one change: built beside ``directory``, then renamed into place, so a failure
    or Ctrl-C leaves it as it was. An existing step-through folder is replaced only if ``overwrite``; a
    folder holding anything graphdiff did not write is refused."""
    checked, frames, options = _steps_of(graph, result, directory, direction, precision, title, clusters)
    return write_steps(checked, frames, directory, options, overwrite=overwrite)


def _steps_of(
    graph: Graph,
    result: Result,
    directory: str | os.PathLike[str],
    direction: Literal["LR", "TB", "auto"] = "auto",
    precision: int = 4,
    title: str | None = None,
    clusters: bool = True,
) -> tuple[CheckedGraph, list[Frame], DiagramOptions]:
    annotations = annotations_of(graph, result, "both" if graph.checked.loss else "values")
    if annotations.notes:
        raise GraphdiffError(
            Problem(str(directory), None, f"cannot step through this result: {annotations.notes[0]}")
        )
    options = DiagramOptions(
        direction=direction, precision=precision, title=title, clusters=clusters, max_nodes=None
    )
    # One direction for every frame (chosen on the whole pass), so the picture does not flip as it steps.
    options = replace(options, direction=choose_direction(graph.checked, annotations, options))
    frames = step_frames(
        graph.checked, annotations.values, annotations.grads or None, annotations.edge_grads, precision
    )
    return graph.checked, frames, options


#: What the demo draws, by name in its folder (with Graphviz's dot; without it, only the .dot source).
DEMO_FILES = ("cs231n_circuit.svg", "cs231n_circuit.png", "steps")
DEMO_SOURCE = "cs231n_circuit.dot"


def check_demo_folder(directory: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse, before the demo runs, a folder :func:`write_demo_folder` would not write."""
    return check_folder_writable(directory, overwrite=overwrite, legacy=_is_legacy_demo_folder)


def write_demo_folder(
    graph: Graph, result: Result, directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """The demo's pictures as the folder ``directory``, written as one change: the circuit as SVG and PNG
    and its step-through page in ``steps/`` (only the .dot source when Graphviz's dot is missing)."""
    folder = Path(directory)
    with_dot = shutil.which("dot") is not None

    def build(out: FolderWriter) -> None:
        diagram = render(graph, result)
        if not with_dot:
            out.write(DEMO_SOURCE, render_bytes(diagram, "dot"))
            return
        for name in DEMO_FILES[:2]:
            out.write(name, render_bytes(diagram, diagram_format(name), file=out.final(name)))
        checked, frames, options = _steps_of(graph, result, folder / "steps")
        write_steps_into(out, "steps/", checked, frames, options)
        out.seal("steps")

    return write_folder(folder, build, overwrite=overwrite, legacy=_is_legacy_demo_folder)


def _is_legacy_demo_folder(folder: Path) -> bool:
    """A demo folder written before folders held a manifest: the .dot source alone (no Graphviz), or the
    pictures with a step-through folder graphdiff wrote, each file what graphdiff writes."""
    try:
        names = set(os.listdir(folder))
        if names == {DEMO_SOURCE}:
            return _starts_with(folder / DEMO_SOURCE, b"digraph graphdiff {")
        if "steps" not in names or not names <= set(DEMO_FILES):
            return False
        for name in names - {"steps"}:
            if not stat.S_ISREG(os.lstat(folder / name).st_mode):
                return False
        svg, png = DEMO_FILES[:2]
        if svg in names and not _starts_with(folder / svg, b"<?xml", b"<title>graphdiff</title>"):
            return False
        if png in names and not _starts_with(folder / png, b"\x89PNG\r\n\x1a\n"):
            return False
        return stat.S_ISDIR(os.lstat(folder / "steps").st_mode) and is_legacy_steps_folder(folder / "steps")
    except OSError:
        return False


def _starts_with(path: Path, start: bytes, within: bytes = b"") -> bool:
    """Whether the file starts with ``start`` and its first 4 kB hold ``within``."""
    with open(path, "rb") as file:
        head = file.read(4096)
    return head.startswith(start) and within in head


def annotations_of(graph: Graph, result: Result | None, show: Show) -> Annotations:
    """What a result lets a diagram draw, with a note for whatever is missing or stale."""
    checked = graph.checked
    wants_values = show in ("both", "values")
    wants_grads = show in ("both", "grads")
    if result is None:
        note = "not run: run the graph (graph.run()) to draw values and gradients"
        return Annotations(notes=(note,) if wants_values or wants_grads else ())
    if result.graph is not checked:
        return Annotations(
            notes=("stale result: the graph changed after it ran; values and gradients are not drawn",)
        )
    notes = []
    grads = result.grads if result.has_grads else {}
    if wants_grads and checked.loss is None:
        notes.append("the graph has no loss: there are no gradients to draw")
    elif wants_grads and not result.has_grads:
        notes.append("backward has not run: gradients are not drawn (they are not zero)")
    elif wants_grads and checked.loss is not None:
        missing = [id for id in checked.order if checked.types[id].is_float and id not in grads]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            notes.append(f"gradients were not computed for {len(missing)} values ({shown})")
    return Annotations(
        values=result.values,
        grads=grads,
        edge_grads=result.edge_grads,
        notes=tuple(notes),
    )
