"""conv2d, max_pool2d and avg_pool2d beyond the op table: the tie convention of max_pool2d, many
stride/padding/dilation/groups combinations against plain loops (values and gradients), the shape rules
and their messages (each naming the node), symbolic batch sizes, empty batches, float32 and the builders.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import op_cases  # noqa: F401  (the table first: it imports op_cases_conv at its end)
import pytest
from op_cases_conv import ref_avg_pool2d, ref_conv2d, ref_max_pool2d

import graphdiff as gd
from graphdiff.executor import bind_feeds
from graphdiff.ops import REGISTRY


def run(op: str, inputs: dict[str, np.ndarray], upstream: np.ndarray | None = None, **attrs) -> gd.Result:
    """loss = sum(out * upstream) (upstream of ones by default); the op is node "out"."""
    g = gd.Graph(f"t_{op}")
    leaves = [g.parameter(name, value=value, dtype=str(value.dtype)) for name, value in inputs.items()]
    out = g.apply(op, *leaves, id="out", **attrs)
    weights = np.ones(out.shape) if upstream is None else upstream
    r = g.constant("R", value=weights.astype(inputs[next(iter(inputs))].dtype))
    g.set_loss(gd.sum(gd.mul(out, r)))
    return g.run()


# --- max_pool2d's tie rule ---------------------------------------------------------------------------


def test_max_pool_splits_a_tied_window_equally():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    result = run("max_pool2d", {"x": x}, kernel_size=2)
    assert result.value("out").item() == 3.0
    np.testing.assert_allclose(result.grad("x"), [[[[0.0, 1 / 3], [1 / 3, 1 / 3]]]], rtol=0, atol=1e-15)


def test_max_pool_tie_shares_scale_with_the_upstream_gradient():
    x = np.array([[[[2.0, 2.0, 0.0, 5.0], [1.0, 0.0, 0.0, 0.0]]]])
    result = run("max_pool2d", {"x": x}, np.array([[[[4.0, 10.0]]]]), kernel_size=2)
    np.testing.assert_array_equal(result.grad("x"), [[[[2.0, 2.0, 0.0, 10.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_overlapping_windows_accumulate_at_a_shared_maximum():
    # kernel 2, stride 1 over a row [0, 9, 1]: both windows' maximum is the 9 in the middle.
    x = np.array([[[[0.0, 9.0, 1.0]]]])
    result = run("max_pool2d", {"x": x}, np.array([[[[1.0, 2.0]]]]), kernel_size=[1, 2], stride=1)
    np.testing.assert_array_equal(result.value("out"), [[[[9.0, 9.0]]]])
    np.testing.assert_array_equal(result.grad("x"), [[[[0.0, 3.0, 0.0]]]])


def test_overlapping_tied_windows_split_then_accumulate():
    # 2x2 windows, stride 1, over an all-equal 3x3 image: each window splits 1 into quarters.
    x = np.full((1, 1, 3, 3), 7.0)
    result = run("max_pool2d", {"x": x}, kernel_size=2, stride=1)
    windows_covering = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    np.testing.assert_array_equal(result.grad("x")[0, 0], windows_covering)


def test_max_pool_padding_never_wins_against_negative_values():
    x = np.full((1, 1, 2, 2), -5.0)
    result = run("max_pool2d", {"x": x}, kernel_size=2, stride=1, padding=1)
    np.testing.assert_array_equal(result.value("out"), np.full((1, 1, 3, 3), -5.0))
    # every window holds real elements only (the padding is -inf): the gradient sums to 9
    assert result.grad("x").sum() == 9.0


# --- against plain loops: many geometries ------------------------------------------------------------


def conv_grads_by_loops(x, weight, upstream, stride, padding, dilation, groups):
    """d sum(out * upstream) / d x and / d weight, straight from the definition."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    dx, dweight = np.zeros_like(x), np.zeros_like(weight)
    for b, f, i, j in itertools.product(*(range(s) for s in upstream.shape)):
        for ch, p, q in itertools.product(range(cg), range(kh), range(kw)):
            row, col = i * sh + p * dh - ph, j * sw + q * dw - pw
            if 0 <= row < h and 0 <= col < w:
                channel = (f // (o // groups)) * cg + ch
                dx[b, channel, row, col] += upstream[b, f, i, j] * weight[f, ch, p, q]
                dweight[f, ch, p, q] += upstream[b, f, i, j] * x[b, channel, row, col]
    return dx, dweight


CONV_COMBOS = [
    # (N, C, H, W), (O, kH, kW), stride, padding, dilation, groups
    ((2, 3, 7, 6), (4, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 8, 7), (6, 3, 3), (2, 1), (1, 2), (1, 2), 2),
    ((2, 4, 9, 8), (4, 2, 3), (3, 2), (2, 0), (2, 1), 4),
    ((1, 2, 5, 5), (2, 5, 5), (1, 1), (0, 0), (1, 1), 1),
    ((1, 2, 4, 4), (3, 1, 1), (2, 2), (1, 1), (1, 1), 1),
    ((2, 6, 6, 6), (6, 3, 3), (2, 2), (1, 1), (2, 2), 3),
    ((1, 1, 3, 3), (1, 3, 3), (1, 1), (2, 2), (1, 1), 1),
    ((1, 2, 7, 5), (2, 2, 2), (3, 3), (0, 1), (3, 1), 1),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, groups", CONV_COMBOS, ids=str)
def test_conv2d_matches_loops_in_value_and_gradients(shape, kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(sum(shape) + sum(kernel))
    o, kh, kw = kernel
    x = rng.normal(size=shape)
    weight = rng.normal(size=(o, shape[1] // groups, kh, kw))
    bias = rng.normal(size=o)
    attrs = {"stride": list(stride), "padding": list(padding), "dilation": list(dilation), "groups": groups}
    expected = ref_conv2d(attrs, x, weight, bias)
    upstream = rng.normal(size=expected.shape)
    result = run("conv2d", {"x": x, "weight": weight, "bias": bias}, upstream, **attrs)
    np.testing.assert_allclose(result.value("out"), expected, rtol=1e-12, atol=1e-12)
    dx, dweight = conv_grads_by_loops(x, weight, upstream, stride, padding, dilation, groups)
    np.testing.assert_allclose(result.grad("x"), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.grad("weight"), dweight, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.grad("bias"), upstream.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)


def pool_grad_by_loops(x, upstream, kernel, stride, padding, kind, count_include_pad=True):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h, w = x.shape[2:]
    dx = np.zeros_like(x)
    for b, ch, i, j in itertools.product(*(range(s) for s in upstream.shape)):
        cells = [
            (i * sh + p - ph, j * sw + q - pw)
            for p in range(kh)
            for q in range(kw)
            if 0 <= i * sh + p - ph < h and 0 <= j * sw + q - pw < w
        ]
        if kind == "max":
            best = max(x[b, ch, r, c] for r, c in cells)
            winners = [(r, c) for r, c in cells if x[b, ch, r, c] == best]
            for r, c in winners:
                dx[b, ch, r, c] += upstream[b, ch, i, j] / len(winners)
        else:
            count = kh * kw if count_include_pad else len(cells)
            for r, c in cells:
                dx[b, ch, r, c] += upstream[b, ch, i, j] / count
    return dx


POOL_COMBOS = [
    # (N, C, H, W), kernel, stride, padding
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1)),
    ((1, 2, 6, 7), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 5, 9), (3, 2), (3, 4), (0, 1)),
    ((1, 1, 5, 5), (5, 5), (1, 1), (2, 2)),
    ((1, 2, 9, 4), (3, 1), (1, 1), (0, 0)),
]


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_COMBOS, ids=str)
def test_max_pool_matches_loops_including_ties(shape, kernel, stride, padding):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-2, 3, size=shape).astype(np.float64)  # many exact ties
    attrs = {"kernel_size": list(kernel), "stride": list(stride), "padding": list(padding)}
    expected = ref_max_pool2d(attrs, x)
    upstream = rng.normal(size=expected.shape)
    result = run("max_pool2d", {"x": x}, upstream, **attrs)
    np.testing.assert_array_equal(result.value("out"), expected)
    dx = pool_grad_by_loops(x, upstream, kernel, stride, padding, "max")
    np.testing.assert_allclose(result.grad("x"), dx, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_COMBOS, ids=str)
def test_avg_pool_matches_loops(shape, kernel, stride, padding, count_include_pad):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape)
    attrs = {
        "kernel_size": list(kernel),
        "stride": list(stride),
        "padding": list(padding),
        "count_include_pad": count_include_pad,
    }
    expected = ref_avg_pool2d(attrs, x)
    upstream = rng.normal(size=expected.shape)
    result = run("avg_pool2d", {"x": x}, upstream, **attrs)
    np.testing.assert_allclose(result.value("out"), expected, rtol=1e-12, atol=1e-14)
    dx = pool_grad_by_loops(x, upstream, kernel, stride, padding, "avg", count_include_pad)
    np.testing.assert_allclose(result.grad("x"), dx, rtol=1e-12, atol=1e-14)


def test_avg_pool_count_include_pad_divides_corner_windows_differently():
    x = np.ones((1, 1, 2, 2))
    with_pad = run("avg_pool2d", {"x": x}, kernel_size=2, stride=1, padding=1).value("out")
    without = run("avg_pool2d", {"x": x}, kernel_size=2, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_array_equal(with_pad[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    np.testing.assert_array_equal(without.value("out"), np.ones((1, 1, 3, 3)))


# --- shape rules: messages name the node and the sizes ---------------------------------------------


def spec_error(leaves: list[dict], node: dict) -> str:
    spec = {"format_version": 1, "name": "t", "leaves": leaves, "nodes": [node], "outputs": [node["id"]]}
    with pytest.raises(gd.SpecError) as excinfo:
        gd.loads(json.dumps(spec), label="t.json")
    return str(excinfo.value)


def leaf(id: str, shape: list, dtype: str = "float64") -> dict:
    return {"id": id, "kind": "input", "shape": shape, "dtype": dtype}


BAD_CONVS = [
    ([[1, 3, 8, 8], [4, 2, 3, 3]], {}, ["2 channels per group", "x needs 2 channels", "(1, 3, 8, 8) has 3"]),
    ([[1, 4, 8, 8], [3, 2, 3, 3]], {"groups": 2}, ["3 output channels", "groups=2"]),
    ([[1, 1, 8, 8], [4, 1, 3, 3], [3]], {}, ["bias must have shape (4,)", "got (3,)"]),
    ([[1, 1, 2, 2], [4, 1, 5, 5]], {"padding": 1}, ["kernel 5x5", "padded input 4x4", "input 2x2"]),
    ([[1, 1, 4, 4], [4, 1, 3, 3]], {"dilation": 2}, ["extent 5x5", "padded input 4x4"]),
    ([[1, 8, 8], [4, 1, 3, 3]], {}, ["must be 4-d (N, C, H, W)", "(1, 8, 8)"]),
    ([["N", "C", 8, 8], [4, 1, 3, 3]], {}, ["only N may be symbolic", "(N, C, 8, 8)"]),
    ([[1, 1, 8, 8], [4, 1, 3]], {}, ["weight must be 4-d"]),
]


@pytest.mark.parametrize("shapes, attrs, fragments", BAD_CONVS, ids=[str(b[2][0]) for b in BAD_CONVS])
def test_conv2d_shape_errors_name_the_node_and_the_sizes(shapes, attrs, fragments):
    names = ["x", "weight", "bias"][: len(shapes)]
    leaves = [leaf(n, s) for n, s in zip(names, shapes, strict=True)]
    text = spec_error(leaves, {"id": "c1", "op": "conv2d", "inputs": names, "attrs": attrs})
    assert 'nodes[0] "c1"' in text and "conv2d" in text
    for fragment in fragments:
        assert fragment in text, text


BAD_POOLS = [
    ("max_pool2d", [1, 1, 4, 4], {"kernel_size": 2, "padding": 2}, ["padding 2x2 is more than half", "2x2"]),
    ("avg_pool2d", [1, 1, 4, 4], {"kernel_size": 3, "padding": [0, 2]}, ["more than half the kernel 3x3"]),
    ("max_pool2d", [1, 1, 2, 2], {"kernel_size": 3}, ["kernel 3x3 is bigger than the padded input 2x2"]),
    ("avg_pool2d", [1, 1, 0, 4], {"kernel_size": 1}, ["empty image"]),
    ("max_pool2d", [1, 4, 4], {"kernel_size": 2}, ["must be 4-d"]),
]


@pytest.mark.parametrize("op, shape, attrs, fragments", BAD_POOLS, ids=[b[3][0] for b in BAD_POOLS])
def test_pool_shape_errors_name_the_node(op, shape, attrs, fragments):
    text = spec_error([leaf("x", shape)], {"id": "p1", "op": op, "inputs": ["x"], "attrs": attrs})
    assert 'nodes[0] "p1"' in text and op in text
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    "attrs, where",
    [
        ({"stride": 0}, "attrs.stride"),
        ({"stride": [1, 2, 3]}, "attrs.stride"),
        ({"padding": -1}, "attrs.padding"),
        ({"dilation": 1.5}, "attrs.dilation"),
        ({"groups": 0}, "attrs.groups"),
        ({"padding": True}, "attrs.padding"),
    ],
    ids=str,
)
def test_bad_conv2d_attributes_are_refused(attrs, where):
    text = spec_error(
        [leaf("x", [1, 1, 4, 4]), leaf("w", [1, 1, 3, 3])],
        {"id": "c1", "op": "conv2d", "inputs": ["x", "w"], "attrs": attrs},
    )
    assert where in text


def test_pool_kernel_size_is_required():
    text = spec_error([leaf("x", [1, 1, 4, 4])], {"id": "p1", "op": "max_pool2d", "inputs": ["x"]})
    assert "attrs.kernel_size" in text


def test_conv2d_refuses_int64_weight_naming_it():
    text = spec_error(
        [leaf("x", [1, 1, 4, 4]), leaf("w", [1, 1, 3, 3], "int64")],
        {"id": "c1", "op": "conv2d", "inputs": ["x", "w"]},
    )
    assert "'weight' is int64" in text and '"c1"' in text


# --- symbolic batch, empty batch, dtypes, builders ------------------------------------------------------


def cnn_graph() -> gd.Graph:
    rng = np.random.default_rng(0)
    g = gd.Graph("cnn")
    x = g.input("x", shape=["N", 1, 6, 6])
    w = g.parameter("w", value=rng.normal(size=(3, 1, 3, 3)))
    b = g.parameter("b", value=rng.normal(size=3))
    h = gd.max_pool2d(gd.relu(gd.conv2d(x, w, b, padding=1, id="conv")), 2, id="pool")
    a = gd.avg_pool2d(h, 3, id="avg")
    g.set_loss(gd.sum(a))
    return g


def test_symbolic_batch_size_passes_through_and_runs_for_any_batch():
    g = cnn_graph()
    assert g["conv"].shape == ("N", 3, 6, 6)
    assert g["pool"].shape == ("N", 3, 3, 3)
    assert g["avg"].shape == ("N", 3, 1, 1)
    rng = np.random.default_rng(1)
    for n in (1, 5):
        x = rng.normal(size=(n, 1, 6, 6))
        result = g.run({"x": x})
        assert result.value("avg").shape == (n, 3, 1, 1)
        assert result.grad("w").shape == (3, 1, 3, 3)


def test_an_empty_batch_gives_empty_values_and_zero_gradients():
    result = cnn_graph().run({"x": np.zeros((0, 1, 6, 6))})
    assert result.value("pool").shape == (0, 3, 3, 3)
    np.testing.assert_array_equal(result.grad("w"), np.zeros((3, 1, 3, 3)))
    np.testing.assert_array_equal(result.grad("b"), np.zeros(3))
    assert result.grad("x").shape == (0, 1, 6, 6)


def test_float32_stays_float32_through_conv_and_pools():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4)

    def grads(dtype: str) -> gd.Result:
        g = gd.Graph("f")
        xs = g.parameter("x", value=x, dtype=dtype)
        ws = g.parameter("w", value=w, dtype=dtype)
        bs = g.parameter("b", value=b, dtype=dtype)
        h = gd.conv2d(xs, ws, bs, stride=1, padding=1)
        h = gd.avg_pool2d(gd.max_pool2d(h, 2, 1), 2, padding=1, id="out")
        g.set_loss(gd.sum(h))
        return g.run()

    r32, r64 = grads("float32"), grads("float64")
    assert r32.value("out").dtype == np.float32
    for name in ("x", "w", "b"):
        assert r32.grad(name).dtype == np.float32
        np.testing.assert_allclose(r32.grad(name), r64.grad(name), rtol=1e-4, atol=1e-5)


def test_mixed_float32_input_and_float64_weight_promote_and_keep_each_gradient_dtype():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    weight = rng.normal(size=(3, 2, 3, 3))
    bias = rng.normal(size=3).astype(np.float32)
    result = run("conv2d", {"x": x, "weight": weight, "bias": bias})
    assert result.value("out").dtype == np.float64
    assert result.grad("x").dtype == np.float32
    assert result.grad("weight").dtype == np.float64
    assert result.grad("bias").dtype == np.float32
    expected = ref_conv2d({}, x.astype(np.float64), weight, bias.astype(np.float64))
    np.testing.assert_allclose(result.value("out"), expected, rtol=1e-6)


def test_builders_take_attributes_positionally_as_torch_does():
    g = gd.Graph("b")
    x = g.input("x", value=np.zeros((1, 2, 9, 9)))
    w = g.parameter("w", value=np.zeros((4, 1, 3, 3)))
    assert gd.conv2d(x, w, None, 2, 1, 1, 2).shape == (1, 4, 5, 5)
    assert gd.conv2d(x, w, stride=[2, 1], groups=2).shape == (1, 4, 4, 7)
    assert gd.max_pool2d(x, 3, 2, 1).shape == (1, 2, 5, 5)
    assert gd.avg_pool2d(x, [3, 1]).shape == (1, 2, 3, 9)


def test_vjp_reads_are_declared_exactly():
    assert REGISTRY["conv2d"].vjp_reads == frozenset({"inputs"})
    assert REGISTRY["max_pool2d"].vjp_reads == frozenset({"inputs", "output"})
    assert REGISTRY["avg_pool2d"].vjp_reads == frozenset()
    g = cnn_graph()
    x = np.random.default_rng(4).normal(size=(3, 1, 6, 6))
    plan = g.plan
    values = bind_feeds(plan.graph, {"x": x})
    plain = plan.backward(plan.forward(values)).grads
    saving = plan.backward(plan.forward(values, keep="backward")).grads  # unread values freed
    for name in ("x", "w", "b"):
        np.testing.assert_array_equal(saving[name], plain[name])


def test_large_inputs_stay_finite():
    x = np.full((1, 1, 4, 4), 1e300)
    result = run("avg_pool2d", {"x": x}, kernel_size=2)
    assert np.all(np.isfinite(result.value("out")))
    result = run("max_pool2d", {"x": -x}, kernel_size=2, padding=1)
    np.testing.assert_array_equal(result.value("out"), np.full((1, 1, 3, 3), -1e300))
