"""micrograd (Karpathy's, the PyPI package): scalar Values only, so only the scalar workloads (the
circuit, the scalar MLP and the deep chain, run as 100 scalar chains). Each step builds the graph from the
parameters' Values and calls ``backward()``."""

from __future__ import annotations

import sys
from importlib.metadata import version as dist_version
from typing import Any

import numpy as np
from micrograd.engine import Value
from workloads import SCALAR_MLP_PARAMS, Impl, chain_ops, run_chain, scalar_mlp_loss

# micrograd's backward sorts the graph with a recursive depth-first search, as deep as the graph.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))


def version() -> str:
    return dist_version("micrograd")


def _impl(params: dict[str, np.ndarray], loss_fn) -> Impl:
    """``loss_fn(values)`` builds the loss from ``values``: each parameter as an object array of Values,
    made once; each step zeroes their gradients (as micrograd's ``zero_grad``), builds the graph anew and
    backpropagates."""
    values = {
        name: np.vectorize(Value, otypes=[object])(np.asarray(a, dtype=float)) for name, a in params.items()
    }
    leaves = [v for array in values.values() for v in array.flat]

    def step() -> Value:
        for v in leaves:
            v.grad = 0
        loss = loss_fn(values)
        loss.backward()
        return loss

    def collect(loss: Value) -> tuple[float, dict[str, np.ndarray]]:
        grad = np.vectorize(lambda v: float(v.grad), otypes=[float])
        return float(loss.data), {k: grad(v).reshape(np.shape(v)) for k, v in values.items()}

    return Impl(step, collect)


def circuit(d: dict[str, Any]) -> Impl:
    return _impl({k: np.asarray(d[k]) for k in "xyz"}, _circuit_loss)


def _circuit_loss(v: dict[str, np.ndarray]) -> Value:
    return (v["x"][()] + v["y"][()]) * v["z"][()]


def scalar_mlp(d: dict[str, Any]) -> Impl:
    params = {name: d[name] for name in SCALAR_MLP_PARAMS}
    return _impl(params, lambda v: scalar_mlp_loss(v, d, Value.relu, lambda e: e**2))


def chain(d: dict[str, Any]) -> Impl:
    ops = chain_ops(d["ops"])

    def loss_fn(v: dict[str, np.ndarray]) -> Value:
        total = None
        for x in v["x"]:
            out = run_chain(x, ops, lambda e: e**2, Value.relu)
            total = out if total is None else total + out
        return total

    return _impl({"x": d["x"]}, loss_fn)
