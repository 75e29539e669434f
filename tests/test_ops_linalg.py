"""matmul (numpy's N-D batched semantics) and einsum beyond the op table: shape rules with symbolic
dimensions, errors that name the node, empty operands, float32, the builder, the diagonal gradient of a
repeated index, the greedy contraction path, and attention computed with einsum against matmul.

Neither op has a kink (both are multilinear), so nothing here pins a tie convention; instead the
diagonal gradients are pinned exactly.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import REGISTRY, TensorType
from graphdiff.ops.linalg import _plan


def leaf(g: gd.Graph, id: str, shape: tuple[Any, ...], dtype: str = "float64") -> gd.Tensor:
    if any(isinstance(d, str) for d in shape):
        return g.input(id, shape=list(shape), dtype=dtype)
    return g.input(id, value=np.zeros(shape, dtype=dtype), dtype=dtype)


def spec_error(op: str, shapes: list[tuple[Any, ...]], attrs: dict[str, Any] | None = None) -> str:
    """The text of the SpecError loading a spec whose node "bad" applies ``op`` to inputs of ``shapes``."""
    spec = {
        "format_version": 1,
        "name": "t",
        "leaves": [{"id": f"x{i}", "kind": "input", "shape": list(s)} for i, s in enumerate(shapes)],
        "nodes": [
            {"id": "bad", "op": op, "inputs": [f"x{i}" for i in range(len(shapes))], "attrs": attrs or {}}
        ],
        "outputs": ["bad"],
    }
    with pytest.raises(gd.SpecError) as excinfo:
        gd.loads(json.dumps(spec))
    text = str(excinfo.value)
    assert 'nodes[0] "bad"' in text, f"the error should name the node: {text}"
    return text


def infer(op: str, *shapes: tuple[Any, ...], **attrs: Any) -> tuple[Any, ...]:
    g = gd.Graph("t")
    leaves = [leaf(g, f"x{i}", s) for i, s in enumerate(shapes)]
    return g.apply(op, *leaves, **attrs).shape


def run_loss(build, values: dict[str, np.ndarray], upstream: np.ndarray) -> gd.Result:
    """loss = sum(build(graph, leaves) * upstream); the values are fed to input leaves (a value with a 0
    dimension cannot be written inline in a spec: it would read back as the empty list, of shape (0,))."""
    g = gd.Graph("t")
    feeds = {**values, "R": upstream}
    leaves = {name: g.input(name, shape=v.shape, dtype=str(v.dtype)) for name, v in feeds.items()}
    weights = leaves.pop("R")
    out = build(g, leaves).named("out")
    g.set_loss(gd.sum(out * weights, id="loss"))
    return g.run(feeds)


# --- matmul: numpy's N-D semantics ----------------------------------------------------------------------

MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3,)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 5)),
    ((1, 2, 3), (6, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((7, 1, 1, 3), (2, 3, 1)),
]


@pytest.mark.parametrize("a_shape, b_shape", MATMUL_SHAPES, ids=str)
def test_matmul_shape_rule_is_numpys(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    g = gd.Graph("t")
    out = gd.matmul(g.input("a", value=a), g.input("b", value=b), id="out")
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    g.add_output(out)
    np.testing.assert_allclose(g.forward().value("out"), expected, rtol=1e-13)


@pytest.mark.parametrize(
    "a_shape, b_shape, inner",
    [
        ((2, 3), (4, 5), "3 vs 4"),
        ((5, 2, 3), (5, 4, 2), "3 vs 4"),
        ((3,), (2, 4, 5), "3 vs 4"),
        ((2, 3, 4), (3,), "4 vs 3"),
        ((4,), (3,), "4 vs 3"),
    ],
    ids=str,
)
def test_matmul_inner_mismatch_names_both_shapes_and_the_node(a_shape, b_shape, inner):
    text = spec_error("matmul", [a_shape, b_shape])
    assert f"matmul {gd.ops.format_shape(a_shape)} @ {gd.ops.format_shape(b_shape)}" in text
    assert f"inner dimensions differ ({inner})" in text


def test_matmul_batch_mismatch_names_both_shapes_and_the_batch_dimensions():
    text = spec_error("matmul", [(2, 3, 4), (5, 4, 2)])
    assert "(2, 3, 4) @ (5, 4, 2)" in text and "batch dimensions" in text and "2 vs 5" in text


@pytest.mark.parametrize("shapes", [((), (3,)), ((3, 2), ())], ids=str)
def test_matmul_refuses_a_0d_operand_naming_the_node(shapes):
    assert "at least 1-D" in spec_error("matmul", list(shapes))


@pytest.mark.parametrize(
    "a_shape, b_shape, out",
    [
        (("B", "T", 4), (4, 5), ("B", "T", 5)),
        (("B", 3, 4), ("B", 4, 2), ("B", 3, 2)),
        ((1, 3, 4), ("B", 4, 2), ("B", 3, 2)),
        (("B", 1, 3, 4), ("H", 4, 2), ("B", "H", 3, 2)),
        ((3, "N"), ("N", 2), (3, 2)),
        (("N",), ("B", "N", 2), ("B", 2)),
        (("B", "T", "D"), ("D",), ("B", "T")),
    ],
    ids=str,
)
def test_matmul_keeps_symbolic_dimensions(a_shape, b_shape, out):
    assert infer("matmul", a_shape, b_shape) == out


@pytest.mark.parametrize(
    "a_shape, b_shape, conflict",
    [
        (("B", 3, 4), ("C", 4, 2), "B vs C"),
        (("B", 3, 4), (2, 4, 2), "B vs 2"),
        ((3, "N"), ("M", 2), "N vs M"),
    ],
    ids=str,
)
def test_matmul_refuses_symbols_that_do_not_match(a_shape, b_shape, conflict):
    assert conflict in spec_error("matmul", [a_shape, b_shape])


def test_matmul_with_a_symbolic_batch_runs_for_any_batch_size_and_sums_the_shared_weights_gradient():
    g = gd.Graph("t")
    x = g.input("x", shape=["B", "T", 3])
    w = g.parameter("W", value=np.arange(6.0).reshape(3, 2) / 5)
    g.set_loss(gd.sum(gd.square(x @ w), id="loss"))
    rng = np.random.default_rng(1)
    for batch in (1, 4):
        xs = rng.normal(size=(batch, 5, 3))
        result = g.run({"x": xs})
        flat = xs.reshape(-1, 3)
        # d/dW sum((X W)^2) = X^T 2 X W summed over every row of every batch
        np.testing.assert_allclose(result.grad("W"), flat.T @ (2 * flat @ w.value), rtol=1e-12)
        np.testing.assert_allclose(result.grad("x"), 2 * (xs @ w.value) @ w.value.T, rtol=1e-12)


def test_matmul_gradients_un_broadcast_batch_dimensions():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(5, 4, 2))
    up = rng.normal(size=(2, 5, 3, 2))
    result = run_loss(lambda g, t: t["a"] @ t["b"], {"a": a, "b": b}, up)
    # by loops: every (i, j) batch pairs a[i, 0] with b[j]
    grad_a = np.zeros_like(a)
    grad_b = np.zeros_like(b)
    for i in range(2):
        for j in range(5):
            grad_a[i, 0] += up[i, j] @ b[j].T
            grad_b[j] += a[i, 0].T @ up[i, j]
    np.testing.assert_allclose(result.grad("a"), grad_a, rtol=1e-12)
    np.testing.assert_allclose(result.grad("b"), grad_b, rtol=1e-12)


def test_matmul_2d_gradients_are_fresh_arrays_the_executor_may_add_into():
    op = REGISTRY["matmul"]
    rng = np.random.default_rng(3)
    a, b, up = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    grad_a, grad_b = op.vjp(op.Attrs(), up, None, (a, b), (True, True))
    assert grad_a.base is None and grad_b.base is None
    np.testing.assert_array_equal(grad_a, up @ b.T)
    np.testing.assert_array_equal(grad_b, a.T @ up)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((0, 3), (3, 2)), ((2, 0), (0, 3)), ((0, 2, 3), (3, 2)), ((2, 3), (4, 3, 0))],
    ids=str,
)
def test_matmul_of_empty_operands(a_shape, b_shape):
    g = gd.Graph("t")
    a, b = g.input("a", shape=a_shape), g.input("b", shape=b_shape)
    g.set_loss(gd.sum(gd.matmul(a, b, id="out")))
    result = g.run({"a": np.ones(a_shape), "b": np.ones(b_shape)})
    np.testing.assert_array_equal(result.value("out"), np.matmul(np.ones(a_shape), np.ones(b_shape)))
    # d/da sum(a @ b) = sum of b's columns in every row; zero when the result is empty
    expected_a = np.broadcast_to(
        np.ones(b_shape).sum(axis=-1).sum(axis=tuple(range(len(b_shape) - 2))), a_shape
    )
    np.testing.assert_array_equal(result.grad("a"), expected_a * (result.value("out").size > 0))
    assert result.grad("b").shape == b_shape


def test_batched_matmul_in_float32_stays_float32():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 2, 4)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    up = rng.normal(size=(3, 2, 5)).astype(np.float32)
    result = run_loss(lambda g, t: t["a"] @ t["b"], {"a": a, "b": b}, up)
    assert result.value("out").dtype == np.float32
    assert result.grad("a").dtype == np.float32 and result.grad("b").dtype == np.float32
    np.testing.assert_allclose(result.grad("b"), np.einsum("bij,bik->jk", a, up), rtol=1e-5)


# --- einsum ---------------------------------------------------------------------------------------------


def test_einsum_builder_takes_subscripts_then_operands():
    g = gd.Graph("t")
    rng = np.random.default_rng(5)
    values = [rng.normal(size=s) for s in ((2, 3), (3, 4), (4, 2))]
    a, b, c = (g.input(n, value=v) for n, v in zip("abc", values, strict=True))
    g.add_output(gd.einsum("ij,jk->ik", a, b, id="two"), gd.einsum("ij,jk,kl->il", [a, b, c], id="three"))
    assert g.spec.nodes[0].attrs == {"subscripts": "ij,jk->ik"}
    result = g.forward()
    np.testing.assert_allclose(result.value("two"), values[0] @ values[1], rtol=1e-13)
    np.testing.assert_allclose(result.value("three"), values[0] @ values[1] @ values[2], rtol=1e-13)


def test_einsum_implicit_form_is_refused_with_the_explicit_one_suggested():
    text = spec_error("einsum", [(2, 3), (3, 4)], {"subscripts": "ij,jk"})
    assert "implicit form" in text and "'ij,jk->ik'" in text


@pytest.mark.parametrize(
    "subscripts, shapes, words",
    [
        ("ij,jk->ik", [(2, 3), (4, 5)], ["index 'j'", "size 3 in operand 0 (2, 3)", "4 in operand 1 (4, 5)"]),
        ("ii->i", [(2, 3)], ["operand 0 (2, 3)", "repeats the index 'i'", "2 and 3"]),
        ("ij,jk->ik", [(2, 3)], ["2 operands", "1 was given"]),
        ("ij->i", [(2, 3, 4)], ["operand 0 is 3-d", "name 2 dimensions", "'...'"]),
        ("ijk->i", [(2, 3)], ["operand 0 is 2-d", "name 3 dimensions"]),
        ("ij->k", [(2, 3)], ["output index 'k' appears in no operand"]),
        ("ij->ii", [(2, 3)], ["output repeats the index 'i'"]),
        ("i1->i", [(2, 3)], ["character '1'", "a-z and A-Z"]),
        ("i.j->i", [(2, 3)], ["'.' that is not part of a '...'"]),
        ("...i...->i", [(2, 3)], ["more than one '...'"]),
        ("...ij->ij", [(4, 2, 3)], ["'...' stands for 1 dimension", "no '...'"]),
        ("i->i->i", [(2,)], ["exactly one '->'"]),
        ("...ij,...jk->...ik", [(2, 3, 4), (5, 4, 2)], ["a '...' dimension", "size 2", "5 in operand 1"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_einsum_bad_subscripts_or_shapes_are_refused_naming_the_node(subscripts, shapes, words):
    text = spec_error("einsum", shapes, {"subscripts": subscripts})
    assert f"einsum {subscripts!r}" in text
    for word in words:
        assert word in text


def test_einsum_subscripts_must_be_a_string():
    g = gd.Graph("t")
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply("einsum", leaf(g, "a", (2,)), subscripts=5)
    assert not isinstance(excinfo.value, gd.ShapeError) and "attrs.subscripts" in str(excinfo.value)
    with pytest.raises(gd.SpecError, match="attrs.subscripts"):
        g.apply("einsum", leaf(g, "b", (2,)))


def test_einsum_refuses_an_int64_operand_by_its_position():
    g = gd.Graph("t")
    with pytest.raises(gd.ShapeError, match=r"input 'operands\[1\]' is int64"):
        g.apply("einsum", leaf(g, "a", (2,)), leaf(g, "b", (2,), "int64"), subscripts="i,i->")


@pytest.mark.parametrize(
    "subscripts, shapes, out",
    [
        ("ij,jk->ik", [("N", 3), (3, "M")], ("N", "M")),
        ("ii->i", [("N", "N")], ("N",)),
        ("ij,ij->i", [("N", 3), (1, 3)], ("N",)),
        ("ij,ij->ij", [(1, 3), ("N", 1)], ("N", 3)),
        ("bqd,bkd->bqk", [("B", "T", 4), ("B", "T", 4)], ("B", "T", "T")),
        ("...ij,...jk->...ik", [("B", 2, 3), (3, 4)], ("B", 2, 4)),
        ("...ij,...jk->...ik", [("B", 1, 2, 3), ("H", 3, 4)], ("B", "H", 2, 4)),
        ("ij->", [("N", 3)], ()),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_einsum_keeps_symbolic_dimensions(subscripts, shapes, out):
    assert infer("einsum", *shapes, subscripts=subscripts) == out


@pytest.mark.parametrize(
    "subscripts, shapes, words",
    [
        ("i,i->", [("N",), ("M",)], ["index 'i'", "size N", "M in operand 1"]),
        ("ii->i", [("N", "M")], ["repeats the index 'i'", "N and M"]),
        ("ij,jk->ik", [(2, "N"), (3, 4)], ["index 'j'", "size N", "3 in operand 1"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_einsum_refuses_symbols_that_do_not_match(subscripts, shapes, words):
    text = spec_error("einsum", shapes, {"subscripts": subscripts})
    for word in words:
        assert word in text


def test_einsum_with_a_symbolic_batch_runs_for_any_batch_size():
    g = gd.Graph("t")
    x = g.input("x", shape=["B", 3])
    w = g.parameter("W", value=np.arange(6.0).reshape(3, 2) / 5)
    g.set_loss(gd.sum(gd.square(gd.einsum("bi,ij->bj", x, w)), id="loss"))
    rng = np.random.default_rng(6)
    for batch in (1, 5):
        xs = rng.normal(size=(batch, 3))
        np.testing.assert_allclose(g.run({"x": xs}).grad("W"), xs.T @ (2 * xs @ w.value), rtol=1e-12)


def test_trace_gradient_is_exactly_the_identity_and_diagonal_gradient_is_zero_off_the_diagonal():
    x = np.arange(9.0).reshape(3, 3)
    result = run_loss(lambda g, t: gd.einsum("ii->", t["x"]), {"x": x}, np.array(2.5))
    assert result.value("out") == 12.0
    np.testing.assert_array_equal(result.grad("x"), 2.5 * np.eye(3))
    up = np.array([1.0, -2.0, 3.0])
    result = run_loss(lambda g, t: gd.einsum("ii->i", t["x"]), {"x": x}, up)
    np.testing.assert_array_equal(result.value("out"), [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(result.grad("x"), np.diag(up))


def test_a_generalized_diagonal_with_a_free_index_and_an_index_summed_within_the_operand():
    # out[k] = sum_{i, j} x[i, i, j, k, j]: gradient upstream[k] at every (i, i, j, k, j), zero elsewhere
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 2, 3, 4, 3))
    up = rng.normal(size=(4,))
    result = run_loss(lambda g, t: gd.einsum("iijkj->k", t["x"]), {"x": x}, up)
    expected = np.zeros_like(x)
    for i in range(2):
        for j in range(3):
            expected[i, i, j, :, j] = up
    np.testing.assert_array_equal(result.grad("x"), expected)
    np.testing.assert_allclose(result.value("out"), np.einsum("iijkj->k", x), rtol=1e-13)


def test_an_index_only_one_operand_has_gets_a_broadcast_gradient():
    # out = sum_{i, k} a[i, j] b[i, k] -> out[j]: d/db[i, k] = sum_j up[j] a[i, j], the same for every k
    rng = np.random.default_rng(8)
    a, b, up = rng.normal(size=(3, 2)), rng.normal(size=(3, 4)), rng.normal(size=(2,))
    result = run_loss(lambda g, t: gd.einsum("ij,ik->j", t["a"], t["b"]), {"a": a, "b": b}, up)
    np.testing.assert_allclose(result.grad("b"), np.repeat((a @ up)[:, None], 4, axis=1), rtol=1e-13)
    np.testing.assert_allclose(result.grad("a"), np.outer(b.sum(axis=1), up), rtol=1e-13)


def test_a_size_1_dimension_broadcasts_and_its_gradient_is_summed():
    rng = np.random.default_rng(9)
    a, b, c = rng.normal(size=(8, 1)), rng.normal(size=(16, 32)), rng.normal(size=(32, 32))
    up = rng.normal(size=(8, 32))
    result = run_loss(
        lambda g, t: gd.einsum("ij,jk,kl->il", t["a"], t["b"], t["c"]), {"a": a, "b": b, "c": c}, up
    )
    wide = np.broadcast_to(a, (8, 16))
    np.testing.assert_allclose(result.value("out"), wide @ b @ c, rtol=1e-12)
    np.testing.assert_allclose(result.grad("a"), (up @ (b @ c).T).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(result.grad("b"), wide.T @ up @ c.T, rtol=1e-12)


def test_a_long_chain_takes_the_greedy_path_and_agrees_with_matmul():
    rng = np.random.default_rng(10)
    shapes = [(8, 16), (16, 32), (32, 32), (32, 4)]
    values = {n: rng.normal(size=s) for n, s in zip("abcd", shapes, strict=True)}
    assert _plan("ij,jk,kl,lm->im", tuple(shapes)).optimize
    up = rng.normal(size=(8, 4))

    def chained(g, t):
        return gd.einsum("ij,jk,kl,lm->im", t["a"], t["b"], t["c"], t["d"])

    def matmuls(g, t):
        return t["a"] @ t["b"] @ t["c"] @ t["d"]

    by_einsum, by_matmul = run_loss(chained, values, up), run_loss(matmuls, values, up)
    np.testing.assert_allclose(by_einsum.value("out"), by_matmul.value("out"), rtol=1e-12)
    for name in "abcd":
        np.testing.assert_allclose(by_einsum.grad(name), by_matmul.grad(name), rtol=1e-11, err_msg=name)


def test_small_einsums_skip_the_contraction_search():
    assert not _plan("ij,jk,kl->il", ((2, 3), (3, 2), (2, 4))).optimize
    assert not _plan("ij->ji", ((300, 300),)).optimize  # one operand: nothing to order


def test_attention_by_einsum_has_the_gradients_of_attention_by_matmul():
    rng = np.random.default_rng(11)
    values = {
        "Q": rng.normal(size=(2, 2, 3, 4)),  # (batch, heads, queries, width)
        "K": rng.normal(size=(2, 2, 5, 4)),  # (batch, heads, keys, width)
        "V": rng.normal(size=(2, 2, 5, 3)),
    }
    up = rng.normal(size=(2, 2, 3, 3))

    def by_einsum(g, t):
        scores = gd.einsum("bhqd,bhkd->bhqk", t["Q"], t["K"]) * 0.5
        return gd.einsum("bhqk,bhkv->bhqv", gd.softmax(scores, axis=-1), t["V"])

    def by_matmul(g, t):
        scores = (t["Q"] @ gd.transpose(t["K"], [0, 1, 3, 2])) * 0.5
        return gd.softmax(scores, axis=-1) @ t["V"]

    e, m = run_loss(by_einsum, values, up), run_loss(by_matmul, values, up)
    np.testing.assert_allclose(e.value("out"), m.value("out"), rtol=1e-12)
    for name in values:
        assert e.grad(name).shape == values[name].shape
        np.testing.assert_allclose(e.grad(name), m.grad(name), rtol=1e-10, atol=1e-14, err_msg=name)
    # and against a centered difference of one coordinate, so both cannot be wrong the same way
    shifted = {k: v.copy() for k, v in values.items()}
    shifted["K"][1, 0, 2, 3] += 1e-6
    plus = run_loss(by_einsum, shifted, up).loss
    shifted["K"][1, 0, 2, 3] -= 2e-6
    minus = run_loss(by_einsum, shifted, up).loss
    assert abs((plus - minus) / 2e-6 - e.grad("K")[1, 0, 2, 3]) < 1e-7


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk->ik", [(2, 0), (0, 3)]),
        ("ij,jk->ik", [(0, 2), (2, 3)]),
        ("ii->i", [(0, 0)]),
        ("bij,bjk->bik", [(0, 2, 3), (0, 3, 2)]),
        ("ij->", [(3, 0)]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_einsum_of_empty_operands(subscripts, shapes):
    values = {f"x{i}": np.ones(s) for i, s in enumerate(shapes)}
    expected = np.einsum(subscripts, *values.values())
    result = run_loss(lambda g, t: gd.einsum(subscripts, *t.values()), values, np.ones(expected.shape))
    np.testing.assert_array_equal(result.value("out"), expected)
    for name, value in values.items():
        assert result.grad(name).shape == value.shape


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk,kl->il", [(8, 16), (16, 32), (32, 32)]),  # the greedy path
        ("ii,ij->j", [(3, 3), (3, 2)]),  # a diagonal gradient
        ("ij,ik->j", [(3, 2), (3, 4)]),  # a broadcast gradient
        ("ij,ij->i", [(3, 2), (1, 2)]),  # a summed size-1 dimension
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_einsum_in_float32_keeps_float32_values_and_gradients(subscripts, shapes):
    rng = np.random.default_rng(12)
    values = {f"x{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate(shapes)}
    out_shape = np.einsum(subscripts, *values.values()).shape
    up = rng.normal(size=out_shape).astype(np.float32)
    result = run_loss(lambda g, t: gd.einsum(subscripts, *t.values()), values, up)
    assert result.value("out").dtype == np.float32
    wide = [v.astype(np.float64) for v in values.values()]
    np.testing.assert_allclose(result.value("out"), np.einsum(subscripts, *wide), rtol=1e-4, atol=1e-4)
    for name, value in values.items():
        assert result.grad(name).dtype == np.float32 and result.grad(name).shape == value.shape


def test_einsum_of_float32_and_float64_gives_float64_and_each_leaf_its_dtype():
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(3, 3)).astype(np.float32), rng.normal(size=(3, 2))
    result = run_loss(lambda g, t: gd.einsum("ii,ij->j", t["a"], t["b"]), {"a": a, "b": b}, np.ones(2))
    assert result.value("out").dtype == np.float64
    assert result.grad("a").dtype == np.float32 and result.grad("b").dtype == np.float64
    np.testing.assert_allclose(result.grad("a"), np.diag(b.sum(axis=1)), rtol=1e-6)


def test_einsum_shape_rule_matches_numpy_on_ellipsis_broadcasts():
    op = REGISTRY["einsum"]
    for subscripts, shapes in [
        ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
        ("...,...->...", [(3, 1), (4,)]),
        ("i...,i->...", [(3, 2, 2), (3,)]),
        ("ij->...ij", [(2, 3)]),
        ("...i->i", [(3,)]),
    ]:
        attrs = op.Attrs(subscripts=subscripts)
        t = op.infer(attrs, *(TensorType(s, "float64") for s in shapes))
        assert t.shape == np.einsum(subscripts, *(np.ones(s) for s in shapes)).shape, subscripts
