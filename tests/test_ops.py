"""Every op, driven by the table in tests/op_cases.py, through the real pipeline (Graph API -> check ->
plan -> forward/backward): forward against plain numpy, gradients against centered differences, and the
shape rules, attribute validation, kink conventions, numerical stability and dtype handling of each op.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import BINARY, CASES, CASES_BY_OP, Family, OpCase

import graphdiff as gd
from graphdiff.ops import REGISTRY, format_shape

H = 1e-5
RTOL = 1e-6
ATOL = 1e-8

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
EXAMPLES = settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

ALL_FAMILIES = [
    pytest.param(case, family, id=f"{case.op}-{family.id}") for case in CASES for family in case.families
]
FIRST_FAMILIES = [pytest.param(case, case.families[0], id=case.op) for case in CASES]
BINARY_OPS = [case.op for case in CASES if case.families == BINARY]
REDUCTION_OPS = ["sum", "mean", "max"]
CLASSIFICATION_OPS = [name for name, op in REGISTRY.items() if op.classifies]


# --- helpers -----------------------------------------------------------------------------------------


def dtype_name(array: np.ndarray) -> str:
    return str(array.dtype)


def build(case: OpCase, family: Family, inputs: tuple[np.ndarray, ...]) -> tuple[gd.Graph, list[str]]:
    """A graph with one input leaf per op input (ids = the op's input names) and the op as node "out"."""
    g = gd.Graph(f"test_{case.op}")
    names = list(REGISTRY[case.op].input_names_for(len(inputs)))
    leaves = [
        g.input(name, value=value, dtype=dtype_name(value)) for name, value in zip(names, inputs, strict=True)
    ]
    g.apply(case.op, *leaves, id="out", **family.attrs)
    return g, names


def attach_loss(g: gd.Graph, case: OpCase, upstream: np.ndarray | None) -> None:
    """loss = out for a scalar loss op, else sum(out * upstream): a non-trivial upstream gradient."""
    out = g["out"]
    if upstream is None:
        g.set_loss(out)
        return
    weights = g.constant("R", value=upstream, dtype=dtype_name(upstream))
    g.set_loss(g.apply("sum", g.apply("mul", out, weights), id="loss"))


def numeric_gradient(g: gd.Graph, name: str, value: np.ndarray, upstream: np.ndarray | None) -> np.ndarray:
    """Centered differences of sum(out * upstream) (or out) w.r.t. input ``name``, by re-running forward."""

    def objective(x: np.ndarray) -> float:
        out = g.forward({name: x}).value("out")
        return float(out) if upstream is None else float(np.sum(out * upstream))

    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        plus, minus = value.copy(), value.copy()
        plus[index] += H
        minus[index] -= H
        grad[index] = (objective(plus) - objective(minus)) / (2 * H)
    return grad


def float_inputs(names: list[str], inputs: tuple[np.ndarray, ...]) -> list[tuple[str, np.ndarray]]:
    return [(n, v) for n, v in zip(names, inputs, strict=True) if np.issubdtype(v.dtype, np.floating)]


def example_inputs(case: OpCase, family: Family, seed: int = 0) -> tuple[np.ndarray, ...]:
    return case.make_inputs(np.random.default_rng(seed), family)


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# --- the table covers the registry -------------------------------------------------------------------


def test_every_registered_op_has_a_row_in_the_table():
    missing = set(REGISTRY) - set(CASES_BY_OP)
    unknown = set(CASES_BY_OP) - set(REGISTRY)
    assert not missing, f"ops without a row in tests/op_cases.py: {sorted(missing)}"
    assert not unknown, f"rows for ops that are not registered: {sorted(unknown)}"
    assert len(CASES) == len(CASES_BY_OP), "an op has two rows"


@pytest.mark.parametrize("case, family", ALL_FAMILIES)
def test_table_row_fits_the_op_signature(case: OpCase, family: Family):
    inputs = example_inputs(case, family)
    assert REGISTRY[case.op].arity_problem(len(family.shapes)) is None
    assert [v.shape for v in inputs] == list(family.shapes)


# --- forward and gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("case, family", ALL_FAMILIES)
@settings(EXAMPLES, max_examples=10)
@given(seed=SEEDS)
def test_forward_matches_numpy_reference(case: OpCase, family: Family, seed: int):
    inputs = example_inputs(case, family, seed)
    g, _ = build(case, family, inputs)
    g.add_output(g["out"])
    value = g.forward().value("out")
    expected = np.asarray(case.reference(dict(family.attrs), *inputs), dtype=case.out_dtype)
    assert g["out"].shape == value.shape, "the shape rule disagrees with the forward value"
    assert g["out"].dtype == case.out_dtype
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12, strict=True)


@pytest.mark.parametrize("case, family", ALL_FAMILIES)
@EXAMPLES
@given(seed=SEEDS)
def test_gradient_matches_centered_differences(case: OpCase, family: Family, seed: int):
    if not case.differentiable:
        return  # a bool or integer result carries no gradient (test_no_gradient_through_non_float_results)
    rng = np.random.default_rng(seed)
    inputs = case.make_inputs(rng, family)
    g, names = build(case, family, inputs)
    out_shape = g["out"].shape
    upstream = None if case.is_loss else np.asarray(rng.normal(size=out_shape), dtype=np.float64)
    attach_loss(g, case, upstream)
    result = g.run()
    for name, value in float_inputs(names, inputs):
        analytic = result.grad(name)
        assert analytic.shape == value.shape and analytic.dtype == np.float64
        numeric = numeric_gradient(g, name, value, upstream)
        np.testing.assert_allclose(
            analytic, numeric, rtol=RTOL, atol=ATOL, err_msg=f"d loss / d {name} of {case.op}"
        )


def test_labels_get_no_gradient():
    case = CASES_BY_OP["softmax_cross_entropy"]
    family = case.families[0]
    g, _ = build(case, family, example_inputs(case, family))
    g.set_loss(g["out"])
    result = g.run()
    assert result.grad("logits").shape == (4, 3)
    with pytest.raises(gd.GraphdiffError, match="int64 values have no gradient"):
        result.grad("labels")


# --- kinks: the conventions at exact ties --------------------------------------------------------------


def run_sum_of(op: str, *values: Any, **attrs: Any) -> gd.Result:
    """loss = sum(op(values)); inputs are named a, b (binary) or x."""
    g = gd.Graph(f"kink_{op}")
    names = REGISTRY[op].input_names
    leaves = [
        g.input(name, value=np.asarray(v, dtype=np.float64)) for name, v in zip(names, values, strict=True)
    ]
    out = g.apply(op, *leaves, id="out", **attrs)
    g.set_loss(out if out.shape == () else g.apply("sum", out))
    return g.run()


def test_maximum_splits_the_gradient_equally_at_a_tie():
    result = run_sum_of("maximum", [1.0, 2.0, 3.0], [1.0, 0.0, 4.0])
    np.testing.assert_array_equal(result.grad("a"), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(result.grad("b"), [0.5, 0.0, 1.0])


def test_minimum_splits_the_gradient_equally_at_a_tie():
    result = run_sum_of("minimum", [1.0, 2.0, 3.0], [1.0, 0.0, 4.0])
    np.testing.assert_array_equal(result.grad("a"), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(result.grad("b"), [0.5, 1.0, 0.0])


def test_maximum_tie_against_a_broadcast_scalar_sums_the_halves():
    result = run_sum_of("maximum", [[1.0, 2.0], [1.0, 0.0]], 1.0)
    np.testing.assert_array_equal(result.grad("a"), [[0.5, 1.0], [0.5, 0.0]])
    assert float(result.grad("b")) == 0.5 + 0.5 + 1.0


def test_reduce_max_divides_the_gradient_among_tied_maxima():
    result = run_sum_of("max", [3.0, 3.0, 1.0])
    np.testing.assert_array_equal(result.grad("x"), [0.5, 0.5, 0.0])


def test_reduce_max_along_an_axis_divides_ties_per_row():
    result = run_sum_of("max", [[3.0, 3.0, 1.0], [2.0, 2.0, 2.0], [0.0, 5.0, 1.0]], axis=1)
    np.testing.assert_allclose(
        result.grad("x"), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]], rtol=0, atol=1e-15
    )


def test_relu_gradient_at_zero_is_zero():
    result = run_sum_of("relu", [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(result.grad("x"), [0.0, 1.0, 0.0])


def test_abs_gradient_at_zero_is_zero():
    result = run_sum_of("abs", [0.0, 2.0, -2.0])
    np.testing.assert_array_equal(result.grad("x"), [0.0, 1.0, -1.0])


def test_l1_regularization_gradient_at_zero_weight_is_zero():
    g = gd.Graph("l1")
    w = g.parameter("w", value=np.array([0.0, 1.5, -2.0]))
    g.set_loss(g.apply("l1_regularization", w, **{"lambda": 0.5}))
    result = g.run()
    assert result.loss == 0.5 * 3.5
    np.testing.assert_array_equal(result.grad("w"), [0.0, 0.5, -0.5])


def test_pow_with_exponent_zero_has_zero_gradient_at_zero():
    # x**0 is the constant 1: its gradient is 0 everywhere, not 0 * 0**-1 = nan at x = 0.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_sum_of("pow", [0.0, 2.0, -1.0], exponent=0.0)
    np.testing.assert_array_equal(result.value("out"), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(result.grad("x"), [0.0, 0.0, 0.0])


def run_classification(op: str, scores: Any, labels: Any, **attrs: Any) -> gd.Result:
    g = gd.Graph(op)
    s = g.input(REGISTRY[op].input_names[0], value=np.asarray(scores, dtype=np.float64))
    y = g.input("labels", value=np.asarray(labels, dtype=np.int64), dtype="int64")
    g.set_loss(g.apply(op, s, y, **attrs))
    return g.run()


def test_multiclass_hinge_margin_of_exactly_zero_contributes_no_gradient():
    # label 0, delta 1: margins are 0 - 1 + 1 = 0 (exactly zero) for class 1 and 2 - 1 + 1 = 2 for class 2.
    result = run_classification("multiclass_hinge", [[1.0, 0.0, 2.0]], [0])
    assert result.loss == 2.0
    np.testing.assert_array_equal(result.grad("scores"), [[-1.0, 0.0, 1.0]])


def test_multiclass_hinge_all_margins_zero_gives_zero_loss_and_gradient():
    result = run_classification("multiclass_hinge", [1.0, 0.0, 0.0], 0)
    assert result.loss == 0.0
    np.testing.assert_array_equal(result.grad("scores"), [0.0, 0.0, 0.0])


# --- numerically stable forms --------------------------------------------------------------------------


def test_sigmoid_saturates_without_overflow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            result = run_sum_of("sigmoid", [1000.0, -1000.0, 0.0])
    np.testing.assert_array_equal(result.value("out"), [1.0, 0.0, 0.5])
    grad = result.grad("x")
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.25])


def test_softmax_of_large_equal_inputs_is_uniform():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            g = gd.Graph("softmax")
            x = g.input("x", value=np.array([1000.0, 1000.0]))
            p = g.apply("softmax", x, id="out")
            g.set_loss(g.apply("sum", g.apply("mul", p, g.constant("R", value=[1.0, 3.0]))))
            result = g.run()
    np.testing.assert_array_equal(result.value("out"), [0.5, 0.5])
    # d/dx sum(R * p) = p * (R - sum(R * p)) = 0.5 * ([1, 3] - 2)
    np.testing.assert_array_equal(result.grad("x"), [-0.5, 0.5])


@pytest.mark.parametrize("label, loss, grad", [(0, 0.0, [0.0, 0.0]), (1, 2000.0, [1.0, -1.0])])
def test_softmax_cross_entropy_with_extreme_logits_is_finite_and_exact(label, loss, grad):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            result = run_classification("softmax_cross_entropy", [1e3, -1e3], label)
    # exact: logsumexp([1e3, -1e3]) = 1e3 + log1p(e^-2000) = 1e3 in float64
    assert result.loss == loss
    assert np.all(np.isfinite(result.grad("logits")))
    np.testing.assert_array_equal(result.grad("logits"), grad)


def test_log_softmax_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            g = gd.Graph("log_softmax")
            x = g.input("x", value=np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 1000.0]]))
            out = g.apply("log_softmax", x, id="out")
            g.set_loss(g.apply("sum", out))
            result = g.run()
    np.testing.assert_allclose(
        result.value("out"),
        [[0.0, -1000.0, -2000.0], [-math.log(3.0)] * 3],
        rtol=1e-15,
        atol=0,
    )
    # d/dx sum(log_softmax(x)) = 1 - 3 softmax(x) per row
    np.testing.assert_allclose(result.grad("x"), [[-2.0, 1.0, 1.0], [0.0, 0.0, 0.0]], rtol=0, atol=1e-15)


# --- shape rules ---------------------------------------------------------------------------------------


def leaf(g: gd.Graph, id: str, shape: tuple[int, ...], dtype: str = "float64") -> gd.Tensor:
    return g.input(id, value=np.zeros(shape, dtype=dtype), dtype=dtype)


def test_matmul_inner_dimension_mismatch_names_both_shapes():
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply("matmul", leaf(g, "a", (2, 3)), leaf(g, "b", (4, 5)))
    text = message(excinfo)
    assert "matmul" in text and "(2, 3)" in text and "(4, 5)" in text
    assert "inner dimensions differ" in text


@pytest.mark.parametrize("shapes", [((2,), ()), ((), (2, 3)), ((), ())], ids=["b", "a", "both"])
def test_matmul_refuses_a_scalar_operand(shapes):
    # N-D operands are batched as np.matmul does; a 0-d one is refused, as numpy refuses it.
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError, match="matmul") as excinfo:
        g.apply("matmul", leaf(g, "a", shapes[0]), leaf(g, "b", shapes[1]))
    assert "at least 1-D" in message(excinfo)
    assert format_shape(shapes[0]) in message(excinfo) and format_shape(shapes[1]) in message(excinfo)


def test_matmul_batches_3d_operands():
    g = gd.Graph("t")
    assert g.apply("matmul", leaf(g, "a", (3, 2, 2)), leaf(g, "b", (2, 4))).shape == (3, 2, 4)


@pytest.mark.parametrize("op", BINARY_OPS)
@pytest.mark.parametrize("shapes", [((3,), (4,)), ((3, 2), (3,)), ((2, 3), (3, 2))], ids=str)
def test_binary_broadcast_mismatch_names_op_and_both_shapes(op, shapes):
    g = gd.Graph("t")
    a_shape, b_shape = shapes
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply(op, leaf(g, "a", a_shape), leaf(g, "b", b_shape))
    text = message(excinfo)
    assert op in text and format_shape(a_shape) in text and format_shape(b_shape) in text
    assert "broadcast" in text


@pytest.mark.parametrize("shapes", [((4, 1), (4,)), ((4,), (4, 1)), ((3,), ())], ids=str)
def test_squared_error_refuses_different_shapes_instead_of_broadcasting(shapes):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply("squared_error", leaf(g, "y", shapes[0]), leaf(g, "t", shapes[1]))
    text = message(excinfo)
    assert "squared_error" in text
    assert format_shape(shapes[0]) in text and format_shape(shapes[1]) in text


@pytest.mark.parametrize("op", CLASSIFICATION_OPS)
@pytest.mark.parametrize(
    "scores, labels",
    [
        ((4, 3), (3,)),
        ((4, 3), (4, 1)),
        ((4, 3), ()),
        ((3,), (1,)),
        ((3,), (3,)),
        ((2, 2, 3), (2, 2)),
        ((), ()),
    ],
    ids=str,
)
def test_classification_loss_refuses_mismatched_labels(op, scores, labels):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply(op, leaf(g, "s", scores), leaf(g, "y", labels, "int64"))
    text = message(excinfo)
    assert op in text and format_shape(scores) in text and format_shape(labels) in text


@pytest.mark.parametrize("op", CLASSIFICATION_OPS)
def test_classification_loss_refuses_float_labels(op):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError, match="int64") as excinfo:
        g.apply(op, leaf(g, "s", (4, 3)), leaf(g, "y", (4,)))
    assert op in message(excinfo) and "labels" in message(excinfo)


def int64_variants() -> list[Any]:
    params = []
    for case in CASES:
        if not case.float_only:
            continue
        family = case.families[0]
        op = REGISTRY[case.op]
        inputs = example_inputs(case, family)
        for position, name in enumerate(op.input_names_for(len(inputs))):
            if not op.differentiable(position) or inputs[position].dtype != np.float64:
                continue
            params.append(pytest.param(case, family, position, id=f"{case.op}-{name}"))
    return params


@pytest.mark.parametrize("case, family, position", int64_variants())
def test_float_op_refuses_int64_input(case: OpCase, family: Family, position: int):
    inputs = list(example_inputs(case, family))
    inputs[position] = np.round(inputs[position]).astype(np.int64)
    g = gd.Graph("t")
    names = REGISTRY[case.op].input_names_for(len(inputs))
    leaves = [g.input(n, value=v, dtype=dtype_name(v)) for n, v in zip(names, inputs, strict=True)]
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply(case.op, *leaves, **family.attrs)
    text = message(excinfo)
    assert case.op in text and "int64" in text and repr(names[position]) in text


@pytest.mark.parametrize("op", ["reshape", "transpose"])
def test_shape_ops_move_int64_values_unchanged(op):
    case = CASES_BY_OP[op]
    family = case.families[0]
    g = gd.Graph("t")
    x = g.input("x", value=np.arange(6).reshape(3, 2), dtype="int64")
    out = g.apply(op, x, id="out", **family.attrs)
    g.add_output(out)
    assert out.dtype == "int64"
    value = g.forward().value("out")
    assert value.dtype == np.int64
    np.testing.assert_array_equal(value, case.reference(dict(family.attrs), np.arange(6.0).reshape(3, 2)))


@pytest.mark.parametrize("op", REDUCTION_OPS)
@pytest.mark.parametrize("axis", [2, -3, [0, 2], [0, -2]], ids=str)
def test_reduction_axis_out_of_range_or_repeated_is_refused(op, axis):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply(op, leaf(g, "x", (3, 2)), axis=axis)
    text = message(excinfo)
    assert op in text and "axis" in text


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [((3, 2), 2), ((3, 2), -3), ((), -1)], ids=str)
def test_softmax_axis_out_of_range_is_refused(op, shape, axis):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply(op, leaf(g, "x", shape), axis=axis)
    assert op in message(excinfo) and "out of range" in message(excinfo)


@pytest.mark.parametrize(
    "shape, target",
    [((3, 2), [4]), ((3, 2), [4, -1]), ((3, 2), [-1, -1]), ((3, 2), [2, -2]), ((3, 2), [0, -1])],
    ids=str,
)
def test_bad_reshape_names_both_shapes(shape, target):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply("reshape", leaf(g, "x", shape), shape=target)
    text = message(excinfo)
    assert "reshape" in text and format_shape(shape) in text and format_shape(target) in text


@pytest.mark.parametrize("axes", [[0, 0], [0], [0, 1, 2], [0, 2]], ids=str)
def test_transpose_refuses_axes_that_are_not_a_permutation(axes):
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError, match="transpose") as excinfo:
        g.apply("transpose", leaf(g, "x", (3, 2)), axes=axes)
    assert "permutation" in message(excinfo)


def test_shape_error_names_the_node():
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError) as excinfo:
        g.apply("add", leaf(g, "a", (3,)), leaf(g, "b", (4,)), id="bad_sum")
    assert excinfo.value.problems[0].place == 'node "bad_sum"'


# --- attribute validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("case, family", FIRST_FAMILIES)
def test_unknown_attribute_is_refused_naming_it(case: OpCase, family: Family):
    g, names = build(case, family, example_inputs(case, family))
    leaves = [g[name] for name in names]
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply(case.op, *leaves, bogus=1, **family.attrs)
    assert not isinstance(excinfo.value, gd.ShapeError)
    text = message(excinfo)
    assert "attrs.bogus" in text and "unknown attribute" in text and case.op in text


def test_misspelled_attribute_suggests_the_right_name():
    g = gd.Graph("t")
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply("sum", leaf(g, "x", (3, 2)), axs=0)
    text = message(excinfo)
    assert "attrs.axs" in text and "axis" in text.split("attrs.axs", 1)[1]


WRONG_ATTRS = [
    ("sum", (3, 2), {"axis": "0"}, "attrs.axis"),
    ("sum", (3, 2), {"axis": 1.0}, "attrs.axis"),
    ("sum", (3, 2), {"axis": True}, "attrs.axis"),
    ("mean", (3, 2), {"keepdims": "yes"}, "attrs.keepdims"),
    ("max", (3, 2), {"keepdims": 1}, "attrs.keepdims"),
    ("max", (3, 2), {"axis": ["0"]}, "attrs.axis"),
    ("softmax", (3, 2), {"axis": "1"}, "attrs.axis"),
    ("log_softmax", (3, 2), {"axis": [0]}, "attrs.axis"),
    ("pow", (3,), {"exponent": "2"}, "attrs.exponent"),
    ("pow", (3,), {"exponent": math.inf}, "attrs.exponent"),
    ("pow", (3,), {"exponent": math.nan}, "attrs.exponent"),
    ("pow", (3,), {}, "attrs.exponent"),
    ("reshape", (3, 2), {"shape": "6"}, "attrs.shape"),
    ("reshape", (3, 2), {"shape": [2.5, 2]}, "attrs.shape"),
    ("reshape", (3, 2), {}, "attrs.shape"),
    ("transpose", (3, 2), {"axes": 1}, "attrs.axes"),
    ("squared_error", (3,), {"reduction": "median"}, "attrs.reduction"),
    ("l2_regularization", (3,), {"lambda": -1.0}, "attrs.lambda"),
    ("l1_regularization", (3,), {"lambda": "big"}, "attrs.lambda"),
    ("multiclass_hinge", (4, 3), {"delta": -0.5}, "attrs.delta"),
]


@pytest.mark.parametrize(
    "op, shape, attrs, where",
    WRONG_ATTRS,
    ids=[f"{op}-{attrs!r}".replace(" ", "") for op, _, attrs, _ in WRONG_ATTRS],
)
def test_wrong_attribute_value_is_refused_naming_the_attribute(op, shape, attrs, where):
    g = gd.Graph("t")
    names = REGISTRY[op].input_names
    inputs = [leaf(g, names[0], shape)]
    if len(names) == 2:
        second_shape = shape if op == "squared_error" else shape[:1]
        inputs.append(leaf(g, names[1], second_shape, "int64" if "labels" in names else "float64"))
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply(op, *inputs, **attrs)
    assert not isinstance(excinfo.value, gd.ShapeError)
    assert where in message(excinfo)
    assert len(g.spec.nodes) == 0, "a refused node must not be added to the graph"


def test_wrong_number_of_inputs_is_refused():
    g = gd.Graph("t")
    with pytest.raises(gd.SpecError, match=r"takes 2 inputs \(a, b\), got 1"):
        g.apply("mul", leaf(g, "a", (3,)))


# --- runtime errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", CLASSIFICATION_OPS)
@pytest.mark.parametrize(
    "scores, labels, bad", [((2, 3), [0, 5], 5), ((2, 3), [-1, 0], -1), ((3,), 3, 3)], ids=str
)
def test_label_out_of_range_is_a_compute_error_naming_the_label(op, scores, labels, bad):
    g = gd.Graph("t")
    s = g.input("s", value=np.ones(scores))
    y = g.input("labels", value=np.asarray(labels, dtype=np.int64), dtype="int64")
    g.set_loss(g.apply(op, s, y, id="loss"))
    with pytest.raises(gd.ComputeError) as excinfo:
        g.run()
    text = message(excinfo)
    assert f"label {bad}" in text and op in text and "0 to 2" in text
    assert '"loss"' in text, "the error should name the node"


# --- float32 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case, family", FIRST_FAMILIES)
def test_op_in_float32_keeps_float32_values_and_gradients(case: OpCase, family: Family):
    inputs64 = example_inputs(case, family)
    inputs = tuple(v.astype(np.float32) if v.dtype == np.float64 else v for v in inputs64)
    g, names = build(case, family, inputs)
    if not case.differentiable:
        return  # no float result to keep float32 (cast and comparisons are tested in their own part)
    assert g["out"].dtype == "float32"
    upstream = None
    if not case.is_loss:
        upstream = np.random.default_rng(1).normal(size=g["out"].shape).astype(np.float32)
    attach_loss(g, case, upstream)
    result = g.run()
    for id, value in result.values.items():
        if value.dtype.kind == "f":
            assert value.dtype == np.float32, f"value of {id!r} is {value.dtype}"
    for id, grad in result.grads.items():
        assert grad.dtype == np.float32, f"gradient of {id!r} is {grad.dtype}"
    expected = case.reference(
        dict(family.attrs), *(v.astype(np.float64) if v.dtype == np.float32 else v for v in inputs)
    )
    np.testing.assert_allclose(result.value("out"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", [*BINARY_OPS, "matmul", "squared_error"])
def test_mixed_float32_and_float64_promote_to_float64_and_gradients_keep_each_leaf_dtype(op):
    case = CASES_BY_OP[op]
    family = case.families[2] if op in BINARY_OPS else case.families[0]
    a, b = example_inputs(case, family)
    g, _ = build(case, family, (a.astype(np.float32), b))
    assert g["out"].dtype == "float64"
    attach_loss(g, case, None if case.is_loss else np.ones(g["out"].shape))
    result = g.run()
    assert result.value("out").dtype == np.float64
    assert result.grad("a" if op != "squared_error" else "prediction").dtype == np.float32
    assert result.grad("b" if op != "squared_error" else "target").dtype == np.float64


def test_float32_network_runs_end_to_end_and_matches_float64():
    rng = np.random.default_rng(0)
    data = {
        "x": rng.normal(size=(4, 3)),
        "W1": rng.normal(size=(3, 5)),
        "b1": rng.normal(size=(5,)),
        "W2": rng.normal(size=(5, 3)),
    }
    labels = np.array([0, 2, 1, 2])

    def run(dtype: str) -> gd.Result:
        g = gd.Graph(f"mlp_{dtype}")
        x = g.input("x", value=data["x"], dtype=dtype)
        w1 = g.parameter("W1", value=data["W1"], dtype=dtype)
        b1 = g.parameter("b1", value=data["b1"], dtype=dtype)
        w2 = g.parameter("W2", value=data["W2"], dtype=dtype)
        y = g.input("y", value=labels, dtype="int64")
        hidden = g.apply("tanh", g.apply("add", g.apply("matmul", x, w1), b1))
        scores = g.apply("matmul", g.apply("sigmoid", hidden), w2)
        data_loss = g.apply("softmax_cross_entropy", scores, y)
        reg = g.apply("l2_regularization", w1, **{"lambda": 0.1})
        g.set_loss(g.apply("add", data_loss, reg, id="loss"))
        return g.run()

    r32, r64 = run("float32"), run("float64")
    assert r32.value("loss").dtype == np.float32
    for name in ("x", "W1", "b1", "W2"):
        assert r32.grad(name).dtype == np.float32
        np.testing.assert_allclose(r32.grad(name), r64.grad(name), rtol=1e-4, atol=1e-6)
    assert abs(r32.loss - r64.loss) <= 1e-5 * abs(r64.loss)
