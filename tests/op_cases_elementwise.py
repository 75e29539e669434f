"""The elementwise (new ops) part of the op table (see tests/op_cases.py)."""

from __future__ import annotations

from op_cases import OpCase

CASES: tuple[OpCase, ...] = ()
