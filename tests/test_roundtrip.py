"""Saving and loading specs: load -> save -> load is the identity (models, values, float64 bits), saving is
deterministic (same bytes twice, stable key order) and atomic (a failed save leaves the old file and no
temporary file behind)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from helpers import snapshot, write_spec

import graphdiff as gd

#: float64 values whose text form is easy to get wrong: negative zero, the smallest subnormal, the
#: smallest normal, the largest finite, and two that have no exact decimal form.
TRICKY_FLOATS = [
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1,
    1 / 3,
    -1.5e-310,
    -1.7976931348623157e308,
    2.0**-1074 * 3,
    1e16 + 2,
]


def rich_spec() -> dict[str, Any]:
    """A spec using most of the format: $schema, descriptions, symbolic shapes, initializers, float32,
    int64, attrs, outputs and a loss."""
    return {
        "$schema": "../schemas/graphdiff-v1.schema.json",
        "format_version": 1,
        "name": "rich",
        "description": "a two-layer net — ünïcode kept as is",
        "leaves": [
            {"id": "X", "kind": "input", "shape": ["N", 2], "description": "a batch"},
            {"id": "y", "kind": "input", "dtype": "int64", "shape": ["N"], "value": [0, 2]},
            {
                "id": "W1",
                "kind": "parameter",
                "shape": [2, 4],
                "value": {"init": "normal", "std": 0.5, "seed": 3},
            },
            {"id": "b1", "kind": "parameter", "shape": [4], "value": {"init": "zeros"}},
            {
                "id": "W2",
                "kind": "parameter",
                "shape": [4, 3],
                "value": {"init": "uniform", "low": -0.5, "high": 0.5, "seed": 1},
            },
            {"id": "scale", "kind": "constant", "dtype": "float32", "value": [0.1, 0.2, 0.3]},
            {"id": "c", "kind": "constant", "value": TRICKY_FLOATS},
        ],
        "nodes": [
            {"id": "h0", "op": "matmul", "inputs": ["X", "W1"]},
            {"id": "h1", "op": "add", "inputs": ["h0", "b1"]},
            {"id": "h", "op": "tanh", "inputs": ["h1"], "description": "hidden layer"},
            {"id": "s0", "op": "matmul", "inputs": ["h", "W2"]},
            {"id": "s", "op": "mul", "inputs": ["s0", "scale"]},
            {"id": "data_loss", "op": "softmax_cross_entropy", "inputs": ["s", "y"]},
            {"id": "reg", "op": "l2_regularization", "inputs": ["W2"], "attrs": {"lambda": 0.001}},
            {"id": "loss", "op": "add", "inputs": ["data_loss", "reg"]},
            {"id": "colsum", "op": "sum", "inputs": ["s"], "attrs": {"axis": 0, "keepdims": True}},
            {"id": "cc", "op": "mul", "inputs": ["c", "c"]},
        ],
        "outputs": ["s", "colsum", "cc"],
        "loss": "loss",
    }


FEEDS = {"X": np.array([[0.5, -1.0], [2.0, 0.25]]), "y": np.array([0, 2])}


def bits(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float64).view(np.uint64)


def assert_same_results(a: gd.Result, b: gd.Result) -> None:
    assert set(a.values) == set(b.values)
    assert set(a.grads) == set(b.grads)
    for id, value in a.values.items():
        assert value.dtype == b.value(id).dtype, id
        np.testing.assert_array_equal(value, b.value(id), err_msg=id, strict=True)
    for id, grad in a.grads.items():
        np.testing.assert_array_equal(grad, b.grad(id), err_msg=id, strict=True)


def test_load_save_load_gives_an_identical_spec_and_identical_results(tmp_path):
    original = gd.load(write_spec(tmp_path, "rich.json", rich_spec()))
    saved = original.save(tmp_path / "copy.json")
    copy = gd.load(saved)

    assert copy.spec == original.spec
    with np.errstate(over="ignore"):  # c * c overflows on purpose
        assert_same_results(original.run(FEEDS), copy.run(FEEDS))


def test_float64_values_survive_saving_bit_for_bit(tmp_path):
    spec = {
        "format_version": 1,
        "name": "floats",
        "leaves": [{"id": "c", "kind": "constant", "value": TRICKY_FLOATS}],
        "outputs": ["c"],
    }
    first = gd.load(write_spec(tmp_path, "floats.json", spec))
    second = gd.load(first.save(tmp_path / "again.json"))

    value = second.forward().value("c")
    assert [float(v).hex() for v in value] == [float(v).hex() for v in TRICKY_FLOATS]
    assert np.array_equal(bits(value), bits(np.array(TRICKY_FLOATS)))
    assert np.signbit(value[0])  # -0.0 is not 0.0
    text = (tmp_path / "again.json").read_text()
    assert "-0.0" in text
    assert "5e-324" in text


def test_float64_values_from_the_python_api_survive_saving_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [np.array(TRICKY_FLOATS), rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50)]
    )
    graph = gd.Graph("random floats")
    graph.add_output(graph.constant("c", values))

    loaded = gd.load(graph.save(tmp_path / "random.json"))

    assert np.array_equal(bits(loaded.forward().value("c")), bits(values))


def test_saving_twice_gives_identical_bytes_and_a_fixed_point(tmp_path):
    graph = gd.load(write_spec(tmp_path, "rich.json", rich_spec()))
    first = graph.save(tmp_path / "a.json").read_bytes()
    second = graph.save(tmp_path / "b.json").read_bytes()
    third = gd.load(tmp_path / "b.json").save(tmp_path / "c.json").read_bytes()
    assert first == second == third


def test_saved_files_have_a_stable_key_order_whatever_the_input_order(tmp_path):
    spec = rich_spec()
    scrambled = {key: spec[key] for key in reversed(list(spec))}
    scrambled["leaves"] = [{k: leaf[k] for k in reversed(list(leaf))} for leaf in spec["leaves"]]
    scrambled["nodes"] = [{k: node[k] for k in reversed(list(node))} for node in spec["nodes"]]
    assert list(scrambled) != list(spec)

    plain = gd.load(write_spec(tmp_path, "plain.json", spec)).save(tmp_path / "plain-out.json")
    shuffled = gd.load(write_spec(tmp_path, "shuffled.json", scrambled)).save(tmp_path / "shuffled-out.json")

    assert plain.read_bytes() == shuffled.read_bytes()
    saved = json.loads(plain.read_text())
    assert list(saved) == [
        "$schema",
        "format_version",
        "name",
        "description",
        "leaves",
        "nodes",
        "outputs",
        "loss",
    ]
    for leaf in saved["leaves"]:
        order = ["id", "kind", "dtype", "shape", "value", "description"]
        assert list(leaf) == [key for key in order if key in leaf]
    for node in saved["nodes"]:
        order = ["id", "op", "inputs", "attrs", "description"]
        assert list(node) == [key for key in order if key in node]
    assert saved["nodes"][6]["attrs"] == {"lambda": 0.001}  # an attr alias is written under its file name


# --- atomic saving --------------------------------------------------------------------------------------


def fail_replace(*args: Any, **kwargs: Any) -> None:
    raise OSError(28, "No space left on device")


class PowerCut(Exception):
    pass


def fail_fsync(fd: int) -> None:
    raise PowerCut("the machine lost power mid-save")


@pytest.mark.parametrize(
    ("target", "patch", "error"),
    [("replace", fail_replace, gd.GraphdiffError), ("fsync", fail_fsync, PowerCut)],
    ids=["replace-fails", "write-interrupted"],
)
def test_a_failed_save_leaves_the_old_file_and_no_temporary_file(target, patch, error, tmp_path, monkeypatch):
    graph = gd.load(write_spec(tmp_path, "rich.json", rich_spec()))
    destination = tmp_path / "model.json"
    destination.write_text("the previous version\n")
    before = snapshot(tmp_path)

    monkeypatch.setattr(os, target, patch)
    with pytest.raises(error):
        graph.save(destination)
    monkeypatch.undo()

    assert snapshot(tmp_path) == before
    assert destination.read_text() == "the previous version\n"


def test_a_failed_result_save_leaves_no_file(tmp_path, monkeypatch):
    graph = gd.load(write_spec(tmp_path, "rich.json", rich_spec()))
    with np.errstate(over="ignore"):
        result = graph.run(FEEDS)
    before = snapshot(tmp_path)
    monkeypatch.setattr(os, "replace", fail_replace)
    for name in ("results.npz", "results.json"):
        with pytest.raises(gd.GraphdiffError, match="No space left on device"):
            result.save(tmp_path / name)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_saving_into_a_missing_folder_fails_cleanly(tmp_path):
    graph = gd.load(write_spec(tmp_path, "rich.json", rich_spec()))
    before = snapshot(tmp_path)
    with pytest.raises(gd.GraphdiffError, match="does not exist"):
        graph.save(tmp_path / "no" / "such" / "folder.json")
    assert snapshot(tmp_path) == before


# --- graphs built in Python -----------------------------------------------------------------------------


def python_graph() -> gd.Graph:
    g = gd.Graph("built in python", "h = sigmoid(X W + b); loss = mean((h * v - t)^2) + 0.5 * sum(W * W)")
    X = g.input("X", shape=["N", 3])
    t = g.input("t", shape=["N"], value=[1.0, -1.0])
    W = g.parameter("W", [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    b = g.parameter("b", {"init": "uniform", "low": -0.1, "high": 0.1, "seed": 7}, shape=[2])
    v = g.constant("v", [1.5, -2.0])
    h = gd.sigmoid(gd.matmul(X, W) + b, id="h")
    pred = gd.matmul(h, v, id="pred")
    err = (pred - t) * (pred - t)
    loss = (gd.mean(err) + 0.5 * (W * W).sum()).named("loss")
    g.add_output(pred)
    g.set_loss(loss)
    return g


def test_a_graph_built_in_python_saves_and_loads_back_to_the_same_results(tmp_path):
    built = python_graph()
    feeds = {"X": [[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]}
    expected = built.run(feeds)

    loaded = gd.load(built.save(tmp_path / "python.json"))

    assert loaded.spec == built.spec
    assert_same_results(expected, loaded.run(feeds))
    # and the numbers are the math, not just self-consistent
    X = np.array(feeds["X"])
    W = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    h = 1 / (1 + np.exp(-(X @ W + expected.value("b"))))
    pred = h @ np.array([1.5, -2.0])
    np.testing.assert_allclose(expected.value("pred"), pred, rtol=1e-12)
    np.testing.assert_allclose(
        expected.loss, np.mean((pred - np.array([1.0, -1.0])) ** 2) + 0.5 * np.sum(W * W), rtol=1e-12
    )


def test_a_saved_python_graph_is_stable_text(tmp_path):
    first = python_graph().save(tmp_path / "one.json").read_bytes()
    second = python_graph().save(tmp_path / "two.json").read_bytes()
    assert first == second
    assert json.loads(first)["format_version"] == gd.FORMAT_VERSION


def test_array_file_references_round_trip(tmp_path):
    np.save(tmp_path / "w.npy", np.array([1.0, -0.0, 5e-324]))
    spec = {
        "format_version": 1,
        "name": "files",
        "leaves": [{"id": "w", "kind": "parameter", "shape": [3], "value": {"file": "w.npy"}}],
        "outputs": ["w"],
    }
    graph = gd.load(write_spec(tmp_path, "files.json", spec))
    copy = gd.load(graph.save(tmp_path / "copy.json"))
    assert copy.spec == graph.spec
    assert json.loads((tmp_path / "copy.json").read_text())["leaves"][0]["value"] == {"file": "w.npy"}
    assert np.array_equal(bits(copy.forward().value("w")), bits(np.array([1.0, -0.0, 5e-324])))
