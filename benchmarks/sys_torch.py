"""PyTorch, CPU eager mode, float64. Each step builds the graph and calls ``torch.autograd.grad``; the
number of intra-op threads is torch's default (reported), unless run.py's ``--threads`` sets it."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from workloads import CNN_PARAMS, SCALAR_MLP_PARAMS, Impl, chain_ops, run_chain, scalar_mlp_loss

torch.set_default_dtype(torch.float64)
if os.environ.get("BENCH_TORCH_THREADS"):
    torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))


def version() -> str:
    threads = torch.get_num_threads()
    return f"{torch.__version__} ({threads} thread{'s' if threads != 1 else ''})"


def _leaf(array: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=True)


def _impl(params: dict[str, Any], loss_fn) -> Impl:
    """``loss_fn()`` computes the loss from ``params`` (tensors, or object arrays of 0-d tensors)."""
    leaves = [t for p in params.values() for t in (p.flat if isinstance(p, np.ndarray) else [p])]

    def step() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        loss = loss_fn()
        return loss, torch.autograd.grad(loss, leaves)

    def collect(out: Any) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = out
        result, start = {}, 0
        for name, param in params.items():
            if isinstance(param, np.ndarray):  # scalars: one gradient per element
                size = param.size
                flat = [g.item() for g in grads[start : start + size]]
                result[name] = np.reshape(np.array(flat, dtype=np.float64), param.shape)
            else:
                size = 1
                result[name] = grads[start].detach().numpy()
            start += size
        return loss.item(), result

    return Impl(step, collect)


def circuit(d: dict[str, Any]) -> Impl:
    x, y, z = (_leaf(d[k]) for k in "xyz")
    return _impl({"x": x, "y": y, "z": z}, lambda: (x + y) * z)


def scalar_mlp(d: dict[str, Any]) -> Impl:
    """64,300 ops on 0-d tensors: one tensor per weight, the inputs as Python floats."""
    W = {}
    for name in SCALAR_MLP_PARAMS:
        W[name] = np.empty(d[name].shape, dtype=object)
        for index, value in np.ndenumerate(d[name]):
            W[name][index] = _leaf(value)
    return _impl(W, lambda: scalar_mlp_loss(W, d, torch.relu, torch.square))


def mlp_tensor(d: dict[str, Any]) -> Impl:
    """The scalar MLP's network as three matmuls with their bias adds, relu and F.mse_loss."""
    X, t = torch.from_numpy(d["X"]), torch.from_numpy(d["t"])
    P = {name: _leaf(d[name]) for name in SCALAR_MLP_PARAMS}
    W1, b1, W2, b2, W3, b3 = P.values()

    def loss_fn() -> torch.Tensor:
        h = torch.relu(torch.relu(X @ W1 + b1) @ W2 + b2)
        return F.mse_loss((h @ W3 + b3)[:, 0], t)

    return _impl(P, loss_fn)


def two_layer(d: dict[str, Any]) -> Impl:
    X, y, lam = torch.from_numpy(d["X"]), torch.from_numpy(d["y"]), d["lam"]
    W1, W2 = _leaf(d["W1"]), _leaf(d["W2"])

    def loss_fn() -> torch.Tensor:
        scores = torch.relu(X @ W1) @ W2
        return F.cross_entropy(scores, y) + lam * ((W1 * W1).sum() + (W2 * W2).sum())

    return _impl({"W1": W1, "W2": W2}, loss_fn)


def svm(d: dict[str, Any]) -> Impl:
    X, y, delta, lam = torch.from_numpy(d["X"]), torch.from_numpy(d["y"]), d["delta"], d["lam"]
    correct_class = F.one_hot(y, d["c"]).bool()
    W = _leaf(d["W"])

    def loss_fn() -> torch.Tensor:
        scores = X @ W
        margins = torch.relu(scores - scores.gather(1, y[:, None]) + delta)
        margins = margins.masked_fill(correct_class, 0.0)
        return margins.sum() / len(X) + lam * (W * W).sum()

    return _impl({"W": W}, loss_fn)


def chain(d: dict[str, Any]) -> Impl:
    x, ops = _leaf(d["x"]), chain_ops(d["ops"])
    return _impl({"x": x}, lambda: run_chain(x, ops, torch.square, torch.relu).sum())


def cnn(d: dict[str, Any]) -> Impl:
    """torch.nn.functional's conv2d, relu, max_pool2d and cross_entropy, as examples/digits_cnn.json."""
    P = {name: _leaf(d[name]) for name in CNN_PARAMS}
    channels = P["conv1/W"].shape[1]
    side = round((d["X"].shape[1] // channels) ** 0.5)
    X, y, lam = torch.from_numpy(d["X"]).reshape(-1, channels, side, side), torch.from_numpy(d["y"]), d["lam"]
    W1, b1, W2, b2, W3, b3 = P.values()

    def loss_fn() -> torch.Tensor:
        h = F.max_pool2d(torch.relu(F.conv2d(X, W1, b1, padding=1)), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, W2, b2, padding=1)), 2)
        scores = h.flatten(1) @ W3 + b3
        return F.cross_entropy(scores, y) + lam * ((W1 * W1).sum() + (W2 * W2).sum() + (W3 * W3).sum())

    return _impl(P, loss_fn)
