"""Data fed to a graph's inputs outside training: ``--data``/``--bind``/``--limit``/``--row`` on ``run``,
``grad``, ``check`` and ``render``, the library function behind them
(:func:`graphdiff.optimize.data.feeds_for`), the "missing feed" message, and ``Result._repr_html_``.

The lab's examples are run as shipped, on a few examples each so the suite stays quick. Their gradient
checks pass where no example sits within the finite-difference step of a ReLU kink; where one does (the
spiral's innermost points, the digits' blank pixels under the CNN's zero conv bias), centered differences
disagree with any subgradient, and the tests say so.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_no_traceback, call, problem_lines, run_cli, snapshot

import graphdiff as gd
from graphdiff import optimize
from graphdiff.api import MAX_HTML_CELL, MAX_HTML_ROWS
from graphdiff.cli import main
from graphdiff.errors import FeedError, GraphdiffError
from graphdiff.optimize.data import Dataset, feeds_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPIRAL = str(EXAMPLES / "spiral_two_layer.json")
DIGITS_SVM = str(EXAMPLES / "digits_svm.json")
DIGITS_SOFTMAX = str(EXAMPLES / "digits_softmax.json")
DIGITS_CNN = str(EXAMPLES / "digits_cnn.json")
CIRCUIT = str(EXAMPLES / "cs231n_circuit.json")

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="the digits dataset needs scikit-learn"
)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="SVG needs Graphviz's dot")

#: (spec, --data, options choosing a few examples) for each lab example.
LAB_EXAMPLES = [
    pytest.param(SPIRAL, "spiral", ["--limit", "5"], id="spiral_two_layer"),
    pytest.param(DIGITS_SVM, "digits", ["--limit", "20"], marks=needs_sklearn, id="digits_svm"),
    pytest.param(DIGITS_SOFTMAX, "digits", ["--limit", "10"], marks=needs_sklearn, id="digits_softmax"),
    pytest.param(DIGITS_CNN, "digits", ["--limit", "4"], marks=needs_sklearn, id="digits_cnn"),
]


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line(err: str, *needles: str) -> str:
    """The one problem line of stderr, without a traceback, holding each needle."""
    assert "Traceback" not in err
    lines = problem_lines(err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def spiral_rows(rows: list[int]) -> dict[str, np.ndarray]:
    data = optimize.spiral()
    return {"X": data.arrays["X"][rows], "y": data.arrays["y"][rows]}


# --- the lab's examples, as shipped -------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "data", "few"), LAB_EXAMPLES)
def test_run_with_data_prints_the_outputs_and_what_the_data_fed(spec, data, few, folder, capsys):
    code, out, err = call(capsys, "run", spec, "--data", data, *few)
    assert code == 0, err
    assert out.splitlines()[0] == f"data: {data} ({few[1]} examples): X, y"
    assert re.search(r"^loss = \d", out, re.MULTILINE), out


@pytest.mark.parametrize(("spec", "data", "few"), LAB_EXAMPLES)
def test_grad_with_data_matches_the_objective_on_the_same_examples(spec, data, few, folder, capsys):
    code, out, err = call(capsys, "grad", spec, "--data", data, *few, "--save", "grads.npz")
    assert code == 0, err
    graph = gd.load(spec)
    chosen = optimize.load_dataset(data).sample(int(few[1]), seed=0)
    objective = optimize.Objective(graph, chosen)
    loss, grads = objective.loss_and_grads(objective.initial_params())
    with np.load(folder / "grads.npz") as saved:
        assert float(saved[f"value/{graph.loss}"]) == pytest.approx(loss, rel=1e-12)
        for id, grad in grads.items():
            np.testing.assert_allclose(saved[f"grad/{id}"], grad, rtol=1e-10, atol=1e-14)
        assert saved["value/X"].shape[0] == int(few[1])


@pytest.mark.parametrize(
    ("spec", "data", "few"),
    [
        # One example from each arm, away from the centre: every hidden pre-activation is far from
        # the ReLU's kink compared with h (the innermost points have some within 1e-5 of it).
        pytest.param(
            SPIRAL, "spiral", ["--row", "60", "--row", "160", "--row", "260"], id="spiral_two_layer"
        ),
        pytest.param(DIGITS_SVM, "digits", ["--limit", "20"], marks=needs_sklearn, id="digits_svm"),
        pytest.param(DIGITS_SOFTMAX, "digits", ["--limit", "10"], marks=needs_sklearn, id="digits_softmax"),
        # The CNN's parameters after its first ReLU: blank pixels put conv1's pre-activations exactly on
        # the kink (its bias starts at 0), which only conv1/b and the pixels themselves feel.
        pytest.param(
            DIGITS_CNN,
            "digits",
            ["--limit", "4", "--wrt", "conv2/W", "--wrt", "fc/W", "--wrt", "fc/b"],
            marks=needs_sklearn,
            id="digits_cnn",
        ),
    ],
)
def test_check_with_data_passes_on_the_lab_examples(spec, data, few, folder, capsys):
    code, out, err = call(capsys, "check", spec, "--data", data, *few)
    assert code == 0, out + err
    assert "gradient check passed" in out


@needs_sklearn
def test_check_of_the_whole_cnn_on_digits_passes_counting_the_coordinates_at_a_kink(folder, capsys):
    """Blank pixels with conv1/b at 0 put conv1's pre-activations exactly on relu's kink, where no difference
    of f can check a gradient: the check says so and counts them, and passes on every other coordinate."""
    graph = gd.load(DIGITS_CNN)
    result = graph.forward(feeds_for(graph, optimize.digits().sample(4, seed=0)))
    assert np.any(result.value("conv1/conv") == 0.0)  # blank pixels, bias 0: exactly on the kink
    code, out, err = call(capsys, "check", DIGITS_CNN, "--data", "digits", "--limit", "4")
    assert code == 0, out + err
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.split()}
    assert "at a kink)" in rows["X"] and "at a kink)" in rows["conv1/b"]
    assert "within h of a kink" in out


def test_check_of_the_whole_spiral_fails_near_kinks_and_says_to_check_fewer_examples(folder, capsys):
    code, out, _ = call(capsys, "check", SPIRAL, "--data", "spiral", "--wrt", "b1")
    assert code == 1
    assert "check fewer examples at a time (--limit, --row)" in out
    code, out, err = call(capsys, "check", SPIRAL, "--data", "spiral", "--limit", "5")
    assert code == 0, out + err


@needs_dot
@pytest.mark.parametrize(("spec", "data", "few"), LAB_EXAMPLES)
def test_render_with_data_draws_what_feeding_those_examples_draws(spec, data, few, folder, capsys):
    code, out, err = call(capsys, "render", spec, "--data", data, *few, "-o", "data.svg")
    assert code == 0, err
    assert out.splitlines() == [f"data: {data} ({few[1]} examples): X, y", "wrote data.svg"]
    chosen = optimize.load_dataset(data).sample(int(few[1]), seed=0)
    np.savez(folder / "rows.npz", **chosen.arrays)
    code, _, err = call(
        capsys, "render", spec, "--feed", "X=rows.npz:X", "--feed", "y=rows.npz:y", "-o", "fed.svg"
    )
    assert code == 0, err
    svg = (folder / "data.svg").read_bytes()
    assert b"<svg" in svg
    assert svg == (folder / "fed.svg").read_bytes()


def test_render_with_one_row_draws_that_example(folder, capsys):
    code, _, err = call(capsys, "render", SPIRAL, "--data", "spiral", "--row", "150", "-o", "row.dot")
    assert code == 0, err
    row = spiral_rows([150])
    feeds = ["--feed", f"X={json.dumps(row['X'].tolist())}", "--feed", f"y={json.dumps(row['y'].tolist())}"]
    code, _, err = call(capsys, "render", SPIRAL, *feeds, "-o", "fed.dot")
    assert code == 0, err
    assert (folder / "row.dot").read_text() == (folder / "fed.dot").read_text()


def test_run_json_with_data_prints_json_only(folder, capsys):
    code, out, err = call(capsys, "run", SPIRAL, "--data", "spiral", "--row", "7", "--json")
    assert code == 0, err
    outputs = json.loads(out)
    graph = gd.load(SPIRAL)
    expected = graph.forward(spiral_rows([7])).outputs
    np.testing.assert_allclose(outputs["scores"], expected["scores"], rtol=1e-12)


def test_rows_are_fed_in_the_order_given(folder, capsys):
    code, out, err = call(
        capsys, "grad", SPIRAL, "--data", "spiral", "--row", "250", "--row", "3", "--save", "g.npz"
    )
    assert code == 0, err
    assert out.splitlines()[0] == "data: spiral, rows 250, 3: X, y"
    with np.load(folder / "g.npz") as saved:
        np.testing.assert_array_equal(saved["value/X"], spiral_rows([250, 3])["X"])


def test_limit_draws_other_examples_with_another_seed(folder, capsys):
    def chosen(seed: str) -> np.ndarray:
        code, _, err = call(capsys, "grad", SPIRAL, "--data", "spiral", "--limit", "4", "--seed", seed,
                            "--save", f"g{seed}.npz")  # fmt: skip
        assert code == 0, err
        with np.load(folder / f"g{seed}.npz") as saved:
            return saved["value/X"]

    first = chosen("1")
    np.testing.assert_array_equal(first, optimize.spiral().sample(4, seed=1).arrays["X"])
    assert not np.array_equal(first, chosen("2"))


# --- --bind and --feed with --data ----------------------------------------------------------------------


def write_features(folder: Path, *, labels: bool = True) -> None:
    data = optimize.spiral()
    arrays = {"features": data.arrays["X"]}
    if labels:
        arrays["labels"] = data.arrays["y"]
    np.savez(folder / "features.npz", **arrays)


def test_bind_feeds_inputs_from_arrays_of_other_names(folder, capsys):
    write_features(folder)
    code, out, err = call(capsys, "run", SPIRAL, "--data", "features.npz", "--bind", "X=features",
                          "--bind", "y=labels", "--row", "5")  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "data: features.npz, row 5: features -> X, labels -> y"
    expected = gd.load(SPIRAL).forward(spiral_rows([5])).outputs["loss"]
    assert f"loss = {float(expected):.6g}" in out


def test_a_feed_wins_over_the_data_for_its_input(folder, capsys):
    code, out, err = call(capsys, "grad", SPIRAL, "--data", "spiral", "--row", "5", "--feed", "y=[2]",
                          "--save", "g.npz")  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "data: spiral, row 5: X (y from --feed instead)"
    with np.load(folder / "g.npz") as saved:
        assert saved["value/y"].tolist() == [2]
        np.testing.assert_array_equal(saved["value/X"], spiral_rows([5])["X"])


def test_a_feed_fills_the_input_the_data_lacks(folder, capsys):
    write_features(folder, labels=False)
    code, _, err = call(capsys, "run", SPIRAL, "--data", "features.npz", "--bind", "X=features",
                        "--row", "0", "--row", "1", "--feed", "y=[0,1]")  # fmt: skip
    assert code == 0, err


BAD = {
    "bind-without-data": (["--bind", "X=X"], ["--bind: needs --data"]),
    "limit-without-data": (["--limit", "3"], ["--limit: needs --data"]),
    "row-without-data": (["--row", "3"], ["--row: needs --data"]),
    "row-and-limit": (["--data", "spiral", "--row", "3", "--limit", "3"], ["--row", "not both"]),
    "row-out-of-range": (
        ["--data", "spiral", "--row", "300"],
        ["spiral: row 300: no such example", "0 to 299"],
    ),
    "row-negative": (["--data", "spiral", "--row", "-1"], ["row -1", "no such example"]),
    "row-huge": (["--data", "spiral", "--row", str(2**64)], ["no such example"]),
    "limit-0": (["--data", "spiral", "--limit", "0"], ["--limit: must be between 1 and the 300 examples"]),
    "limit-too-many": (["--data", "spiral", "--limit", "301"], ["--limit", "300 examples of spiral"]),
    "bind-no-equals": (["--data", "spiral", "--bind", "X"], ["--bind X: expected INPUT=ARRAY"]),
    "bind-not-an-input": (["--data", "spiral", "--bind", "W1=X"], ["bind W1=X: not an input"]),
    "bind-no-such-array": (["--data", "spiral", "--bind", "X=nope"], ['no array "nope"', "X, y"]),
    "feed-and-bind": (["--data", "spiral", "--feed", "X=[[1,2]]", "--bind", "X=X"], ['"X"', "give one"]),
    "unknown-data": (["--data", "nosuch"], ["--data nosuch", '"spiral" or "digits"']),
    "missing-npz": (["--data", "missing.npz"], ["missing.npz", "no such file"]),
    "feed-disagrees-with-data": (
        ["--data", "spiral", "--row", "1", "--feed", "y=[0,1]"],
        ['feed "y"', "does not match", 'N = 1 (from "X")'],
    ),
    "no-array-for-an-input": (
        ["--data", "features.npz", "--bind", "X=features"],
        ['input "y": missing', "features.npz", "--bind y=ARRAY"],
    ),
}


@pytest.mark.parametrize("command", ["run", "grad", "check", "render"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_options_are_one_line_exit_2_and_write_nothing(command, case, folder, capsys):
    write_features(folder, labels=False)
    args, needles = BAD[case]
    output = ["-o", "net.dot"] if command == "render" else ["--save", "g.npz"] if command == "grad" else []
    before = snapshot(folder)
    code, out, err = call(capsys, command, SPIRAL, *args, *output)
    assert code == 2, out + err
    one_line(err, *needles)
    assert out == ""
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    ("spec", "data", "needles"),
    [
        (
            SPIRAL,
            "wrong.npz",
            ['input "X" (array "X" of wrong.npz)', "(5, 3) does not match the declared (N, 2)"],
        ),
        (SPIRAL, "floats.npz", ['input "y" (array "y" of floats.npz)', "int64"]),
        (CIRCUIT, "spiral", ['input "y" (array "y" of spiral)', "shape (300,)", "declared ()"]),
    ],
)
def test_data_that_does_not_fit_names_the_input_and_the_array(spec, data, needles, folder, capsys):
    np.savez(folder / "wrong.npz", X=np.zeros((5, 3)), y=np.zeros(5, dtype=np.int64))
    np.savez(folder / "floats.npz", X=np.zeros((5, 2)), y=np.full(5, 0.5))
    code, out, err = call(capsys, "run", spec, "--data", data)
    assert code == 2
    one_line(err, *needles)


def test_a_check_over_its_budget_with_data_prints_nothing_on_stdout(folder, capsys):
    code, out, err = call(capsys, "check", SPIRAL, "--data", "spiral", "--max-evaluations", "10")
    assert code == 2
    one_line(err, "more than the cap of 10 loss evaluations")
    assert out == ""  # not even the data line: no work was done


def test_bad_data_options_in_a_real_process_print_no_traceback(folder):
    proc = run_cli("render", SPIRAL, "--data", "spiral", "--row", "999", "-o", "net.svg", cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert len(problem_lines(proc.stderr)) == 1
    assert not (folder / "net.svg").exists()


def test_every_graph_command_documents_the_data_options(capsys):
    for command in ("run", "grad", "check", "render"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        for option in ("--data SOURCE", "--bind INPUT=ARRAY", "--limit N", "--row I", "--seed"):
            assert option in out, (command, option)
        assert "instead of" in out  # what --feed does with --data


# --- feeds_for ------------------------------------------------------------------------------------------


def test_feeds_for_feeds_every_example_to_the_inputs_of_the_same_names():
    graph = gd.load(SPIRAL)
    data = optimize.spiral()
    feeds = feeds_for(graph, data)
    assert set(feeds) == {"X", "y"}
    np.testing.assert_array_equal(feeds["X"], data.arrays["X"])
    assert feeds["y"].dtype == np.int64 and feeds["X"].dtype == np.float64
    objective = optimize.Objective(graph, data)
    assert graph.run(feeds).loss == pytest.approx(objective.loss(objective.initial_params()), rel=1e-12)


def test_feeds_for_one_row_is_that_example_alone():
    graph = gd.load(SPIRAL)
    feeds = feeds_for(graph, optimize.spiral(), rows=[42])
    assert feeds["X"].shape == (1, 2)
    np.testing.assert_array_equal(feeds["X"], spiral_rows([42])["X"])
    np.testing.assert_array_equal(feeds["y"], spiral_rows([42])["y"])
    np.testing.assert_array_equal(feeds_for(graph, optimize.spiral(), rows=np.array([42]))["X"], feeds["X"])


def test_feeds_for_binds_and_casts_to_the_inputs_dtype():
    g = gd.Graph("t")
    x = g.input("x", shape=["N", 2], dtype="float32")
    g.set_loss(gd.sum(x * x, id="L"))
    data = Dataset("d", {"features": np.arange(6.0).reshape(3, 2), "other": np.zeros(3)})
    feeds = feeds_for(g, data, bind={"x": "features"}, rows=[2, 0])
    assert list(feeds) == ["x"]
    assert feeds["x"].dtype == np.float32
    np.testing.assert_array_equal(feeds["x"], [[4.0, 5.0], [0.0, 1.0]])
    assert float(g.run(feeds).loss) == 16 + 25 + 0 + 1
    assert list(feeds_for(g.checked, data, bind={"x": "features"})) == ["x"]  # a checked graph too


def test_feeds_for_leaves_inputs_with_defaults_alone():
    g = gd.Graph("t")
    x = g.input("x", shape=["N"])
    scale = g.input("scale", value=2.0)
    g.set_loss(gd.sum(x * scale, id="L"))
    feeds = feeds_for(g, Dataset("d", {"x": np.array([1.0, 2.0])}))
    assert list(feeds) == ["x"]
    assert float(g.run(feeds).loss) == 6.0


def test_feeds_for_lets_explicit_feeds_win_and_checks_them_with_the_data():
    graph = gd.load(SPIRAL)
    feeds = feeds_for(graph, optimize.spiral(), rows=[0, 1], feeds={"y": [2, 2]})
    assert feeds["y"].tolist() == [2, 2] and feeds["y"].dtype == np.int64
    with pytest.raises(FeedError, match=r'feed "y": shape \(3,\) does not match .* N = 2 \(from "X"\)'):
        feeds_for(graph, optimize.spiral(), rows=[0, 1], feeds={"y": [2, 2, 2]})
    with pytest.raises(FeedError, match='both fed and bound to the array "y"'):
        feeds_for(graph, optimize.spiral(), bind={"y": "y"}, feeds={"y": [2]})


@pytest.mark.parametrize(
    ("data", "kwargs", "pattern"),
    [
        (
            {"X": np.zeros((4, 3)), "y": np.zeros(4, np.int64)},
            {},
            r'input "X" \(array "X" of d\): shape \(4, 3\)',
        ),
        ({"X": np.zeros((4, 2)), "y": np.full(4, 0.5)}, {}, r'input "y" \(array "y" of d\): .*int64'),
        ({"X": np.zeros((4, 2))}, {}, r'input "y": missing: no array of d \(X\) feeds it'),
        (
            {"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)},
            {"bind": {"y": "labels"}},
            r'no array "labels"',
        ),
        ({"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)}, {"bind": {"W1": "X"}}, r"W1=X: not an input"),
        ({"features": np.zeros((4, 2))}, {}, r"no array of d \(features\) is named like an input"),
        (
            {"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)},
            {"rows": [4]},
            r"row 4: no such example: d has 4",
        ),
        ({"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)}, {"rows": [True]}, r"expected example numbers"),
        ({"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)}, {"rows": [1.0]}, r"expected example numbers"),
        ({"X": np.zeros((4, 2)), "y": np.zeros(4, np.int64)}, {"rows": []}, r"no rows chosen"),
    ],
)
def test_feeds_for_refuses_what_does_not_fit_naming_the_input_and_the_array(data, kwargs, pattern):
    with pytest.raises(GraphdiffError, match=pattern) as info:
        feeds_for(gd.load(SPIRAL), Dataset("d", data), **kwargs)
    assert all("\n" not in str(p) for p in info.value.problems)


def test_dataset_sample_draws_n_examples_in_order_with_the_seed():
    data = optimize.spiral()
    sample = data.sample(5, seed=3)
    assert len(sample) == 5 and sample.name == "spiral (5 examples)"
    assert data.sample(1).name == "spiral (1 example)"
    rows = [int(np.flatnonzero((data.arrays["X"] == x).all(axis=1))[0]) for x in sample.arrays["X"]]
    assert rows == sorted(rows)
    np.testing.assert_array_equal(sample.arrays["X"], data.sample(5, seed=3).arrays["X"])
    with pytest.raises(GraphdiffError, match="between 1 and the 300 examples"):
        data.sample(0)


# --- the missing-feed message ---------------------------------------------------------------------------


def test_a_missing_feed_says_how_to_give_it_from_python_and_the_command_line():
    g = gd.Graph("t")
    z = g.input("z", shape=[2])
    g.set_loss(gd.sum(z, id="L"))
    with pytest.raises(FeedError) as info:
        g.forward()
    (line,) = [str(p) for p in info.value.problems]
    assert line == (
        'feed "z": missing: the input has no default value; give it with --feed z=VALUE or --data SOURCE '
        'on the command line, or feeds={"z": ...} in Python'
    )


def test_a_missing_feed_on_the_command_line_is_one_line(folder, capsys):
    code, out, err = call(capsys, "grad", DIGITS_SVM)
    assert code == 2 and out == ""
    one_line(err, 'feed "X": missing', "--feed X=VALUE", "--data SOURCE", 'feeds={"X": ...}')


# --- Result._repr_html_ ---------------------------------------------------------------------------------


def hostile_graph() -> gd.Graph:
    g = gd.Graph("<i>net</i> & co")
    x = g.input("<b>x</b>", value=[1.0, -2.0])
    w = g.parameter("w\"'><script>", value=[3.0, 0.5])
    g.set_loss(gd.sum(x * w, id="L<&>"))
    return g


def test_result_html_is_a_value_and_gradient_table_with_every_name_escaped():
    result = hostile_graph().run()
    page = result._repr_html_()
    assert page.startswith("<style>.graphdiff-result") and page.rstrip().endswith("</table>")
    for raw in ("<b>x</b>", "<i>net</i>", "<script>", "L<&>"):
        assert raw not in page
    for escaped in (
        "&lt;b&gt;x&lt;/b&gt;",
        "&lt;i&gt;net&lt;/i&gt; &amp; co",
        "&lt;script&gt;",
        "L&lt;&amp;&gt;",
    ):
        assert escaped in page
    assert "&quot;" in page and "&#x27;" in page  # quotes too, so no attribute can be closed
    header = re.findall(r"<th\b[^>]*>(.*?)</th>", page)
    assert header == ["id", "kind", "shape", "value", "dL&lt;&amp;&gt;/d(id)"]
    rows = re.findall(r"<tr>(.*?)</tr>", page)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    by_id = {row[0]: row for row in cells}
    assert by_id["&lt;b&gt;x&lt;/b&gt;"][3:] == ["[ 1., -2.]", "[3. , 0.5]"]  # value, then dL/dx = w
    assert "loss 2" in page  # 1 * 3 + (-2) * 0.5
    assert by_id["L&lt;&amp;&gt; (loss)"][4] == "1"


def test_result_html_before_backward_says_there_are_no_gradients():
    g = hostile_graph()
    page = g.forward()._repr_html_()
    assert "forward only" in page
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", page)[1:]]
    assert {row[4] for row in cells} == {"-"}


def test_result_html_summarises_big_tensors_and_caps_its_size():
    g = gd.Graph("big")
    x = g.input("x", value=np.arange(10_000.0).reshape(100, 100))
    h = x
    for i in range(1000):
        h = gd.tanh(h, id=f"layer{i}/" + "t" * 200)  # many rows, long ids
    g.set_loss(gd.sum(h, id="L"))
    page = g.run()._repr_html_()
    first = re.findall(r"<td[^>]*>(.*?)</td>", re.findall(r"<tr>(.*?)</tr>", page)[1])
    assert first[0] == "x"
    assert first[3] == "(100, 100) float64: min 0 mean 4999.5 max 9999, norm 577307"  # not a dump
    assert page.count("<tr>") == 1 + MAX_HTML_ROWS
    assert "more rows" in page
    longest = max(len(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", page))
    assert longest <= MAX_HTML_CELL + 10  # escaping may lengthen a cut cell a little
    assert len(page) < 60_000


# --- the landscape's wording ----------------------------------------------------------------------------


def test_landscape_help_names_its_directions_d1_and_d2_not_w1(capsys):
    with pytest.raises(SystemExit):
        main(["landscape", "--help"])
    out = capsys.readouterr().out
    assert "L(W + a d1 + b d2)" in out and "d1" in out
    assert "W1" not in out and "W2" not in out
