"""The step-size sweep of the CS231n notes: one step along the negative gradient, for each step size.

The gradient says which way is downhill, not how far to go: small steps lower the loss a little, a good
step lowers it most, and larger ones overshoot until the loss explodes. The table prints as the notes
print it (``for step size 1.000000e-06 new loss: 1.647802``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import GraphdiffError, Problem
from .objective import Objective, Params

#: 1e-10, 1e-9, ..., 1e-1, the notes' step sizes.
DEFAULT_STEP_SIZES = tuple(10.0**e for e in range(-10, 0))


@dataclass(frozen=True)
class Sweep:
    """The loss at W, and at W - step * dL/dW for each step size."""

    original_loss: float
    step_sizes: np.ndarray
    losses: np.ndarray
    gradient_norm: float

    @property
    def best_step_size(self) -> float | None:
        """The step size giving the lowest loss, if any lowers it."""
        finite = np.where(np.isfinite(self.losses), self.losses, np.inf)
        best = int(np.argmin(finite))
        return float(self.step_sizes[best]) if finite[best] < self.original_loss else None

    def table(self) -> str:
        """The sweep as the notes print it."""
        lines = [f"original loss: {self.original_loss:f}"]
        lines += [
            f"for step size {s:e} new loss: {loss:f}"
            for s, loss in zip(self.step_sizes, self.losses, strict=True)
        ]
        return "\n".join(lines)


def step_size_sweep(
    objective: Objective, step_sizes: Sequence[float] = DEFAULT_STEP_SIZES, params: Params | None = None
) -> Sweep:
    """Evaluate the loss (on all the training data) after one gradient step of each size from ``params``
    (default: the graph's parameters)."""
    sizes = np.asarray(step_sizes, dtype=np.float64)
    if sizes.ndim != 1 or sizes.size == 0 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise GraphdiffError(Problem(None, "step sizes", "must be one or more positive numbers"))
    start = params if params is not None else objective.initial_params()
    with np.errstate(all="ignore"):
        original, grads = objective.loss_and_grads(start)
        if not math.isfinite(original):
            raise GraphdiffError(Problem(None, "sweep", f"the loss at the starting point is {original}"))
        losses = np.array([objective.loss({id: p - s * grads[id] for id, p in start.items()}) for s in sizes])
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    return Sweep(original, sizes, losses, norm)
