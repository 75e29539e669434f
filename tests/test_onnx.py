"""ONNX import and export (graphdiff.onnxio, ``graphdiff import`` / ``graphdiff export``).

- Models exported by PyTorch 2.13 (``tests/onnx_fixtures/``, made by its ``generate.py``; torch is never
  imported here) import with exact gradients: outputs equal onnxruntime's and torch's, parameter and input
  gradients torch autograd's (float32, rtol 1e-5).
- Export round trips: every example and every reference graph of ``tests/reference/`` is exported, passes
  ONNX's full checker, runs in onnxruntime with graphdiff's values (float64: rtol 1e-10, where onnxruntime
  has a float64 kernel), and imports back with equal values and gradients.
- The CLI writes the spec and its weights as one change, and refuses bad input with one line per problem,
  exit 2, nothing written. Model files are untrusted: size and element caps, external data held inside the
  model's folder (the cases of CVE-2022-25882 and CVE-2024-27318), protobuf nesting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_no_traceback, problem_lines, run_cli

import graphdiff as gd

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from graphdiff.onnxio import from_onnx, to_onnx  # noqa: E402
from graphdiff.onnxio.exporter import EXPORT_OPSETS, value_info  # noqa: E402

FIXTURES = Path(__file__).parent / "onnx_fixtures"
REFERENCE = Path(__file__).parent / "reference" / "cases"
EXAMPLES = Path(__file__).parent.parent / "examples"
MODELS = ("mlp", "lenet", "attention", "embedding", "batchnorm")

ort.set_default_logger_severity(3)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def fixture(name: str) -> tuple[Path, dict[str, np.ndarray]]:
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as data:
        return FIXTURES / f"{name}.onnx", {key: data[key] for key in data.files}


def model_of(nodes, inputs, outputs, initializers=(), opset=18, **kwargs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def tensor(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


# --- PyTorch models in ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_a_pytorch_model_imports_with_torchs_outputs_and_gradients(name):
    path, data = fixture(name)
    graph = from_onnx(path, loss="softmax_cross_entropy")
    (input_key,) = [k for k in data if k.startswith("input/") and k != "input/labels"]
    feeds = {input_key.removeprefix("input/"): data[input_key], "labels": data["input/labels"]}
    result = graph.run(feeds)
    logits = result.value("logits")
    assert logits.dtype == np.float32
    model = onnx.load(path)
    (onnx_logits,) = session(model).run(None, {input_key.removeprefix("input/"): data[input_key]})
    np.testing.assert_allclose(logits, onnx_logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, data["output/logits"], rtol=1e-5, atol=1e-6)
    assert result.loss == pytest.approx(float(data["loss"]), rel=1e-5)
    grads = {k.removeprefix("grad/"): v for k, v in data.items() if k.startswith("grad/")}
    # The attention block's key bias has a gradient of exactly 0 (softmax ignores a per-row shift of the
    # scores), so both sides hold round-off there: the scale of the model's gradients is the yardstick.
    scale = max(float(np.abs(g).max()) for g in grads.values())
    assert {init.name for init in model.graph.initializer} >= set(grads) - {"x"}
    for id, expected in grads.items():
        got = result.grad(id)
        assert got.shape == expected.shape and got.dtype == np.float32, id
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=id)


def test_imported_batch_dimension_is_symbolic_and_batch_norm_statistics_are_constants():
    graph = from_onnx(FIXTURES / "batchnorm.onnx")
    checked = graph.checked
    assert checked.types["x"].shape == ("batch", 3, 6, 6)
    assert checked.leaves["bn.running_mean"].kind == "constant"
    assert checked.leaves["bn.weight"].kind == "parameter"
    # A batch of 2 runs the same model as the fixtures' batch of 3.
    _, data = fixture("batchnorm")
    two = graph.forward({"x": data["input/x"][:2]}).value("logits")
    np.testing.assert_allclose(two, data["output/logits"][:2], rtol=1e-5, atol=1e-6)


def test_node_names_become_ids_with_the_original_kept_in_the_description():
    graph = from_onnx(FIXTURES / "lenet.onnx")
    nodes = {node.id: node for node in graph.spec.nodes}
    assert "node_conv2d" in nodes and nodes["node_conv2d"].op == "conv2d"
    assert nodes["node_conv2d"].description == 'ONNX Conv "node_conv2d"'
    assert graph.spec.outputs == ["logits"]  # a node making a graph output takes the output's name
    assert graph.spec.name == "lenet"


def test_freeze_makes_initializers_constants():
    graph = from_onnx(FIXTURES / "mlp.onnx", freeze=True)
    assert {leaf.kind for leaf in graph.spec.leaves if leaf.id != "x"} == {"constant"}


# --- export round trips -----------------------------------------------------------------------------------


def _every_value_an_output(model: onnx.ModelProto, graph: gd.Graph) -> None:
    outputs = {o.name for o in model.graph.output}
    for node in graph.spec.nodes:
        if node.id not in outputs:
            model.graph.output.append(value_info(node.id, graph.checked.types[node.id]))


def _round_trip(graph: gd.Graph, label: str, rtol: float, atol: float) -> bool:
    """Export, run in onnxruntime (unless it lacks a kernel), import back; True when onnxruntime ran."""
    result = graph.run()
    model = to_onnx(graph)
    _every_value_an_output(model, graph)
    feeds = {id: result.value(id) for id in graph.checked.ids_of_kind("input")}
    try:
        runtime = session(model)
    except Exception as exc:  # onnxruntime has no kernel for some ops in float64 (Conv, pools...)
        assert "NOT_IMPLEMENTED" in str(exc) or "implementation" in str(exc), f"{label}: {exc}"
        runtime = None
    if runtime is not None:
        for output, value in zip(runtime.get_outputs(), runtime.run(None, feeds), strict=True):
            expected = result.value(output.name)
            assert value.shape == expected.shape, f"{label}: {output.name}"
            np.testing.assert_allclose(
                value, expected, rtol=rtol, atol=atol, err_msg=f"{label}: {output.name}"
            )
    back = from_onnx(model)
    if graph.loss:
        back.set_loss(back[graph.loss])
    again = back.run(feeds)
    for node in graph.spec.nodes:
        np.testing.assert_allclose(again.value(node.id), result.value(node.id), rtol=rtol, atol=atol)
    for id in graph.checked.order:
        if id in graph.checked.leaves and graph.checked.types[id].is_float and graph.loss:
            np.testing.assert_allclose(again.grad(id), result.grad(id), rtol=rtol, atol=atol, err_msg=id)
    return runtime is not None


def test_every_reference_graph_round_trips_through_onnx():
    cases = sorted(REFERENCE.glob("*.json"))
    assert len(cases) >= 800
    ran = 0
    for path in cases:
        spec = json.loads(path.read_text(encoding="utf-8"))["spec"]
        ran += _round_trip(gd.loads(json.dumps(spec), label=path.name), path.name, 1e-10, 1e-12)
    assert ran >= 700  # the rest lack a float64 kernel in onnxruntime (they still import back)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_round_trips_through_onnx(path):
    graph = gd.load(path)
    if graph.checked.ids_of_kind("input") and any(
        graph.checked.leaf_values[id] is None for id in graph.checked.ids_of_kind("input")
    ):
        # A lab example's data comes from --data: export alone is checked (the reference graphs run).
        model = to_onnx(graph)
        onnx.checker.check_model(model, full_check=True)
        assert [i.name for i in model.graph.input] == list(graph.checked.ids_of_kind("input"))
        return
    _round_trip(graph, path.name, 1e-10, 1e-12)


def test_a_float32_graph_exports_and_runs_at_float32_precision():
    path, data = fixture("lenet")
    graph = from_onnx(path)
    model = to_onnx(graph)
    (ours,) = session(model).run(None, {"x": data["input/x"]})
    np.testing.assert_allclose(ours, data["output/logits"], rtol=1e-5, atol=1e-6)


def test_symbolic_dims_become_dim_params():
    model = to_onnx(gd.load(EXAMPLES / "digits_cnn.json"))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"


def _float32_gelu_net() -> gd.Graph:
    rng = np.random.default_rng(1)
    g = gd.Graph("gelu_net")
    x = g.input("x", value=rng.normal(size=(4, 5)).astype(np.float32), shape=["N", 5], dtype="float32")
    labels = g.input("labels", value=np.array([0, 2, 1, 2]), shape=["N"], dtype="int64")
    w = g.parameter("w", rng.normal(size=(5, 3)).astype(np.float32), dtype="float32")
    h = gd.layer_norm(gd.gelu(x @ w, approximate="tanh") + gd.gelu(x @ w), eps=1e-3)
    g.set_loss(gd.softmax_cross_entropy(h, labels).named("loss"))
    return g


@pytest.mark.parametrize("opset", list(EXPORT_OPSETS))
def test_every_export_opset_gives_the_same_values(opset):
    graph = _float32_gelu_net()
    result = graph.run()
    model = to_onnx(graph, opset=opset)
    assert model.opset_import[0].version == opset
    feeds = {id: result.value(id) for id in graph.checked.ids_of_kind("input")}
    (loss,) = session(model).run([graph.loss], feeds)
    assert float(loss) == pytest.approx(result.loss, rel=1e-6)
    op_types = {node.op_type for node in model.graph.node}
    assert ("Gelu" in op_types) == (opset >= 20)  # before 20, gelu is written out with Erf


def test_export_refuses_an_opset_out_of_range():
    with pytest.raises(gd.ModelError, match="writes opsets 17 to 21"):
        to_onnx(gd.load(EXAMPLES / "cs231n_circuit.json"), opset=13)


def test_to_onnx_writes_the_model_atomically(tmp_path):
    target = tmp_path / "circuit.onnx"
    model = to_onnx(gd.load(EXAMPLES / "cs231n_circuit.json"), target)
    assert target.read_bytes() == model.SerializeToString()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circuit.onnx"]


# --- the CLI ----------------------------------------------------------------------------------------------


def test_import_writes_a_spec_and_its_weights_that_load_back(tmp_path):
    path, data = fixture("lenet")
    proc = run_cli(
        "import",
        str(path),
        "-o",
        "lenet.json",
        "--loss",
        "softmax_cross_entropy",
        "--labels",
        "y",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote lenet.json and lenet.npz" in proc.stdout
    spec = json.loads((tmp_path / "lenet.json").read_text())
    weights = [leaf for leaf in spec["leaves"] if leaf["kind"] == "parameter"]
    assert weights and all(leaf["value"] == {"file": "lenet.npz", "key": leaf["id"]} for leaf in weights)
    loaded = gd.load(tmp_path / "lenet.json")
    assert loaded.loss == "loss"
    result = loaded.run({"x": data["input/x"], "y": data["input/labels"]})
    np.testing.assert_allclose(result.grad("conv1.weight"), data["grad/conv1.weight"], rtol=1e-5, atol=1e-7)
    np.savez(tmp_path / "batch.npz", x=data["input/x"], y=data["input/labels"])
    check = run_cli("check", "lenet.json", "-f", "x=batch.npz:x", "-f", "y=batch.npz:y", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    render = run_cli(
        "render", "lenet.json", "-f", "x=batch.npz:x", "-f", "y=batch.npz:y", "-o", "lenet.dot", cwd=tmp_path
    )
    assert render.returncode == 0, render.stderr


def test_import_with_a_regression_loss_adds_a_target_of_the_outputs_shape(tmp_path):
    graph = from_onnx(FIXTURES / "mlp.onnx", loss="mse", labels="t")
    assert graph.checked.types["t"].shape == ("batch", 3) and graph.checked.types["t"].dtype == "float32"
    assert graph.checked.nodes["loss"].op == "mse"


def test_import_does_not_replace_files_without_force(tmp_path):
    (tmp_path / "mlp.npz").write_bytes(b"precious")
    proc = run_cli("import", str(FIXTURES / "mlp.onnx"), "-o", "mlp.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert problem_lines(proc.stderr) == ["mlp.npz: already exists; use --force to replace it"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.npz"]
    assert (
        run_cli("import", str(FIXTURES / "mlp.onnx"), "-o", "mlp.json", "--force", cwd=tmp_path).returncode
        == 0
    )


def test_export_cli_writes_a_model_onnxruntime_runs(tmp_path):
    proc = run_cli("export", str(EXAMPLES / "spiral_two_layer.json"), "-o", "net.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote net.onnx: opset 20,")
    model = onnx.load(tmp_path / "net.onnx")
    x = np.random.default_rng(0).normal(size=(5, 2))
    labels = np.array([0, 1, 2, 1, 0])
    (loss,) = session(model).run(["loss"], {"X": x, "y": labels})
    expected = gd.load(EXAMPLES / "spiral_two_layer.json").forward({"X": x, "y": labels}).loss
    assert float(loss) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--labels", "y"], "labels and prediction go with a loss"),
        (["--loss", "l2_regularization"], '--loss "l2_regularization": choose one of'),
        (["--loss", "softmax_cross_entropy", "--prediction", "nope"], '--prediction "nope" is not a value'),
        (["--loss", "softmax_cross_entropy", "--labels", "x"], '--labels "x": the graph already has'),
    ],
)
def test_import_refuses_bad_options_and_writes_nothing(tmp_path, args, expected):
    proc = run_cli("import", str(FIXTURES / "mlp.onnx"), "-o", "mlp.json", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert expected in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_import_without_the_onnx_extra_says_how_to_install_it(tmp_path):
    # A sitecustomize that hides onnx, as on a machine without the extra.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['onnx'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = run_cli("import", str(FIXTURES / "mlp.onnx"), "-o", "mlp.json", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert problem_lines(proc.stderr) == [
        "ONNX import and export need the onnx package: pip install 'graphdiff[onnx]'"
    ]


# --- unsupported models -----------------------------------------------------------------------------------


def test_every_unsupported_node_is_listed_in_one_error(tmp_path):
    x = tensor("x", TensorProto.FLOAT, ["N", 1, 4, 4])
    nodes = [
        helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2], ceil_mode=1),
        helper.make_node("Erf", ["p"], ["e"], name="erf"),
        helper.make_node("Relu", ["e"], ["r"], name="relu"),  # downstream of a failure: not reported again
        helper.make_node("Custom", ["x"], ["c"], name="mine", domain="com.example"),
        helper.make_node("Cast", ["x"], ["h"], name="half", to=TensorProto.FLOAT16),
    ]
    outputs = [
        tensor("r", TensorProto.FLOAT, None),
        tensor("c", TensorProto.FLOAT, None),
        tensor("h", TensorProto.FLOAT16, None),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "t", [x], outputs),
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)],
    )
    onnx.save(model, tmp_path / "bad.onnx")
    proc = run_cli("import", "bad.onnx", "-o", "bad.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert problem_lines(proc.stderr) == [
        'bad.onnx: node "pool" (MaxPool, domain "ai.onnx"): attribute ceil_mode=1 is not supported (only 0)',
        'bad.onnx: node "erf" (Erf, domain "ai.onnx"): op type Erf is not supported',
        'bad.onnx: node "mine" (Custom, domain "com.example"): custom domain "com.example": graphdiff '
        "imports ONNX's standard ops only",
        'bad.onnx: node "half" (Cast, domain "ai.onnx"): attribute to=FLOAT16 is not supported '
        "(float32, float64, int64, bool)",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_an_unknown_attribute_is_refused_not_ignored():
    x = tensor("x", TensorProto.FLOAT, [2, 3])
    model = model_of(
        [helper.make_node("Softmax", ["x"], ["y"], name="s", axis=1, flavour=2)],
        [x],
        [tensor("y", TensorProto.FLOAT, [2, 3])],
    )
    with pytest.raises(
        gd.ModelError,
        match=r'node "s" \(Softmax, domain "ai.onnx"\): attribute flavour is '
        "not supported",
    ):
        from_onnx(model)


def test_an_opset_outside_13_to_21_is_refused():
    x = tensor("x", TensorProto.FLOAT, [2])
    model = model_of(
        [helper.make_node("Relu", ["x"], ["y"])], [x], [tensor("y", TensorProto.FLOAT, [2])], opset=11
    )
    with pytest.raises(gd.ModelError, match="uses opset 11; graphdiff imports opsets 13 to 21"):
        from_onnx(model)


def test_onnx_defaults_are_translated():
    """keepdims is 1 in ONNX, pool strides 1, AveragePool leaves padding out of its count, Reshape's 0
    copies a dimension, Max/Min/Sum/Mean take any number of inputs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"]),
        helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Max", ["x", "x2", "x3"], ["mx"]),
        helper.make_node("Mean", ["x", "x2", "x3"], ["mn"]),
        helper.make_node("Gemm", ["a2", "b2", "c2"], ["g"], alpha=0.5, beta=2.0, transA=1),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "shape"),
        numpy_helper.from_array(rng.normal(size=(2, 3, 4, 4)).astype(np.float32), "x2"),
        numpy_helper.from_array(rng.normal(size=(2, 3, 4, 4)).astype(np.float32), "x3"),
        numpy_helper.from_array(rng.normal(size=(5, 2)).astype(np.float32), "a2"),
        numpy_helper.from_array(rng.normal(size=(5, 4)).astype(np.float32), "b2"),
        numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "c2"),
    ]
    outs = ["m", "a", "r", "mx", "mn", "g"]
    model = model_of(
        nodes,
        [tensor("x", TensorProto.FLOAT, [2, 3, 4, 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        inits,
    )
    expected = session(model).run(outs, {"x": x})
    result = from_onnx(model).forward({"x": x})
    for name, want in zip(outs, expected, strict=True):
        got = result.value(name)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_shape_arithmetic_folds_into_one_reshape_with_a_symbolic_batch():
    """x.view(x.size(0), -1) as exporters write it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero_axis"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten"),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_axis"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
    ]
    model = model_of(
        nodes,
        [tensor("x", TensorProto.FLOAT, ["batch", 2, 3])],
        [tensor("y", TensorProto.FLOAT, ["batch", 6])],
        inits,
    )
    graph = from_onnx(model)
    assert [(n.op, n.attrs) for n in graph.spec.nodes] == [("reshape", {"shape": [-1, 6]})]
    assert graph.checked.types["y"].shape == ("batch", 6)


# --- untrusted model files --------------------------------------------------------------------------------


def _external_model(location: str) -> onnx.ModelProto:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    return model_of(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        [tensor("x", TensorProto.FLOAT, [2])],
        [tensor("y", TensorProto.FLOAT, [2])],
        [weight],
    )


def test_external_data_is_read_from_beside_the_model(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.array([2.0, 3.0], dtype="<f4").tobytes())
    onnx.save(_external_model("weights.bin"), tmp_path / "m.onnx")
    graph = from_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(graph.forward({"x": np.ones(2, np.float32)}).value("y"), [2.0, 3.0])


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("../secret.bin", "external data paths may not contain '..'"),  # CVE-2022-25882
        ("sub/../../secret.bin", "external data paths may not contain '..'"),
        ("/etc/passwd", "external data paths must be relative to the model's folder"),
        ("link.bin", "symbolic links are not followed"),  # CVE-2024-27318: a link out of the folder
        ("hard.bin", "has 2 hard links"),
        ("missing.bin", "no such file beside the model"),
        ("short.bin", "is shorter than offset 0 + 8 bytes"),
    ],
)
def test_external_data_outside_the_models_folder_is_refused(tmp_path, location, expected):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\x00" * 8)
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "link.bin").symlink_to(outside)
    os.link(outside, folder / "hard.bin")
    (folder / "short.bin").write_bytes(b"\x00" * 4)
    onnx.save(_external_model(location), folder / "m.onnx")
    proc = run_cli("import", "m.onnx", "-o", "m.json", cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    (line,) = problem_lines(proc.stderr)
    assert line.startswith('m.onnx: initializer "w": external data: ') and expected in line
    assert not (folder / "m.json").exists()


def test_a_model_given_as_bytes_has_no_folder_for_external_data():
    with pytest.raises(gd.ModelError, match="a model given as bytes has no folder"):
        from_onnx(_external_model("weights.bin").SerializeToString())


def test_the_file_size_cap_is_checked_before_parsing(tmp_path):
    onnx.save(onnx.load(FIXTURES / "lenet.onnx"), tmp_path / "big.onnx")
    proc = run_cli("import", "big.onnx", "-o", "b.json", "--max-bytes", "1000", cwd=tmp_path)
    assert proc.returncode == 2
    assert problem_lines(proc.stderr) == ["big.onnx: is 28020 bytes, over the cap of 1000 (--max-bytes)"]


def test_a_tensor_over_the_element_cap_is_refused_before_allocating():
    # 10^12 elements declared, 8 bytes given: refused from the dims alone.
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10**6, 10**6], raw_data=b"\x00" * 8)
    model = model_of(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        [tensor("x", TensorProto.FLOAT, [1])],
        [tensor("y", TensorProto.FLOAT, None)],
        [huge],
    )
    with pytest.raises(gd.ModelError, match=r'initializer "w": has 1000000000000 elements, over the cap'):
        from_onnx(model)


def test_tensor_data_must_match_its_dims():
    short = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3], raw_data=b"\x00" * 8)
    model = model_of(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        [tensor("x", TensorProto.FLOAT, [3])],
        [tensor("y", TensorProto.FLOAT, [3])],
        [short],
    )
    with pytest.raises(gd.ModelError, match=r"holds 8 bytes of data; dims \[3\] of float32 need 12"):
        from_onnx(model)


@pytest.mark.parametrize(
    "data", [b"not a model", b"\x0a\xff\xff\xff\xff\x0f", b""], ids=["text", "bad", "empty"]
)
def test_bytes_that_are_no_model_give_one_line(tmp_path, data):
    (tmp_path / "m.onnx").write_bytes(data)
    proc = run_cli("import", "m.onnx", "-o", "m.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    (line,) = problem_lines(proc.stderr)
    assert line.startswith("m.onnx: is not ")


def test_deeply_nested_protobuf_is_refused_without_a_crash(tmp_path):
    # A GraphProto nested 100,000 deep through If's then_branch: protobuf's recursion limit refuses it.
    inner = b""
    for _ in range(100_000):
        attribute = b"\x0a\x01t" + b"\x32" + _varint(len(inner)) + inner  # AttributeProto{name, g}
        node = b"\x2a" + _varint(len(attribute)) + attribute  # NodeProto{attribute}
        inner = b"\x0a" + _varint(len(node)) + node  # GraphProto{node}
    (tmp_path / "deep.onnx").write_bytes(b"\x3a" + _varint(len(inner)) + inner)  # ModelProto{graph}
    proc = run_cli("import", "deep.onnx", "-o", "d.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    (line,) = problem_lines(proc.stderr)
    assert line.startswith("deep.onnx: is not a readable ONNX model")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_hostile_names_become_valid_ids_and_never_reach_the_terminal_raw(tmp_path):
    name = "\x1b[31mred//x\x07/"
    model = model_of(
        [helper.make_node("Relu", [name], ["y"], name="\x1b]0;title\x07")],
        [tensor(name, TensorProto.FLOAT, [2])],
        [tensor("y", TensorProto.FLOAT, [2])],
    )
    graph = from_onnx(model)
    ids = [leaf.id for leaf in graph.spec.leaves] + [node.id for node in graph.spec.nodes]
    assert ids == ["_[31mred/x_", "y"]
    bad = model_of(
        [helper.make_node("Erf", [name], ["y"], name="\x1b]0;title\x07")],
        [tensor(name, TensorProto.FLOAT, [2])],
        [tensor("y", TensorProto.FLOAT, [2])],
    )
    onnx.save(bad, tmp_path / "bad.onnx")
    proc = run_cli("import", "bad.onnx", "-o", "b.json", cwd=tmp_path)
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert r'node "\u001b]0;title\u0007" (Erf' in proc.stderr


def test_every_registered_op_has_an_onnx_form():
    """Adding an op means writing its ONNX form beside its forward and backward (or export refuses it)."""
    from graphdiff.ops import REGISTRY, Op

    missing = [name for name, op in REGISTRY.items() if op.onnx_op is None and type(op).to_onnx is Op.to_onnx]
    assert missing == []


def test_opset_13_attribute_forms_import():
    """Before opset 18 the Reduce ops (but ReduceSum) take axes as an attribute, and Split its sizes."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["mx"], axes=[-1]),
        helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=2),
        helper.make_node("Squeeze", ["mx", "last"], ["sq"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array([1, 3], dtype=np.int64), "sizes"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
    ]
    outs = ["m", "mx", "s", "a", "b", "sq"]
    model = model_of(
        nodes,
        [tensor("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        inits,
        opset=13,
    )
    expected = session(model).run(outs, {"x": x})
    graph = from_onnx(model)
    assert graph.spec.outputs == outs
    result = graph.forward({"x": x})
    for name, want in zip(outs, expected, strict=True):
        np.testing.assert_array_equal(result.value(name), want, err_msg=name)
