"""Values that numpy would take in some odd way, refused with graphdiff's own error instead: array-file
headers numpy parses into something no array has (a 1-tuple descr, a shape of bools, negative or huge
dimensions), casts that would change a value (int64 2**53 + 1 into float64), literals that would overflow
or wrap (1e300 as a float32, 2**63 as an int64), shapes that hold no element but that numpy refuses anyway
((2**64, 0)), reductions over an empty axis, and bad arguments to the Python API.

Each refusal is the bad-input catalogue's: a GraphdiffError whose one problem line names the file and the
place; through the CLI, exit code 2, exactly that line on stderr, no traceback, the folder unchanged.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import (
    assert_no_traceback,
    problem_lines,
    problems_of,
    run_cli,
    snapshot,
    strict_numpy,
    write_spec,
)

import graphdiff as gd
from graphdiff.cli import main
from graphdiff.spec import read_array

SPEC = "spec.json"
INT64_MAX = 2**63 - 1
#: numpy's limit on the product of a shape's non-zero dimensions (2**63 - 1 bytes of 8-byte elements).
NUMPY_LIMIT = (2**63 - 1) // 8


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def leaf_spec(leaf: dict[str, Any], nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    nodes = nodes or []
    output = nodes[-1]["id"] if nodes else leaf["id"]
    return {"format_version": 1, "name": "t", "leaves": [leaf], "nodes": nodes, "outputs": [output]}


def file_leaf(
    value: dict[str, Any], *, dtype: str = "float64", shape: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "id": "w",
        "kind": "input",
        "dtype": dtype,
        "shape": ["N"] if shape is None else shape,
        "value": value,
    }


def refused_line(spec: dict[str, Any] | str, error: type[gd.GraphdiffError] = gd.SpecError) -> str:
    """Load ``spec`` as spec.json: the one problem line of the error (which must start with the file)."""
    write_spec(Path.cwd(), SPEC, spec)
    with pytest.raises(error) as info:
        gd.load(SPEC)
    (line,) = problems_of(info.value)
    assert line.startswith(f"{SPEC}: "), line
    return line


def assert_cli_refuses(args: list[str], expected: str, folder: Path, capsys, *, also: str = "") -> None:
    """``graphdiff ARGS`` in-process: exit code 2, nothing on stdout, exactly one stderr line holding
    ``expected`` (and ``also``), and the folder byte-for-byte unchanged."""
    before = snapshot(folder)
    capsys.readouterr()
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = problem_lines(err)
    assert len(lines) == 1 and expected in lines[0] and also in lines[0], (lines, expected, also)
    assert "Traceback" not in err
    assert snapshot(folder) == before


def raw_npy(path: Path, descr: str, shape: str, data: bytes = b"") -> Path:
    """A .npy file whose header dict is written by hand: ``descr`` and ``shape`` are Python literals."""
    header = "{'descr': " + descr + ", 'fortran_order': False, 'shape': " + shape + ", }"
    header = header.ljust(((len(header) + 11) // 64 + 1) * 64 - 11) + "\n"
    prefix = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
    path.write_bytes(prefix + header.encode("latin1") + data)
    return path


# --- 1. array-file headers numpy parses into something odd --------------------------------------------

# (id, descr, shape, what the refusal says)
ODD_HEADERS = [
    ("descr-1-tuple", "('<f8',)", "(3,)", "malformed .npy header (IndexError"),
    ("descr-empty-tuple", "()", "(3,)", "malformed .npy header (IndexError"),
    ("descr-nested-1-tuple", "(('<f8',),)", "(3,)", "malformed .npy header (IndexError"),
    ("descr-negative-subarray", "('<f8', -1)", "(3,)", "malformed .npy header (ValueError"),
    ("shape-true", "'<f8'", "(True,)", "the header's shape (True,) holds True at index 0"),
    ("shape-false-then-int", "'<f8'", "(False, 3)", "holds False at index 0; dimensions are integers"),
    ("shape-negative", "'<f8'", "(-3,)", "holds the negative dimension -3 at index 0"),
    ("shape-negatives", "'<f8'", "(-1, -3)", "holds the negative dimension -1 at index 0"),
    ("shape-huge-and-zero", "'<f8'", "(18446744073709551616, 0)", "too large for any array (even with a 0"),
    ("shape-zero-and-huge", "'<f8'", "(0, " + str(10**30) + ")", f"more than numpy's limit of {NUMPY_LIMIT}"),
    ("shape-65-dimensions", "'<f8'", "(" + "1, " * 65 + ")", "has 65 dimensions; numpy allows at most 64"),
]


@pytest.mark.parametrize(
    ("descr", "shape", "fragment"), [c[1:] for c in ODD_HEADERS], ids=[c[0] for c in ODD_HEADERS]
)
def test_an_odd_npy_header_is_an_array_file_error_naming_the_file(descr, shape, fragment, folder):
    raw_npy(folder / "bad.npy", descr, shape, bytes(24))
    with pytest.raises(gd.ArrayFileError) as info:
        read_array(folder / "bad.npy", None, label="bad.npy", dtype=None)
    (line,) = problems_of(info.value)
    assert line.startswith("bad.npy: ") and fragment in line, line

    line = refused_line(leaf_spec(file_leaf({"file": "bad.npy"})))
    assert line.startswith(f'{SPEC}: leaves[0] "w": value.file: bad.npy: '), line
    assert fragment in line


@pytest.mark.parametrize(
    ("descr", "shape", "fragment"), [c[1:] for c in ODD_HEADERS], ids=[c[0] for c in ODD_HEADERS]
)
def test_an_odd_header_inside_an_npz_names_the_file_and_the_key(descr, shape, fragment, folder):
    member = raw_npy(folder / "member.npy", descr, shape, bytes(24)).read_bytes()
    with zipfile.ZipFile(folder / "bad.npz", "w") as archive:
        archive.writestr("w.npy", member)
    (folder / "member.npy").unlink()
    line = refused_line(leaf_spec(file_leaf({"file": "bad.npz", "key": "w"})))
    assert line.startswith(f'{SPEC}: leaves[0] "w": value.file: bad.npz[w]: '), line
    assert fragment in line


@pytest.mark.parametrize(
    ("descr", "shape", "fragment"), [c[1:] for c in ODD_HEADERS[::2]], ids=[c[0] for c in ODD_HEADERS[::2]]
)
def test_an_odd_header_fed_on_the_command_line_is_one_line_and_exit_2(descr, shape, fragment, folder, capsys):
    raw_npy(folder / "bad.npy", descr, shape, bytes(24))
    write_spec(folder, SPEC, leaf_spec({"id": "X", "kind": "input", "shape": ["N"]}))
    assert_cli_refuses(
        ["run", SPEC, "--feed", "X=bad.npy"], "--feed X=bad.npy: bad.npy: ", folder, capsys, also=fragment
    )


def test_odd_headers_in_a_real_process_exit_2_without_traceback(folder):
    names = []
    for index, (_, descr, shape, _) in enumerate(ODD_HEADERS):
        raw_npy(folder / f"bad{index}.npy", descr, shape, bytes(24))
        leaf = file_leaf({"file": f"bad{index}.npy"})
        names.append(write_spec(folder, f"spec{index}.json", leaf_spec(leaf)).name)
    before = snapshot(folder)
    proc = run_cli("validate", *names, cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    lines = problem_lines(proc.stderr)
    assert len(lines) == len(ODD_HEADERS), lines
    for line, name, (_, _, _, fragment) in zip(lines, names, ODD_HEADERS, strict=True):
        assert line.startswith(f'{name}: leaves[0] "w": value.file: ') and fragment in line, line
    assert snapshot(folder) == before

    proc = run_cli("run", names[0], "--feed", "w=bad4.npy", cwd=folder)  # the feed path too
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert len(problem_lines(proc.stderr)) == 1


def test_well_formed_headers_with_zero_and_large_dimensions_still_load(folder):
    np.save(folder / "empty.npy", np.zeros((0, 3)))
    raw_npy(folder / "edge.npy", "'<f8'", f"({NUMPY_LIMIT}, 0)")  # numpy's limit itself: an empty array
    graph = gd.load(write_spec(folder, SPEC, leaf_spec(file_leaf({"file": "empty.npy"}, shape=["N", 3]))))
    assert graph.forward().value("w").shape == (0, 3)
    edge = read_array(folder / "edge.npy", None, label="edge.npy", dtype="float64")
    assert edge.shape == (NUMPY_LIMIT, 0)


# --- 2. casts that change a value ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "index", "value", "rounded"),
    [
        (np.array([1, 2**53 + 1]), [1], 2**53 + 1, 2**53),
        (np.array([-(2**53) - 1]), [0], -(2**53) - 1, -(2**53)),
        (np.array([INT64_MAX]), [0], INT64_MAX, 2**63),
        (np.array(2**53 + 1), [], 2**53 + 1, 2**53),
        (np.asfortranarray([[1, 2], [3, 2**60 + 1]]), [1, 1], 2**60 + 1, 2**60),
        (np.array([2**64 - 1], dtype=np.uint64), [0], 2**64 - 1, 2**64),
    ],
    ids=["int64-2**53+1", "negative", "int64-max", "0-d", "fortran-order-index", "uint64-max"],
)
def test_an_integer_a_float64_leaf_cannot_hold_is_refused_naming_value_and_dtypes(
    array, index, value, rounded, folder
):
    np.save(folder / "ints.npy", array)
    line = refused_line(
        leaf_spec(file_leaf({"file": "ints.npy"}, shape=[f"D{i}" for i in range(array.ndim)]))
    )
    assert line.startswith(f'{SPEC}: leaves[0] "w": value.file: ints.npy: '), line
    assert (
        f"holds {value} at index {index}, which float64 cannot represent (it would become {rounded})" in line
    )
    assert f"{array.dtype} values are read as float64 only when no value changes" in line


def test_a_lossy_integer_inside_an_npz_and_as_a_feed_is_refused(folder, capsys):
    np.savez(folder / "d.npz", w=np.array([0, 2**53 + 1]))
    line = refused_line(leaf_spec(file_leaf({"file": "d.npz", "key": "w"})))
    assert "value.file: d.npz[w]: holds 9007199254740993 at index [1]" in line

    np.save(folder / "big.npy", np.array([2**53 + 1]))
    write_spec(folder, SPEC, leaf_spec({"id": "X", "kind": "input", "shape": ["N"]}))
    assert_cli_refuses(
        ["run", SPEC, "--feed", "X=big.npy"],
        "--feed X=big.npy: big.npy: holds 9007199254740993",
        folder,
        capsys,
    )
    graph = gd.load(SPEC)
    with pytest.raises(gd.FeedError, match="holds 9007199254740993 at index \\[0\\], which float64 cannot"):
        graph.forward({"X": np.array([2**53 + 1])})  # the Python API's feeds keep the same promise


def test_integers_that_floats_hold_exactly_still_load(folder):
    exact = np.array([2**53, -(2**53), 2**60, -(2**63), 7])
    np.save(folder / "exact.npy", exact)
    np.save(folder / "u.npy", np.array([2**63], dtype=np.uint64))
    np.save(folder / "small.npy", np.array([3, -4], dtype=np.int16))
    value = (
        gd.load(write_spec(folder, SPEC, leaf_spec(file_leaf({"file": "exact.npy"})))).forward().value("w")
    )
    assert value.tolist() == [float(v) for v in exact.tolist()]
    assert value.astype(np.int64).tolist()[:3] == [2**53, -(2**53), 2**60]
    assert read_array(folder / "u.npy", None, label="u.npy", dtype="float64").tolist() == [2.0**63]
    assert read_array(folder / "small.npy", None, label="s", dtype="float32").tolist() == [3.0, -4.0]


@pytest.mark.parametrize(
    ("array", "dtype"),
    [
        (np.array([1.0, 2.0]), "float32"),
        (np.array([1, 2]), "float32"),
        (np.array([1, 2], dtype=np.uint64), "int64"),
    ],
    ids=["float64-to-float32", "int64-to-float32", "uint64-to-int64"],
)
def test_casts_that_can_lose_are_refused_by_dtype(array, dtype, folder):
    np.save(folder / "a.npy", array)
    line = refused_line(leaf_spec(file_leaf({"file": "a.npy"}, dtype=dtype)))
    assert f"dtype {array.dtype} cannot be read as {dtype} without loss" in line


# --- 3. literals in specs -----------------------------------------------------------------------------


def literal_spec(value_json: str, dtype: str) -> str:
    leaf = json.dumps({"id": "x", "kind": "constant", "dtype": dtype})[:-1] + f', "value": {value_json}}}'
    return '{"format_version": 1, "name": "t", "leaves": [' + leaf + '], "outputs": ["x"]}'


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        ("1e300", "float32", "value: 1e+300 overflows float32 (its largest finite value is 3.4028235e+38)"),
        ("-3.5e38", "float32", "value: -3.5e+38 overflows float32"),
        ("[1, 1e39]", "float32", "value[1]: 1e+39 overflows float32"),
        ("[[1, 2], [3, 4e38]]", "float32", "value[1][1]: 4e+38 overflows float32"),
        (str(10**39), "float32", "value: 1e+39 overflows float32"),
        (str(2**63), "int64", f"value: {2**63} is out of the int64 range (-{2**63} to {INT64_MAX})"),
        (f"[-1, {2**63}]", "int64", f"value[1]: {2**63} is out of the int64 range"),
        (f"[1, {2**63}]", "int64", f"value[1]: {2**63} is out of the int64 range"),
        (str(-(2**63) - 1), "int64", f"value: {-(2**63) - 1} is out of the int64 range"),
        (str(2**64), "int64", f"value: {2**64} is out of the int64 range"),
        (f"[[1, {2**64}], [1, 2]]", "int64", f"value[0][1]: {2**64} is out of the int64 range"),
        ("[1, 2.5]", "int64", "value: an int64 leaf's values must be integers"),
    ],
    ids=[
        "float32-1e300",
        "float32-negative",
        "float32-in-a-list",
        "float32-nested",
        "float32-big-integer",
        "int64-2**63",
        "int64-2**63-after-a-negative",
        "int64-2**63-after-a-positive",
        "int64-below-min",
        "int64-2**64",
        "int64-2**64-nested",
        "int64-a-float",
    ],
)
def test_a_literal_that_would_overflow_or_wrap_is_refused_with_the_real_reason(
    value, dtype, expected, folder, capsys
):
    line = refused_line(literal_spec(value, dtype))
    assert line == f'{SPEC}: leaves[0] "x": {expected}' or line.startswith(
        f'{SPEC}: leaves[0] "x": {expected}'
    ), line
    assert "rows of different lengths" not in line
    assert_cli_refuses(["validate", SPEC], expected, folder, capsys)


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        ("3.4028235e38", "float32", np.float32(3.4028235e38)),
        (str(INT64_MAX), "int64", INT64_MAX),
        (str(-(2**63)), "int64", -(2**63)),
        (str(2**64), "float64", 2.0**64),
        (f"[{2**64}, 1.5]", "float64", [2.0**64, 1.5]),
        (str(10**39), "float64", 1e39),
        ("1e-50", "float32", 0.0),  # underflow rounds to zero, as float32 does: no value overflows
    ],
    ids=[
        "float32-max",
        "int64-max",
        "int64-min",
        "float64-2**64",
        "float64-mixed",
        "float64-10**39",
        "underflow",
    ],
)
def test_literals_at_the_edges_of_their_dtype_load_exactly(value, dtype, expected, folder):
    write_spec(folder, SPEC, literal_spec(value, dtype))
    got = gd.load(SPEC).forward().value("x")
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.asarray(expected, dtype=dtype))


def test_labels_fed_past_int64_are_named_not_wrapped_to_negative_numbers(folder, capsys):
    labels = {"id": "y", "kind": "input", "dtype": "int64", "shape": ["N"]}
    write_spec(
        folder,
        SPEC,
        leaf_spec(labels, [{"id": "o", "op": "one_hot", "inputs": ["y"], "attrs": {"depth": 3}}]),
    )
    for text in (f"[{2**63}]", f"[1, {2**63}]", f"[{2**64}, 0]", str(2**63)):
        assert_cli_refuses(
            ["run", SPEC, "--feed", f"y={text}"], f"out of the int64 range (-{2**63} to", folder, capsys
        )
    graph = gd.load(SPEC)
    with pytest.raises(gd.FeedError) as info:
        graph.forward({"y": np.array([0, 2**63], dtype=np.uint64)})
    (line,) = problems_of(info.value)
    assert (
        line
        == f'{SPEC}: feed "y": holds {2**63} at index [1], out of the int64 range (-{2**63} to {INT64_MAX})'
    )
    assert "-9223372036854775808 is out of range" not in line


def test_a_float32_feed_may_round_but_not_overflow(folder):
    write_spec(folder, SPEC, leaf_spec({"id": "v", "kind": "input", "dtype": "float32", "shape": [2]}))
    graph = gd.load(SPEC)
    with pytest.raises(
        gd.FeedError, match=r'feed "v": holds 1e\+300 at index \[0\], which overflows float32'
    ):
        graph.forward({"v": [1e300, 1.0]})
    assert graph.forward({"v": [0.1, 1.0]}).value("v").tolist() == [np.float32(0.1), 1.0]
    assert np.isinf(graph.forward({"v": [np.inf, 1.0]}).value("v")[0])  # an infinity fed stays one


# --- 4. zero-element shapes holding a huge dimension --------------------------------------------------

EMPTY = {"id": "x", "kind": "input", "shape": [0]}


def node(op: str, attrs: dict[str, Any], inputs: tuple[str, ...] = ("x",)) -> list[dict[str, Any]]:
    return [{"id": "r", "op": op, "inputs": list(inputs), "attrs": attrs}]


HUGE_SHAPES: list[tuple[str, dict[str, Any], list[dict[str, Any]], str]] = [
    (
        "leaf-2**64-by-0-zeros",
        {"id": "w", "kind": "parameter", "shape": [2**64, 0], "value": {"init": "zeros"}},
        [],
        'leaves[0] "w": shape (18446744073709551616, 0) is too large for any array (even with a 0 dimension)',
    ),
    (
        "leaf-0-by-10**30-input",
        {"id": "w", "kind": "input", "shape": [0, 10**30]},
        [],
        f'leaves[0] "w": shape (0, {10**30}) is too large for any array',
    ),
    (
        "leaf-symbolic-and-huge",
        {"id": "w", "kind": "input", "shape": ["N", 2**61]},
        [],
        f'leaves[0] "w": shape (N, {2**61}) is too large for any array',
    ),
    (
        "reshape-2**70-by-0",
        EMPTY,
        node("reshape", {"shape": [2**70, 0]}),
        f'nodes[0] "r": reshape: the result\'s shape ({2**70}, 0) is too large for any array',
    ),
    (
        "reshape-2**70-by-minus-1",
        EMPTY,
        node("reshape", {"shape": [2**70, -1]}),
        f'nodes[0] "r": reshape: the result\'s shape ({2**70}, 0) is too large',
    ),
    (
        "broadcast_to-2**64-by-0",
        EMPTY,
        node("broadcast_to", {"shape": [2**64, 0]}),
        f'nodes[0] "r": broadcast_to: the result ({2**64}, 0) holds no elements, but its non-zero dimensions',
    ),
    (
        "pad-an-empty-axis-beside-a-huge-one",
        {"id": "x", "kind": "input", "shape": [0, 0]},
        node("pad", {"pad_width": [[0, 0], [0, 2**64]]}),
        f'nodes[0] "r": pad: the result (0, {2**64}) holds no elements',
    ),
    (
        "one_hot-depth-2**64-of-no-labels",
        {"id": "x", "kind": "input", "shape": [0], "dtype": "int64"},
        node("one_hot", {"depth": 2**64}),
        f'nodes[0] "r": one_hot: the result (0, {2**64}) holds no elements',
    ),
    (
        "expand_dims-to-65-dimensions",
        {"id": "x", "kind": "input", "shape": [1] * 64},
        node("expand_dims", {"axis": 0}),
        'nodes[0] "r": expand_dims: the result\'s shape has 65 dimensions; numpy allows at most 64',
    ),
    (
        "conv2d-padding-of-an-empty-batch",
        {"id": "x", "kind": "input", "shape": [0, 1, 1, 1]},
        [{"id": "r", "op": "conv2d", "inputs": ["x", "k"], "attrs": {"padding": 2**62}}],
        f'nodes[0] "r": conv2d: the result\'s shape (0, 1, {2**63 + 1}, {2**63 + 1}) is too large',
    ),
]


@pytest.mark.parametrize(
    ("leaf", "nodes", "expected"), [c[1:] for c in HUGE_SHAPES], ids=[c[0] for c in HUGE_SHAPES]
)
def test_a_shape_numpy_refuses_is_refused_by_validate_so_run_never_sees_it(
    leaf, nodes, expected, folder, capsys
):
    spec = leaf_spec(leaf, nodes)
    if any("k" in n["inputs"] for n in nodes):
        spec["leaves"].append({"id": "k", "kind": "constant", "value": [[[[1.0]]]]})
    line = refused_line(spec)
    assert line.startswith(f"{SPEC}: {expected}"), line
    assert_cli_refuses(["validate", SPEC], expected, folder, capsys)
    assert_cli_refuses(["run", SPEC], expected, folder, capsys)  # refused before anything runs


def test_a_huge_empty_shape_is_refused_at_the_python_line_that_makes_it():
    g = gd.Graph("huge")
    x = g.input("x", shape=[0])
    with pytest.raises(gd.ShapeError, match="too large for any array"):
        gd.reshape(x, [2**70, 0])
    with pytest.raises(gd.ShapeError, match="holds no elements"):
        gd.broadcast_to(x, [2**64, 0])
    with pytest.raises(gd.SpecError, match='leaf "w": shape \\(18446744073709551616, 0\\) is too large'):
        g.input("w", shape=[2**64, 0])


def test_numpys_own_limit_is_allowed_and_runs(folder):
    write_spec(folder, SPEC, leaf_spec(EMPTY, node("reshape", {"shape": [NUMPY_LIMIT, 0]})))
    result = gd.load(SPEC).forward({"x": np.zeros(0)})
    assert result.value("r").shape == (NUMPY_LIMIT, 0)
    line = refused_line(leaf_spec(EMPTY, node("reshape", {"shape": [NUMPY_LIMIT + 1, 0]})))
    assert "too large for any array" in line


def test_a_symbolic_shape_growing_past_numpys_limit_at_run_time_is_a_compute_error(folder, capsys):
    labels = {"id": "x", "kind": "input", "shape": ["N"], "dtype": "int64"}
    write_spec(
        folder, SPEC, leaf_spec(labels, node("one_hot", {"depth": 2**59}))
    )  # (N, 2**59): fine for N = 1
    assert main(["validate", SPEC]) == 0
    capsys.readouterr()
    with pytest.raises(gd.ComputeError) as info:
        gd.load(SPEC).forward({"x": np.zeros(4, dtype=np.int64)})
    (line,) = problems_of(info.value)
    assert line.startswith(f'{SPEC}: nodes[0] "r": one_hot: the result is too large for numpy'), line
    assert_cli_refuses(["run", SPEC, "--feed", "x=[0, 0, 0, 0]"], 'nodes[0] "r": one_hot:', folder, capsys)


# --- 5. reductions over an empty axis -----------------------------------------------------------------

EMPTY_REDUCTIONS = [
    ("sum", {"axis": 0}, [0.0, 0.0, 0.0]),
    ("sum", {}, 0.0),
    ("mean", {"axis": 0}, [np.nan] * 3),
    ("mean", {}, np.nan),
    ("logsumexp", {"axis": 0}, [-np.inf] * 3),
    ("logsumexp", {"axis": 0, "keepdims": True}, [[-np.inf] * 3]),
    ("logsumexp", {}, -np.inf),
    # numpy refuses the max of nothing; graphdiff gives max's identity, -inf, as ONNX's ReduceMax does
    ("max", {"axis": 0}, [-np.inf] * 3),
    ("max", {}, -np.inf),
    ("max", {"axis": 1}, np.zeros(0)),
    ("logsumexp", {"axis": 1}, np.zeros(0)),
    ("softmax", {"axis": 0}, np.zeros((0, 3))),
    ("softmax", {"axis": 1}, np.zeros((0, 3))),
    ("log_softmax", {"axis": 0}, np.zeros((0, 3))),
    ("log_softmax", {"axis": -1}, np.zeros((0, 3))),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("op", "attrs", "expected"), EMPTY_REDUCTIONS, ids=[f"{c[0]}-{c[1]}" for c in EMPTY_REDUCTIONS]
)
def test_a_reduction_over_an_empty_feed_gives_numpys_answer_forward_and_backward(
    op, attrs, expected, dtype, folder
):
    leaf = {"id": "x", "kind": "input", "shape": ["N", 3], "dtype": dtype}
    nodes = node(op, attrs) + [{"id": "L", "op": "sum", "inputs": ["r"]}]
    spec = leaf_spec(leaf, nodes) | {"loss": "L", "outputs": ["r", "L"]}
    graph = gd.load(write_spec(folder, SPEC, spec))
    with strict_numpy():
        result = graph.run({"x": np.zeros((0, 3), dtype=dtype)})
        again = graph.backward(output="r", upstream=np.ones(result.value("r").shape, dtype=dtype))
    np.testing.assert_array_equal(result.value("r"), np.asarray(expected, dtype=dtype))
    assert result.value("r").dtype == dtype
    for grads in (result, again):
        assert grads.grad("x").shape == (0, 3) and grads.grad("x").dtype == dtype


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("sum", 0.0),
        ("mean", np.nan),
        ("logsumexp", -np.inf),
        ("max", -np.inf),
        ("softmax", np.zeros(0)),
        ("log_softmax", np.zeros(0)),
    ],
)
def test_a_reduction_of_an_empty_literal_leaf_runs_through_the_cli(op, expected, folder, capsys):
    nodes = node(op, {}) + [{"id": "L", "op": "sum", "inputs": ["r"]}]
    spec = leaf_spec({"id": "x", "kind": "parameter", "value": []}, nodes) | {"loss": "L", "outputs": ["r"]}
    write_spec(folder, SPEC, spec)
    with strict_numpy():
        result = gd.load(SPEC).run()
    np.testing.assert_array_equal(result.value("r"), expected)
    assert result.grad("x").shape == (0,)
    assert main(["grad", SPEC]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert gd.check_gradients(gd.load(SPEC)).passed  # an empty leaf has nothing to get wrong


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp", "max"])
def test_an_empty_feed_file_through_the_cli_has_no_traceback(op, folder):
    np.save(folder / "empty.npy", np.zeros((0, 3)))
    spec = leaf_spec({"id": "X", "kind": "input", "shape": ["N", 3]}, node(op, {"axis": 0}, ("X",)))
    spec["nodes"].append({"id": "L", "op": "sum", "inputs": ["r"]})
    write_spec(folder, SPEC, spec | {"loss": "L"})
    proc = run_cli("grad", SPEC, "--feed", "X=empty.npy", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)


# --- 6. the Python API's own arguments ----------------------------------------------------------------


def squares() -> tuple[gd.Graph, gd.Tensor]:
    g = gd.Graph("squares")
    x = g.parameter("x", [1.0, 2.0])
    y = (x * x).named("y")
    g.set_loss(gd.sum(y))
    g.run()
    return g, y


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        ("abc", "upstream gradient: not an array of numbers (dtype <U3)"),
        ([[1.0], [2.0, 3.0]], "upstream gradient: not an array of numbers (setting an array element"),
        ([object(), 1.0], "upstream gradient: not an array of numbers (dtype object)"),
        (np.array([1 + 1j, 2]), "upstream gradient: not an array of numbers (dtype complex128)"),
        ([True, False], "upstream gradient: the output is a float; got booleans"),
        ([1.0, 2.0, 3.0], "upstream gradient has shape (3,), the output (2,)"),
        ([1e300, 1.0], None),  # float64 output: any float64 is fine
    ],
    ids=["string", "ragged", "object", "complex", "bool", "wrong-shape", "float64-ok"],
)
def test_a_bad_upstream_gradient_is_a_feed_error_naming_the_output(upstream, expected):
    g, y = squares()
    if expected is None:
        assert g.backward(output="y", upstream=upstream).grad("x").tolist() == [2e300, 4.0]
        return
    with pytest.raises(gd.FeedError) as info:
        g.backward(output="y", upstream=upstream)
    (line,) = problems_of(info.value)
    assert line.startswith(f'nodes[0] "y": {expected}'), line


def test_backward_from_an_integer_output_is_refused():
    g = gd.Graph("labels")
    labels = g.input("labels", value=[0, 1], dtype="int64")
    hot = gd.one_hot(labels, 2)
    count = gd.cast(labels, "int64")
    g.add_output(hot, count)
    g.forward()
    with pytest.raises(gd.FeedError, match="int64 values have no gradient"):
        g.backward(output=count.id, upstream=[1, 1])


@pytest.mark.parametrize(
    "build",
    [
        lambda g: g.parameter("w", [[1, 2], [3]]),
        lambda g: g.constant("w", [[1.0], [2.0, 3.0]]),
        lambda g: g.input("w", value=[1, [2]]),
    ],
    ids=["parameter", "constant", "input-default"],
)
def test_a_ragged_value_is_a_spec_error_naming_the_leaf(build: Callable[[gd.Graph], Any]):
    with pytest.raises(gd.SpecError) as info:
        build(gd.Graph("ragged"))
    assert problems_of(info.value) == ['leaf "w": value: nested lists have rows of different lengths']


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (2**64, "int64", f'leaf "w": value: {2**64} is out of the int64 range'),
        ([1.0, 1e300], "float32", 'leaf "w": value[1]: 1e+300 overflows float32'),
        (
            np.array([2**63], dtype=np.uint64),
            "int64",
            f'leaf "w": value[0]: {2**63} is out of the int64 range',
        ),
    ],
    ids=["int64-2**64", "float32-overflow", "uint64-array"],
)
def test_a_python_value_that_would_wrap_or_overflow_is_refused_at_the_leaf(value, dtype, expected):
    with pytest.raises(gd.SpecError) as info:
        gd.Graph("v").parameter("w", value, dtype=dtype)
    (line,) = problems_of(info.value)
    assert line.startswith(expected), line


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"seed": -1}, "seed must be a non-negative integer; it is -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer; it is 1.5"),
        ({"seed": True}, "seed must be a non-negative integer; it is True"),
        ({"h": 0}, "h and tolerance must be positive finite numbers; h is 0"),
        ({"h": -1e-5}, "h and tolerance must be positive finite numbers; h is -1e-05"),
        ({"h": float("nan")}, "h and tolerance must be positive finite numbers; h is nan"),
        ({"h": float("inf")}, "h and tolerance must be positive finite numbers; h is inf"),
        ({"h": "small"}, "h and tolerance must be positive finite numbers; h is 'small'"),
        ({"tolerance": 0.0}, "h and tolerance must be positive finite numbers; tolerance is 0.0"),
        ({"floor": 0.0}, "floor must be a positive finite number (or None for the default); it is 0.0"),
        ({"max_coords": 0}, "max_coords and directions must be integers of at least 1; max_coords is 0"),
        ({"max_coords": 2.5}, "max_coords and directions must be integers of at least 1; max_coords is 2.5"),
        ({"directions": 0}, "max_coords and directions must be integers of at least 1; directions is 0"),
        ({"directions": 1.5}, "max_coords and directions must be integers of at least 1; directions is 1.5"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(f"{k}={w}" for k, w in v.items()),
)
def test_bad_gradient_check_arguments_are_a_gradient_check_error(kwargs, expected):
    g, _ = squares()
    with pytest.raises(gd.GradientCheckError) as info:
        gd.check_gradients(g, **kwargs)
    (line,) = problems_of(info.value)
    assert line == expected, line


def test_good_gradient_check_arguments_still_pass():
    g, _ = squares()
    assert gd.check_gradients(g, seed=np.int64(3), max_coords=1, directions=2, h=1e-6, floor=1e-3).passed


def test_a_negative_seed_on_the_command_line_is_exit_2_without_traceback(folder):
    spec = leaf_spec({"id": "x", "kind": "parameter", "value": [1.0, 2.0]}, node("sum", {})) | {"loss": "r"}
    write_spec(folder, SPEC, spec)
    before = snapshot(folder)
    proc = run_cli("check", SPEC, "--seed", "-1", cwd=folder)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "seed" in proc.stderr
    assert snapshot(folder) == before


def test_odd_array_files_through_gd_load_are_graphdiff_errors(folder):
    raw_npy(folder / "bad.npy", "('<f8',)", "(3,)", bytes(24))
    raw_npy(folder / "neg.npy", "'<f8'", "(-3,)")
    spec = leaf_spec(file_leaf({"file": "bad.npy"}))
    spec["leaves"].append(file_leaf({"file": "neg.npy"}) | {"id": "v"})
    write_spec(folder, SPEC, spec)
    with pytest.raises(gd.SpecError) as info:
        gd.load(SPEC)
    lines = problems_of(info.value)
    assert len(lines) == 2, lines  # every problem, not just the first
    assert 'leaves[0] "w": value.file: bad.npy: malformed .npy header' in lines[0]
    assert (
        'leaves[1] "v": value.file: neg.npy: the header\'s shape (-3,) holds the negative dimension'
        in lines[1]
    )
