"""Writing diagrams to files: .dot always works; .svg, .png and .pdf need Graphviz's ``dot`` program.

The image is made in memory and written atomically, so a failure (no ``dot``, a layout error) leaves no
partial file behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import graphviz

from ..errors import GraphdiffError, Problem
from ..fileio import check_writable, write_atomic
from .labels import FONT, FONT_STACK

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


def render_bytes(diagram: graphviz.Digraph, fmt: str, *, file: str | os.PathLike[str] | None = None) -> bytes:
    """The diagram in ``fmt`` (``dot`` source, or an image laid out by Graphviz). ``file``, the file the
    image is for, is named when ``dot`` is missing or fails (with ``dot``'s own first error line)."""
    if fmt == "dot":
        return diagram.source.encode("utf-8")
    label = None if file is None else str(file)
    if shutil.which("dot") is None:
        raise GraphdiffError(Problem(label, None, INSTALL_HINT.format(fmt=f".{fmt}")))
    source = diagram.copy()
    if fmt == "png":
        source.attr(dpi="144")
    try:
        image = source.pipe(format=fmt, quiet=True)  # dot's own messages would repeat ours
    except graphviz.ExecutableNotFound:
        raise GraphdiffError(Problem(label, None, INSTALL_HINT.format(fmt=f".{fmt}"))) from None
    except graphviz.CalledProcessError as exc:
        if exc.returncode == -signal.SIGINT:  # Ctrl-C reached dot too: it is the user's interrupt
            raise KeyboardInterrupt from None
        raise GraphdiffError(Problem(label, None, f"Graphviz's dot failed: {_dot_error(exc)}")) from None
    except (subprocess.SubprocessError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise GraphdiffError(Problem(label, None, f"cannot run Graphviz's dot: {reason}")) from None
    return _with_font_stack(image) if fmt == "svg" else image


def _with_font_stack(svg: bytes) -> bytes:
    """Graphviz writes the one font it measured with; a viewer without it should fall back to a font no
    wider (see labels.FONT), not to its default serif."""
    family = f'font-family="{FONT}"'.encode()
    return svg.replace(family, f'font-family="{FONT_STACK}"'.encode())


def _dot_error(exc: subprocess.CalledProcessError) -> str:
    """``dot``'s first error line (its first line, if none says "Error"), as one printable line; else how it
    ended."""
    stderr = exc.stderr or b""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else str(stderr)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    line = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
    if line:
        return line.translate(_CONTROL)[:300]
    if exc.returncode < 0:
        return f"killed by signal {-exc.returncode}"
    return f"exit status {exc.returncode}"


#: Characters a one-line message may not carry (dot echoes parts of its input).
_CONTROL = {code: " " for code in [*range(0x20), *range(0x7F, 0xA0)]}


def write_diagram(diagram: graphviz.Digraph, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write ``diagram`` to ``path`` (format from the suffix), atomically; an existing file is replaced
    only if ``overwrite``."""
    fmt = diagram_format(path)
    check_writable(path, overwrite=overwrite)
    return write_atomic(path, render_bytes(diagram, fmt, file=path), overwrite=overwrite)
