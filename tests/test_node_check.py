"""A bad node gets the same messages whether it was built in Python or written in a spec file.

Both check it with graphdiff.nodecheck; only the place differs: the builder names the node
(``node "f"``), the file checker its place in the file (``nodes[0] "f"``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import graphdiff as gd

LEAVES = [
    {"id": "x", "kind": "input", "shape": [2, 3]},
    {"id": "y", "kind": "input", "shape": [2, 3]},
    {"id": "v", "kind": "input", "shape": [4]},
]

# (case id, op, inputs, attrs, the expected messages)
BAD_NODES: list[tuple[str, str, list[str], dict[str, Any], list[str]]] = [
    ("unknown-op-near", "ad", ["x", "y"], {}, ['unknown op "ad"; did you mean "add" or "pad"?']),
    ("unknown-op-far", "zzz", ["x"], {}, ['unknown op "zzz"']),
    ("too-few-inputs", "add", ["x"], {}, ["add takes 2 inputs (a, b), got 1"]),
    ("too-many-inputs", "neg", ["x", "y"], {}, ["neg takes 1 input (x), got 2"]),
    ("no-input-to-variadic", "concat", [], {"axis": 0}, ["concat takes at least 1 input, got 0"]),
    (
        "unknown-attr-near",
        "sum",
        ["x"],
        {"axs": 1},
        ['attrs.axs: unknown attribute for sum; did you mean "axis"?'],
    ),
    (
        "unknown-attr-far",
        "mul",
        ["x", "y"],
        {"foo": 1},
        ["attrs.foo: unknown attribute for mul; mul takes: none"],
    ),
    (
        "bad-attr-value",
        "sum",
        ["x"],
        {"axis": "0"},
        ["attrs.axis: should be a valid integer or a valid list"],
    ),
    ("bad-attr-element", "sum", ["x"], {"axis": [0, "1"]}, ["attrs.axis[1]: should be a valid integer"]),
    ("bad-attr-literal", "sum", ["x"], {"keepdims": 1}, ["attrs.keepdims: should be a valid boolean"]),
    ("missing-attr", "reshape", ["x"], {}, ["attrs.shape: required by reshape"]),
    (
        "attr-refused-by-its-validator",
        "slice",
        ["x"],
        {"start": [0], "stop": [1], "step": [0]},
        ["attrs.step: should be a list of non-zero steps (a slice step of 0 is undefined)"],
    ),
    (
        "arity-and-attr-together",
        "add",
        ["x"],
        {"foo": 1},
        ["add takes 2 inputs (a, b), got 1", "attrs.foo: unknown attribute for add; add takes: none"],
    ),
    (
        "shape-mismatch",
        "matmul",
        ["x", "y"],
        {},
        ["matmul (2, 3) @ (2, 3): inner dimensions differ (3 vs 2)"],
    ),
    (
        "shapes-do-not-broadcast",
        "add",
        ["x", "v"],
        {},
        ["add: shapes (2, 3) and (4,) do not broadcast (dimension 3 vs 4)"],
    ),
]


def builder_problems(op: str, inputs: list[str], attrs: dict[str, Any]) -> tuple[type, list[gd.Problem]]:
    g = gd.Graph("g")
    for leaf in LEAVES:
        g.input(leaf["id"], shape=leaf["shape"])
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply(op, *(g[name] for name in inputs), id="f", **attrs)
    assert len(g.spec.nodes) == 0, "a refused node must not be added to the graph"
    return type(excinfo.value), list(excinfo.value.problems)


def checker_problems(nodes: list[dict[str, Any]]) -> list[gd.Problem]:
    spec = {"format_version": 1, "name": "g", "leaves": LEAVES, "nodes": nodes, "outputs": [nodes[-1]["id"]]}
    with pytest.raises(gd.SpecError) as excinfo:
        gd.loads(json.dumps(spec))
    return list(excinfo.value.problems)


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "expected"),
    [case[1:] for case in BAD_NODES],
    ids=[case[0] for case in BAD_NODES],
)
def test_the_builder_and_the_file_checker_give_a_bad_node_the_same_messages(op, inputs, attrs, expected):
    kind, built = builder_problems(op, inputs, attrs)
    loaded = checker_problems([{"id": "f", "op": op, "inputs": inputs, "attrs": attrs}])
    assert [p.place for p in built] == ['node "f"'] * len(built)
    assert [p.place for p in loaded] == ['nodes[0] "f"'] * len(loaded)
    assert [p.message for p in built] == [p.message for p in loaded] == expected
    # The builder raises a shape problem as a ShapeError, at the line that applied the op.
    assert (kind is gd.ShapeError) == ("dimensions" in expected[0] or "broadcast" in expected[0])


def test_a_tensor_whose_node_was_renamed_is_an_undefined_input_as_in_a_file():
    g = gd.Graph("g")
    x = g.input("x", shape=[2, 3])
    a = g.apply("add", x, x, id="a")
    stale = g["a"]  # a second handle on "a", which the rename below does not update
    a.named("b")
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply("neg", stale, id="f")
    (built,) = excinfo.value.problems
    (loaded,) = checker_problems(
        [{"id": "b", "op": "add", "inputs": ["x", "x"]}, {"id": "f", "op": "neg", "inputs": ["a"]}]
    )
    assert (built.place, loaded.place) == ('node "f"', 'nodes[1] "f"')
    assert built.message == loaded.message == 'input "a" is not defined'


def test_a_refused_node_leaves_no_constant_behind():
    g = gd.Graph("g")
    x = g.input("x", shape=[3])
    with pytest.raises(gd.SpecError, match="unknown attribute for add"):
        g.apply("add", x, 2.0, foo=1)
    with pytest.raises(gd.ShapeError):
        g.apply("matmul", x, 2.0)
    assert [leaf.id for leaf in g.spec.leaves] == ["x"]
    y = x + 2.0  # and a sound one still gets its constant
    assert [leaf.id for leaf in g.spec.leaves] == ["x", "const_1"]
    assert y.shape == (3,)


def test_a_bad_node_id_is_refused_as_in_a_file_not_as_a_pydantic_error():
    g = gd.Graph("g")
    x = g.input("x", shape=[3])
    with pytest.raises(gd.SpecError) as excinfo:
        g.apply("neg", x, id="a\nb")
    (built,) = excinfo.value.problems
    spec = {
        "format_version": 1,
        "name": "g",
        "leaves": LEAVES,
        "nodes": [{"id": "a\nb", "op": "neg", "inputs": ["x"]}],
    }
    with pytest.raises(gd.SpecError) as loading:
        gd.loads(json.dumps(spec))
    (loaded,) = loading.value.problems
    assert (built.place, loaded.place) == ('node "a\\nb"', 'nodes[0] "a\\nb"')
    assert built.message == loaded.message
    assert built.message.startswith("id: may not contain control")


def test_a_leaf_built_in_python_names_the_field_at_fault_as_a_file_does():
    g = gd.Graph("g")
    with pytest.raises(gd.SpecError) as excinfo:
        g.parameter("w", {"init": "normal"}, shape=[2])
    assert [str(p) for p in excinfo.value.problems] == [
        'leaf "w": value.std: required field is missing',
        'leaf "w": value.seed: required field is missing',
    ]
