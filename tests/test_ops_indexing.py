"""take, take_along_axis and one_hot beyond the op table: gradients accumulating at repeated indices,
negative indices, indices out of range refused at run time naming the node, the index and the axis size,
static refusals naming the node, symbolic dimensions, empty inputs, dtypes other than float64, and the
builders gd.take / gd.take_along_axis / gd.one_hot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import load_spec

import graphdiff as gd
from graphdiff.ops import REGISTRY


def lookup_graph(table: Any, ids: Any, axis: int | None = 0) -> gd.Graph:
    """loss = sum(take(E, ids, axis) * w) with weights w = 1, 2, 3, ... so each position is told apart."""
    g = gd.Graph("lookup")
    E = g.parameter("E", value=np.asarray(table, dtype=np.float64))
    i = g.input("ids", value=np.asarray(ids, dtype=np.int64), dtype="int64")
    out = gd.take(E, i, axis, id="picked")
    weights = g.constant("w", value=np.arange(1.0, 1.0 + np.prod(out.shape)).reshape(out.shape))
    g.set_loss(gd.sum(out * weights, id="loss"))
    return g


# --- gradients accumulate at repeated indices ----------------------------------------------------------


def test_embedding_lookup_gradient_accumulates_at_repeated_ids():
    table = np.arange(12.0).reshape(4, 3)
    g = lookup_graph(table, [2, 0, 2, 2, -1])
    result = g.run()
    np.testing.assert_array_equal(result.value("picked"), table[[2, 0, 2, 2, 3]])
    w = np.arange(1.0, 16.0).reshape(5, 3)
    expected = np.zeros((4, 3))
    expected[2] = w[0] + w[2] + w[3]  # id 2 three times: three contributions
    expected[0] = w[1]
    expected[3] = w[4]  # -1 is the last row
    np.testing.assert_array_equal(result.grad("E"), expected)
    assert result.grad("E")[1].tolist() == [0.0, 0.0, 0.0]  # never picked


def test_take_with_axis_null_picks_from_the_flattened_x_and_accumulates():
    g = gd.Graph("flat")
    x = g.parameter("x", value=[[1.0, 2.0], [3.0, 4.0]])
    i = g.input("i", value=np.array([[3, 3], [0, -4]]), dtype="int64")
    g.set_loss(gd.sum(gd.take(x, i, id="out")))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[4.0, 4.0], [1.0, 1.0]])
    np.testing.assert_array_equal(result.grad("x"), [[2.0, 0.0], [0.0, 2.0]])  # -4 wraps to 0


def test_take_along_a_middle_axis_accumulates_per_slice():
    x = np.arange(24.0).reshape(2, 3, 4)
    g = gd.Graph("mid")
    xt = g.parameter("x", value=x)
    i = g.input("i", value=np.array([1, 1, -3]), dtype="int64")
    out = gd.take(xt, i, axis=1, id="out")
    assert out.shape == (2, 3, 4)
    g.set_loss(gd.sum(out))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), x[:, [1, 1, 0], :])
    expected = np.zeros((2, 3, 4))
    expected[:, 1, :] = 2.0
    expected[:, 0, :] = 1.0
    np.testing.assert_array_equal(result.grad("x"), expected)


def test_take_along_axis_gradient_accumulates_and_sums_over_broadcast_rows():
    g = gd.Graph("along")
    x = g.parameter("x", value=[[10.0, 20.0, 30.0]])  # (1, 3) broadcast over 2 rows of indices
    i = g.input("i", value=np.array([[2, 2], [0, -1]]), dtype="int64")
    out = gd.take_along_axis(x, i, 1, id="out")
    assert out.shape == (2, 2)
    g.set_loss(gd.sum(out * g.constant("w", value=[[1.0, 2.0], [4.0, 8.0]])))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [[30.0, 30.0], [10.0, 30.0]])
    np.testing.assert_array_equal(result.grad("x"), [[4.0, 0.0, 1.0 + 2.0 + 8.0]])


def test_take_along_axis_as_nll_matches_softmax_cross_entropy():
    """-mean(take_along_axis(log_softmax(s), expand_dims(y, 1), 1)) is the cross-entropy, gradient too
    (expand_dims moves the int64 labels unchanged)."""
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(5, 4)), np.array([0, 3, 3, 1, 2])
    results = []
    for composed in (True, False):
        g = gd.Graph("nll")
        s = g.parameter("s", value=scores)
        y = g.input("y", value=labels, dtype="int64")
        if composed:
            picked = gd.take_along_axis(gd.log_softmax(s, axis=1), gd.expand_dims(y, 1), axis=1)
            g.set_loss(-gd.mean(picked))
        else:
            g.set_loss(gd.softmax_cross_entropy(s, y))
        results.append(g.run())
    assert results[0].loss == pytest.approx(results[1].loss, rel=1e-14)
    np.testing.assert_allclose(results[0].grad("s"), results[1].grad("s"), rtol=1e-12, atol=1e-15)


def test_many_repeated_indices_in_float32_sum_like_float64():
    ids = np.random.default_rng(1).integers(0, 3, size=20_000)
    grads = {}
    for dtype in ("float32", "float64"):
        g = gd.Graph(dtype)
        E = g.parameter("E", value=np.ones((3, 2)), dtype=dtype)
        i = g.input("ids", value=ids, dtype="int64")
        g.set_loss(gd.sum(gd.take(E, i, 0) * 1000.1))
        grads[dtype] = g.run().grad("E")
    assert grads["float32"].dtype == np.float32
    expected = 1000.1 * np.bincount(ids, minlength=3)[:, None] * np.ones((3, 2))
    np.testing.assert_allclose(grads["float64"], expected, rtol=1e-13)
    np.testing.assert_allclose(grads["float32"], expected, rtol=1e-6)  # no float32 round-off build-up


# --- indices out of range: run-time errors naming the node, the index and the axis size ----------------


@pytest.mark.parametrize(
    "axis, ids, bad, where",
    [(0, [0, 4], 4, "axis 0 of size 4"), (0, [-5, 1], -5, "axis 0 of size 4"),
     (1, [3], 3, "axis 1 of size 3"), (-1, [0, -4], -4, "axis 1 of size 3"),
     (None, [11, 12], 12, "the flattened x of size 12")],
    ids=str,
)  # fmt: skip
def test_take_index_out_of_range_is_a_compute_error_naming_node_index_and_size(axis, ids, bad, where):
    attrs = {} if axis is None else {"axis": axis}
    g = load_spec(
        [
            {"id": "E", "kind": "parameter", "value": np.zeros((4, 3)).tolist()},
            {"id": "ids", "kind": "input", "dtype": "int64", "value": ids},
        ],
        [{"id": "lookup", "op": "take", "inputs": ["E", "ids"], "attrs": attrs}],
    )
    with pytest.raises(gd.ComputeError) as excinfo:
        g.forward()
    text = str(excinfo.value)
    assert '"lookup"' in text and "t.json" in text
    assert f"take: index {bad} is out of range for {where}" in text


def test_take_index_out_of_range_in_a_feed_is_refused_on_that_run_only():
    g = gd.Graph("feed")
    E = g.parameter("E", value=np.arange(12.0).reshape(4, 3))
    picked = gd.take(E, g.input("ids", shape=["N"], dtype="int64"), 0, id="picked")
    assert picked.shape == ("N", 3)
    g.set_loss(gd.sum(picked))
    assert g.run({"ids": np.array([3, 0])}).loss == 9 + 10 + 11 + 0 + 1 + 2
    with pytest.raises(gd.ComputeError, match=r'"picked".*index 7 is out of range for axis 0 of size 4'):
        g.run({"ids": np.array([0, 7])})
    assert g.run({"ids": np.array([-4])}).loss == 0 + 1 + 2


def test_take_from_an_empty_axis_refuses_any_index():
    g = gd.Graph("empty")
    x = g.input("x", shape=[3, 0])
    i = g.input("i", shape=["K"], dtype="int64")
    g.add_output(gd.take(x, i, axis=1, id="out"))
    assert g.forward({"x": np.zeros((3, 0)), "i": np.zeros(0, np.int64)}).value("out").shape == (3, 0)
    with pytest.raises(gd.ComputeError, match=r"index 0 is out of range for axis 1 of size 0"):
        g.forward({"x": np.zeros((3, 0)), "i": np.zeros(1, np.int64)})


@pytest.mark.parametrize("ids, bad", [([[0], [3]], 3), ([[-4], [0]], -4)], ids=str)
def test_take_along_axis_index_out_of_range_names_the_node(ids, bad):
    g = load_spec(
        [
            {"id": "x", "kind": "input", "value": np.zeros((2, 3)).tolist()},
            {"id": "i", "kind": "input", "dtype": "int64", "value": ids},
        ],
        [{"id": "gather", "op": "take_along_axis", "inputs": ["x", "i"], "attrs": {"axis": 1}}],
    )
    with pytest.raises(gd.ComputeError) as excinfo:
        g.forward()
    text = str(excinfo.value)
    assert '"gather"' in text and f"take_along_axis: index {bad} is out of range for axis 1 of size 3" in text


@pytest.mark.parametrize("labels, bad", [([0, 3], 3), ([-1, 1], -1)], ids=str)
def test_one_hot_label_out_of_range_names_the_node_and_the_depth(labels, bad):
    g = load_spec(
        [{"id": "y", "kind": "input", "dtype": "int64", "value": labels}],
        [{"id": "hot", "op": "one_hot", "inputs": ["y"], "attrs": {"depth": 3}}],
    )
    with pytest.raises(gd.ComputeError) as excinfo:
        g.forward()
    text = str(excinfo.value)
    assert (
        '"hot"' in text and f"one_hot: label {bad} is out of range for depth 3" in text and "0 to 2" in text
    )


# --- static refusals name the node -----------------------------------------------------------------


def check_problems(leaves: list[dict[str, Any]], node: dict[str, Any]) -> str:
    with pytest.raises(gd.SpecError) as excinfo:
        load_spec(leaves, [node])
    text = str(excinfo.value)
    assert f'"{node["id"]}"' in text, text
    return text


X23 = {"id": "x", "kind": "input", "shape": [2, 3]}
I2 = {"id": "i", "kind": "input", "shape": [2], "dtype": "int64"}


@pytest.mark.parametrize(
    "leaves, node, expected",
    [
        ([X23, {**I2, "dtype": "float64"}], {"op": "take", "attrs": {"axis": 0}}, "'indices' must be int64"),
        ([X23, I2], {"op": "take", "attrs": {"axis": 2}}, "axis 2 is out of range for a 2-d input"),
        ([X23, I2], {"op": "take", "attrs": {"axis": -3}}, "axis -3 is out of range"),
        ([{"id": "x", "kind": "input", "value": 1.0}, I2], {"op": "take", "attrs": {"axis": 0}}, "scalar x"),
        ([X23, I2], {"op": "take", "attrs": {"axis": "0"}}, "attrs.axis"),
        ([X23, I2], {"op": "take_along_axis", "attrs": {"axis": 1}}, "as many dimensions as x (2, 3)"),
        (
            [X23, {"id": "i", "kind": "input", "shape": [3, 2], "dtype": "int64"}],
            {"op": "take_along_axis", "attrs": {"axis": 1}},
            "do not broadcast on axis 0 (2 vs 3",
        ),
        (
            [X23, {"id": "i", "kind": "input", "shape": [2, 1], "dtype": "bool"}],
            {"op": "take_along_axis"},
            "'indices' must be int64",
        ),
        ([{"id": "x", "kind": "input", "value": 1.0}, I2], {"op": "take_along_axis"}, "x is a scalar"),
        ([X23, {"id": "i", "kind": "input", "shape": [2, 2], "dtype": "int64"}],
         {"op": "take_along_axis", "attrs": {"axis": 2}}, "axis 2 is out of range"),
        ([{**I2, "id": "x"}], {"op": "one_hot", "attrs": {"depth": 0}}, "attrs.depth"),
        ([{**I2, "id": "x"}], {"op": "one_hot", "attrs": {}}, "attrs.depth: required"),
        ([{**I2, "id": "x"}], {"op": "one_hot", "attrs": {"depth": 2, "dtype": "int64"}}, "attrs.dtype"),
        ([X23], {"op": "one_hot", "attrs": {"depth": 2}}, "'labels' must be int64"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)  # fmt: skip
def test_static_refusals_name_the_node_and_the_problem(leaves, node, expected):
    names = ["x", "i"][: len(leaves)]
    text = check_problems(leaves, {"id": "bad", "inputs": names, **node})
    assert expected in text, text


# --- symbolic dimensions -------------------------------------------------------------------------------


def test_take_keeps_symbolic_dimensions_of_x_and_of_indices():
    g = gd.Graph("sym")
    x = g.input("x", shape=["N", 5])
    assert gd.take(x, g.input("i", shape=[3], dtype="int64"), axis=1).shape == ("N", 3)
    assert gd.take(x, g.input("j", shape=[2, "K"], dtype="int64"), axis=-1).shape == ("N", 2, "K")
    assert gd.take(x, g.input("k", shape=["M"], dtype="int64")).shape == ("M",)
    E = g.parameter("E", value=np.ones((10, 4)))
    assert gd.take(E, g.input("ids", shape=["B", "T"], dtype="int64"), 0).shape == ("B", "T", 4)


def test_take_along_axis_with_a_batch_dimension_runs_for_any_batch_size():
    g = gd.Graph("sym")
    x = g.input("x", shape=["N", 4])
    i = g.input("i", shape=["N", 1], dtype="int64")
    out = gd.take_along_axis(x, i, axis=1, id="out")
    assert out.shape == ("N", 1)
    g.add_output(out)
    for n in (1, 3):
        xs = np.arange(4.0 * n).reshape(n, 4)
        picked = g.forward({"x": xs, "i": np.full((n, 1), 2)}).value("out")
        np.testing.assert_array_equal(picked, xs[:, 2:3])


def test_take_along_axis_refuses_a_symbol_against_another_size():
    g = gd.Graph("sym")
    with pytest.raises(gd.ShapeError, match=r"do not broadcast on axis 0 \(N vs 3"):
        gd.take_along_axis(g.input("x", shape=["N", 4]), g.input("i", shape=[3, 1], dtype="int64"), 1)


def test_one_hot_keeps_symbolic_dimensions():
    g = gd.Graph("sym")
    assert gd.one_hot(g.input("y", shape=["N"], dtype="int64"), 7).shape == ("N", 7)


# --- empty inputs ----------------------------------------------------------------------------------


def test_empty_indices_give_an_empty_result_and_a_zero_gradient():
    g = gd.Graph("empty")
    E = g.parameter("E", value=np.ones((3, 2)))
    i = g.input("i", shape=["K"], dtype="int64")
    g.set_loss(gd.sum(gd.take(E, i, 0, id="out")))
    result = g.run({"i": np.zeros(0, dtype=np.int64)})
    assert result.value("out").shape == (0, 2) and result.loss == 0.0
    np.testing.assert_array_equal(result.grad("E"), np.zeros((3, 2)))


def test_one_hot_of_no_labels_is_empty():
    g = gd.Graph("empty")
    g.add_output(gd.one_hot(g.input("y", shape=["N"], dtype="int64"), 3, id="out"))
    assert g.forward({"y": np.zeros(0, dtype=np.int64)}).value("out").shape == (0, 3)


# --- dtypes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_take_and_take_along_axis_move_int64_and_bool_values_unchanged(dtype):
    table = np.array([[1, 0, 1], [0, 0, 1]]).astype(dtype)
    g = gd.Graph("ints")
    x = g.input("x", value=table, dtype=dtype)
    a = gd.take(x, g.input("i", value=np.array([1, 1, 0]), dtype="int64"), 0, id="a")
    b = gd.take_along_axis(x, g.input("j", value=np.array([[2], [0]]), dtype="int64"), 1, id="b")
    assert a.dtype == b.dtype == dtype
    g.add_output(a, b)
    result = g.forward()
    assert result.value("a").dtype == result.value("b").dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result.value("a"), table[[1, 1, 0]])
    np.testing.assert_array_equal(result.value("b"), [[table[0, 2]], [table[1, 0]]])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_hot_dtype_default_float64_and_float32_on_request(dtype):
    g = gd.Graph("hot")
    y = g.input("y", value=np.array([[2, 0], [1, 1]]), dtype="int64")
    hot = gd.one_hot(y, 3, id="hot") if dtype == "float64" else gd.one_hot(y, 3, dtype, id="hot")
    assert hot.dtype == dtype and hot.shape == (2, 2, 3)
    g.add_output(hot)
    value = g.forward().value("hot")
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(value, [[[0, 0, 1], [1, 0, 0]], [[0, 1, 0], [0, 1, 0]]])


def test_one_hot_output_is_differentiable_downstream_but_labels_get_no_gradient():
    g = gd.Graph("hot")
    s = g.parameter("s", value=[[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    y = g.input("y", value=np.array([2, 0]), dtype="int64")
    g.set_loss(gd.sum(s * gd.one_hot(y, 3)))
    result = g.run()
    assert result.loss == 3.0 + 0.5
    np.testing.assert_array_equal(result.grad("s"), [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    with pytest.raises(gd.GraphdiffError, match="int64 values have no gradient"):
        result.grad("y")


def test_take_in_float32_keeps_float32_gradients():
    g = gd.Graph("f32")
    E = g.parameter("E", value=np.ones((3, 2)), dtype="float32")
    g.set_loss(gd.sum(gd.take(E, g.input("i", value=np.array([0, 0]), dtype="int64"), 0) * 0.5))
    result = g.run()
    assert result.value(g.loss).dtype == np.float32
    assert result.grad("E").dtype == np.float32
    np.testing.assert_array_equal(result.grad("E"), [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_large_values_pass_through_a_gather_exactly():
    g = gd.Graph("big")
    x = g.parameter("x", value=[1e300, -1e300, 1000.0])
    out = gd.take(x, g.input("i", value=np.array([0, 1, 2, 2]), dtype="int64"), 0, id="out")
    g.set_loss(gd.sum(out * g.constant("w", value=[1e-300, 1e-300, 1000.0, 1000.0])))
    result = g.run()
    np.testing.assert_array_equal(result.value("out"), [1e300, -1e300, 1000.0, 1000.0])
    np.testing.assert_array_equal(result.grad("x"), [1e-300, 1e-300, 2000.0])


# --- declarations ----------------------------------------------------------------------------------


def test_declarations():
    for name in ("take", "take_along_axis", "one_hot"):
        op = REGISTRY[name]
        assert op.family == "indexing"
    assert REGISTRY["take"].signature() == "take(x, indices)"
    assert REGISTRY["take"].non_differentiable == {"indices"}
    assert REGISTRY["take_along_axis"].non_differentiable == {"indices"}
    assert REGISTRY["one_hot"].non_differentiable == {"labels"}


def test_builders_take_attributes_positionally_in_numpy_order():
    g = gd.Graph("b")
    x = g.input("x", shape=[4, 5])
    i = g.input("i", shape=[2], dtype="int64")
    assert gd.take(x, i).shape == (2,)
    assert gd.take(x, i, 1).shape == (4, 2)
    assert gd.take_along_axis(x, g.input("j", shape=[4, 3], dtype="int64"), 1).shape == (4, 3)
    assert gd.take_along_axis(x, g.input("k", shape=[1, 5], dtype="int64")).shape == (4, 5)  # axis -1
    assert gd.one_hot(i, 6, "float32").dtype == "float32"
    assert "KINK RULE".lower() in (gd.take.__doc__ or "").lower()


def test_a_one_hot_no_array_can_hold_is_refused_when_checking():
    g = gd.Graph("huge")
    with pytest.raises(gd.ShapeError, match="more than an array holds"):
        gd.one_hot(g.input("y", shape=[2**40], dtype="int64"), 2**40)
