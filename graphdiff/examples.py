"""Graphs built with the Python API for ``graphdiff demo`` (the same graphs ship as files in examples/)."""

from __future__ import annotations

from .api import Graph


def cs231n_circuit() -> Graph:
    """The CS231n circuit f = (x + y) z at x = -2, y = 5, z = -4: f = -12, df/dx = df/dy = -4, df/dz = 3."""
    graph = Graph(
        "cs231n_circuit",
        "f = (x + y) z at x = -2, y = 5, z = -4 (CS231n's first backpropagation example): "
        "q = x + y = 3, f = q z = -12; df/dx = df/dy = z = -4, df/dz = q = 3",
    )
    x = graph.input("x", value=-2.0)
    y = graph.input("y", value=5.0)
    z = graph.input("z", value=-4.0)
    q = (x + y).named("q")
    f = (q * z).named("f")
    graph.add_output(f)
    graph.set_loss(f)
    return graph
