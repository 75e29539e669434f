"""Gradient checking: analytic gradients (backward) against numerical ones (centered differences).

The numerical gradient of coordinate i is ``[f(x + h e_i) - f(x - h e_i)] / 2h`` (float64, h = 1e-5 by
default). Each comparison is a relative error ``|a - n| / max(|a|, |n|, floor)``. The floor keeps
gradients that are zero up to round-off from counting as errors: centered differences carry noise of
about ``eps |L| / h``, so the default floor is ``1e-4 * max(1, |L|)``, far above that noise.

A graph with float32 values is checked as its float64 twin (:func:`promoted_to_float64`): the same
ops and gradients computed in float64, so the check tests the gradient's formulas, not float32 round-off.

Kinks (relu at 0, max at a tie, a hinge at its margin, ...): where the centered difference straddles a
kink it averages slopes from both sides, which is not the gradient there, as the CS231n notes warn. A
coordinate whose centered difference disagrees is therefore also looked at through its one-sided
differences ``[f(x + h) - f(x)] / h`` and ``[f(x) - f(x - h)] / h`` (no extra forward pass: f(x) is known):
when these two disagree, a kink lies within h, the coordinate cannot be checked by differences at this h,
and it is counted as "at a kink" instead of as a failure; the report says how many were. (The subgradient
conventions at the kinks themselves are pinned by each op's tests.) A wrong gradient at a smooth point has
one-sided slopes that agree, and still fails.

Large leaves are checked on a seeded sample of coordinates (``max_coords``), or, in the fast mode, along
``directions`` random unit directions v per leaf, comparing ``v . grad`` with the directional difference
``[f(x + h v) - f(x - h v)] / 2h``: a few forward passes instead of one per parameter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import GradientCheckError, Problem
from .executor import Plan, compile_plan
from .graph import promoted_to_float64


@dataclass(frozen=True)
class LeafCheck:
    """The result of checking one leaf's gradient."""

    id: str
    #: Coordinates (or directions) compared, out of the leaf's size.
    checked: int
    size: int
    max_error: float
    #: Where the largest error is: a coordinate index, or ``("direction", k)`` in the fast mode.
    where: tuple[int, ...] | tuple[str, int]
    analytic: float
    numeric: float
    passed: bool
    #: Coordinates (or directions) within h of a kink, where differences cannot check the gradient.
    at_kinks: int = 0


@dataclass(frozen=True)
class GradientCheckReport:
    """Per-leaf gradient check results and the settings used."""

    rows: tuple[LeafCheck, ...]
    h: float
    tolerance: float
    floor: float
    mode: str

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def max_error(self) -> float:
        return max((row.max_error for row in self.rows), default=0.0)

    def table(self) -> str:
        """A plain-text table, one row per leaf."""
        header = ("leaf", "checked", "max rel. error", "at", "analytic", "numeric", "")
        lines = [header] + [
            (
                row.id,
                _checked(row),
                f"{row.max_error:.2e}",
                _where(row.where),
                f"{row.analytic:.6g}",
                f"{row.numeric:.6g}",
                ("ok" if row.passed else "FAIL") + (f" ({row.at_kinks} at a kink)" if row.at_kinks else ""),
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
        ]
        verdict = "passed" if self.passed else "FAILED"
        text.append(
            f"gradient check {verdict}: max relative error {self.max_error:.2e} "
            f"(tolerance {self.tolerance:g}, h {self.h:g}, {self.mode})"
        )
        kinks = sum(row.at_kinks for row in self.rows)
        if kinks:
            text.append(
                f"{kinks} within h of a kink (their one-sided differences disagree), where differences "
                "cannot check a gradient: not counted"
            )
            if not self.passed:
                text.append(
                    "near kinks, check fewer examples at a time (--limit, --row), as the CS231n notes advise:"
                    " each example adds kinks that a step of h may cross"
                )
        return "\n".join(text)


def _checked(row: LeafCheck) -> str:
    """What was compared: ``3/4`` coordinates of a 4-element leaf, or ``5 dirs (size 3)`` in the fast mode,
    where the count of directions is no fraction of the leaf's size."""
    if row.where and row.where[0] == "direction":
        return f"{row.checked} dir{'' if row.checked == 1 else 's'} (size {row.size})"
    return f"{row.checked}/{row.size}"


def _where(where: tuple[int, ...] | tuple[str, int]) -> str:
    if where and where[0] == "direction":
        return f"direction {where[1]}"
    return "[" + ", ".join(str(i) for i in where) + "]" if where else "scalar"


def check_plan_gradients(
    plan: Plan,
    leaf_values: Mapping[str, np.ndarray],
    *,
    wrt: Iterable[str] | None = None,
    h: float = 1e-5,
    tolerance: float = 1e-6,
    floor: float | None = None,
    max_coords: int = 100,
    directions: int | None = None,
    seed: int = 0,
) -> GradientCheckReport:
    """Check the gradient of ``plan``'s loss with respect to ``wrt`` (default: every float leaf)."""
    graph = plan.graph

    def refuse(message: str) -> GradientCheckError:
        return GradientCheckError(Problem(graph.source.label, None, message))

    if graph.loss is None:
        raise refuse("the graph has no loss to check")
    problem = _arguments_problem(
        h=h, tolerance=tolerance, floor=floor, max_coords=max_coords, directions=directions, seed=seed
    )
    if problem is not None:
        raise refuse(problem)
    ids = list(wrt) if wrt is not None else [i for i in graph.leaves if graph.types[i].is_float]
    for id in ids:
        if id not in graph.leaves:
            raise refuse(f"{json.dumps(id)} is not a leaf of the graph (a gradient check perturbs leaves)")
        if not graph.types[id].is_float:
            raise refuse(f"{json.dumps(id)} is {graph.types[id].dtype}: only float leaves have gradients")
    if not ids:
        raise refuse("the graph has no float leaf to check")

    promoted = any(t.dtype == "float32" for t in graph.types.values())
    if promoted:
        graph = promoted_to_float64(graph)
        plan = compile_plan(graph)
        leaf_values = {
            id: np.asarray(v, dtype=np.float64) if np.asarray(v).dtype == np.float32 else v
            for id, v in leaf_values.items()
        }
    values = {id: np.array(v, copy=True) for id, v in leaf_values.items()}
    trace = plan.forward(values)
    loss = float(trace.value(graph.loss))
    analytic = plan.backward(trace, wrt=ids).grads
    noise_floor = floor if floor is not None else 1e-4 * max(1.0, abs(loss))
    rng = np.random.default_rng(seed)

    def loss_at(id: str, shifted: np.ndarray) -> float:
        original = values[id]
        values[id] = shifted
        try:
            return float(plan.forward(values).value(graph.loss))
        finally:
            values[id] = original

    rows = []
    for id in ids:
        x = values[id]
        grad = analytic[id]
        comparisons: list[Comparison] = []
        if directions is not None:
            for k in range(directions):
                v = rng.standard_normal(x.shape)
                v /= np.linalg.norm(v) or 1.0
                up, down = loss_at(id, x + h * v), loss_at(id, x - h * v)
                comparisons.append(Comparison(float(np.sum(v * grad)), up, down, loss, h, ("direction", k)))
        else:
            flat = np.arange(x.size)
            if x.size > max_coords:
                flat = np.sort(rng.choice(x.size, size=max_coords, replace=False))
            for i in flat:
                index = np.unravel_index(i, x.shape)
                plus, minus = x.copy(), x.copy()
                plus[index] += h
                minus[index] -= h
                up, down = loss_at(id, plus), loss_at(id, minus)
                where = tuple(int(j) for j in index)
                comparisons.append(Comparison(float(grad[index]), up, down, loss, h, where))
        rows.append(_summarize(id, x.size, comparisons, noise_floor, tolerance))
    mode = (
        f"{directions} random directions per leaf"
        if directions
        else f"up to {max_coords} coordinates per leaf"
    )
    if promoted:
        mode += ", float32 values promoted to float64"
    return GradientCheckReport(tuple(rows), h, tolerance, noise_floor, mode)


def _arguments_problem(
    *, h: object, tolerance: object, floor: object, max_coords: object, directions: object, seed: object
) -> str | None:
    """What is wrong with a gradient check's settings, or None. Their types are checked too: numpy would
    refuse a seed of -1 or 1.5 with a ValueError or TypeError of its own, far from the argument."""
    for name, number in (("h", h), ("tolerance", tolerance)):
        if not _is_real(number) or not (math.isfinite(number) and number > 0):
            return f"h and tolerance must be positive finite numbers; {name} is {number!r}"
    if floor is not None and (not _is_real(floor) or not (math.isfinite(floor) and floor > 0)):
        return f"floor must be a positive finite number (or None for the default); it is {floor!r}"
    for name, count in (("max_coords", max_coords), ("directions", directions)):
        if (count is not None or name == "max_coords") and (not _is_integer(count) or count < 1):
            return f"max_coords and directions must be integers of at least 1; {name} is {count!r}"
    if not _is_integer(seed) or seed < 0:
        return f"seed must be a non-negative integer; it is {seed!r}"
    return None


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def relative_error(analytic: float, numeric: float, floor: float) -> float:
    """|a - n| / max(|a|, |n|, floor); nan if either is not finite."""
    if not (math.isfinite(analytic) and math.isfinite(numeric)):
        return math.nan
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)


#: One-sided slopes disagreeing by more than this share of the larger mark a kink within h: a smooth
#: function's differ by about h |f"| (1e-5 |f"| at the default h), so only a curvature of over 100 times
#: the slope would be taken for a kink.
KINK_SLOPES = 1e-3


@dataclass(frozen=True)
class Comparison:
    """One coordinate (or direction): the analytic derivative and the losses a step of h either side."""

    analytic: float
    up: float
    down: float
    centre: float
    h: float
    where: tuple

    @property
    def numeric(self) -> float:
        return (self.up - self.down) / (2 * self.h)

    def at_kink(self) -> bool:
        """Whether a kink lies within h: the one-sided slopes disagree by far more than a smooth function's
        curvature (or round-off) makes them. At several kinks at once (a relu net's blank pixel) the
        analytic subgradient need not equal either slope, and no difference of f can confirm or refute it."""
        right = (self.up - self.centre) / self.h
        left = (self.centre - self.down) / self.h
        if not (math.isfinite(right) and math.isfinite(left)):
            return False
        gap = abs(right - left)
        noise = 8 * np.finfo(np.float64).eps * max(abs(self.centre), 1.0) / self.h
        return gap > KINK_SLOPES * max(abs(right), abs(left)) and gap > 100 * noise


def _summarize(
    id: str, size: int, comparisons: list[Comparison], floor: float, tolerance: float
) -> LeafCheck:
    if not comparisons:  # an empty leaf has nothing to get wrong
        return LeafCheck(id, 0, size, 0.0, (), 0.0, 0.0, True)
    kinks = 0
    worst = (-1.0, 0.0, 0.0, ())
    for comparison in comparisons:
        analytic, numeric, where = comparison.analytic, comparison.numeric, comparison.where
        error = relative_error(analytic, numeric, floor)
        if not error <= tolerance and comparison.at_kink():
            kinks += 1
            continue
        score = math.inf if math.isnan(error) else error
        if score > worst[0]:
            worst = (score, analytic, numeric, where)
    score, analytic, numeric, where = worst
    if score < 0:  # every comparison was at a kink
        return LeafCheck(id, len(comparisons), size, 0.0, (), 0.0, 0.0, True, kinks)
    error = math.nan if score == math.inf else score
    passed = bool(error <= tolerance)
    return LeafCheck(id, len(comparisons), size, error, where, analytic, numeric, passed, kinks)
