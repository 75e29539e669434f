"""The new elementwise ops (clip, sqrt, sin, cos, softplus, log_sigmoid, leaky_relu, elu, gelu, power)
and the comparison-and-selection ops (greater, less, equal, where, cast) beyond the op table: the kink
conventions at exact ties, stability at +-1000, errors that name the node, symbolic and empty shapes,
the builders, float32, the scalar-batching fast path, and every dtype pair of cast.

Kink conventions pinned here (PyTorch's): clip passes the gradient on min <= x <= max, both ends
included; leaky_relu'(0) = negative_slope; elu'(0) = alpha; d power / d b = 0 where a == 0;
sqrt'(0) = inf.
"""

from __future__ import annotations

import json
import math
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.executor import bind_feeds, compile_plan
from graphdiff.ops import REGISTRY

NEW_UNARY = ["clip", "sqrt", "sin", "cos", "softplus", "log_sigmoid", "leaky_relu", "elu", "gelu"]
COMPARISONS = ["greater", "less", "equal"]


@contextmanager
def no_warnings():
    """Fail on any warning, and on numpy overflow, invalid operation or division by zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield


def run_unary(op: str, x: Any, dtype: str = "float64", **attrs: Any) -> gd.Result:
    """loss = sum(op(x)); the node is "out", the leaf "x"."""
    g = gd.Graph(f"t_{op}")
    leaf = g.parameter("x", value=np.asarray(x, dtype=dtype), dtype=dtype)
    out = g.apply(op, leaf, id="out", **attrs)
    g.set_loss(out.sum() if out.shape != () else out)
    return g.run()


def spec_text(leaves: list[dict[str, Any]], nodes: list[dict[str, Any]], **extra: Any) -> str:
    return json.dumps(
        {"format_version": 1, "name": "t", "leaves": leaves, "nodes": nodes, **extra}
        | ({} if "outputs" in extra or "loss" in extra else {"outputs": [nodes[-1]["id"]]})
    )


def spec_error(leaves: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> str:
    with pytest.raises(gd.SpecError) as excinfo:
        _ = gd.loads(spec_text(leaves, nodes), label="t.json").checked
    return str(excinfo.value)


def inputs(*shapes: list[Any], dtype: str = "float64") -> list[dict[str, Any]]:
    return [{"id": f"x{i}", "kind": "input", "shape": s, "dtype": dtype} for i, s in enumerate(shapes)]


# --- kinks at exact ties ------------------------------------------------------------------------------


def test_clip_gradient_is_one_on_the_closed_interval_including_both_bounds():
    x = [-0.5, 0.7, -0.50001, 0.70001, 0.0, -3.0, 3.0]
    result = run_unary("clip", x, min=-0.5, max=0.7)
    np.testing.assert_array_equal(result.value("out"), [-0.5, 0.7, -0.5, 0.7, 0.0, -0.5, 0.7])
    np.testing.assert_array_equal(result.grad("x"), [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("attrs", "value", "grad"),
    [
        ({"min": 0.0}, [0.0, 0.0, 2.0], [1.0, 0.0, 1.0]),
        ({"max": 0.0}, [0.0, -1.0, 0.0], [1.0, 1.0, 0.0]),
        ({}, [0.0, -1.0, 2.0], [1.0, 1.0, 1.0]),
        ({"min": 1.0, "max": 1.0}, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
        # min > max: every output is max and no gradient passes (numpy's clip, PyTorch's clamp)
        ({"min": 3.0, "max": 1.0}, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
    ],
    ids=str,
)
def test_clip_with_one_bound_none_or_degenerate_bounds(attrs, value, grad):
    result = run_unary("clip", [0.0, -1.0, 2.0], **attrs)
    np.testing.assert_array_equal(result.value("out"), value)
    np.testing.assert_array_equal(result.grad("x"), grad)


def test_clip_with_equal_bounds_passes_the_gradient_exactly_at_the_bound():
    result = run_unary("clip", [1.0, 0.5], min=1.0, max=1.0)
    np.testing.assert_array_equal(result.grad("x"), [1.0, 0.0])


def test_clip_without_bounds_does_not_alias_its_input():
    g = gd.Graph("t")
    x = g.input("x", value=[1.0, 2.0])
    g.add_output(gd.clip(x, id="c"))
    trace = g.plan.forward(bind_feeds(g.checked, None))
    assert trace.value("c") is not trace.value("x")


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 0.0])
def test_leaky_relu_gradient_at_zero_is_the_negative_slope(slope):
    attrs = {} if slope == 0.01 else {"negative_slope": slope}
    result = run_unary("leaky_relu", [0.0, 2.0, -2.0], **attrs)
    np.testing.assert_array_equal(result.value("out"), [0.0, 2.0, -2.0 * slope])
    np.testing.assert_array_equal(result.grad("x"), [slope, 1.0, slope])


@pytest.mark.parametrize("alpha", [1.0, 2.5, 0.5])
def test_elu_gradient_at_zero_is_alpha(alpha):
    attrs = {} if alpha == 1.0 else {"alpha": alpha}
    result = run_unary("elu", [0.0, 2.0, -1.0], **attrs)
    np.testing.assert_allclose(result.value("out"), [0.0, 2.0, alpha * math.expm1(-1.0)], rtol=1e-15)
    np.testing.assert_allclose(result.grad("x"), [alpha, 1.0, alpha * math.exp(-1.0)], rtol=1e-15)
    assert result.grad("x")[0] == alpha


def run_power(a: Any, b: Any) -> gd.Result:
    g = gd.Graph("power")
    out = gd.power(g.parameter("a", value=np.asarray(a, float)), g.parameter("b", value=np.asarray(b, float)))
    g.set_loss(gd.sum(out.named("out")))
    return g.run()


def test_power_gradient_wrt_the_exponent_is_zero_at_a_zero_base():
    with no_warnings():
        result = run_power([0.0, 0.0, 0.0, 2.0], [2.0, 1.0, 3.5, 3.0])
    np.testing.assert_array_equal(result.value("out"), [0.0, 0.0, 0.0, 8.0])
    np.testing.assert_array_equal(result.grad("b"), [0.0, 0.0, 0.0, 8.0 * math.log(2.0)])
    # d/da = b a^(b-1): 0 for b = 2 and 3.5, 1 for b = 1 (0^0 = 1), 3 * 4 at a = 2
    np.testing.assert_array_equal(result.grad("a"), [0.0, 1.0, 0.0, 12.0])


def test_power_at_a_zero_base_with_a_small_or_zero_exponent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the vjp itself is silent; values are numpy's
        result = run_power([0.0, 0.0, 3.0], [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(result.value("out"), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(result.grad("a"), [np.inf, 0.0, 0.0])  # 0.5 * 0^-0.5; a^0 is constant
    np.testing.assert_array_equal(result.grad("b"), [0.0, 0.0, math.log(3.0)])


def test_power_of_a_negative_base_follows_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = run_power([-2.0, -2.0], [3.0, 0.5])
    np.testing.assert_array_equal(result.value("out")[0], -8.0)
    assert np.isnan(result.value("out")[1])
    assert result.grad("a")[0] == 12.0  # an integer exponent differentiates in a
    assert np.isnan(result.grad("b")[0])  # log(-2) is nan, as in numpy and PyTorch


def test_sqrt_gradient_at_zero_is_infinite_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_unary("sqrt", [0.0, 4.0])
    np.testing.assert_array_equal(result.value("out"), [0.0, 2.0])
    np.testing.assert_array_equal(result.grad("x"), [np.inf, 0.25])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_at_zero_and_its_symmetry(approximate):
    result = run_unary("gelu", [0.0, 1.5, -1.5], approximate=approximate)
    value, grad = result.value("out"), result.grad("x")
    assert value[0] == 0.0 and grad[0] == 0.5
    # gelu(x) - gelu(-x) = x and gelu'(x) + gelu'(-x) = 1, for the exact and the tanh form alike
    assert value[1] - value[2] == pytest.approx(1.5, rel=1e-15)
    assert grad[1] + grad[2] == pytest.approx(1.0, rel=1e-15)


def test_gelu_tanh_approximation_is_close_to_but_not_the_exact_one():
    x = np.linspace(-4, 4, 33)
    exact = run_unary("gelu", x).value("out")
    approx = run_unary("gelu", x, approximate="tanh").value("out")
    assert 1e-5 < np.max(np.abs(exact - approx)) < 1e-3


# --- numerical stability --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "attrs", "value", "grad"),
    [
        ("softplus", {}, [1000.0, 0.0, math.log(2.0)], [1.0, 0.0, 0.5]),
        ("log_sigmoid", {}, [0.0, -1000.0, -math.log(2.0)], [0.0, 1.0, 0.5]),
        ("gelu", {}, [1000.0, 0.0, 0.0], [1.0, 0.0, 0.5]),
        ("gelu", {"approximate": "tanh"}, [1000.0, 0.0, 0.0], [1.0, 0.0, 0.5]),
        ("elu", {}, [1000.0, -1.0, 0.0], [1.0, 0.0, 1.0]),
        ("leaky_relu", {}, [1000.0, -10.0, 0.0], [1.0, 0.01, 0.01]),
        ("clip", {"min": -1.0, "max": 1.0}, [1.0, -1.0, 0.0], [0.0, 0.0, 1.0]),
        ("sin", {}, [math.sin(1000.0), -math.sin(1000.0), 0.0], [math.cos(1000.0), math.cos(1000.0), 1.0]),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activations_at_plus_and_minus_1000_are_exact_and_silent(op, attrs, value, grad, dtype):
    with no_warnings():
        result = run_unary(op, [1000.0, -1000.0, 0.0], dtype=dtype, **attrs)
    assert result.value("out").dtype == dtype and result.grad("x").dtype == dtype
    rtol = 1e-15 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(result.value("out"), value, rtol=rtol, atol=0)
    np.testing.assert_allclose(result.grad("x"), grad, rtol=rtol, atol=0)


def test_softplus_and_log_sigmoid_are_accurate_in_both_tails():
    x = np.array([-40.0, -20.0, 20.0, 40.0])
    softplus = run_unary("softplus", x).value("out")
    log_sigmoid = run_unary("log_sigmoid", x).value("out")
    expected = np.array(
        [math.exp(-40.0), math.log1p(math.exp(-20.0)), 20.0 + math.log1p(math.exp(-20.0)), 40.0]
    )
    np.testing.assert_allclose(softplus, expected, rtol=1e-15)
    np.testing.assert_allclose(log_sigmoid, -expected[::-1], rtol=1e-15)


def test_exact_gelu_has_no_cancellation_in_the_negative_tail():
    # gelu(-10) = -10 Phi(-10) ~ -7.6e-23: 1 + erf(-10/sqrt 2) would round to 0 here
    value = run_unary("gelu", [-10.0]).value("out")[0]
    assert value == pytest.approx(-10.0 * 0.5 * math.erfc(10.0 / math.sqrt(2.0)), rel=1e-14)
    assert value < 0


# --- the scalar-batching fast path ------------------------------------------------------------------------


def test_the_new_elementwise_ops_are_batchable_and_the_logic_ops_are_not():
    for op in [*NEW_UNARY, "power"]:
        assert REGISTRY[op].elementwise, op
        assert REGISTRY[op].family == "elementwise", op
    for op in [*COMPARISONS, "where", "cast"]:
        assert not REGISTRY[op].elementwise, op
        assert REGISTRY[op].family == "comparison and selection", op


SCALAR_OPS: list[tuple[str, dict[str, Any]]] = [
    ("clip", {"min": -0.3, "max": 0.4}),
    ("clip", {"min": 0.1}),
    ("sin", {}),
    ("cos", {}),
    ("softplus", {}),
    ("log_sigmoid", {}),
    ("leaky_relu", {"negative_slope": 0.1}),
    ("elu", {"alpha": 1.5}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batched_scalar_graphs_of_the_new_ops_give_the_plain_results(dtype):
    rng = np.random.default_rng(0)
    g = gd.Graph("scalars")
    leaves = [g.parameter(f"p{i}", value=float(rng.uniform(-2, 2)), dtype=dtype) for i in range(8)]
    tensors = list(leaves)
    for step in range(300):
        op, attrs = SCALAR_OPS[step % len(SCALAR_OPS)]
        source = tensors[int(rng.integers(len(tensors)))]
        tensors.append(g.apply(op, source, **attrs))
        if step % 5 == 0:  # sqrt of a softplus (positive) and a power with a positive base
            a = gd.softplus(tensors[int(rng.integers(len(tensors)))])
            tensors.append(
                gd.sqrt(a) if step % 10 == 0 else gd.power(a, tensors[int(rng.integers(len(tensors)))])
            )
    total = tensors[8]
    for t in tensors[9:]:
        total = total + t
    g.set_loss(total)
    checked = g.checked
    results = []
    for batch in (False, True):
        plan = compile_plan(checked, path="batched" if batch else "interpreter")
        assert (plan.batches is not None) == batch
        trace = plan.forward(bind_feeds(checked, None))
        grads = plan.backward(trace).grads
        results.append(({id: trace.value(id) for id in checked.order}, grads))
    (values_p, grads_p), (values_b, grads_b) = results
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for id in values_p:
        assert values_b[id].dtype == values_p[id].dtype == dtype
        np.testing.assert_allclose(values_b[id], values_p[id], rtol=rtol, err_msg=id)
    for id in grads_p:
        assert grads_b[id].dtype == grads_p[id].dtype == dtype
        np.testing.assert_allclose(grads_b[id], grads_p[id], rtol=rtol, atol=1e-300, err_msg=id)


def test_a_scalar_graph_with_a_comparison_runs_step_by_step():
    g = gd.Graph("scalars")
    x = g.parameter("x", value=0.5)
    h = x
    for _ in range(300):
        h = gd.where(gd.greater(h, 0.0), gd.sin(h), gd.cos(h))
    g.set_loss(h)
    assert compile_plan(g.checked, path="batched").batches is None


# --- comparisons -----------------------------------------------------------------------------------------


def compare(op: str, a: Any, b: Any, a_dtype: str = "float64", b_dtype: str = "float64") -> np.ndarray:
    g = gd.Graph("t")
    out = g.apply(
        op,
        g.input("a", value=np.asarray(a, a_dtype), dtype=a_dtype),
        g.input("b", value=np.asarray(b, b_dtype), dtype=b_dtype),
        id="out",
    )
    assert out.dtype == "bool"
    g.add_output(out)
    value = g.forward().value("out")
    assert value.dtype == np.bool_ and value.shape == out.shape
    return value


@pytest.mark.parametrize(
    ("a_dtype", "b_dtype"),
    [
        ("int64", "int64"),
        ("int64", "float64"),
        ("float32", "int64"),
        ("float32", "float64"),
        ("bool", "bool"),
    ],
)
def test_comparisons_take_any_dtypes_and_broadcast(a_dtype, b_dtype):
    a = np.array([[0, 1, 1]]).T  # (3, 1)
    b = np.array([1, 0])  # (2,)
    expected = {"greater": a > b, "less": a < b, "equal": a == b}
    for op in COMPARISONS:
        np.testing.assert_array_equal(compare(op, a, b, a_dtype, b_dtype), expected[op], err_msg=op)


def test_comparisons_of_large_int64_values_are_exact():
    big = 2**62 + 1
    assert compare("greater", [big], [big - 1], "int64", "int64").tolist() == [True]
    assert compare("equal", [big], [big - 1], "int64", "int64").tolist() == [False]


def test_nan_compares_false_with_everything_silently():
    g = gd.Graph("t")
    a, b = g.input("a", shape=[3]), g.input("b", shape=[3])
    g.add_output(*(g.apply(op, a, b, id=op) for op in COMPARISONS))
    nan = math.nan
    with no_warnings():
        result = g.forward({"a": [nan, nan, 1.0], "b": [nan, 1.0, nan]})
    for op in COMPARISONS:
        np.testing.assert_array_equal(result.value(op), [False] * 3, err_msg=op)


def test_comparisons_carry_no_gradient_but_where_passes_it_through():
    g = gd.Graph("t")
    a = g.parameter("a", value=[1.0, -2.0, 3.0])
    b = g.parameter("b", value=[0.5, 0.5, 4.0])
    mask = gd.greater(a, b, id="mask")
    g.set_loss(gd.sum(gd.where(mask, a * a, b * 10.0)))
    result = g.run()
    np.testing.assert_array_equal(result.value("mask"), [True, False, False])
    np.testing.assert_array_equal(result.grad("a"), [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.grad("b"), [0.0, 10.0, 10.0])
    with pytest.raises(gd.GraphdiffError, match="bool values have no gradient"):
        result.grad("mask")
    assert REGISTRY["greater"].vjp_reads == frozenset()


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparison_broadcast_mismatch_names_the_node_and_both_shapes(op):
    text = spec_error(inputs([3, 2], [3]), [{"id": "cmp", "op": op, "inputs": ["x0", "x1"]}])
    assert (
        'nodes[0] "cmp"' in text
        and op in text
        and "(3, 2)" in text
        and "(3,)" in text
        and "broadcast" in text
    )


def test_comparison_keeps_symbolic_dims():
    g = gd.Graph("t")
    x = g.input("x", shape=["N", 3])
    y = g.input("y", dtype="int64", shape=["N", 1])
    out = gd.less(x, y)
    assert out.shape == ("N", 3) and out.dtype == "bool"
    g.add_output(out)
    value = g.forward({"x": np.arange(6.0).reshape(2, 3), "y": np.array([[1], [5]])}).value(out.id)
    np.testing.assert_array_equal(value, [[True, False, False], [True, True, False]])
    with pytest.raises(gd.ShapeError, match="do not broadcast"):
        gd.equal(x, g.input("z", shape=["M", 3]))


# --- where -------------------------------------------------------------------------------------------------


def test_where_broadcasts_all_three_and_sums_gradients_back():
    g = gd.Graph("t")
    c = g.input("c", value=np.array([[True], [False], [True]]), dtype="bool")  # (3, 1)
    a = g.parameter("a", value=[1.0, 2.0])  # (2,)
    b = g.parameter("b", value=5.0)  # ()
    out = gd.where(c, a, b, id="out")
    assert out.shape == (3, 2)
    g.set_loss(gd.sum(out * g.constant("R", value=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[1.0, 2.0], [5.0, 5.0], [1.0, 2.0]])
    np.testing.assert_array_equal(result.grad("a"), [1.0 + 5.0, 2.0 + 6.0])
    assert result.grad("b") == 3.0 + 4.0 and result.grad("b").shape == ()


def test_where_sends_exactly_zero_gradient_to_the_unselected_side_even_if_it_is_nan_or_inf():
    g = gd.Graph("t")
    a, b = g.input("a", shape=[3]), g.input("b", shape=[3])
    out = gd.where(g.constant("c", value=[True, False, True], dtype="bool"), a, b, id="out")
    g.set_loss(gd.sum(out))
    result = g.run({"a": [1.0, math.nan, -math.inf], "b": [math.inf, 2.0, math.nan]})
    np.testing.assert_array_equal(result.value("out"), [1.0, 2.0, -math.inf])
    np.testing.assert_array_equal(result.grad("a"), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.grad("b"), [0.0, 1.0, 0.0])


def test_where_over_a_branch_whose_own_gradient_is_nan_gives_nan_as_pytorch():
    # The classic where pitfall, documented rather than hidden: where passes 0 to sqrt's output, but
    # sqrt's backward at -1 computes 0 / (2 sqrt(-1)) = nan. Clip the input to the branch instead.
    g = gd.Graph("t")
    x = g.parameter("x", value=[4.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g.set_loss(gd.sum(gd.where(gd.greater(x, 0.0), gd.sqrt(x), gd.neg(x), id="out")))
        result = g.run()
    np.testing.assert_array_equal(result.value("out"), [2.0, 1.0])
    assert result.grad("x")[0] == 0.25 and np.isnan(result.grad("x")[1])
    safe = gd.Graph("safe")
    x = safe.parameter("x", value=[4.0, -1.0])
    branch = gd.sqrt(gd.clip(x, 1e-12))
    safe.set_loss(gd.sum(gd.where(gd.greater(x, 0.0), branch, gd.neg(x))))
    with no_warnings():
        np.testing.assert_array_equal(safe.run().grad("x"), [0.25, -1.0])


def test_where_promotes_float32_with_float64_and_gradients_keep_each_dtype():
    g = gd.Graph("t")
    c = g.input("c", value=[True, False], dtype="bool")
    a = g.parameter("a", value=[1.0, 2.0], dtype="float32")
    b = g.parameter("b", value=[3.0, 4.0])
    out = gd.where(c, a, b)
    assert out.dtype == "float64"
    g.set_loss(gd.sum(out))
    result = g.run()
    assert result.grad("a").dtype == np.float32 and result.grad("b").dtype == np.float64
    np.testing.assert_array_equal(result.grad("a"), [1.0, 0.0])


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_where_refuses_a_condition_that_is_not_bool_naming_the_node(dtype):
    leaves = [*inputs([3], dtype=dtype), *inputs([3], [3])[1:]]
    leaves.append({"id": "x2", "kind": "input", "shape": [3]})
    text = spec_error(leaves, [{"id": "sel", "op": "where", "inputs": ["x0", "x1", "x2"]}])
    assert 'nodes[0] "sel"' in text and "where" in text and "'condition'" in text and "bool" in text
    assert dtype in text


def test_where_refuses_int64_values_and_shapes_that_do_not_broadcast():
    leaves = [
        *inputs([3], dtype="bool"),
        *inputs([3], dtype="int64")[:1],
        {"id": "x2", "kind": "input", "shape": [3]},
    ]
    leaves[1] = {**leaves[1], "id": "x1"}
    text = spec_error(leaves, [{"id": "sel", "op": "where", "inputs": ["x0", "x1", "x2"]}])
    assert 'nodes[0] "sel"' in text and "'a'" in text and "int64" in text
    leaves = [*inputs([2, 1], dtype="bool"), {"id": "x1", "kind": "input", "shape": [3]}]
    leaves.append({"id": "x2", "kind": "input", "shape": [4, 1]})
    text = spec_error(leaves, [{"id": "sel", "op": "where", "inputs": ["x0", "x1", "x2"]}])
    assert 'nodes[0] "sel"' in text and "(2, 1)" in text and "(3,)" in text and "(4, 1)" in text


def test_where_keeps_symbolic_dims():
    g = gd.Graph("t")
    c = g.input("c", dtype="bool", shape=["N", 1])
    a = g.input("a", shape=["N", 3])
    out = gd.where(c, a, 0.0)
    assert out.shape == ("N", 3)


# --- cast --------------------------------------------------------------------------------------------------

CAST_TABLE = [
    ("float64", [-2.7, 2.7, -0.5, 0.0, 3.0], "int64", [-2, 2, 0, 0, 3]),
    ("float32", [-2.7, 2.7, -0.5, 1e9], "int64", [-2, 2, 0, 1_000_000_000]),
    ("float64", [0.0, -0.0, 2.5, math.nan, -math.inf], "bool", [False, False, True, True, True]),
    ("int64", [0, 3, -1], "bool", [False, True, True]),
    ("bool", [True, False], "int64", [1, 0]),
    ("bool", [True, False], "float32", [1.0, 0.0]),
    ("int64", [2**53 + 1, -7], "float64", [float(2**53), -7.0]),
    ("int64", [5, -7], "int64", [5, -7]),
    ("bool", [True, False], "bool", [True, False]),
    ("float64", [1.0 + 2**-30, -1e300], "float32", [np.float32(1.0), -np.inf]),
    ("float32", [0.1], "float64", [float(np.float32(0.1))]),
]


@pytest.mark.parametrize(("source", "values", "target", "expected"), CAST_TABLE, ids=lambda v: str(v)[:20])
def test_cast_between_every_pair_of_dtypes(source, values, target, expected):
    g = gd.Graph("t")
    x = g.input("x", shape=[len(values)], dtype=source)
    out = gd.cast(x, target, id="out")
    assert out.dtype == target and out.shape == (len(values),)
    g.add_output(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # -1e300 overflows float32, as numpy warns
        value = g.forward({"x": np.asarray(values, dtype=source)}).value("out")
    assert value.dtype == np.dtype(target)
    np.testing.assert_array_equal(value, np.asarray(expected, dtype=target))


def test_cast_truncates_toward_zero_as_numpy_astype():
    x = np.array([-3.999, -1.5, -0.999, 0.999, 1.5, 3.999, -(2.0**63), 2.0**63 - 1024])
    g = gd.Graph("t")
    g.add_output(gd.cast(g.input("x", value=x), "int64", id="out"))
    np.testing.assert_array_equal(g.forward().value("out"), x.astype(np.int64))
    assert g.forward().value("out")[-2] == -(2**63)


@pytest.mark.parametrize(
    ("dtype", "bad", "shown"),
    [
        ("float64", math.nan, "nan"),
        ("float64", math.inf, "inf"),
        ("float64", -math.inf, "-inf"),
        ("float64", 2.0**63, "9.223372036854776e+18"),
        ("float64", -1e19, "-1e+19"),
        ("float32", 1e30, "1.0000000150474662e+30"),
    ],
)
def test_cast_to_int64_refuses_nan_inf_and_out_of_range_naming_the_node_and_value(dtype, bad, shown):
    g = gd.Graph("t")
    x = g.input("x", shape=[3], dtype=dtype)
    g.add_output(gd.cast(x, "int64", id="to_int"))
    with pytest.raises(gd.ComputeError) as excinfo:
        g.forward({"x": np.array([1.5, bad, bad], dtype=dtype)})
    text = str(excinfo.value)
    assert '"to_int"' in text and "cast" in text and f"cannot cast {shown} to int64" in text
    assert "2 of 3 values" in text


def test_cast_gradient_flows_float_to_float_in_the_inputs_dtype():
    g = gd.Graph("t")
    x32 = g.parameter("x32", value=[1.0, 2.0], dtype="float32")
    x64 = g.parameter("x64", value=[3.0, 4.0])
    up = gd.cast(x32, "float64") * g.constant("R", value=[0.1, 0.2])
    down = gd.cast(x64, "float32") * g.constant("S", value=[3.0, 4.0], dtype="float32")
    g.set_loss(gd.sum(up) + gd.cast(gd.sum(down), "float64"))
    result = g.run()
    assert result.grad("x32").dtype == np.float32 and result.grad("x64").dtype == np.float64
    np.testing.assert_allclose(result.grad("x32"), [0.1, 0.2], rtol=1e-7)
    np.testing.assert_array_equal(result.grad("x64"), [3.0, 4.0])
    assert REGISTRY["cast"].vjp_reads == frozenset()
    op = REGISTRY["cast"]
    grad = op.vjp(op.Attrs(dtype="float64"), np.ones(2), None, (np.zeros(2, np.float32),), (True,))[0]
    assert grad.dtype == np.float32


def test_no_gradient_flows_through_a_cast_to_int_or_bool_or_from_int():
    g = gd.Graph("t")
    x = g.parameter("x", value=[1.7, -2.2])
    n = g.parameter("n", value=[3, 4], dtype="int64")
    through_int = gd.cast(gd.cast(x, "int64"), "float64")
    through_bool = gd.cast(gd.cast(x, "bool"), "float64")
    g.set_loss(gd.sum(x) + gd.sum(through_int * 5.0) + gd.sum(through_bool) + gd.sum(gd.cast(n, "float64")))
    result = g.run()
    assert result.loss == pytest.approx(-0.5 + 5.0 * (1 - 2) + 2 + 7)
    np.testing.assert_array_equal(result.grad("x"), [1.0, 1.0])  # from sum(x) only
    with pytest.raises(gd.GraphdiffError, match="int64 values have no gradient"):
        result.grad("n")


def test_cast_of_empty_and_symbolic_inputs():
    g = gd.Graph("t")
    x = g.input("x", shape=["N", 2])
    out = gd.cast(x, "int64", id="out")
    assert out.shape == ("N", 2)
    g.add_output(out)
    value = g.forward({"x": np.zeros((0, 2))}).value("out")
    assert value.shape == (0, 2) and value.dtype == np.int64


# --- errors, attributes, builders -------------------------------------------------------------------------


@pytest.mark.parametrize("op", [*NEW_UNARY])
def test_the_new_unary_ops_refuse_int64_and_bool_naming_the_node(op):
    for dtype in ("int64", "bool"):
        text = spec_error(inputs([3], dtype=dtype), [{"id": "act", "op": op, "inputs": ["x0"]}])
        assert 'nodes[0] "act"' in text and op in text and dtype in text and "float32 or float64" in text


def test_power_broadcast_mismatch_names_the_node_and_shapes():
    text = spec_error(inputs([2, 3], [2]), [{"id": "pw", "op": "power", "inputs": ["x0", "x1"]}])
    assert 'nodes[0] "pw"' in text and "power" in text and "(2, 3)" in text and "(2,)" in text


@pytest.mark.parametrize(
    ("op", "attrs", "where"),
    [
        ("gelu", {"approximate": "erf"}, "attrs.approximate"),
        ("gelu", {"approximate": None}, "attrs.approximate"),
        ("clip", {"min": "0"}, "attrs.min"),
        ("clip", {"max": "NaN"}, "attrs.max"),
        ("clip", {"low": 0.0}, "attrs.low"),
        ("leaky_relu", {"negative_slope": True}, "attrs.negative_slope"),
        ("leaky_relu", {"slope": 0.1}, "attrs.slope"),
        ("elu", {"alpha": [1.0]}, "attrs.alpha"),
        ("cast", {"dtype": "int32"}, "attrs.dtype"),
        ("cast", {}, "attrs.dtype"),
    ],
    ids=str,
)
def test_bad_attributes_are_refused_naming_them(op, attrs, where):
    text = spec_error(inputs([3]), [{"id": "n", "op": op, "inputs": ["x0"], "attrs": attrs}])
    assert f'nodes[0] "n": {where}' in text


def test_a_clip_bound_written_as_an_integer_is_a_float():
    text = spec_text(
        inputs([3]), [{"id": "c", "op": "clip", "inputs": ["x0"], "attrs": {"min": 0, "max": 1}}]
    )
    graph = gd.loads(text)
    np.testing.assert_array_equal(graph.forward({"x0": [-1.0, 0.5, 2.0]}).value("c"), [0.0, 0.5, 1.0])


def test_builders_take_inputs_then_attributes_as_numpy_and_torch_users_pass_them():
    g = gd.Graph("t")
    x = g.input("x", value=[-2.0, 0.5, 3.0])
    c = gd.clip(x, -1.0, 1.0, id="c")
    lr = gd.leaky_relu(x, 0.2, id="lr")
    el = gd.elu(x, 0.5, id="el")
    ge = gd.gelu(x, "tanh", id="ge")
    pw = gd.power(gd.abs(x), x, id="pw")
    to_int = gd.cast(x, "int64", id="i")
    sel = gd.where(gd.greater(x, 0.0), x, gd.neg(x), id="sel")
    lt, eq = gd.less(x, 1.0, id="lt"), gd.equal(x, 0.5, id="eq")
    nodes = {node.id: node for node in g.spec.nodes}
    assert nodes["c"].attrs == {"min": -1.0, "max": 1.0}
    assert nodes["lr"].attrs == {"negative_slope": 0.2}
    assert nodes["el"].attrs == {"alpha": 0.5}
    assert nodes["ge"].attrs == {"approximate": "tanh"}
    assert nodes["i"].attrs == {"dtype": "int64"}
    g.add_output(c, lr, el, ge, pw, to_int, sel, lt, eq)
    result = g.forward()
    np.testing.assert_array_equal(result.value("c"), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(result.value("lr"), [-0.4, 0.5, 3.0])
    np.testing.assert_array_equal(result.value("i"), [-2, 0, 3])
    np.testing.assert_array_equal(result.value("sel"), [2.0, 0.5, 3.0])
    np.testing.assert_allclose(result.value("pw"), [0.25, 0.5**0.5, 27.0], rtol=1e-15)
    np.testing.assert_array_equal(result.value("lt"), [True, True, False])
    np.testing.assert_array_equal(result.value("eq"), [False, True, False])
    assert "Kink" in gd.leaky_relu.__doc__ and "Kink" in gd.clip.__doc__ and "Kink" in gd.power.__doc__


def test_the_docstrings_state_the_math_the_gradient_and_the_kink_rule():
    for op in [*NEW_UNARY, "power", *COMPARISONS, "where", "cast"]:
        doc = REGISTRY[op].__doc__ or ""
        assert "d/dx" in doc or "d/da" in doc or "radient" in doc, op
    for op in ("clip", "leaky_relu", "elu", "power", "where"):
        assert "Kink rule" in (REGISTRY[op].__doc__ or ""), op


# --- empty and symbolic shapes, float32 ------------------------------------------------------------------


@pytest.mark.parametrize("op", NEW_UNARY)
def test_the_new_unary_ops_on_empty_and_symbolic_inputs(op):
    g = gd.Graph("t")
    x = g.input("x", shape=["N", 3])
    g.set_loss(gd.sum(g.apply(op, x, id="out")))
    with no_warnings():
        result = g.run({"x": np.zeros((0, 3))})
    assert result.value("out").shape == (0, 3) and result.grad("x").shape == (0, 3)
    s = gd.Graph("s")
    assert s.apply(op, s.input("x", shape=["N", 2])).shape == ("N", 2)


def test_power_on_empty_and_symbolic_inputs():
    g = gd.Graph("t")
    a = g.input("a", shape=[0, 1])
    b = g.parameter("b", value=[1.0, 2.0, 3.0])
    out = gd.power(a, b, id="out")
    assert out.shape == (0, 3)
    g.set_loss(gd.sum(out))
    with no_warnings():
        result = g.run({"a": np.ones((0, 1))})
    assert result.grad("a").shape == (0, 1)
    np.testing.assert_array_equal(result.grad("b"), [0.0, 0.0, 0.0])
    s = gd.Graph("s")
    assert gd.power(s.input("a", shape=["N", 1]), s.input("b", shape=[3])).shape == ("N", 3)


FLOAT32_VARIANTS = [
    ("clip", {"min": -0.5, "max": 0.5}),
    ("clip", {"max": 0.25}),
    ("sqrt", {}),
    ("sin", {}),
    ("cos", {}),
    ("softplus", {}),
    ("log_sigmoid", {}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("elu", {"alpha": 1.7}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize(("op", "attrs"), FLOAT32_VARIANTS, ids=lambda v: v if isinstance(v, str) else str(v))
def test_float32_stays_float32_with_any_attributes_and_matches_float64(op, attrs):
    x = np.random.default_rng(3).uniform(0.1, 2.0, size=(4, 3)) * np.array([1.0, -1.0, 1.0])
    if op == "sqrt":
        x = np.abs(x)
    r32 = run_unary(op, x.astype(np.float32), dtype="float32", **attrs)
    r64 = run_unary(op, x.astype(np.float32).astype(np.float64), **attrs)
    assert r32.value("out").dtype == np.float32 and r32.grad("x").dtype == np.float32
    np.testing.assert_allclose(r32.value("out"), r64.value("out"), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r32.grad("x"), r64.grad("x"), rtol=1e-6, atol=1e-7)


def test_power_in_float32_stays_float32():
    g = gd.Graph("t")
    a = g.parameter("a", value=[0.5, 2.0], dtype="float32")
    b = g.parameter("b", value=[3.0, -0.5], dtype="float32")
    g.set_loss(gd.sum(gd.power(a, b, id="out")))
    result = g.run()
    assert {result.value("out").dtype, result.grad("a").dtype, result.grad("b").dtype} == {
        np.dtype("float32")
    }


def test_a_float32_graph_with_where_and_cast_is_gradient_checked():
    g = gd.Graph("t")
    rng = np.random.default_rng(1)
    x = g.parameter("x", value=rng.normal(size=(3, 4)).astype(np.float32), dtype="float32")
    y = g.parameter("y", value=rng.uniform(0.5, 2.0, size=(4,)).astype(np.float32), dtype="float32")
    z = gd.where(gd.less(x, 0.0), gd.softplus(x), gd.power(y, x)) + gd.gelu(gd.cast(x, "float64"))
    g.set_loss(gd.sum(gd.elu(z, 0.7) * gd.clip(y, 0.1, 1.9)))
    report = gd.check_gradients(g)
    assert report.passed, report.table()
