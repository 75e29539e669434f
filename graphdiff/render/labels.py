"""Text on diagrams: numbers, tensor summaries, and escaping of user text.

Every string that came from a spec file (ids, descriptions, titles) goes through :func:`escape` before it
is put in a graphviz HTML-like label, so a name such as ``<b>`` or ``a:b`` is drawn as written.
"""

from __future__ import annotations

import html

import numpy as np

from ..ops import format_shape

VALUE_COLOR = "#2e7d32"  # forward values: green, above the wire (as in the CS231n slides)
GRAD_COLOR = "#c62828"  # gradients: red, below the wire
MUTED_COLOR = "#9e9e9e"
#: Tensors up to this many elements (and at most 2-D) are printed in full.
FULL_ELEMENTS = 9


#: Control characters (C0, DEL and C1: newlines, NEL included) become spaces; what XML cannot hold at all
#: (lone surrogates, U+FFFE, U+FFFF), which Graphviz's HTML parser refuses, becomes U+FFFD.
_CONTROL = {code: " " for code in [*range(0x20), *range(0x7F, 0xA0)]} | {
    code: "\ufffd" for code in [*range(0xD800, 0xE000), 0xFFFE, 0xFFFF]
}


def escape(text: str) -> str:
    """User text made safe for a graphviz HTML-like label: ``<``, ``>``, ``&`` and quotes escaped,
    control characters (newlines included) turned into spaces, characters XML cannot hold replaced,
    ``]`` written as ``&#93;`` (Graphviz's HTML lexer misreads a ``]`` that opens an element's text), and
    every backslash doubled: Graphviz expands ``\\N``, ``\\G``, ``\\E`` ... even in HTML-like labels (an id
    ``\\N`` would be drawn as the internal node name), and draws ``\\\\`` as one backslash."""
    return html.escape(text.translate(_CONTROL), quote=True).replace("]", "&#93;").replace("\\", "\\\\")


def shorten(text: str, limit: int = 24) -> str:
    """Long ids drawn inside a gate would blow it up: keep the start and the end."""
    return text if len(text) <= limit else f"{text[: limit // 2 - 1]}…{text[-(limit // 2 - 1) :]}"


def format_number(x: float | int, precision: int) -> str:
    """``precision`` significant digits; nan, inf, -inf and -0 print as such."""
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    if isinstance(x, int | np.integer):
        return str(int(x))
    return f"{float(x):.{precision}g}"


def summarize(array: np.ndarray, precision: int, *, gradient: bool = False) -> list[str]:
    """Lines describing a value or gradient: a number for a scalar, the full matrix when small, else the
    shape and dtype with min/mean/max (and the norm, for a gradient)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return [format_number(array.item(), precision)]
    head = f"{format_shape(array.shape)} {array.dtype}"
    if array.size <= FULL_ELEMENTS and array.ndim <= 2:
        rows = array.reshape(1, -1) if array.ndim == 1 else array
        return [head] + [
            "[" + ", ".join(format_number(x, precision) for x in row) + "]" for row in rows.tolist()
        ]
    if array.size == 0:
        return [head, "empty"]
    if array.dtype == np.bool_:
        return [head, f"{int(np.count_nonzero(array))} of {array.size} true"]
    if not np.issubdtype(array.dtype, np.floating):
        return [head, f"min {array.min()}  max {array.max()}"]
    with np.errstate(all="ignore"):
        stats = (
            f"min {format_number(np.min(array), precision)}  mean {format_number(np.mean(array), precision)}"
            f"  max {format_number(np.max(array), precision)}"
        )
        lines = [head, stats]
        if gradient:
            lines.append(f"norm {format_number(np.linalg.norm(array.ravel()), precision)}")
    return lines


def colored(lines: list[str], color: str) -> str:
    """Lines as HTML-like label text in one colour (the lines are numbers and shapes, escaped anyway)."""
    return "<BR/>".join(f'<FONT COLOR="{color}">{escape(line)}</FONT>' for line in lines)
