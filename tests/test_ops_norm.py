"""batch_norm and layer_norm beyond the op table: the statistics they produce, the closed-form gradient
against hand-derived cases, numerical stability, symbolic batch sizes, empty inputs, dtypes, error
messages naming the node, and the builders."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import spec_error, spec_text, strict_numpy

import graphdiff as gd

RNG = np.random.default_rng(7)


def weighted_sum(g: gd.Graph, out: gd.Tensor, weights: np.ndarray) -> None:
    g.set_loss(gd.sum(gd.mul(out, g.constant("R", value=weights)), id="loss"))


# --- what the outputs are ----------------------------------------------------------------------------


def test_batch_norm_gives_each_channel_mean_zero_and_biased_variance_one():
    x = RNG.normal(3.0, 2.0, size=(5, 4, 3, 2))
    g = gd.Graph("t")
    y = gd.batch_norm(g.input("x", value=x), eps=1e-12, id="y")
    g.add_output(y)
    out = g.forward().value("y")
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-14)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1.0, rtol=1e-10)  # np.var is the biased one
    # the statistics are per channel: every channel standardized on its own
    c = 2
    expected = (x[:, c] - x[:, c].mean()) / np.sqrt(x[:, c].var() + 1e-12)
    np.testing.assert_allclose(out[:, c], expected, rtol=1e-12)


def test_batch_norm_scales_and_shifts_per_channel():
    x = RNG.normal(size=(6, 3))
    gamma, beta = np.array([2.0, -1.0, 0.5]), np.array([10.0, 0.0, -3.0])
    g = gd.Graph("t")
    plain = gd.batch_norm(g.input("x", value=x), id="plain")
    affine = gd.batch_norm(g["x"], g.parameter("g", gamma), g.parameter("b", beta), id="affine")
    g.add_output(plain, affine)
    result = g.forward()
    np.testing.assert_allclose(result.value("affine"), result.value("plain") * gamma + beta, rtol=1e-14)


def test_layer_norm_standardizes_each_example_over_its_trailing_axes():
    x = RNG.normal(1.0, 3.0, size=(3, 2, 4))
    g = gd.Graph("t")
    one = gd.layer_norm(g.input("x", value=x), id="one")
    two = gd.layer_norm(g["x"], normalized_ndim=2, id="two")
    g.add_output(one, two)
    result = g.forward()
    np.testing.assert_allclose(result.value("one").mean(axis=-1), 0.0, atol=1e-14)
    np.testing.assert_allclose(result.value("two").mean(axis=(1, 2)), 0.0, atol=1e-14)
    flat = x.reshape(3, 8)
    expected = (flat - flat.mean(axis=1, keepdims=True)) / np.sqrt(flat.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(result.value("two"), expected.reshape(3, 2, 4), rtol=1e-12)
    assert not np.allclose(result.value("one"), result.value("two"))


def test_layer_norm_of_x_is_batch_norm_of_its_transpose():
    """Same standardization, other axes: both the values and the gradients agree."""
    x, upstream = RNG.normal(size=(4, 6)), RNG.normal(size=(4, 6))
    g = gd.Graph("t")
    xs = g.parameter("x", x)
    ln = gd.layer_norm(xs, id="ln")
    bn = gd.transpose(gd.batch_norm(gd.transpose(xs), id="bn_t"), id="bn")
    g.add_output(ln, bn)
    weighted_sum(g, gd.add(ln, bn), upstream)
    result = g.run()
    np.testing.assert_allclose(result.value("ln"), result.value("bn"), rtol=1e-13)
    np.testing.assert_allclose(result.grad("ln"), result.grad("bn"), rtol=1e-13)


# --- gradients --------------------------------------------------------------------------------------


def manual_batch_norm_grads(x, gamma, upstream, eps):
    """The textbook computation graph, differentiated step by step (not the closed form)."""
    axes = (0, *range(2, x.ndim))
    shape = [1] * x.ndim
    shape[1] = -1
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=axes, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    dxhat = upstream * gamma.reshape(shape)
    dvar = np.sum(dxhat * xc * -0.5 * std**-3, axis=axes, keepdims=True)
    dmu = (
        np.sum(-dxhat / std, axis=axes, keepdims=True) + dvar * np.sum(-2 * xc, axis=axes, keepdims=True) / m
    )
    dx = dxhat / std + dvar * 2 * xc / m + dmu / m
    return dx, np.sum(upstream * xhat, axis=axes), np.sum(upstream, axis=axes)


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 3)], ids=str)
def test_batch_norm_gradient_equals_the_step_by_step_derivation(shape):
    x, upstream = RNG.normal(size=shape), RNG.normal(size=shape)
    gamma, beta = RNG.normal(size=shape[1]), RNG.normal(size=shape[1])
    g = gd.Graph("t")
    out = gd.batch_norm(g.parameter("x", x), g.parameter("g", gamma), g.parameter("b", beta), eps=1e-3)
    weighted_sum(g, out, upstream)
    result = g.run()
    dx, dgamma, dbeta = manual_batch_norm_grads(x, gamma, upstream, 1e-3)
    np.testing.assert_allclose(result.grad("x"), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.grad("g"), dgamma, rtol=1e-12)
    np.testing.assert_allclose(result.grad("b"), dbeta, rtol=1e-12)
    # the loss is invariant to shifting a channel: the x gradient sums to 0 over each channel
    np.testing.assert_allclose(result.grad("x").sum(axis=(0, *range(2, x.ndim))), 0.0, atol=1e-12)


def test_only_the_wanted_gradients_are_computed_and_they_are_right():
    x, upstream = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    g = gd.Graph("t")
    out = gd.batch_norm(g.constant("x", x), g.parameter("g", gamma), g.parameter("b", beta))
    weighted_sum(g, out, upstream)
    g.forward()
    only_beta = g.backward(wrt=["b"])
    np.testing.assert_allclose(only_beta.grad("b"), upstream.sum(axis=0), rtol=1e-14)
    only_gamma = g.backward(wrt=["g"])
    _, dgamma, _ = manual_batch_norm_grads(x, gamma, upstream, 1e-5)
    np.testing.assert_allclose(only_gamma.grad("g"), dgamma, rtol=1e-12)


def test_a_constant_channel_normalizes_to_beta_with_a_finite_gradient():
    x = np.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]])  # channel 0 is constant
    upstream = np.array([[1.0, 0.0], [2.0, 1.0], [-0.5, 1.0]])
    g = gd.Graph("t")
    out = gd.batch_norm(
        g.parameter("x", x),
        g.parameter("g", np.array([3.0, 1.0])),
        g.parameter("b", np.array([0.25, 0.0])),
        id="y",
    )
    weighted_sum(g, out, upstream)
    result = g.run(check_finite=True)
    np.testing.assert_array_equal(result.value("y")[:, 0], 0.25)
    assert float(result.grad("g")[0]) == 0.0
    assert float(result.grad("b")[0]) == 2.5
    # var = 0 sits at a minimum, so only the mean's derivative is left: s gamma (g - mean(g))
    expected = 3.0 / np.sqrt(1e-5) * (upstream[:, 0] - upstream[:, 0].mean())
    np.testing.assert_allclose(result.grad("x")[:, 0], expected, rtol=1e-12)


# --- numerical stability ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm"])
def test_a_large_offset_is_removed_without_cancellation(op):
    small = RNG.normal(size=(6, 4))
    g = gd.Graph("t")
    plain = g.apply(op, g.input("x", value=small), id="plain")
    shifted = g.apply(op, g.input("x_big", value=small + 1e8), id="shifted")
    g.add_output(plain, shifted)
    result = g.forward()
    # a one-pass variance (E[x^2] - E[x]^2) would lose everything at 1e8 (1e16 - 1e16)
    np.testing.assert_allclose(result.value("shifted"), result.value("plain"), atol=1e-7)


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm"])
def test_inputs_of_a_thousand_are_fine(op):
    x = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, 1000.0, 1000.0], [1000.0, 1000.0, -1000.0]])
    g = gd.Graph("t")
    out = g.apply(op, g.parameter("x", x), id="y")
    weighted_sum(g, out, RNG.normal(size=(3, 3)))
    with strict_numpy():
        result = g.run(check_finite=True)
    axis = 0 if op == "batch_norm" else 1
    # each slice holds two of one sign and one of the other: standardized to +-1/sqrt(2) and -+sqrt(2)
    signs = np.sign(x)
    minority = np.sum(signs, axis=axis, keepdims=True) * signs < 0
    expected = np.where(minority, np.sqrt(2.0), 1.0 / np.sqrt(2.0)) * signs
    np.testing.assert_allclose(result.value("y"), expected, rtol=1e-6)
    assert np.all(np.isfinite(result.grad("x")))


# --- symbolic dims, empty inputs, dtypes ---------------------------------------------------------------


def test_batch_norm_over_a_symbolic_batch_size():
    g = gd.Graph("t")
    x = g.input("x", shape=["N", 3, 2])
    out = gd.batch_norm(x, g.parameter("g", np.ones(3)), g.parameter("b", np.zeros(3)), id="y")
    assert out.shape == ("N", 3, 2)
    weighted_sum_node = gd.sum(out, id="loss")
    g.set_loss(weighted_sum_node)
    for n in (1, 2, 7):
        value = RNG.normal(size=(n, 3, 2))
        result = g.run({"x": value})
        assert result.value("y").shape == (n, 3, 2)
        np.testing.assert_allclose(result.value("y").mean(axis=(0, 2)), 0.0, atol=1e-13)
        np.testing.assert_allclose(result.grad("b"), [2.0 * n] * 3)


def test_layer_norm_with_a_symbolic_batch_and_symbolic_normalized_axis():
    g = gd.Graph("t")
    x = g.input("x", shape=["N", "D"])
    w = g.input("w", shape=["D"])
    out = gd.layer_norm(x, w, id="y")
    assert out.shape == ("N", "D")
    g.add_output(out)
    value = RNG.normal(size=(3, 5))
    result = g.forward({"x": value, "w": np.full(5, 2.0)})
    centered = value - value.mean(axis=1, keepdims=True)
    expected = 2.0 * centered / np.sqrt(value.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(result.value("y"), expected, rtol=1e-12)
    with pytest.raises(gd.ShapeError, match="layer_norm"):
        gd.layer_norm(x, g.input("wrong", shape=["N"]))


@pytest.mark.parametrize(
    "op, shape, params",
    [
        ("batch_norm", (0, 3), (3,)),
        ("batch_norm", (0, 2, 4, 4), (2,)),
        ("layer_norm", (0, 4), (4,)),
        ("layer_norm", (2, 0), (0,)),
        ("batch_norm", (3, 0), (0,)),
    ],
    ids=str,
)
def test_empty_inputs_give_empty_outputs_and_zero_parameter_gradients(op, shape, params):
    g = gd.Graph("t")
    out = g.apply(
        op,
        g.input("x", shape=shape),  # fed: an empty literal in a leaf has no shape of its own
        g.input("g", shape=params),
        g.input("b", shape=params),
    )
    g.set_loss(gd.sum(out))
    with strict_numpy():
        result = g.run({"x": np.zeros(shape), "g": np.ones(params), "b": np.ones(params)})
    assert result.value(out.id).shape == shape
    assert result.grad("x").shape == shape
    np.testing.assert_array_equal(result.grad("g"), np.zeros(params))
    np.testing.assert_array_equal(result.grad("b"), np.zeros(params))


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm"])
def test_float32_stays_float32_and_mixed_dtypes_promote(op):
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    g = gd.Graph("t")
    xs = g.parameter("x", x, dtype="float32")
    gamma32 = g.parameter("g32", np.ones(3, dtype=np.float32), dtype="float32")
    gamma64 = g.parameter("g64", np.full(3, 2.0))
    beta32 = g.parameter("b32", np.zeros(3, dtype=np.float32), dtype="float32")
    single = g.apply(op, xs, gamma32, beta32, id="single")
    mixed = g.apply(op, xs, gamma64, id="mixed")
    assert single.dtype == "float32" and mixed.dtype == "float64"
    g.set_loss(gd.add(gd.sum(gd.mul(single, single)), gd.sum(gd.mul(mixed, mixed))))
    result = g.run()
    assert result.value("single").dtype == np.float32 and result.value("mixed").dtype == np.float64
    for name in ("x", "g32", "b32"):
        assert result.grad(name).dtype == np.float32, name
    assert result.grad("g64").dtype == np.float64
    np.testing.assert_allclose(result.value("mixed"), 2.0 * result.value("single"), rtol=1e-5)


def test_float32_with_a_large_offset_keeps_the_structure():
    x = (RNG.normal(size=(8, 2)) + 1000.0).astype(np.float32)
    g = gd.Graph("t")
    out = gd.batch_norm(g.input("x", value=x, dtype="float32"), id="y")
    g.add_output(out)
    values = g.forward().value("y")
    assert values.dtype == np.float32
    np.testing.assert_allclose(values.var(axis=0), 1.0, rtol=1e-3)


# --- errors, each naming the node ----------------------------------------------------------------------


def norm_spec(op, x_shape, param_shapes=(), attrs=None, x_dtype="float64", param_dtype="float64"):
    leaves = [{"id": "x", "kind": "input", "shape": list(x_shape), "dtype": x_dtype}]
    leaves += [
        {
            "id": f"p{i}",
            "kind": "parameter",
            "shape": list(s),
            "dtype": param_dtype,
            "value": {"init": "zeros"},
        }
        for i, s in enumerate(param_shapes)
    ]
    node = {"id": "norm", "op": op, "inputs": ["x"] + [f"p{i}" for i in range(len(param_shapes))]}
    if attrs:
        node["attrs"] = attrs
    return spec_text(leaves, [node])


@pytest.mark.parametrize(
    "op, x_shape, params, attrs, words",
    [
        ("batch_norm", (3,), (), None, ["at least 2-D", "(3,)"]),
        ("batch_norm", (), (), None, ["at least 2-D"]),
        ("batch_norm", (4, 3), ((4,),), None, ["gamma (4,)", "(4, 3)", "(3,)"]),
        ("batch_norm", (4, 3, 2), ((3,), (2,)), None, ["beta (2,)", "(3,)"]),
        ("batch_norm", ("N", 3), ((3, 1),), None, ["gamma (3, 1)", "(N, 3)"]),
        ("layer_norm", (3, 4), ((3,),), None, ["weight (3,)", "(4,)", "normalized_ndim 1"]),
        ("layer_norm", (2, 3, 4), ((4,),), {"normalized_ndim": 2}, ["weight (4,)", "(3, 4)"]),
        ("layer_norm", (2, 3), (), {"normalized_ndim": 3}, ["normalized_ndim 3", "(2, 3)"]),
        ("layer_norm", (), (), None, ["normalized_ndim 1", "0 axes"]),
        ("layer_norm", (3, 4), ((4,), (3, 4)), None, ["bias (3, 4)"]),
    ],
    ids=str,
)
def test_shapes_that_do_not_fit_are_refused_naming_the_node(op, x_shape, params, attrs, words):
    text = spec_error(norm_spec(op, x_shape, params, attrs))
    assert 'nodes[0] "norm"' in text and op in text
    for word in words:
        assert word in text


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm"])
@pytest.mark.parametrize("which", ["x", "param"])
def test_integer_inputs_are_refused(op, which):
    text = spec_error(
        norm_spec(
            op,
            (4, 3),
            ((3,),),
            x_dtype="int64" if which == "x" else "float64",
            param_dtype="int64" if which == "param" else "float64",
        )
    )
    name = "'x'" if which == "x" else ("'gamma'" if op == "batch_norm" else "'weight'")
    assert '"norm"' in text and "int64" in text and name in text


@pytest.mark.parametrize(
    "op, attrs, where",
    [
        ("batch_norm", {"eps": 0.0}, "attrs.eps"),
        ("batch_norm", {"eps": -1e-5}, "attrs.eps"),
        ("batch_norm", {"eps": "small"}, "attrs.eps"),
        ("batch_norm", {"normalized_ndim": 1}, "attrs.normalized_ndim"),
        ("layer_norm", {"normalized_ndim": 0}, "attrs.normalized_ndim"),
        ("layer_norm", {"normalized_ndim": 1.0}, "attrs.normalized_ndim"),
        ("layer_norm", {"eps": 0.0}, "attrs.eps"),
        ("layer_norm", {"axis": -1}, "attrs.axis"),
    ],
    ids=str,
)
def test_bad_attributes_are_refused_naming_them(op, attrs, where):
    text = spec_error(norm_spec(op, (4, 3), (), attrs))
    assert where in text and '"norm"' in text


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm"])
def test_too_many_inputs_are_refused(op):
    text = spec_error(norm_spec(op, (4, 3), ((3,), (3,), (3,))))
    names = "x, gamma, beta" if op == "batch_norm" else "x, weight, bias"
    assert f'"norm": {op} takes 1 to 3 inputs ({names}), got 4' in text


# --- builders and the spec file ------------------------------------------------------------------------


def test_builders_take_inputs_then_attributes_in_order():
    assert list(inspect.signature(gd.batch_norm).parameters) == ["x", "gamma", "beta", "eps", "id"]
    assert list(inspect.signature(gd.layer_norm).parameters) == [
        "x",
        "weight",
        "bias",
        "normalized_ndim",
        "eps",
        "id",
    ]
    g = gd.Graph("t")
    x = g.input("x", value=RNG.normal(size=(2, 3, 4)))
    gd.layer_norm(x, None, None, 2, 0.01, id="ln")
    assert g.spec.nodes[-1].attrs == {"normalized_ndim": 2, "eps": 0.01}
    assert g.spec.nodes[-1].inputs == ["x"]
    gd.batch_norm(x, id="bn")
    assert g.spec.nodes[-1].attrs == {}


def test_a_spec_file_runs_batch_norm_and_layer_norm():
    x = RNG.normal(size=(4, 2, 3)).round(3)
    text = spec_text(
        [
            {"id": "x", "kind": "input", "value": x.tolist()},
            {"id": "gamma", "kind": "parameter", "value": [1.5, -0.5]},
            {"id": "w", "kind": "parameter", "value": [[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]},
        ],
        [
            {"id": "bn", "op": "batch_norm", "inputs": ["x", "gamma"], "attrs": {"eps": 0.001}},
            {"id": "ln", "op": "layer_norm", "inputs": ["bn", "w"], "attrs": {"normalized_ndim": 2}},
            {"id": "L", "op": "sum", "inputs": ["ln"]},
        ],
        loss="L",
    )
    result = gd.loads(text).run()
    mu = x.mean(axis=(0, 2), keepdims=True)
    bn = (x - mu) / np.sqrt(x.var(axis=(0, 2), keepdims=True) + 0.001) * np.array([1.5, -0.5])[None, :, None]
    np.testing.assert_allclose(result.value("bn"), bn, rtol=1e-12)
    assert result.grad("gamma").shape == (2,) and result.grad("w").shape == (2, 3)


def test_ops_docs_state_the_kink_rule_and_the_gradient():
    for op in ("batch_norm", "layer_norm"):
        doc = gd.OPS[op].__doc__
        assert "Kink rule" in doc and "Gradient" in doc
        assert gd.OPS[op].family == "normalization"
