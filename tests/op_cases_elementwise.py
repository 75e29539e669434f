"""The elementwise and comparison-and-selection part of the op table (see tests/op_cases.py).

The new activations (clip, sqrt, sin, cos, softplus, log_sigmoid, leaky_relu, elu, gelu), power with a
tensor exponent, the comparisons (greater, less, equal), where and cast. Inputs stay away from kinks
(clip's bounds, 0 for leaky_relu and elu) and domain edges (sqrt and power near 0) so centered
differences are exact. The references apply Python's ``math`` functions element by element
(np.vectorize, which also does the broadcasting), sharing nothing with the ops' numpy code: softplus as
log1p(exp(x)), gelu with math.erf rather than scipy, elu as exp(x) - 1, and so on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from op_cases import BINARY, Family, Inputs, OpCase, Shape, nonzero

# --- shape families ------------------------------------------------------------------------------------

SHAPES: tuple[Shape, ...] = ((), (3,), (3, 2), (2, 3, 2), (2, 1, 2, 2))
UNARY = tuple(Family((s,)) for s in SHAPES)


def _with(attrs: Mapping[str, Any], shapes: tuple[Shape, ...] = SHAPES) -> tuple[Family, ...]:
    return tuple(Family((s,), dict(attrs)) for s in shapes)


CLIP = (
    *_with({"min": -0.5, "max": 0.7}),
    *_with({"min": -0.5}, ((3, 2),)),
    *_with({"max": 0.3}, ((), (2, 3, 2))),
    *_with({}, ((3,),)),
    *_with({"min": 1, "max": 1.5}, ((3, 2),)),  # an int bound (JSON 1) is a float
)
LEAKY_RELU = (
    *UNARY,
    *_with({"negative_slope": 0.2}, ((3, 2), (2, 1, 2, 2))),
    *_with({"negative_slope": -0.5}),
)
ELU = (*UNARY, *_with({"alpha": 0.5}, ((3, 2),)), *_with({"alpha": 2.5}, ((), (2, 3, 2))))
GELU = (*UNARY, *_with({"approximate": "tanh"}), *_with({"approximate": "none"}, ((3, 2),)))
WHERE = tuple(
    Family(shapes)
    for shapes in [
        ((), (), ()),
        ((3,), (3,), (3,)),
        ((3, 2), (3, 2), (3, 2)),
        ((3, 1), (2,), (3, 2)),
        ((2,), (3, 2), ()),
        ((), (3,), (2, 1)),
        ((2, 1, 3), (4, 1), (3,)),
        ((1, 2, 1, 2), (2, 1, 1), (2, 1, 2, 1)),
    ]
)
#: BINARY and a 4-D broadcast; not BINARY itself, whose ops test_ops.py treats as float-valued.
COMPARISONS = (*BINARY, Family(((2, 1, 2, 2), (3, 1, 2))))
CAST = tuple(Family((s,), {"dtype": "int64"}) for s in SHAPES)

# --- input generators ------------------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, shape: Shape, low: float, high: float) -> np.ndarray:
    return np.asarray(rng.uniform(low, high, size=shape), dtype=np.float64)


def away_from_bounds(rng: np.random.Generator, family: Family, margin: float = 0.05) -> Inputs:
    """clip: x in [-2, 2], every element more than ``margin`` from min and from max."""
    (shape,) = family.shapes
    bounds = [b for b in (family.attrs.get("min"), family.attrs.get("max")) if b is not None]
    while True:
        x = _uniform(rng, shape, -2.0, 2.0)
        if all(np.all(np.abs(x - b) > margin) for b in bounds):
            return (x,)


def sqrt_inputs(rng: np.random.Generator, family: Family) -> Inputs:
    """sqrt: x in [0.2, 4], away from the infinite slope at 0."""
    return tuple(_uniform(rng, s, 0.2, 4.0) for s in family.shapes)


def angles(rng: np.random.Generator, family: Family) -> Inputs:
    """sin and cos: more than a period, [-4, 4]."""
    return tuple(_uniform(rng, s, -4.0, 4.0) for s in family.shapes)


def wide(rng: np.random.Generator, family: Family) -> Inputs:
    """softplus, log_sigmoid and gelu: [-5, 5], well into both tails."""
    return tuple(_uniform(rng, s, -5.0, 5.0) for s in family.shapes)


def bases_and_exponents(rng: np.random.Generator, family: Family) -> Inputs:
    """power: bases in [0.3, 2.5] (d/db needs log a), exponents of either sign in [-2.5, 2.5]."""
    a_shape, b_shape = family.shapes
    return _uniform(rng, a_shape, 0.3, 2.5), _uniform(rng, b_shape, -2.5, 2.5)


def tie_prone(rng: np.random.Generator, family: Family) -> Inputs:
    """Comparisons: whole numbers in -1..1 (as floats), so ties are common and greater/less/equal all
    show both answers."""
    return tuple(np.asarray(rng.integers(-1, 2, size=s), dtype=np.float64) for s in family.shapes)


def condition_and_pair(rng: np.random.Generator, family: Family) -> Inputs:
    """where: a random bool condition, a and b in [-2, 2]."""
    c_shape, a_shape, b_shape = family.shapes
    condition = np.asarray(rng.integers(0, 2, size=c_shape), dtype=bool)
    return condition, _uniform(rng, a_shape, -2.0, 2.0), _uniform(rng, b_shape, -2.0, 2.0)


def fractional(rng: np.random.Generator, family: Family) -> Inputs:
    """cast to int64: x in [-5, 5], at least 0.05 from every integer (where truncation jumps)."""
    (shape,) = family.shapes
    whole = rng.integers(-5, 5, size=shape)
    return (np.asarray(whole + rng.uniform(0.05, 0.95, size=shape), dtype=np.float64),)


# --- references: Python's math, one element at a time ------------------------------------------------------


def _each(fn: Callable[..., Any], otype: type = float) -> Callable[..., np.ndarray]:
    return np.vectorize(fn, otypes=[otype])


def _attrs_each(fn: Callable[..., Any], otype: type = float) -> Callable[..., np.ndarray]:
    """A reference (attrs, *inputs) applying fn(attrs, *elements) to every element (broadcast)."""

    def reference(attrs: Mapping[str, Any], *inputs: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda *v: fn(attrs, *v), otypes=[otype])(*inputs)

    return reference


def _clip(attrs: Mapping[str, Any], v: float) -> float:
    lo, hi = attrs.get("min"), attrs.get("max")
    if lo is not None and v < lo:
        return float(lo)
    if hi is not None and v > hi:
        return float(hi)
    return v


def _leaky_relu(attrs: Mapping[str, Any], v: float) -> float:
    return v if v > 0 else attrs.get("negative_slope", 0.01) * v


def _elu(attrs: Mapping[str, Any], v: float) -> float:
    return v if v > 0 else attrs.get("alpha", 1.0) * (math.exp(v) - 1.0)


def _gelu(attrs: Mapping[str, Any], v: float) -> float:
    if attrs.get("approximate", "none") == "tanh":
        return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v**3)))
    return v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def _log_sigmoid(v: float) -> float:
    return math.log(1.0 / (1.0 + math.exp(-v)))


def _where(attrs: Mapping[str, Any], c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda ci, ai, bi: ai if ci else bi, otypes=[float])(c, a, b)


CASES: tuple[OpCase, ...] = (
    OpCase("clip", CLIP, away_from_bounds, _attrs_each(_clip)),
    OpCase("sqrt", UNARY, sqrt_inputs, lambda attrs, x: _each(math.sqrt)(x)),
    OpCase("sin", UNARY, angles, lambda attrs, x: _each(math.sin)(x)),
    OpCase("cos", UNARY, angles, lambda attrs, x: _each(math.cos)(x)),
    OpCase("softplus", UNARY, wide, lambda attrs, x: _each(_softplus)(x)),
    OpCase("log_sigmoid", UNARY, wide, lambda attrs, x: _each(_log_sigmoid)(x)),
    OpCase("leaky_relu", LEAKY_RELU, nonzero, _attrs_each(_leaky_relu)),
    OpCase("elu", ELU, nonzero, _attrs_each(_elu)),
    OpCase("gelu", GELU, wide, _attrs_each(_gelu)),
    OpCase("power", BINARY, bases_and_exponents, lambda attrs, a, b: _each(math.pow)(a, b)),
    OpCase(
        "greater",
        COMPARISONS,
        tie_prone,
        lambda attrs, a, b: _each(lambda x, y: x > y, bool)(a, b),
        float_only=False,
        out_dtype="bool",
    ),
    OpCase(
        "less",
        COMPARISONS,
        tie_prone,
        lambda attrs, a, b: _each(lambda x, y: x < y, bool)(a, b),
        float_only=False,
        out_dtype="bool",
    ),
    OpCase(
        "equal",
        COMPARISONS,
        tie_prone,
        lambda attrs, a, b: _each(lambda x, y: x == y, bool)(a, b),
        float_only=False,
        out_dtype="bool",
    ),
    OpCase("where", WHERE, condition_and_pair, _where),
    OpCase(
        "cast",
        CAST,
        fractional,
        lambda attrs, x: _each(int, np.int64)(x),  # int() truncates toward zero
        float_only=False,
        out_dtype="int64",
    ),
)
