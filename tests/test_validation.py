"""Invalid spec files: every class of mistake is refused with ``file: place: message`` lines, all problems
at once, exit code 2 from the CLI, no traceback, and nothing written to the working directory.

The table CASES drives both the Python API (``gd.load``) and ``graphdiff validate`` (in-process, for the
exit code of each case); one subprocess run validates every case file at once to check the real process:
one stderr line per problem, no traceback, the folder byte-for-byte unchanged.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import (
    assert_no_traceback,
    circuit_spec,
    problem_lines,
    problems_of,
    run_cli,
    scalar_circuit_spec,
    snapshot,
    write_spec,
)

import graphdiff as gd
from graphdiff.cli import main

FILE = "circuit.json"


@dataclass(frozen=True)
class Case:
    """One invalid spec: its content, the error class, and fragments that must each appear in a problem
    line (every line must also start with the file name). ``count`` pins the number of problems."""

    id: str
    content: Callable[[], dict[str, Any] | str | bytes]
    fragments: tuple[str, ...]
    error: type[gd.GraphdiffError] = gd.SpecError
    count: int | None = 1


def scalar(change: Callable[[dict[str, Any]], Any]) -> Callable[[], dict[str, Any]]:
    """The scalar circuit (leaves x, y, z; nodes q = x + y, f = q * z; loss f) after ``change``."""

    def build() -> dict[str, Any]:
        spec = scalar_circuit_spec()
        change(spec)
        return spec

    return build


def vector(change: Callable[[dict[str, Any]], Any]) -> Callable[[], dict[str, Any]]:
    """The vector circuit (x, y, z (3,); q, f, L = sum(f)) after ``change``."""

    def build() -> dict[str, Any]:
        spec = circuit_spec()
        change(spec)
        return spec

    return build


def with_value(value_json: str, **leaf: Any) -> Callable[[], str]:
    """A spec whose only leaf "x" (an input) has ``value_json`` as its raw JSON value."""
    leaf_json = json.dumps({"id": "x", "kind": "input", **leaf})[:-1] + f', "value": {value_json}}}'
    return lambda: '{"format_version": 1, "name": "values", "leaves": [' + leaf_json + '], "outputs": ["x"]}'


def set_path(spec: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target = spec
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def setter(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *path, value = path_and_value
    return lambda spec: set_path(spec, tuple(path), value)


def rename_inputs_key(spec: dict[str, Any]) -> None:
    spec["nodes"][1]["imputs"] = spec["nodes"][1].pop("inputs")


def make_cycle(spec: dict[str, Any]) -> None:
    spec["nodes"] = [
        {"id": "a", "op": "add", "inputs": ["x", "b"]},
        {"id": "b", "op": "add", "inputs": ["a", "y"]},
        {"id": "f", "op": "mul", "inputs": ["b", "z"]},
    ]


def make_self_loop(spec: dict[str, Any]) -> None:
    spec["nodes"][0]["inputs"] = ["x", "q"]


def classifier_with_wrong_width() -> dict[str, Any]:
    return {
        "format_version": 1,
        "name": "linear",
        "leaves": [
            {"id": "X", "kind": "input", "shape": ["N", 3073]},
            {"id": "W", "kind": "parameter", "shape": [3072, 10], "value": {"init": "zeros"}},
        ],
        "nodes": [{"id": "scores", "op": "matmul", "inputs": ["X", "W"]}],
        "outputs": ["scores"],
    }


def symbol_mismatch() -> dict[str, Any]:
    return {
        "format_version": 1,
        "name": "symbols",
        "leaves": [
            {"id": "A", "kind": "input", "shape": ["N", 3]},
            {"id": "B", "kind": "input", "shape": ["M", 3]},
        ],
        "nodes": [{"id": "s", "op": "add", "inputs": ["A", "B"]}],
        "outputs": ["s"],
    }


def int_loss(spec: dict[str, Any]) -> None:
    spec["leaves"].append({"id": "label", "kind": "input", "dtype": "int64", "value": 1})
    spec["loss"] = "label"


TRUNCATED = '{\n "format_version": 1,\n "name": "t",\n "leaves": ['
DUPLICATE_TOP = '{"format_version": 1, "name": "first", "name": "second"}'
DUPLICATE_ATTRS = json.dumps(circuit_spec()).replace(
    '"inputs": ["f"]', '"inputs": ["f"], "attrs": {"axis": 0, "axis": 0}'
)
INVALID_UTF8 = b'{"format_version": 1, "name": "caf\xe9"}'
INVALID_UTF8_AT = INVALID_UTF8.index(b"\xe9")


CASES = [
    Case("empty-file", lambda: "", (f"{FILE}: the file is empty",)),
    Case("blank-file", lambda: " \n\t\n", (f"{FILE}: the file is empty",)),
    Case("garbage-bytes", lambda: b"\x00\x01\x02GIF89a garbage", (f"{FILE}: line 1 column 1: invalid JSON",)),
    Case("truncated-json", lambda: TRUNCATED, (f"{FILE}: line 4 column 13: invalid JSON",)),
    Case(
        "invalid-utf8",
        lambda: INVALID_UTF8,
        (f"{FILE}: byte {INVALID_UTF8_AT}: the file is not valid UTF-8",),
    ),
    Case("top-level-array", lambda: "[1, 2, 3]", (f"{FILE}: a spec is a JSON object, not an array",)),
    Case("top-level-string", lambda: '"graph"', (f"{FILE}: a spec is a JSON object, not a string",)),
    Case("top-level-null", lambda: "null", (f"{FILE}: a spec is a JSON object, not null",)),
    Case("duplicate-top-level-key", lambda: DUPLICATE_TOP, (f"{FILE}: (top level): duplicate key 'name'",)),
    Case(
        "duplicate-key-in-attrs", lambda: DUPLICATE_ATTRS, (f"{FILE}: nodes[2].attrs: duplicate key 'axis'",)
    ),
    Case(
        "unknown-field-with-suggestion",
        scalar(rename_inputs_key),
        (f'{FILE}: nodes[1] "f": imputs: unknown field; did you mean "inputs"?',),
        count=None,  # the missing "inputs" may be reported too
    ),
    Case("name-not-a-string", scalar(setter("name", 5)), (f"{FILE}: name: should be a valid string",)),
    Case(
        "inputs-not-a-list",
        scalar(setter("nodes", 1, "inputs", "q")),
        (f'{FILE}: nodes[1] "f": inputs: should be a valid list',),
    ),
    Case(
        "input-id-not-a-string",
        scalar(setter("nodes", 1, "inputs", ["q", 7])),
        (f'{FILE}: nodes[1] "f": inputs[1]: should be a valid string',),
    ),
    Case("bad-kind", scalar(setter("leaves", 0, "kind", "param")), (f'{FILE}: leaves[0] "x": kind: ',)),
    Case(
        "shape-not-a-list",
        scalar(setter("leaves", 2, "shape", "3")),
        (f'{FILE}: leaves[2] "z": shape: should be a valid list',),
    ),
    Case(
        "attrs-not-an-object",
        scalar(setter("nodes", 0, "attrs", [1])),
        (f'{FILE}: nodes[0] "q": attrs: should be a valid dictionary',),
    ),
    Case(
        "value-is-a-string",
        scalar(setter("leaves", 0, "value", "-2")),
        (f'{FILE}: leaves[0] "x": value: must be a number or a nested list of numbers',),
    ),
    Case("nan", with_value("[1.0, NaN]"), (f"{FILE}: leaves[0].value[1]: NaN is not allowed",)),
    Case(
        "infinity", with_value("[Infinity, 1.0]"), (f"{FILE}: leaves[0].value[0]: Infinity is not allowed",)
    ),
    Case("minus-infinity", with_value("-Infinity"), (f"{FILE}: leaves[0].value: -Infinity is not allowed",)),
    Case(
        "overflow-1e400",
        with_value("[0.5, 1e400]"),
        (f"{FILE}: leaves[0].value[1]: number 1e400 is out of the float64 range",),
    ),
    Case(
        "overflow-minus-1e400",
        with_value("-1e400"),
        (f"{FILE}: leaves[0].value: number -1e400 is out of the float64 range",),
    ),
    Case(
        "integer-with-5000-digits",
        with_value("9" * 5000),
        (f"{FILE}: leaves[0].value: integer with 5000 digits is too long",),
    ),
    Case("nested-100000-deep", lambda: "[" * 100_000 + "]" * 100_000, (f"{FILE}: ", "nested")),
    Case(
        "value-nested-100000-deep",
        with_value("[" * 100_000 + "1.0" + "]" * 100_000),
        (f"{FILE}: ", "nested"),
    ),
    Case(
        "unknown-op-with-suggestion",
        scalar(setter("nodes", 0, "op", "ad")),
        (f'{FILE}: nodes[0] "q": unknown op "ad"; did you mean "add" or "pad"?',),
    ),
    *(
        Case(
            f"hostile-op-{name}",
            scalar(setter("nodes", 0, "op", name)),
            (f'{FILE}: nodes[0] "q": unknown op {json.dumps(name)}',),
        )
        for name in ("__import__", "os.system", "exec", "eval", "graphdiff.ops.elementwise.Add", "Add")
    ),
    Case(
        "too-few-inputs",
        scalar(setter("nodes", 1, "inputs", ["q"])),
        (f'{FILE}: nodes[1] "f": mul takes 2 inputs (a, b), got 1',),
    ),
    Case(
        "too-many-inputs",
        scalar(setter("nodes", 1, "inputs", ["q", "z", "x"])),
        (f'{FILE}: nodes[1] "f": mul takes 2 inputs (a, b), got 3',),
    ),
    Case(
        "unknown-attr",
        scalar(setter("nodes", 1, "attrs", {"foo": 1})),
        (f'{FILE}: nodes[1] "f": attrs.foo: unknown attribute for mul',),
    ),
    Case(
        "misspelled-attr",
        vector(setter("nodes", 2, "attrs", {"axs": 0})),
        (f'{FILE}: nodes[2] "L": attrs.axs: unknown attribute for sum; did you mean "axis"?',),
    ),
    Case(
        "attr-of-wrong-type",
        vector(setter("nodes", 2, "attrs", {"axis": "x"})),
        (f'{FILE}: nodes[2] "L": attrs.axis: should be a valid integer',),
        count=None,
    ),
    Case(
        "attr-bool-of-wrong-type",
        vector(setter("nodes", 2, "attrs", {"keepdims": "yes"})),
        (f'{FILE}: nodes[2] "L": attrs.keepdims: should be a valid boolean',),
    ),
    Case(
        "missing-required-attr",
        scalar(lambda s: s["nodes"][1].update(op="pow", inputs=["q"])),
        (f'{FILE}: nodes[1] "f": attrs.exponent: required by pow',),
    ),
    Case(
        "format-version-missing",
        scalar(lambda s: s.pop("format_version")),
        (f"{FILE}: format_version: missing",),
        error=gd.FormatVersionError,
    ),
    *(
        Case(
            f"format-version-{label}",
            scalar(setter("format_version", bad)),
            (f"{FILE}: format_version: must be a positive integer",),
            error=gd.FormatVersionError,
        )
        for label, bad in (("string", "1"), ("float", 1.5), ("bool", True), ("zero", 0), ("null", None))
    ),
    Case(
        "format-version-newer",
        scalar(setter("format_version", 2)),
        (f"{FILE}: format_version: ", "version 2", "version 1"),
        error=gd.FormatVersionError,
    ),
    Case("cycle", scalar(make_cycle), (f'{FILE}: nodes[0] "a": cycle: "a" -> "b" -> "a"',)),
    Case("self-loop", scalar(make_self_loop), (f'{FILE}: nodes[0] "q": cycle: "q" -> "q"',)),
    Case(
        "undefined-input",
        scalar(setter("nodes", 1, "inputs", ["q", "w"])),
        (f'{FILE}: nodes[1] "f": input "w" is not defined',),
    ),
    Case("undefined-loss", scalar(setter("loss", "g")), (f'{FILE}: loss: "g" is not defined',)),
    Case(
        "undefined-loss-with-suggestion",
        scalar(setter("loss", "ff")),
        (f'{FILE}: loss: "ff" is not defined; did you mean "f"?',),
    ),
    Case(
        "undefined-output",
        scalar(setter("outputs", ["f", "g"])),
        (f'{FILE}: outputs[1]: "g" is not defined',),
    ),
    Case(
        "duplicate-id-leaf-and-node",
        scalar(
            lambda s: (set_path(s, ("nodes", 0, "id"), "x"), set_path(s, ("nodes", 1, "inputs"), ["x", "z"]))
        ),
        (f'{FILE}: nodes[0] "x": id "x" is already used by leaves[0] "x"',),
    ),
    Case(
        "duplicate-id-two-leaves",
        scalar(setter("leaves", 1, "id", "x")),
        (
            f'{FILE}: leaves[1] "x": id "x" is already used by leaves[0] "x"',
            f'{FILE}: nodes[0] "q": input "y" is not defined',  # the renamed leaf is gone
        ),
        count=2,
    ),
    Case(
        "matmul-inner-dimensions",
        classifier_with_wrong_width,
        (f'{FILE}: nodes[0] "scores": matmul (N, 3073) @ (3072, 10): inner dimensions differ',),
    ),
    Case(
        "symbols-do-not-broadcast",
        symbol_mismatch,
        (f'{FILE}: nodes[0] "s": add: shapes (N, 3) and (M, 3) do not broadcast',),
    ),
    Case(
        "non-scalar-loss",
        vector(setter("loss", "f")),
        (f'{FILE}: loss: the loss "f" must be a scalar, but its shape is (3,)',),
    ),
    Case(
        "int64-loss", scalar(int_loss), (f'{FILE}: loss: the loss "label" must be a float, but it is int64',)
    ),
    Case(
        "value-shape-differs-from-declared",
        scalar(lambda s: s["leaves"][0].update(shape=[3], value=[1.0, 2.0])),
        (f'{FILE}: leaves[0] "x": value has shape (2,) but shape is declared (3,)',),
    ),
    Case(
        "ragged-nested-list",
        scalar(setter("leaves", 0, "value", [[1.0, 2.0], [3.0]])),
        (f'{FILE}: leaves[0] "x": value: nested lists have rows of different lengths',),
    ),
    Case(
        "int64-leaf-with-float-value",
        scalar(lambda s: s["leaves"][0].update(dtype="int64", value=[1, 2.5])),
        (f'{FILE}: leaves[0] "x": value: an int64 leaf\'s values must be integers',),
    ),
    Case(
        "parameter-without-value",
        scalar(lambda s: (s["leaves"][2].update(kind="parameter", shape=[]), s["leaves"][2].pop("value"))),
        (f'{FILE}: leaves[2] "z": a parameter needs a value',),
    ),
    Case(
        "constant-without-value",
        scalar(lambda s: (s["leaves"][2].update(kind="constant", shape=[]), s["leaves"][2].pop("value"))),
        (f'{FILE}: leaves[2] "z": a constant needs a value',),
    ),
    Case(
        "input-without-shape-or-value",
        scalar(lambda s: s["leaves"][2].pop("value")),
        (f'{FILE}: leaves[2] "z": an input without a default value needs a shape',),
    ),
    Case(
        "symbolic-dims-on-parameter",
        scalar(
            lambda s: s["leaves"].append(
                {"id": "W", "kind": "parameter", "shape": ["N", 2], "value": {"init": "zeros"}}
            )
        ),
        (f'{FILE}: leaves[3] "W": only inputs may have symbolic dimensions',),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_spec_is_refused_naming_file_and_place(case: Case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, FILE, case.content())
    before = snapshot(tmp_path)

    with pytest.raises(gd.GraphdiffError) as info:
        gd.load(FILE)
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    lines = problems_of(info.value)
    assert lines, "an error without problems"
    for line in lines:
        assert line.startswith(f"{FILE}: "), line
    for fragment in case.fragments:
        assert any(fragment in line for line in lines), f"{fragment!r} not in {lines}"
    if case.count is not None:
        assert len(lines) == case.count, lines

    # The same file through the CLI: exit code 2, exactly these lines on stderr, nothing on stdout.
    capsys.readouterr()
    assert main(["validate", FILE]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == lines
    assert snapshot(tmp_path) == before


def test_cli_reports_every_invalid_file_one_line_per_problem_without_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = []
    expected: list[str] = []
    for index, case in enumerate(CASES):
        name = f"case{index:02d}.json"
        write_spec(tmp_path, name, case.content())
        names.append(name)
        try:
            gd.load(name)
        except gd.GraphdiffError as exc:
            expected += problems_of(exc)
        else:  # pragma: no cover - the in-process test reports this case
            pytest.fail(f"{case.id} loaded")
    before = snapshot(tmp_path)

    proc = run_cli("validate", *names, cwd=tmp_path)

    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert proc.stdout == ""
    assert problem_lines(proc.stderr) == expected
    assert snapshot(tmp_path) == before


def test_python_json_would_silently_keep_the_last_duplicate(tmp_path):
    # Why the strict parser exists: the standard library keeps "second" without a word.
    assert json.loads(DUPLICATE_TOP)["name"] == "second"
    write_spec(tmp_path, FILE, DUPLICATE_TOP)
    with pytest.raises(gd.SpecError, match="duplicate key 'name'"):
        gd.load(tmp_path / FILE)


# --- several problems -----------------------------------------------------------------------------------


def test_every_graph_problem_in_a_file_is_reported_not_just_the_first(tmp_path, monkeypatch):
    spec = scalar_circuit_spec()
    spec["leaves"].append({"id": "v", "kind": "input", "shape": [3], "value": [1.0, 2.0]})
    spec["nodes"] = [
        {"id": "a", "op": "ad", "inputs": ["x", "y"]},
        {"id": "b", "op": "mul", "inputs": ["x"]},
        {"id": "c", "op": "add", "inputs": ["x", "nope"]},
        {"id": "f", "op": "mul", "inputs": ["x", "z"]},
    ]
    spec["loss"] = "zz"
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, FILE, spec)

    with pytest.raises(gd.SpecError) as info:
        gd.load(FILE)

    lines = problems_of(info.value)
    assert len(lines) == 5, lines
    for fragment in (
        'leaves[3] "v": value has shape (2,) but shape is declared (3,)',
        'nodes[0] "a": unknown op "ad"',
        'nodes[1] "b": mul takes 2 inputs',
        'nodes[2] "c": input "nope" is not defined',
        'loss: "zz" is not defined',
    ):
        assert any(fragment in line for line in lines), (fragment, lines)


def test_every_strict_json_problem_is_reported_with_its_path(tmp_path):
    text = (
        '{"format_version": 1, "name": "t", "name": "u",'
        ' "leaves": [{"id": "x", "kind": "input", "value": [1.0, NaN, Infinity]}],'
        ' "nodes": [{"id": "n", "op": "exp", "inputs": ["x"], "attrs": {"a": 1, "a": 2}}],'
        ' "loss": -Infinity}'
    )
    write_spec(tmp_path, FILE, text)
    with pytest.raises(gd.SpecError) as info:
        gd.load(tmp_path / FILE)
    messages = sorted(f"{p.place}: {p.message}" for p in info.value.problems)
    assert messages == sorted(
        [
            "(top level): duplicate key 'name'",
            "leaves[0].value[1]: NaN is not allowed (numbers must be finite)",
            "leaves[0].value[2]: Infinity is not allowed (numbers must be finite)",
            "nodes[0].attrs: duplicate key 'a'",
            "loss: -Infinity is not allowed (numbers must be finite)",
        ]
    )


def test_every_field_type_problem_is_reported(tmp_path):
    spec = scalar_circuit_spec()
    spec["name"] = 5
    spec["leaves"][1]["kind"] = "param"
    spec["nodes"][1]["inputs"] = "q"
    write_spec(tmp_path, FILE, spec)
    with pytest.raises(gd.SpecError) as info:
        gd.load(tmp_path / FILE)
    places = [p.place for p in info.value.problems]
    assert places == ["name", 'leaves[1] "y"', 'nodes[1] "f"'], problems_of(info.value)


# --- warnings -------------------------------------------------------------------------------------------


def test_unused_nodes_and_leaves_are_warnings_and_validate_exits_0(tmp_path):
    spec = scalar_circuit_spec()
    spec["leaves"].append({"id": "unused_leaf", "kind": "constant", "value": 1.0})
    spec["nodes"].append({"id": "dangling", "op": "exp", "inputs": ["x"]})
    write_spec(tmp_path, FILE, spec)

    proc = run_cli("validate", FILE, cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert problem_lines(proc.stderr) == [
        f'{FILE}: leaves[3] "unused_leaf": warning: this leaf is not used',
        f'{FILE}: nodes[2] "dangling": warning: no output or loss depends on this node',
    ]
    assert f"{FILE}: ok" in proc.stdout


def test_warnings_do_not_stop_loading_or_running(tmp_path):
    spec = scalar_circuit_spec()
    spec["nodes"].append({"id": "dangling", "op": "exp", "inputs": ["x"]})
    graph = gd.load(write_spec(tmp_path, FILE, spec))
    assert [p.place for p in graph.warnings] == ['nodes[2] "dangling"']
    assert float(graph.run().value("f")) == -12.0


# --- nothing runs, nothing is imported ---------------------------------------------------------------


def test_shape_errors_are_found_before_any_op_runs(tmp_path, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an op ran while a spec was being checked")

    for op in gd.OPS.values():
        monkeypatch.setattr(op, "forward", refuse)
        monkeypatch.setattr(op, "vjp", refuse)
    spec = classifier_with_wrong_width()
    # a valid node before the bad one, and a default for X, so a lazy checker would have something to run
    spec["leaves"][0]["value"] = [[0.0] * 3073]
    spec["nodes"].insert(0, {"id": "h", "op": "relu", "inputs": ["X"]})
    spec["nodes"][1]["inputs"] = ["h", "W"]

    with pytest.raises(gd.SpecError) as info:
        gd.load(write_spec(tmp_path, FILE, spec))

    assert problems_of(info.value) == [
        f'{tmp_path / FILE}: nodes[1] "scores": matmul (N, 3073) @ (3072, 10): inner dimensions differ '
        "(3073 vs 3072)"
    ]


HOSTILE_MODULES = ("antigravity", "this", "webbrowser", "smtplib", "ftplib")


def hostile_spec(tag: str) -> dict[str, Any]:
    """Names that an evaluating or importing loader would act on: ops named after modules and builtins,
    ids and attrs that are Python expressions."""
    return {
        "format_version": 1,
        "name": f"__import__('antigravity') {tag}",
        "description": "exec('import os; os.system(\"touch pwned\")')",
        "leaves": [
            {"id": "__import__('os').system('touch pwned')", "kind": "input", "value": 1.0},
            {"id": "{{7*7}}", "kind": "constant", "value": 2.0},
        ],
        "nodes": [
            {
                "id": "eval('1/0')",
                "op": "os.system",
                "inputs": ["__import__('os').system('touch pwned')"],
                "attrs": {"command": "touch pwned"},
            },
            {"id": "n1", "op": "antigravity", "inputs": ["{{7*7}}"]},
            {"id": "n2", "op": "this", "inputs": ["{{7*7}}"]},
            {"id": "n3", "op": "webbrowser.open", "inputs": ["{{7*7}}"], "attrs": {"url": "http://x"}},
            {"id": "n4", "op": "smtplib", "inputs": ["{{7*7}}"]},
            {"id": "n5", "op": "__import__", "inputs": ["{{7*7}}"]},
            {"id": "n6", "op": "exec", "inputs": ["{{7*7}}"]},
            {"id": "n7", "op": "eval", "inputs": ["{{7*7}}"]},
            {"id": "n8", "op": "importlib.import_module", "inputs": ["{{7*7}}"]},
            {"id": "n9", "op": f"ftplib.FTP{tag}", "inputs": ["{{7*7}}"]},
        ],
        "loss": "eval('1/0')",
    }


def test_loading_a_hostile_spec_imports_nothing_and_evaluates_nothing(tmp_path, monkeypatch):
    already = [name for name in HOSTILE_MODULES if name in sys.modules]
    monkeypatch.chdir(tmp_path)
    # Warm up: the same error paths once, so lazy imports of graphdiff's own dependencies are done.
    write_spec(tmp_path, "warmup.json", hostile_spec("warmup"))
    with pytest.raises(gd.SpecError):
        gd.load("warmup.json")

    calls: list[str] = []

    def forbidden(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called while loading a spec")

        return record

    monkeypatch.setattr(builtins, "eval", forbidden("eval"))
    monkeypatch.setattr(builtins, "exec", forbidden("exec"))
    monkeypatch.setattr(os, "system", forbidden("os.system"))
    write_spec(tmp_path, FILE, hostile_spec("attack"))
    modules_before = set(sys.modules)

    with pytest.raises(gd.SpecError) as info:
        gd.load(FILE)

    new_modules = set(sys.modules) - modules_before
    monkeypatch.undo()
    assert new_modules == set()
    assert calls == []
    assert [name for name in HOSTILE_MODULES if name in sys.modules] == already
    assert not (tmp_path / "pwned").exists()
    lines = problems_of(info.value)
    for index, op in enumerate(["os.system", "antigravity", "this", "webbrowser.open", "smtplib"]):
        assert any(f"nodes[{index}]" in line and f'unknown op "{op}"' in line for line in lines), lines
    assert len([line for line in lines if "unknown op" in line]) == 10


# --- places inside leaf values, and names that could forge lines -----------------------------------------


def parameter_with_value(value: dict[str, Any]) -> dict[str, Any]:
    leaf = {"id": "w", "kind": "parameter", "shape": [2], "value": value}
    return {"format_version": 1, "name": "values", "leaves": [leaf], "outputs": ["w"]}


def test_a_bad_initializer_tag_is_reported_at_the_leaf(tmp_path):
    write_spec(tmp_path, FILE, parameter_with_value({"init": "gaussian", "std": 1.0, "seed": 0}))
    with pytest.raises(gd.SpecError) as info:
        gd.load(tmp_path / FILE)
    (line,) = problems_of(info.value)
    assert 'leaves[0] "w": value' in line
    assert "gaussian" in line


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"init": "normal", "std": 1.0, "seed": 0, "sead": 1},
            'leaves[0] "w": value.sead: unknown field; did you mean "seed"?',
        ),
        ({"file": "w.npy", "kee": "w"}, 'leaves[0] "w": value.kee: unknown field; did you mean "key"?'),
        ({"init": "normal", "std": -1.0, "seed": 0}, 'leaves[0] "w": value.std: '),
        (
            {"init": "uniform", "low": 0.0, "high": 1.0},
            'leaves[0] "w": value.seed: required field is missing',
        ),
    ],
    ids=["init-unknown-field", "file-unknown-field", "init-bad-std", "init-missing-seed"],
)
def test_problems_inside_initializers_and_file_references_name_their_field(value, expected, tmp_path):
    write_spec(tmp_path, FILE, parameter_with_value(value))
    with pytest.raises(gd.SpecError) as info:
        gd.load(tmp_path / FILE)
    assert any(expected in line for line in problems_of(info.value)), problems_of(info.value)


def key_with_newline_in_node(spec: dict[str, Any]) -> None:
    spec["nodes"][1]["inputs\ncircuit.json: ok"] = ["q", "z"]


def attr_with_newline(spec: dict[str, Any]) -> None:
    spec["nodes"][2]["attrs"] = {"axis\ncircuit.json: ok": 0}


NEWLINE_NAN = '{"format_version": 1, "name": "t", "a\\nforged line": NaN}'


@pytest.mark.parametrize(
    "content",
    [vector(key_with_newline_in_node), vector(attr_with_newline), lambda: NEWLINE_NAN],
    ids=["unknown-field", "unknown-attr", "strict-json-path"],
)
def test_every_problem_is_one_line_even_for_names_with_newlines(content, tmp_path):
    write_spec(tmp_path, FILE, content())
    with pytest.raises(gd.SpecError) as info:
        gd.load(tmp_path / FILE)
    for problem in info.value.problems:
        assert "\n" not in str(problem) and "\r" not in str(problem), str(problem)
