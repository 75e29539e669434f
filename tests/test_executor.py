"""The executor: reverse-mode accumulation over a compiled plan, and the gradient checker built on it.

Gradients are compared with hand-derived numpy formulas (not with the gradient checker, which is tested
separately, against a deliberately broken op registered for one test only).
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx
import numpy as np
import pytest
from helpers import scalar_circuit_spec

import graphdiff as gd
import graphdiff.api
import graphdiff.executor
import graphdiff.graph

RNG = np.random.default_rng(12)
W1 = RNG.standard_normal((3, 4))
W2 = RNG.standard_normal((4, 2))
FEEDS = {"X": RNG.standard_normal((5, 3)), "y": np.array([0, 1, 1, 0, 1])}
OTHER_FEEDS = {"X": RNG.standard_normal((2, 3)), "y": np.array([1, 0])}


def two_layer() -> gd.Graph:
    """a = X W1, h = sigmoid(a), scores = h W2, L = softmax_cross_entropy(scores, y)."""
    g = gd.Graph("two layer")
    X = g.input("X", shape=["N", 3])
    y = g.input("y", shape=["N"], dtype="int64")
    w1 = g.parameter("W1", W1)
    w2 = g.parameter("W2", W2)
    h = gd.sigmoid(gd.matmul(X, w1, id="a"), id="h")
    scores = gd.matmul(h, w2, id="scores")
    g.set_loss(gd.softmax_cross_entropy(scores, y, id="L"))
    return g


def manual_two_layer(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Values and gradients of two_layer() by hand."""
    a = X @ W1
    h = 1 / (1 + np.exp(-a))
    s = h @ W2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    ds = p.copy()
    ds[np.arange(n), y] -= 1
    ds /= n
    dh = ds @ W2.T
    da = dh * h * (1 - h)
    return {
        "L": loss,
        "h": h,
        "grad L": np.array(1.0),
        "grad scores": ds,
        "grad W2": h.T @ ds,
        "grad h": dh,
        "grad a": da,
        "grad W1": X.T @ da,
        "grad X": da @ W1.T,
    }


# --- backward -------------------------------------------------------------------------------------------


def test_backward_gives_the_gradient_of_every_float_leaf_and_node():
    result = two_layer().run(FEEDS)
    expected = manual_two_layer(FEEDS["X"], FEEDS["y"])

    assert set(result.grads) == {"X", "W1", "W2", "a", "h", "scores", "L"}
    for id in result.grads:
        np.testing.assert_allclose(
            result.grad(id), expected[f"grad {id}"], rtol=1e-10, atol=1e-14, err_msg=id
        )
        assert np.shape(result.grad(id)) == result.value(id).shape
    np.testing.assert_allclose(result.loss, expected["L"], rtol=1e-12)
    np.testing.assert_allclose(result.value("h"), expected["h"], rtol=1e-12)


def test_the_cs231n_circuit_from_a_spec():
    graph = gd.loads(json.dumps(scalar_circuit_spec()))
    result = graph.run()
    assert float(result.value("q")) == 3.0
    assert float(result.value("f")) == -12.0
    assert {id: float(g) for id, g in result.grads.items()} == {
        "x": -4.0,
        "y": -4.0,
        "z": 3.0,
        "q": -4.0,
        "f": 1.0,
    }


def test_fan_out_accumulates_x_times_x_gives_2x():
    g = gd.Graph("square by fan-out")
    x = g.input("x", value=3.0)
    g.set_loss((x * x).named("f"))
    result = g.run()
    assert float(result.grad("x")) == 6.0
    assert float(g.run({"x": -1.5}).grad("x")) == -3.0


def test_fan_out_accumulates_through_a_node_with_two_consumers():
    g = gd.Graph("two consumers")
    x, y, z = g.input("x", value=0.5), g.input("y", value=-0.25), g.input("z", value=2.0)
    q = (x + y).named("q")
    u = (q * z).named("u")
    v = gd.exp(q, id="v")
    g.set_loss((u + v).named("L"))
    result = g.run()
    q_value = 0.25
    assert float(result.grad("q")) == pytest.approx(2.0 + np.exp(q_value), rel=1e-15)
    assert float(result.grad("x")) == pytest.approx(2.0 + np.exp(q_value), rel=1e-15)
    assert float(result.grad("z")) == pytest.approx(q_value, rel=1e-15)


def test_calling_backward_twice_gives_the_same_gradients_not_doubled():
    g = two_layer()
    first = g.run(FEEDS)
    saved = {id: np.array(grad, copy=True) for id, grad in first.grads.items()}
    second = g.backward()
    third = g.backward(first)
    for id, grad in saved.items():
        np.testing.assert_array_equal(second.grad(id), grad, err_msg=id)
        np.testing.assert_array_equal(third.grad(id), grad, err_msg=id)
        np.testing.assert_array_equal(first.grad(id), grad, err_msg=id)  # the first result is untouched


def test_rerunning_with_other_feeds_gives_their_gradients():
    g = two_layer()
    g.run(FEEDS)
    result = g.run(OTHER_FEEDS)
    expected = manual_two_layer(OTHER_FEEDS["X"], OTHER_FEEDS["y"])
    np.testing.assert_allclose(result.grad("W1"), expected["grad W1"], rtol=1e-10)
    assert result.value("X").shape == (2, 3)


# --- wrt: only what is asked, and only the work it needs ------------------------------------------------


@pytest.fixture
def vjp_calls(monkeypatch) -> list[tuple[str, tuple[bool, ...], tuple[int, ...]]]:
    """Record (op, needs, shape of the first input) for every vjp the executor calls."""
    calls: list[tuple[str, tuple[bool, ...], tuple[int, ...]]] = []
    for name in ("matmul", "sigmoid", "softmax_cross_entropy"):
        op = gd.OPS[name]
        original = op.vjp

        def recording(attrs, upstream, out, values, needs, _original=original, _name=name):
            calls.append((_name, tuple(needs), values[0].shape))
            return _original(attrs, upstream, out, values, needs)

        monkeypatch.setattr(op, "vjp", recording)
    return calls


def test_wrt_returns_only_the_requested_gradients_and_skips_the_rest(vjp_calls):
    g = two_layer()
    g.forward(FEEDS)
    result = g.backward(wrt=["W2"])

    assert set(result.grads) == {"W2"}
    np.testing.assert_allclose(result.grad("W2"), manual_two_layer(**FEEDS)["grad W2"], rtol=1e-10)
    # only the loss and the last matmul run; the matmul is told not to compute the gradient of h
    assert vjp_calls == [("softmax_cross_entropy", (True, False), (5, 2)), ("matmul", (False, True), (5, 4))]
    with pytest.raises(gd.GraphdiffError, match="not asked for"):
        result.grad("W1")


def test_wrt_a_first_layer_weight_does_not_ask_for_the_data_gradient(vjp_calls):
    g = two_layer()
    g.forward(FEEDS)
    result = g.backward(wrt=["W1"])

    assert set(result.grads) == {"W1"}
    np.testing.assert_allclose(result.grad("W1"), manual_two_layer(**FEEDS)["grad W1"], rtol=1e-10)
    matmuls = [(needs, shape) for name, needs, shape in vjp_calls if name == "matmul"]
    assert matmuls == [((True, False), (5, 4)), ((False, True), (5, 3))]  # no dL/dW2, no dL/dX


def test_gradients_that_need_nothing_do_no_work(vjp_calls):
    g = two_layer()
    g.forward(FEEDS)
    result = g.backward(wrt=["L"])
    assert set(result.grads) == {"L"}
    assert float(result.grad("L")) == 1.0
    assert vjp_calls == []


# --- other outputs, upstream gradients ----------------------------------------------------------------


def test_backward_from_a_non_scalar_output_with_an_upstream_gradient():
    g = two_layer()
    g.forward(FEEDS)
    upstream = RNG.standard_normal((5, 4))
    result = g.backward(output="h", upstream=upstream)

    h = manual_two_layer(**FEEDS)["h"]
    da = upstream * h * (1 - h)
    np.testing.assert_allclose(result.grad("W1"), FEEDS["X"].T @ da, rtol=1e-10)
    np.testing.assert_allclose(result.grad("X"), da @ W1.T, rtol=1e-10)
    np.testing.assert_array_equal(result.grad("h"), upstream)
    np.testing.assert_array_equal(result.grad("W2"), np.zeros_like(W2))  # W2 does not reach h


def test_a_non_scalar_output_without_upstream_is_a_feed_error_naming_it():
    g = two_layer()
    g.forward(FEEDS)
    with pytest.raises(gd.FeedError) as info:
        g.backward(output="h")
    assert str(info.value) == 'nodes[1] "h": output has shape (5, 4); pass an upstream gradient'


def test_an_upstream_of_the_wrong_shape_is_a_feed_error():
    g = two_layer()
    g.forward(FEEDS)
    with pytest.raises(gd.FeedError, match=r"upstream gradient has shape \(4, 5\), the output \(5, 4\)"):
        g.backward(output="h", upstream=np.ones((4, 5)))


# --- finiteness -----------------------------------------------------------------------------------------


def sqrt_graph() -> gd.Graph:
    g = gd.Graph("sqrt")
    x = g.input("x", shape=[2])
    g.set_loss(gd.pow(x, 0.5, id="p").sum().named("L"))
    return g


def test_check_finite_names_the_node_whose_gradient_is_infinite():
    g = sqrt_graph()
    with np.errstate(divide="ignore"):
        g.forward({"x": [0.0, 4.0]}, check_finite=True)  # the values are finite: sqrt(0) = 0
        with pytest.raises(gd.NonFiniteError) as info:
            g.backward(check_finite=True)
    assert str(info.value) == "nodes[0] \"p\": backward: the gradient flowing into input 'x' is infinite"
    assert isinstance(info.value, gd.ComputeError)


def test_check_finite_names_the_node_whose_value_is_nan():
    g = sqrt_graph()
    with np.errstate(invalid="ignore"), pytest.raises(gd.NonFiniteError) as info:
        g.forward({"x": [-1.0, 4.0]}, check_finite=True)
    assert str(info.value) == 'nodes[0] "p": forward: pow gave a value that is nan'


def test_check_finite_names_a_non_finite_leaf():
    g = sqrt_graph()
    with pytest.raises(gd.NonFiniteError) as info:
        g.forward({"x": [np.inf, 4.0]}, check_finite=True)
    assert str(info.value) == 'leaves[0] "x": the value is infinite'


def test_without_check_finite_non_finite_values_pass_through():
    g = sqrt_graph()
    with np.errstate(divide="ignore"):
        result = g.run({"x": [0.0, 4.0]})
    assert result.grad("x")[0] == np.inf
    assert result.grad("x")[1] == pytest.approx(0.25)


# --- results by id --------------------------------------------------------------------------------------


def test_results_are_addressable_by_id_and_unknown_ids_get_a_suggestion():
    graph = gd.loads(json.dumps(scalar_circuit_spec()))
    result = graph.run()
    assert float(result.value("q")) == 3.0
    assert float(result.grad("x")) == -4.0
    with pytest.raises(gd.GraphdiffError, match='no leaf or node "qq"; did you mean "q"'):
        result.value("qq")
    with pytest.raises(gd.GraphdiffError, match='no leaf or node "xx"; did you mean "x"'):
        result.grad("xx")


def test_gradients_before_backward_are_an_error():
    g = two_layer()
    result = g.forward(FEEDS)
    with pytest.raises(gd.GraphdiffError, match="run backward"):
        result.grad("W1")


def test_int64_labels_have_no_gradient():
    result = two_layer().run(FEEDS)
    assert "y" not in result.grads
    assert result.value("y").dtype == np.int64
    with pytest.raises(gd.GraphdiffError, match='no gradient for "y": int64 values have no gradient'):
        result.grad("y")


# --- compiled once --------------------------------------------------------------------------------------


def refuse(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("re-validated or re-sorted a graph that was already checked")


def forbid_checking(monkeypatch) -> None:
    for module in (graphdiff.graph, graphdiff.api):
        monkeypatch.setattr(module, "check_graph", refuse)
    monkeypatch.setattr(graphdiff.api, "compile_plan", refuse)
    monkeypatch.setattr(graphdiff.executor.Plan, "__init__", refuse)
    monkeypatch.setattr(graphdiff.graph._Checker, "run", refuse)
    for name in (
        "DiGraph",
        "lexicographical_topological_sort",
        "topological_sort",
        "find_cycle",
        "strongly_connected_components",
        "ancestors",
        "descendants",
    ):
        monkeypatch.setattr(nx, name, refuse)
    for op in gd.OPS.values():
        monkeypatch.setattr(op, "infer", refuse)


def test_the_plan_is_compiled_once_and_reruns_do_not_revalidate(monkeypatch):
    g = two_layer()
    g.run(FEEDS)
    plan = g.plan
    forbid_checking(monkeypatch)

    result = g.run(OTHER_FEEDS)
    partial = g.backward(wrt=["W1"])  # a new set of wanted gradients: still no re-check

    assert g.plan is plan
    expected = manual_two_layer(**OTHER_FEEDS)
    np.testing.assert_allclose(result.grad("W2"), expected["grad W2"], rtol=1e-10)
    np.testing.assert_allclose(partial.grad("W1"), expected["grad W1"], rtol=1e-10)


def test_a_loaded_graph_is_checked_at_load_time_only(monkeypatch, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(scalar_circuit_spec()))
    graph = gd.load(path)
    for module in (graphdiff.graph, graphdiff.api):
        monkeypatch.setattr(module, "check_graph", refuse)
    monkeypatch.setattr(graphdiff.graph._Checker, "run", refuse)
    for op in gd.OPS.values():
        monkeypatch.setattr(op, "infer", refuse)
    assert float(graph.run().grad("z")) == 3.0
    assert float(graph.run({"x": 1.0}).value("f")) == -24.0


# --- gradient checking ----------------------------------------------------------------------------------


def test_gradient_check_passes_on_a_correct_graph():
    report = gd.check_gradients(two_layer(), FEEDS)
    assert report.passed
    assert [row.id for row in report.rows] == ["X", "W1", "W2"]  # float leaves only, not the labels
    assert [(row.checked, row.size) for row in report.rows] == [(15, 15), (12, 12), (8, 8)]
    assert report.max_error < 1e-6
    assert "gradient check passed" in report.table()


@pytest.fixture
def wrong_mul(monkeypatch) -> str:
    """Register, for one test, an op "wrong_mul" whose gradient for b is 10% too large."""
    mul = type(gd.OPS["mul"])

    class WrongMul(mul):  # type: ignore[misc, valid-type]
        name = "wrong_mul"

        def grad_b(self, upstream, out, a, b):
            return 1.1 * upstream * a

    assert "wrong_mul" not in gd.OPS
    monkeypatch.setitem(gd.OPS, "wrong_mul", WrongMul())
    return "wrong_mul"


def wrong_graph(op: str) -> gd.Graph:
    g = gd.Graph("wrong gradient")
    x = g.input("x", value=[1.0, -2.0, 3.0])
    w = g.parameter("w", [0.5, 0.25, -1.0])
    g.set_loss(g.apply(op, x, w, id="p").sum().named("L"))
    return g


def test_gradient_check_catches_a_wrong_gradient(wrong_mul):
    report = gd.check_gradients(wrong_graph(wrong_mul))
    assert not report.passed
    rows = {row.id: row for row in report.rows}
    assert rows["x"].passed
    assert not rows["w"].passed
    assert rows["w"].analytic == pytest.approx(1.1 * rows["w"].numeric, rel=1e-6)
    assert rows["w"].max_error == pytest.approx(0.1 / 1.1, rel=1e-4)
    assert "FAIL" in report.table()
    assert "gradient check FAILED" in report.table()


def test_gradient_check_in_directions_mode_catches_a_wrong_gradient(wrong_mul):
    report = gd.check_gradients(wrong_graph(wrong_mul), directions=3)
    rows = {row.id: row for row in report.rows}
    assert rows["x"].passed and not rows["w"].passed
    assert rows["w"].checked == 3
    assert rows["w"].where[0] == "direction"


def test_gradient_check_samples_coordinates_of_a_large_leaf():
    g = gd.Graph("large leaf")
    w = g.parameter("W", np.random.default_rng(3).standard_normal((6, 10)))
    g.set_loss(gd.tanh(w, id="t").sum().named("L"))

    report = gd.check_gradients(g, max_coords=7, seed=5)
    again = gd.check_gradients(g, max_coords=7, seed=5)

    (row,) = report.rows
    assert (row.checked, row.size) == (7, 60)
    assert report.passed
    assert again.rows == report.rows  # seeded: the same sample
    assert "7/60" in report.table()
    assert "up to 7 coordinates" in report.table()


def test_gradient_check_directions_mode():
    report = gd.check_gradients(two_layer(), FEEDS, directions=4, seed=1)
    assert report.passed
    assert all(row.checked == 4 and row.where[0] == "direction" for row in report.rows)
    assert "4 random directions per leaf" in report.table()


def test_gradient_check_refuses_int64_leaves_and_unknown_ids():
    with pytest.raises(gd.GradientCheckError, match="int64"):
        gd.check_gradients(two_layer(), FEEDS, wrt=["y"])
    with pytest.raises(gd.GradientCheckError, match="not a leaf"):
        gd.check_gradients(two_layer(), FEEDS, wrt=["h"])


def test_a_vjp_returning_the_wrong_shape_is_caught_at_once(monkeypatch):
    summ = type(gd.OPS["sum"])

    class ForgetfulSum(summ):  # type: ignore[misc, valid-type]
        name = "forgetful_sum"

        def vjp(self, attrs, upstream, out, values, needs):
            return (upstream,)  # forgot to spread the gradient back over x

    monkeypatch.setitem(gd.OPS, "forgetful_sum", ForgetfulSum())
    g = gd.Graph("forgetful")
    x = g.input("x", value=[1.0, 2.0, 3.0])
    g.set_loss(g.apply("forgetful_sum", x, id="s"))
    g.forward()
    with pytest.raises(AssertionError, match=r"'forgetful_sum' .* shape \(\) for input 'x' of shape \(3,\)"):
        g.backward()
