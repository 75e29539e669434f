"""Writing diagrams to files: .dot always works; .svg, .png and .pdf need Graphviz's ``dot`` program.

The image is made in memory and written atomically, so a failure (no ``dot``, a layout error) leaves no
partial file behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import graphviz

from ..errors import GraphdiffError, Problem
from ..fileio import check_writable, write_atomic

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
INSTALL_HINT = (
    "Graphviz's dot program is needed for {fmt} output and was not found on PATH; install it "
    "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz) or write .dot instead"
)


def diagram_format(path: str | os.PathLike[str]) -> str:
    """The output format for ``path``, from its suffix; refuses anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GraphdiffError(Problem(str(path), None, "diagrams are written as .svg, .png, .pdf or .dot"))
    return FORMATS[suffix]


def render_bytes(diagram: graphviz.Digraph, fmt: str) -> bytes:
    """The diagram in ``fmt`` (``dot`` source, or an image laid out by Graphviz)."""
    if fmt == "dot":
        return diagram.source.encode("utf-8")
    if shutil.which("dot") is None:
        raise GraphdiffError(INSTALL_HINT.format(fmt=f".{fmt}"))
    source = diagram.copy()
    if fmt == "png":
        source.attr(dpi="144")
    try:
        return source.pipe(format=fmt, quiet=True)  # dot's own messages would repeat ours
    except graphviz.ExecutableNotFound:
        raise GraphdiffError(INSTALL_HINT.format(fmt=f".{fmt}")) from None
    except (graphviz.CalledProcessError, subprocess.SubprocessError, OSError) as exc:
        raise GraphdiffError(f"Graphviz could not lay out the diagram: {exc}") from None


def write_diagram(diagram: graphviz.Digraph, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write ``diagram`` to ``path`` (format from the suffix), atomically; an existing file is replaced
    only if ``overwrite``."""
    fmt = diagram_format(path)
    check_writable(path, overwrite=overwrite)
    return write_atomic(path, render_bytes(diagram, fmt), overwrite=overwrite)
