"""What ops declare and what the rest of graphdiff derives from it: arity (optional and variadic inputs) in
the checker, the executor, the schema and the builders; the bool dtype; capabilities instead of class
checks; gradient checks of float32 graphs in float64; reductions over empty axes."""

from __future__ import annotations

import ast
import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import spec_error, spec_text

import graphdiff as gd
from graphdiff.ops import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


# --- arity ---------------------------------------------------------------------------------------------


def test_a_variadic_op_takes_any_number_of_inputs_and_names_each():
    op = REGISTRY["concat"]
    assert op.arity == (1, None)
    assert op.input_names_for(3) == ("inputs[0]", "inputs[1]", "inputs[2]")
    assert op.signature() == "concat(*inputs)"
    leaves = [{"id": f"x{i}", "kind": "input", "value": [float(i)] * 2} for i in range(5)]
    graph = gd.loads(spec_text(leaves, [{"id": "c", "op": "concat", "inputs": [f"x{i}" for i in range(5)]}]))
    np.testing.assert_array_equal(graph.forward().value("c"), np.repeat(np.arange(5.0), 2))


def test_a_variadic_op_with_no_input_is_refused_naming_the_node():
    text = spec_error(spec_text([], [{"id": "c", "op": "concat", "inputs": []}]))
    assert 't.json: nodes[0] "c": concat takes at least 1 input, got 0' in text


@pytest.mark.parametrize("count", [1, 4])
def test_an_op_with_an_optional_input_says_how_many_it_takes(count):
    leaves = [{"id": f"a{i}", "kind": "input", "shape": [1, 1, 3, 3]} for i in range(count)]
    nodes = [{"id": "y", "op": "conv2d", "inputs": [f"a{i}" for i in range(count)]}]
    text = spec_error(spec_text(leaves, nodes))
    assert f'nodes[0] "y": conv2d takes 2 to 3 inputs (x, weight, bias), got {count}' in text


def test_an_optional_input_may_be_left_out():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(1, 1, 4, 4)), rng.normal(size=(2, 1, 3, 3)), np.array([0.5, -1.0])
    g = gd.Graph("conv")
    with_bias = gd.conv2d(g.input("x", value=x), g.parameter("w", value=w), g.parameter("b", value=b))
    without = gd.conv2d(g["x"], g["w"])
    g.add_output(with_bias, without)
    result = g.forward()
    np.testing.assert_allclose(
        result.value(with_bias.id), result.value(without.id) + b[None, :, None, None], rtol=1e-12
    )


def test_the_schema_gives_each_op_its_arity():
    node = gd.spec_json_schema()["$defs"]["NodeSpec"]
    rules = {
        rule["if"]["properties"]["op"]["const"]: rule["then"]["properties"]["inputs"]
        for rule in node["allOf"]
    }
    assert rules["add"] == {"minItems": 2, "maxItems": 2}
    assert rules["conv2d"] == {"minItems": 2, "maxItems": 3}
    assert rules["concat"] == {"minItems": 1}
    assert rules["einsum"] == {"minItems": 1}


def test_the_python_api_refuses_a_wrong_number_of_inputs():
    g = gd.Graph("t")
    a = g.input("a", shape=[2])
    with pytest.raises(gd.SpecError, match=r"concat takes at least 1 input, got 0"):
        g.apply("concat")
    with pytest.raises(gd.SpecError, match=r"neg takes 1 input \(x\), got 2"):
        g.apply("neg", a, a)


# --- builders come from the registry -----------------------------------------------------------------------


def test_builders_have_the_ops_signatures_and_docs():
    assert str(inspect.signature(gd.sum)).startswith("(x: ")
    assert list(inspect.signature(gd.sum).parameters) == ["x", "axis", "keepdims", "id"]
    assert list(inspect.signature(gd.conv2d).parameters)[:3] == ["x", "weight", "bias"]
    assert inspect.signature(gd.conv2d).parameters["bias"].default is None
    assert list(inspect.signature(gd.einsum).parameters)[:2] == ["subscripts", "operands"]
    assert list(inspect.signature(gd.l2_regularization).parameters) == ["w", "lam", "id"]
    assert "Kink" in gd.relu.__doc__ and gd.relu.__name__ == "relu"


def test_a_variadic_builder_takes_separate_inputs_or_one_list():
    g = gd.Graph("t")
    a, b = g.input("a", value=[1.0, 2.0]), g.input("b", value=[3.0])
    g.add_output(gd.concat(a, b, id="sep"), gd.concat([a, b], id="listed"), gd.stack([a, a], axis=1, id="s"))
    result = g.forward()
    np.testing.assert_array_equal(result.value("sep"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(result.value("listed"), [1.0, 2.0, 3.0])
    assert result.value("s").shape == (2, 2)


def test_einsum_builder_takes_the_subscripts_first_as_numpy_does():
    g = gd.Graph("t")
    a = g.input("a", value=np.arange(6.0).reshape(2, 3))
    g.add_output(gd.einsum("ij->ji", a, id="t"))
    np.testing.assert_array_equal(g.forward().value("t"), np.arange(6.0).reshape(2, 3).T)


def test_positional_attributes_still_work_as_before():
    g = gd.Graph("t")
    x = g.input("x", value=[[1.0, -2.0], [3.0, 4.0]])
    y = g.input("y", dtype="int64", value=[0, 1])
    g.add_output(gd.sum(x, 1, True, id="s"), gd.pow(x, 2, id="p"), gd.multiclass_hinge(x, y, 0.5, id="h"))
    result = g.forward()
    assert result.value("s").shape == (2, 1)
    assert g.spec.nodes[-1].attrs == {"delta": 0.5}


def _op_class_names() -> set[str]:
    names = set()
    for path in (ROOT / "graphdiff" / "ops").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
    return names - {"Attrs", "NoAttrs", "TensorType"}


def test_no_module_outside_the_ops_recognises_an_op_by_its_class():
    """Capabilities are declared on ops (elementwise, classifies, ...), never found by isinstance."""
    op_classes = _op_class_names()
    offenders = []
    for path in (ROOT / "graphdiff").rglob("*.py"):
        if path.parent.name == "ops":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                named |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if named & op_classes:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module and "ops." in f"{node.module}.":
                imported = {alias.name for alias in node.names} & (op_classes - {"Op"})
                if imported:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {sorted(imported)}")
    assert not offenders, offenders


# --- bool ----------------------------------------------------------------------------------------------


def test_bool_leaves_hold_true_and_false_and_select_with_where():
    text = spec_text(
        [
            {"id": "m", "kind": "constant", "dtype": "bool", "value": [True, False, True]},
            {"id": "a", "kind": "parameter", "value": [1.0, 2.0, 3.0]},
            {"id": "b", "kind": "parameter", "value": [10.0, 20.0, 30.0]},
        ],
        [{"id": "w", "op": "where", "inputs": ["m", "a", "b"]}, {"id": "L", "op": "sum", "inputs": ["w"]}],
        loss="L",
    )
    result = gd.loads(text).run()
    np.testing.assert_array_equal(result.value("w"), [1.0, 20.0, 3.0])
    np.testing.assert_array_equal(result.grad("a"), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.grad("b"), [0.0, 1.0, 0.0])
    with pytest.raises(gd.GraphdiffError, match="bool values have no gradient"):
        result.grad("m")


@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [
        ("bool", [1, 0], "a bool leaf's values must be true or false"),
        ("bool", [True, 0.5], "a bool leaf's values must be true or false"),
        ("float64", [True, False], "true and false are values of bool leaves; this leaf is float64"),
        ("int64", True, "true and false are values of bool leaves; this leaf is int64"),
    ],
)
def test_bools_and_numbers_are_not_mixed_up_in_literals(dtype, value, message):
    text = spec_text(
        [{"id": "m", "kind": "constant", "dtype": dtype, "value": value}],
        [{"id": "n", "op": "cast", "inputs": ["m"], "attrs": {"dtype": "float64"}}],
    )
    assert f'leaves[0] "m": value: {message}' in spec_error(text)


def test_bool_inputs_are_fed_bools_only(tmp_path):
    text = spec_text(
        [{"id": "m", "kind": "input", "dtype": "bool", "shape": [2]}],
        [{"id": "n", "op": "cast", "inputs": ["m"], "attrs": {"dtype": "float64"}}],
    )
    graph = gd.loads(text, label="t.json")
    np.testing.assert_array_equal(graph.forward({"m": [True, False]}).value("n"), [1.0, 0.0])
    with pytest.raises(gd.FeedError, match=r'feed "m": the input is bool \(a mask\); got int64 values'):
        graph.forward({"m": [1, 0]})
    np.save(tmp_path / "mask.npy", np.array([False, True]))
    (tmp_path / "s.json").write_text(
        text.replace('"shape": [2]}', '"shape": [2], "value": {"file": "mask.npy"}}').replace(
            '"input"', '"constant"'
        )
    )
    np.testing.assert_array_equal(gd.load(tmp_path / "s.json").forward().value("n"), [0.0, 1.0])


# --- gradient checks of float32 graphs -------------------------------------------------------------------


def test_a_float32_graph_is_gradient_checked_in_float64():
    g = gd.Graph("f32")
    rng = np.random.default_rng(0)
    a = g.parameter("a", value=rng.normal(size=(3, 4)).astype(np.float32), dtype="float32")
    b = g.parameter("b", value=rng.normal(size=(4,)).astype(np.float32), dtype="float32")
    g.set_loss(gd.sum(gd.tanh(a + b) * gd.cast(gd.greater(a, 0.0), "float32")))
    report = gd.check_gradients(g)
    assert report.passed and report.max_error < 1e-8, report.table()
    assert "float32 values promoted to float64" in report.mode
    assert g.checked.types["a"].dtype == "float32", "the graph itself is unchanged"


# --- empty axes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "expected"),
    [
        ("max", {"axis": 0}, (0, 3), [-np.inf] * 3),
        ("max", {}, (0,), -np.inf),
        ("logsumexp", {"axis": 0}, (0, 3), [-np.inf] * 3),
        ("logsumexp", {}, (0, 2), -np.inf),
        ("sum", {"axis": 0}, (0, 3), [0.0] * 3),
        ("mean", {"axis": 0}, (0, 2), [np.nan] * 2),
        ("max", {"axis": 1}, (0, 3), np.zeros(0)),
        ("log_softmax", {"axis": 0}, (0, 3), np.zeros((0, 3))),
        ("softmax", {"axis": 1}, (2, 0), np.zeros((2, 0))),
    ],
)
def test_reductions_over_an_empty_axis_give_numpys_answer_without_warnings(op, attrs, shape, expected):
    g = gd.Graph("empty")
    x = g.input("x", shape=list(shape))
    g.set_loss(gd.sum(g.apply(op, x, id="y", **attrs)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = g.run({"x": np.zeros(shape)})
    np.testing.assert_array_equal(result.value("y"), np.asarray(expected, dtype=np.float64))
    assert result.grad("x").shape == shape
