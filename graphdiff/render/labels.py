"""Text on diagrams: numbers, tensor summaries, and escaping of user text.

Every string that came from a spec file (ids, descriptions, titles) goes through :func:`escape` before it
is put in a graphviz HTML-like label, so a name such as ``<b>`` or ``a:b`` is drawn as written.
"""

from __future__ import annotations

import html

import graphviz
import numpy as np

from ..ops import format_shape

VALUE_COLOR = "#2e7d32"  # forward values: green, above the wire (as in the CS231n slides)
GRAD_COLOR = "#c62828"  # gradients: red, below the wire
MUTED_COLOR = "#9e9e9e"
#: The diagrams' font. Graphviz sizes every box and label with this font's metrics, so it is the widest of
#: the common sans fonts: where a viewer lacks it, the SVG's fallbacks (FONT_STACK) draw narrower text,
#: which still fits, where measuring with Helvetica would clip text drawn in a wider font.
FONT = "DejaVu Sans"
FONT_STACK = "'DejaVu Sans', Verdana, 'Bitstream Vera Sans', Geneva, sans-serif"
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
    """Lines describing a value or gradient in full detail (tooltips, panels): a number for a scalar, the
    full matrix when small, else the shape and dtype with min/mean/max (and the norm, for a gradient).
    Round-off next to the tensor's scale (a mean of -6e-19 among entries of 0.5) prints as 0."""
    array = np.asarray(array)
    if array.ndim == 0:
        return [format_number(array.item(), precision)]
    head = f"{format_shape(array.shape)} {array.dtype}"
    if array.size <= FULL_ELEMENTS and array.ndim <= 2:
        rows = denoised(array).reshape(1, -1) if array.ndim == 1 else denoised(array)
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
        low, mean, high = _snap([np.min(array), np.mean(array), np.max(array)], _scale(array))
        stats = (
            f"min {format_number(low, precision)}  mean {format_number(mean, precision)}"
            f"  max {format_number(high, precision)}"
        )
        lines = [head, stats]
        if gradient:
            lines.append(f"norm {format_number(np.linalg.norm(array.ravel()), precision)}")
    return lines


#: A number smaller than this share of its tensor's largest entry is round-off, not data: float64 sums of
#: n terms err by about n x 1e-16 of their scale, so 1e-12 leaves room for 10,000-term sums.
ROUND_OFF = 1e-12
#: Significant digits of each entry of a small tensor drawn in full on a wire (a scalar gets ``precision``).
ENTRY_DIGITS = 3


def _scale(array: np.ndarray) -> float:
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def _snap(numbers: list[float], scale: float) -> list[float]:
    return [0.0 if np.isfinite(x) and abs(x) <= ROUND_OFF * scale else float(x) for x in numbers]


def denoised(array: np.ndarray) -> np.ndarray:
    """``array`` with entries that are round-off next to its largest entry set to 0 (floats only)."""
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.size == 0:
        return array
    with np.errstate(all="ignore"):
        noise = np.isfinite(array) & (np.abs(array) <= ROUND_OFF * _scale(array))
    return np.where(noise, 0.0, array).astype(array.dtype)


def inline(array: np.ndarray, precision: int) -> str:
    """A small tensor on one line: ``[1, 2, 3]``, a column ``[1, 2, 3]ᵀ``, rows split by ``;``."""
    array = denoised(np.asarray(array))
    digits = min(precision, ENTRY_DIGITS)

    def row(values: list) -> str:
        return ", ".join(format_number(x, digits) for x in values)

    if array.ndim == 1:
        return f"[{row(array.tolist())}]"
    if array.shape[1] == 1 and array.shape[0] > 1:
        return f"[{row(array.ravel().tolist())}]ᵀ"
    return "[" + "; ".join(row(r) for r in array.tolist()) + "]"


def _kind(array: np.ndarray) -> str:
    """The shape, and the dtype when it is not float64 (the default every reader assumes)."""
    shape = format_shape(array.shape)
    return shape if array.dtype == np.float64 else f"{shape} {array.dtype}"


def wire_value(array: np.ndarray, precision: int) -> str:
    """The value on a wire, in one short line: a scalar; a small tensor in full; else its shape and range
    ``(300, 100) ∈ [-0.0328, 0.0368]``."""
    array = np.asarray(array)
    if array.ndim == 0:
        return format_number(array.item(), precision)
    if 0 < array.size <= FULL_ELEMENTS and array.ndim <= 2:
        return inline(array, precision)
    if array.size == 0:
        return f"{_kind(array)} empty"
    if array.dtype == np.bool_:
        return f"{_kind(array)}: {int(np.count_nonzero(array))} true"
    digits = min(precision, ENTRY_DIGITS)
    with np.errstate(all="ignore"):
        low, high = _snap([np.min(array), np.max(array)], _scale(array))
    if low == high:  # a bias at its zero start, a constant fill
        return f"{_kind(array)} all {format_number(low, digits)}"
    return f"{_kind(array)} ∈ [{format_number(low, digits)}, {format_number(high, digits)}]"


def wire_grad(array: np.ndarray, precision: int, *, with_shape: bool = False) -> str:
    """The gradient on a wire, in one short line: a scalar; a small tensor in full; else its norm
    ``‖∇‖ 0.00345`` (after the shape when no value line above gives it)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return format_number(array.item(), precision)
    if 0 < array.size <= FULL_ELEMENTS and array.ndim <= 2:
        return inline(array, precision)
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(array.ravel())) if array.size else 0.0
    text = f"‖∇‖ {format_number(norm, min(precision, ENTRY_DIGITS))}"
    return f"{_kind(array)} {text}" if with_shape else text


def colored(lines: list[str], color: str) -> str:
    """Lines as HTML-like label text in one colour (the lines are numbers and shapes, escaped anyway)."""
    return "<BR/>".join(f'<FONT COLOR="{color}">{escape(line)}</FONT>' for line in lines)


#: A tooltip prints a tensor's entries up to this many, else its summary and its first TOOLTIP_HEAD entries.
TOOLTIP_ELEMENTS = 64
TOOLTIP_HEAD = 8


def tooltip(title: str, value: np.ndarray | None, grad: np.ndarray | None, precision: int) -> str:
    """Hover text with the full value and gradient (a large tensor: its summary and first entries), as a DOT
    string that is never read as HTML, with user text escaped for DOT's escString (backslashes doubled, so
    ``\\N`` stays text) and lines split by DOT's ``\\n``."""
    lines = [title]
    for name, array in (("value", value), ("gradient", grad)):
        if array is None:
            continue
        array = np.asarray(array)
        if array.ndim == 0:
            lines.append(f"{name} {format_number(array.item(), precision)}")
            continue
        lines.append(f"{name} {format_shape(array.shape)} {array.dtype}")
        if 0 < array.size <= TOOLTIP_ELEMENTS:
            with np.printoptions(precision=precision, linewidth=72):
                lines += np.array2string(denoised(array), separator=", ").splitlines()
        elif array.size:
            # numpy's summarised printing costs a millisecond a tensor, and a diagram has a tooltip on every
            # wire: the statistics and the first entries in order say as much, far faster.
            lines += summarize(array, precision, gradient=name == "gradient")[1:]
            head = denoised(array.ravel()[:TOOLTIP_HEAD])
            lines.append("first: " + ", ".join(format_number(x, precision) for x in head.tolist()) + ", …")
    text = "\\n".join(line.translate(_CONTROL).replace("\\", "\\\\") for line in lines)
    return graphviz.nohtml(text)
