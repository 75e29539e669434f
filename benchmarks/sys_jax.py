"""JAX, float64 (x64 enabled): ``jax.jit(jax.value_and_grad(loss))``, compiled while building (the first
call), so only compiled calls are timed; each timed call waits for its results (block_until_ready)."""

from __future__ import annotations

import time
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402 (after enabling float64)
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from workloads import CNN_PARAMS, SCALAR_MLP_PARAMS, Impl, chain_ops, run_chain, scalar_mlp_loss  # noqa: E402


def version() -> str:
    return jax.__version__


def _impl(loss_fn, params: dict[str, Any], *args: Any) -> Impl:
    """``loss_fn(params, *args)``; the gradient is taken with respect to ``params`` (a dict of arrays)."""
    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
    args = tuple(jnp.asarray(a) for a in args)

    def step() -> Any:
        return jax.block_until_ready(value_and_grad(params, *args))

    def collect(out: Any) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = out
        return float(loss), {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}

    start = time.perf_counter()
    step()  # trace and compile
    return Impl(step, collect, {"jit_compile_s": time.perf_counter() - start})


def circuit(d: dict[str, Any]) -> Impl:
    return _impl(lambda p: (p["x"] + p["y"]) * p["z"], {k: d[k] for k in "xyz"})


def scalar_mlp(d: dict[str, Any]) -> Impl:
    """64,300 scalar ops traced (each weight taken out of its array once per call)."""

    def loss_fn(p: dict[str, Any]) -> Any:
        W = {}
        for name in SCALAR_MLP_PARAMS:
            W[name] = np.empty(d[name].shape, dtype=object)
            for index in np.ndindex(d[name].shape):
                W[name][index] = p[name][index]
        return scalar_mlp_loss(W, d, jax.nn.relu, jnp.square)

    return _impl(loss_fn, {name: d[name] for name in SCALAR_MLP_PARAMS})


def mlp_tensor(d: dict[str, Any]) -> Impl:
    def loss_fn(p: dict[str, Any], X: Any, t: Any) -> Any:
        h = jax.nn.relu(jax.nn.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
        return jnp.mean(jnp.square((h @ p["W3"] + p["b3"])[:, 0] - t))

    return _impl(loss_fn, {name: d[name] for name in SCALAR_MLP_PARAMS}, d["X"], d["t"])


def two_layer(d: dict[str, Any]) -> Impl:
    lam = d["lam"]

    def loss_fn(p: dict[str, Any], X: Any, y: Any) -> Any:
        scores = jax.nn.relu(X @ p["W1"]) @ p["W2"]
        correct = jnp.take_along_axis(scores, y[:, None], axis=1)[:, 0]
        data_loss = jnp.mean(jax.nn.logsumexp(scores, axis=1) - correct)
        return data_loss + lam * (jnp.sum(p["W1"] * p["W1"]) + jnp.sum(p["W2"] * p["W2"]))

    return _impl(loss_fn, {"W1": d["W1"], "W2": d["W2"]}, d["X"], d["y"])


def svm(d: dict[str, Any]) -> Impl:
    delta, lam, classes = d["delta"], d["lam"], d["c"]

    def loss_fn(p: dict[str, Any], X: Any, y: Any) -> Any:
        scores = X @ p["W"]
        correct = jnp.take_along_axis(scores, y[:, None], axis=1)
        margins = jax.nn.relu(scores - correct + delta)
        margins = jnp.where(jax.nn.one_hot(y, classes, dtype=bool), 0.0, margins)
        return jnp.sum(margins) / X.shape[0] + lam * jnp.sum(p["W"] * p["W"])

    return _impl(loss_fn, {"W": d["W"]}, d["X"], d["y"])


def chain(d: dict[str, Any]) -> Impl:
    ops = chain_ops(d["ops"])
    return _impl(lambda p: jnp.sum(run_chain(p["x"], ops, jnp.square, jax.nn.relu)), {"x": d["x"]})


def cnn(d: dict[str, Any]) -> Impl:
    """lax.conv_general_dilated (NCHW, OIHW) and a reduce_window max pool, as examples/digits_cnn.json."""
    lam = d["lam"]
    channels = d["conv1/W"].shape[1]
    side = round((d["X"].shape[1] // channels) ** 0.5)

    def conv(x: Any, w: Any, b: Any) -> Any:
        out = lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return out + b[None, :, None, None]

    def pool(x: Any) -> Any:
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(p: dict[str, Any], X: Any, y: Any) -> Any:
        h = X.reshape(-1, channels, side, side)
        h = pool(jax.nn.relu(conv(h, p["conv1/W"], p["conv1/b"])))
        h = pool(jax.nn.relu(conv(h, p["conv2/W"], p["conv2/b"])))
        scores = h.reshape(h.shape[0], -1) @ p["fc/W"] + p["fc/b"]
        correct = jnp.take_along_axis(scores, y[:, None], axis=1)[:, 0]
        data_loss = jnp.mean(jax.nn.logsumexp(scores, axis=1) - correct)
        return data_loss + lam * sum(jnp.sum(p[k] * p[k]) for k in ("conv1/W", "conv2/W", "fc/W"))

    return _impl(loss_fn, {name: d[name] for name in CNN_PARAMS}, d["X"], d["y"])
