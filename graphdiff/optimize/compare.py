"""The three strategies of the CS231n notes on one budget: random search, random local search and
following the gradient, each allowed ``evals`` evaluations of the loss (one gradient step, a forward and
a backward pass, counts as one), compared on one table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .objective import Evaluation, Objective
from .search import search
from .train import TrainConfig, train


@dataclass(frozen=True)
class StrategyOutcome:
    """One row of the comparison, with the loss curve behind it (the best loss so far for the searches,
    the loss of each step for gradient descent)."""

    strategy: str
    evaluations: int
    final: Evaluation
    final_val: Evaluation | None
    seconds: float
    curve: np.ndarray
    #: For gradient descent: the step at which the loss or a gradient became non-finite, if it did.
    diverged_at: int | None = None


@dataclass(frozen=True)
class Comparison:
    outcomes: tuple[StrategyOutcome, ...]

    def table(self) -> str:
        """A markdown table: final training loss and accuracies per strategy."""
        has_accuracy = any(o.final.accuracy is not None for o in self.outcomes)
        has_val = any(o.final_val is not None for o in self.outcomes)
        header = ["strategy", "evaluations", "final loss"]
        if has_accuracy:
            header.append("train accuracy")
            if has_val:
                header.append("validation accuracy")
        header.append("time")
        rows = [header]
        for o in self.outcomes:
            row = [o.strategy, str(o.evaluations), f"{o.final.loss:.4f}"]
            if has_accuracy:
                row.append(_percent(o.final.accuracy))
                if has_val:
                    row.append(_percent(o.final_val.accuracy if o.final_val else None))
            row.append(f"{o.seconds:.2f} s")
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
        lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
        return "\n".join(lines)


def compare(
    objective: Objective,
    evals: int = 1000,
    *,
    config: TrainConfig | None = None,
    scale: float = 1e-3,
    step_size: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> Comparison:
    """Run random search, random local search and gradient descent (``config``, with its ``steps`` set to
    ``evals``) from the same seed on the same data."""
    outcomes = []
    for strategy, name in (("random", "random search"), ("local", "random local search")):
        found = search(
            objective, strategy, evals=evals, scale=scale, step_size=step_size, seed=seed, progress=progress
        )
        outcomes.append(
            StrategyOutcome(name, evals, found.final, found.final_val, found.seconds, found.best_losses)
        )
    trained = train(objective, replace(config or TrainConfig(), steps=evals, seed=seed), progress=progress)
    curve = np.array([row.batch_loss for row in trained.history])
    name = f"{trained.config.method}, lr {trained.config.lr:g}"
    if trained.diverged_at is not None:
        name += f" (diverged at step {trained.diverged_at})"
    outcomes.append(
        StrategyOutcome(
            name,
            trained.steps_done,
            trained.final,
            trained.final_val,
            trained.seconds,
            curve,
            trained.diverged_at,
        )
    )
    return Comparison(tuple(outcomes))


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"
