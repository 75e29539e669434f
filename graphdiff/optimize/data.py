"""Datasets for the optimization lab: named arrays with one example per row, bound to a graph's inputs.

Three sources, none of which downloads anything:
- :func:`spiral`, the generated three-arm spiral of the CS231n neural-network case study;
- :func:`digits`, scikit-learn's bundled 8x8 handwritten digits (1,797 real images; needs the optional
  ``digits`` extra, ``pip install "graphdiff[digits]"``);
- :func:`load_npz`, any ``.npz`` file of named arrays, read as safely as a spec's array files.

Examples are chosen with :meth:`Dataset.sample` (n at random, seeded), :meth:`Dataset.take` and
:meth:`Dataset.split`; :func:`input_bindings` says which array feeds which input of a graph, and
:func:`feeds_for` turns the data (or some of its rows) into checked feeds for one run:

>>> import graphdiff as gd
>>> from graphdiff.optimize import feeds_for, spiral
>>> graph = gd.load("examples/spiral_two_layer.json")
>>> result = graph.run(feeds_for(graph, spiral(), rows=[0, 150]))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArrayFileError, FeedError, GraphdiffError, Problem
from ..executor import bind_feeds
from ..graph import CheckedGraph
from ..spec import DEFAULT_MAX_ELEMENTS, read_array
from ..spec.arrays import npz_keys

if TYPE_CHECKING:
    from ..api import Graph

#: Names accepted by :func:`load_dataset` besides a path to an .npz file.
BUILTIN_DATASETS = ("spiral", "digits")


@dataclass(frozen=True)
class Dataset:
    """Named arrays that share their first dimension: row ``i`` of each is example ``i``.

    The conventional names are ``X`` (features, one row per example) and ``y`` (integer class labels);
    a graph's inputs of the same names are fed from them (see :class:`~graphdiff.optimize.Objective`).
    """

    name: str
    arrays: Mapping[str, np.ndarray]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.arrays:
            raise GraphdiffError(Problem(self.name, None, "the dataset holds no arrays"))
        lengths = {key: (a.shape[0] if a.ndim else None) for key, a in self.arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            shown = ", ".join(f"{key}: {n if n is not None else 'a scalar'}" for key, n in lengths.items())
            raise GraphdiffError(
                Problem(self.name, None, f"arrays must have the same number of rows (examples); got {shown}")
            )

    def __len__(self) -> int:
        return next(iter(self.arrays.values())).shape[0]

    def take(self, rows: np.ndarray, name: str | None = None) -> Dataset:
        """The examples at ``rows`` (an index array), in that order."""
        return Dataset(name or self.name, {k: a[rows] for k, a in self.arrays.items()}, self.description)

    def sample(self, n: int, *, seed: int = 0) -> Dataset:
        """``n`` examples drawn at random with ``seed``, kept in the data's order, named for their number
        (``digits (20 examples)``): the lab's ``--limit``."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= len(self):
            raise GraphdiffError(
                Problem(None, "sample", f"must be between 1 and the {len(self)} examples of {self.name}")
            )
        rows = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        return self.take(rows, f"{self.name} ({n} example{'' if n == 1 else 's'})")

    def split(self, val_fraction: float, *, seed: int = 0) -> tuple[Dataset, Dataset | None]:
        """A seeded random split into (train, validation); no validation set when the fraction is 0."""
        if not 0 <= val_fraction < 1:
            raise GraphdiffError(Problem(self.name, None, "the validation fraction must be in [0, 1)"))
        n_val = int(round(len(self) * val_fraction))
        if n_val == 0:
            return self, None
        if n_val == len(self):
            raise GraphdiffError(Problem(self.name, None, "the validation fraction leaves no training data"))
        order = np.random.default_rng(seed).permutation(len(self))
        return self.take(np.sort(order[n_val:]), f"{self.name} (train)"), self.take(
            np.sort(order[:n_val]), f"{self.name} (validation)"
        )

    def summary(self) -> str:
        """``X (300, 2) float64, y (300,) int64``."""
        return ", ".join(f"{k} {tuple(a.shape)} {a.dtype}" for k, a in self.arrays.items())


def spiral(points_per_class: int = 100, classes: int = 3, *, seed: int = 0) -> Dataset:
    """The spiral of the CS231n case study "Putting it together: minimal neural network": ``classes``
    arms of ``points_per_class`` 2-D points (radius 0 to 1, angle advancing 4 radians per arm plus
    Gaussian noise of 0.2), not linearly separable. ``X`` is (N, 2) float64, ``y`` (N,) int64."""
    if points_per_class < 1 or classes < 2:
        raise GraphdiffError(Problem("spiral", None, "needs at least 1 point per class and 2 classes"))
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for arm in range(classes):
        radius = np.linspace(0.0, 1.0, points_per_class)
        angle = (
            np.linspace(arm * 4.0, (arm + 1) * 4.0, points_per_class)
            + rng.standard_normal(points_per_class) * 0.2
        )
        xs.append(np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]))
        ys.append(np.full(points_per_class, arm, dtype=np.int64))
    return Dataset(
        "spiral",
        {"X": np.concatenate(xs), "y": np.concatenate(ys)},
        f"{classes}-arm spiral, {points_per_class} points per arm (CS231n case study), seed {seed}",
    )


def digits() -> Dataset:
    """scikit-learn's bundled handwritten digits: 1,797 8x8 images (``X`` (1797, 64) float64, pixel
    intensities scaled from 0..16 to 0..1) with their classes 0-9 (``y`` int64). Needs scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise GraphdiffError(
            Problem(
                "digits",
                None,
                'the digits dataset comes with scikit-learn: pip install "graphdiff[digits]" '
                "(or pip install scikit-learn)",
            )
        ) from None
    bunch = load_digits()
    return Dataset(
        "digits",
        {"X": bunch.data.astype(np.float64) / 16.0, "y": bunch.target.astype(np.int64)},
        "scikit-learn's 8x8 handwritten digits (UCI), 1,797 images, pixels scaled to [0, 1]",
    )


def read_npz(
    path: str | os.PathLike[str], *, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file by name (floats as float64, integers as int64), refusing pickles,
    links, compression bombs and non-finite values as spec array files do."""
    file = Path(path)
    label = str(path)
    if not file.is_file():
        raise ArrayFileError(f"{label}: no such file")
    keys = npz_keys(file, label=label)
    if not keys:
        raise ArrayFileError(f"{label}: holds no arrays")
    return {key: read_array(file, key, label=label, dtype=None, max_elements=max_elements) for key in keys}


def load_npz(path: str | os.PathLike[str], *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Dataset:
    """A dataset of every array in an ``.npz`` file (see :func:`read_npz`); they must share their rows."""
    return Dataset(Path(path).name, read_npz(path, max_elements=max_elements), f"arrays from {path}")


def load_dataset(source: str, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Dataset:
    """``"spiral"``, ``"digits"`` or the path of an ``.npz`` file."""
    if source == "spiral":
        return spiral()
    if source == "digits":
        return digits()
    if source.lower().endswith(".npz"):
        return load_npz(source, max_elements=max_elements)
    raise GraphdiffError(
        Problem(
            None,
            f"--data {source}",
            f"expected {' or '.join(map(json.dumps, BUILTIN_DATASETS))} or an .npz file of named arrays",
        )
    )


# --- feeding a graph ----------------------------------------------------------------------------------


def input_bindings(
    graph: Graph | CheckedGraph, dataset: Dataset, bind: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which array of ``dataset`` feeds which input of ``graph``, as input id -> array name.

    Each array named like an input feeds it; ``bind`` maps input ids to arrays of other names (and wins
    over the array of the input's own name). Refuses a binding of something that is not an input or to
    an array the data lacks, and data none of whose arrays feeds an input.
    """
    checked = _checked(graph)
    label = checked.source.label
    inputs = checked.ids_of_kind("input")
    bindings = {name: name for name in dataset.arrays if name in inputs}
    for input_id, array in (bind or {}).items():
        if input_id not in inputs:
            raise FeedError(Problem(label, f"bind {input_id}={array}", "not an input of the graph"))
        if array not in dataset.arrays:
            raise FeedError(
                Problem(
                    label,
                    f"bind {input_id}={array}",
                    f"the data has no array {json.dumps(array)} (it has: {', '.join(dataset.arrays)})",
                )
            )
        bindings[input_id] = array
    if not bindings:
        raise FeedError(
            Problem(
                label,
                "data",
                f"no array of {dataset.name} ({', '.join(dataset.arrays)}) is named like an input of the "
                f"graph ({', '.join(inputs) or 'none'}); bind them by name",
            )
        )
    return bindings


def bind_data(
    graph: Graph | CheckedGraph,
    dataset: Dataset,
    bindings: Mapping[str, str],
    *,
    rows: Sequence[int] | np.ndarray | None = None,
    feeds: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Every leaf's value for one run, as :func:`~graphdiff.executor.bind_feeds` gives it, with each
    input of ``bindings`` fed its array of ``dataset`` (only ``rows`` of it, when given) and the inputs
    of ``feeds`` fed those values. Checked once: an input neither fed nor bound must have a default, and
    a problem with a data array's dtype or shape names both the input and the array."""
    checked = _checked(graph)
    label = checked.source.label
    explicit = dict(feeds or {})
    chosen = _chosen_rows(dataset, rows)
    for id in checked.ids_of_kind("input"):
        if id not in bindings and id not in explicit and checked.leaf_values.get(id) is None:
            raise FeedError(
                Problem(
                    label,
                    f"input {json.dumps(id)}",
                    f"missing: no array of {dataset.name} ({', '.join(dataset.arrays)}) feeds it and it has "
                    f"no default value; bind one (--bind {id}=ARRAY, or bind={{{json.dumps(id)}: ...}})",
                )
            )
    data = {
        id: dataset.arrays[array] if chosen is None else dataset.arrays[array][chosen]
        for id, array in bindings.items()
        if id not in explicit
    }
    try:
        return bind_feeds(checked, {**data, **explicit})
    except FeedError as exc:
        # bind_feeds knows the input only: say which array of which data it came from.
        places = {f"feed {json.dumps(id)}": id for id in data}
        raise FeedError(
            *(
                Problem(
                    p.file,
                    f"input {json.dumps(places[p.place])} (array {json.dumps(bindings[places[p.place]])} "
                    f"of {dataset.name})",
                    p.message,
                )
                if p.place in places
                else p
                for p in exc.problems
            )
        ) from None


def feeds_for(
    graph: Graph | CheckedGraph,
    dataset: Dataset,
    *,
    bind: Mapping[str, str] | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
    feeds: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """The feeds of ``graph``'s inputs from ``dataset``, ready for ``graph.forward`` or ``graph.run``.

    Each array named like an input feeds it, ``bind`` (input id -> array name) feeds inputs from arrays
    of other names (see :func:`input_bindings`), and ``rows`` picks examples by index (default: all of
    them), in the order given: ``rows=[i]`` feeds example ``i`` alone. ``feeds`` are values given
    explicitly (input id -> value, as ``graph.forward`` takes them): they win over the data for their
    inputs, except that binding an input and feeding it too is refused. Inputs neither bound nor fed
    keep their defaults and are not in the result.

    Every feed is checked against the graph here (dtype, shape, symbolic dimensions such as ``N``
    agreeing across inputs), and a :class:`~graphdiff.FeedError` names the input and the array that do
    not fit, an input the data cannot feed that has no default, or a row out of range.
    """
    checked = _checked(graph)
    explicit = dict(feeds or {})
    for id in explicit:
        if bind and id in bind:
            raise FeedError(
                Problem(
                    checked.source.label,
                    f"feed {json.dumps(id)}",
                    f"both fed and bound to the array {json.dumps(bind[id])}: give one",
                )
            )
    bindings = input_bindings(checked, dataset, bind)
    values = bind_data(checked, dataset, bindings, rows=rows, feeds=explicit)
    return {id: values[id] for id in checked.ids_of_kind("input") if id in bindings or id in explicit}


def describe_bindings(bindings: Mapping[str, str]) -> str:
    """``X, y`` (arrays feeding the inputs of their names) or ``features -> X, y``."""
    return ", ".join(f"{array} -> {id}" if array != id else id for id, array in bindings.items())


def _checked(graph: Graph | CheckedGraph) -> CheckedGraph:
    return graph if isinstance(graph, CheckedGraph) else graph.checked


def _chosen_rows(dataset: Dataset, rows: Sequence[int] | np.ndarray | None) -> np.ndarray | None:
    """``rows`` as an index array, each a whole number naming an example of ``dataset``."""
    if rows is None:
        return None
    chosen = []
    for row in rows:
        if isinstance(row, bool | np.bool_) or not isinstance(row, int | np.integer):
            raise GraphdiffError(
                Problem(dataset.name, "rows", f"expected example numbers (whole numbers), got {row!r}")
            )
        if not 0 <= row < len(dataset):
            raise GraphdiffError(
                Problem(
                    dataset.name,
                    f"row {row}",
                    f"no such example: {dataset.name} has {len(dataset)}, rows 0 to {len(dataset) - 1}",
                )
            )
        chosen.append(int(row))
    if not chosen:
        raise GraphdiffError(Problem(dataset.name, "rows", "no rows chosen"))
    return np.array(chosen, dtype=np.intp)
