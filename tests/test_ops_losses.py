"""The losses beyond the op table: reduction ("mean", "sum", "none") on every loss, nll_loss against
log_softmax + softmax_cross_entropy, binary cross-entropy at +-1000, huber at |d| = delta, shape and
label errors naming the node, symbolic batch sizes, empty inputs, float32, the builders' positional
attributes, and the lab's accuracy for nll_loss."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import spec_error, spec_text, strict_numpy

import graphdiff as gd
from graphdiff.ops import format_shape
from graphdiff.optimize.objective import Objective

RNG = np.random.default_rng(11)

CLASSIFICATION_LOSSES = ["softmax_cross_entropy", "multiclass_hinge", "nll_loss"]
ELEMENTWISE_LOSSES = ["squared_error", "mse", "huber", "binary_cross_entropy_with_logits"]
ALL_LOSSES = CLASSIFICATION_LOSSES + ELEMENTWISE_LOSSES


def loss_inputs(op: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels (classification: ``shape`` is the scores'), or two same-shape floats."""
    if op in CLASSIFICATION_LOSSES:
        scores = RNG.normal(size=shape)
        return scores, RNG.integers(0, shape[-1], size=shape[:-1]).astype(np.int64)
    return RNG.normal(size=shape), RNG.uniform(0.0, 1.0, size=shape)


def run_loss(op: str, a: np.ndarray, b: np.ndarray, upstream: np.ndarray | None = None, **attrs) -> gd.Result:
    g = gd.Graph("t")
    names = gd.OPS[op].input_names
    first = g.parameter(names[0], a)
    second = g.input(names[1], value=b, dtype="int64") if b.dtype == np.int64 else g.parameter(names[1], b)
    out = g.apply(op, first, second, id="out", **attrs)
    if upstream is None:
        g.set_loss(out)
    else:
        g.set_loss(gd.sum(gd.mul(out, g.constant("R", value=upstream)), id="loss"))
    return g.run()


# --- reduction -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ALL_LOSSES)
@pytest.mark.parametrize("shape", [(5, 3), (3,)], ids=str)
def test_none_sum_and_mean_agree_and_none_has_the_per_example_shape(op, shape):
    a, b = loss_inputs(op, shape)
    classification = op in CLASSIFICATION_LOSSES
    per_shape = shape[:-1] if classification else shape
    count = (shape[0] if len(shape) == 2 else 1) if classification else a.size
    none = run_loss(op, a, b, upstream=np.ones(per_shape), reduction="none")
    total = run_loss(op, a, b, reduction="sum")
    mean = run_loss(op, a, b)
    explicit_mean = run_loss(op, a, b, reduction="mean")
    losses = none.value("out")
    assert losses.shape == per_shape
    np.testing.assert_allclose(total.value("out"), losses.sum(), rtol=1e-13)
    np.testing.assert_allclose(mean.value("out"), losses.sum() / count, rtol=1e-13)
    assert float(explicit_mean.value("out")) == float(mean.value("out"))
    # gradients: "none" with a unit upstream is "sum"; "mean" is "sum" divided by the count
    name = gd.OPS[op].input_names[0]
    np.testing.assert_allclose(none.grad(name), total.grad(name), rtol=1e-13)
    np.testing.assert_allclose(mean.grad(name), total.grad(name) / count, rtol=1e-13)


@pytest.mark.parametrize("op", CLASSIFICATION_LOSSES)
def test_none_weights_each_example_by_its_upstream_gradient(op):
    scores, labels = loss_inputs(op, (4, 3))
    if op == "multiclass_hinge":
        scores = np.array([[0.0, 0.4, 2.0], [1.0, 0.0, -1.0], [0.2, 0.3, 0.9], [3.0, -2.0, 0.1]])
    upstream = np.array([1.0, 0.0, -2.0, 0.5])
    weighted = run_loss(op, scores, labels, upstream=upstream, reduction="none")
    name = gd.OPS[op].input_names[0]
    for i in range(4):
        alone = run_loss(op, scores[i], labels[i], reduction="sum")  # the (C,) single-example form
        np.testing.assert_allclose(weighted.value("out")[i], alone.value("out"), rtol=1e-14)
        np.testing.assert_allclose(weighted.grad(name)[i], upstream[i] * alone.grad(name), rtol=1e-14)
    assert np.all(weighted.grad(name)[1] == 0.0)


@pytest.mark.parametrize("op", CLASSIFICATION_LOSSES)
def test_a_single_example_with_none_gives_a_scalar(op):
    g = gd.Graph("t")
    out = g.apply(op, g.input("s", shape=[3]), g.input("y", shape=[], dtype="int64"), reduction="none")
    assert out.shape == ()


def test_regularization_has_no_reduction():
    g = gd.Graph("t")
    w = g.parameter("w", np.ones(3))
    for op in ("l1_regularization", "l2_regularization"):
        assert "reduction" not in gd.OPS[op].Attrs.model_fields
        assert "sum" in gd.OPS[op].__doc__ and "no reduction" in gd.OPS[op].__doc__
        with pytest.raises(gd.SpecError, match="attrs.reduction"):
            g.apply(op, w, reduction="mean")


@pytest.mark.parametrize("op", ALL_LOSSES)
def test_every_loss_defaults_to_mean_and_refuses_other_reductions(op):
    field = gd.OPS[op].Attrs.model_fields["reduction"]
    assert field.default == "mean" and field.description
    names = gd.OPS[op].input_names
    second = {"id": names[1], "kind": "input", "shape": [4] if op in CLASSIFICATION_LOSSES else [4, 3]}
    if op in CLASSIFICATION_LOSSES:
        second["dtype"] = "int64"
    leaves = [{"id": names[0], "kind": "input", "shape": [4, 3]}, second]
    node = {"id": "L", "op": op, "inputs": list(names), "attrs": {"reduction": "median"}}
    text = spec_error(spec_text(leaves, [node]))
    assert '"L"' in text and "attrs.reduction" in text


@pytest.mark.parametrize("op", ALL_LOSSES)
def test_reduction_is_the_last_attribute(op):
    """The builders take attributes positionally in field order: reduction comes after the old ones."""
    fields = list(gd.OPS[op].Attrs.model_fields)
    assert fields[-1] == "reduction"


def test_existing_positional_builder_calls_keep_their_meaning():
    g = gd.Graph("t")
    s = g.input("s", value=[[1.0, -2.0, 0.5], [3.0, 4.0, 0.0]])
    y = g.input("y", dtype="int64", value=[0, 1])
    gd.multiclass_hinge(s, y, 0.5, id="h")
    assert g.spec.nodes[-1].attrs == {"delta": 0.5}
    gd.multiclass_hinge(s, y, 0.5, "none", id="h_none")
    assert g.spec.nodes[-1].attrs == {"delta": 0.5, "reduction": "none"}
    gd.softmax_cross_entropy(s, y, "sum", id="ce")
    assert g.spec.nodes[-1].attrs == {"reduction": "sum"}
    gd.huber(s, s, 2.0, id="hub")
    assert g.spec.nodes[-1].attrs == {"delta": 2.0}
    gd.squared_error(s, s, "sum", id="se")
    assert g.spec.nodes[-1].attrs == {"reduction": "sum"}
    assert list(inspect.signature(gd.nll_loss).parameters) == ["log_probs", "labels", "reduction", "id"]
    assert list(inspect.signature(gd.binary_cross_entropy_with_logits).parameters) == [
        "logits",
        "targets",
        "reduction",
        "id",
    ]


def test_a_spec_without_reduction_means_what_it_meant():
    leaves = [
        {"id": "s", "kind": "parameter", "value": [[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]]},
        {"id": "y", "kind": "input", "dtype": "int64", "value": [2, 0]},
        {"id": "p", "kind": "parameter", "value": [1.0, 3.0]},
        {"id": "t", "kind": "constant", "value": [0.0, 0.0]},
    ]
    nodes = [
        {"id": "ce", "op": "softmax_cross_entropy", "inputs": ["s", "y"]},
        {"id": "hinge", "op": "multiclass_hinge", "inputs": ["s", "y"]},
        {"id": "se", "op": "squared_error", "inputs": ["p", "t"]},
        {"id": "total", "op": "add", "inputs": ["ce", "hinge"]},
        {"id": "L", "op": "add", "inputs": ["total", "se"]},
    ]
    result = gd.loads(spec_text(leaves, nodes, loss="L")).run()
    lse = np.log(np.exp([1.0, 2.0, 3.0]).sum()), np.log(np.exp([0.0, 0.0, 5.0]).sum())
    assert result.value("ce") == pytest.approx((lse[0] - 3.0 + lse[1] - 0.0) / 2, rel=1e-14)
    assert result.value("hinge") == pytest.approx((0.0 + 0.0 + 1.0 + 6.0) / 2, rel=1e-14)  # margin 0 adds 0
    assert result.value("se") == pytest.approx((0.5 * 1.0 + 0.5 * 9.0) / 2, rel=1e-14)
    np.testing.assert_allclose(result.grad("p"), [0.5, 1.5], rtol=1e-14)


# --- nll_loss ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_of_log_softmax_is_softmax_cross_entropy(reduction):
    scores, labels = RNG.normal(size=(5, 4)), np.array([0, 3, 3, 1, 2])
    g = gd.Graph("t")
    s = g.parameter("s", scores)
    y = g.input("y", value=labels, dtype="int64")
    nll = gd.nll_loss(gd.log_softmax(s), y, reduction, id="nll")
    ce = gd.softmax_cross_entropy(s, y, reduction, id="ce")
    g.add_output(nll, ce)
    g.set_loss(gd.sum(nll))
    via_nll = g.run().grad("s")
    np.testing.assert_allclose(g.last_result().value("nll"), g.last_result().value("ce"), rtol=1e-13)
    g2 = gd.Graph("t2")
    ce2 = gd.softmax_cross_entropy(
        g2.parameter("s", scores), g2.input("y", value=labels, dtype="int64"), reduction
    )
    g2.set_loss(gd.sum(ce2))
    np.testing.assert_allclose(via_nll, g2.run().grad("s"), rtol=1e-12, atol=1e-15)


def test_nll_gradient_is_minus_one_over_n_at_each_label():
    result = run_loss("nll_loss", np.zeros((4, 3)), np.array([2, 0, 2, 1]))
    expected = np.zeros((4, 3))
    expected[[0, 1, 2, 3], [2, 0, 2, 1]] = -0.25
    np.testing.assert_array_equal(result.grad("log_probs"), expected)
    single = run_loss("nll_loss", np.array([-1.0, -2.0, -0.5]), np.array(1))
    assert float(single.value("out")) == 2.0
    np.testing.assert_array_equal(single.grad("log_probs"), [0.0, -1.0, 0.0])


@pytest.mark.parametrize("labels, bad", [([0, 3], 3), ([-1, 0], -1), ([0, 100], 100)], ids=str)
def test_nll_label_out_of_range_is_a_compute_error_naming_the_node(labels, bad):
    g = gd.Graph("t")
    lp = g.parameter("lp", np.log(np.full((2, 3), 1 / 3)))
    g.set_loss(gd.nll_loss(lp, g.input("y", value=np.array(labels), dtype="int64"), id="nll_node"))
    with pytest.raises(gd.ComputeError) as excinfo:
        g.run()
    text = str(excinfo.value)
    assert f"label {bad}" in text and "nll_loss" in text and "0 to 2" in text and '"nll_node"' in text


@pytest.mark.parametrize(
    "scores, labels, dtype",
    [((4, 3), (3,), "int64"), ((4, 3), (4, 1), "int64"), ((3,), (1,), "int64"), ((4, 3), (4,), "float64")],
    ids=str,
)
def test_nll_refuses_labels_that_do_not_fit_naming_the_node(scores, labels, dtype):
    leaves = [
        {"id": "lp", "kind": "input", "shape": list(scores)},
        {"id": "y", "kind": "input", "shape": list(labels), "dtype": dtype},
    ]
    text = spec_error(spec_text(leaves, [{"id": "nll", "op": "nll_loss", "inputs": ["lp", "y"]}]))
    assert '"nll"' in text and "nll_loss" in text
    assert ("int64" in text) if dtype == "float64" else ("(N, C)" in text)


def test_the_lab_reports_accuracy_for_nll_loss():
    g = gd.Graph("t")
    x = g.input("x", value=RNG.normal(size=(6, 2)))
    w = g.parameter("W", RNG.normal(size=(2, 3)))
    log_probs = gd.log_softmax(gd.matmul(x, w), id="log_probs")
    g.set_loss(gd.nll_loss(log_probs, g.input("y", value=np.array([0, 1, 2, 0, 1, 2]), dtype="int64")))
    objective = Objective(g)
    assert objective.has_accuracy and objective.scores_id == "log_probs" and objective.labels_id == "y"


# --- binary cross-entropy with logits ------------------------------------------------------------------


def test_bce_is_stable_at_plus_and_minus_a_thousand():
    logits = np.array([1000.0, 1000.0, -1000.0, -1000.0, 0.0])
    targets = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    with strict_numpy():
        result = run_loss("binary_cross_entropy_with_logits", logits, targets, reduction="sum")
        none = run_loss(
            "binary_cross_entropy_with_logits", logits, targets, upstream=np.ones(5), reduction="none"
        )
    np.testing.assert_array_equal(none.value("out")[:4], [0.0, 1000.0, 0.0, 1000.0])
    assert none.value("out")[4] == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(result.grad("logits"), [0.0, 1.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(result.grad("targets"), -logits)


def test_bce_gradients_are_sigmoid_minus_target_and_minus_logit_over_n():
    logits, targets = np.array([[0.3, -1.2], [2.0, 0.0]]), np.array([[1.0, 0.0], [0.25, 0.75]])
    result = run_loss("binary_cross_entropy_with_logits", logits, targets)
    np.testing.assert_allclose(result.grad("logits"), (1 / (1 + np.exp(-logits)) - targets) / 4, rtol=1e-14)
    np.testing.assert_allclose(result.grad("targets"), -logits / 4, rtol=1e-15)


def test_bce_in_float32_stays_float32_and_finite():
    logits = np.array([100.0, -100.0, 3.0], dtype=np.float32)
    targets = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    g = gd.Graph("t")
    out = gd.binary_cross_entropy_with_logits(
        g.parameter("x", logits, dtype="float32"),
        g.parameter("t", targets, dtype="float32"),
        "none",
        id="out",
    )
    g.set_loss(gd.sum(out))
    with strict_numpy():
        result = g.run()
    assert result.value("out").dtype == np.float32 and result.grad("x").dtype == np.float32
    np.testing.assert_allclose(
        result.value("out"), [100.0, 0.0, np.log1p(np.exp(-3.0))], rtol=1e-6, atol=1e-30
    )
    np.testing.assert_allclose(
        result.grad("x"), [1.0, 0.0, 1 / (1 + np.exp(-3.0)) - 1], rtol=1e-6, atol=1e-30
    )


# --- huber and mse -------------------------------------------------------------------------------------


def test_huber_at_exactly_delta_has_the_same_value_and_slope_from_both_sides():
    delta = 0.5
    target = np.zeros(6)
    prediction = np.array([0.5, -0.5, 0.25, 2.0, -3.0, 0.0])
    result = run_loss("huber", prediction, target, upstream=np.ones(6), delta=delta, reduction="none")
    np.testing.assert_array_equal(result.value("out"), [0.125, 0.125, 0.03125, 0.875, 1.375, 0.0])
    np.testing.assert_array_equal(result.grad("prediction"), [0.5, -0.5, 0.25, 0.5, -0.5, 0.0])
    np.testing.assert_array_equal(result.grad("target"), -result.grad("prediction"))


def test_huber_is_half_the_squared_error_inside_delta_and_linear_outside():
    p, t = RNG.uniform(-0.9, 0.9, size=(4, 3)), np.zeros((4, 3))
    inside = run_loss("huber", p, t, reduction="sum")
    half = run_loss("squared_error", p, t, reduction="sum")
    assert float(inside.value("out")) == pytest.approx(float(half.value("out")), rel=1e-14)
    far = run_loss("huber", np.array([10.0, -20.0]), np.zeros(2), delta=2.0, reduction="sum")
    assert float(far.value("out")) == pytest.approx(2.0 * (10 - 1) + 2.0 * (20 - 1), rel=1e-14)
    np.testing.assert_array_equal(far.grad("prediction"), [2.0, -2.0])


@pytest.mark.parametrize("delta", [0.0, -1.0])
def test_huber_needs_a_positive_delta(delta):
    g = gd.Graph("t")
    p = g.input("p", value=[1.0])
    with pytest.raises(gd.SpecError, match="attrs.delta"):
        gd.huber(p, p, delta)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_is_twice_squared_error(reduction):
    p, t = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    upstream = RNG.normal(size=(3, 4)) if reduction == "none" else None
    mse = run_loss("mse", p, t, upstream=upstream, reduction=reduction)
    half = run_loss("squared_error", p, t, upstream=upstream, reduction=reduction)
    np.testing.assert_allclose(mse.value("out"), 2.0 * half.value("out"), rtol=1e-14)
    np.testing.assert_allclose(mse.grad("prediction"), 2.0 * half.grad("prediction"), rtol=1e-14)
    np.testing.assert_allclose(mse.grad("target"), 2.0 * half.grad("target"), rtol=1e-14)


@pytest.mark.parametrize("op", ELEMENTWISE_LOSSES)
@pytest.mark.parametrize("shapes", [((4, 1), (4,)), ((3,), ()), ((2, 3), (3, 2))], ids=str)
def test_elementwise_losses_refuse_different_shapes_naming_the_node(op, shapes):
    names = gd.OPS[op].input_names
    leaves = [{"id": n, "kind": "input", "shape": list(s)} for n, s in zip(names, shapes, strict=True)]
    text = spec_error(spec_text(leaves, [{"id": "L", "op": op, "inputs": list(names)}]))
    assert '"L"' in text and op in text and "same shape" in text
    assert format_shape(shapes[0]) in text and format_shape(shapes[1]) in text


@pytest.mark.parametrize("op", ELEMENTWISE_LOSSES)
def test_elementwise_losses_refuse_int64_targets(op):
    names = gd.OPS[op].input_names
    leaves = [
        {"id": names[0], "kind": "input", "shape": [3]},
        {"id": names[1], "kind": "input", "shape": [3], "dtype": "int64"},
    ]
    text = spec_error(spec_text(leaves, [{"id": "L", "op": op, "inputs": list(names)}]))
    assert '"L"' in text and "int64" in text and repr(names[1]) in text


# --- symbolic dims, empty inputs, float32 --------------------------------------------------------------


@pytest.mark.parametrize("op", CLASSIFICATION_LOSSES)
def test_classification_none_over_a_symbolic_batch(op):
    g = gd.Graph("t")
    s = g.parameter("W", RNG.normal(size=(2, 3)))
    x = g.input("x", shape=["N", 2])
    y = g.input("y", shape=["N"], dtype="int64")
    out = g.apply(op, gd.matmul(x, s), y, reduction="none", id="out")
    assert out.shape == ("N",)
    g.set_loss(gd.sum(out))
    for n in (1, 4):
        result = g.run({"x": RNG.normal(size=(n, 2)), "y": RNG.integers(0, 3, size=n)})
        assert result.value("out").shape == (n,)


@pytest.mark.parametrize("op", ELEMENTWISE_LOSSES)
@pytest.mark.parametrize("reduction, shape", [("none", ("N", 2)), ("mean", ()), ("sum", ())])
def test_elementwise_losses_keep_symbolic_dims(op, reduction, shape):
    g = gd.Graph("t")
    names = gd.OPS[op].input_names
    out = g.apply(
        op, g.input(names[0], shape=["N", 2]), g.input(names[1], shape=["N", 2]), reduction=reduction
    )
    assert out.shape == shape


@pytest.mark.parametrize("op", ["mse", "huber", "binary_cross_entropy_with_logits", "squared_error"])
def test_empty_inputs(op):
    g = gd.Graph("t")
    names = gd.OPS[op].input_names
    a, b = g.input(names[0], shape=[0, 3]), g.input(names[1], shape=[0, 3])
    mean = g.apply(op, a, b, id="mean")
    total = g.apply(op, a, b, reduction="sum", id="sum")
    none = g.apply(op, a, b, reduction="none", id="none")
    g.add_output(mean, total, none)
    g.set_loss(gd.add(total, gd.sum(none)))
    with strict_numpy():
        result = g.run({names[0]: np.zeros((0, 3)), names[1]: np.zeros((0, 3))})
    assert result.value("sum") == 0.0 and result.value("none").shape == (0, 3)
    # mean over no elements: nan, as numpy, PyTorch and graphdiff's mean; squared_error keeps its old 0
    if op == "squared_error":
        assert result.value("mean") == 0.0
    else:
        assert np.isnan(result.value("mean"))
    assert result.grad(names[0]).shape == (0, 3)


@pytest.mark.parametrize("op", ALL_LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float32_losses_stay_float32(op, reduction):
    a, b = loss_inputs(op, (4, 3))
    g = gd.Graph("t")
    names = gd.OPS[op].input_names
    first = g.parameter(names[0], a.astype(np.float32), dtype="float32")
    if b.dtype == np.int64:
        second = g.input(names[1], value=b, dtype="int64")
    else:
        second = g.parameter(names[1], b.astype(np.float32), dtype="float32")
    out = g.apply(op, first, second, reduction=reduction, id="out")
    assert out.dtype == "float32"
    g.set_loss(gd.sum(out))
    result = g.run()
    assert result.value("out").dtype == np.float32
    assert result.grad(names[0]).dtype == np.float32
    reference = run_loss(
        op, a, b, upstream=None if reduction != "none" else np.ones(out.shape), reduction=reduction
    )
    np.testing.assert_allclose(result.value("out"), reference.value("out"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.grad(names[0]), reference.grad(names[0]), rtol=1e-4, atol=1e-6)


def test_mixed_dtypes_promote_and_each_gradient_keeps_its_input_dtype():
    g = gd.Graph("t")
    x = g.parameter("x", np.array([0.5, -1.0], dtype=np.float32), dtype="float32")
    t = g.parameter("t", np.array([1.0, 0.0]))
    out = gd.binary_cross_entropy_with_logits(x, t, id="out")
    assert out.dtype == "float64"
    g.set_loss(out)
    result = g.run()
    assert result.grad("x").dtype == np.float32 and result.grad("t").dtype == np.float64


def test_every_loss_documents_its_gradient():
    for op in ALL_LOSSES:
        doc = gd.OPS[op].__doc__
        assert "Gradient" in doc, op
        assert gd.OPS[op].family == "losses"
    assert gd.OPS["nll_loss"].classifies and not gd.OPS["mse"].classifies
