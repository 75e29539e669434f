"""concat, stack, slice, squeeze, expand_dims, broadcast_to, flatten and pad beyond the op table: refusals
naming the node, symbolic dimensions, dtypes (int64 and bool values move unchanged; float32 with float64
promotes), Python slice semantics, empty inputs, exact gradients, and the builders.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from helpers import load_spec

import graphdiff as gd
from graphdiff.ops import REGISTRY

SHAPE_OPS = ["concat", "stack", "slice", "squeeze", "expand_dims", "broadcast_to", "flatten", "pad"]


def leaf(id: str, shape: list[Any], dtype: str = "float64") -> dict[str, Any]:
    return {"id": id, "kind": "input", "shape": shape, "dtype": dtype}


def refused(leaves: list[dict[str, Any]], op: str, inputs: list[str], attrs: dict[str, Any]) -> str:
    """The SpecError text of a one-node spec that must be refused; it names the node "bad"."""
    with pytest.raises(gd.SpecError) as excinfo:
        load_spec(leaves, [{"id": "bad", "op": op, "inputs": inputs, "attrs": attrs}])
    text = str(excinfo.value)
    assert 'nodes[0] "bad"' in text, text
    return text


def symbolic(op: str, shapes: list[list[Any]], **attrs: Any) -> tuple[Any, ...]:
    g = gd.Graph("sym")
    inputs = [g.input(f"x{i}", shape=s) for i, s in enumerate(shapes)]
    return g.apply(op, *inputs, **attrs).shape


# --- concat -------------------------------------------------------------------------------------


def test_concat_keeps_symbolic_dimensions_off_the_joined_axis_and_runs():
    g = gd.Graph("cat")
    a, b = g.input("a", shape=["N", 2]), g.input("b", shape=["N", 3])
    out = gd.concat(a, b, axis=1, id="out")
    assert out.shape == ("N", 5)
    g.add_output(out)
    feeds = {"a": np.ones((4, 2)), "b": np.zeros((4, 3))}
    np.testing.assert_array_equal(
        g.forward(feeds).value("out"), np.hstack([np.ones((4, 2)), np.zeros((4, 3))])
    )


def test_concat_along_a_symbolic_axis_is_refused_clearly():
    text = refused([leaf("a", ["N", 2]), leaf("b", [3, 2])], "concat", ["a", "b"], {"axis": 0})
    assert "concat along axis 0" in text and "symbolic size N" in text and "(N, 2), (3, 2)" in text
    text = refused([leaf("a", ["N", 2]), leaf("b", ["N", 2])], "concat", ["a", "b"], {"axis": -2})
    assert "symbolic size N" in text
    assert symbolic("concat", [["N", 2]], axis=0) == ("N", 2)  # one input: nothing to add up


@pytest.mark.parametrize(
    "leaves, attrs, expected",
    [
        ([leaf("a", [2, 3]), leaf("b", [2, 4])], {"axis": 0}, "differ on axis 1"),
        ([leaf("a", ["N", 3]), leaf("b", ["M", 3])], {"axis": 1}, "differ on axis 0"),
        ([leaf("a", [2, 3]), leaf("b", [2, 3, 1])], {}, "differ in their number of dimensions"),
        ([leaf("a", []), leaf("b", [])], {}, "'inputs[0]' is a scalar"),
        ([leaf("a", [2, 3]), leaf("b", [2, 3])], {"axis": 2}, "axis 2 is out of range for a 2-d input"),
        ([leaf("a", [2]), leaf("b", [2], "int64")], {}, "'inputs[0]' float64, 'inputs[1]' int64"),
        ([leaf("a", [2], "bool"), leaf("b", [2], "int64")], {}, "only float32 and float64 mix"),
        ([leaf("a", [2]), leaf("b", [2])], {"axis": 0.0}, "attrs.axis"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_concat_refusals_name_the_node(leaves, attrs, expected):
    assert expected in refused(leaves, "concat", ["a", "b"], attrs)


def test_concat_and_stack_need_at_least_one_input():
    for op in ("concat", "stack"):
        assert "takes at least 1 input, got 0" in refused([leaf("a", [2])], op, [], {})


def test_concat_of_three_inputs_from_a_spec_splits_the_gradient_back():
    g = load_spec(
        [
            {"id": "a", "kind": "parameter", "value": [[1.0], [2.0]]},
            {"id": "b", "kind": "parameter", "value": [[3.0, 4.0], [5.0, 6.0]]},
            {"id": "c", "kind": "parameter", "value": [[7.0], [8.0]]},
            {"id": "w", "kind": "constant", "value": [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]},
        ],
        [
            {"id": "cat", "op": "concat", "inputs": ["a", "b", "c"], "attrs": {"axis": 1}},
            {"id": "weighted", "op": "mul", "inputs": ["cat", "w"]},
            {"id": "loss", "op": "sum", "inputs": ["weighted"]},
        ],
        loss="loss",
    )
    result = g.run()
    np.testing.assert_array_equal(result.value("cat"), [[1, 3, 4, 7], [2, 5, 6, 8]])
    np.testing.assert_array_equal(result.grad("a"), [[1.0], [5.0]])
    np.testing.assert_array_equal(result.grad("b"), [[2.0, 3.0], [6.0, 7.0]])
    np.testing.assert_array_equal(result.grad("c"), [[4.0], [8.0]])


@pytest.mark.parametrize("op", ["concat", "stack"])
def test_float32_with_float64_promotes_and_each_gradient_keeps_its_input_dtype(op):
    g = gd.Graph("mix")
    a = g.parameter("a", value=[1.0, 2.0], dtype="float32")
    b = g.parameter("b", value=[3.0, 4.0])
    out = g.apply(op, a, b, id="out")
    assert out.dtype == "float64"
    g.set_loss(gd.sum(out * out))
    result = g.run()
    assert result.value("out").dtype == np.float64
    assert result.grad("a").dtype == np.float32 and result.grad("b").dtype == np.float64
    np.testing.assert_array_equal(result.grad("a"), [2.0, 4.0])
    np.testing.assert_array_equal(result.grad("b"), [6.0, 8.0])


@pytest.mark.parametrize("op", ["concat", "stack"])
def test_float32_inputs_stay_float32(op):
    g = gd.Graph("f32")
    a = g.parameter("a", value=[1.0, 2.0], dtype="float32")
    b = g.parameter("b", value=[3.0, 4.0], dtype="float32")
    out = g.apply(op, a, b)
    assert out.dtype == "float32"
    g.set_loss(gd.sum(out))
    result = g.run()
    assert result.grad("a").dtype == result.grad("b").dtype == np.float32


def test_concat_with_an_empty_input():
    g = gd.Graph("empty")
    a = g.parameter("a", value=[[1.0, 2.0]])
    e = g.input("e", shape=[0, 2])
    out = gd.concat(e, a, id="out")
    assert out.shape == (1, 2)
    g.set_loss(gd.sum(out * 3.0))
    result = g.run({"e": np.zeros((0, 2))})
    np.testing.assert_array_equal(result.value("out"), [[1.0, 2.0]])
    np.testing.assert_array_equal(result.grad("a"), [[3.0, 3.0]])
    assert result.grad("e").shape == (0, 2)


# --- stack ------------------------------------------------------------------------------------


def test_stack_keeps_symbols_and_refuses_different_shapes():
    assert symbolic("stack", [["N", 2], ["N", 2]], axis=1) == ("N", 2, 2)
    assert symbolic("stack", [["N"], ["N"], ["N"]], axis=-1) == ("N", 3)
    text = refused([leaf("a", ["N", 2]), leaf("b", [3, 2])], "stack", ["a", "b"], {})
    assert "(N, 2), (3, 2) must all have the same shape" in text
    text = refused([leaf("a", [2]), leaf("b", [2])], "stack", ["a", "b"], {"axis": 2})
    assert "axis 2 is out of range for stacking 1-d inputs" in text and "-2 to 1" in text


def test_stack_gradient_gives_each_input_its_slice():
    g = gd.Graph("stack")
    a, b = g.parameter("a", value=[1.0, 2.0]), g.parameter("b", value=[3.0, 4.0])
    out = gd.stack(a, b, axis=1, id="out")
    assert out.shape == (2, 2)
    g.set_loss(gd.sum(out * g.constant("w", value=[[1.0, 10.0], [100.0, 1000.0]])))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[1.0, 3.0], [2.0, 4.0]])
    np.testing.assert_array_equal(result.grad("a"), [1.0, 100.0])
    np.testing.assert_array_equal(result.grad("b"), [10.0, 1000.0])


# --- slice ------------------------------------------------------------------------------------


BOUNDS = [None, -7, -3, -1, 0, 1, 2, 4, 5, 9]


def test_slice_follows_python_slice_semantics_for_every_bound_and_step():
    """Every combination of start, stop (in and out of range, negative, null) and step (negative too)
    against Python's list slicing, through one graph per step."""
    x = np.arange(5.0)
    for step in (1, 2, 3, -1, -2, -4):
        for start, stop in itertools.product(BOUNDS, BOUNDS):
            g = gd.Graph("s")
            out = gd.slice(g.input("x", value=x), [start], [stop], [step], id="out")
            expected = [float(v) for v in list(x)[start:stop:step]]
            assert out.shape == (len(expected),), (start, stop, step)
            g.add_output(out)
            assert g.forward().value("out").tolist() == expected, (start, stop, step)


def test_slice_gradient_scatters_into_zeros():
    g = gd.Graph("s")
    x = g.parameter("x", value=np.arange(12.0).reshape(3, 4))
    out = gd.slice(x, [None, -1], [None, 0], [2, -2], id="out")  # rows 0, 2; columns 3, 1
    assert out.shape == (2, 2)
    g.set_loss(gd.sum(out * g.constant("w", value=[[1.0, 2.0], [3.0, 4.0]])))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[3.0, 1.0], [11.0, 9.0]])
    np.testing.assert_array_equal(result.grad("x"), [[0, 2, 0, 1], [0, 0, 0, 0], [0, 4, 0, 3]])


def test_slice_step_zero_is_refused_at_validation_naming_the_attribute():
    text = refused([leaf("x", [5])], "slice", ["x"], {"start": [0], "stop": [3], "step": [0]})
    assert "attrs.step: should be a list of non-zero steps" in text
    with pytest.raises(gd.SpecError) as excinfo:
        gd.slice(gd.Graph("g").input("x", shape=[5]), [0], [3], [0])
    assert not isinstance(excinfo.value, gd.ShapeError)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ([5], {"start": [0, 1], "stop": [1]}, "attrs.stop: should be a list of 2 entries like start"),
        ([5], {"start": [0], "stop": [1], "step": [1, 1]}, "attrs.step"),
        ([5], {"start": [0], "stop": [1], "axes": [0, 1]}, "attrs.axes"),
        ([5], {"start": [0, 0], "stop": [1, 1]}, "start has 2 entries for a 1-d x"),
        ([5], {"start": [0], "stop": [1], "axes": [1]}, "axis 1 is out of range for a 1-d input"),
        ([4, 5], {"start": [0, 0], "stop": [1, 1], "axes": [1, -1]}, "axes [1, -1] repeat an axis"),
        ([5], {"start": [0.5], "stop": [1]}, "attrs.start[0]"),
        (["N", 3], {"start": [1], "stop": [None]}, "axis 0 of x (N, 3) has symbolic size N"),
        (["N", 3], {"start": [None], "stop": [None], "step": [2]}, "sliced whole"),
        ([5], {"stop": [1]}, "attrs.start: required"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_slice_refusals_name_the_node(shape, attrs, expected):
    assert expected in refused([leaf("x", shape)], "slice", ["x"], attrs)


def test_slice_keeps_a_symbolic_axis_sliced_whole():
    assert symbolic("slice", [["N", 5]], start=[None, 1], stop=[None, 4]) == ("N", 3)
    assert symbolic("slice", [["N", 5]], start=[None], stop=[None], step=[-1]) == ("N", 5)
    assert symbolic("slice", [["N", 5]], start=[0], stop=[None], step=[1]) == ("N", 5)
    assert symbolic("slice", [["N", 5]], start=[-2], stop=[None], axes=[1]) == ("N", 2)


def test_slice_of_a_fed_empty_array():
    g = gd.Graph("s")
    g.add_output(gd.slice(g.input("x", shape=[0, 4]), [1], [3], axes=[1], id="out"))
    assert g.forward({"x": np.zeros((0, 4))}).value("out").shape == (0, 2)


# --- squeeze, expand_dims, flatten ---------------------------------------------------------------


def test_squeeze_with_axis_null_refuses_symbolic_dims_and_names_the_axes_to_give():
    text = refused([leaf("x", ["N", 1, 3, 1])], "squeeze", ["x"], {})
    assert "symbolic dimensions (N at axis 0)" in text and "axis=[1, 3]" in text
    assert symbolic("squeeze", [["N", 1, 3, 1]], axis=[1, 3]) == ("N", 3)
    assert symbolic("squeeze", [["N", 1]], axis=-1) == ("N",)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ([3, 2], {"axis": 0}, "axis 0 of x (3, 2) has size 3, not 1"),
        (["N", 1], {"axis": 0}, "has symbolic size N, not 1"),
        ([1, 2], {"axis": 2}, "axis 2 is out of range"),
        ([1, 1], {"axis": [0, -2]}, "repeats an axis"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_squeeze_refusals_name_the_node(shape, attrs, expected):
    assert expected in refused([leaf("x", shape)], "squeeze", ["x"], attrs)


def test_expand_dims_positions_count_in_the_result():
    assert symbolic("expand_dims", [["N", 3]], axis=0) == (1, "N", 3)
    assert symbolic("expand_dims", [["N", 3]], axis=-1) == ("N", 3, 1)
    assert symbolic("expand_dims", [["N", 3]], axis=[0, 3]) == (1, "N", 3, 1)
    assert symbolic("expand_dims", [[]], axis=[-1, 0]) == (1, 1)
    text = refused([leaf("x", [2, 3])], "expand_dims", ["x"], {"axis": 3})
    assert "axis 3 is out of range for a 3-d result" in text
    assert "repeats an axis" in refused([leaf("x", [2])], "expand_dims", ["x"], {"axis": [0, -3]})
    assert "attrs.axis: required" in refused([leaf("x", [2])], "expand_dims", ["x"], {})


def test_flatten_keeps_the_batch_axis_and_merges_the_rest():
    assert symbolic("flatten", [["N", 3, 4, 2]]) == ("N", 24)
    assert symbolic("flatten", [["N", 3, 4]], start_axis=-2, end_axis=-1) == ("N", 12)
    assert symbolic("flatten", [["N", 1]], start_axis=0) == ("N",)
    assert symbolic("flatten", [["N", 3]], start_axis=0, end_axis=0) == ("N", 3)
    assert symbolic("flatten", [[]], start_axis=0) == (1,)
    assert symbolic("flatten", [[]], start_axis=-1) == (1,)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        (["N", 3], {"start_axis": 0}, "merge symbolic N with other sizes"),
        ([2, 3, 4], {"start_axis": 2, "end_axis": 1}, "start_axis 2 comes after end_axis 1"),
        ([2, 3], {"start_axis": 2}, "start_axis 2 is out of range for a 2-d input"),
        ([2, 3], {"end_axis": -3}, "end_axis -3 is out of range"),
        ([3], {}, "start_axis 1 is out of range for a 1-d input"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_flatten_refusals_name_the_node(shape, attrs, expected):
    assert expected in refused([leaf("x", shape)], "flatten", ["x"], attrs)


# --- broadcast_to ------------------------------------------------------------------------------


def test_broadcast_to_gradient_sums_over_the_stretched_axes():
    g = gd.Graph("b")
    x = g.parameter("x", value=[[1.0], [2.0]])
    out = gd.broadcast_to(x, [3, 2, 2], id="out")
    g.set_loss(gd.sum(out * g.constant("w", value=np.arange(12.0).reshape(3, 2, 2))))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), np.broadcast_to([[1.0], [2.0]], (3, 2, 2)))
    assert result.value("out").flags.writeable  # a value of its own, not numpy's read-only view
    w = np.arange(12.0).reshape(3, 2, 2)
    np.testing.assert_array_equal(result.grad("x"), w.sum(axis=(0, 2)).reshape(2, 1))


@pytest.mark.parametrize(
    "shape, target, expected",
    [
        ([3], [4], "axis 0 has size 3, which is neither 1 nor 4"),
        ([2, 3], [3], "the target has fewer dimensions than x"),
        (["N", 3], [4, 3], "axis 0 has size N, which is neither 1 nor 4 (a symbolic dimension"),
        ([3], [-1], "attrs.shape[0]"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_broadcast_to_refusals_name_the_node(shape, target, expected):
    assert expected in refused([leaf("x", shape)], "broadcast_to", ["x"], {"shape": target})


# --- pad ---------------------------------------------------------------------------------------


def test_pad_gradient_is_the_window_where_x_sits():
    g = gd.Graph("p")
    x = g.parameter("x", value=[[1.0, 2.0]])
    out = gd.pad(x, [[1, 0], [2, 1]], -5.0, id="out")
    assert out.shape == (2, 5)
    w = np.arange(10.0).reshape(2, 5)
    g.set_loss(gd.sum(out * g.constant("w", value=w)))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[-5, -5, -5, -5, -5], [-5, -5, 1, 2, -5]])
    np.testing.assert_array_equal(result.grad("x"), [[7.0, 8.0]])


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ([2, 3], {"pad_width": [[1, 1]]}, "pad_width has 1 pair for x (2, 3) (2-d)"),
        ([2], {"pad_width": [[-1, 1]]}, "attrs.pad_width[0][0]"),
        ([2], {"pad_width": [[1, 1, 1]]}, "attrs.pad_width[0]"),
        ([2], {"pad_width": [1, 1]}, "attrs.pad_width[0]"),
        (["N", 2], {"pad_width": [[1, 0], [1, 1]]}, "axis 0 of x (N, 2) has symbolic size N"),
        ([2], {"pad_width": [[1, 1]], "value": "0"}, "attrs.value"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_pad_refusals_name_the_node(shape, attrs, expected):
    assert expected in refused([leaf("x", shape)], "pad", ["x"], attrs)


def test_pad_keeps_symbolic_axes_given_zero_padding():
    assert symbolic("pad", [["N", 3, 4, 4]], pad_width=[[0, 0], [0, 0], [1, 1], [2, 0]]) == ("N", 3, 6, 6)


def test_pad_value_must_fit_an_int64_or_bool_x():
    assert "not a whole number" in refused(
        [leaf("x", [2], "int64")], "pad", ["x"], {"pad_width": [[1, 1]], "value": 1.5}
    )
    assert "neither 0 nor 1" in refused(
        [leaf("x", [2], "bool")], "pad", ["x"], {"pad_width": [[1, 1]], "value": 2}
    )


def test_pad_in_float32_stays_float32_with_the_value_exact_in_float32():
    g = gd.Graph("p")
    out = gd.pad(g.input("x", value=[1.0], dtype="float32"), [[1, 1]], 0.1, id="out")
    g.add_output(out)
    value = g.forward().value("out")
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, np.array([0.1, 1.0, 0.1], dtype=np.float32))


# --- any dtype moves unchanged -------------------------------------------------------------------

INT_CASES = [
    ("concat", {"axis": 1}, lambda x: np.concatenate([x, x], axis=1), 2),
    ("stack", {"axis": -1}, lambda x: np.stack([x, x], axis=-1), 2),
    ("slice", {"start": [None], "stop": [None], "step": [-1], "axes": [1]}, lambda x: x[:, ::-1], 1),
    ("squeeze", {}, lambda x: x, 1),
    ("expand_dims", {"axis": 1}, lambda x: x[:, None, :], 1),
    ("broadcast_to", {"shape": [2, 2, 3]}, lambda x: np.broadcast_to(x, (2, 2, 3)), 1),
    ("flatten", {"start_axis": 0}, lambda x: x.reshape(-1), 1),
    ("pad", {"pad_width": [[0, 1], [1, 0]], "value": 1.0},
     lambda x: np.pad(x, [[0, 1], [1, 0]], constant_values=1), 1),
]  # fmt: skip


@pytest.mark.parametrize("dtype", ["int64", "bool"])
@pytest.mark.parametrize("op, attrs, expected, count", INT_CASES, ids=[c[0] for c in INT_CASES])
def test_shape_ops_move_int64_and_bool_values_unchanged(op, attrs, expected, count, dtype):
    value = (
        np.array([[1, 0, 7], [0, 3, 1]]) if dtype == "int64" else np.array([[1, 0, 1], [0, 0, 1]])
    ).astype(dtype)
    g = gd.Graph("ints")
    x = g.input("x", value=value, dtype=dtype)
    out = g.apply(op, *[x] * count, id="out", **attrs)
    assert out.dtype == dtype
    g.add_output(out)
    result = g.forward().value("out")
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, expected(value).astype(dtype))


def test_int64_through_shape_ops_gets_no_gradient_but_floats_beside_it_do():
    g = gd.Graph("mixed")
    w = g.parameter("w", value=[1.0, 2.0, 3.0])
    labels = gd.flatten(gd.expand_dims(g.input("y", value=np.array([2, 0]), dtype="int64"), 1), 0)
    g.set_loss(gd.sum(gd.take(w, labels, 0)))
    result = g.run()
    np.testing.assert_array_equal(result.grad("w"), [1.0, 0.0, 1.0])
    with pytest.raises(gd.GraphdiffError, match="int64 values have no gradient"):
        result.grad("y")


def test_large_values_move_exactly():
    g = gd.Graph("big")
    x = g.parameter("x", value=[1e300, -1e300, 1000.0])
    out = gd.pad(gd.concat(x, -x), [[1, 1]], -1000.0, id="out")
    g.set_loss(gd.sum(out * 1e-300))
    result = g.run()
    np.testing.assert_array_equal(
        result.value("out"), [-1000, 1e300, -1e300, 1000, -1e300, 1e300, -1000, -1000]
    )
    np.testing.assert_array_equal(result.grad("x"), [0.0, 0.0, 0.0])  # +1e-300 and -1e-300 cancel


# --- declarations and builders -------------------------------------------------------------------


def test_declarations():
    for op in SHAPE_OPS:
        assert REGISTRY[op].family == "shape"
        assert REGISTRY[op].vjp_reads == frozenset()
    for op in ("concat", "stack"):
        assert REGISTRY[op].variadic and REGISTRY[op].input_names == ("inputs",)
        assert REGISTRY[op].signature() == f"{op}(*inputs)"
        assert REGISTRY[op].input_name(2) == "inputs[2]"


def test_builders():
    g = gd.Graph("b")
    a, b = g.input("a", shape=[2, 3]), g.input("b", shape=[2, 3])
    assert gd.concat(a, b).shape == (4, 3)
    assert gd.concat([a, b, a], axis=1).shape == (2, 9)
    assert gd.stack([a, b]).shape == (2, 2, 3)
    assert gd.slice(a, [1], [None]).shape == (1, 3)
    assert gd.slice(a, [0], [2], None, [1]).shape == (2, 2)
    assert gd.squeeze(gd.expand_dims(a, 0)).shape == (2, 3)
    assert gd.broadcast_to(a, [4, 2, 3]).shape == (4, 2, 3)
    assert gd.flatten(a).shape == (2, 3)
    assert gd.flatten(a, 0).shape == (6,)
    assert gd.pad(a, [[1, 1], [0, 0]], 2.0).shape == (4, 3)
    with pytest.raises(gd.ShapeError, match="'inputs\\[2\\]' is a scalar"):
        gd.concat(a, b, 1)  # a variadic op takes its attributes by keyword: 1 is a third input


# --- results far larger than their inputs ---------------------------------------------------------

OVERCOMMIT = "/proc/sys/vm/overcommit_memory"


def overcommits_always() -> bool:
    try:
        with open(OVERCOMMIT) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


@pytest.mark.parametrize(
    "op, attrs",
    [("pad", {"pad_width": [[2**62, 0]]}), ("broadcast_to", {"shape": [2**40, 2**40, 3]})],
    ids=["pad", "broadcast_to"],
)
def test_a_result_no_array_can_hold_is_refused_when_checking(op, attrs):
    text = refused([leaf("x", [3])], op, ["x"], attrs)
    assert "more than an array holds" in text


@pytest.mark.skipif(overcommits_always(), reason="the kernel would hand out the memory and then kill us")
def test_running_out_of_memory_is_a_compute_error_naming_the_node():
    g = load_spec(
        [leaf("x", [3])],
        [{"id": "huge", "op": "broadcast_to", "inputs": ["x"], "attrs": {"shape": [10**6, 10**6, 3]}}],
    )
    with pytest.raises(gd.ComputeError) as excinfo:
        g.forward({"x": np.ones(3)})
    text = str(excinfo.value)
    assert '"huge"' in text and "not enough memory for the result (1000000, 1000000, 3) float64" in text
