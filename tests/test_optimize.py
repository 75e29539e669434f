"""The optimization lab's Python API (graphdiff.optimize): data, the objective, each optimizer's update rule
against hand-computed steps, the search strategies, the sweep, the landscape, and the examples' outcomes
on reduced budgets (the case-study spiral net, the digits classifiers, the three-strategy comparison)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import fileio, optimize
from graphdiff.errors import ArrayFileError, FeedError, GraphdiffError
from graphdiff.optimize import plots
from graphdiff.optimize.export import csv_text, landscape_grid, npz_bytes, trained_spec, write_all
from graphdiff.spec import dump_spec

EXAMPLES = Path(__file__).parent.parent / "examples"


def example(name: str) -> gd.Graph:
    return gd.load(EXAMPLES / f"{name}.json")


@pytest.fixture(scope="module")
def digits_split() -> tuple[optimize.Dataset, optimize.Dataset | None]:
    pytest.importorskip("sklearn")
    return optimize.digits().split(0.2, seed=0)


@pytest.fixture(scope="module")
def svm(digits_split) -> optimize.Objective:
    return optimize.Objective(example("digits_svm"), *digits_split)


def tiny_data(n: int = 12, seed: int = 0) -> optimize.Dataset:
    rng = np.random.default_rng(seed)
    return optimize.Dataset("tiny", {"X": rng.standard_normal((n, 2)), "y": rng.integers(0, 3, n)})


def softmax_objective(data: optimize.Dataset | None = None, **kwargs) -> optimize.Objective:
    return optimize.Objective(example("softmax_classifier"), data or tiny_data(), **kwargs)


# --- data -------------------------------------------------------------------------------------------


def test_spiral_is_the_case_study_dataset():
    data = optimize.spiral()
    X, y = data.arrays["X"], data.arrays["y"]
    assert X.shape == (300, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    radius = np.linalg.norm(X, axis=1)
    for arm in range(3):  # each arm's radius grows linearly from 0 to 1
        np.testing.assert_allclose(radius[y == arm], np.linspace(0, 1, 100), atol=1e-12)
    assert np.array_equal(optimize.spiral().arrays["X"], X)  # seeded
    assert not np.array_equal(optimize.spiral(seed=1).arrays["X"], X)


def test_digits_are_the_real_images():
    pytest.importorskip("sklearn")
    data = optimize.digits()
    X, y = data.arrays["X"], data.arrays["y"]
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))


def test_split_is_seeded_disjoint_and_complete():
    data = tiny_data(20)
    train, val = data.split(0.25, seed=3)
    assert (len(train), len(val)) == (15, 5)
    rows = np.concatenate([train.arrays["X"], val.arrays["X"]])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, data.arrays["X"]))
    again, _ = data.split(0.25, seed=3)
    assert np.array_equal(again.arrays["X"], train.arrays["X"])
    assert data.split(0.0) == (data, None)
    with pytest.raises(GraphdiffError, match="validation fraction"):
        data.split(1.0)


def test_dataset_arrays_must_share_rows():
    with pytest.raises(GraphdiffError, match="same number of rows"):
        optimize.Dataset("bad", {"X": np.zeros((3, 2)), "y": np.zeros(4, dtype=np.int64)})


def test_npz_datasets_are_read_safely(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((4, 2), dtype=np.float32), y=np.arange(4, dtype=np.int32))
    data = optimize.load_dataset(str(tmp_path / "d.npz"))
    assert data.arrays["X"].dtype == np.float64 and data.arrays["y"].dtype == np.int64
    np.savez(tmp_path / "nan.npz", X=np.array([[np.nan, 1.0]]))
    with pytest.raises(ArrayFileError, match="finite"):
        optimize.load_npz(tmp_path / "nan.npz")
    os.symlink(tmp_path / "d.npz", tmp_path / "link.npz")
    with pytest.raises(ArrayFileError):
        optimize.load_npz(tmp_path / "link.npz")
    with pytest.raises(GraphdiffError, match="spiral"):
        optimize.load_dataset("mnist")


# --- the objective ----------------------------------------------------------------------------------


def test_objective_matches_a_plain_run_on_the_same_rows():
    data = tiny_data(12)
    objective = softmax_objective(data)
    params = objective.initial_params()
    rows = np.array([5, 0, 7])
    loss, grads = objective.loss_and_grads(params, rows)
    graph = example("softmax_classifier")
    result = graph.run({"X": data.arrays["X"][rows], "y": data.arrays["y"][rows]})
    assert loss == result.loss
    for id in ("W", "b"):
        np.testing.assert_array_equal(grads[id], result.grad(id))
    assert objective.loss(params) == graph.run(data.arrays).loss


def test_accuracy_is_the_argmax_of_the_classifier_scores():
    data = tiny_data(30)
    objective = softmax_objective(data)
    params = objective.initial_params()
    scores = data.arrays["X"] @ params["W"] + params["b"]
    expected = np.mean(np.argmax(scores, axis=1) == data.arrays["y"])
    assert objective.scores_id == "scores" and objective.labels_id == "y"
    assert objective.evaluate(params).accuracy == pytest.approx(expected)


def test_regression_graphs_have_no_accuracy():
    objective = optimize.Objective(example("two_layer_sigmoid"))
    assert not objective.has_accuracy
    assert objective.evaluate(objective.initial_params()).accuracy is None


def test_inputs_bind_by_name_or_explicitly():
    rng = np.random.default_rng(0)
    data = optimize.Dataset(
        "renamed", {"features": rng.standard_normal((5, 2)), "y": np.zeros(5, dtype=np.int64)}
    )
    with pytest.raises(FeedError, match="no array"):
        optimize.Objective(example("softmax_classifier"), data, bind={"X": "feature"})
    objective = optimize.Objective(example("softmax_classifier"), data, bind={"X": "features"})
    assert objective.bindings == {"X": "features", "y": "y"}
    with pytest.raises(FeedError, match="named like an input"):
        optimize.Objective(example("softmax_classifier"), optimize.Dataset("z", {"Z": np.zeros((2, 2))}))


def test_minibatches_cover_every_example_once_per_epoch():
    objective = softmax_objective(tiny_data(10))
    rng = np.random.default_rng(0)
    first = list(objective.batches(3, rng))
    second = list(objective.batches(3, rng))
    assert [len(b) for b in first] == [3, 3, 3, 1]
    assert sorted(np.concatenate(first).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))  # reshuffled
    assert list(objective.batches(None, rng)) == [None]


def test_minibatches_need_a_symbolic_batch_dimension(tmp_path):
    text = (
        (EXAMPLES / "softmax_classifier.json")
        .read_text()
        .replace('["N", 2]', "[4, 2]")
        .replace('["N"]', "[4]")
    )
    graph = gd.loads(text, folder=tmp_path)
    objective = optimize.Objective(graph, tiny_data(4))
    with pytest.raises(GraphdiffError, match="symbol"):
        list(objective.batches(2, np.random.default_rng(0)))


def test_the_loss_must_be_a_float_scalar():
    with pytest.raises(GraphdiffError, match="float scalar"):
        softmax_objective(loss="scores")
    with pytest.raises(GraphdiffError, match="no node"):
        softmax_objective(loss="nope")
    with pytest.raises(GraphdiffError, match="no parameter"):
        optimize.Objective(example("cs231n_circuit"))


# --- training: each update rule against a step computed by hand -------------------------------------


def manual_grads(objective, params, rows=None):
    return objective.loss_and_grads({k: v.copy() for k, v in params.items()}, rows)[1]


def test_gradient_descent_steps_against_the_gradient():
    objective = softmax_objective()
    start = objective.initial_params()
    grads = manual_grads(objective, start)
    result = optimize.train(objective, optimize.TrainConfig(steps=1, lr=0.1))
    for id in start:
        np.testing.assert_array_equal(result.params[id], start[id] - 0.1 * grads[id])
    assert result.history[0].batch_loss == objective.loss(start)
    np.testing.assert_array_equal(objective.initial_params()["W"], start["W"])  # the graph is untouched


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_follows_the_notes_update(nesterov):
    objective = softmax_objective()
    mu, lr = 0.9, 0.05
    params = objective.initial_params()
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    for _ in range(3):
        grads = manual_grads(objective, params)
        for id in params:
            previous = velocity[id]
            velocity[id] = mu * previous - lr * grads[id]
            params[id] = (
                params[id] - mu * previous + (1 + mu) * velocity[id]
                if nesterov
                else params[id] + velocity[id]
            )
    config = optimize.TrainConfig(steps=3, lr=lr, momentum=mu, nesterov=nesterov)
    result = optimize.train(objective, config)
    for id in params:
        np.testing.assert_allclose(result.params[id], params[id], rtol=1e-13, atol=1e-15)


def test_learning_rate_decays_in_steps():
    objective = softmax_objective(tiny_data(8))
    config = optimize.TrainConfig(steps=9, lr=1.0, batch_size=4, lr_decay=0.5)  # decay every epoch (2 steps)
    result = optimize.train(objective, config)
    assert [row.lr for row in result.history] == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]
    assert [row.epoch for row in result.history][:3] == [0.5, 1.0, 1.5]


def test_sgd_steps_on_one_example_at_a_time():
    data = tiny_data(6)
    objective = softmax_objective(data)
    result = optimize.train(objective, optimize.TrainConfig(steps=6, lr=0.01, batch_size=1, seed=4))
    order = np.random.default_rng(4).permutation(6)
    params = objective.initial_params()
    for step, row in enumerate(order):  # the same seed gives the same shuffle
        loss, grads = objective.loss_and_grads(params, np.array([row]))
        assert result.history[step].batch_loss == pytest.approx(loss, rel=1e-14)
        params = {id: params[id] - 0.01 * grads[id] for id in params}
    for id in params:
        np.testing.assert_allclose(result.params[id], params[id], rtol=1e-14)


def test_divergence_stops_at_the_step_and_keeps_finite_parameters():
    objective = softmax_objective()
    result = optimize.train(objective, optimize.TrainConfig(steps=50, lr=1e300))
    assert result.diverged_at is not None and result.diverged_at <= 3
    assert len(result.history) == result.diverged_at
    assert all(np.all(np.isfinite(p)) for p in result.params.values())
    assert "not finite" in result.diverged_what or "loss is" in result.diverged_what


def test_training_settings_are_checked():
    for bad in (
        optimize.TrainConfig(steps=0),
        optimize.TrainConfig(lr=0),
        optimize.TrainConfig(lr=float("nan")),
        optimize.TrainConfig(batch_size=0),
        optimize.TrainConfig(momentum=1.0),
        optimize.TrainConfig(nesterov=True),
        optimize.TrainConfig(lr_decay=0),
    ):
        with pytest.raises(GraphdiffError):
            optimize.train(softmax_objective(), bad)


def test_progress_bar_shows_loss_and_accuracy(capsys, monkeypatch):
    monkeypatch.setattr("graphdiff.optimize.progress.MIN_INTERVAL", 0)
    optimize.train(softmax_objective(), optimize.TrainConfig(steps=30, lr=0.1, eval_every=1), progress=True)
    err = capsys.readouterr().err
    assert "train" in err and "loss" in err and "acc" in err


# --- the examples' outcomes on reduced budgets ------------------------------------------------------


def test_spiral_two_layer_net_reaches_95_percent_like_the_case_study():
    objective = optimize.Objective(example("spiral_two_layer"), optimize.spiral())
    result = optimize.train(objective, optimize.TrainConfig(steps=2000, lr=1.0))
    assert result.initial.accuracy < 0.5  # chance is a third
    assert result.final.accuracy >= 0.95  # the case study reports about 98% after 10,000 steps
    assert result.final.loss < 0.3  # and a loss of about 0.25


@pytest.mark.parametrize(
    ("name", "config", "start", "accuracy"),
    [
        ("digits_svm", optimize.TrainConfig(steps=300, lr=0.1), 9.0, 0.93),
        ("digits_svm", optimize.TrainConfig(steps=300, lr=0.1, batch_size=64), 9.0, 0.93),
        (
            "digits_softmax",
            optimize.TrainConfig(steps=300, lr=0.05, batch_size=64, momentum=0.9),
            2.303,
            0.93,
        ),
        ("digits_softmax", optimize.TrainConfig(steps=1000, lr=0.05, batch_size=1), 2.303, 0.88),
    ],
)
def test_linear_classifiers_learn_the_digits(digits_split, name, config, start, accuracy):
    objective = optimize.Objective(example(name), *digits_split)
    result = optimize.train(objective, config)
    assert result.initial.loss == pytest.approx(start, abs=0.01)  # 9 margins of ~1, or log(10)
    assert result.final.loss < result.initial.loss / 3
    assert result.final_val.accuracy >= accuracy  # held-out images
    evaluated = [row.train_loss for row in result.history if row.train_loss is not None]
    assert evaluated[-1] < evaluated[0]


def test_gradient_descent_beats_local_search_beats_random_search(svm):
    comparison = optimize.compare(svm, 300, config=optimize.TrainConfig(lr=0.1))
    random, local, descent = (o.final.loss for o in comparison.outcomes)
    assert random > local > descent
    accuracies = [o.final_val.accuracy for o in comparison.outcomes]
    assert accuracies == sorted(accuracies)
    table = comparison.table()
    assert "random local search" in table and table.count("\n") == 4


# --- the search strategies --------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["random", "local"])
def test_search_keeps_the_best_and_is_seeded(strategy):
    objective = softmax_objective()
    found = optimize.search(objective, strategy, evals=40, scale=0.5, step_size=0.05, seed=1)
    assert np.all(np.diff(found.best_losses) <= 0)
    assert found.best_losses[-1] == found.losses.min()
    assert objective.loss(found.params) == found.best_losses[-1]
    again = optimize.search(objective, strategy, evals=40, scale=0.5, step_size=0.05, seed=1)
    np.testing.assert_array_equal(again.losses, found.losses)


def test_random_search_draws_independent_settings_and_local_search_moves_from_the_start():
    objective = softmax_objective()
    start = objective.initial_params()
    random = optimize.search(objective, "random", evals=1, scale=1e-9, seed=0)
    assert np.abs(random.params["W"]).max() < 1e-7  # drawn around zero, not around the start
    local = optimize.search(objective, "local", evals=1, step_size=1e-9, seed=0)
    np.testing.assert_allclose(local.params["W"], start["W"], atol=1e-7)


# --- the step-size sweep ----------------------------------------------------------------------------


def test_small_steps_lower_the_loss_at_the_rate_of_the_gradient_norm():
    """First order: L(W - s g) = L(W) - s |g|^2 + O(s^2), so the sweep agrees with the gradient."""
    objective = softmax_objective()
    sweep = optimize.step_size_sweep(objective, [1e-7, 1e-6])
    slopes = (sweep.original_loss - sweep.losses) / sweep.step_sizes
    np.testing.assert_allclose(slopes, sweep.gradient_norm**2, rtol=1e-4)


def test_sweep_falls_then_explodes(svm):
    sweep = optimize.step_size_sweep(svm, [10.0**e for e in range(-6, 5)])
    best = sweep.best_step_size
    assert 0.1 <= best <= 10
    index = int(np.argmin(sweep.losses))
    assert np.all(np.diff(sweep.losses[: index + 1]) <= 0)  # falling
    assert np.all(np.diff(sweep.losses[index:]) > 0)  # then rising
    assert sweep.losses[-1] > 100 * sweep.original_loss  # exploding
    lines = sweep.table().splitlines()
    assert lines[0] == f"original loss: {sweep.original_loss:f}"
    assert lines[1].startswith("for step size 1.000000e-06 new loss: ")


def test_default_sweep_is_the_notes_table():
    sweep = optimize.step_size_sweep(softmax_objective())
    assert sweep.step_sizes.tolist() == [10.0**e for e in range(-10, 0)]
    with pytest.raises(GraphdiffError):
        optimize.step_size_sweep(softmax_objective(), [0.0])


# --- the landscape ----------------------------------------------------------------------------------


def test_ray_and_plane_evaluate_the_loss_at_each_grid_point():
    objective = softmax_objective()
    center = objective.initial_params()
    ray = optimize.loss_landscape(objective, ["W"], points=5, span=(-2, 2), seed=3)
    assert ray.losses.shape == (5,) and ray.b is None
    assert ray.losses[2] == ray.center_loss == objective.loss(center)
    moved = dict(center, W=center["W"] + 1.0 * ray.directions[0]["W"])
    assert ray.losses[3] == pytest.approx(objective.loss(moved), rel=1e-14)
    plane = optimize.loss_landscape(objective, plane=True, points=4, span=(-1, 1), seed=3)
    assert plane.losses.shape == (4, 4) and set(plane.directions[1]) == {"W", "b"}
    a, b = plane.a[1], plane.b[3]
    moved = {id: center[id] + a * plane.directions[0][id] + b * plane.directions[1][id] for id in center}
    assert plane.losses[1, 3] == pytest.approx(objective.loss(moved), rel=1e-14)


def test_svm_loss_is_piecewise_linear_along_a_ray(digits_split):
    """One example's hinge loss along a ray is a sum of clamped linear functions: its second differences
    vanish except at a few kinks (at most 9 hinges, one per wrong class)."""
    one = digits_split[0].take(np.array([0]))
    objective = optimize.Objective(example("digits_svm"), one, loss="data_loss")
    ray = optimize.loss_landscape(objective, ["W"], points=201, span=(-1, 1), seed=0)
    second = np.abs(np.diff(ray.losses, 2))
    assert np.sum(second > 1e-9) <= 2 * 9
    assert np.all(ray.losses >= 0)


def test_normalized_directions_have_each_parameters_norm():
    objective = softmax_objective()
    center = objective.initial_params()
    ray = optimize.loss_landscape(objective, points=3, normalize=True)
    for id in ("W", "b"):
        assert np.linalg.norm(ray.directions[0][id]) == pytest.approx(np.linalg.norm(center[id]))


def test_given_directions_are_checked_and_used():
    objective = softmax_objective()
    direction = {"W": np.ones((2, 3))}
    ray = optimize.loss_landscape(objective, ["W"], points=3, directions=[direction])
    np.testing.assert_array_equal(ray.directions[0]["W"], direction["W"])
    with pytest.raises(GraphdiffError, match="shape"):
        optimize.loss_landscape(objective, ["W"], directions=[{"W": np.ones(3)}])
    with pytest.raises(GraphdiffError, match="needs 2"):
        optimize.loss_landscape(objective, ["W"], plane=True, directions=[direction])
    with pytest.raises(GraphdiffError, match="not a parameter"):
        optimize.loss_landscape(objective, ["X"])


# --- pictures and files -----------------------------------------------------------------------------


def test_every_plot_is_a_png_even_with_non_finite_values():
    objective = softmax_objective()
    trained = optimize.train(objective, optimize.TrainConfig(steps=20, lr=0.1, batch_size=4))
    sweep = optimize.step_size_sweep(objective, [1e-3, 1e300])  # the second overflows
    assert not np.isfinite(sweep.losses[-1]) or sweep.losses[-1] > 1e100
    plane = optimize.loss_landscape(objective, plane=True, points=3)
    comparison = optimize.compare(objective, 10)
    for png in (
        plots.loss_curve_png(trained, "t"),
        plots.sweep_png(sweep, "t"),
        plots.landscape_png(plane, "t"),
        plots.landscape_png(optimize.loss_landscape(objective, points=3), "t"),
        plots.comparison_png(comparison, "t"),
    ):
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_trained_spec_reads_its_parameters_and_rebases_array_files(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((4, 2)))
    text = (EXAMPLES / "softmax_classifier.json").read_text()
    text = text.replace(
        '"value": [[1.0, 0.0], [0.5, -1.0], [-1.5, 2.0], [2.0, 0.5]]', '"value": {"file": "X.npy"}'
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "spec.json").write_text(text)
    graph = gd.load(tmp_path / "spec.json")
    objective = optimize.Objective(graph)
    params = {id: v + 1 for id, v in objective.initial_params().items()}
    out = tmp_path / "trained.json"
    spec = trained_spec(graph.checked, "trained.npz", out, "trained.")
    assert spec.description.endswith("trained.")
    write_all(
        {
            tmp_path / "trained.npz": npz_bytes(params),
            out: dump_spec(spec),
        },
        overwrite=False,
    )
    reloaded = gd.load(out)
    np.testing.assert_array_equal(reloaded.checked.leaf_values["W"], params["W"])
    with pytest.raises(GraphdiffError, match="outside"):
        trained_spec(graph.checked, "t.npz", tmp_path / "sub" / "t.json", "")
    (tmp_path / "sub" / "spec.json").write_text(text)
    np.save(tmp_path / "sub" / "X.npy", np.zeros((4, 2)))
    inner = gd.load(tmp_path / "sub" / "spec.json")
    rebased = trained_spec(inner.checked, "t.npz", tmp_path / "t.json", "")
    assert next(leaf for leaf in rebased.leaves if leaf.id == "X").value.file == "sub/X.npy"


def test_csv_keeps_full_precision_and_empty_cells():
    text = csv_text(["a", "b"], [[0.1 + 0.2, None], [1, 2.5]])
    assert text == "a,b\n0.30000000000000004,\n1,2.5\n"


def test_landscape_grid_files(tmp_path):
    plane = optimize.loss_landscape(softmax_objective(), plane=True, points=3)
    rows = landscape_grid(plane, Path("g.csv")).splitlines()
    assert rows[0] == "a,b,loss" and len(rows) == 10
    (tmp_path / "g.npz").write_bytes(landscape_grid(plane, Path("g.npz")))
    with np.load(tmp_path / "g.npz") as grid:
        assert grid["loss"].shape == (3, 3) and "direction2/W" in grid.files


def test_ctrl_c_while_files_are_moved_into_place_is_held_until_every_one_is(tmp_path, monkeypatch):
    files = {tmp_path / f"f{i}.txt": f"new {i}" for i in range(3)}
    real = os.replace

    def replace(source, target):
        if Path(target).name == "f0.txt":
            # arrives while the first file is being moved (sent to the main thread: see test_lab_cli)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return real(source, target)

    monkeypatch.setattr(fileio.os, "replace", replace)
    original = signal.getsignal(signal.SIGINT)
    with pytest.raises(fileio.InterruptedAfterWriting):
        write_all(files, overwrite=True)
    monkeypatch.undo()
    assert [p.read_text() for p in files] == ["new 0", "new 1", "new 2"]
    assert signal.getsignal(signal.SIGINT) is original
    assert sorted(os.listdir(tmp_path)) == ["f0.txt", "f1.txt", "f2.txt"]


def test_a_failure_before_the_moves_replaces_no_file(tmp_path, monkeypatch):
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_text("old")
    real = fileio._write_temporary

    def write(target, data):
        if target.name == "f2.txt":
            raise KeyboardInterrupt
        return real(target, data)

    monkeypatch.setattr(fileio, "_write_temporary", write)
    with pytest.raises(KeyboardInterrupt):
        write_all({tmp_path / f"f{i}.txt": "new" for i in range(3)}, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["f0.txt", "f1.txt", "f2.txt"]  # no temporary file left
    assert {p.read_text() for p in tmp_path.iterdir()} == {"old"}
