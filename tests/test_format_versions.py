"""File-format versions: the frozen version-1 fixture keeps loading with the same numbers, and files of a
newer version, or with no version, are refused with a message that names the versions.

tests/fixtures/format_v1.json (with w_v1.npy and data_v1.npz beside it) is frozen: never edit it. When the
format changes, add a migration in graphdiff/spec/migrate.py and a new fixture for the new version; this
file must still load and give exactly these numbers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import TensorType
from graphdiff.spec import dump_spec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1 = FIXTURES / "format_v1.json"

# Computed once with graphdiff 0.1.0 (format version 1) and frozen.
V1_LOSS = 8.90951653296709
V1_PARTS = {
    "ce": 1.1274153706034278,
    "hinge": 1.0576314267757945,
    "prior_fit": 0.020023008904256068,
    "activity": 6.652958891095223,
    "l1": 0.050249999999999996,
    "l2": 0.0012378355883882856,
}
V1_GRADS = {
    "W1": [
        [1.1304700204458606, -1.8563870889188898, 1.5160389277024726, -1.5611856130000965],
        [1.3771690086316097, 2.20794098776495, -2.2212996748388596, 1.078662835614553],
        [-2.5753021297699377, -0.5353175177776696, 2.004109777740395, -0.6481146855568214],
    ],
    "b1": [0.5939950688465336, 0.6042625060824096, -0.9082918025661151, -1.2520068412541918],
    "W2": [
        [-0.3660678989690751, 0.2463177439344854, 0.12037599287009344],
        [-0.12489441095519019, 0.04346700434620859, 0.07969049743005617],
        [0.41742279437170404, -0.02879639121330055, -0.38711825082880286],
        [0.0867899179457858, -0.137631577344179, 0.05166791355691855],
    ],
    "b2": [-0.11490900816415775, -0.13346675190473484, 0.2483757600688927],
    "temperature": -0.04628106049600089,
}
V1_W2 = [
    [0.1006150766787413, 0.24937276875423495, -0.03706892768110878],
    [-0.34529591937863713, -0.12733539258586127, -0.3958232774982312],
    [0.13007180129871926, 0.7701076227772667, -0.1461032592756648],
    [-0.2102374499099702, 0.34492102509259914, 0.2784435040800304],
]
V1_B2 = [-0.08287016657127513, -0.05263789868078006, 0.06025489304127937]

REL = 1e-12


def v1_tree() -> dict:
    return json.loads(V1.read_text(encoding="utf-8"))


def write_beside_fixture_arrays(folder: Path, tree: dict) -> Path:
    """``tree`` written to ``folder``/spec.json with the fixture's array files copied beside it."""
    for name in ("w_v1.npy", "data_v1.npz"):
        shutil.copyfile(FIXTURES / name, folder / name)
    path = folder / "spec.json"
    path.write_text(json.dumps(tree, indent=1), encoding="utf-8")
    return path


# --- the frozen version-1 fixture --------------------------------------------------------------------


def test_v1_fixture_exercises_every_leaf_value_form():
    tree = v1_tree()
    assert tree["format_version"] == 1
    values = [leaf.get("value") for leaf in tree["leaves"]]
    assert any(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    assert any(isinstance(v, list) and isinstance(v[0], list) for v in values)
    assert {v["init"] for v in values if isinstance(v, dict) and "init" in v} == {
        "zeros",
        "ones",
        "normal",
        "uniform",
    }
    files = [v for v in values if isinstance(v, dict) and "file" in v]
    assert any(v["file"].endswith(".npy") and "key" not in v for v in files)
    assert any(v["file"].endswith(".npz") and "key" in v for v in files)
    assert any("N" in (leaf.get("shape") or []) for leaf in tree["leaves"] if leaf["kind"] == "input")
    assert any(node.get("attrs") for node in tree["nodes"])
    assert tree["outputs"] and tree["loss"]
    for name in ("w_v1.npy", "data_v1.npz"):
        assert (FIXTURES / name).is_file()


def test_v1_fixture_loads_without_warnings():
    graph = gd.load(V1)
    assert graph.spec.format_version == 1
    assert graph.warnings == ()
    checked = graph.checked
    assert checked.types["X"].shape == ("N", 3)
    assert checked.types["labels"] == TensorType(("N",), "int64")
    assert checked.types["logits"].shape == ("N", 3)
    assert checked.types["mean_probs"].shape == (1, 3)
    assert checked.types["W1_flat"].shape == (12,)
    assert checked.types["loss"].shape == ()


def test_v1_fixture_leaf_values():
    values = gd.load(V1).checked.leaf_values
    data = np.load(FIXTURES / "data_v1.npz")
    np.testing.assert_array_equal(values["X"], data["X"])
    np.testing.assert_array_equal(values["labels"], data["y"])
    assert values["labels"].dtype == np.int64
    np.testing.assert_array_equal(values["W1"], np.load(FIXTURES / "w_v1.npy"))
    np.testing.assert_array_equal(values["b1"], np.zeros(4))
    np.testing.assert_array_equal(values["gain"], np.ones(3))
    assert values["temperature"].shape == () and values["temperature"] == 2.0
    assert values["temperature"].dtype == np.float64
    np.testing.assert_array_equal(values["prior"], [[0.2, 0.3, 0.5]])
    # The random initializers are deterministic given their seed: numpy's default generator.
    np.testing.assert_array_equal(values["W2"], np.random.default_rng(7).normal(0.1, 0.5, size=(4, 3)))
    np.testing.assert_array_equal(values["b2"], np.random.default_rng(3).uniform(-0.1, 0.1, size=3))
    np.testing.assert_allclose(values["W2"], V1_W2, rtol=0, atol=0)
    np.testing.assert_allclose(values["b2"], V1_B2, rtol=0, atol=0)


def test_v1_fixture_loss_and_gradients():
    result = gd.load(V1).run()
    assert result.loss == pytest.approx(V1_LOSS, rel=REL)
    for id, value in V1_PARTS.items():
        assert float(result.value(id)) == pytest.approx(value, rel=REL), id
    assert sum(V1_PARTS.values()) == pytest.approx(V1_LOSS, rel=REL)
    for id, grad in V1_GRADS.items():
        np.testing.assert_allclose(result.grad(id), grad, rtol=1e-11, atol=1e-15, err_msg=id)
    # Outputs other than the loss: probabilities sum to one, the max is the row max.
    np.testing.assert_allclose(result.value("probs").sum(axis=1), np.ones(5), rtol=REL)
    np.testing.assert_array_equal(result.value("max_logit"), result.value("logits").max(axis=1))
    np.testing.assert_allclose(np.exp(result.value("log_probs")), result.value("probs"), rtol=1e-12, atol=0)


def test_v1_fixture_passes_the_gradient_check():
    report = gd.check_gradients(gd.load(V1))
    assert report.passed, report.table()
    assert {row.id for row in report.rows} >= {"X", "W1", "b1", "W2", "b2"}


def test_v1_fixture_symbolic_batch_takes_another_size():
    data = np.load(FIXTURES / "data_v1.npz")
    graph = gd.load(V1)
    result = graph.run({"X": data["X"][:2], "labels": data["y"][:2]})
    assert result.value("logits").shape == (2, 3)
    assert result.grad("X").shape == (2, 3)
    assert result.loss != pytest.approx(V1_LOSS)


def test_v1_fixture_survives_a_save_and_reload(tmp_path):
    graph = gd.load(V1)
    text = dump_spec(graph.spec)
    again = gd.loads(text, folder=FIXTURES)
    assert again.spec == graph.spec
    assert again.run().loss == pytest.approx(V1_LOSS, rel=REL)


# --- versions that are refused -------------------------------------------------------------------------


def test_newer_format_version_is_refused_naming_both_versions(tmp_path):
    tree = v1_tree()
    tree["format_version"] = 2
    path = write_beside_fixture_arrays(tmp_path, tree)
    with pytest.raises(gd.FormatVersionError) as caught:
        gd.load(path)
    message = str(caught.value)
    assert "version 2" in message
    assert "version 1" in message
    assert str(path) in message
    assert caught.value.problems[0].place == "format_version"


def test_newer_format_version_is_refused_from_text():
    tree = v1_tree()
    tree["format_version"] = 2
    with pytest.raises(gd.FormatVersionError, match=r"version 2.*version 1"):
        gd.loads(json.dumps(tree), folder=FIXTURES)


def test_newer_format_version_on_the_command_line(tmp_path):
    tree = v1_tree()
    tree["format_version"] = 2
    path = write_beside_fixture_arrays(tmp_path, tree)
    done = subprocess.run(
        [sys.executable, "-m", "graphdiff.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "version 2" in done.stderr and "version 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_format_version_is_refused(tmp_path):
    tree = v1_tree()
    del tree["format_version"]
    path = write_beside_fixture_arrays(tmp_path, tree)
    with pytest.raises(gd.FormatVersionError) as caught:
        gd.load(path)
    message = str(caught.value)
    assert "format_version" in message
    assert "missing" in message


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None], ids=repr)
def test_malformed_format_version_is_refused(version):
    tree = v1_tree()
    tree["format_version"] = version
    with pytest.raises(gd.FormatVersionError, match="format_version"):
        gd.loads(json.dumps(tree), folder=FIXTURES)
