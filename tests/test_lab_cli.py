"""The optimization lab's command line: ``graphdiff train``, ``search``, ``compare``, ``sweep`` and
``landscape``, run in-process with ``graphdiff.cli.main`` in a temporary working directory.

Where a result can be worked out by hand it is: the three-point SVM of the optimization notes has the
analytic gradient [-1.4, 1.6, -0.2] / 3 at its W, so one or two steps of each training variant, the
step-size sweep and the loss along a landscape's directions are checked against numpy. The rest checks
what the files hold (CSV columns and rows, .npz arrays, PNG bytes), the exit codes, and that a refused,
diverged or interrupted run leaves earlier outputs byte for byte as they were.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import os
import re
import signal
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import call

import graphdiff as gd
from graphdiff import fileio, optimize
from graphdiff.cli import lab_commands, main
from graphdiff.optimize.objective import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPIRAL = str(EXAMPLES / "spiral_two_layer.json")
DIGITS_SVM = str(EXAMPLES / "digits_svm.json")
SVM3 = str(EXAMPLES / "svm_three_points.json")
SOFTMAX = str(EXAMPLES / "softmax_classifier.json")
CIRCUIT = str(EXAMPLES / "cs231n_circuit.json")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HISTORY_HEADER = [
    "step",
    "epoch",
    "lr",
    "batch_loss",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
]
SPIRAL_OUTPUTS = {
    "spiral_two_layer.trained.json",
    "spiral_two_layer.trained.npz",
    "spiral_two_layer.trained.loss.csv",
    "spiral_two_layer.trained.loss.png",
}
LAB_COMMANDS = ["train", "search", "compare", "sweep", "landscape"]

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="the digits dataset needs scikit-learn"
)

# The three-point SVM (examples/svm_three_points.json) and its analytic gradient at W.
SVM3_X = np.array([1.0, -2.0, 0.6])
SVM3_Y = np.array([0, 1, 2])
SVM3_W = np.array([[0.3, -0.4, 0.8]])
SVM3_GRAD = np.array([[-1.4, 1.6, -0.2]]) / 3

# The softmax classifier (examples/softmax_classifier.json).
SOFTMAX_X = np.array([[1.0, 0.0], [0.5, -1.0], [-1.5, 2.0], [2.0, 0.5]])
SOFTMAX_Y = np.array([0, 1, 2, 1])
SOFTMAX_W = np.array([[3.0, 5.0, -2.0], [-0.5, 1.2, 0.8]])
SOFTMAX_B = np.array([0.2, 0.1, 0.3])


def svm3_loss(W: np.ndarray) -> float:
    scores = np.outer(SVM3_X, np.asarray(W).reshape(3))
    rows = np.arange(3)
    margins = scores - scores[rows, SVM3_Y][:, None] + 1.0
    margins[rows, SVM3_Y] = 0.0
    return float(np.maximum(0.0, margins).sum() / 3)


def softmax_loss(W: np.ndarray, b: np.ndarray) -> float:
    scores = SOFTMAX_X @ W + b
    top = scores.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(scores - top).sum(axis=1)) + top[:, 0]
    data = np.mean(logsumexp - scores[np.arange(4), SOFTMAX_Y])
    return float(data + 0.005 * np.sum(W**2))


# --- helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Path:
    """tmp_path as the working directory (the lab writes its outputs there by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def stub_plots(monkeypatch) -> None:
    """Plots drawn as a few distinct bytes instead of by matplotlib (a quarter second each), for tests
    about what the commands compute and how they write, not about the plots."""
    drawn = itertools.count(1)

    def draw(*args, **kwargs) -> bytes:
        return PNG_MAGIC + f"stub {next(drawn)}".encode()

    plots = types.SimpleNamespace(
        loss_curve_png=draw, comparison_png=draw, sweep_png=draw, landscape_png=draw
    )
    monkeypatch.setattr(lab_commands, "_plots", lambda: plots)


def ok(capsys, *args: str) -> str:
    code, out, err = call(capsys, *args)
    assert code == 0, err
    assert "Traceback" not in err
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows])


def printed_loss(out: str, prefix: str) -> float:
    """The loss on the line starting with ``prefix`` (``start:``, ``after``, ``best after``)."""
    (line,) = [line for line in out.splitlines() if line.startswith(prefix)]
    return float(re.search(r": loss ([-+0-9.eE]+|inf|nan)", line).group(1))


def npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def leaf_values(path: str | Path, ids) -> dict[str, np.ndarray]:
    checked = gd.load(path).checked
    return {id: np.asarray(checked.leaf_values[id]) for id in ids}


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), path
    assert len(data) > 1000


def assert_clean_failure(err: str, *needles: str) -> None:
    """One problem line on stderr, no traceback, mentioning each needle."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err


def train_spiral(capsys, *extra: str) -> str:
    return ok(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "20", "--lr", "1", *extra)


# --- help ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", LAB_COMMANDS)
def test_every_lab_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: graphdiff {command}" in out
    assert "\nexamples:\n" in out
    assert f"  graphdiff {command} " in out.split("examples:")[1]


# --- train --------------------------------------------------------------------------------------------


def test_train_writes_the_trained_spec_parameters_loss_curve_and_plot(lab, capsys):
    out = ok(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "50", "--lr", "1")
    assert set(os.listdir(lab)) == SPIRAL_OUTPUTS
    for name in sorted(SPIRAL_OUTPUTS):
        assert f"wrote {name}" in out
    assert "gradient descent (full batch), learning rate 1, 50 steps" in out
    assert re.search(r"^data: spiral, 240 training.*, 60 validation", out, re.M)
    start, final = printed_loss(out, "start:"), printed_loss(out, "after 50 steps")
    assert final < start

    assert_png(lab / "spiral_two_layer.trained.loss.png")
    header, rows = read_csv(lab / "spiral_two_layer.trained.loss.csv")
    assert header == HISTORY_HEADER
    assert [int(r["step"]) for r in rows] == list(range(1, 51))
    assert column(rows, "lr").tolist() == [1.0] * 50
    assert column(rows, "batch_loss")[0] == pytest.approx(start, rel=1e-5)  # full batch: step 1 at W
    assert column(rows, "train_loss")[-1] == pytest.approx(final, rel=1e-5)
    # Full batch: each step's loss is the loss on all the data where the previous step ended.
    np.testing.assert_allclose(column(rows, "batch_loss")[1:], column(rows, "train_loss")[:-1], rtol=1e-12)
    assert rows[-1]["val_loss"] and rows[-1]["val_accuracy"]

    params = ("W1", "b1", "W2", "b2")
    arrays = npz(lab / "spiral_two_layer.trained.npz")
    assert set(arrays) == set(params)
    trained = leaf_values(lab / "spiral_two_layer.trained.json", params)
    original = leaf_values(SPIRAL, params)
    for id in params:
        np.testing.assert_array_equal(trained[id], arrays[id])
        assert not np.array_equal(trained[id], original[id]), id
    spec = json.loads((lab / "spiral_two_layer.trained.json").read_text())
    assert {leaf["id"]: leaf["value"] for leaf in spec["leaves"] if leaf["kind"] == "parameter"} == {
        id: {"file": "spiral_two_layer.trained.npz", "key": id} for id in params
    }


@pytest.mark.usefixtures("stub_plots")
def test_the_trained_spec_runs_with_the_trained_parameters(lab, capsys):
    train_spiral(capsys)
    out = ok(capsys, "run", "spiral_two_layer.trained.json", "--feed", "X=[[0.1,0.2]]", "--feed", "y=[0]")
    p = npz(lab / "spiral_two_layer.trained.npz")
    scores = np.maximum(0.0, np.array([[0.1, 0.2]]) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    data_loss = np.log(np.exp(scores).sum()) - scores[0, 0]
    loss = data_loss + 0.0005 * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
    printed = float(re.search(r"^loss = (\S+)$", out, re.M).group(1))
    assert printed == pytest.approx(loss, rel=1e-5)
    original = ok(capsys, "run", SPIRAL, "--feed", "X=[[0.1,0.2]]", "--feed", "y=[0]")
    assert float(re.search(r"^loss = (\S+)$", original, re.M).group(1)) != pytest.approx(loss, rel=1e-5)


def test_train_to_an_npz_writes_parameters_curve_and_plot_but_no_spec(lab, capsys):
    out = ok(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "10", "--lr", "1", "-o", "out.npz")
    assert set(os.listdir(lab)) == {"out.npz", "out.loss.csv", "out.loss.png"}
    assert "wrote out.npz" in out
    assert set(npz(lab / "out.npz")) == {"W1", "b1", "W2", "b2"}
    assert len(read_csv(lab / "out.loss.csv")[1]) == 10
    assert_png(lab / "out.loss.png")


@pytest.mark.usefixtures("stub_plots")
@pytest.mark.parametrize(
    ("options", "factor"),
    [
        ([], 2.0),  # W - lr g - lr g
        (["--momentum", "0.9"], 2.9),  # v1 = -lr g, v2 = 0.9 v1 - lr g
        (["--momentum", "0.9", "--nesterov"], 4.61),  # W += -mu v_prev + (1 + mu) v: 1.9, then 2.71
        (["--lr-decay", "0.5", "--decay-every", "1"], 1.5),  # lr, then lr / 2
    ],
    ids=["vanilla", "momentum", "nesterov", "decay"],
)
def test_two_steps_of_each_variant_match_the_update_rules(lab, capsys, options, factor):
    # The three-point SVM is piecewise linear and no margin changes sign within 0.01 * |g| of W, so
    # the gradient is the same at both steps and W2 = W - factor * lr * g.
    ok(capsys, "train", SVM3, "--steps", "2", "--lr", "0.01", "-o", "w.npz", *options)
    np.testing.assert_allclose(npz(lab / "w.npz")["W"], SVM3_W - factor * 0.01 * SVM3_GRAD, rtol=1e-12)
    rows = read_csv(lab / "w.loss.csv")[1]
    assert column(rows, "batch_loss")[0] == pytest.approx(svm3_loss(SVM3_W), rel=1e-12)


@pytest.mark.usefixtures("stub_plots")
def test_minibatch_sgd_cuts_epochs_into_batches(lab, capsys):
    out = train_spiral(capsys, "--batch-size", "16", "--steps", "50")
    assert "minibatch SGD (batch size 16)" in out
    assert printed_loss(out, "after 50 steps") < printed_loss(out, "start:")
    rows = read_csv(lab / "spiral_two_layer.trained.loss.csv")[1]
    assert len(rows) == 50
    # 240 training examples in batches of 16: 15 steps an epoch.
    np.testing.assert_allclose(column(rows, "epoch"), np.arange(1, 51) / 15)
    # Each step's loss is on its batch, not (as in full batch) on all the data the last step ended at.
    assert np.abs(column(rows, "batch_loss")[1:] - column(rows, "train_loss")[:-1]).min() > 1e-6


@pytest.mark.usefixtures("stub_plots")
def test_sgd_steps_on_one_example_at_a_time(lab, capsys):
    out = ok(
        capsys, "train", SPIRAL, "--data", "spiral", "--batch-size", "1", "--steps", "240", "--lr", "0.3"
    )
    assert "SGD (batch size 1)" in out
    assert printed_loss(out, "after 240 steps") < printed_loss(out, "start:")
    rows = read_csv(lab / "spiral_two_layer.trained.loss.csv")[1]
    np.testing.assert_allclose(column(rows, "epoch"), np.arange(1, 241) / 240)
    # One example's loss varies far more than the loss over all the data.
    assert np.ptp(column(rows, "batch_loss")) > 0.1


@pytest.mark.usefixtures("stub_plots")
def test_nesterov_momentum_trains(lab, capsys):
    out = train_spiral(capsys, "--momentum", "0.9", "--nesterov", "--lr", "0.5", "--steps", "50")
    assert "gradient descent (full batch) + Nesterov momentum 0.9, learning rate 0.5" in out
    assert printed_loss(out, "after 50 steps") < 0.8 < printed_loss(out, "start:")


@pytest.mark.usefixtures("stub_plots")
def test_step_decay_halves_the_learning_rate_every_n_steps(lab, capsys):
    train_spiral(capsys, "--lr-decay", "0.5", "--decay-every", "10", "--steps", "50")
    rows = read_csv(lab / "spiral_two_layer.trained.loss.csv")[1]
    assert column(rows, "lr").tolist() == [1.0] * 10 + [0.5] * 10 + [0.25] * 10 + [0.125] * 10 + [0.0625] * 10


@pytest.mark.usefixtures("stub_plots")
def test_the_trained_spec_of_a_parameter_without_declared_shape_loads(lab, capsys):
    ok(capsys, "train", SVM3, "--steps", "5", "--lr", "0.01")
    arrays = npz(lab / "svm_three_points.trained.npz")
    trained = leaf_values(lab / "svm_three_points.trained.json", ["W"])
    np.testing.assert_array_equal(trained["W"], arrays["W"])


def write_spec_reading_x_from_a_file(folder: Path) -> None:
    """specs/net.json: the three-point SVM with X read from specs/x.npy."""
    (folder / "specs").mkdir()
    np.save(folder / "specs" / "x.npy", SVM3_X.reshape(3, 1))
    spec = json.loads(Path(SVM3).read_text())
    spec.pop("$schema")
    spec["leaves"][0].update(value={"file": "x.npy"}, shape=[3, 1])
    spec["leaves"][2]["shape"] = [1, 3]
    (folder / "specs" / "net.json").write_text(json.dumps(spec))


@pytest.mark.usefixtures("stub_plots")
def test_the_trained_spec_reads_the_original_array_files_from_its_own_folder(lab, capsys):
    write_spec_reading_x_from_a_file(lab)
    ok(capsys, "train", "specs/net.json", "--steps", "2", "--lr", "0.01", "-o", "out.json")
    leaves = {leaf["id"]: leaf for leaf in json.loads((lab / "out.json").read_text())["leaves"]}
    assert leaves["X"]["value"] == {"file": "specs/x.npy"}
    assert leaves["W"]["value"] == {"file": "out.npz", "key": "W"}
    values = leaf_values(lab / "out.json", ["X", "W"])
    np.testing.assert_array_equal(values["X"], SVM3_X.reshape(3, 1))
    np.testing.assert_allclose(values["W"], SVM3_W - 2 * 0.01 * SVM3_GRAD, rtol=1e-12)


@pytest.mark.usefixtures("stub_plots")
def test_a_trained_spec_that_could_not_reach_the_array_files_is_refused_before_training(lab, capsys):
    write_spec_reading_x_from_a_file(lab)
    (lab / "specs" / "deeper").mkdir()
    before = snapshot(lab / "specs")
    code, out, err = call(capsys, "train", "specs/net.json", "--steps", "2", "-o", "specs/deeper/out.json")
    assert code == 2
    assert_clean_failure(err, "specs/deeper/out.json", '"X"', "outside the new spec's folder")
    assert "start:" not in out
    assert os.listdir(lab / "specs" / "deeper") == []
    assert snapshot(lab / "specs") == before


# --- divergence, --force, Ctrl-C ----------------------------------------------------------------------


@pytest.mark.usefixtures("stub_plots")
def test_a_diverging_run_exits_1_and_writes_nothing(lab, capsys):
    code, out, err = call(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "50", "--lr", "1e300")
    assert code == 1
    assert_clean_failure(err, "training diverged", "nothing written", "smaller --lr")
    assert re.search(r": step \d+: ", err)
    assert "after" not in out
    assert os.listdir(lab) == []


@pytest.mark.usefixtures("stub_plots")
def test_a_diverging_run_leaves_earlier_outputs_as_they_were(lab, capsys):
    train_spiral(capsys)
    before = snapshot(lab)
    code, _, err = call(
        capsys, "train", SPIRAL, "--data", "spiral", "--steps", "50", "--lr", "1e300", "--force"
    )
    assert code == 1
    assert "nothing written" in err
    assert snapshot(lab) == before


@pytest.mark.usefixtures("stub_plots")
def test_existing_outputs_are_refused_without_force_before_training(lab, capsys):
    train_spiral(capsys)
    before = snapshot(lab)
    code, out, err = call(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "100000", "--lr", "1")
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert "Traceback" not in err
    assert "training" not in out and "after" not in out
    assert snapshot(lab) == before


@pytest.mark.parametrize(
    ("args", "existing"),
    [
        (["search", SVM3, "--evals", "5"], "svm_three_points.random-search.loss.png"),
        (["compare", SVM3, "--evals", "5"], "svm_three_points.compare.csv"),
        (["sweep", SVM3], "svm_three_points.sweep.png"),
        (["landscape", SVM3, "--ray", "--points", "3"], "svm_three_points.ray.csv"),
        (["landscape", SVM3, "--plane", "--points", "3"], "svm_three_points.plane.npz"),
    ],
    ids=["search", "compare", "sweep", "ray", "plane"],
)
def test_every_command_refuses_to_replace_outputs_without_force(lab, capsys, args, existing):
    (lab / existing).write_bytes(b"old")
    code, out, err = call(capsys, *args)
    assert code == 2
    assert_clean_failure(err, existing, "--force")
    assert out == ""
    assert snapshot(lab) == {existing: b"old"}


@pytest.mark.usefixtures("stub_plots")
def test_ctrl_c_during_training_exits_130_and_writes_nothing(lab, capsys, monkeypatch):
    train_spiral(capsys)
    before = snapshot(lab)
    calls = []
    real = Objective.loss_and_grads

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Objective, "loss_and_grads", interrupted)
    code, out, err = call(
        capsys, "train", SPIRAL, "--data", "spiral", "--steps", "50", "--lr", "0.5", "--force"
    )
    assert code == 130
    assert len(calls) == 5
    assert "interrupted" in err and "nothing written" in err
    assert "wrote" not in out
    assert snapshot(lab) == before


@pytest.mark.usefixtures("stub_plots")
def test_ctrl_c_in_a_fresh_folder_leaves_it_empty(lab, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(optimize, "train", interrupted)
    code, _, err = call(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "50")
    assert code == 130
    assert "nothing written" in err
    assert os.listdir(lab) == []


def fail_on_second_temporary_file(monkeypatch, failure: Callable[[], None]) -> list[str]:
    """Make ``failure`` happen while the second output's temporary file is written; the list fills with
    the names of the outputs whose temporary files were started."""
    real = fileio._write_temporary
    calls = []

    def write(target, data):
        calls.append(Path(target).name)
        if len(calls) == 2:
            failure()
        return real(target, data)

    monkeypatch.setattr(fileio, "_write_temporary", write)
    return calls


def raise_interrupt() -> None:
    raise KeyboardInterrupt


def send_sigint() -> None:
    # A real Ctrl-C, sent to the main thread itself: sent to the process, the kernel may hand it to one of
    # the native threads onnx and onnxruntime start, and Python would raise it only a moment later.
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


@pytest.mark.usefixtures("stub_plots")
@pytest.mark.parametrize("failure", [raise_interrupt, send_sigint], ids=["exception", "signal"])
def test_ctrl_c_while_writing_replaces_no_output(lab, capsys, monkeypatch, failure):
    """The outputs are written as one change: every temporary file first, then the moves; an interrupt
    before the moves leaves every previous file as it was and no temporary file behind."""
    train_spiral(capsys, "--lr", "0.1")
    before = snapshot(lab)
    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    calls = fail_on_second_temporary_file(monkeypatch, failure)
    code, out, err = call(
        capsys, "train", SPIRAL, "--data", "spiral", "--steps", "20", "--lr", "1", "--force"
    )
    signal.signal(signal.SIGINT, previous)
    assert code == 130, err
    assert "nothing written" in err and "wrote" not in out
    assert calls == ["spiral_two_layer.trained.npz", "spiral_two_layer.trained.json"]
    assert snapshot(lab) == before  # every file old, no temporary file left


@pytest.mark.usefixtures("stub_plots")
def test_a_disk_error_while_writing_replaces_no_output(lab, capsys, monkeypatch):
    train_spiral(capsys, "--lr", "0.1")
    before = snapshot(lab)

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    fail_on_second_temporary_file(monkeypatch, disk_full)
    code, _, err = call(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "20", "--lr", "1", "--force")
    assert code == 2
    assert "No space left on device" in err and "Traceback" not in err
    assert snapshot(lab) == before


@pytest.mark.usefixtures("stub_plots")
def test_ctrl_c_while_the_outputs_are_moved_into_place_is_held_until_all_are(lab, capsys, monkeypatch):
    train_spiral(capsys, "--lr", "0.1")
    before = snapshot(lab)
    real = os.replace
    moved = []

    def replace(source, target):
        if not moved:
            send_sigint()  # arrives between the first and the second move
        moved.append(Path(target).name)
        return real(source, target)

    monkeypatch.setattr(fileio.os, "replace", replace)
    code, _, err = call(capsys, "train", SPIRAL, "--data", "spiral", "--steps", "20", "--lr", "1", "--force")
    monkeypatch.undo()
    assert code == 130  # the interrupt is not lost, only held back
    assert "had all been written" in err and "nothing written" not in err
    assert sorted(moved) == sorted(SPIRAL_OUTPUTS)
    after = snapshot(lab)
    assert set(after) == SPIRAL_OUTPUTS
    for name in SPIRAL_OUTPUTS:  # every file is the new one
        assert after[name] != before[name], name
    assert gd.load(lab / "spiral_two_layer.trained.json").checked.leaf_values["W1"].shape == (2, 100)


# --- search -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["random", "local"])
def test_search_writes_the_best_parameters_and_the_losses_tried(lab, capsys, strategy):
    out = ok(capsys, "search", SOFTMAX, "--strategy", strategy, "--evals", "50", "--step-size", "0.1")
    stem = f"softmax_classifier.{strategy}-search"
    assert set(os.listdir(lab)) == {f"{stem}.json", f"{stem}.npz", f"{stem}.loss.csv", f"{stem}.loss.png"}
    assert_png(lab / f"{stem}.loss.png")
    header, rows = read_csv(lab / f"{stem}.loss.csv")
    assert header == ["evaluation", "loss", "best_loss"]
    assert [int(r["evaluation"]) for r in rows] == list(range(1, 51))
    losses, best = column(rows, "loss"), column(rows, "best_loss")
    assert np.all(np.diff(best) <= 0)
    np.testing.assert_array_equal(best, np.minimum.accumulate(losses))
    assert best[-1] == losses.min()
    assert printed_loss(out, "best after 50 evaluations") == pytest.approx(losses.min(), rel=1e-5)
    # The parameters written are the best ones: the trained spec's loss is the best loss.
    arrays = npz(lab / f"{stem}.npz")
    assert softmax_loss(arrays["W"], arrays["b"]) == pytest.approx(losses.min(), rel=1e-12)
    assert gd.load(lab / f"{stem}.json").forward().loss == pytest.approx(losses.min(), rel=1e-12)
    if strategy == "local":  # local search starts from the spec's W and only goes down
        assert losses.min() < softmax_loss(SOFTMAX_W, SOFTMAX_B)
    else:  # random search draws W = 0.001 * randn: far from the spec's W
        assert np.abs(arrays["W"]).max() < 0.01


# --- compare ------------------------------------------------------------------------------------------


def table_rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@needs_sklearn
def test_compare_ranks_random_then_local_then_gradient_descent(lab, capsys):
    out = ok(capsys, "compare", DIGITS_SVM, "--data", "digits", "--evals", "200", "--lr", "0.1")
    table = table_rows(out)
    assert len(table) == 5  # header, separator, three strategies
    assert table[0][:3] == ["strategy", "evaluations", "final loss"]
    assert set(table[1][0]) == {"-"}
    assert [row[0] for row in table[2:]] == [
        "random search",
        "random local search",
        "gradient descent (full batch), lr 0.1",
    ]
    assert [row[1] for row in table[2:]] == ["200"] * 3
    assert set(os.listdir(lab)) == {"digits_svm.compare.png", "digits_svm.compare.csv"}
    assert_png(lab / "digits_svm.compare.png")
    header, rows = read_csv(lab / "digits_svm.compare.csv")
    assert header[:3] == ["strategy", "evaluations", "final_loss"]
    assert [r["strategy"] for r in rows] == [row[0] for row in table[2:]]
    final = column(rows, "final_loss")
    assert final[0] > final[1] > final[2]
    assert [f"{x:.4f}" for x in final] == [row[2] for row in table[2:]]


@pytest.mark.usefixtures("stub_plots")
def test_compare_writes_its_plot_where_asked(lab, capsys):
    ok(capsys, "compare", SVM3, "--evals", "20", "--lr", "0.1", "-o", "cmp.png")
    assert set(os.listdir(lab)) == {"cmp.png", "cmp.csv"}
    assert len(read_csv(lab / "cmp.csv")[1]) == 3


# --- sweep --------------------------------------------------------------------------------------------


def test_sweep_prints_the_notes_table_for_the_default_step_sizes(lab, capsys):
    out = ok(capsys, "sweep", SVM3)
    lines = out.splitlines()
    start = lines.index(f"original loss: {svm3_loss(SVM3_W):f}")
    table = lines[start + 1 : start + 11]
    for exponent, line in zip(range(-10, 0), table, strict=True):
        step = 10.0**exponent
        assert line == f"for step size {step:e} new loss: {svm3_loss(SVM3_W - step * SVM3_GRAD):f}"
    assert table[0].startswith("for step size 1.000000e-10 new loss: ")
    assert table[-1].startswith("for step size 1.000000e-01 new loss: ")
    assert not lines[start + 11].startswith("for step size")
    header, rows = read_csv(lab / "svm_three_points.sweep.csv")
    assert header == ["step_size", "loss"]
    np.testing.assert_allclose(column(rows, "step_size"), 10.0 ** np.arange(-10, 0), rtol=1e-12)
    np.testing.assert_allclose(
        column(rows, "loss"), [svm3_loss(SVM3_W - s * SVM3_GRAD) for s in 10.0 ** np.arange(-10, 0)]
    )
    assert_png(lab / "svm_three_points.sweep.png")


@needs_sklearn
def test_sweep_over_a_wide_range_falls_then_explodes(lab, capsys):
    out = ok(capsys, "sweep", DIGITS_SVM, "--data", "digits", "--range", "1e-6", "1e4")
    original = float(re.search(r"^original loss: (\S+)$", out, re.M).group(1))
    best = float(re.search(r"^best step size: (\S+) ", out, re.M).group(1))
    assert 1e-1 <= best <= 1e1
    header, rows = read_csv(lab / "digits_svm.sweep.csv")
    assert len(rows) == 11
    steps, losses = column(rows, "step_size"), column(rows, "loss")
    np.testing.assert_allclose(steps, 10.0 ** np.arange(-6, 5))
    assert losses[-1] > 100 * original
    lowest = int(np.argmin(losses))
    assert steps[lowest] == pytest.approx(best)
    assert np.all(np.diff(losses[: lowest + 1]) < 0) and np.all(np.diff(losses[lowest:]) > 0)
    assert len(re.findall(r"^for step size ", out, re.M)) == 11
    assert_png(lab / "digits_svm.sweep.png")


@pytest.mark.usefixtures("stub_plots")
def test_sweep_per_decade(lab, capsys):
    out = ok(capsys, "sweep", SVM3, "--range", "1e-6", "1e4", "--per-decade", "2", "-o", "s.png")
    assert len(re.findall(r"^for step size ", out, re.M)) == 21
    steps = column(read_csv(lab / "s.csv")[1], "step_size")
    np.testing.assert_allclose(steps, 10.0 ** np.arange(-6, 4.25, 0.5), rtol=1e-12)
    assert set(os.listdir(lab)) == {"s.png", "s.csv"}


# --- landscape ----------------------------------------------------------------------------------------


def test_a_ray_writes_the_loss_along_it_through_w(lab, capsys):
    out = ok(capsys, "landscape", SVM3, "--ray", "--points", "7")
    assert set(os.listdir(lab)) == {"svm_three_points.ray.png", "svm_three_points.ray.csv"}
    assert_png(lab / "svm_three_points.ray.png")
    header, rows = read_csv(lab / "svm_three_points.ray.csv")
    assert header == ["a", "loss"]
    assert len(rows) == 7
    np.testing.assert_allclose(column(rows, "a"), np.linspace(-1, 1, 7))
    center = float(re.search(r"through W \(loss (\S+)\)", out).group(1))
    assert float(rows[3]["a"]) == 0.0
    assert float(rows[3]["loss"]) == pytest.approx(center, rel=1e-5)
    assert float(rows[3]["loss"]) == pytest.approx(svm3_loss(SVM3_W), rel=1e-12)


@pytest.mark.usefixtures("stub_plots")
def test_a_ray_grid_as_npz_holds_the_direction_the_losses_were_taken_along(lab, capsys):
    ok(capsys, "landscape", SVM3, "--ray", "--points", "7", "--grid", "ray.npz")
    grid = npz(lab / "ray.npz")
    assert set(grid) == {"a", "loss", "direction1/W"}
    direction = grid["direction1/W"]
    expected = [svm3_loss(SVM3_W + a * direction) for a in grid["a"]]
    np.testing.assert_allclose(grid["loss"], expected, rtol=1e-12)


def test_a_plane_writes_the_grid_and_directions_as_npz(lab, capsys):
    out = ok(capsys, "landscape", SVM3, "--plane", "--points", "5")
    assert "25 points" in out
    assert set(os.listdir(lab)) == {"svm_three_points.plane.png", "svm_three_points.plane.npz"}
    assert_png(lab / "svm_three_points.plane.png")
    grid = npz(lab / "svm_three_points.plane.npz")
    assert set(grid) == {"a", "b", "loss", "direction1/W", "direction2/W"}
    assert grid["a"].shape == grid["b"].shape == (5,)
    assert grid["loss"].shape == (5, 5)
    assert grid["direction1/W"].shape == grid["direction2/W"].shape == (1, 3)
    d1, d2 = grid["direction1/W"], grid["direction2/W"]
    expected = [[svm3_loss(SVM3_W + a * d1 + b * d2) for b in grid["b"]] for a in grid["a"]]
    np.testing.assert_allclose(grid["loss"], expected, rtol=1e-12)
    assert grid["loss"][2, 2] == pytest.approx(svm3_loss(SVM3_W), rel=1e-12)


@pytest.mark.usefixtures("stub_plots")
def test_a_plane_grid_as_csv_has_one_row_per_point(lab, capsys):
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "5", "--grid", "out.csv")
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "5", "-o", "same.png")
    header, rows = read_csv(lab / "out.csv")
    assert header == ["a", "b", "loss"]
    assert len(rows) == 25
    grid = npz(lab / "same.npz")
    assert [(float(r["a"]), float(r["b"])) for r in rows] == [(a, b) for a in grid["a"] for b in grid["b"]]
    np.testing.assert_array_equal(column(rows, "loss"), grid["loss"].ravel())


@pytest.mark.usefixtures("stub_plots")
def test_given_directions_in_separate_npz_files_reproduce_the_grid(lab, capsys):
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "5", "--seed", "3", "-o", "first.png")
    first = npz(lab / "first.npz")
    for n in (1, 2):
        np.savez(lab / f"d{n}.npz", W=first[f"direction{n}/W"], b=first[f"direction{n}/b"])
    args = ["--plane", "--points", "5", "--direction", "d1.npz", "--direction", "d2.npz", "-o", "again.png"]
    ok(capsys, "landscape", SOFTMAX, *args)
    again = npz(lab / "again.npz")
    np.testing.assert_array_equal(again["loss"], first["loss"])
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    # A different seed without directions gives a different grid.
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "5", "--seed", "4", "-o", "other.png")
    assert not np.array_equal(npz(lab / "other.npz")["loss"], first["loss"])


@pytest.mark.usefixtures("stub_plots")
def test_a_ray_npz_grid_can_be_given_back_as_its_direction(lab, capsys):
    ok(capsys, "landscape", SOFTMAX, "--ray", "--points", "7", "--grid", "first.npz", "-o", "first.png")
    args = ["--ray", "--points", "7", "--direction", "first.npz", "--seed", "9", "-o", "again.png"]
    ok(capsys, "landscape", SOFTMAX, *args)
    first = npz(lab / "first.npz")
    np.testing.assert_array_equal(column(read_csv(lab / "again.csv")[1], "loss"), first["loss"])


@pytest.mark.usefixtures("stub_plots")
def test_a_plane_npz_grid_can_be_given_back_as_its_directions(lab, capsys):
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "5", "-o", "first.png")
    code, _, err = call(
        capsys,
        "landscape",
        SOFTMAX,
        "--plane",
        "--points",
        "5",
        "--direction",
        "first.npz",
        "--direction",
        "first.npz",
        "--seed",
        "9",
        "-o",
        "again.png",
    )
    assert code == 0, err
    np.testing.assert_array_equal(npz(lab / "again.npz")["loss"], npz(lab / "first.npz")["loss"])


@pytest.mark.usefixtures("stub_plots")
def test_one_moved_parameter_takes_its_direction_from_an_npy(lab, capsys):
    ok(
        capsys,
        "landscape",
        SOFTMAX,
        "--ray",
        "--param",
        "W",
        "--points",
        "5",
        "--grid",
        "first.npz",
        "-o",
        "1.png",
    )
    first = npz(lab / "first.npz")
    np.save(lab / "d.npy", first["direction1/W"])
    ok(
        capsys,
        "landscape",
        SOFTMAX,
        "--ray",
        "--param",
        "W",
        "--points",
        "5",
        "--direction",
        "d.npy",
        "-o",
        "again.png",
    )
    np.testing.assert_array_equal(column(read_csv(lab / "again.csv")[1], "loss"), first["loss"])


@pytest.mark.usefixtures("stub_plots")
def test_normalize_scales_each_direction_to_its_parameters_norm(lab, capsys):
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "3", "-o", "raw.png")
    ok(capsys, "landscape", SOFTMAX, "--plane", "--points", "3", "--normalize", "-o", "norm.png")
    raw, scaled = npz(lab / "raw.npz"), npz(lab / "norm.npz")
    for n in (1, 2):
        for id, value in (("W", SOFTMAX_W), ("b", SOFTMAX_B)):
            d = raw[f"direction{n}/{id}"]
            target = np.linalg.norm(value)
            assert np.linalg.norm(d) != pytest.approx(target, rel=1e-3)
            np.testing.assert_allclose(scaled[f"direction{n}/{id}"], d * target / np.linalg.norm(d))
    assert not np.array_equal(raw["loss"], scaled["loss"])


@pytest.mark.usefixtures("stub_plots")
def test_param_moves_only_that_parameter(lab, capsys):
    out = ok(
        capsys,
        "landscape",
        SOFTMAX,
        "--ray",
        "--param",
        "W",
        "--points",
        "5",
        "--grid",
        "w.npz",
        "-o",
        "w.png",
    )
    assert "moving W:" in out
    grid = npz(lab / "w.npz")
    assert set(grid) == {"a", "loss", "direction1/W"}
    expected = [softmax_loss(SOFTMAX_W + a * grid["direction1/W"], SOFTMAX_B) for a in grid["a"]]
    np.testing.assert_allclose(grid["loss"], expected, rtol=1e-12)


def test_an_unknown_param_with_an_npy_direction_is_refused(lab, capsys):
    np.save(lab / "d.npy", np.ones((2, 3)))
    code, _, err = call(capsys, "landscape", SOFTMAX, "--ray", "--param", "nope", "--direction", "d.npy")
    assert code == 2
    assert_clean_failure(err, '"nope"', "not a parameter")
    assert os.listdir(lab) == ["d.npy"]


@pytest.mark.usefixtures("stub_plots")
def test_a_ray_is_the_default(lab, capsys):
    out = ok(capsys, "landscape", SVM3, "--points", "5")
    assert "ray through W" in out
    assert set(os.listdir(lab)) == {"svm_three_points.ray.png", "svm_three_points.ray.csv"}


def test_an_unknown_param_is_refused(lab, capsys):
    code, out, err = call(capsys, "landscape", SOFTMAX, "--param", "nope", "--points", "5")
    assert code == 2
    assert_clean_failure(err, '"nope"', "not a parameter", "W, b")
    assert os.listdir(lab) == []


# --- data ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("stub_plots")
def test_npz_data_is_bound_to_inputs_by_name_or_by_bind(lab, capsys):
    rng = np.random.default_rng(0)
    np.savez(lab / "data.npz", features=rng.standard_normal((30, 2)), labels=np.arange(30) % 3)
    code, _, err = call(capsys, "train", SPIRAL, "--data", "data.npz", "--steps", "5")
    assert code == 2
    assert_clean_failure(err, "no array of", "features, labels", "named like an input", "X, y")
    assert os.listdir(lab) == ["data.npz"]
    out = ok(
        capsys,
        "train",
        SPIRAL,
        "--data",
        "data.npz",
        "--bind",
        "X=features",
        "--bind",
        "y=labels",
        "--steps",
        "5",
    )
    assert re.search(
        r"^data: data\.npz, 24 training.*, 6 validation.*\(features -> X, labels -> y\)", out, re.M
    )
    assert (lab / "spiral_two_layer.trained.json").is_file()


@pytest.mark.usefixtures("stub_plots")
def test_bind_fills_the_input_the_data_does_not_name(lab, capsys):
    rng = np.random.default_rng(0)
    np.savez(lab / "data.npz", features=rng.standard_normal((30, 2)), y=np.arange(30) % 3)
    code, _, err = call(capsys, "train", SPIRAL, "--data", "data.npz", "--steps", "5")
    assert code == 2
    assert_clean_failure(err, '"X"', "missing")
    out = ok(capsys, "train", SPIRAL, "--data", "data.npz", "--bind", "X=features", "--steps", "5")
    assert "features -> X" in out


@pytest.mark.usefixtures("stub_plots")
def test_limit_uses_that_many_examples(lab, capsys):
    out = ok(capsys, "sweep", SPIRAL, "--data", "spiral", "--limit", "10", "--val-fraction", "0.5")
    assert re.search(r"^data: spiral \(10 examples\), 5 training.*, 5 validation", out, re.M)


def test_digits_without_scikit_learn_is_a_clean_error(lab, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    code, out, err = call(capsys, "train", DIGITS_SVM, "--data", "digits", "--steps", "5")
    assert code == 2
    assert_clean_failure(err, "scikit-learn")
    assert os.listdir(lab) == []


# --- bad input ----------------------------------------------------------------------------------------


def write_inputs(folder: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(folder / "rows.npz", X=rng.standard_normal((5, 2)), y=np.zeros(4, dtype=np.int64))
    np.savez(folder / "nomatch.npz", features=rng.standard_normal((5, 2)), labels=np.zeros(5, dtype=np.int64))
    spec = json.loads(Path(SPIRAL).read_text())
    spec.pop("$schema")
    spec["leaves"][0]["shape"] = [300, 2]
    spec["leaves"][1]["shape"] = [300]
    (folder / "fixed.json").write_text(json.dumps(spec))
    np.savez(folder / "dirW.npz", W=np.ones((1, 3)))


TRAIN = ["train", SPIRAL, "--steps", "5"]
SPIRAL_DATA = [*TRAIN, "--data", "spiral"]

BAD_INPUT = {
    "unknown-data": ([*TRAIN, "--data", "nosuch"], ["--data nosuch", '"spiral" or "digits" or an .npz']),
    "missing-npz": ([*TRAIN, "--data", "missing.npz"], ["missing.npz", "no such file"]),
    "rows-differ": ([*TRAIN, "--data", "rows.npz"], ["same number of rows", "X: 5, y: 4"]),
    "no-input-named": ([*TRAIN, "--data", "nomatch.npz"], ["named like an input", "bind"]),
    "bind-no-equals": ([*SPIRAL_DATA, "--bind", "X"], ["--bind X", "INPUT=ARRAY"]),
    "bind-not-input": ([*SPIRAL_DATA, "--bind", "Z=X"], ["Z=X", "not an input"]),
    "bind-no-array": ([*SPIRAL_DATA, "--bind", "X=nope"], ['no array "nope"']),
    "limit-0": ([*SPIRAL_DATA, "--limit", "0"], ["--limit", "between 1 and the 300"]),
    "limit-no-data": ([*TRAIN, "--limit", "5"], ["--limit", "needs --data"]),
    "val-fraction": ([*SPIRAL_DATA, "--val-fraction", "1.5"], ["validation fraction"]),
    "batch-size-0": ([*SPIRAL_DATA, "--batch-size", "0"], ["batch size must be at least 1"]),
    "negative-lr": ([*SPIRAL_DATA, "--lr", "-1"], ["learning rate must be a positive number"]),
    "momentum": ([*SPIRAL_DATA, "--momentum", "1.5"], ["momentum must be in [0, 1)"]),
    "nesterov-alone": ([*SPIRAL_DATA, "--nesterov"], ["Nesterov", "momentum"]),
    "lr-decay": ([*SPIRAL_DATA, "--lr-decay", "2"], ["decay"]),
    "steps-0": (["train", SPIRAL, "--data", "spiral", "--steps", "0"], ["steps must be at least 1"]),
    "unknown-loss": ([*SPIRAL_DATA, "--loss", "nosuchnode"], ['"nosuchnode"']),
    "non-scalar-loss": ([*SPIRAL_DATA, "--loss", "scores"], ['"scores"', "scalar"]),
    "no-parameters": (["train", CIRCUIT, "--steps", "5"], ["no parameter leaves"]),
    "train-output-txt": ([*SPIRAL_DATA, "-o", "out.txt"], ["out.txt", ".json", ".npz"]),
    "fixed-batch-dim": (
        [
            "train",
            "fixed.json",
            "--data",
            "spiral",
            "--val-fraction",
            "0",
            "--batch-size",
            "16",
            "--steps",
            "5",
        ],
        ["fixed.json", "minibatches", "symbol"],
    ),
    "search-evals-0": (["search", SVM3, "--evals", "0"], ["--evals", "at least 1"]),
    "search-output-txt": (["search", SVM3, "--evals", "5", "-o", "out.txt"], ["out.txt"]),
    "compare-output-svg": (["compare", SVM3, "--evals", "5", "-o", "out.svg"], ["out.svg", ".png"]),
    "sweep-output-svg": (["sweep", SVM3, "-o", "out.svg"], ["out.svg", ".png"]),
    "sweep-range": (["sweep", SVM3, "--range", "0", "1"], ["--range"]),
    "sweep-reversed-range": (["sweep", SVM3, "--range", "1", "1e-3"], ["--range"]),
    "landscape-one-point": (["landscape", SVM3, "--points", "1"], ["at least 2 points"]),
    "landscape-range": (["landscape", SVM3, "--range", "1", "-1"], ["range"]),
    "landscape-grid-txt": (["landscape", SVM3, "--grid", "g.txt"], ["g.txt", ".csv or .npz"]),
    "landscape-no-direction-file": (["landscape", SVM3, "--direction", "d.npz"], ["d.npz", "no such file"]),
    "landscape-one-direction-for-plane": (
        ["landscape", SVM3, "--plane", "--direction", "dirW.npz"],
        ["needs 2, got 1"],
    ),
}


@pytest.mark.parametrize(("args", "needles"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_is_one_clear_line_and_exit_2_and_no_files(lab, capsys, args, needles):
    write_inputs(lab)
    before = snapshot(lab)
    code, _, err = call(capsys, *args)
    assert code == 2, err
    assert_clean_failure(err, *needles)
    assert snapshot(lab) == before
