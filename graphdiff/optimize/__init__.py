"""The optimization lab: follow the gradients (and the alternatives the CS231n notes compare them with)
on any graph with a scalar loss.

>>> import graphdiff as gd
>>> from graphdiff import optimize
>>> graph = gd.load("examples/spiral_two_layer.json")
>>> train, val = optimize.spiral().split(0.2, seed=0)
>>> objective = optimize.Objective(graph, train, val)
>>> result = optimize.train(objective, optimize.TrainConfig(steps=2000, lr=1.0))  # doctest: +SKIP

- data: :func:`spiral`, :func:`digits`, :func:`load_npz`, :func:`load_dataset`, :class:`Dataset`, and
  :func:`feeds_for`, the feeds of a graph's inputs from a dataset (or some of its rows) for one run;
- :class:`Objective`: L(params) and dL/dparams on the data, compiled once;
- :func:`train` (gradient descent, minibatch SGD, SGD, momentum, learning-rate decay);
- :func:`search` (random search, random local search) and :func:`compare` (both against gradient
  descent on one budget);
- :func:`step_size_sweep` and :func:`loss_landscape`;
- :mod:`graphdiff.optimize.plots` draws each as a PNG.
"""

from .compare import Comparison, StrategyOutcome, compare
from .data import (
    BUILTIN_DATASETS,
    Dataset,
    bind_data,
    describe_bindings,
    digits,
    feeds_for,
    input_bindings,
    load_dataset,
    load_npz,
    spiral,
)
from .landscape import Landscape, check_moved_params, loss_landscape
from .objective import Evaluation, Objective, Params
from .search import SearchResult, search
from .sweep import DEFAULT_STEP_SIZES, Sweep, step_size_sweep
from .train import HISTORY_COLUMNS, HistoryRow, TrainConfig, TrainResult, train

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_STEP_SIZES",
    "HISTORY_COLUMNS",
    "Comparison",
    "Dataset",
    "Evaluation",
    "HistoryRow",
    "Landscape",
    "Objective",
    "Params",
    "SearchResult",
    "StrategyOutcome",
    "Sweep",
    "TrainConfig",
    "TrainResult",
    "bind_data",
    "check_moved_params",
    "compare",
    "describe_bindings",
    "digits",
    "feeds_for",
    "input_bindings",
    "load_dataset",
    "load_npz",
    "loss_landscape",
    "search",
    "spiral",
    "step_size_sweep",
    "train",
]
