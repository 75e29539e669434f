"""The linear algebra part of the op table (see tests/op_cases.py).

The references are loops over index values (itertools.product), written without np.matmul or np.einsum,
so they share nothing with the ops' code.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping
from typing import Any

import numpy as np
from op_cases import Family, OpCase, any_floats


def _pick(array: np.ndarray, index: tuple[int, ...]) -> float:
    """array[index] with numpy broadcasting: a size-1 dimension is read at 0 whatever the index."""
    return float(array[tuple(i if d != 1 else 0 for i, d in zip(index, array.shape, strict=True))])


def ref_matmul_nd(attrs: Mapping[str, Any], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul's semantics by loops: 1-D operands promoted (a row, b a column) then the promoted axis
    dropped; the leading dimensions broadcast (right-aligned, size 1 stretching)."""
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    batch_a, batch_b = a2.shape[:-2], b2.shape[:-2]
    ndim = max(len(batch_a), len(batch_b))
    pad_a = (1,) * (ndim - len(batch_a)) + batch_a
    pad_b = (1,) * (ndim - len(batch_b)) + batch_b
    batch = tuple(max(x, y) for x, y in zip(pad_a, pad_b, strict=True))
    a3, b3 = a2.reshape(pad_a + a2.shape[-2:]), b2.reshape(pad_b + b2.shape[-2:])
    (m, n), p = a2.shape[-2:], b2.shape[-1]
    out = np.zeros(batch + (m, p))
    for index in itertools.product(*(range(d) for d in batch)):
        for i, k in itertools.product(range(m), range(p)):
            out[index + (i, k)] = sum(_pick(a3, index + (i, j)) * _pick(b3, index + (j, k)) for j in range(n))
    rows = (m,) if a.ndim > 1 else ()
    cols = (p,) if b.ndim > 1 else ()
    return out.reshape(batch + rows + cols)


def ref_einsum(attrs: Mapping[str, Any], *operands: np.ndarray) -> np.ndarray:
    """Sum over every assignment of values to the indices of the product of the operands' entries.

    '...' is spelled out as fresh upper-case letters, right-aligned per operand; a size-1 dimension
    broadcasts (read at 0)."""
    text = attrs["subscripts"].replace(" ", "")
    lhs, out = text.split("->")
    terms = lhs.split(",")
    fresh = [c for c in reversed(string.ascii_uppercase) if c not in text]
    width = max((x.ndim - len(t) + 3 for t, x in zip(terms, operands, strict=True) if "..." in t), default=0)
    dots = "".join(fresh[:width])
    terms = [
        t.replace("...", dots[len(dots) - (x.ndim - len(t) + 3) :])
        for t, x in zip(terms, operands, strict=True)
    ]
    out = out.replace("...", dots)
    sizes: dict[str, int] = {}
    for term, x in zip(terms, operands, strict=True):
        for c, d in zip(term, x.shape, strict=True):
            sizes[c] = d if sizes.get(c, 1) == 1 else sizes[c]
    letters = sorted(sizes)
    result = np.zeros(tuple(sizes[c] for c in out))
    for values in itertools.product(*(range(sizes[c]) for c in letters)):
        at = dict(zip(letters, values, strict=True))
        product = 1.0
        for term, x in zip(terms, operands, strict=True):
            product *= _pick(x, tuple(at[c] for c in term))
        result[tuple(at[c] for c in out)] += product
    return result


def _einsum(subscripts: str, *shapes: tuple[int, ...]) -> Family:
    return Family(tuple(shapes), {"subscripts": subscripts})


CASES: tuple[OpCase, ...] = (
    OpCase(
        "matmul",
        (
            Family(((3, 2), (2, 4))),
            Family(((3, 2), (2,))),
            Family(((3,), (3, 2))),
            Family(((3,), (3,))),
            # N-D: batched, broadcast batch dimensions, 1-D operands against batches
            Family(((2, 3, 2), (2, 4))),  # a batch times one shared matrix
            Family(((3, 2), (2, 2, 4))),  # one matrix times a batch
            Family(((2, 3, 2), (2, 2, 4))),  # same batch
            Family(((2, 1, 3, 2), (4, 2, 3))),  # batch (2, 1) with (4,) -> (2, 4)
            Family(((1, 3, 2), (2, 2, 4))),  # a size-1 batch dimension stretched
            Family(((3,), (2, 3, 4))),  # a vector times a batch: the promoted row dropped
            Family(((2, 3, 4), (4,))),  # a batch times a vector: the promoted column dropped
            Family(((2, 2, 1, 3), (2, 1, 3, 2))),  # both broadcast, m = 1
        ),
        any_floats,
        ref_matmul_nd,
    ),
    OpCase(
        "einsum",
        (
            _einsum("ij,jk->ik", (3, 2), (2, 4)),
            _einsum("bij,bjk->bik", (2, 3, 2), (2, 2, 4)),
            _einsum("ii->i", (3, 3)),
            _einsum("ii->", (3, 3)),
            _einsum("ij->", (3, 2)),
            _einsum("ij->ji", (3, 2)),
            _einsum("ijk->kij", (2, 3, 2)),
            _einsum("ij->i", (3, 2)),
            _einsum("i,i->", (3,), (3,)),
            _einsum("i,j->ij", (3,), (2,)),
            _einsum("ij,j->i", (3, 2), (2,)),
            _einsum("ij,jk,kl->il", (2, 3), (3, 2), (2, 4)),
            _einsum("ii,ij->j", (3, 3), (3, 2)),  # a diagonal times another operand
            _einsum("iij,jk->ik", (2, 2, 3), (3, 2)),  # a repeated index with a free one beside it
            _einsum("ij,ij->i", (3, 2), (1, 2)),  # a size-1 dimension broadcasts
            _einsum("->", ()),
            _einsum(",ij->ji", (), (3, 2)),  # a scalar operand
            _einsum("ij,ik->", (3, 2), (3, 4)),  # everything summed, an index only in one operand
            _einsum("bqd,bkd->bqk", (2, 3, 2), (2, 4, 2)),  # attention scores
            _einsum("...ij,...jk->...ik", (2, 1, 3, 2), (4, 2, 3)),  # '...' broadcasting
            _einsum("...i,...i->...", (2, 3), (3,)),
            _einsum("i...i->...", (3, 2, 3)),
            _einsum("ij...,jk->ik...", (3, 2, 2), (2, 4)),
        ),
        any_floats,
        ref_einsum,
    ),
)
