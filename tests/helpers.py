"""Shared helpers for the file-format, CLI and executor tests: spec builders, CLI runners, snapshots.

Specs are plain dicts built fresh by each function, so a test may change its copy freely.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphdiff as gd

# --- specs --------------------------------------------------------------------------------------------


def circuit_spec() -> dict[str, Any]:
    """f = (x + y) * z with z a (3,) input without default, L = sum(f).

    With the defaults x = -2, y = 5: q = 3, f = 3 z, L = 3 sum(z), dL/dz = 3, dL/dx = dL/dy = sum(z).
    """
    return {
        "format_version": 1,
        "name": "circuit",
        "leaves": [
            {"id": "x", "kind": "input", "value": -2.0},
            {"id": "y", "kind": "input", "value": 5.0},
            {"id": "z", "kind": "input", "shape": [3]},
        ],
        "nodes": [
            {"id": "q", "op": "add", "inputs": ["x", "y"]},
            {"id": "f", "op": "mul", "inputs": ["q", "z"]},
            {"id": "L", "op": "sum", "inputs": ["f"]},
        ],
        "outputs": ["f", "L"],
        "loss": "L",
    }


def scalar_circuit_spec() -> dict[str, Any]:
    """The CS231n circuit f = (x + y) z at x = -2, y = 5, z = -4: f = -12, df/dx = df/dy = -4, df/dz = 3."""
    return {
        "format_version": 1,
        "name": "cs231n",
        "leaves": [
            {"id": "x", "kind": "input", "value": -2.0},
            {"id": "y", "kind": "input", "value": 5.0},
            {"id": "z", "kind": "input", "value": -4.0},
        ],
        "nodes": [
            {"id": "q", "op": "add", "inputs": ["x", "y"]},
            {"id": "f", "op": "mul", "inputs": ["q", "z"]},
        ],
        "outputs": ["f"],
        "loss": "f",
    }


def classifier_spec() -> dict[str, Any]:
    """Softmax classifier: X (N, 3) and int64 labels y (N,), parameter W (3, 2), L = CE(X @ W, y)."""
    return {
        "format_version": 1,
        "name": "classifier",
        "leaves": [
            {"id": "X", "kind": "input", "shape": ["N", 3]},
            {"id": "y", "kind": "input", "dtype": "int64", "shape": ["N"]},
            {
                "id": "W",
                "kind": "parameter",
                "shape": [3, 2],
                "value": {"init": "normal", "std": 0.1, "seed": 0},
            },
        ],
        "nodes": [
            {"id": "scores", "op": "matmul", "inputs": ["X", "W"]},
            {"id": "L", "op": "softmax_cross_entropy", "inputs": ["scores", "y"]},
        ],
        "loss": "L",
    }


def log_spec() -> dict[str, Any]:
    """L = sum(log(x)) with x an input defaulting to [1, 0] (so log gives -inf at x[1])."""
    return {
        "format_version": 1,
        "name": "logs",
        "leaves": [{"id": "x", "kind": "input", "value": [1.0, 0.0]}],
        "nodes": [
            {"id": "lx", "op": "log", "inputs": ["x"]},
            {"id": "L", "op": "sum", "inputs": ["lx"]},
        ],
        "loss": "L",
    }


def spec_text(
    leaves: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    loss: str | None = None,
    outputs: list[str] | None = None,
) -> str:
    """A small spec "t" as JSON text; its outputs are ``outputs`` or else the last node."""
    document: dict[str, Any] = {
        "format_version": 1,
        "name": "t",
        "leaves": leaves,
        "nodes": nodes,
        "outputs": outputs or [nodes[-1]["id"]],
    }
    if loss is not None:
        document["loss"] = loss
    return json.dumps(document)


def load_spec(leaves: list[dict[str, Any]], nodes: list[dict[str, Any]], loss: str | None = None) -> gd.Graph:
    """That spec loaded and checked as a file "t.json" (the path users take)."""
    return gd.loads(spec_text(leaves, nodes, loss), label="t.json")


def spec_error(text: str, kind: type[gd.GraphdiffError] = gd.SpecError) -> str:
    """The message of the error that loading and checking ``text`` must raise."""
    with pytest.raises(kind) as excinfo:
        _ = gd.loads(text, label="t.json").checked
    return str(excinfo.value)


@contextlib.contextmanager
def strict_numpy() -> Iterator[None]:
    """No floating-point warning or error may pass unnoticed."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


def write_spec(folder: Path, name: str, content: dict[str, Any] | str | bytes) -> Path:
    """Write a spec (a dict as JSON, or raw text/bytes as they are) and return its path."""
    path = Path(folder) / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=1), encoding="utf-8")
    return path


# --- running the CLI ------------------------------------------------------------------------------------


def run_cli(
    *args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m graphdiff.cli ARGS`` in ``cwd`` (with ``env``, else this process's) and capture its
    output."""
    return subprocess.run(
        [sys.executable, "-m", "graphdiff.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def problem_lines(text: str) -> list[str]:
    """The non-empty lines of a stream."""
    return [line for line in text.splitlines() if line.strip()]


def problems_of(exc: gd.GraphdiffError) -> list[str]:
    """An error's problems as the one-line strings the CLI prints; checks each is one line."""
    lines = [str(p) for p in exc.problems]
    for line in lines:
        assert "\n" not in line, f"a problem spans several lines: {line!r}"
    return lines


# --- folder snapshots -----------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes | str | None]:
    """Every entry under ``folder`` (hidden ones too): file -> bytes, link -> target, folder -> None."""
    entries: dict[str, bytes | str | None] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                entries[key] = "symlink -> " + os.readlink(path)
            elif path.is_dir():
                entries[key] = None
            else:
                entries[key] = path.read_bytes()
    return entries


def lab_feeds(name: str) -> dict[str, np.ndarray]:
    """Five examples of the data each lab example is made for (random images stand in for the digits)."""
    if name == "spiral_two_layer":
        data = gd.optimize.spiral()
        # Rows whose 500 hidden ReLU inputs all stay 2e-5 away from the kink at 0 (row 0, the origin,
        # puts every one of them exactly on it).
        return {key: array[18::60] for key, array in data.arrays.items()}
    rng = np.random.default_rng(0)
    return {"X": rng.uniform(0, 1, (5, 64)), "y": np.array([0, 3, 9, 3, 7])}


def grouped_spec() -> dict:
    """A two-cluster graph (layer1/, out/): for --collapse and cluster tests."""
    return {
        "format_version": 1,
        "name": "g",
        "leaves": [
            {"id": "layer1/x", "kind": "input", "value": 1.0},
            {"id": "layer1/y", "kind": "input", "value": 2.0},
        ],
        "nodes": [
            {"id": "layer1/q", "op": "add", "inputs": ["layer1/x", "layer1/y"]},
            {"id": "out/f", "op": "mul", "inputs": ["layer1/q", "layer1/x"]},
        ],
        "loss": "out/f",
    }


def call(capsys, *args: object) -> tuple[int, str, str]:
    """``graphdiff ARGS`` in-process: (exit code, stdout, stderr); argparse's SystemExit is an exit code."""
    from graphdiff.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
