"""Hand-written numpy: each workload's forward pass and its analytic backward pass, written out by hand and
vectorized (the circuit in plain Python floats). This is the baseline every other system is checked
against and compared with."""

from __future__ import annotations

from typing import Any

import numpy as np
from workloads import CHAIN_C, Impl, chain_ops


def version() -> str:
    return np.__version__


def _as_arrays(loss: float, grads: dict[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
    return float(loss), {name: np.asarray(g, dtype=np.float64) for name, g in grads.items()}


def circuit(d: dict[str, Any]) -> Impl:
    x, y, z = d["x"], d["y"], d["z"]

    def step() -> tuple[float, float, float, float]:
        q = x + y
        f = q * z
        dq, dz = z, q  # the mul gate swaps its inputs
        return f, dq, dq, dz  # the add gate passes dq to both x and y

    return Impl(step, lambda out: _as_arrays(out[0], dict(zip("xyz", out[1:], strict=True))))


def scalar_mlp(d: dict[str, Any]) -> Impl:
    X, t = d["X"], d["t"]
    W1, b1, W2, b2, W3, b3 = (d[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    p = len(X)

    def step() -> tuple[float, dict[str, np.ndarray]]:
        a1 = X @ W1 + b1
        h1 = np.maximum(a1, 0.0)
        a2 = h1 @ W2 + b2
        h2 = np.maximum(a2, 0.0)
        diff = (h2 @ W3 + b3)[:, 0] - t
        loss = diff @ diff / p
        dout = (2.0 / p) * diff[:, None]
        da2 = (dout @ W3.T) * (a2 > 0)
        da1 = (da2 @ W2.T) * (a1 > 0)
        grads = {
            "W1": X.T @ da1,
            "b1": da1.sum(0),
            "W2": h1.T @ da2,
            "b2": da2.sum(0),
            "W3": h2.T @ dout,
            "b3": dout.sum(0),
        }
        return loss, grads

    return Impl(step, lambda out: _as_arrays(*out))


def two_layer(d: dict[str, Any]) -> Impl:
    X, y, W1, W2, lam = d["X"], d["y"], d["W1"], d["W2"], d["lam"]
    n = len(X)
    rows = np.arange(n)

    def step() -> tuple[float, dict[str, np.ndarray]]:
        hidden_in = X @ W1
        hidden = np.maximum(hidden_in, 0.0)
        scores = hidden @ W2
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        data_loss = np.mean(np.log(sum_exp) - shifted[rows, y])
        loss = data_loss + lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = exp / sum_exp[:, None]
        dscores[rows, y] -= 1.0
        dscores /= n
        dW2 = hidden.T @ dscores
        dW2 += 2.0 * lam * W2
        dhidden = dscores @ W2.T
        dhidden[hidden_in <= 0] = 0.0
        dW1 = X.T @ dhidden
        dW1 += 2.0 * lam * W1
        return loss, {"W1": dW1, "W2": dW2}

    return Impl(step, lambda out: _as_arrays(*out))


def svm(d: dict[str, Any]) -> Impl:
    X, y, W, delta, lam = d["X"], d["y"], d["W"], d["delta"], d["lam"]
    n = len(X)
    rows = np.arange(n)

    def step() -> tuple[float, dict[str, np.ndarray]]:
        scores = X @ W
        margins = np.maximum(0.0, scores - scores[rows, y][:, None] + delta)
        margins[rows, y] = 0.0
        loss = margins.sum() / n + lam * np.sum(W * W)
        counts = (margins > 0).astype(np.float64)
        counts[rows, y] = -counts.sum(axis=1)
        dW = X.T @ counts
        dW /= n
        dW += 2.0 * lam * W
        return loss, {"W": dW}

    return Impl(step, lambda out: _as_arrays(*out))


def chain(d: dict[str, Any]) -> Impl:
    x0, ops = d["x"], chain_ops(d["ops"])

    def step() -> tuple[float, dict[str, np.ndarray]]:
        inputs = []
        x = x0
        for op in ops:
            inputs.append(x)
            if op == "mul":
                x = x * CHAIN_C
            elif op == "add":
                x = x + CHAIN_C
            elif op == "square":
                x = x * x
            else:
                x = np.maximum(x, 0.0)
        loss = x.sum()
        grad = np.ones_like(x)
        for op, x_in in zip(reversed(ops), reversed(inputs), strict=True):
            if op == "mul":
                grad = grad * CHAIN_C
            elif op == "square":
                grad = grad * (2.0 * x_in)
            elif op == "relu":
                grad = grad * (x_in > 0)
        return loss, {"x": grad}

    return Impl(step, lambda out: _as_arrays(*out))
