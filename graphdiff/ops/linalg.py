"""Linear algebra: matmul (numpy's N-D batched semantics), einsum (explicit Einstein summation) and transpose.

Both products are multilinear, so neither has a kink: the gradient is exact everywhere.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from ..errors import ShapeError
from .base import (
    Attrs,
    Dim,
    Op,
    Shape,
    TensorType,
    format_shape,
    promoted,
    register,
    require_float,
    unbroadcast,
)

# --- matmul ----------------------------------------------------------------------------------------------


def _batch_broadcast(a: Shape, b: Shape, a_shape: Shape, b_shape: Shape) -> Shape:
    """numpy broadcasting of matmul's batch dimensions (a symbol matches itself and 1 only)."""
    ndim = max(len(a), len(b))
    out: list[Dim] = []
    for i in range(ndim):
        da = a[len(a) - ndim + i] if len(a) - ndim + i >= 0 else 1
        db = b[len(b) - ndim + i] if len(b) - ndim + i >= 0 else 1
        if da != db and da != 1 and db != 1:
            raise ShapeError(
                f"matmul {format_shape(a_shape)} @ {format_shape(b_shape)}: batch dimensions "
                f"{format_shape(a)} and {format_shape(b)} do not broadcast (dimension {da} vs {db})"
            )
        out.append(db if da == 1 else da)
    return tuple(out)


@register
class Matmul(Op):
    """a @ b with numpy's rules (np.matmul): matrix products over the last two axes, batched over the rest.

    Shapes: (..., m, n) @ (..., n, p) -> (..., m, p), the leading (batch) dimensions broadcasting as numpy
    broadcasts them. A 1-D operand is promoted to a matrix (a: a row (1, n); b: a column (n, 1)) and the
    promoted axis is dropped from the result: (m, n) @ (n,) -> (m,), (n,) @ (n, p) -> (p,),
    (n,) @ (n,) -> (), (n,) @ (B, n, p) -> (B, p). A 0-d operand is refused (as numpy refuses it; use mul).

    Gradients (with 1-D operands promoted the same way): d/da = upstream @ b^T and d/db = a^T @ upstream,
    each summed over the batch dimensions its operand was broadcast along, back to its own shape.

    Kink rule: none; the product is bilinear, so the gradient is exact everywhere.
    """

    name = "matmul"
    onnx_op = "MatMul"
    family = "linear algebra"
    vjp_reads = frozenset({"inputs"})
    symbol = "@"
    input_names = ("a", "b")

    def infer(self, attrs, a: TensorType, b: TensorType) -> TensorType:
        dtype = require_float(self, [a, b])
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul {format_shape(a.shape)} @ {format_shape(b.shape)}: operands must be at least 1-D "
                "(numpy's matmul refuses a scalar; use mul to scale)"
            )
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            raise ShapeError(
                f"matmul {format_shape(a.shape)} @ {format_shape(b.shape)}: inner dimensions differ "
                f"({inner_a} vs {inner_b})"
            )
        if a.ndim <= 2 and b.ndim <= 2:
            return TensorType(a.shape[:-1] + b.shape[1:], dtype)
        batch = _batch_broadcast(a.shape[:-2], b.shape[:-2], a.shape, b.shape)
        rows = a.shape[-2:-1]  # () for a 1-D a: the promoted axis is dropped
        cols = b.shape[-1:] if b.ndim > 1 else ()
        return TensorType(batch + rows + cols, dtype)

    def forward(self, attrs, a, b):
        return np.matmul(a, b)

    def vjp(self, attrs, upstream, out, values, needs):
        a, b = values
        if a.ndim > 2 or b.ndim > 2:
            return self._batched_vjp(upstream, a, b, needs)
        a2 = a if a.ndim == 2 else a[np.newaxis, :]
        b2 = b if b.ndim == 2 else b[:, np.newaxis]
        up2 = upstream.reshape(a2.shape[0], b2.shape[1])
        # The products already have the 2-D operands' shapes; reshape only 1-D operands (no views).
        grad_a = (up2 @ b2.T if a.ndim == 2 else (up2 @ b2.T).reshape(a.shape)) if needs[0] else None
        grad_b = (a2.T @ up2 if b.ndim == 2 else (a2.T @ up2).reshape(b.shape)) if needs[1] else None
        return grad_a, grad_b

    @staticmethod
    def _batched_vjp(upstream, a, b, needs):
        """At least one operand is N-D: promote 1-D operands, multiply, sum over broadcast batch axes."""
        a_p = a if a.ndim > 1 else a[np.newaxis, :]
        b_p = b if b.ndim > 1 else b[:, np.newaxis]
        batch = upstream.shape[: upstream.ndim - (a.ndim > 1) - (b.ndim > 1)]
        up = upstream.reshape(batch + (a_p.shape[-2], b_p.shape[-1]))
        lead = list(range(len(batch)))  # the batch axes of up (and of an N-D operand with a full batch)
        grad_a = grad_b = None
        if needs[0]:
            if a_p.ndim == 2:  # one weight shared by every batch: one contraction, no batched product
                grad_a = np.tensordot(up, b_p, axes=(lead + [-1], lead + [-1]))
            else:
                grad_a = unbroadcast(np.matmul(up, np.swapaxes(b_p, -1, -2)), a_p.shape)
            grad_a = grad_a.reshape(a.shape)
        if needs[1]:
            if b_p.ndim == 2:
                grad_b = np.tensordot(a_p, up, axes=(lead + [-2], lead + [-2]))
            else:
                grad_b = unbroadcast(np.matmul(np.swapaxes(a_p, -1, -2), up), b_p.shape)
            grad_b = grad_b.reshape(b.shape)
        return grad_a, grad_b


# --- einsum ----------------------------------------------------------------------------------------------

_LETTERS = string.ascii_letters
#: Below this many terms in the loop nest (the product of every index's size) numpy's own einsum loop
#: beats finding a contraction order (np.einsum_path costs some 30 us); above it, greedy ordering and BLAS
#: contractions win by far (three 50-wide matrices: 3 ms -> 75 us).
_OPTIMIZE_MIN_TERMS = 1 << 17


class EinsumAttrs(Attrs):
    subscripts: str = Field(
        description=(
            "The explicit Einstein-summation equation, as numpy writes it: one group of index letters "
            "(a-z, A-Z) per operand, comma-separated, then '->' and the output's letters, e.g. "
            "'ij,jk->ik', 'bij,bjk->bik', 'ii->i' (a diagonal), 'ij->' (a total). Indices left out of "
            "the output are summed over; '...' stands for the dimensions no letter names, broadcast "
            "across operands ('...ij,...jk->...ik'). The implicit form (no '->') is refused."
        )
    )


@dataclass(frozen=True)
class _Equation:
    """An einsum equation with '...' written out as letters: one letter per dimension of every operand."""

    inputs: tuple[str, ...]
    output: str
    #: The letters that stand for '...' dimensions (to word errors about them).
    ellipsis: str

    @property
    def text(self) -> str:
        return ",".join(self.inputs) + "->" + self.output


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _terms(op_text: str, term: str, where: str) -> tuple[str, bool]:
    """A term's letters and whether it has '...'; refuse anything else."""
    letters = term.replace("...", "")
    has_ellipsis = len(letters) != len(term)
    if term.count("...") > 1:
        raise ShapeError(f"einsum {op_text!r}: {where} has more than one '...'")
    for c in letters:
        if c == ".":
            raise ShapeError(f"einsum {op_text!r}: {where} has a '.' that is not part of a '...'")
        if c not in _LETTERS:
            raise ShapeError(
                f"einsum {op_text!r}: {where} has the character {c!r}; indices are the letters a-z and A-Z"
            )
    return letters if not has_ellipsis else term.replace("...", "."), has_ellipsis


@functools.lru_cache(maxsize=1024)
def _equation(subscripts: str, ndims: tuple[int, ...]) -> _Equation:
    """Parse and check ``subscripts`` for operands of these ranks (raises ShapeError)."""
    text = subscripts.replace(" ", "")  # numpy ignores spaces
    if "->" not in text:
        hint = ""
        if set(text) <= set(_LETTERS + ",."):
            letters = text.replace(".", "").replace(",", "")
            once = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
            explicit = text + "->" + ("..." if "..." in text else "") + once
            hint = f", e.g. {explicit!r} (numpy's implicit output)"
        raise ShapeError(
            f"einsum {subscripts!r}: the implicit form (no '->') is not supported; write the output "
            f"indices explicitly{hint}"
        )
    if text.count("->") > 1 or text.count("-") != 1 or text.count(">") != 1:
        raise ShapeError(f"einsum {subscripts!r}: needs exactly one '->' between the operands and the output")
    lhs, rhs = text.split("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ShapeError(
            f"einsum {subscripts!r}: the subscripts name {_count(len(terms), 'operand')} but "
            f"{len(ndims)} {'were' if len(ndims) != 1 else 'was'} given"
        )
    parsed = [_terms(subscripts, t, f"operand {k}'s subscripts {t!r}") for k, t in enumerate(terms)]
    out_term, out_ellipsis = _terms(subscripts, rhs, f"the output {rhs!r}")
    covered = []
    for k, ((term, has_ellipsis), ndim) in enumerate(zip(parsed, ndims, strict=True)):
        named = len(term) - has_ellipsis
        if named > ndim or (named != ndim and not has_ellipsis):
            raise ShapeError(
                f"einsum {subscripts!r}: operand {k} is {ndim}-d but its subscripts {terms[k]!r} name "
                f"{named} dimension{'s' if named != 1 else ''}"
                + ("" if has_ellipsis else " (add '...' for dimensions left unnamed)")
            )
        covered.append(ndim - named)
    width = max((c for c, (_, e) in zip(covered, parsed, strict=True) if e), default=0)
    if width and not out_ellipsis:
        raise ShapeError(
            f"einsum {subscripts!r}: '...' stands for {width} dimension{'s' if width != 1 else ''} of the "
            "operands, but the output has no '...' to keep them (numpy refuses this too)"
        )
    used = set(text)
    spare = [c for c in _LETTERS if c not in used]
    if width > len(spare):
        raise ShapeError(f"einsum {subscripts!r}: too many dimensions (numpy's einsum has 52 index letters)")
    dots = "".join(spare[:width])
    inputs = tuple(term.replace(".", dots[width - c :]) for (term, _), c in zip(parsed, covered, strict=True))
    output = out_term.replace(".", dots)
    for c in output:
        if output.count(c) > 1:
            raise ShapeError(f"einsum {subscripts!r}: the output repeats the index {c!r}")
        if not any(c in term for term in inputs):
            raise ShapeError(f"einsum {subscripts!r}: the output index {c!r} appears in no operand")
    return _Equation(inputs, output, dots)


@dataclass(frozen=True)
class _Plan:
    """How to run one equation on concrete shapes: each index's size, the operands size-1 dimensions
    broadcast (None: as given), and whether to look for a contraction order."""

    equation: _Equation
    sizes: dict[str, int]
    broadcast: tuple[tuple[int, ...] | None, ...]
    optimize: bool


def _optimize(letters: set[str], sizes: dict[str, int], operands: int) -> bool:
    return operands >= 2 and math.prod(sizes[c] for c in letters) >= _OPTIMIZE_MIN_TERMS


@functools.lru_cache(maxsize=1024)
def _plan(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> _Plan:
    equation = _equation(subscripts, tuple(len(s) for s in shapes))
    sizes: dict[str, int] = {}
    for term, shape in zip(equation.inputs, shapes, strict=True):
        for c, d in zip(term, shape, strict=True):
            if sizes.get(c, 1) == 1:
                sizes[c] = d
    broadcast = tuple(
        None if all(sizes[c] == d for c, d in zip(term, shape, strict=True)) else tuple(map(sizes.get, term))
        for term, shape in zip(equation.inputs, shapes, strict=True)
    )
    return _Plan(equation, sizes, broadcast, _optimize(set(sizes), sizes, len(shapes)))


def _broadcast(plan: _Plan, values) -> list[np.ndarray]:
    """The operands with size-1 dimensions stretched (read-only views) to their index's size."""
    return [
        v if target is None else np.broadcast_to(v, target)
        for v, target in zip(values, plan.broadcast, strict=True)
    ]


@register
class Einsum(Op):
    """Einstein summation (np.einsum) in its explicit form: ``out[o] = sum over the other indices of
    prod_k operands[k][s_k]``, where ``s_k`` is operand k's subscripts and ``o`` the output's.

    ``"ij,jk->ik"`` is a matrix product, ``"bij,bjk->bik"`` a batched one, ``"ij->ji"`` a transpose,
    ``"ii->i"`` a diagonal, ``"ii->"`` a trace, ``"i,j->ij"`` an outer product, ``"ij,jk,kl->il"`` a chain.
    An index repeated within one operand takes its diagonal (those dimensions must have equal sizes); an
    index left out of the output is summed over; '...' (at most one per operand) stands for the
    dimensions no letter names, broadcast across operands as numpy broadcasts them (right-aligned:
    "...ij,...jk->...ik"); when it stands for any, the output must have a '...' too. As
    numpy and PyTorch do, the sizes of an index must agree across operands except that a size of 1
    broadcasts; a symbolic size ("N") agrees only with itself and 1. The implicit form (no "->") is
    refused: write the output.

    Gradient: einsum again. For operand k with subscripts ``s_k`` (distinct letters ``u_k``), d/d operand
    k = einsum(upstream and the other operands -> ``u_k``): the upstream gradient times every other
    operand, summed over the indices that are not operand k's. An index only operand k has (summed
    within it) is constant along the gradient, which broadcasts over it; an index repeated in ``s_k``
    gets the gradient on its diagonal (zeros elsewhere); a size-1 dimension that was broadcast gets the
    sum over what it was broadcast to.

    Kink rule: none; the product is multilinear, so the gradient is exact everywhere.
    """

    name = "einsum"
    family = "linear algebra"
    vjp_reads = frozenset({"inputs"})
    symbol = "Σ∏"
    input_names = ("operands",)
    variadic = True
    leading_attrs = ("subscripts",)
    Attrs = EinsumAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Einsum", *promoted(emit, inputs, types), equation=attrs.subscripts)

    def infer(self, attrs, *operands: TensorType) -> TensorType:
        dtype = require_float(self, operands)
        subscripts = attrs.subscripts
        equation = _equation(subscripts, tuple(t.ndim for t in operands))
        sizes: dict[str, Dim] = {}
        first: dict[str, int] = {}  # the operand that gave an index its size (for messages)
        for k, (term, t) in enumerate(zip(equation.inputs, operands, strict=True)):
            own: dict[str, Dim] = {}
            for c, d in zip(term, t.shape, strict=True):
                if own.setdefault(c, d) != d:
                    raise ShapeError(
                        f"einsum {subscripts!r}: operand {k} {format_shape(t.shape)} repeats the index "
                        f"{c!r} over dimensions of different sizes ({own[c]} and {d}); a diagonal needs "
                        "equal sizes"
                    )
            for c, d in own.items():
                have = sizes.get(c, 1)
                if have == 1:
                    sizes[c], first[c] = d, k
                elif d != 1 and d != have:
                    j = first[c]
                    what = "a '...' dimension" if c in equation.ellipsis else f"index {c!r}"
                    raise ShapeError(
                        f"einsum {subscripts!r}: {what} has size {have} in operand {j} "
                        f"{format_shape(operands[j].shape)} but {d} in operand {k} {format_shape(t.shape)} "
                        "(sizes must be equal, or 1 to broadcast)"
                    )
        return TensorType(tuple(sizes.get(c, 1) for c in equation.output), dtype)

    def forward(self, attrs, *values):
        plan = _plan(attrs.subscripts, tuple(v.shape for v in values))
        return np.einsum(
            plan.equation.text, *_broadcast(plan, values), optimize="greedy" if plan.optimize else False
        )

    def vjp(self, attrs, upstream, out, values, needs):
        plan = _plan(attrs.subscripts, tuple(v.shape for v in values))
        equation, sizes = plan.equation, plan.sizes
        operands = _broadcast(plan, values)
        grads: list[np.ndarray | None] = []
        for k, (term, value) in enumerate(zip(equation.inputs, values, strict=True)):
            if not needs[k]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(equation.inputs) if j != k]
            available = set(equation.output).union(*others)
            distinct = "".join(dict.fromkeys(term))
            present = "".join(c for c in distinct if c in available)
            grad = np.einsum(
                ",".join([equation.output, *others]) + "->" + present,
                upstream,
                *(v for j, v in enumerate(operands) if j != k),
                optimize="greedy" if _optimize(available, sizes, len(others) + 1) else False,
            )
            own = dict(zip(term, value.shape, strict=True))
            stretched = tuple(i for i, c in enumerate(present) if own[c] == 1 and sizes[c] != 1)
            if stretched:  # a size-1 dimension broadcast in the forward pass: sum what it fed
                grad = grad.sum(axis=stretched, keepdims=True)
            if len(present) != len(distinct):  # indices only this operand has: the gradient is constant
                grad = grad.reshape(tuple(own[c] if c in present else 1 for c in distinct))
            if len(distinct) == len(term):
                grads.append(grad if grad.shape == value.shape else np.broadcast_to(grad, value.shape))
                continue
            # A repeated index: the gradient lives on the diagonal, written through a strided view of zeros.
            full = np.zeros(value.shape, dtype=value.dtype)
            strides = tuple(
                sum(s for c2, s in zip(term, full.strides, strict=True) if c2 == c) for c in distinct
            )
            diagonal = np.lib.stride_tricks.as_strided(
                full, shape=tuple(own[c] for c in distinct), strides=strides, writeable=True
            )
            diagonal[...] = grad
            grads.append(full)
        return tuple(grads)


# --- transpose -------------------------------------------------------------------------------------------


class TransposeAttrs(Attrs):
    axes: list[int] | None = Field(
        default=None, description="A permutation of the axes; default reverses them (a matrix transpose)."
    )


@register
class Transpose(Op):
    """Permute the axes (default: reverse them). The gradient is permuted back by the inverse permutation."""

    name = "transpose"
    family = "shape"
    vjp_reads = frozenset()
    symbol = "ᵀ"
    input_names = ("x",)
    Attrs = TransposeAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        perm = (
            list(range(types[0].ndim))[::-1]
            if attrs.axes is None
            else [a % types[0].ndim for a in attrs.axes]
        )
        return emit.op("Transpose", inputs[0], perm=perm)

    def infer(self, attrs, x: TensorType) -> TensorType:
        axes = self._axes(attrs, x.ndim)
        return TensorType(tuple(x.shape[i] for i in axes), x.dtype)

    def _axes(self, attrs, ndim: int) -> tuple[int, ...]:
        if attrs.axes is None:
            return tuple(reversed(range(ndim)))
        axes = tuple(a % ndim if -ndim <= a < ndim else a for a in attrs.axes)
        if sorted(axes) != list(range(ndim)):
            raise ShapeError(f"transpose: axes {attrs.axes} are not a permutation of {ndim} axes")
        return axes

    def forward(self, attrs, x):
        return np.transpose(x, self._axes(attrs, x.ndim))

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.transpose(upstream, np.argsort(self._axes(attrs, x.ndim))),)
