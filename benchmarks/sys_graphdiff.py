"""graphdiff: each workload written as a spec file, loaded with ``gd.load`` (checked), compiled once; only
the compiled plan's forward and backward passes are timed."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import specs
from workloads import WORKLOADS, Impl

import graphdiff as gd
from graphdiff.executor import bind_feeds

# Inside the folder run.py gives each worker (removed even if the worker is stopped), else a new one.
_folder = Path(tempfile.mkdtemp(prefix="graphdiff-bench-", dir=os.environ.get("BENCH_TMPDIR")))
atexit.register(shutil.rmtree, _folder, ignore_errors=True)


def version() -> str:
    """graphdiff's version and the git commit it runs from ("+changes": its sources differ from it)."""
    text = metadata.version("graphdiff")
    source = Path(gd.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "."], cwd=source, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} (git {commit}{' +changes' if changed else ''})" if commit else text


def _compiled(workload: str, d: dict[str, Any], feeds: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """Write the workload's spec, then load, check and compile it; returns the plan, its bound leaf
    values, its parameter ids and what the build cost."""
    path, n_leaves, n_nodes = getattr(specs, workload)(_folder / workload, d)
    start = time.perf_counter()
    graph = gd.load(path)
    loaded = time.perf_counter()
    plan = graph.plan
    compiled = time.perf_counter()
    info = {
        "leaves": n_leaves,
        "nodes": n_nodes,
        "load_check_s": loaded - start,
        "compile_s": compiled - loaded,
    }
    return plan, bind_feeds(plan.graph, feeds), graph.checked.ids_of_kind("parameter"), info


def _impl(workload: str, d: dict[str, Any], feeds: dict[str, Any] | None = None, gather=None) -> Impl:
    plan, values, param_ids, info = _compiled(workload, d, feeds)
    loss_id = plan.graph.loss

    def step() -> tuple[Any, Any]:
        trace = plan.forward(values)
        return trace, plan.backward(trace, wrt=param_ids)

    def collect(out: tuple[Any, Any]) -> tuple[float, dict[str, np.ndarray]]:
        trace, gradients = out
        grads = gradients.grads
        if gather is not None:
            grads = gather(grads)
        return float(trace.value(loss_id)), {k: np.asarray(grads[k]) for k in WORKLOADS[workload].params}

    return Impl(step, collect, info)


def circuit(d: dict[str, Any]) -> Impl:
    return _impl("circuit", d)


def scalar_mlp(d: dict[str, Any]) -> Impl:
    shapes = {name: d[name].shape for name in WORKLOADS["scalar_mlp"].params}

    def gather(grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each weight's scalar gradient (``W2_3_5``) put back into its array (W2[3, 5])."""
        arrays = {}
        for name, shape in shapes.items():
            array = np.empty(shape)
            for index in np.ndindex(shape):
                array[index] = grads["_".join((name, *map(str, index)))]
            arrays[name] = array
        return arrays

    return _impl("scalar_mlp", d, gather=gather)


def mlp_tensor(d: dict[str, Any]) -> Impl:
    return _impl("mlp_tensor", d, feeds={"X": d["X"], "t": d["t"][:, None]})


def two_layer(d: dict[str, Any]) -> Impl:
    return _impl("two_layer", d, feeds={"X": d["X"], "y": d["y"]})


def svm(d: dict[str, Any]) -> Impl:
    return _impl("svm", d, feeds={"X": d["X"], "y": d["y"]})


def chain(d: dict[str, Any]) -> Impl:
    return _impl("chain", d)


def cnn(d: dict[str, Any]) -> Impl:
    return _impl("cnn", d, feeds={"X": d["X"], "y": d["y"]})
