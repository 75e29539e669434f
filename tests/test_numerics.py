"""Numerical edge cases with exact expected values, each run with numpy's floating-point errors raised and
every warning turned into an error: the stable forms of softmax, log-sum-exp, sigmoid and the cross-entropy
must reach the right answer without overflowing, and without numpy ever complaining on the way.

Also: log(0) is reported at its node, backward is repeatable, and a 100,000-node chain runs forward and
backward (no recursion) to its exact values.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import REGISTRY


@contextmanager
def strict_floats() -> Iterator[None]:
    """Every numpy floating-point problem (overflow, underflow, invalid, divide) raises, and so does every
    warning, so a test passes only if nothing along the way went out of range."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def one_op_graph(op: str, x: Any, *, loss: str | None = "sum", **attrs: Any) -> gd.Graph:
    """x (a float64 input) -> op (node "out"); with ``loss="sum"`` the loss is L = sum(out)."""
    g = gd.Graph(f"edge_{op}")
    out = g.apply(op, g.input("x", value=x), id="out", **attrs)
    if loss == "sum":
        g.set_loss(g.apply("sum", out, id="L"))
    return g


def requires_logsumexp() -> None:
    if "logsumexp" not in REGISTRY:
        pytest.skip("the logsumexp op is not registered in this graphdiff")


# --- softmax -------------------------------------------------------------------------------------------


def test_softmax_of_two_equal_large_logits_is_exactly_one_half_each():
    g = one_op_graph("softmax", [1000.0, 1000.0], loss=None)
    with strict_floats():
        value = g.forward().value("out")
    np.testing.assert_array_equal(value, [0.5, 0.5])


SOFTMAX_0123 = [0.032058604, 0.08714432, 0.23688284, 0.6439143]


def test_softmax_is_unchanged_by_shifting_the_logits_by_ten_thousand():
    rows = [[0.0, 1.0, 2.0, 3.0], [10000.0, 10001.0, 10002.0, 10003.0]]
    g = one_op_graph("softmax", rows, loss=None, axis=-1)
    with strict_floats():
        small, large = g.forward().value("out")
    np.testing.assert_allclose(small, SOFTMAX_0123, rtol=1e-7)
    np.testing.assert_allclose(large, SOFTMAX_0123, rtol=1e-7)
    np.testing.assert_allclose(large, small, rtol=0, atol=1e-15)


def test_softmax_along_the_first_axis_of_a_shifted_column():
    columns = np.array([[0.0, 10000.0], [1.0, 10001.0], [2.0, 10002.0], [3.0, 10003.0]])
    g = one_op_graph("softmax", columns, loss=None, axis=0)
    with strict_floats():
        value = g.forward().value("out")
    np.testing.assert_allclose(value[:, 0], SOFTMAX_0123, rtol=1e-7)
    np.testing.assert_allclose(value[:, 1], value[:, 0], rtol=0, atol=1e-15)


def test_softmax_gradient_at_huge_equal_logits_is_finite_and_exact():
    # L = sum(softmax(x) * w) with w = [1, 0]: dL/dx = p (w - p.w) = [0.25, -0.25] at p = [0.5, 0.5].
    g = gd.Graph("softmax_grad")
    p = g.apply("softmax", g.input("x", value=[1000.0, 1000.0]), id="p")
    g.set_loss(g.apply("sum", p * g.constant("w", [1.0, 0.0]), id="L"))
    with strict_floats():
        result = g.run()
    assert result.loss == 0.5
    np.testing.assert_array_equal(result.grad("x"), [0.25, -0.25])


# --- log-sum-exp -----------------------------------------------------------------------------------------


def test_logsumexp_of_two_equal_large_values_is_the_value_plus_log_two():
    requires_logsumexp()
    g = one_op_graph("logsumexp", [1000.0, 1000.0], loss=None)
    g.set_loss(g["out"])
    with strict_floats():
        result = g.run()
    assert float(result.value("out")) == 1000.6931471805599


@pytest.mark.parametrize("level", [1000.0, 1e15])
def test_logsumexp_gradient_at_equal_large_values_is_one_half_each(level):
    # d logsumexp / dx = softmax(x) = [0.5, 0.5] for any two equal values, however large.
    requires_logsumexp()
    g = one_op_graph("logsumexp", [level, level], loss=None)
    g.set_loss(g["out"])
    with strict_floats():
        result = g.run()
    np.testing.assert_allclose(result.grad("x"), [0.5, 0.5], rtol=1e-15, atol=0)


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    requires_logsumexp()
    g = gd.Graph("lse_neg_inf")
    g.apply("logsumexp", g.input("x", shape=[2]), id="out")
    with strict_floats():
        value = g.forward({"x": np.array([-np.inf, -np.inf])}).value("out")
    assert value.shape == ()
    assert float(value) == -np.inf


def test_logsumexp_along_an_axis_keeps_each_row_exact():
    requires_logsumexp()
    g = gd.Graph("lse_axis")
    g.apply("logsumexp", g.input("x", shape=[3, 2]), id="out", axis=1, keepdims=True)
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [-1000.0, -1000.0]])
    with strict_floats():
        value = g.forward({"x": x}).value("out")
    assert value.shape == (3, 1)
    np.testing.assert_array_equal(value[:, 0], [1000.6931471805599, -np.inf, -999.3068528194401])


# --- sigmoid ---------------------------------------------------------------------------------------------


def test_sigmoid_saturates_to_exactly_one_and_zero_with_zero_gradient():
    g = one_op_graph("sigmoid", [1000.0, -1000.0])
    with strict_floats():
        result = g.run()
    value = result.value("out")
    assert value[0] == 1.0
    assert value[1] == 0.0
    np.testing.assert_array_equal(result.grad("x"), [0.0, 0.0])


# --- softmax cross-entropy ---------------------------------------------------------------------------------


def cross_entropy_graph(logits: list[float], label: int) -> gd.Graph:
    g = gd.Graph("ce_edge")
    scores = g.input("logits", value=logits)
    labels = g.input("label", value=label, dtype="int64")
    g.set_loss(g.apply("softmax_cross_entropy", scores, labels, id="L"))
    return g


def test_cross_entropy_of_a_confidently_wrong_prediction_is_finite():
    g = cross_entropy_graph([1000.0, -1000.0], 1)
    with strict_floats():
        result = g.run()
    assert result.loss == 2000.0
    np.testing.assert_array_equal(result.grad("logits"), [1.0, -1.0])


def test_cross_entropy_of_a_confidently_right_prediction_is_zero():
    g = cross_entropy_graph([1000.0, -1000.0], 0)
    with strict_floats():
        result = g.run()
    assert result.loss == 0.0  # -0.0 compares equal, and is allowed
    np.testing.assert_array_equal(result.grad("logits"), [0.0, 0.0])


# --- non-finite values and repeated backward -------------------------------------------------------------


def test_log_of_zero_is_reported_at_its_node_without_a_warning():
    g = gd.Graph("log_zero")
    lx = g.apply("log", g.input("x", value=[1.0, 0.0]), id="log_of_x")
    g.set_loss(g.apply("sum", lx, id="L"))
    with strict_floats(), pytest.raises(gd.NonFiniteError) as info:
        g.forward(check_finite=True)
    message = str(info.value)
    assert '"log_of_x"' in message
    assert "infinite" in message
    assert [p.place for p in info.value.problems] == ['nodes[0] "log_of_x"']


def test_backward_twice_gives_the_same_gradients_not_doubled():
    # f = x * y + x (x used twice): df/dx = y + 1 = 4, df/dy = x = 2; L = sum(f).
    g = gd.Graph("twice")
    x = g.input("x", value=[2.0, -1.0])
    y = g.parameter("y", [3.0, 0.5])
    g.set_loss(g.apply("sum", x * y + x, id="L"))
    with strict_floats():
        first = g.run()
        first_grads = {id: grad.copy() for id, grad in first.grads.items()}
        second = g.backward()
        third = g.backward(first)
    np.testing.assert_array_equal(first_grads["x"], [4.0, 1.5])
    np.testing.assert_array_equal(first_grads["y"], [2.0, -1.0])
    for later in (second, third):
        assert later.grads.keys() == first_grads.keys()
        for id, grad in first_grads.items():
            np.testing.assert_array_equal(later.grad(id), grad, err_msg=id)
    for id, grad in first_grads.items():  # the first result was not changed by the later passes
        np.testing.assert_array_equal(first.grad(id), grad, err_msg=id)


# --- a long chain ---------------------------------------------------------------------------------------

CHAIN_X = [1.0, 2.0, -0.5, 0.25]
#: One cycle: x -> x * 0.5 -> + 1 -> - 1 -> * 2, which gives x back exactly (every value is dyadic),
#: with a local gradient of exactly 1 per cycle, so nothing over- or underflows however long the chain.
CHAIN_CYCLE = (("mul", "half"), ("add", "one"), ("sub", "one"), ("mul", "two"))


def chain_spec(length: int) -> dict[str, Any]:
    """``length`` chain nodes (a multiple of 4) over a (4,) input, then L = sum(last)."""
    assert length % len(CHAIN_CYCLE) == 0
    nodes = []
    previous = "x"
    for i in range(length):
        op, constant = CHAIN_CYCLE[i % len(CHAIN_CYCLE)]
        nodes.append({"id": f"n{i}", "op": op, "inputs": [previous, constant]})
        previous = f"n{i}"
    nodes.append({"id": "L", "op": "sum", "inputs": [previous]})
    return {
        "format_version": 1,
        "name": f"chain_{length}",
        "leaves": [
            {"id": "x", "kind": "input", "value": CHAIN_X},
            {"id": "half", "kind": "constant", "value": 0.5},
            {"id": "one", "kind": "constant", "value": 1.0},
            {"id": "two", "kind": "constant", "value": 2.0},
        ],
        "nodes": nodes,
        "loss": "L",
    }


def run_chain(length: int) -> None:
    """Load and run a chain; check its exact results."""
    g = gd.loads(json.dumps(chain_spec(length)))
    with strict_floats():
        result = g.run(wrt=["x", "half", "one"])
    cycles = length // len(CHAIN_CYCLE)
    assert result.loss == sum(CHAIN_X)
    np.testing.assert_array_equal(result.value(f"n{length - 1}"), CHAIN_X)
    np.testing.assert_array_equal(result.grad("x"), np.ones(4))
    # d/d(half): each cycle's "x * half" sees x and an upstream gradient of 2 (the "* two" after it).
    assert float(result.grad("half")) == cycles * 2.0 * sum(CHAIN_X)
    assert float(result.grad("one")) == 0.0  # +1 and -1 from each cycle's add and sub


def test_a_100k_node_chain_runs_without_recursion():
    # how load and run time grow with size is measured in benchmarks/ (load + check + compile)
    run_chain(100_000)
