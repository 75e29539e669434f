"""Loss-landscape slices, as in the CS231n notes: the loss along a ray L(W + a d1) or over a plane
L(W + a d1 + b d2) through the parameters W, for random (seeded) or given directions d1, d2. (The notes
write the directions W1, W2; here they are d1, d2, since W1 and W2 are also the names of parameters, the
spiral net's layers among them.)

The loss of a linear SVM is piecewise linear in W along any ray (a sum of clamped linear terms), and its
average over examples is a bowl; a neural network's is bumpier. With ``normalize`` each direction is
rescaled, parameter by parameter, to the norm of that parameter, so ``a = 1`` means "as far again as W
is from the origin" whatever the parameter's scale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import GraphdiffError, Problem
from .objective import Objective, Params
from .progress import progress_bar


@dataclass(frozen=True)
class Landscape:
    """The loss over a 1-D grid ``a`` (a ray) or a 2-D grid ``a`` x ``b`` (a plane; ``losses[i, j]`` is at
    ``a[i], b[j]``), the directions used, and the loss at W itself."""

    params: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray | None
    losses: np.ndarray
    directions: tuple[Params, ...]
    center_loss: float
    normalized: bool

    @property
    def is_plane(self) -> bool:
        return self.b is not None


def loss_landscape(
    objective: Objective,
    params: Sequence[str] | None = None,
    *,
    plane: bool = False,
    span: tuple[float, float] = (-1.0, 1.0),
    points: int = 51,
    directions: Sequence[Mapping[str, np.ndarray]] | None = None,
    normalize: bool = False,
    at: Params | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Landscape:
    """Evaluate the loss (on all the training data) on a ray or plane through ``at`` (default: the graph's
    parameters), moving the parameters named in ``params`` (default: all of them).

    ``directions`` gives d1 (and d2 for a plane) as arrays by parameter id; otherwise they are drawn
    from a standard normal with ``seed``.
    """
    center = at if at is not None else objective.initial_params()
    moved = tuple(params) if params else objective.param_ids
    check_moved_params(objective, moved)
    if points < 2:
        raise GraphdiffError(Problem(None, "points", "a grid needs at least 2 points per axis"))
    low, high = float(span[0]), float(span[1])
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise GraphdiffError(Problem(None, "range", "expected two finite numbers, the first smaller"))
    count = 2 if plane else 1
    if directions is None:
        rng = np.random.default_rng(seed)
        chosen = [{id: rng.standard_normal(center[id].shape) for id in moved} for _ in range(count)]
    else:
        if len(directions) != count:
            raise GraphdiffError(
                Problem(
                    None,
                    "directions",
                    f"a {'plane' if plane else 'ray'} needs {count}, got {len(directions)}",
                )
            )
        chosen = [_checked_direction(d, center, moved, n + 1) for n, d in enumerate(directions)]
    if normalize:
        chosen = [_normalized(d, center) for d in chosen]
    a = np.linspace(low, high, points)
    grid_shape = (points, points) if plane else (points,)
    losses = np.empty(grid_shape)
    bar = progress_bar(losses.size, "landscape", unit="eval", enabled=progress)
    with np.errstate(all="ignore"):
        try:
            for index in np.ndindex(*grid_shape):
                trial = dict(center)
                for id in moved:
                    value = center[id] + a[index[0]] * chosen[0][id]
                    if plane:
                        value = value + a[index[1]] * chosen[1][id]
                    trial[id] = value.astype(center[id].dtype, copy=False)
                losses[index] = objective.loss(trial)
                bar.update(1)
        finally:
            bar.close()
        center_loss = objective.loss(center)
    return Landscape(moved, a, a.copy() if plane else None, losses, tuple(chosen), center_loss, normalize)


def check_moved_params(objective: Objective, moved: Sequence[str]) -> None:
    """Refuse a name that is not one of the objective's parameters."""
    for id in moved:
        if id not in objective.param_ids:
            kind = f"a {objective.graph.kind(id)}" if id in objective.graph.types else "not in the graph"
            raise GraphdiffError(
                Problem(
                    objective.graph.source.label,
                    f"param {json.dumps(id)}",
                    f"not a parameter of the graph ({kind}; parameters: {', '.join(objective.param_ids)})",
                )
            )


def _checked_direction(
    direction: Mapping[str, np.ndarray], center: Params, moved: tuple[str, ...], number: int
) -> Params:
    checked = {}
    for id in moved:
        if id not in direction:
            raise GraphdiffError(Problem(None, f"direction {number}", f"has no array for parameter {id!r}"))
        value = np.asarray(direction[id], dtype=np.float64)
        if value.shape != center[id].shape:
            raise GraphdiffError(
                Problem(
                    None,
                    f"direction {number}",
                    f"{id!r} has shape {value.shape}, the parameter {center[id].shape}",
                )
            )
        if not np.all(np.isfinite(value)) or not np.any(value):
            raise GraphdiffError(
                Problem(None, f"direction {number}", f"{id!r} must be finite and not all zero")
            )
        checked[id] = value
    return checked


def _normalized(direction: Params, center: Params) -> Params:
    """Each parameter's direction scaled to that parameter's norm (left as is when the parameter is 0)."""
    scaled = {}
    for id, d in direction.items():
        target = float(np.linalg.norm(center[id]))
        norm = float(np.linalg.norm(d))
        scaled[id] = d * (target / norm) if target > 0 and norm > 0 else d
    return scaled
