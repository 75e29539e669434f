"""graphdiff against an independent reference: PyTorch float64 autograd, recorded as data.

Every file in ``tests/reference/cases/`` holds a complete spec and the values and gradients PyTorch
computed for it (see ``tests/reference/README.md``; ``tests/reference/generate.py`` writes them). Here
graphdiff runs each spec and must agree to rtol 1e-10, atol 1e-12. PyTorch is never imported: the suite
passes without it.
"""

from __future__ import annotations

import ast
import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import REGISTRY

REFERENCE = Path(__file__).parent / "reference"
CASE_FILES = sorted((REFERENCE / "cases").glob("*.json"))
RTOL, ATOL = 1e-10, 1e-12
MIN_COMPOSED = 200

#: Cases where graphdiff is known to disagree with the reference: file name -> "BUG: ..." reason.
KNOWN_BUGS: dict[str, str] = {}


@functools.cache
def load_case(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _params() -> list[Any]:
    return [
        pytest.param(
            path,
            id=path.name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.name])]
            if path.name in KNOWN_BUGS
            else [],
        )
        for path in CASE_FILES
    ]


def _compare(what: str, actual: Any, expected: Any) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("path", _params())
def test_matches_reference(path: Path) -> None:
    case = load_case(path)
    spec, expected = case["spec"], case["expected"]
    result = gd.loads(json.dumps(spec), label=path.name).run()
    for id, value in expected["values"].items():
        _compare(f"value of {id!r}", result.value(id), value)
    for id, grad in expected["grads"].items():
        _compare(f"gradient of {id!r}", result.grad(id), grad)
    assert result.loss == pytest.approx(expected["values"][spec["loss"]], rel=RTOL, abs=ATOL)


def test_every_case_checks_every_node_and_float_leaf() -> None:
    for path in CASE_FILES:
        case = load_case(path)
        spec, expected = case["spec"], case["expected"]
        assert spec["name"] == path.stem, path.name
        assert list(expected["values"]) == [node["id"] for node in spec["nodes"]], path.name
        float_leaves = [
            leaf["id"] for leaf in spec["leaves"] if leaf.get("dtype", "float64") not in ("int64", "bool")
        ]
        assert list(expected["grads"]) == float_leaves, path.name
        assert case["generator"].startswith("torch "), path.name


def test_corpus_covers_every_registered_op() -> None:
    used = {node["op"] for path in CASE_FILES for node in load_case(path)["spec"]["nodes"]}
    assert not set(REGISTRY) - used, f"no reference case uses {sorted(set(REGISTRY) - used)}"
    dedicated = {path.name.split("-")[1] for path in CASE_FILES if path.name.startswith("op-")}
    assert not set(REGISTRY) - dedicated, f"no op-<name>-* case for {sorted(set(REGISTRY) - dedicated)}"


def test_corpus_has_enough_composed_graphs() -> None:
    graphs = [path for path in CASE_FILES if path.name.startswith("graph-")]
    assert len(graphs) >= MIN_COMPOSED
    ops = {node["op"] for path in graphs for node in load_case(path)["spec"]["nodes"]}
    losses = {"multiclass_hinge", "softmax_cross_entropy", "squared_error"}
    assert losses | {"l1_regularization", "l2_regularization", "matmul"} <= ops


def test_generator_is_independent_of_graphdiff() -> None:
    tree = ast.parse((REFERENCE / "generate.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "graphdiff" not in imported
    assert "torch" in imported


def test_torch_is_not_imported() -> None:
    """Last in this file: running the reference cases never needs PyTorch."""
    assert "torch" not in sys.modules
