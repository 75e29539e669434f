"""The benchmark workloads: their sizes and seeded data, shared by every system.

Each workload is a scalar loss and the parameters it is differentiated with respect to. ``make_data``
builds the same float64 arrays (from a fixed seed) in every process, so every system computes the same
numbers and they can be compared to hand-written numpy before anything is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEED = 231


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    #: The parameters (gradients compared and returned), in a fixed order.
    params: tuple[str, ...]
    #: Systems that build their graph out of scalars only can run it (micrograd).
    scalar: bool
    #: The systems that implement it (None: every system that can run it).
    systems: tuple[str, ...] | None = None

    def implemented_by(self, system: str) -> bool:
        return self.systems is None or system in self.systems


SCALAR_MLP_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")

#: The CNN's parameters, named as in examples/digits_cnn.json (its leaf ids).
CNN_PARAMS = ("conv1/W", "conv1/b", "conv2/W", "conv2/b", "fc/W", "fc/b")
#: Its architecture (the example file's; specs.cnn checks that the file still says so): 1x8x8 images,
#: conv 3x3 (padding 1) to 8 channels, relu, 2x2 max pool, conv 3x3 to 16, relu, 2x2 max pool, flatten
#: (16 x 2 x 2 = 64) and a linear layer to 10 classes.
CNN_IMAGE = 8
CNN_CHANNELS = (1, 8, 16)
CNN_CLASSES = 10

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("circuit", "circuit f = (x + y) z", ("x", "y", "z"), scalar=True),
        Workload("scalar_mlp", "scalar MLP 2-16-16-1, ReLU, square loss", SCALAR_MLP_PARAMS, scalar=True),
        Workload("two_layer", "two-layer net, softmax cross-entropy + L2", ("W1", "W2"), scalar=False),
        Workload("svm", "multiclass SVM (hinge, delta 1) + L2", ("W",), scalar=False),
        Workload("chain", "deep chain of elementwise ops, summed", ("x",), scalar=True),
        Workload(
            "cnn",
            "small CNN (examples/digits_cnn.json), softmax cross-entropy + L2",
            CNN_PARAMS,
            scalar=False,
            systems=("numpy", "graphdiff", "torch", "jax"),
        ),
        # Last, so that the other workloads keep their seeds (make_data seeds by position here).
        Workload("mlp_tensor", "tensor MLP 2-16-16-1, ReLU, square loss", SCALAR_MLP_PARAMS, scalar=False),
    )
}


#: Sizes in full mode (the issue's) and in quick mode (a smoke test in seconds).
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "scalar_mlp": {"points": 100, "hidden": 16},
        "two_layer": {"n": 256, "d": 3072, "h": 512, "c": 10, "lam": 1e-3},
        "svm": {"n": 500, "d": 3073, "c": 10, "delta": 1.0, "lam": 1e-3},
        "chain": {"values": 100, "ops": 2000},
        "cnn": {"n": 64, "lam": 1e-3},
    },
    "quick": {
        "scalar_mlp": {"points": 5, "hidden": 16},
        "two_layer": {"n": 16, "d": 96, "h": 32, "c": 10, "lam": 1e-3},
        "svm": {"n": 20, "d": 97, "c": 10, "delta": 1.0, "lam": 1e-3},
        "chain": {"values": 100, "ops": 200},
        "cnn": {"n": 8, "lam": 1e-3},
    },
}
for _mode in SIZES.values():  # the tensor MLP is the scalar MLP's network and data
    _mode["mlp_tensor"] = dict(_mode["scalar_mlp"])

#: The deep chain cycles through these ops (ones every system has, micrograd included) with the
#: constant CHAIN_C: x -> relu((C x + C)^2). Started in (-0.9, 0.9), the values creep up towards the
#: fixed point 1 and stay finite; the gradients shrink (to about 1e-6 after 2,000 ops) but stay nonzero.
CHAIN_CYCLE = ("mul", "add", "square", "relu")
CHAIN_C = 0.5


def chain_ops(count: int) -> list[str]:
    return [CHAIN_CYCLE[i % len(CHAIN_CYCLE)] for i in range(count)]


def sizes(workload: str, quick: bool) -> dict[str, Any]:
    return dict(SIZES["quick" if quick else "full"].get(workload, {}))


def describe(workload: str, quick: bool) -> str:
    """The workload with its sizes, as the tables name it."""
    s = sizes(workload, quick)
    if workload == "scalar_mlp":
        return (
            f"scalar MLP 2-16-16-1, {s['points']} points ({SCALAR_MLP_NODES_PER_POINT * s['points']:,} nodes)"
        )
    if workload == "mlp_tensor":
        return f"tensor MLP 2-16-16-1, {s['points']} points (matmul, bias, relu; mse)"
    if workload == "two_layer":
        return f"two-layer net: X {s['n']}×{s['d']}, W1 {s['d']}×{s['h']}, W2 {s['h']}×{s['c']}"
    if workload == "svm":
        return f"multiclass SVM: X {s['n']}×{s['d']}, W {s['d']}×{s['c']}"
    if workload == "chain":
        return f"deep chain: {s['ops']:,} ops on {s['values']} values"
    if workload == "cnn":
        c0, c1, c2 = CNN_CHANNELS
        return (
            f"CNN: {s['n']} images {c0}×{CNN_IMAGE}×{CNN_IMAGE}, conv 3×3 {c1}, pool, conv 3×3 {c2}, pool, "
            f"fc {c2 * (CNN_IMAGE // 4) ** 2}×{CNN_CLASSES}"
        )
    return WORKLOADS[workload].title


#: Per point: 16 x (2 mul + 2 add) + 16 relu, 16 x (16 mul + 16 add) + 16 relu, 16 mul + 16 add, sub,
#: square; and one node of the sum over points (a running add, or the final mul by 1 / points).
SCALAR_MLP_NODES_PER_POINT = 643


def make_data(workload: str, quick: bool, **overrides: Any) -> dict[str, Any]:
    """The workload's seeded data: float64 arrays (and int64 labels), plus its sizes (``overrides``
    changes some, as the load-time scaling does with the scalar MLP's points)."""
    size = sizes(workload, quick) | overrides
    # The tensor MLP is the scalar MLP's network on the scalar MLP's data (the same seed), written with
    # tensors: the two rows of the table differ only in how the graph is built.
    seeded = "scalar_mlp" if workload == "mlp_tensor" else workload
    rng = np.random.default_rng([SEED, list(WORKLOADS).index(seeded)])
    if workload == "circuit":
        return {"x": -2.0, "y": 5.0, "z": -4.0}
    if workload in ("scalar_mlp", "mlp_tensor"):
        p, h = size["points"], size["hidden"]
        X = rng.uniform(-1.0, 1.0, (p, 2))
        return {
            **size,
            "X": X,
            "t": np.sin(2.0 * X[:, 0]) * X[:, 1],
            "W1": rng.standard_normal((2, h)) * np.sqrt(2.0 / 2),
            "b1": rng.uniform(-0.1, 0.1, h),
            "W2": rng.standard_normal((h, h)) * np.sqrt(2.0 / h),
            "b2": rng.uniform(-0.1, 0.1, h),
            "W3": rng.standard_normal((h, 1)) * np.sqrt(1.0 / h),
            "b3": rng.uniform(-0.1, 0.1, 1),
        }
    if workload == "two_layer":
        n, d, h, c = size["n"], size["d"], size["h"], size["c"]
        return {
            **size,
            "X": rng.standard_normal((n, d)),
            "y": rng.integers(0, c, n).astype(np.int64),
            "W1": rng.standard_normal((d, h)) * np.sqrt(2.0 / d),
            "W2": rng.standard_normal((h, c)) * np.sqrt(2.0 / h),
        }
    if workload == "svm":
        n, d, c = size["n"], size["d"], size["c"]
        X = rng.standard_normal((n, d))
        X[:, -1] = 1.0  # the bias trick: the last column is ones
        return {
            **size,
            "X": X,
            "y": rng.integers(0, c, n).astype(np.int64),
            "W": rng.standard_normal((d, c)) * 0.01,
        }
    if workload == "chain":
        return {**size, "x": rng.uniform(-0.9, 0.9, size["values"])}
    if workload == "cnn":
        return {**size, **cnn_data(rng, size["n"])}
    raise KeyError(workload)


def cnn_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random images (pixels uniform in [0, 1), as the digits' are scaled), random labels, He-scaled
    normal weights (std sqrt(2 / fan_in), as the example file's) and small random biases.

    Max-pool ties: graphdiff splits a tied window's gradient equally, PyTorch and JAX give it to one
    element, so a tie that gradient flows through would make correct systems disagree. With continuous
    random data a window's largest values are distinct, except in windows where relu made everything 0;
    there every element's pre-activation is negative (the biases are nonzero, so no pre-activation is
    exactly 0), relu passes back 0, and however the pool splits the gradient, every parameter's gradient
    is the same. (The real digits, with their many exact 0 pixels, and zero biases would give exact 0
    pre-activations at relu's kink.) sys_numpy.cnn checks this for the data it is given (a margin
    between each live window's two largest values, none at the kink) and refuses data that breaks it.
    """
    c0, c1, c2 = CNN_CHANNELS
    features = c2 * (CNN_IMAGE // 4) ** 2
    return {
        "X": rng.uniform(0.0, 1.0, (n, c0 * CNN_IMAGE * CNN_IMAGE)),
        "y": rng.integers(0, CNN_CLASSES, n).astype(np.int64),
        "conv1/W": rng.standard_normal((c1, c0, 3, 3)) * np.sqrt(2.0 / (c0 * 9)),
        "conv1/b": rng.uniform(-0.1, 0.1, c1),
        "conv2/W": rng.standard_normal((c2, c1, 3, 3)) * np.sqrt(2.0 / (c1 * 9)),
        "conv2/b": rng.uniform(-0.1, 0.1, c2),
        "fc/W": rng.standard_normal((features, CNN_CLASSES)) * np.sqrt(2.0 / features),
        "fc/b": rng.uniform(-0.1, 0.1, CNN_CLASSES),
    }


@dataclass
class Impl:
    """One system's implementation of one workload, built and ready to run."""

    #: One forward + backward pass (this is what is timed); returns the system's own objects.
    step: Callable[[], Any]
    #: The loss and each parameter's gradient (float64 numpy arrays) from what ``step`` returned.
    collect: Callable[[Any], tuple[float, dict[str, np.ndarray]]]
    #: Facts worth reporting about the build (for example a graph's node count).
    info: dict[str, Any] = field(default_factory=dict)


def scalar_mlp_loss(W: dict[str, np.ndarray], d: dict[str, Any], relu: Callable, square: Callable) -> Any:
    """The scalar MLP's loss, one scalar op at a time, for systems whose scalars support ``+ - *``.

    ``W`` holds each parameter as an object array of the system's scalars; the inputs and targets are
    Python floats. Each neuron is b + w0 x0 + w1 x1 + ... accumulated left to right (as micrograd's
    Neuron does), so per point: 16 x (2 mul + 2 add) + 16 relu, 16 x (16 mul + 16 add) + 16 relu,
    16 mul + 16 add, then sub and square; then a running sum over the points and one mul by 1 / points.
    """
    layers = ((W["W1"], W["b1"], True), (W["W2"], W["b2"], True), (W["W3"], W["b3"], False))
    total = None
    for row, target in zip(d["X"].tolist(), d["t"].tolist(), strict=True):
        h = row
        for weights, bias, nonlinear in layers:
            outs = []
            for j in range(weights.shape[1]):
                a = bias[j]
                for i, x in enumerate(h):
                    a = a + weights[i, j] * x
                outs.append(relu(a) if nonlinear else a)
            h = outs
        error = square(h[0] - target)
        total = error if total is None else total + error
    return total * (1.0 / len(d["X"]))


def run_chain(x: Any, ops: list[str], square: Callable, relu: Callable) -> Any:
    """The deep chain's ops applied to ``x`` (an array, or one scalar for scalar-only systems)."""
    for op in ops:
        if op == "mul":
            x = x * CHAIN_C
        elif op == "add":
            x = x + CHAIN_C
        elif op == "square":
            x = square(x)
        else:
            x = relu(x)
    return x
