"""The ``graphdiff`` command line: help, demo, schema, validate, run with feeds, grad --save, check,
--check-finite, and clean failures (exit code 2, ``file: place: message``, no traceback) for bad input.

Commands whose process behaviour matters (output, exit code, no traceback) run in a subprocess; the many
bad-feed cases run ``graphdiff.cli.main`` in-process, where an escaping exception fails the test just as
a traceback would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    assert_no_traceback,
    call,
    circuit_spec,
    classifier_spec,
    log_spec,
    problem_lines,
    run_cli,
    scalar_circuit_spec,
    snapshot,
    write_spec,
)

import graphdiff as gd
from graphdiff.cli import build_parser, main


def command_names() -> list[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(commands.choices)


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """tmp_path as the working directory, holding circuit.json, classifier.json and logs.json."""
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, "circuit.json", circuit_spec())
    write_spec(tmp_path, "classifier.json", classifier_spec())
    write_spec(tmp_path, "logs.json", log_spec())
    return tmp_path


# --- help, demo, schema ---------------------------------------------------------------------------------


def test_the_parser_has_the_documented_commands():
    assert command_names() == [
        "check",
        "compare",
        "demo",
        "export",
        "grad",
        "import",
        "landscape",
        "ops",
        "plan",
        "render",
        "run",
        "schema",
        "search",
        "serve",
        "sweep",
        "train",
        "validate",
    ]


@pytest.mark.parametrize(
    "command", [[], *([name] for name in command_names())], ids=lambda c: c[0] if c else "top"
)
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert "usage: graphdiff" in out


def test_demo_prints_the_cs231n_values_and_gradients(tmp_path):
    proc = run_cli("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    table = proc.stdout.split("Forward values")[1].split("Numerical check")[0]
    rows = {line.split()[0]: line.split() for line in problem_lines(table)[1:]}
    assert rows["id"][-2:] == ["value", "df/d(id)"]
    assert rows["x"][-2:] == ["-2", "-4"]
    assert rows["y"][-2:] == ["5", "-4"]
    assert rows["z"][-2:] == ["-4", "3"]
    assert rows["q"][-2:] == ["3", "-4"]
    assert rows["f"][-2:] == ["-12", "1"]
    assert "gradient check passed" in proc.stdout
    # The demo draws the circuit into ./graphdiff-demo and says where.
    written = snapshot(tmp_path)
    assert "graphdiff-demo/cs231n_circuit.svg" in proc.stdout
    assert written["graphdiff-demo/cs231n_circuit.png"].startswith(b"\x89PNG")
    svg = written["graphdiff-demo/cs231n_circuit.svg"].decode()
    assert "<svg" in svg and ">&#45;12<" in svg  # Graphviz writes "-" as &#45;
    assert b"<html" in written["graphdiff-demo/steps/index.html"]


def test_schema_command_prints_the_generated_schema(capsys):
    code, out, err = call(capsys, "schema")
    assert code == 0, err
    assert json.loads(out) == gd.spec_json_schema()


def test_schema_output_option_writes_the_schema_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = call(capsys, "schema", "-o", "schema.json")
    assert code == 0
    assert out == ""
    assert json.loads((tmp_path / "schema.json").read_text()) == gd.spec_json_schema()
    assert sorted(snapshot(tmp_path)) == ["schema.json"]


# --- validate -------------------------------------------------------------------------------------------


def test_validate_reports_the_bad_file_among_several_and_exits_2(folder):
    bad = scalar_circuit_spec()
    bad["nodes"][1]["inputs"] = ["q", "w"]
    write_spec(folder, "bad.json", bad)

    proc = run_cli("validate", "circuit.json", "bad.json", "classifier.json", cwd=folder)

    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert problem_lines(proc.stderr) == ['bad.json: nodes[1] "f": input "w" is not defined']
    assert "circuit.json: ok" in proc.stdout
    assert "classifier.json: ok" in proc.stdout
    assert "bad.json: ok" not in proc.stdout


# --- run with feeds -------------------------------------------------------------------------------------


def test_run_uses_json_feeds(folder):
    proc = run_cli("run", "circuit.json", "--feed", "x=1", "--feed", "z=[1, 2, 3.5]", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    # q = 1 + 5 = 6, f = 6 z, L = 6 * 6.5
    assert problem_lines(proc.stdout) == ["f = [ 6., 12., 21.]", "L = 39"]


def test_run_feeds_from_npy_and_npz_files_and_prints_json(folder, capsys):
    np.save(folder / "z.npy", np.array([1.0, 2.0, 3.0]))
    np.savez(folder / "data.npz", z=np.array([4.0, 5.0, 6.0]), other=np.zeros(2))

    code, from_npy, _ = call(capsys, "run", "circuit.json", "--feed", "z=z.npy", "--json")
    assert code == 0
    assert json.loads(from_npy) == {"f": [3.0, 6.0, 9.0], "L": 18.0}

    code, from_npz, _ = call(capsys, "run", "circuit.json", "-f", "z=data.npz:z", "-f", "y=0", "--json")
    assert code == 0
    assert json.loads(from_npz) == {"f": [-8.0, -10.0, -12.0], "L": -30.0}


def test_run_json_output_keeps_non_finite_values_as_strings(folder, capsys):
    with np.errstate(divide="ignore"):
        code, out, _ = call(capsys, "run", "logs.json", "--json")
    assert code == 0
    assert json.loads(out) == {"L": "-inf"}


BAD_FEEDS = [
    pytest.param(
        "circuit.json",
        ["--feed", "zz=[1,2,3]"],
        'circuit.json: feed "zz": not an input of the graph; did you mean "z"?',
        id="unknown-name-with-suggestion",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "q=1", "--feed", "z=[1,2,3]"],
        'circuit.json: feed "q": not an input of the graph (it is a node',
        id="feeding-a-node",
    ),
    pytest.param(
        "classifier.json",
        ["--feed", "W=[[1,2],[1,2],[1,2]]", "--feed", "X=[[1,2,3]]", "--feed", "y=[1]"],
        'classifier.json: feed "W": is a parameter, not an input',
        id="feeding-a-parameter",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "z=[1,2]"],
        'circuit.json: feed "z": shape (2,) does not match the declared (3,)',
        id="wrong-shape",
    ),
    pytest.param(
        "classifier.json",
        ["--feed", "X=[[1,2,3]]", "--feed", "y=[0.5]"],
        'classifier.json: feed "y": the input is int64 (indices or labels); got float64 values',
        id="floats-for-int64-labels",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "z=[[1],[2,3]]"],
        'circuit.json: feed "z": not an array of numbers',
        id="ragged-list",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "z=[true, false, true]"],
        'circuit.json: feed "z": the input is a float; got booleans',
        id="booleans",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "x=1"],
        'circuit.json: feed "z": missing: the input has no default value; give it with --feed z=VALUE or '
        '--data SOURCE on the command line, or feeds={"z": ...} in Python',
        id="missing-input-without-default",
    ),
    pytest.param("circuit.json", ["--feed", "z"], "--feed z: expected NAME=VALUE", id="malformed-no-equals"),
    pytest.param(
        "circuit.json", ["--feed", "=[1,2,3]"], "--feed =[1,2,3]: expected NAME=VALUE", id="no-name"
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "z=[1,2,3]", "--feed", "z=[1,2,3]"],
        "'z' is fed twice",
        id="fed-twice",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", "z=missing.npy"],
        "--feed z=missing.npy: missing.npy: no such file",
        id="missing-npy-file",
    ),
    pytest.param(
        "circuit.json",
        ["--feed", 'z={"a": 1}'],
        "expected a number, a JSON list, or an .npy/.npz file",
        id="json-object",
    ),
    pytest.param(
        "classifier.json",
        ["--feed", "X=[[1,2,3],[1,2,3],[1,2,3],[1,2,3]]", "--feed", "y=[0,1,0,1,1]"],
        'classifier.json: feed "y": shape (5,) does not match the declared (N,) with N = 4 (from "X")',
        id="symbolic-dimension-mismatch-names-N",
    ),
]


@pytest.mark.parametrize(("spec", "args", "expected"), BAD_FEEDS)
@pytest.mark.parametrize("command", ["run", "grad", "check"])
def test_bad_feed_exits_2_naming_the_input(command, spec, args, expected, folder, capsys):
    before = snapshot(folder)
    code, out, err = call(capsys, command, spec, *args)
    assert code == 2
    assert out == ""
    assert len(problem_lines(err)) == 1, err
    assert expected in err
    assert snapshot(folder) == before


def test_bad_feeds_in_a_real_process_print_no_traceback(folder):
    proc = run_cli("run", "classifier.json", "--feed", "X=[[1,2,3]]", "--feed", "y=[0.5]", cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert problem_lines(proc.stderr) == [
        'classifier.json: feed "y": the input is int64 (indices or labels); got float64 values'
    ]


@pytest.mark.parametrize("value", ["z=[1,2,", "z=abc", "z="], ids=["truncated", "word", "empty"])
def test_feed_value_that_is_not_json_names_the_input(value, folder, capsys):
    code, _, err = call(capsys, "run", "circuit.json", "--feed", value)
    assert code == 2
    assert "--feed z=" in err or 'feed "z"' in err, err


def test_non_finite_feed_names_the_input(folder, capsys):
    code, _, err = call(capsys, "run", "circuit.json", "--feed", "x=NaN", "--feed", "z=[1,2,3]")
    assert code == 2
    assert "NaN" in err
    assert '"x"' in err or "x=NaN" in err, err


@pytest.mark.parametrize(
    ("spec", "feeds", "name"),
    [
        ("circuit.json", ["z=data.npz:nokey"], "z"),
        ("classifier.json", ["X=data.npz:X", "y=yf.npy"], "y"),
    ],
    ids=["npz-without-key", "float-npy-for-labels"],
)
def test_refused_array_file_feed_names_the_input(spec, feeds, name, folder, capsys):
    np.savez(folder / "data.npz", X=np.ones((2, 3)))
    np.save(folder / "yf.npy", np.array([0.0, 1.0]))
    code, _, err = call(capsys, "run", spec, *(arg for feed in feeds for arg in ("--feed", feed)))
    assert code == 2
    assert f"--feed {name}=" in err or f'feed "{name}"' in err, err


def test_npz_feed_errors_exit_2_naming_the_file(folder, capsys):
    np.savez(folder / "data.npz", other=np.zeros(3))
    code, _, err = call(capsys, "run", "circuit.json", "--feed", "z=data.npz:nokey")
    assert code == 2
    assert "data.npz" in err
    assert "no array 'nokey' in the file (it has: other)" in err


# --- grad --save ----------------------------------------------------------------------------------------


def expected_result(folder: Path):
    graph = gd.load(folder / "circuit.json")
    return graph.run({"z": [1.0, 2.0, 3.0]})


def test_grad_saves_values_and_gradients_as_json(folder):
    proc = run_cli("grad", "circuit.json", "--feed", "z=[1,2,3]", "--save", "out.json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "saved out.json" in proc.stdout

    saved = json.loads((folder / "out.json").read_text())
    expected = expected_result(folder)
    assert saved["graph"] == "circuit"
    assert saved["loss"] == 18.0
    assert set(saved["values"]) == {"x", "y", "z", "q", "f", "L"}
    assert set(saved["grads"]) == set(expected.grads) == {"x", "y", "z", "q", "f", "L"}
    for id, value in saved["values"].items():
        np.testing.assert_array_equal(np.array(value), expected.value(id))
    for id, grad in saved["grads"].items():
        np.testing.assert_array_equal(np.array(grad), expected.grad(id))
    assert saved["grads"]["z"] == [3.0, 3.0, 3.0]
    assert saved["grads"]["x"] == 6.0


def test_grad_saves_values_and_gradients_as_npz(folder, capsys):
    code, out, _ = call(capsys, "grad", "circuit.json", "-f", "z=[1,2,3]", "--save", "out.npz")
    assert code == 0
    assert "saved out.npz" in out

    expected = expected_result(folder)
    with np.load(folder / "out.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == sorted(
            [f"value/{i}" for i in "xyzqfL"] + [f"grad/{i}" for i in "xyzqfL"]
        )
        for id in "xyzqfL":
            np.testing.assert_array_equal(saved[f"value/{id}"], expected.value(id))
            np.testing.assert_array_equal(saved[f"grad/{id}"], expected.grad(id))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["circuit.json", "classifier.json", "logs.json", "out.npz"]
    )


def test_grad_save_with_an_unknown_suffix_exits_2_and_writes_nothing(folder, capsys):
    before = snapshot(folder)
    code, _, err = call(capsys, "grad", "circuit.json", "-f", "z=[1,2,3]", "--save", "out.txt")
    assert code == 2
    assert problem_lines(err) == ["out.txt: results are saved as .json or .npz"]
    assert snapshot(folder) == before


def test_grad_wrt_limits_the_gradients_printed(folder, capsys):
    code, out, _ = call(capsys, "grad", "circuit.json", "-f", "z=[1,2,3]", "--wrt", "z")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["z"].rstrip().endswith("[3., 3., 3.]")
    assert rows["x"].rstrip().endswith("-")  # not asked for


def test_grad_of_a_graph_without_loss_exits_2(folder, capsys):
    spec = circuit_spec()
    del spec["loss"]
    write_spec(folder, "noloss.json", spec)
    code, _, err = call(capsys, "grad", "noloss.json", "-f", "z=[1,2,3]")
    assert code == 2
    assert err.strip() == "noloss.json: loss: the graph declares no loss to differentiate"


# --- check ----------------------------------------------------------------------------------------------


def test_check_passes_on_a_correct_graph_and_prints_a_table(folder):
    proc = run_cli("check", "classifier.json", "-f", "X=[[1,2,3],[0,1,0]]", "-f", "y=[0,1]", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    lines = problem_lines(proc.stdout)
    assert lines[0].split()[:2] == ["leaf", "checked"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {"X", "W"}  # float leaves only: not the int64 labels
    assert rows["X"][1] == "6/6"
    assert rows["W"][1] == "6/6"
    assert all(row[-1] == "ok" for row in rows.values())
    assert lines[-1].startswith("gradient check passed")


def test_check_exits_1_when_a_gradient_is_wrong(folder, capsys):
    # log at 0: the analytic gradient is inf while centered differences give nan, so the check fails
    with np.errstate(divide="ignore", invalid="ignore"):
        code, out, _ = call(capsys, "check", "logs.json")
    assert code == 1
    assert "FAIL" in out
    assert "gradient check FAILED" in out


# --- non-finite values and run-time errors --------------------------------------------------------------


def test_check_finite_exits_1_naming_the_node(folder):
    proc = run_cli("run", "logs.json", "--check-finite", "--feed", "x=[1, 0]", cwd=folder)
    assert proc.returncode == 1
    assert_no_traceback(proc)
    assert 'logs.json: nodes[0] "lx": forward: log gave a value that is infinite' in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("command", ["run", "grad"])
@pytest.mark.parametrize(("x", "kind"), [("[1, 0]", "infinite"), ("[1, -1]", "nan")], ids=["log0", "log-1"])
def test_check_finite_names_the_node_for_log_of_zero_and_negative(command, x, kind, folder, capsys):
    with np.errstate(divide="ignore", invalid="ignore"):
        code, out, err = call(capsys, command, "logs.json", "--check-finite", "--feed", f"x={x}")
    assert code == 1
    assert out == ""
    assert problem_lines(err) == [f'logs.json: nodes[0] "lx": forward: log gave a value that is {kind}']


def test_without_check_finite_non_finite_values_are_printed(folder, capsys):
    with np.errstate(divide="ignore"):
        code, out, _ = call(capsys, "run", "logs.json")
    assert code == 0
    assert out.strip() == "L = -inf"


def test_check_finite_prints_only_the_problem_line(folder):
    proc = run_cli("grad", "logs.json", "--check-finite", cwd=folder)
    assert proc.returncode == 1
    assert problem_lines(proc.stderr) == [
        'logs.json: nodes[0] "lx": forward: log gave a value that is infinite'
    ]


@pytest.mark.parametrize("label", ["2", "-1"])
def test_label_out_of_range_at_run_time_exits_2_naming_the_node(label, folder, capsys):
    code, out, err = call(capsys, "grad", "classifier.json", "-f", "X=[[1,2,3]]", "-f", f"y=[{label}]")
    assert code == 2
    assert out == ""
    assert problem_lines(err) == [
        f'classifier.json: nodes[1] "L": softmax_cross_entropy: label {label} is not a class index (0 to 1)'
    ]


# --- no traceback, whatever the input -------------------------------------------------------------------


BAD_INPUT = [
    pytest.param(["run", "nofile.json"], "nofile.json: no such file", id="missing-file"),
    pytest.param(["grad", "."], ".: is a folder, not a spec file", id="folder"),
    pytest.param(["check", "garbage.json"], "garbage.json: line 1 column 1: invalid JSON", id="garbage"),
    pytest.param(
        ["check", "circuit.json", "-f", "z=[1,2,3]", "--wrt", "q"],
        'circuit.json: "q" is not a leaf',
        id="wrt-node",
    ),
    pytest.param(
        ["grad", "circuit.json", "-f", "z=[1,2,3]", "--wrt", "nope"],
        'no leaf or node "nope"',
        id="wrt-unknown",
    ),
    pytest.param(["ops", "nope"], 'unknown op "nope"', id="unknown-op"),
    pytest.param(["run", "circuit.json", "--feed", "z=[1,2,"], "invalid JSON", id="bad-feed-json"),
    pytest.param(
        ["check", "circuit.json", "-f", "z=[1,2,3]", "--h", "-1"],
        "h and tolerance must be positive",
        id="bad-h",
    ),
    pytest.param(["validate", "garbage.json", "nofile.json"], "nofile.json: no such file", id="validate"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUT)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(args, expected, folder, capsys):
    (folder / "garbage.json").write_bytes(b"\x00\x01 not json")
    before = snapshot(folder)
    code, out, err = call(capsys, *args)
    assert code == 2
    assert expected in err
    assert out == ""
    assert snapshot(folder) == before


@pytest.mark.parametrize(("args", "expected"), [BAD_INPUT[2], BAD_INPUT[3], BAD_INPUT[6]])
def test_bad_input_in_a_real_process_prints_no_traceback(args, expected, folder):
    (folder / "garbage.json").write_bytes(b"\x00\x01 not json")
    proc = run_cli(*args, cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert expected in proc.stderr


def test_usage_errors_exit_2(folder, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bogus"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
