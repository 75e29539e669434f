"""The one exception hierarchy for everything a user of graphdiff can get wrong.

Every error carries one or more :class:`Problem` lines of the form ``file: place: message`` so the CLI can
print them as they are, and a caller can inspect them. Errors raised deep inside (an op's shape rule, an
array reader) know only the message; the layer that knows the file and the place fills them in with
:meth:`GraphdiffError.located`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Self

#: The characters no name in a spec may hold and no terminal is shown raw, as (first, last) code points:
#: C0 controls, DEL and C1 controls (ESC starts terminal escape sequences, U+009B is a one-character CSI,
#: U+0085 a line break), the bidirectional formatting characters (the Arabic letter mark, the LTR and RTL
#: marks, embeddings, overrides and isolates, which reorder what is shown), the line and paragraph
#: separators, and the invisible formatting characters (zero-width space, word joiner and invisible
#: operators, the deprecated format controls, the zero-width no-break space, interlinear annotations).
#: The zero-width (non-)joiners U+200C and U+200D stay allowed: Persian, Indic scripts and emoji need them.
UNSAFE_CHARACTERS: tuple[tuple[int, int], ...] = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
)


def _regex_char(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: The pattern of a safe name (one character at least, none of UNSAFE_CHARACTERS), written so that Python,
#: pydantic's Rust engine and JSON Schema's ECMA-262 dialect all read it alike.
SAFE_NAME_PATTERN = (
    "^[^"
    + "".join(
        _regex_char(a) if a == b else f"{_regex_char(a)}-{_regex_char(b)}" for a, b in UNSAFE_CHARACTERS
    )
    + "]+$"
)

# Lone surrogates are escaped too: they stand for the undecodable bytes of a file name (a raw 0x9B byte
# would reach the terminal as a CSI) and cannot be written to a strict UTF-8 stream at all.
_ESCAPES = {
    code: _regex_char(code)
    for first, last in (*UNSAFE_CHARACTERS, (0xD800, 0xDFFF))
    for code in range(first, last + 1)
} | {ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def printable(text: str) -> str:
    """``text`` safe to show on a terminal, on one line: every character of :data:`UNSAFE_CHARACTERS`
    (and every lone surrogate) is written as its escape, ``\\x1b``, ``\\x9b``, ``\\u202e``, ``\\n``, so a
    file name or a name inside a file can neither run a terminal escape sequence, nor reorder the text,
    nor start a fake line. (A backslash is left as it is: the result is for reading, not for parsing.)"""
    return text.translate(_ESCAPES)


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and where: ``circuit.json: nodes[1] "f": input "w" is not defined``."""

    file: str | None
    place: str | None
    message: str

    def __str__(self) -> str:
        # The parts may come from a file or its name: escaped, so the line is one line and inert.
        return printable(": ".join(part for part in (self.file, self.place, self.message) if part))


class GraphdiffError(Exception):
    """Base class of every error graphdiff raises for bad input, bad usage or a failed computation."""

    def __init__(self, *problems: Problem | str) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            p if isinstance(p, Problem) else Problem(None, None, p) for p in problems
        )
        super().__init__("\n".join(str(p) for p in self.problems))

    def located(self, file: str | None = None, place: str | None = None) -> Self:
        """A copy whose problems name ``file`` and ``place`` where they did not already."""
        problems = [replace(p, file=p.file or file, place=p.place or place) for p in self.problems]
        return type(self)(*problems)


class SpecError(GraphdiffError):
    """A spec file (or a graph built in Python) is invalid.

    Loading or checking a spec raises this with every problem found, whatever their kinds (a shape
    mismatch, a bad array file, a cycle...); catch ``SpecError`` for all of them.
    """


class FormatVersionError(SpecError):
    """A spec's format version is missing, malformed, or newer than this graphdiff reads."""


class ShapeError(SpecError):
    """Shapes or dtypes do not fit an op: raised by ops' shape rules, and by the builder at the line that
    applies the op. (In a spec file it is one of the problems of a :class:`SpecError`.)"""


class ArrayFileError(SpecError):
    """An array file is missing, unsafe, malformed or does not match: raised when reading one directly.
    (In a spec file it is one of the problems of a :class:`SpecError`; for a feed, of a FeedError.)"""


class ModelError(GraphdiffError):
    """An ONNX model is unreadable, unsafe, or uses what graphdiff cannot import (every unsupported node is
    listed, with its op type, domain and the attribute or dtype at fault); or a graph cannot be exported."""


class FeedError(GraphdiffError):
    """A value fed at run time is missing, unknown, or of the wrong shape or dtype."""


class ComputeError(GraphdiffError):
    """An op refused its values at run time (for example a class label out of range)."""


class NonFiniteError(ComputeError):
    """A value or gradient became nan or infinite (raised only when finiteness checking is on)."""


class GradientCheckError(GraphdiffError):
    """A gradient check was asked for something it cannot check (no float leaf, bad arguments)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``'did you mean "add"?'`` for the closest of ``candidates`` to a misspelt ``name``, or ``""``.

    Every candidate as close as the closest is named (``"ad"`` is as close to ``"add"`` as to ``"pad"``):
    picking one of a tie would be a guess the user cannot see through.
    """
    scored: list[tuple[float, str]] = []
    matcher = difflib.SequenceMatcher(b=name)
    for candidate in candidates:
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= _CLOSE and matcher.quick_ratio() >= _CLOSE:
            ratio = matcher.ratio()
            if ratio >= _CLOSE:
                scored.append((ratio, candidate))
    if not scored:
        return ""
    best = max(ratio for ratio, _ in scored)
    ties = sorted(candidate for ratio, candidate in scored if ratio == best)[:_MAX_GUESSES]
    return "did you mean " + " or ".join(json.dumps(c, ensure_ascii=False) for c in ties) + "?"


#: difflib.get_close_matches's default cutoff, and how many equally close names a hint may list.
_CLOSE = 0.6
_MAX_GUESSES = 3
