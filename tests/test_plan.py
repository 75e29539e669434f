"""The compiled program as data: what ``graphdiff plan`` prints, which path runs a graph, and that
``graph.run()`` takes the fast path while diagrams still get every edge's gradient."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from helpers import call
from test_fast_paths import scalar_mlp

import graphdiff as gd
import graphdiff.executor.interpreter as interpreter_module
from graphdiff.cli.graph_commands import grad_table
from graphdiff.examples import cs231n_circuit
from graphdiff.executor import Program, bind_feeds, compile_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_plan_prints_the_circuits_slots_steps_and_backward(capsys):
    code, out, err = call(capsys, "plan", EXAMPLES / "cs231n_circuit.json")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "program cs231n_circuit: 3 leaves, 2 steps over 5 slots; loss %4 f"
    assert lines[1] == "runs as: numpy scalars"
    assert "  %0 x: input f64[]" in lines
    forward = [line for line in lines if line.startswith("  %") and " = " in line]
    assert forward[0].startswith("  %3 q: f64[] = add %0 x, %1 y") and forward[0].endswith("# reads nothing")
    assert forward[1].startswith("  %4 f: f64[] = mul %3 q, %2 z") and forward[1].endswith("# reads inputs")
    backward = [line.strip() for line in lines if line.startswith("  grad ")]
    assert backward == [
        "grad %4 f -> mul vjp -> %3 q (a), %2 z (b)",
        "grad %3 q -> add vjp -> %0 x (a), %1 y (b)",
    ]


def test_plan_shows_attributes_frees_and_shortens_long_programs(capsys):
    code, out, _ = call(capsys, "plan", EXAMPLES / "digits_cnn.json", "--max-steps", "3")
    assert code == 0
    assert "runs as: interpreter" in out
    assert "reshape[shape=[-1, 1, 8, 8]] %0 X" in out and "conv2d[padding=1]" in out
    assert "  ... (14 more)" in out  # 17 steps, 3 shown
    code, out, _ = call(capsys, "plan", EXAMPLES / "two_layer_sigmoid.json", "--max-steps", "0")
    assert "frees %12" in out and "... (" not in out


def test_plan_of_a_scalar_mlp_lists_its_batches_with_add_chains():
    text = scalar_mlp(points=3).plan.describe(max_steps=1)
    assert "runs as: batched scalars" in text
    assert "add chains of 17 terms x 48 (cumulative sums)" in text  # 16 neurons of layer 2, 3 points
    assert "add chains of 17 terms x 3" in text  # the output neuron


def test_the_program_is_immutable_data():
    program = Program.compile(cs231n_circuit().checked)
    with pytest.raises(dataclasses.FrozenInstanceError):
        program.steps = ()  # type: ignore[misc]
    step = program.steps[0]
    assert (step.id, step.op.name, step.inputs, step.output) == ("q", "add", (0, 1), 3)
    backward = program.backward(4, (0, 1, 2))
    assert backward is program.backward(4, (0, 1, 2))  # compiled once per (output, wanted)
    assert [b.step.id for b in backward.steps] == ["f", "q"]
    assert backward.wanted == (0, 1, 2)


@pytest.mark.parametrize(
    ("graph", "path"),
    [(cs231n_circuit, "numpy scalars"), (lambda: scalar_mlp(points=3), "batched scalars")],
    ids=["circuit", "scalar_mlp"],
)
def test_graph_run_takes_the_fast_path_and_diagrams_still_get_every_edge(graph, path, monkeypatch):
    graph = graph()
    assert graph.plan.path == path

    def refuse(*args, **kwargs):
        raise AssertionError("graph.run() ran the interpreter")

    with monkeypatch.context() as patch:
        patch.setattr(interpreter_module.Interpreter, "backward", refuse)
        patch.setattr(interpreter_module.Interpreter, "forward", refuse)
        result = graph.run()
    edges = result.edge_grads  # recorded on first ask, by the interpreter
    plain = compile_plan(graph.checked, path="interpreter")
    expected = plain.backward(plain.forward(bind_feeds(graph.checked, None)), record_edges=True)
    assert edges.keys() == expected.edge_grads.keys()
    for key, grad in expected.edge_grads.items():
        np.testing.assert_allclose(edges[key], grad, rtol=1e-12, err_msg=str(key))
    assert result.edge_grads is not None and result._edges is None  # kept, not recorded again


def test_naming_the_gradients_wanted_records_no_edges():
    graph = cs231n_circuit()
    assert graph.run(wrt=["x"]).edge_grads is None


def test_a_backward_pass_seeded_inside_an_add_chain_runs_step_by_step():
    graph = scalar_mlp(points=3)
    plan = graph.plan
    chained = sorted(plan.batches.inside_chains)[0]
    inner = plan.ids[chained]
    trace = plan.forward(bind_feeds(graph.checked, None))
    fast = plan.backward(trace, output=inner).grads
    plain = compile_plan(graph.checked, path="interpreter")
    expected = plain.backward(plain.forward(bind_feeds(graph.checked, None)), output=inner).grads
    assert fast.keys() == expected.keys()
    for id, grad in expected.items():
        np.testing.assert_allclose(fast[id], grad, rtol=1e-12, atol=0, err_msg=id)


def test_the_grad_table_reads_the_gradients_once_not_once_a_row(monkeypatch):
    graph = gd.Graph("chain")
    h = graph.parameter("x", value=0.5)
    for _ in range(300):
        h = gd.tanh(h)
    graph.set_loss(h)
    result = graph.run()
    reads = []
    original = type(result).grads

    def counted(self):
        reads.append(1)
        return original.fget(self)

    monkeypatch.setattr(type(result), "grads", property(counted))
    table = grad_table(result)
    assert len(table.splitlines()) == 302 and len(reads) <= 1
