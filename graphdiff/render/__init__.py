"""Gradient diagrams: a graph drawn as the CS231n circuit, with values and gradients on its wires.

>>> import graphdiff as gd
>>> graph = gd.load("examples/cs231n_circuit.json")
>>> diagram = gd.render(graph, graph.run(), output="circuit.svg")   # a graphviz.Digraph

In Jupyter the returned ``graphviz.Digraph`` displays inline. :func:`render_steps` writes the
step-through frames and their page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import graphviz

from ..fileio import check_writable
from .diagram import Annotations, DiagramOptions, Show, build_diagram, cluster_of
from .output import FORMATS, diagram_format, render_bytes, write_diagram
from .steps import step_frames, write_steps

if TYPE_CHECKING:
    from ..api import Graph, Result

__all__ = [
    "FORMATS",
    "Annotations",
    "DiagramOptions",
    "build_diagram",
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
    direction: Literal["LR", "TB"] = "LR",
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
    says what is missing. ``output`` (``.svg``, ``.png``, ``.pdf`` or ``.dot``) also writes a file,
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
    direction: Literal["LR", "TB"] = "LR",
    precision: int = 4,
    title: str | None = None,
    clusters: bool = True,
    overwrite: bool = True,
) -> Path:
    """Write one SVG frame per forward and backward step of ``result`` into ``directory``, and an
    ``index.html`` that steps through them (buttons, slider, arrow keys; no network needed)."""
    annotations = annotations_of(graph, result, "both" if graph.checked.loss else "values")
    if annotations.notes:
        from ..errors import GraphdiffError

        raise GraphdiffError(f"cannot step through this result: {annotations.notes[0]}")
    options = DiagramOptions(
        direction=direction, precision=precision, title=title, clusters=clusters, max_nodes=None
    )
    frames = step_frames(
        graph.checked, annotations.values, annotations.grads or None, annotations.edge_grads, precision
    )
    return write_steps(graph.checked, frames, directory, options, overwrite=overwrite)


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
