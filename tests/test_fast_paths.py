"""The executor's fast paths give the plain path's results.

- Scalar batching: a graph of scalar elementwise nodes compiled into one numpy call per (level, op,
  attrs), backward scatter-adding into slots. Random scalar graphs (hypothesis) and a scalar MLP are run
  both ways: every value and gradient agrees (the only freedom is the order of sums at fan-out).
- Graphs that would not gain (small, or a long chain) keep the step-by-step plan; checking for non-finite
  values and recording edge gradients fall back to it, so errors still name their node.
- float32 runs end to end in float32.
- The memory-saving mode (``keep="backward"``) frees what no backward reads and gives the same gradients
  for every op; a long chain then holds one activation at a time.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES, Family, OpCase

import graphdiff as gd
from graphdiff.errors import NonFiniteError
from graphdiff.examples import cs231n_circuit
from graphdiff.executor import BATCH_MIN_NODES, bind_feeds, compile_plan

UNARY = ["tanh", "sigmoid", "relu", "square", "neg", "abs", "exp"]
BINARY = ["add", "sub", "mul", "maximum", "minimum"]


def run_path(graph: gd.Graph, path: str, feeds=None, wrt=None, keep="all"):
    """(values, grads) of ``graph`` run by the plan forced onto ``path``."""
    checked = graph.checked
    plan = compile_plan(checked, path=path)
    expected = {"interpreter": None, "batched": plan.batches, "scalars": plan.fast}[path]
    assert plan.fast is expected and (path == "interpreter" or plan.fast is not None)
    trace = plan.forward(bind_feeds(checked, feeds), keep=keep)
    gradients = plan.backward(trace, wrt=wrt)
    values = {id: trace.value(id) for id in checked.order if plan.slot_of(id) not in trace.freed}
    return values, gradients.grads


def run_both(graph: gd.Graph, feeds=None, wrt=None):
    """(values, grads) of the interpreter's plan and of the forced batched plan."""
    return run_path(graph, "interpreter", feeds, wrt), run_path(graph, "batched", feeds, wrt)


def kept_like(plain, fast):
    """``fast``'s values restricted to those ``plain`` kept (all of which ``fast`` must have)."""
    values, grads = fast
    assert plain[0].keys() <= values.keys()
    return {id: values[id] for id in plain[0]}, grads


def assert_identical(plain, fast):
    """The same values and gradients, bit for bit, with the same dtypes."""
    for got, want in zip(fast, plain, strict=True):
        assert got.keys() == want.keys()
        for id in want:
            assert got[id].shape == want[id].shape and got[id].dtype == want[id].dtype, id
            np.testing.assert_array_equal(got[id], want[id], err_msg=id)


def assert_same(plain, batched):
    (values_p, grads_p), (values_b, grads_b) = plain, batched
    assert values_p.keys() == values_b.keys() and grads_p.keys() == grads_b.keys()
    for id in values_p:
        assert values_b[id].shape == () and values_b[id].dtype == values_p[id].dtype
        np.testing.assert_allclose(values_b[id], values_p[id], rtol=1e-14, atol=0, equal_nan=True, err_msg=id)
    for id in grads_p:
        assert grads_b[id].shape == grads_p[id].shape and grads_b[id].dtype == grads_p[id].dtype
        np.testing.assert_allclose(
            grads_b[id], grads_p[id], rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=id
        )


@st.composite
def scalar_graphs(draw, dtype: str = "float64") -> gd.Graph:
    graph = gd.Graph("random_scalars")
    leaves = draw(st.integers(1, 6))
    values = st.floats(-2, 2, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
    tensors = [
        graph.parameter(f"p{i}", value=draw(values), dtype=dtype)
        if draw(st.booleans())
        else graph.input(f"i{i}", value=draw(values), dtype=dtype)
        for i in range(leaves)
    ]
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(UNARY))
            source = draw(st.sampled_from(tensors))
            tensors.append(graph.apply(op, source if op != "exp" else gd.tanh(source)))
        else:
            a, b = draw(st.sampled_from(tensors)), draw(st.sampled_from(tensors))
            tensors.append(graph.apply(draw(st.sampled_from(BINARY)), a, b))
    total = tensors[leaves]
    for tensor in tensors[leaves + 1 :]:
        total = total + tensor  # every node reaches the loss
    graph.set_loss(total)
    return graph


@settings(max_examples=60, deadline=None)
@given(scalar_graphs())
def test_batched_scalar_graphs_give_the_plain_results(graph):
    plain, batched = run_both(graph)
    assert_same(plain, batched)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["float64", "float32"]).flatmap(scalar_graphs), st.sampled_from(["all", "backward"]))
def test_every_path_gives_the_interpreters_numbers_in_both_memory_modes_and_dtypes(graph, keep):
    dtype = graph.checked.types[graph.loss].dtype
    plain = run_path(graph, "interpreter", keep=keep)
    # The scalar paths keep their few numbers either way: compare the values the interpreter kept.
    scalars, batched = (kept_like(plain, run_path(graph, path, keep=keep)) for path in ("scalars", "batched"))
    assert_identical(plain, scalars)  # the same operations in the same order
    if dtype == "float64":
        assert_same(plain, batched)
    else:
        for id in plain[1]:
            assert batched[1][id].dtype == np.float32
            np.testing.assert_allclose(batched[1][id], plain[1][id], rtol=2e-5, atol=1e-6, err_msg=id)


def scalar_mlp(points: int, seed: int = 0, dtype: str = "float64") -> gd.Graph:
    """The lectures' network drawn from scalars: 2-16-16-1 with ReLU, square loss summed over points."""
    rng = np.random.default_rng(seed)
    graph = gd.Graph("scalar_mlp")
    sizes = [2, 16, 16, 1]

    def scalar(kind, id, value):
        return getattr(graph, kind)(id, value=float(value), dtype=dtype)

    weights = [
        [
            [scalar("parameter", f"w{k}_{i}_{j}", rng.normal(0, 0.5)) for j in range(sizes[k + 1])]
            for i in range(sizes[k])
        ]
        for k in range(3)
    ]
    biases = [[scalar("parameter", f"b{k}_{j}", 0.1) for j in range(sizes[k + 1])] for k in range(3)]
    total = None
    for p in range(points):
        h = [scalar("input", f"x{p}_{i}", rng.normal()) for i in range(2)]
        for k in range(3):
            sums = []
            for j in range(sizes[k + 1]):
                acc = biases[k][j]
                for i in range(sizes[k]):
                    acc = acc + weights[k][i][j] * h[i]
                sums.append(gd.relu(acc) if k < 2 else acc)
            h = sums
        error = h[0] - scalar("constant", f"y{p}", rng.normal())
        total = error * error if total is None else total + error * error
    graph.set_loss(total)
    return graph


def test_a_scalar_mlp_is_batched_by_default_and_agrees_with_the_plain_plan():
    graph = scalar_mlp(points=3)
    assert len(graph.checked.nodes) >= BATCH_MIN_NODES
    assert graph.plan.batches is not None
    batches = graph.plan.batches.batches
    assert len(batches) * 4 < len(graph.checked.nodes)  # many nodes per numpy call
    plain, batched = run_both(graph, wrt=graph.checked.ids_of_kind("parameter"))
    assert_same(plain, batched)
    # The API on top sees the same thing: any value, any wanted gradient.
    result = graph.run()
    assert float(result.loss) == pytest.approx(float(plain[0][graph.loss]), rel=1e-14)
    assert result.grad("w1_3_4").shape == ()


def test_float32_scalar_graphs_stay_float32_when_batched():
    graph = scalar_mlp(points=3, dtype="float32")
    plain, batched = run_both(graph, wrt=graph.checked.ids_of_kind("parameter"))
    assert all(v.dtype == np.float32 for v in batched[0].values())
    assert all(g.dtype == np.float32 for g in batched[1].values())
    for id in plain[1]:
        np.testing.assert_allclose(batched[1][id], plain[1][id], rtol=1e-5, atol=1e-7)


def test_small_graphs_and_long_chains_keep_the_step_by_step_plan():
    assert cs231n_circuit().plan.batches is None  # 2 nodes
    graph = gd.Graph("chain")
    h = graph.parameter("x", value=0.5)
    for _ in range(BATCH_MIN_NODES * 2):
        h = gd.tanh(h)
    graph.set_loss(h)
    assert graph.plan.batches is None  # one node per level: nothing to batch
    vector = gd.Graph("vector")
    w = vector.parameter("w", value=[1.0, 2.0])
    for _ in range(BATCH_MIN_NODES):
        w = gd.tanh(w)
    vector.set_loss(w.sum())
    assert vector.plan.batches is None  # not scalars


def test_non_finite_values_are_still_named_by_node():
    graph = scalar_mlp(points=3)
    checked = graph.checked
    bad = dict(bind_feeds(checked, None), x1_0=np.array(np.nan))
    with pytest.raises(NonFiniteError) as info:
        graph.plan.forward(bad, check_finite=True)
    assert "leaves" in str(info.value) and "x1_0" in str(info.value)
    trace = graph.plan.forward(bad)  # unchecked: nan flows through, as in the plain path
    assert np.isnan(trace.value(graph.loss))


def test_edge_gradients_come_from_the_plain_path():
    graph = scalar_mlp(points=3)
    plan = graph.plan
    trace = plan.forward(bind_feeds(graph.checked, None))
    gradients = plan.backward(trace, record_edges=True)
    assert gradients.edge_grads
    plain = compile_plan(graph.checked, path="interpreter")
    expected = plain.backward(plain.forward(bind_feeds(graph.checked, None)), record_edges=True)
    for key, grad in expected.edge_grads.items():
        np.testing.assert_allclose(gradients.edge_grads[key], grad, rtol=1e-14)


# --- memory-saving mode -------------------------------------------------------------------------------


def op_sandwich(case: OpCase, family: Family) -> tuple[gd.Graph, list[str]]:
    """params -> (+ 0: an add, which reads nothing back) -> the op -> (+ c: another add) -> sum of squares.

    The op's inputs and output are intermediates the memory-saving mode frees unless the op declares
    that its backward reads them, so a wrong declaration shows up as a wrong gradient."""
    rng = np.random.default_rng(7)
    graph = gd.Graph(f"sandwich_{case.op}")
    inputs, params = [], []
    for i, value in enumerate(case.make_inputs(rng, family)):
        if value.dtype != np.float64:  # labels, indices, conditions
            inputs.append(graph.input(f"labels{i}", value=value, dtype=str(value.dtype)))
            continue
        leaf = graph.parameter(f"p{i}", value=value)
        params.append(leaf.id)
        inputs.append((leaf + graph.constant(f"zero{i}", value=np.zeros_like(value))).named(f"in{i}"))
    out = graph.apply(case.op, *inputs, id="op", **dict(family.attrs))
    shifted = out + graph.constant("c", value=rng.standard_normal(out.shape))
    graph.set_loss((shifted * shifted).sum())
    return graph, params


@pytest.mark.parametrize(
    ("case", "family"),
    [(case, case.families[-1]) for case in CASES if case.differentiable],
    ids=lambda v: getattr(v, "op", ""),
)
def test_memory_saving_mode_gives_the_same_gradients_for_every_op(case, family):
    graph, params = op_sandwich(case, family)
    plan = compile_plan(graph.checked, path="interpreter")
    values = bind_feeds(graph.checked, None)
    full = plan.backward(plan.forward(values), wrt=params).grads
    trace = plan.forward(values, keep="backward")
    lean = plan.backward(trace, wrt=params).grads
    for id in params:
        np.testing.assert_array_equal(lean[id], full[id], err_msg=f"{case.op}: {id}")
    op = gd.OPS[case.op]
    freed = {plan.ids[slot] for slot in trace.freed}
    float_inputs = {f"in{i}" for i in range(len(family.shapes))} & set(graph.checked.nodes)
    assert (float_inputs <= freed) == ("inputs" not in op.vjp_reads)
    assert ("op" in freed) == ("output" not in op.vjp_reads and not case.is_loss)


def chain_of_adds(length: int, size: int) -> gd.Graph:
    rng = np.random.default_rng(0)
    graph = gd.Graph("adds")
    h = graph.parameter("x", value=rng.standard_normal(size))
    for i in range(length):
        h = h + graph.constant(f"c{i}", value=0.001 * (i % 7))
        h = -h
    graph.set_loss((h * h).sum())
    return graph


def peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_chain_holds_one_activation_at_a_time_in_memory_saving_mode():
    graph = chain_of_adds(length=300, size=20_000)  # 600 activations of 160 KB
    plan = graph.plan
    values = bind_feeds(graph.checked, None)

    def run(keep):
        return lambda: plan.backward(plan.forward(values, keep=keep), wrt=["x"])

    everything, lean = peak_bytes(run("all")), peak_bytes(run("backward"))
    activation = 20_000 * 8
    assert everything > 500 * activation  # every activation held until backward
    assert lean < 10 * activation  # a handful: the one being computed, the square's input, gradients
    np.testing.assert_array_equal(
        plan.backward(plan.forward(values, keep="backward"), wrt=["x"]).grads["x"],
        plan.backward(plan.forward(values), wrt=["x"]).grads["x"],
    )


def test_a_freed_value_is_refused_not_read_as_zeros():
    graph = chain_of_adds(length=3, size=4)
    trace = graph.plan.forward(bind_feeds(graph.checked, None), keep="backward")
    freed = graph.plan.ids[min(trace.freed)]
    with pytest.raises(gd.GraphdiffError, match="freed"):
        trace.value(freed)
    assert trace.value(graph.loss).shape == ()  # the loss, outputs and leaves are kept
    with pytest.raises(ValueError):
        graph.plan.forward(bind_feeds(graph.checked, None), keep="some")


def test_large_gradients_sum_in_place_without_touching_anything_else():
    """W (8,192 elements) gets three contributions: the first fresh one is added into in place."""
    rng = np.random.default_rng(3)
    graph = gd.Graph("fan_in")
    X = graph.input("X", value=rng.standard_normal((16, 64)))
    W = graph.parameter("W", value=rng.standard_normal((64, 128)))
    scores = X @ W
    graph.set_loss(gd.sum(scores * scores) + gd.l2_regularization(W, lam=0.1) + gd.sum(W))
    plan = graph.plan
    values = bind_feeds(graph.checked, None)
    W0 = values["W"].copy()
    trace = plan.forward(values)
    first = plan.backward(trace, wrt=["W"]).grads["W"]
    again = plan.backward(trace, wrt=["W"]).grads["W"]
    x, w = graph.checked.leaf_values["X"], W0
    expected = x.T @ (2 * (x @ w)) + 0.2 * w + 1.0
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    np.testing.assert_array_equal(again, first)  # nothing cached was mutated by the first pass
    np.testing.assert_array_equal(values["W"], W0)
    np.testing.assert_array_equal(trace.value("W"), W0)
    assert first is not again


def test_loading_pauses_the_garbage_collector_and_always_restores_it(tmp_path):
    import gc

    (tmp_path / "bad.json").write_text('{"format_version": 1, "name": "x", "leaves": [], "nodes": [{}]}')
    assert gc.isenabled()
    gd.load(Path(__file__).parent.parent / "examples" / "cs231n_circuit.json")
    assert gc.isenabled()
    with pytest.raises(gd.SpecError):
        gd.load(tmp_path / "bad.json")
    assert gc.isenabled()  # restored on failure too
    gc.disable()
    try:
        gd.load(Path(__file__).parent.parent / "examples" / "cs231n_circuit.json")
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


@pytest.mark.parametrize("keep", ["all", "backward"])
def test_a_float32_network_runs_in_float32_end_to_end(keep):
    """Every value and gradient of a float32 two-layer net is float32 (half the memory of float64) and
    agrees with the float64 run to float32 precision."""
    rng = np.random.default_rng(5)
    data = {"X": rng.standard_normal((32, 20)), "y": rng.integers(0, 4, 32)}
    weights = {"W1": rng.standard_normal((20, 16)) * 0.3, "W2": rng.standard_normal((16, 4)) * 0.3}
    runs = {}
    for dtype in ("float32", "float64"):
        graph = gd.Graph(f"net_{dtype}")
        X = graph.input("X", shape=["N", 20], dtype=dtype)
        y = graph.input("y", shape=["N"], dtype="int64")
        W1 = graph.parameter("W1", value=weights["W1"], dtype=dtype)
        W2 = graph.parameter("W2", value=weights["W2"], dtype=dtype)
        scores = gd.tanh(X @ W1) @ W2
        graph.set_loss(gd.softmax_cross_entropy(scores, y) + gd.l2_regularization(W2, lam=1e-3))
        plan = graph.plan
        trace = plan.forward(bind_feeds(graph.checked, data), keep=keep)
        kept = [trace.values[slot] for slot in range(len(plan.ids)) if slot not in trace.freed]
        grads = plan.backward(trace, wrt=["W1", "W2"]).grads
        runs[dtype] = (float(trace.value(graph.loss)), grads)
        if dtype == "float32":
            assert {v.dtype for v in kept} == {np.dtype("float32"), np.dtype("int64")}
            assert {g.dtype for g in grads.values()} == {np.dtype("float32")}
    assert runs["float32"][0] == pytest.approx(runs["float64"][0], rel=1e-5)
    for id in ("W1", "W2"):
        np.testing.assert_allclose(runs["float32"][1][id], runs["float64"][1][id], rtol=1e-4, atol=1e-6)
