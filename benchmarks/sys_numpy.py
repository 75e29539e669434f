"""Hand-written numpy: each workload's forward pass and its analytic backward pass, written out by hand and
vectorized (the circuit in plain Python floats). This is the baseline every other system is checked
against and compared with."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from workloads import CHAIN_C, CNN_PARAMS, Impl, chain_ops


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


#: The tensor MLP is the same network on the same data, and the scalar MLP's numpy is already vectorized.
mlp_tensor = scalar_mlp


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


# --- the CNN: channels-last (N, H, W, C) inside, im2col + one matrix product per convolution -------------


def _im2col(x: np.ndarray) -> np.ndarray:
    """The 3x3 patches (padding 1) of ``x`` (N, H, W, C), one row per output pixel, each in the
    (C, kH, kW) order of a (O, C, kH, kW) weight: (N H W, C 9), a copy."""
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2, w + 2, c))
    padded[:, 1:-1, 1:-1, :] = x
    return sliding_window_view(padded, (3, 3), axis=(1, 2)).reshape(n * h * w, c * 9)


def _col2im(dcols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of :func:`_im2col`: each patch's gradient added back where the patch came from."""
    n, h, w, c = shape
    dcols = dcols.reshape(n, h, w, c, 3, 3)
    dpadded = np.zeros((n, h + 2, w + 2, c))
    for i in range(3):
        for j in range(3):
            dpadded[:, i : i + h, j : j + w, :] += dcols[..., i, j]
    return dpadded[:, 1:-1, 1:-1, :]


def _pool_windows(x: np.ndarray) -> np.ndarray:
    """``x`` (N, H, W, C) as its 2x2 windows: (N, H/2, 2, W/2, 2, C), a view."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c)


#: How far apart the two largest values of a pooling window through which gradient flows, and every
#: pre-activation from relu's kink at 0, must be (see workloads.cnn_data): far more than the rounding
#: differences between systems (about 1e-16 here), so that all of them send the gradient the same way.
CNN_TIE_MARGIN = 1e-9


def cnn_ties(pre_activations: list[np.ndarray]) -> list[str]:
    """What in the CNN's data could make correct systems' gradients differ: a pre-activation (N, H, W, C)
    within CNN_TIE_MARGIN of 0, or a pooling window whose largest relu output is positive and within the
    margin of the second largest (graphdiff would split its gradient, PyTorch and JAX would not)."""
    problems = []
    for layer, z in enumerate(pre_activations, start=1):
        near_kink = int(np.sum(np.abs(z) <= CNN_TIE_MARGIN))
        if near_kink:
            problems.append(f"conv{layer}: {near_kink} pre-activations within {CNN_TIE_MARGIN:g} of 0")
        n, h, w, c = z.shape
        windows = np.maximum(_pool_windows(z), 0.0).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
        top2 = np.sort(windows, axis=1)[:, -2:]
        tied = int(np.sum((top2[:, 1] > 0) & (top2[:, 1] - top2[:, 0] <= CNN_TIE_MARGIN)))
        if tied:
            problems.append(f"pool{layer}: {tied} windows whose largest value ties (gradient flows there)")
    return problems


def cnn(d: dict[str, Any]) -> Impl:
    X, y, lam = d["X"], d["y"], d["lam"]
    W1, b1, W2, b2, W3, b3 = (d[k] for k in CNN_PARAMS)
    n = len(X)
    rows = np.arange(n)
    side = int(round(np.sqrt(X.shape[1] // W1.shape[1])))
    # The weights as matrices (C 9, O), for patches in (C, kH, kW) order.
    W1m, W2m = W1.reshape(len(W1), -1).T, W2.reshape(len(W2), -1).T
    # Conv 1's patches are the same in every run (its input is data, not a parameter).
    cols1 = _im2col(X.reshape(n, W1.shape[1], side, side).transpose(0, 2, 3, 1))

    def forward() -> tuple[np.ndarray, ...]:
        z1 = (cols1 @ W1m + b1).reshape(n, side, side, -1)  # conv 1 (N, 8, 8, 8)
        h1 = np.maximum(z1, 0.0)
        p1 = _pool_windows(h1).max(axis=(2, 4))  # (N, 4, 4, 8)
        cols2 = _im2col(p1)
        z2 = (cols2 @ W2m + b2).reshape(n, side // 2, side // 2, -1)  # conv 2 (N, 4, 4, 16)
        h2 = np.maximum(z2, 0.0)
        p2 = _pool_windows(h2).max(axis=(2, 4))  # (N, 2, 2, 16)
        features = p2.transpose(0, 3, 1, 2).reshape(n, -1)  # flattened in (C, H, W) order, as NCHW
        scores = features @ W3 + b3
        return z1, h1, p1, cols2, z2, h2, p2, features, scores

    first = forward()
    problems = cnn_ties([first[0], first[4]])
    if problems:
        raise ValueError(
            "the CNN's data has max-pool ties or relu kinks that correct systems treat differently: "
            + "; ".join(problems)
        )
    del first

    def pool_relu_backward(dpooled: np.ndarray, h: np.ndarray, pooled: np.ndarray, z: np.ndarray):
        """Through the 2x2 max pool (to its window's largest element) and the relu before it."""
        windows = _pool_windows(h)
        at_max = windows == pooled[:, :, None, :, None, :]
        dz = np.where(at_max, dpooled[:, :, None, :, None, :], 0.0).reshape(h.shape)
        dz *= z > 0
        return dz

    def step() -> tuple[float, dict[str, np.ndarray]]:
        z1, h1, p1, cols2, z2, h2, p2, features, scores = forward()
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        data_loss = np.mean(np.log(sum_exp) - shifted[rows, y])
        loss = data_loss + lam * (np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))

        dscores = exp / sum_exp[:, None]
        dscores[rows, y] -= 1.0
        dscores /= n
        dW3 = features.T @ dscores
        dW3 += 2.0 * lam * W3
        db3 = dscores.sum(axis=0)
        dp2 = (dscores @ W3.T).reshape(n, p2.shape[3], p2.shape[1], p2.shape[2]).transpose(0, 2, 3, 1)

        dz2 = pool_relu_backward(dp2, h2, p2, z2).reshape(-1, z2.shape[3])  # (N 4 4, 16)
        dW2 = (cols2.T @ dz2).T.reshape(W2.shape)
        dW2 += 2.0 * lam * W2
        db2 = dz2.sum(axis=0)
        dp1 = _col2im(dz2 @ W2m.T, p1.shape)

        dz1 = pool_relu_backward(dp1, h1, p1, z1).reshape(-1, z1.shape[3])  # (N 8 8, 8)
        dW1 = (cols1.T @ dz1).T.reshape(W1.shape)
        dW1 += 2.0 * lam * W1
        db1 = dz1.sum(axis=0)
        grads = dict(zip(CNN_PARAMS, (dW1, db1, dW2, db2, dW3, db3), strict=True))
        return loss, grads

    return Impl(step, lambda out: _as_arrays(*out))
