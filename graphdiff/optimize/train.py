"""Gradient descent and its variants, as in the CS231n optimization notes.

One loop covers them all; the settings choose the variant:
- full-batch (vanilla) gradient descent: ``batch_size=None``;
- minibatch SGD: ``batch_size=B``, the data reshuffled every epoch;
- stochastic gradient descent proper: ``batch_size=1``;
- momentum (``momentum=0.9``: v = mu v - lr g; W += v) and Nesterov momentum (``nesterov=True``);
- step decay of the learning rate: multiplied by ``lr_decay`` every ``decay_every`` steps (default: every
  epoch).

A non-finite loss or gradient stops the run at that step, keeping the last finite parameters, so NaN
parameters are never handed back or saved.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import GraphdiffError, Problem
from .objective import Evaluation, Objective, Params
from .progress import progress_bar


@dataclass(frozen=True)
class TrainConfig:
    """How to train; see the module docstring for what each setting selects."""

    steps: int = 1000
    lr: float = 1e-3
    batch_size: int | None = None
    momentum: float = 0.0
    nesterov: bool = False
    lr_decay: float = 1.0
    decay_every: int | None = None
    #: Evaluate on the whole training (and validation) data every this many steps (default: ~100 times).
    eval_every: int | None = None
    seed: int = 0

    def check(self) -> None:
        problems = []
        if self.steps < 1:
            problems.append("steps must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            problems.append("the learning rate must be a positive number")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append("the batch size must be at least 1")
        if not 0 <= self.momentum < 1:
            problems.append("momentum must be in [0, 1)")
        if self.nesterov and self.momentum == 0:
            problems.append("Nesterov momentum needs a momentum above 0")
        if not 0 < self.lr_decay <= 1:
            problems.append("the learning-rate decay must be in (0, 1]")
        if self.decay_every is not None and self.decay_every < 1:
            problems.append("decay-every must be at least 1 step")
        if self.eval_every is not None and self.eval_every < 1:
            problems.append("eval-every must be at least 1 step")
        if problems:
            raise GraphdiffError(*(Problem(None, "train", p) for p in problems))

    @property
    def method(self) -> str:
        """A short name of the variant, for tables and titles."""
        batch = (
            "gradient descent (full batch)"
            if self.batch_size is None
            else "SGD (batch size 1)"
            if self.batch_size == 1
            else f"minibatch SGD (batch size {self.batch_size})"
        )
        if self.momentum:
            batch += f" + {'Nesterov ' if self.nesterov else ''}momentum {self.momentum:g}"
        return batch

    @property
    def schedule(self) -> str:
        """The learning rate and its decay, for titles: ``learning rate 0.05 (×0.5 every 500 steps)``."""
        if self.lr_decay == 1:
            return f"learning rate {self.lr:g}"
        every = f"{self.decay_every} steps" if self.decay_every else "epoch"
        return f"learning rate {self.lr:g} (×{self.lr_decay:g} every {every})"


@dataclass
class HistoryRow:
    """One step: the loss of the batch it stepped on (before the update) and, at evaluation steps, the
    loss and accuracy on all the training and validation data after the update."""

    step: int
    epoch: float
    lr: float
    batch_loss: float
    train_loss: float | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


#: The columns of the loss-curve CSV, in order.
HISTORY_COLUMNS = (
    "step",
    "epoch",
    "lr",
    "batch_loss",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
)


@dataclass
class TrainResult:
    """The parameters training ended with, its history, and how it ended."""

    params: Params
    history: list[HistoryRow]
    config: TrainConfig
    initial: Evaluation
    final: Evaluation
    final_val: Evaluation | None
    seconds: float
    #: The step at which the loss or a gradient became non-finite (``params`` are those before it).
    diverged_at: int | None = None
    diverged_what: str = ""

    @property
    def steps_done(self) -> int:
        return self.history[-1].step if self.history else 0


def train(objective: Objective, config: TrainConfig | None = None, *, progress: bool = False) -> TrainResult:
    """Train the objective's parameters from their values in the graph; see :class:`TrainConfig`."""
    config = config or TrainConfig()
    config.check()
    objective.check_batch_size(config.batch_size)
    rng = np.random.default_rng(config.seed)
    params = objective.initial_params()
    velocity: Params = {id: np.zeros_like(p) for id, p in params.items()}
    steps_per_epoch = (
        1 if config.batch_size is None else max(1, math.ceil(objective.examples / config.batch_size))
    )
    decay_every = config.decay_every or steps_per_epoch
    eval_every = config.eval_every or max(1, config.steps // 100)
    has_val = "val" in objective.splits
    start = time.perf_counter()
    with np.errstate(all="ignore"):  # divergence is reported as a result, not as numpy warnings
        initial = objective.evaluate(params)
        history: list[HistoryRow] = []
        diverged_at, diverged_what = None, ""
        step = 0
        bar = progress_bar(config.steps, "train", unit="step", enabled=progress)
        try:
            while step < config.steps and diverged_at is None:
                for rows in objective.batches(config.batch_size, rng):
                    if step >= config.steps:
                        break
                    step += 1
                    lr = config.lr * config.lr_decay ** ((step - 1) // decay_every)
                    batch_loss, grads = objective.loss_and_grads(params, rows)
                    bad = _non_finite(batch_loss, grads)
                    if bad:
                        diverged_at, diverged_what = step, bad
                        history.append(HistoryRow(step, step / steps_per_epoch, lr, batch_loss))
                        break
                    new_params, new_velocity = _update(params, grads, velocity, lr, config)
                    bad = _non_finite(0.0, new_params, "the parameter")
                    if bad:
                        diverged_at, diverged_what = step, f"{bad} after the update"
                        history.append(HistoryRow(step, step / steps_per_epoch, lr, batch_loss))
                        break
                    params, velocity = new_params, new_velocity
                    row = HistoryRow(step, step / steps_per_epoch, lr, batch_loss)
                    if step % eval_every == 0 or step == config.steps:
                        _evaluate_into(row, objective, params, has_val)
                        bar.set_postfix_str(_postfix(row), refresh=False)
                    history.append(row)
                    bar.update(1)
        finally:
            bar.close()
        final = objective.evaluate(params)
        final_val = objective.evaluate(params, "val") if has_val else None
    return TrainResult(
        params,
        history,
        config,
        initial,
        final,
        final_val,
        time.perf_counter() - start,
        diverged_at,
        diverged_what,
    )


def _update(
    params: Params, grads: Params, velocity: Params, lr: float, config: TrainConfig
) -> tuple[Params, Params]:
    """The parameters and velocities after one step (new arrays: the old ones stay as they were, so a
    step that overflows can be refused)."""
    mu = config.momentum
    if mu == 0:
        return {id: params[id] - lr * grad for id, grad in grads.items()}, velocity
    new_params, new_velocity = {}, {}
    for id, grad in grads.items():
        previous = velocity[id]
        current = mu * previous - lr * grad
        new_velocity[id] = current
        if config.nesterov:  # the look-ahead form of the CS231n notes
            new_params[id] = params[id] - mu * previous + (1 + mu) * current
        else:
            new_params[id] = params[id] + current
    return new_params, new_velocity


def _non_finite(loss: float, arrays: Params, what: str = "the gradient of") -> str:
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    for id, array in arrays.items():
        if not np.all(np.isfinite(array)):
            return f"{what} {id!r} is not finite"
    return ""


def _evaluate_into(row: HistoryRow, objective: Objective, params: Params, has_val: bool) -> None:
    train = objective.evaluate(params)
    row.train_loss, row.train_accuracy = train.loss, train.accuracy
    if has_val:
        val = objective.evaluate(params, "val")
        row.val_loss, row.val_accuracy = val.loss, val.accuracy


def _postfix(row: HistoryRow) -> str:
    parts = [f"loss {row.train_loss:.4g}"]
    if row.train_accuracy is not None:
        parts.append(f"acc {row.train_accuracy:.1%}")
    if row.val_accuracy is not None:
        parts.append(f"val {row.val_accuracy:.1%}")
    return ", ".join(parts)
