"""Hardening: nothing from a file reaches a terminal raw, and no spec path makes graphdiff read without bound.

1. Terminal escapes. Names in a spec (ids, groups, the graph's name, array paths and .npz keys) may not
   hold control characters (C0, DEL, C1), bidirectional formatting, line separators or invisible
   formatting characters, in graphdiff and in the JSON Schema alike, with a readable message; and every
   line graphdiff prints that holds file-derived text (problem lines, the ``validate`` summary) escapes
   those characters, so a file name or an .npz member name cannot clear the screen, retitle the window,
   reorder the text or fake a line either. Each attack below is a real escape sequence.
2. Unbounded reads. A spec path that is a device, a FIFO, a socket or a folder is refused from its
   ``stat`` (nothing blocks, nothing is read), and a regular file is read through a bounded reader that
   never takes more than the cap and one byte, whatever size the file reports.

Every refusal is checked for the exit code, exactly one stderr line naming the file and the place, and no
traceback.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from helpers import problems_of, scalar_circuit_spec, write_spec

import graphdiff as gd
import graphdiff.spec.io as spec_io
from graphdiff.cli import main
from graphdiff.cli.common import print_problems
from graphdiff.errors import UNSAFE_CHARACTERS, Problem, printable

FILE = "circuit.json"
ROOT = Path(__file__).resolve().parent.parent

#: Real attacks: what each would do on a terminal if printed raw.
ATTACKS = {
    "esc-clear-screen": "\x1b[2J\x1b[H",
    "osc-set-title": "\x1b]0;pwned\x07",
    "c1-csi": "\u009b2J",
    "c1-next-line": "\u0085",
    "bidi-override": "\u202eevil",
    "bidi-isolate": "\u2066x\u2069",
    "line-separator": "\u2028",
    "zero-width-space": "\u200b",
    "byte-order-mark": "\ufeff",
    "del": "\x7f",
    "fake-line": "\n" + FILE + ": ok",
}

#: Names that must stay allowed: letters of any script, right-to-left letters, emoji with joiners.
GOOD_NAMES = ["café", "Δx", "数据", "שלום", "مرحبا", "👩\u200d💻", "x\u200cy", "a b", "layer1/gate", "x'y\"z"]


def unsafe(text: str) -> list[str]:
    """The characters of ``text`` that must never reach a terminal raw (the newlines ending lines aside);
    undecodable bytes read back with surrogateescape count too."""
    return [c for c in text.replace("\n", "") if printable(c) != c]


def first_unsafe(text: str) -> str:
    return next(c for c in text if printable(c) != c)


def set_group(spec: dict[str, Any], bad: str) -> None:
    spec["nodes"][0]["group"] = f"g{bad}"


def set_array_file(spec: dict[str, Any], bad: str) -> None:
    spec["leaves"][0].update(shape=[], value={"file": f"a{bad}.npy"})


def set_npz_key(spec: dict[str, Any], bad: str) -> None:
    spec["leaves"][0].update(shape=[], value={"file": "a.npz", "key": f"k{bad}"})


#: Where a name sits in the scalar circuit (x, y, z; q = x + y, f = q * z; loss f): how to put a bad one
#: there, and the place and field of the one problem it must cause.
PLACES = {
    "graph-name": (lambda s, bad: s.update(name=f"t{bad}"), "name", None),
    "leaf-id": (
        lambda s, bad: s["leaves"].append({"id": f"w{bad}", "kind": "constant", "value": 1.0}),
        "leaves[3] ",
        "id",
    ),
    "node-id": (
        lambda s, bad: s["nodes"].append({"id": f"n{bad}", "op": "exp", "inputs": ["x"]}),
        "nodes[2] ",
        "id",
    ),
    "group": (set_group, 'nodes[0] "q"', "group"),
    "input-reference": (
        lambda s, bad: s["nodes"][1].update(inputs=["q", f"z{bad}"]),
        'nodes[1] "f"',
        "inputs[1]",
    ),
    "output-reference": (lambda s, bad: s.update(outputs=[f"f{bad}"]), "outputs[0]", None),
    "loss-reference": (lambda s, bad: s.update(loss=f"f{bad}"), "loss", None),
    "array-file": (set_array_file, 'leaves[0] "x"', "value.file"),
    "npz-key": (set_npz_key, 'leaves[0] "x"', "value.key"),
}


def refusal_line(line: str, place: str, field: str | None, bad: str) -> None:
    """``line`` is the one problem a bad name causes: the file, the place, a readable message."""
    assert line.startswith(f"{FILE}: {place}"), line
    message = "may not contain control, bidirectional-formatting or invisible characters"
    assert f": {field}: {message}" in line if field else f"{place}: {message}" in line, line
    assert f"U+{ord(first_unsafe(bad)):04X}" in line, line
    assert "pattern" not in line, line
    assert unsafe(line) == [], line


# --- 1a. names may not hold them -------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
@pytest.mark.parametrize("where", PLACES, ids=list(PLACES))
def test_a_name_holding_an_escape_is_refused_in_one_readable_line(
    where, attack, tmp_path, monkeypatch, capsys
):
    change, place, field = PLACES[where]
    bad = ATTACKS[attack]
    spec = scalar_circuit_spec()
    change(spec, bad)
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, FILE, spec)

    with pytest.raises(gd.SpecError) as info:
        gd.load(FILE)
    (line,) = problems_of(info.value)
    refusal_line(line, place, field, bad)

    capsys.readouterr()
    assert main(["validate", FILE]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [line]
    assert unsafe(err) == []


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads((ROOT / "schemas" / "graphdiff-v1.schema.json").read_text())
    )


def schema_errors(validator: jsonschema.Draft202012Validator, spec: Any) -> list[str]:
    """The paths of the schema's errors, with those inside union branches (a leaf's value is one)."""
    paths, stack = [], list(validator.iter_errors(spec))
    while stack:
        error = stack.pop()
        paths.append("/".join(map(str, error.absolute_path)))
        stack.extend(error.context or [])
    return paths


SCHEMA_PATHS = {
    "graph-name": "name",
    "leaf-id": "leaves/3/id",
    "node-id": "nodes/2/id",
    "group": "nodes/0/group",
    "input-reference": "nodes/1/inputs/1",
    "output-reference": "outputs/0",
    "loss-reference": "loss",
    "array-file": "leaves/0/value/file",
    "npz-key": "leaves/0/value/key",
}


@pytest.mark.parametrize("where", PLACES, ids=list(PLACES))
def test_the_schema_refuses_the_same_names(where, validator):
    change, _, _ = PLACES[where]
    for attack, bad in ATTACKS.items():
        spec = scalar_circuit_spec()
        change(spec, bad)
        assert SCHEMA_PATHS[where] in schema_errors(validator, spec), (where, attack)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_names_in_any_script_stay_allowed_by_graphdiff_and_the_schema(name, validator, tmp_path):
    spec = scalar_circuit_spec()
    spec["name"] = name
    spec["leaves"].append({"id": name, "kind": "input", "value": 1.0})
    spec["nodes"].append({"id": f"{name}2", "op": "exp", "inputs": [name], "group": name})
    spec["outputs"] = ["f", f"{name}2"]
    assert schema_errors(validator, spec) == []
    graph = gd.load(write_spec(tmp_path, FILE, spec))
    assert graph.checked.name == name


def test_every_unsafe_character_is_refused_in_an_id():
    """The whole set, not only the attacks: each first and last code point of every range."""
    for first, last in UNSAFE_CHARACTERS:
        for code in {first, last}:
            spec = scalar_circuit_spec()
            spec["leaves"].append({"id": f"w{chr(code)}", "kind": "constant", "value": 1.0})
            with pytest.raises(gd.SpecError) as info:
                gd.loads(json.dumps(spec), label=FILE)
            (line,) = problems_of(info.value)
            assert f"U+{code:04X} at character 1" in line, line


def test_descriptions_are_prose_and_are_never_printed(tmp_path, monkeypatch, capsys):
    """Decision: descriptions keep any text (newlines, the bidi marks right-to-left prose needs); no
    command prints them, so an escape in one never reaches the terminal."""
    spec = scalar_circuit_spec()
    spec["description"] = "line one\nline two \u202eעברית\u202c " + ATTACKS["esc-clear-screen"]
    spec["nodes"][0]["description"] = ATTACKS["osc-set-title"]
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, FILE, spec)
    capsys.readouterr()
    assert main(["validate", FILE]) == 0
    out, err = capsys.readouterr()
    assert out == f'{FILE}: ok: graph "cs231n", 3 leaves, 2 nodes, loss "f"\n'
    assert err == ""


# --- 1b. whatever is printed is escaped ------------------------------------------------------------------


def test_print_problems_escapes_every_part_of_a_problem(capsys):
    problem = Problem("a\x1b[2J.json", 'nodes[0] "\u202eq"', "bad \u009b2J\nfake.json: ok")
    print_problems([problem])
    out, err = capsys.readouterr()
    assert out == ""
    assert err == 'a\\x1b[2J.json: nodes[0] "\\u202eq": bad \\x9b2J\\nfake.json: ok\n'
    assert str(problem) == err[:-1]  # the Python API's lines are the same
    assert str(gd.SpecError(problem, problem)).splitlines() == [err[:-1]] * 2


def run_raw(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """``graphdiff ARGS`` in a subprocess with at most 3 GiB of address space and a timeout: (exit code,
    stdout, stderr), the streams decoded with surrogateescape so that any raw byte is seen."""

    def limit() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = 3 * 1024**3
        if hard == resource.RLIM_INFINITY or hard > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))

    proc = subprocess.run(
        [sys.executable, "-m", "graphdiff.cli", *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        env=env,
        preexec_fn=limit,
    )
    out, err = (stream.decode("utf-8", "surrogateescape") for stream in (proc.stdout, proc.stderr))
    assert "Traceback" not in err and "Traceback" not in out, err
    return proc.returncode, out, err


#: File names that attack the terminal; the last is not UTF-8 (a raw 0x9B byte, an 8-bit CSI).
FILE_NAMES = {
    "esc-clear-screen": "x\x1b[2J\x1b[H.json",
    "osc-set-title": "x\x1b]0;pwned\x07.json",
    "c1-csi": "x\u009b2J.json",
    "bidi-override": "x\u202enosj.json",
    "fake-line": "x\n" + FILE + ": ok.json",
    "raw-byte-csi": os.fsdecode(b"x\x9b2J.json"),
}


@pytest.mark.parametrize("name", FILE_NAMES.values(), ids=list(FILE_NAMES))
def test_a_file_name_is_escaped_in_the_ok_line_and_in_problem_lines(name, tmp_path):
    write_spec(tmp_path, name, scalar_circuit_spec())
    bad = scalar_circuit_spec()
    bad["nodes"][0]["op"] = "ad"
    write_spec(tmp_path, "bad-" + name, bad)

    code, out, err = run_raw("validate", name, cwd=tmp_path)
    assert (code, err) == (0, "")
    assert out == f'{printable(name)}: ok: graph "cs231n", 3 leaves, 2 nodes, loss "f"\n'
    assert unsafe(out) == []

    code, out, err = run_raw("validate", "bad-" + name, cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f'bad-{printable(name)}: nodes[0] "q": unknown op "ad"; did you mean "add" or "pad"?'
    ]
    assert unsafe(err) == []


def test_a_file_name_that_is_not_utf8_does_not_crash_a_strict_utf8_stdout(tmp_path):
    """Before: with PYTHONIOENCODING=utf-8 (or any UTF-8 locale but C), printing the name raised
    UnicodeEncodeError, a traceback and exit code 1."""
    name = os.fsdecode(b"\xff.json")
    write_spec(tmp_path, name, scalar_circuit_spec())
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    code, out, err = run_raw("validate", name, "missing\udcff.json", cwd=tmp_path, env=env)
    assert code == 2
    assert out == '\\udcff.json: ok: graph "cs231n", 3 leaves, 2 nodes, loss "f"\n'
    assert err.splitlines() == ["missing\\udcff.json: no such file"]


NPZ_MEMBERS = {
    "osc-set-title": "\x1b]0;pwned\x07",
    "esc-clear-screen": "\x1b[2J",
    "c1-csi": "\u009b2J",
    "bidi-override": "\u202eevil",
    "fake-line": "w\n" + FILE + ": ok",
}


@pytest.mark.parametrize("member", NPZ_MEMBERS.values(), ids=list(NPZ_MEMBERS))
def test_npz_member_names_are_escaped_in_the_problem_line(member, tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "a.npz", **{member: np.zeros(2)})
    spec = scalar_circuit_spec()
    spec["leaves"][0].update(shape=[2], value={"file": "a.npz", "key": "w"})
    spec["nodes"][0]["inputs"] = ["x", "x"]
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, FILE, spec)

    with pytest.raises(gd.SpecError) as info:
        gd.load(FILE)
    (line,) = problems_of(info.value)
    # "...: no array 'w' in the file (it has: <the member names>)", the names escaped
    assert line.startswith(f'{FILE}: leaves[0] "x": value.file: a.npz: '), line
    assert "'w'" in line and printable(member) in line, line
    assert unsafe(line) == []

    capsys.readouterr()
    assert main(["validate", FILE]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")
    code, out, err = run_raw("validate", FILE, cwd=tmp_path)
    assert (code, out, err) == (2, "", line + "\n")


# --- 2. bounded reads --------------------------------------------------------------------------------


class Hang(BaseException):
    pass


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return None


def no_hang(seconds: float, grow: int = 1024**3):
    """Fail instead of blocking or swapping: SIGALRM raises Hang into the call after ``seconds``, and the
    address space may not grow by more than ``grow`` (a regression reading /dev/zero fails fast)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    class Guard:
        def __enter__(self) -> None:
            self.old = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            self.limit = None
            size = _address_space()
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if size is not None and soft == resource.RLIM_INFINITY and hard == resource.RLIM_INFINITY:
                resource.setrlimit(resource.RLIMIT_AS, (size + grow, hard))
                self.limit = (soft, hard)

        def __exit__(self, *exc: object) -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
            if self.limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, self.limit)

    return Guard()


def make_fifo(folder: Path) -> Path:
    path = folder / "pipe.json"
    os.mkfifo(path)
    return path


def make_socket(folder: Path) -> Path:
    if len(str(folder / "s.json")) > 100:  # AF_UNIX paths are short
        folder = Path(tempfile.mkdtemp(dir="/tmp"))
    path = folder / "s.json"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    make_socket.keep = server  # type: ignore[attr-defined]  # open for the test's length
    return path


def link_to(target: str | Path, folder: Path) -> Path:
    link = folder / "link.json"
    os.symlink(target, link)
    return link


SPECIAL_FILES = {
    "dev-zero": (lambda d: Path("/dev/zero"), "is a character device, not a regular file"),
    "dev-urandom": (lambda d: Path("/dev/urandom"), "is a character device, not a regular file"),
    "dev-null": (lambda d: Path("/dev/null"), "is a character device, not a regular file"),
    "fifo": (make_fifo, "is a FIFO (named pipe), not a regular file"),
    "folder": (lambda d: d, "is a folder, not a spec file"),
    "socket": (make_socket, "is a socket, not a regular file"),
    "link-to-dev-zero": (lambda d: link_to("/dev/zero", d), "is a character device, not a regular file"),
    "link-to-fifo": (lambda d: link_to(make_fifo(d), d), "is a FIFO (named pipe), not a regular file"),
}


@pytest.mark.parametrize("kind", SPECIAL_FILES, ids=list(SPECIAL_FILES))
def test_a_spec_path_that_is_not_a_regular_file_is_refused_without_reading(kind, tmp_path):
    make, message = SPECIAL_FILES[kind]
    path = make(tmp_path)
    if not path.exists() and not path.is_symlink():
        pytest.skip(f"{path} does not exist here")
    tracemalloc.start()
    try:
        with no_hang(5), pytest.raises(gd.SpecError) as info:
            gd.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # No wall-clock assertion: the alarm above only stops a hang; the bound asserted is memory.
    assert peak < 1024 * 1024, peak
    assert problems_of(info.value) == [f"{path}: {message}"]

    code, out, err = run_raw("validate", str(path), cwd=tmp_path, timeout=30)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{path}: {message}"]


def test_a_regular_file_swapped_for_a_fifo_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The check on the path passes (stat is made to see a regular file); the open must not block on the
    FIFO that is really there, and the check on the open descriptor refuses it."""
    fifo = make_fifo(tmp_path)
    regular = write_spec(tmp_path, "real.json", scalar_circuit_spec())
    real_stat = os.stat

    def stat_before_the_swap(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        return real_stat(regular if os.fspath(path) == os.fspath(fifo) else path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat_before_the_swap)
    with no_hang(5), pytest.raises(gd.SpecError) as info:
        spec_io.read_spec(fifo)
    monkeypatch.undo()
    assert problems_of(info.value) == [f"{fifo}: is a FIFO (named pipe), not a regular file"]


def tiny_spec_text() -> str:
    return json.dumps(
        {"format_version": 1, "name": "t", "leaves": [{"id": "x", "kind": "input", "value": 1}]}
    )


def test_a_spec_over_the_cap_is_refused_and_one_at_the_cap_loads(tmp_path, monkeypatch, capsys):
    text = tiny_spec_text()
    cap = len(text.encode())
    monkeypatch.setattr(spec_io, "MAX_SPEC_BYTES", cap)
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, "at.json", text)
    write_spec(tmp_path, "over.json", text + " ")

    assert gd.load("at.json").checked.name == "t"
    with pytest.raises(gd.SpecError) as info:
        gd.load("over.json")
    assert problems_of(info.value) == [f"over.json: the file is {cap + 1} bytes; specs are limited to {cap}"]

    capsys.readouterr()
    assert main(["validate", "over.json"]) == 2
    out, err = capsys.readouterr()
    assert (out, err.splitlines()) == ("", problems_of(info.value))


def test_a_file_reporting_a_wrong_size_is_read_no_further_than_the_cap(monkeypatch):
    """/proc files are regular and report size 0 whatever they hold; a file may also grow after stat."""
    path = Path("/proc/self/status")
    if not path.is_file() or os.stat(path).st_size != 0 or len(path.read_bytes()) < 200:
        pytest.skip("needs a /proc file that reports size 0")
    assert stat.S_ISREG(os.stat(path).st_mode)
    cap = 100
    monkeypatch.setattr(spec_io, "MAX_SPEC_BYTES", cap)
    asked: list[int] = []
    got: list[int] = []
    real_read = os.read

    def recording_read(fd: int, n: int) -> bytes:
        asked.append(n)
        data = real_read(fd, n)
        got.append(len(data))
        return data

    monkeypatch.setattr(os, "read", recording_read)
    with pytest.raises(gd.SpecError) as info:
        spec_io.read_spec(path)
    monkeypatch.undo()
    assert problems_of(info.value) == [f"{path}: the file is over {cap} bytes; specs are limited to {cap}"]
    assert sum(got) == cap + 1 and max(asked) <= cap + 1, (asked, got)


def test_a_symbolic_link_to_a_regular_spec_still_loads(tmp_path):
    target = write_spec(tmp_path, "real.json", scalar_circuit_spec())
    assert gd.load(link_to(target, tmp_path)).checked.name == "cs231n"


def test_a_nul_in_the_path_is_graphdiffs_own_error():
    with pytest.raises(gd.SpecError) as info:
        gd.load("a\x00.json")
    assert problems_of(info.value) == ["a\\x00.json: cannot read: the path contains a NUL character"]
