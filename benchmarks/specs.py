"""graphdiff spec files for the workloads, written as plain JSON (one leaf or node per line).

Only the standard library and numpy are used here, so the runner can generate large specs (the
load + check + compile scaling measurement) without importing graphdiff. Big arrays go into ``.npy``
files beside the spec; small ones are JSON literals (Python writes floats exactly, so values round-trip).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from workloads import CHAIN_C, CNN_PARAMS, chain_ops

Entry = dict[str, Any]

#: Arrays with more elements than this are written to .npy files instead of JSON literals.
LITERAL_LIMIT = 10_000

#: The CNN workload's graph is this example file's, with the benchmark's parameter values.
CNN_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_cnn.json"


def write_spec(
    folder: Path, name: str, leaves: Iterable[Entry], nodes: Iterable[Entry], loss: str
) -> tuple[Path, int, int]:
    """Write ``folder/name.json``; returns its path and the numbers of leaves and nodes written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    counts = [0, 0]
    with open(path, "w") as out:
        out.write(f'{{"format_version": 1, "name": {json.dumps(name)},\n')
        for key, entries, index in (("leaves", leaves, 0), ("nodes", nodes, 1)):
            out.write(f' "{key}": [\n')
            for entry in entries:
                out.write(("  " if counts[index] == 0 else " ,") + _compact(entry) + "\n")
                counts[index] += 1
            out.write(" ],\n")
        out.write(f' "outputs": [{json.dumps(loss)}], "loss": {json.dumps(loss)}}}\n')
    return path, counts[0], counts[1]


def _compact(entry: Entry) -> str:
    return json.dumps(entry, separators=(",", ":"), allow_nan=False)


def array_leaf(folder: Path, id: str, kind: str, array: np.ndarray) -> Entry:
    """A leaf holding ``array``: as a JSON literal, or in a ``.npy`` file written beside the spec."""
    array = np.asarray(array)
    if array.size <= LITERAL_LIMIT:
        return {"id": id, "kind": kind, "value": array.tolist()}
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{id}.npy", array)
    return {"id": id, "kind": kind, "shape": list(array.shape), "value": {"file": f"{id}.npy"}}


def node(id: str, op: str, *inputs: str, **attrs: Any) -> Entry:
    entry: Entry = {"id": id, "op": op, "inputs": list(inputs)}
    if attrs:
        entry["attrs"] = attrs
    return entry


# --- the workloads ----------------------------------------------------------------------------------


def circuit(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    leaves = [{"id": k, "kind": "parameter", "value": d[k]} for k in ("x", "y", "z")]
    nodes = [node("q", "add", "x", "y"), node("f", "mul", "q", "z")]
    return write_spec(folder, "circuit", leaves, nodes, "f")


def scalar_mlp_leaves(d: dict[str, Any]) -> Iterator[Entry]:
    """One scalar parameter leaf per weight (``W2_3_5`` is W2[3, 5]) and one constant leaf per input
    value and target (``x7_1`` is X[7, 1], ``t7`` is t[7])."""
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        for index, value in np.ndenumerate(d[name]):
            yield {"id": "_".join((name, *map(str, index))), "kind": "parameter", "value": float(value)}
    for p, (row, target) in enumerate(zip(d["X"], d["t"], strict=True)):
        for i, value in enumerate(row):
            yield {"id": f"x{p}_{i}", "kind": "constant", "value": float(value)}
        yield {"id": f"t{p}", "kind": "constant", "value": float(target)}
    yield {"id": "inv_points", "kind": "constant", "value": 1.0 / len(d["X"])}


def _neuron(prefix: str, weights: str, j: int, bias: str, inputs: list[str]) -> Iterator[Entry]:
    """bias + w0 x0 + w1 x1 + ..., accumulated left to right (as micrograd's Neuron does)."""
    total = bias
    for i, x in enumerate(inputs):
        yield node(f"{prefix}/m{i}", "mul", f"{weights}_{i}_{j}", x)
        yield node(f"{prefix}/s{i}", "add", total, f"{prefix}/m{i}")
        total = f"{prefix}/s{i}"


def scalar_mlp_nodes(d: dict[str, Any]) -> Iterator[Entry]:
    """Per point: layer 1 (16 neurons of 2 mul + 2 add, then relu), layer 2 (16 x (16 mul + 16 add), relu),
    the output (16 mul + 16 add), then sub and square; then a running sum over the points and a mul by
    1 / points: 643 nodes per point."""
    points, hidden = len(d["X"]), d["W1"].shape[1]
    for p in range(points):
        layer_in = [f"x{p}_0", f"x{p}_1"]
        for layer, weights, bias in (("l1", "W1", "b1"), ("l2", "W2", "b2")):
            outs = []
            for j in range(hidden):
                prefix = f"p{p}/{layer}/{j}"
                yield from _neuron(prefix, weights, j, f"{bias}_{j}", layer_in)
                yield node(f"{prefix}/relu", "relu", f"{prefix}/s{len(layer_in) - 1}")
                outs.append(f"{prefix}/relu")
            layer_in = outs
        yield from _neuron(f"p{p}/out", "W3", 0, "b3_0", layer_in)
        yield node(f"p{p}/err", "sub", f"p{p}/out/s{hidden - 1}", f"t{p}")
        yield node(f"p{p}/sq", "square", f"p{p}/err")
    total = "p0/sq"
    for p in range(1, points):
        yield node(f"sum/{p}", "add", total, f"p{p}/sq")
        total = f"sum/{p}"
    yield node("loss", "mul", total, "inv_points")


def scalar_mlp(folder: Path, d: dict[str, Any], name: str = "scalar_mlp") -> tuple[Path, int, int]:
    return write_spec(folder, name, scalar_mlp_leaves(d), scalar_mlp_nodes(d), "loss")


def mlp_tensor(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    """The scalar MLP's network with tensors: X (N, 2) and the targets t (N, 1) are inputs; each layer is a
    matmul and a bias add, relu between them, and mse (the mean of the squared errors) the loss."""
    leaves = [
        {"id": "X", "kind": "input", "shape": ["N", 2]},
        {"id": "t", "kind": "input", "shape": ["N", 1]},
        *(array_leaf(folder, name, "parameter", d[name]) for name in ("W1", "b1", "W2", "b2", "W3", "b3")),
    ]
    nodes = [
        node("z1", "matmul", "X", "W1"),
        node("a1", "add", "z1", "b1"),
        node("h1", "relu", "a1"),
        node("z2", "matmul", "h1", "W2"),
        node("a2", "add", "z2", "b2"),
        node("h2", "relu", "a2"),
        node("z3", "matmul", "h2", "W3"),
        node("out", "add", "z3", "b3"),
        node("loss", "mse", "out", "t"),
    ]
    return write_spec(folder, "mlp_tensor", leaves, nodes, "loss")


def two_layer(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    leaves = [
        {"id": "X", "kind": "input", "shape": ["N", d["d"]]},
        {"id": "y", "kind": "input", "dtype": "int64", "shape": ["N"]},
        array_leaf(folder, "W1", "parameter", d["W1"]),
        array_leaf(folder, "W2", "parameter", d["W2"]),
    ]
    nodes = [
        node("hidden_in", "matmul", "X", "W1"),
        node("hidden", "relu", "hidden_in"),
        node("scores", "matmul", "hidden", "W2"),
        node("data_loss", "softmax_cross_entropy", "scores", "y"),
        node("reg1", "l2_regularization", "W1", **{"lambda": d["lam"]}),
        node("reg2", "l2_regularization", "W2", **{"lambda": d["lam"]}),
        node("reg", "add", "reg1", "reg2"),
        node("loss", "add", "data_loss", "reg"),
    ]
    return write_spec(folder, "two_layer", leaves, nodes, "loss")


def svm(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    leaves = [
        {"id": "X", "kind": "input", "shape": ["N", d["d"]]},
        {"id": "y", "kind": "input", "dtype": "int64", "shape": ["N"]},
        array_leaf(folder, "W", "parameter", d["W"]),
    ]
    nodes = [
        node("scores", "matmul", "X", "W"),
        node("data_loss", "multiclass_hinge", "scores", "y", delta=d["delta"]),
        node("reg", "l2_regularization", "W", **{"lambda": d["lam"]}),
        node("loss", "add", "data_loss", "reg"),
    ]
    return write_spec(folder, "svm", leaves, nodes, "loss")


def chain(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    leaves = [
        array_leaf(folder, "x", "parameter", d["x"]),
        {"id": "c", "kind": "constant", "value": CHAIN_C},
    ]

    def nodes() -> Iterator[Entry]:
        previous = "x"
        for k, op in enumerate(chain_ops(d["ops"])):
            inputs = (previous, "c") if op in ("mul", "add") else (previous,)
            yield node(f"op{k}", op, *inputs)
            previous = f"op{k}"
        yield node("total", "sum", previous)

    return write_spec(folder, "chain", leaves, nodes(), "total")


#: The example's ops and attributes, in order, as the other systems' CNNs compute them (reg_k are the
#: l2_regularization nodes, whose lambda is the workload's).
CNN_OPS = [
    ("reshape", {"shape": [-1, 1, 8, 8]}),
    ("conv2d", {"padding": 1}),
    ("relu", {}),
    ("max_pool2d", {"kernel_size": 2}),
    ("conv2d", {"padding": 1}),
    ("relu", {}),
    ("max_pool2d", {"kernel_size": 2}),
    ("flatten", {}),
    ("matmul", {}),
    ("add", {}),
    ("softmax_cross_entropy", {}),
    ("l2_regularization", {"lambda": "lam"}),
    ("l2_regularization", {"lambda": "lam"}),
    ("l2_regularization", {"lambda": "lam"}),
    ("add", {}),
    ("add", {}),
    ("add", {}),
]


def cnn(folder: Path, d: dict[str, Any]) -> tuple[Path, int, int]:
    """examples/digits_cnn.json with the workload's parameter values and lambda. Refuses an example file
    whose graph is no longer the one the other systems compute (workloads.CNN_CHANNELS and friends)."""
    spec = json.loads(CNN_EXAMPLE.read_text())
    spec.pop("$schema", None)  # a relative path, meaningless beside the copy
    found = [(n["op"], n.get("attrs", {})) for n in spec["nodes"]]
    expected = [(op, {k: d["lam"] if v == "lam" else v for k, v in a.items()}) for op, a in CNN_OPS]
    if [op for op, _ in found] != [op for op, _ in expected] or any(
        a != e for (op, a), (_, e) in zip(found, expected, strict=True) if op != "l2_regularization"
    ):
        raise ValueError(f"{CNN_EXAMPLE} is no longer the CNN the benchmark's other systems compute")
    params = [leaf for leaf in spec["leaves"] if leaf["kind"] == "parameter"]
    if sorted(leaf["id"] for leaf in params) != sorted(CNN_PARAMS):
        raise ValueError(
            f"{CNN_EXAMPLE}: parameters {[leaf['id'] for leaf in params]}, expected {CNN_PARAMS}"
        )
    for leaf in params:
        value = np.asarray(d[leaf["id"]], dtype=np.float64)
        if list(value.shape) != leaf["shape"]:
            raise ValueError(f"{CNN_EXAMPLE}: {leaf['id']} has shape {leaf['shape']}, the data {value.shape}")
        leaf["value"] = value.tolist()
    for entry in spec["nodes"]:
        if entry["op"] == "l2_regularization":
            entry["attrs"]["lambda"] = d["lam"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cnn.json"
    path.write_text(json.dumps(spec, allow_nan=False))
    return path, len(spec["leaves"]), len(spec["nodes"])
