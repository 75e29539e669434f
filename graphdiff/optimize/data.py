"""Datasets for the optimization lab: named arrays with one example per row, bound to a graph's inputs.

Three sources, none of which downloads anything:
- :func:`spiral`, the generated three-arm spiral of the CS231n neural-network case study;
- :func:`digits`, scikit-learn's bundled 8x8 handwritten digits (1,797 real images; needs the optional
  ``digits`` extra, ``pip install "graphdiff[digits]"``);
- :func:`load_npz`, any ``.npz`` file of named arrays, read as safely as a spec's array files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArrayFileError, GraphdiffError, Problem
from ..spec import DEFAULT_MAX_ELEMENTS, read_array
from ..spec.arrays import npz_keys

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
