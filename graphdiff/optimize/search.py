"""The CS231n notes' first two strategies, which use the loss alone (no gradient):

- random search (strategy 1): try ``evals`` random parameter settings, each drawn independently
  (W = scale * randn), and keep the best;
- random local search (strategy 2): start from the graph's parameters and try W + step * randn, moving
  only when the loss goes down.

Each loss evaluation is one forward pass over all the training data, so ``evals`` is the budget to
compare with ``evals`` steps of gradient descent (see :func:`graphdiff.optimize.compare`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import GraphdiffError, Problem
from .objective import Evaluation, Objective, Params
from .progress import progress_bar

Strategy = Literal["random", "local"]


@dataclass
class SearchResult:
    """The best parameters found and, per evaluation, the loss tried and the best loss so far."""

    strategy: Strategy
    params: Params
    losses: np.ndarray
    best_losses: np.ndarray
    final: Evaluation
    final_val: Evaluation | None
    seconds: float

    @property
    def accepted(self) -> int:
        """How many evaluations improved on the best loss."""
        previous = np.concatenate([[np.inf], self.best_losses[:-1]])
        return int(np.sum(self.best_losses < previous))


def search(
    objective: Objective,
    strategy: Strategy = "random",
    *,
    evals: int = 1000,
    scale: float = 1e-3,
    step_size: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> SearchResult:
    """Random search (``scale``: the standard deviation of each random parameter) or random local search
    (``step_size``: the standard deviation of each perturbation) with ``evals`` loss evaluations."""
    if strategy not in ("random", "local"):
        raise GraphdiffError(Problem(None, "strategy", f"expected random or local, got {strategy!r}"))
    if evals < 1:
        raise GraphdiffError(Problem(None, "evals", "must be at least 1"))
    spread = scale if strategy == "random" else step_size
    if not (math.isfinite(spread) and spread > 0):
        raise GraphdiffError(Problem(None, strategy, "the scale and step size must be positive numbers"))
    rng = np.random.default_rng(seed)
    best = objective.initial_params()
    best_loss = math.inf
    losses = np.empty(evals)
    best_losses = np.empty(evals)
    start = time.perf_counter()
    bar = progress_bar(evals, f"{strategy} search", unit="eval", enabled=progress)
    with np.errstate(all="ignore"):
        try:
            for i in range(evals):
                if strategy == "random":
                    trial = {
                        id: scale * rng.standard_normal(p.shape).astype(p.dtype) for id, p in best.items()
                    }
                else:
                    trial = {
                        id: p + (step_size * rng.standard_normal(p.shape)).astype(p.dtype)
                        for id, p in best.items()
                    }
                loss = objective.loss(trial)
                if loss < best_loss:  # nan never compares smaller, so it is never kept
                    best, best_loss = trial, loss
                losses[i], best_losses[i] = loss, best_loss
                if (i + 1) % 10 == 0:
                    bar.set_postfix_str(f"best loss {best_loss:.4g}", refresh=False)
                bar.update(1)
        finally:
            bar.close()
        final = objective.evaluate(best)
        final_val = objective.evaluate(best, "val") if "val" in objective.splits else None
    return SearchResult(strategy, best, losses, best_losses, final, final_val, time.perf_counter() - start)
