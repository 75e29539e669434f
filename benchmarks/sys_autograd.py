"""HIPS autograd: numpy code traced on every call by ``autograd.value_and_grad`` (define-by-run). The
scalar MLP is run one scalar op at a time, as for micrograd and PyTorch."""

from __future__ import annotations

from importlib.metadata import version as dist_version
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp
from workloads import SCALAR_MLP_PARAMS, Impl, chain_ops, run_chain, scalar_mlp_loss


def version() -> str:
    return dist_version("autograd")


def _relu(x: Any) -> Any:
    return anp.maximum(x, 0.0)


def _impl(loss_fn, params: dict[str, Any]) -> Impl:
    """``loss_fn(params)``, differentiated with respect to ``params`` (a dict of arrays)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    grad_fn = value_and_grad(loss_fn)

    def collect(out: Any) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = out
        return float(loss), {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}

    return Impl(lambda: grad_fn(params), collect)


def circuit(d: dict[str, Any]) -> Impl:
    return _impl(lambda p: (p["x"] + p["y"]) * p["z"], {k: d[k] for k in "xyz"})


def scalar_mlp(d: dict[str, Any]) -> Impl:
    def loss_fn(p: dict[str, Any]) -> Any:
        W = {}
        for name in SCALAR_MLP_PARAMS:
            W[name] = np.empty(d[name].shape, dtype=object)
            for index in np.ndindex(d[name].shape):
                W[name][index] = p[name][index]
        return scalar_mlp_loss(W, d, _relu, anp.square)

    return _impl(loss_fn, {name: d[name] for name in SCALAR_MLP_PARAMS})


def mlp_tensor(d: dict[str, Any]) -> Impl:
    X, t = d["X"], d["t"]

    def loss_fn(p: dict[str, Any]) -> Any:
        h = _relu(anp.dot(_relu(anp.dot(X, p["W1"]) + p["b1"]), p["W2"]) + p["b2"])
        return anp.mean(anp.square((anp.dot(h, p["W3"]) + p["b3"])[:, 0] - t))

    return _impl(loss_fn, {name: d[name] for name in SCALAR_MLP_PARAMS})


def two_layer(d: dict[str, Any]) -> Impl:
    X, y, lam = d["X"], d["y"], d["lam"]
    rows = np.arange(len(X))

    def loss_fn(p: dict[str, Any]) -> Any:
        scores = anp.dot(_relu(anp.dot(X, p["W1"])), p["W2"])
        data_loss = anp.mean(logsumexp(scores, axis=1) - scores[rows, y])
        return data_loss + lam * (anp.sum(p["W1"] * p["W1"]) + anp.sum(p["W2"] * p["W2"]))

    return _impl(loss_fn, {"W1": d["W1"], "W2": d["W2"]})


def svm(d: dict[str, Any]) -> Impl:
    X, y, delta, lam = d["X"], d["y"], d["delta"], d["lam"]
    rows = np.arange(len(X))
    wrong_class = np.ones((len(X), d["c"]))
    wrong_class[rows, y] = 0.0

    def loss_fn(p: dict[str, Any]) -> Any:
        scores = anp.dot(X, p["W"])
        margins = _relu(scores - scores[rows, y][:, None] + delta) * wrong_class
        return anp.sum(margins) / len(X) + lam * anp.sum(p["W"] * p["W"])

    return _impl(loss_fn, {"W": d["W"]})


def chain(d: dict[str, Any]) -> Impl:
    ops = chain_ops(d["ops"])
    return _impl(lambda p: anp.sum(run_chain(p["x"], ops, anp.square, _relu)), {"x": d["x"]})
