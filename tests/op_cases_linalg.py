"""The linear algebra part of the op table (see tests/op_cases.py)."""

from __future__ import annotations

from op_cases import Family, OpCase, any_floats, ref_matmul

CASES: tuple[OpCase, ...] = (
    OpCase(
        "matmul",
        (
            Family(((3, 2), (2, 4))),
            Family(((3, 2), (2,))),
            Family(((3,), (3, 2))),
            Family(((3,), (3,))),
        ),
        any_floats,
        ref_matmul,
    ),
)
