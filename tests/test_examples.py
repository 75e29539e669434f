"""The example spec files in examples/: each loads, validates, passes a gradient check, and reproduces the
numbers of the lecture notes it comes from (checked against hand-derived formulas in plain Python)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import lab_feeds

import graphdiff as gd
from graphdiff.examples import cs231n_circuit
from graphdiff.spec import dump_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCHEMA = "../schemas/graphdiff-v1.schema.json"

EXAMPLE_NAMES = [
    "cs231n_circuit",
    "x_y2_plus_z",
    "max_gate",
    "two_layer_sigmoid",
    "svm_three_points",
    "softmax_classifier",
    "self_attention",
]
EXAMPLE_FILES = [EXAMPLES / f"{name}.json" for name in EXAMPLE_NAMES]
#: The optimization lab's examples: their inputs come from a dataset (tests/test_optimize.py trains them).
LAB_EXAMPLE_NAMES = ["spiral_two_layer", "digits_svm", "digits_softmax", "digits_cnn"]
LAB_EXAMPLE_FILES = [EXAMPLES / f"{name}.json" for name in LAB_EXAMPLE_NAMES]
ALL_NAMES = EXAMPLE_NAMES + LAB_EXAMPLE_NAMES
ALL_FILES = EXAMPLE_FILES + LAB_EXAMPLE_FILES

REL = 1e-12


def load(name: str) -> gd.Graph:
    return gd.load(EXAMPLES / f"{name}.json")


def raw(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def leaf_values(name: str) -> dict:
    """Leaf values as written in the file (plain JSON, not through graphdiff)."""
    return {leaf["id"]: leaf["value"] for leaf in raw(name)["leaves"]}


def scalar(array) -> float:
    array = np.asarray(array)
    assert array.shape == (), f"expected a scalar, got shape {array.shape}"
    return float(array)


def graphdiff_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graphdiff.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


# --- every example --------------------------------------------------------------------------------


def test_examples_folder_holds_exactly_the_documented_examples():
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(p.name for p in ALL_FILES)


@pytest.mark.parametrize("path", ALL_FILES, ids=ALL_NAMES)
def test_example_header(path):
    tree = json.loads(path.read_text(encoding="utf-8"))
    assert tree["$schema"] == SCHEMA
    assert (path.parent / tree["$schema"]).resolve().is_file()
    assert tree["format_version"] == 1
    assert tree["name"] == path.stem
    assert len(tree["description"]) > 40
    assert tree["outputs"] and tree["loss"]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=EXAMPLE_NAMES)
def test_example_loads_without_warnings_and_runs(path):
    graph = gd.load(path)
    assert graph.spec.name == path.stem
    assert graph.warnings == ()
    result = graph.run()
    assert math.isfinite(result.loss)
    for output in graph.checked.outputs:
        assert np.all(np.isfinite(result.value(output)))


@pytest.mark.parametrize("path", ALL_FILES, ids=ALL_NAMES)
def test_example_validates_on_the_command_line(path):
    done = graphdiff_cli("validate", str(path.relative_to(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert f'ok: graph "{path.stem}"' in done.stdout


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=EXAMPLE_NAMES)
def test_example_passes_the_gradient_check(path):
    graph = gd.load(path)
    report = gd.check_gradients(graph)
    assert report.passed, report.table()
    checked = {row.id for row in report.rows}
    float_leaves = {id for id, leaf in graph.checked.leaves.items() if leaf.dtype in ("float64", "float32")}
    assert checked == float_leaves


@pytest.mark.parametrize("path", ALL_FILES, ids=ALL_NAMES)
def test_example_matches_the_json_schema(path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((path.parent / SCHEMA).read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


@pytest.mark.parametrize("name", LAB_EXAMPLE_NAMES)
def test_lab_example_runs_on_its_data_and_passes_the_gradient_check(name):
    graph = load(name)
    assert graph.warnings == ()
    types = graph.checked.types
    assert [graph.checked.kind(i) for i in ("X", "y")] == ["input", "input"]
    assert types["X"].shape[0] == "N" and types["y"].shape == ("N",)  # minibatches cut along N
    feeds = lab_feeds(name)
    result = graph.run(feeds)
    assert math.isfinite(result.loss)
    if "hidden_in" in graph:  # h below the distance to the nearest ReLU kink, so no difference straddles one
        assert np.abs(result.value("hidden_in")).min() > 10 * 1e-6
        report = gd.check_gradients(graph, feeds, h=1e-6, tolerance=1e-5)
    else:
        report = gd.check_gradients(graph, feeds)
    assert report.passed, report.table()
    assert {row.id for row in report.rows} >= set(graph.checked.ids_of_kind("parameter"))


@pytest.mark.parametrize(("name", "first_loss"), [("digits_svm", 9.0), ("digits_softmax", math.log(10))])
def test_digits_examples_start_where_their_descriptions_say(name, first_loss):
    """W = 0.001 randn makes every score about 0: 9 margins of about 1, or ten equally likely classes."""
    result = load(name).run(lab_feeds(name))
    assert result.loss == pytest.approx(first_loss, abs=0.05)


# --- the circuit f = (x + y) z ------------------------------------------------------------------


def test_circuit_file_is_the_demo_graph():
    loaded = load("cs231n_circuit").spec
    demo = cs231n_circuit().spec
    assert loaded.leaves == demo.leaves
    assert loaded.nodes == demo.nodes
    assert loaded.outputs == demo.outputs
    assert loaded.loss == demo.loss
    assert loaded.name == demo.name
    assert loaded.description == demo.description
    assert loaded.schema_ == SCHEMA
    # The file is what dump_spec writes for the demo, plus the "$schema" key.
    tree = raw("cs231n_circuit")
    assert tree.pop("$schema") == SCHEMA
    assert tree == json.loads(dump_spec(demo))
    # ... and it is in graphdiff's own canonical layout (saving it changes nothing).
    text = (EXAMPLES / "cs231n_circuit.json").read_text(encoding="utf-8")
    assert dump_spec(loaded) == text


def test_circuit_numbers():
    result = load("cs231n_circuit").run()
    assert scalar(result.value("q")) == 3.0
    assert scalar(result.value("f")) == -12.0
    assert result.loss == -12.0
    assert scalar(result.grad("x")) == -4.0
    assert scalar(result.grad("y")) == -4.0
    assert scalar(result.grad("z")) == 3.0
    assert scalar(result.grad("q")) == -4.0
    assert scalar(result.grad("f")) == 1.0


def test_circuit_at_other_inputs():
    x, y, z = 1.5, -0.25, 2.0
    result = load("cs231n_circuit").run({"x": x, "y": y, "z": z})
    assert scalar(result.value("f")) == (x + y) * z
    assert scalar(result.grad("x")) == z
    assert scalar(result.grad("y")) == z
    assert scalar(result.grad("z")) == x + y


def test_circuit_grad_command_prints_the_lecture_numbers():
    done = graphdiff_cli("grad", "examples/cs231n_circuit.json")
    assert done.returncode == 0, done.stderr
    rows = {}
    for line in done.stdout.splitlines()[1:]:
        tokens = line.split()
        rows[tokens[0]] = (float(tokens[-2]), float(tokens[-1]))
    assert rows == {
        "x": (-2.0, -4.0),
        "y": (5.0, -4.0),
        "z": (-4.0, 3.0),
        "q": (3.0, -4.0),
        "f": (-12.0, 1.0),
    }
    assert "f (loss)" in done.stdout


# --- f = x (y^2 + z) ----------------------------------------------------------------------------


def test_x_y2_plus_z_numbers():
    result = load("x_y2_plus_z").run()
    x, y, z = 3.0, -2.0, 4.0
    assert leaf_values("x_y2_plus_z") == {"x": x, "y": y, "z": z}
    g = y**2 + z
    assert scalar(result.value("y2")) == 4.0
    assert scalar(result.value("g")) == g == 8.0
    assert scalar(result.value("f")) == x * g == 24.0
    assert scalar(result.grad("x")) == g == 8.0
    assert scalar(result.grad("y")) == 2 * x * y == -12.0
    assert scalar(result.grad("z")) == x == 3.0
    assert scalar(result.grad("g")) == x
    assert scalar(result.grad("y2")) == x


@pytest.mark.parametrize("x, y, z", [(-1.5, 0.7, 2.2), (0.25, 3.0, -9.5), (2.0, 0.0, 1.0)])
def test_x_y2_plus_z_formulas_hold_at_other_points(x, y, z):
    result = load("x_y2_plus_z").run({"x": x, "y": y, "z": z})
    assert scalar(result.value("f")) == pytest.approx(x * (y * y + z), rel=REL)
    assert scalar(result.grad("x")) == pytest.approx(y * y + z, rel=REL)
    assert scalar(result.grad("y")) == pytest.approx(2 * x * y, rel=REL, abs=0.0)
    assert scalar(result.grad("z")) == pytest.approx(x, rel=REL)


# --- the max gate ----------------------------------------------------------------------------------


def test_max_gate_routes_the_gradient_to_the_larger_input():
    result = load("max_gate").run()
    assert leaf_values("max_gate") == {"x": 4.0, "y": 2.0, "z": 3.0}
    assert scalar(result.value("m")) == 4.0
    assert scalar(result.value("f")) == 12.0
    assert scalar(result.grad("m")) == 3.0
    assert scalar(result.grad("x")) == 3.0  # all of the upstream gradient z
    assert scalar(result.grad("y")) == 0.0  # none of it
    assert scalar(result.grad("z")) == 4.0


def test_max_gate_routes_to_y_when_y_is_larger():
    result = load("max_gate").run({"y": 5.0})
    assert scalar(result.value("m")) == 5.0
    assert scalar(result.value("f")) == 15.0
    assert scalar(result.grad("x")) == 0.0
    assert scalar(result.grad("y")) == 3.0
    assert scalar(result.grad("z")) == 5.0


def test_max_gate_splits_a_tie():
    result = load("max_gate").run({"x": 2.0, "y": 2.0})
    assert scalar(result.grad("x")) == 1.5
    assert scalar(result.grad("y")) == 1.5


# --- the two-layer sigmoid network with square loss --------------------------------------------------


def sigmoid(s: float) -> float:
    return 1.0 / (1.0 + math.exp(-s))


def two_layer_by_hand(v: dict) -> dict:
    """The backpropagation lecture's forward pass and hand-derived gradients, in plain Python."""
    x1, x2, y_star = v["x1"], v["x2"], v["y_star"]
    s1 = v["w01h"] + v["w11h"] * x1 + v["w21h"] * x2
    s2 = v["w02h"] + v["w12h"] * x1 + v["w22h"] * x2
    z1, z2 = sigmoid(s1), sigmoid(s2)
    y = v["w01o"] + v["w11o"] * z1 + v["w21o"] * z2
    dy = y - y_star  # dL/dy
    d1 = dy * v["w11o"] * z1 * (1 - z1)  # dL/ds1
    d2 = dy * v["w21o"] * z2 * (1 - z2)  # dL/ds2
    return {
        "values": {"s1": s1, "s2": s2, "z1": z1, "z2": z2, "y": y, "L": 0.5 * dy**2},
        "grads": {
            "w01o": dy,
            "w11o": dy * z1,
            "w21o": dy * z2,
            "w01h": d1,
            "w11h": d1 * x1,
            "w21h": d1 * x2,
            "w02h": d2,
            "w12h": d2 * x1,
            "w22h": dy * v["w21o"] * z2 * (1 - z2) * x2,
            "y": dy,
            "z1": dy * v["w11o"],
            "z2": dy * v["w21o"],
            "s1": d1,
            "s2": d2,
        },
    }


PARAMETERS = ["w01h", "w11h", "w21h", "w02h", "w12h", "w22h", "w01o", "w11o", "w21o"]


def test_two_layer_sigmoid_layout():
    graph = load("two_layer_sigmoid")
    checked = graph.checked
    assert checked.ids_of_kind("input") == ("x1", "x2", "y_star")
    assert sorted(checked.ids_of_kind("parameter")) == sorted(PARAMETERS)
    assert all(checked.types[id].shape == () for id in checked.order)
    assert checked.nodes["z1"].op == checked.nodes["z2"].op == "sigmoid"
    loss = checked.nodes["L"]
    assert loss.op == "squared_error" and loss.inputs == ["y", "y_star"]
    assert loss.attrs == {"reduction": "sum"}


def test_two_layer_sigmoid_matches_the_hand_derived_gradients():
    values = leaf_values("two_layer_sigmoid")
    expected = two_layer_by_hand(values)
    result = load("two_layer_sigmoid").run()
    for id, value in expected["values"].items():
        assert scalar(result.value(id)) == pytest.approx(value, rel=REL), id
    assert result.loss == pytest.approx(expected["values"]["L"], rel=REL)
    for id, grad in expected["grads"].items():
        assert scalar(result.grad(id)) == pytest.approx(grad, rel=REL), id
    # The numbers the description states.
    assert result.loss == pytest.approx(0.0152832, rel=1e-5)
    assert scalar(result.grad("w22h")) == pytest.approx(-0.0432739, rel=1e-5)
    assert scalar(result.grad("w21o")) == pytest.approx(-0.0961289, rel=1e-5)
    assert scalar(result.grad("w01o")) == pytest.approx(-0.174833, rel=1e-5)
    # No two parameters share a gradient by accident of the chosen numbers.
    grads = [round(scalar(result.grad(id)), 12) for id in PARAMETERS]
    assert len(set(grads)) == len(grads)


def test_two_layer_sigmoid_at_another_example():
    feeds = {"x1": -0.8, "x2": 2.5, "y_star": -1.0}
    expected = two_layer_by_hand(leaf_values("two_layer_sigmoid") | feeds)
    result = load("two_layer_sigmoid").run(feeds)
    assert result.loss == pytest.approx(expected["values"]["L"], rel=REL)
    for id in PARAMETERS:
        assert scalar(result.grad(id)) == pytest.approx(expected["grads"][id], rel=REL), id


# --- the SVM on three 1-D points -------------------------------------------------------------------


def svm_by_hand(x: list[float], w: list[float], delta: float = 1.0):
    """The optimization note's L0, L1, L2 (class i for point i) and its analytic gradient."""
    margins = [[w[j] * x[i] - w[i] * x[i] + delta for j in range(3)] for i in range(3)]
    losses = [sum(max(0.0, margins[i][j]) for j in range(3) if j != i) for i in range(3)]
    grad = [0.0, 0.0, 0.0]
    for i in range(3):
        for j in range(3):
            if j != i and margins[i][j] > 0:
                grad[j] += x[i]  # nabla_{w_j} L_i = 1(margin > 0) x_i
                grad[i] -= x[i]  # nabla_{w_{y_i}} L_i = -(count of positive margins) x_i
    return margins, losses, sum(losses) / 3, [g / 3 for g in grad]


def test_svm_three_points_matches_the_note():
    values = leaf_values("svm_three_points")
    x = [row[0] for row in values["X"]]
    w = values["W"][0]
    assert values["y"] == [0, 1, 2]
    margins, losses, loss, grad = svm_by_hand(x, w)
    wrong = [margins[i][j] for i in range(3) for j in range(3) if j != i]
    assert any(m > 0 for m in wrong) and any(m < 0 for m in wrong)
    assert all(m != 0 for m in wrong)
    assert losses[1] == 0.0 and losses[0] > 0 and losses[2] > 0

    result = load("svm_three_points").run()
    scores = result.value("scores")
    assert scores.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert scores[i, j] == pytest.approx(w[j] * x[i], rel=REL)
    assert result.loss == pytest.approx(loss, rel=REL)
    assert result.loss == pytest.approx((1.8 + 0.0 + 0.98) / 3, rel=REL)
    np.testing.assert_allclose(result.grad("W")[0], grad, rtol=REL, atol=0)
    np.testing.assert_allclose(result.grad("W")[0], [-1.4 / 3, 1.6 / 3, -0.2 / 3], rtol=1e-12)


@pytest.mark.parametrize(
    "w", [[1.0, -0.5, 0.25], [-0.2, 0.1, 0.7], [0.05, 0.6, -0.3]], ids=["w_a", "w_b", "w_c"]
)
def test_svm_three_points_at_other_weights(w):
    x = [row[0] for row in leaf_values("svm_three_points")["X"]]
    margins, _, loss, grad = svm_by_hand(x, w)
    assert all(abs(m) > 1e-6 for i in range(3) for j, m in enumerate(margins[i]) if j != i)
    # Parameters are not fed at run time: load the same file with other weights written in.
    tree = raw("svm_three_points")
    next(leaf for leaf in tree["leaves"] if leaf["id"] == "W")["value"] = [w]
    result = gd.loads(json.dumps(tree)).run()
    assert result.loss == pytest.approx(loss, rel=REL)
    np.testing.assert_allclose(result.grad("W")[0], grad, rtol=REL, atol=1e-15)


# --- the softmax classifier ----------------------------------------------------------------------------


def softmax_by_numpy(X, y, W, b, lam):
    scores = X @ W + b
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = X.shape[0]
    terms = -np.log(probs[np.arange(n), y])
    data_loss = terms.mean()
    reg = lam * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(n), y] -= 1.0
    dscores /= n
    return {
        "scores": scores,
        "probs": probs,
        "terms": terms,
        "data_loss": data_loss,
        "reg": reg,
        "loss": data_loss + reg,
        "dscores": dscores,
        "dW": X.T @ dscores + 2 * lam * W,
        "db": dscores.sum(axis=0),
        "dX": dscores @ W.T,
    }


def softmax_leaves():
    v = leaf_values("softmax_classifier")
    lam = next(n for n in raw("softmax_classifier")["nodes"] if n["id"] == "reg")["attrs"]["lambda"]
    return np.array(v["X"]), np.array(v["y"]), np.array(v["W"]), np.array(v["b"]), lam


def test_softmax_classifier_first_example_is_cat_car_frog():
    result = load("softmax_classifier").run()
    assert result.value("y")[0] == 0  # the true class is cat
    assert result.value("scores")[0].tolist() == [3.2, 5.1, -1.7]
    probs = result.value("probs")[0]
    assert np.round(probs, 2).tolist() == [0.13, 0.87, 0.0]
    assert probs.sum() == pytest.approx(1.0, rel=REL)
    assert np.round(np.exp([3.2, 5.1, -1.7]), 2).tolist() == [24.53, 164.02, 0.18]


def test_softmax_classifier_cross_entropy_of_the_cat():
    expected = math.log(math.exp(3.2) + math.exp(5.1) + math.exp(-1.7)) - 3.2
    assert expected == pytest.approx(2.0403551528, rel=1e-10)
    result = load("softmax_classifier").run({"X": [[1.0, 0.0]], "y": [0]})
    assert result.value("scores").tolist() == [[3.2, 5.1, -1.7]]
    assert scalar(result.value("data_loss")) == pytest.approx(expected, rel=REL)
    assert scalar(result.value("data_loss")) == pytest.approx(-math.log(0.13), abs=0.005)
    assert scalar(result.value("data_loss")) == pytest.approx(2.04, abs=0.001)
    # dL/dscores for one example: probs - onehot(cat).
    probs = result.value("probs")[0]
    np.testing.assert_allclose(result.grad("scores")[0], probs - [1.0, 0.0, 0.0], rtol=REL, atol=1e-16)


def test_softmax_classifier_matches_numpy():
    X, y, W, b, lam = softmax_leaves()
    assert lam == 0.005
    expected = softmax_by_numpy(X, y, W, b, lam)
    assert expected["terms"][0] == pytest.approx(2.0403551528, rel=1e-10)
    result = load("softmax_classifier").run()
    np.testing.assert_allclose(result.value("scores"), expected["scores"], rtol=REL, atol=0)
    np.testing.assert_allclose(result.value("probs"), expected["probs"], rtol=1e-11, atol=1e-17)
    assert scalar(result.value("data_loss")) == pytest.approx(expected["data_loss"], rel=REL)
    assert scalar(result.value("reg")) == pytest.approx(expected["reg"], rel=REL)
    assert scalar(result.value("reg")) == pytest.approx(0.005 * 40.33, rel=REL)
    assert result.loss == pytest.approx(expected["loss"], rel=REL)
    assert result.loss == pytest.approx(1.010918, rel=1e-6)
    np.testing.assert_allclose(result.grad("scores"), expected["dscores"], rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(result.grad("W"), expected["dW"], rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(result.grad("b"), expected["db"], rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(result.grad("X"), expected["dX"], rtol=1e-11, atol=1e-16)


def test_softmax_classifier_takes_any_batch_size():
    X = np.array([[0.3, -0.7], [1.1, 0.4], [-2.0, 0.5], [0.0, 0.0], [0.9, 1.9], [-0.6, -1.2]])
    y = np.array([2, 0, 1, 1, 0, 2])
    _, _, W, b, lam = softmax_leaves()
    expected = softmax_by_numpy(X, y, W, b, lam)
    result = load("softmax_classifier").run({"X": X, "y": y})
    assert result.loss == pytest.approx(expected["loss"], rel=REL)
    np.testing.assert_allclose(result.grad("W"), expected["dW"], rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(result.grad("b"), expected["db"], rtol=1e-11, atol=1e-16)
