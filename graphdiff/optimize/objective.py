"""A graph's scalar loss as a function of its parameters, over a dataset fed to its inputs.

Every part of the optimization lab (training, the search strategies, the step-size sweep, the loss
landscape) asks the same two questions many times: what is L(W), and what is dL/dW, on some rows of the
data? :class:`Objective` answers them from a plan compiled once; the data is checked against the graph's
inputs once, and batches are row slices of checked arrays, so no step re-validates anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import FeedError, GraphdiffError, Problem
from ..executor import Plan, bind_feeds, compile_plan
from ..graph import CheckedGraph
from .data import Dataset, bind_data, input_bindings

if TYPE_CHECKING:
    from ..api import Graph

#: Parameter values by parameter id.
Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """The loss on a whole split and, for a classifier, the fraction of examples classified right."""

    loss: float
    accuracy: float | None


class Objective:
    """L(params) for one graph and its data, compiled once.

    ``train`` (and optional ``val``) are fed to the graph's inputs: each array of the dataset named like
    an input feeds it (``bind={"input_id": "array_name"}`` for other names); inputs left unbound take
    their default values. Without data the inputs' defaults are the (only) batch. ``loss`` names the
    scalar node to minimize (default: the graph's loss), e.g. ``data_loss`` for a landscape without the
    regularization term. The parameters are the graph's ``parameter`` leaves.

    Accuracy is known when the loss comes from a classification loss (an op declaring ``classifies``:
    ``multiclass_hinge``, ``softmax_cross_entropy``, ``nll_loss``) whose labels are fed from the data: the
    predicted class is the argmax of its scores.
    """

    def __init__(
        self,
        graph: Graph | CheckedGraph,
        train: Dataset | None = None,
        val: Dataset | None = None,
        *,
        loss: str | None = None,
        bind: Mapping[str, str] | None = None,
    ) -> None:
        checked = graph if isinstance(graph, CheckedGraph) else graph.checked
        self.graph: CheckedGraph = checked
        self.plan: Plan = compile_plan(checked)
        label = checked.source.label
        self.loss_id = loss if loss is not None else checked.loss
        if self.loss_id is None:
            raise GraphdiffError(Problem(label, "loss", "the graph declares no loss to optimize"))
        if self.loss_id not in checked.types:
            raise GraphdiffError(Problem(label, "loss", f"no node {json.dumps(self.loss_id)} to optimize"))
        loss_type = checked.types[self.loss_id]
        if loss_type.shape != () or not loss_type.is_float:
            raise GraphdiffError(
                checked.problem(self.loss_id, f"the loss must be a float scalar; it is {loss_type}")
            )
        self.param_ids: tuple[str, ...] = checked.ids_of_kind("parameter")
        if not self.param_ids:
            raise GraphdiffError(Problem(label, "leaves", "the graph has no parameter leaves to optimize"))
        self.bindings: dict[str, str] = self._bindings(train, bind)
        self.train = train
        self.val = val
        self._feeds = {"train": self._check_data(train, "train")}
        if val is not None:
            self._feeds["val"] = self._check_data(val, "validation")
        self.batch_symbol = self._batch_symbol()
        self.scores_id, self.labels_id = self._classifier()
        self._initial: Params = {id: np.array(checked.leaf_values[id]) for id in self.param_ids}
        # The memory-saving mode keeps the graph's loss and outputs, so a loss chosen among them is read.
        kept = self.loss_id in (checked.loss, *checked.outputs)
        self._keep: Literal["all", "backward"] = "backward" if kept else "all"

    # --- setup ----------------------------------------------------------------------------------

    def _bindings(self, data: Dataset | None, bind: Mapping[str, str] | None) -> dict[str, str]:
        """input id -> array name."""
        if data is None:
            if bind:
                label = self.graph.source.label
                raise GraphdiffError(Problem(label, "bind", "there is no data to bind inputs to"))
            return {}
        return input_bindings(self.graph, data, bind)

    def _check_data(self, data: Dataset | None, split: str) -> dict[str, np.ndarray]:
        """Every leaf's value with the data fed, checked once (dtypes, shapes, symbols)."""
        try:
            if data is None:
                return bind_feeds(self.graph, {})
            return bind_data(self.graph, data, self.bindings)
        except FeedError as exc:
            raise FeedError(
                *(
                    Problem(p.file, f"{split} data: {p.place}" if p.place else p.place, p.message)
                    for p in exc.problems
                )
            ) from None

    def _batch_symbol(self) -> str | None:
        """The symbol of the bound inputs' first dimension, when minibatches can be cut along it."""
        if not self.bindings:
            return None
        firsts = {self.graph.types[i].shape[0] if self.graph.types[i].shape else None for i in self.bindings}
        symbol = next(iter(firsts))
        if len(firsts) != 1 or not isinstance(symbol, str):
            return None
        others = [
            i for i in self.graph.leaves if i not in self.bindings and symbol in self.graph.types[i].shape
        ]
        return None if others else symbol

    def _classifier(self) -> tuple[str | None, str | None]:
        for id in self.graph.order:
            op = self.graph.ops.get(id)
            if op is not None and op.classifies:
                scores, labels = self.graph.nodes[id].inputs
                if labels in self.bindings or (not self.bindings and self.graph.kind(labels) == "input"):
                    return scores, labels
        return None, None

    # --- facts ----------------------------------------------------------------------------------

    @property
    def examples(self) -> int:
        """The number of training examples (1 when the inputs' defaults are the only batch)."""
        return len(self.train) if self.train is not None and self.bindings else 1

    @property
    def has_accuracy(self) -> bool:
        return self.scores_id is not None

    def initial_params(self) -> Params:
        """A fresh copy of the parameters' values in the graph."""
        return {id: value.copy() for id, value in self._initial.items()}

    def check_batch_size(self, batch_size: int | None) -> None:
        """Refuse a batch size these data and this graph cannot be cut into."""
        if batch_size is None:
            return
        if batch_size < 1:
            raise GraphdiffError(Problem(None, "batch size", "must be at least 1"))
        if not self.bindings:
            raise GraphdiffError(
                Problem(self.graph.source.label, "batch size", "minibatches are cut from data: give the data")
            )
        if self.batch_symbol is None and batch_size < self.examples:
            declared = ", ".join(f"{i} {self.graph.types[i]}" for i in self.bindings)
            raise GraphdiffError(
                Problem(
                    self.graph.source.label,
                    "batch size",
                    'minibatches need the data inputs\' first dimension to be a symbol such as "N" '
                    f"(declared: {declared})",
                )
            )

    def batches(self, batch_size: int | None, rng: np.random.Generator) -> Iterator[np.ndarray | None]:
        """One epoch of row indices: minibatches of a fresh random permutation, or ``None`` (every row)
        when ``batch_size`` is None or covers the data."""
        self.check_batch_size(batch_size)
        if batch_size is None or batch_size >= self.examples:
            yield None
            return
        order = rng.permutation(self.examples)
        for start in range(0, self.examples, batch_size):
            yield order[start : start + batch_size]

    # --- evaluation -----------------------------------------------------------------------------

    def _leaf_values(self, params: Params, rows: np.ndarray | None, split: str) -> dict[str, np.ndarray]:
        values = dict(self._feeds[split])
        values.update(params)
        if rows is not None:
            for input_id in self.bindings:
                values[input_id] = values[input_id][rows]
        return values

    def loss(self, params: Params, rows: np.ndarray | None = None, *, split: str = "train") -> float:
        """L(params) on ``rows`` of a split (default: all of the training data)."""
        trace = self.plan.forward(self._leaf_values(params, rows, split))
        return float(trace.value(self.loss_id))

    def loss_and_grads(self, params: Params, rows: np.ndarray | None = None) -> tuple[float, Params]:
        """L(params) and dL/d(each parameter) on ``rows`` of the training data."""
        # Training reads no intermediate value, so the forward pass keeps only what backward needs.
        trace = self.plan.forward(self._leaf_values(params, rows, "train"), keep=self._keep)
        gradients = self.plan.backward(trace, wrt=self.param_ids, output=self.loss_id)
        return float(trace.value(self.loss_id)), gradients.grads

    def evaluate(self, params: Params, split: str = "train") -> Evaluation:
        """Loss and accuracy on a whole split (``"train"`` or ``"val"``)."""
        if split not in self._feeds:
            raise GraphdiffError(Problem(None, split, "there is no such data split"))
        trace = self.plan.forward(self._leaf_values(params, None, split))
        accuracy = None
        if self.scores_id is not None and self.labels_id is not None:
            scores = trace.value(self.scores_id)
            labels = trace.value(self.labels_id)
            predicted = np.argmax(scores, axis=-1)
            accuracy = float(np.mean(predicted == labels))
        return Evaluation(float(trace.value(self.loss_id)), accuracy)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self._feeds)
