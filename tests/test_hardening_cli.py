"""The command line under hostile or careless arguments and environments: bad seeds, counts that would
take forever or all the memory, a standard output that cannot be written, Ctrl-C while graphdiff is still
being imported, and reports that must say what really happened.

Each refusal is checked the way a user meets it: the exit code, one line on stderr naming the option (for
argparse's usage errors, one ``error:`` line after the usage), no traceback, and the working folder byte
for byte as it was. Work caps are checked before any work: the tests make loading or computing fail, and
measure the peak allocation, to show that nothing was loaded or allocated before the refusal.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import tracemalloc
import types
from pathlib import Path

import pytest
from helpers import assert_no_traceback, call, grouped_spec, snapshot, write_spec

from graphdiff import optimize
from graphdiff.cli import graph_commands, lab_commands, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SVM3 = "svm_three_points.json"
CIRCUIT = "cs231n_circuit.json"
SOFTMAX = "softmax_classifier.json"
SPIRAL = "spiral_two_layer.json"
CAP = f"{lab_commands.DEFAULT_MAX_EVALUATIONS:,}"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """tmp_path as the working directory, holding copies of four example specs."""
    monkeypatch.chdir(tmp_path)
    for name in (SVM3, CIRCUIT, SOFTMAX, SPIRAL):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def stub_plots(monkeypatch) -> None:
    """Plots drawn as a few bytes instead of by matplotlib: these tests are about what is refused."""
    draw = lambda *args, **kwargs: PNG + b"stub"  # noqa: E731
    plots = types.SimpleNamespace(
        loss_curve_png=draw, comparison_png=draw, sweep_png=draw, landscape_png=draw
    )
    monkeypatch.setattr(lab_commands, "_plots", lambda: plots)


def one_line(err: str, *needles: str) -> str:
    """The one problem line on stderr, with no traceback, holding each needle."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def usage_error(err: str, *needles: str) -> str:
    """argparse's usage error: the usage, then one ``error:`` line holding each needle, no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    for needle in needles:
        assert needle in errors[0], err
    return errors[0]


def no_work(monkeypatch) -> None:
    """Loading a spec or running a graph fails the test: a refusal must come before either."""

    def fail(*args, **kwargs):
        raise AssertionError("work began before the arguments were checked")

    monkeypatch.setattr(lab_commands, "load", fail)
    monkeypatch.setattr(graph_commands, "load", fail)
    monkeypatch.setattr(graph_commands, "check_gradients", fail)


def big_leaf_spec() -> dict:
    """L = sum(W) with W a 400 x 300 parameter (120,000 coordinates) from an initializer."""
    return {
        "format_version": 1,
        "name": "big",
        "leaves": [
            {"id": "W", "kind": "parameter", "shape": [400, 300], "value": {"init": "zeros"}},
        ],
        "nodes": [{"id": "L", "op": "sum", "inputs": ["W"]}],
        "loss": "L",
    }


# --- 1. seeds are checked while the arguments are parsed ---------------------------------------------

SEED_COMMANDS = {
    "train": ["train", SVM3, "--steps", "1"],
    "check": ["check", CIRCUIT],
    "search": ["search", SVM3, "--evals", "1"],
    "compare": ["compare", SVM3, "--evals", "1"],
    "sweep": ["sweep", SVM3],
    "landscape": ["landscape", SVM3, "--points", "2"],
}
BAD_SEEDS = {
    "-1": "from 0 to 2**64 - 1",
    "-99999999999999999999999": "from 0 to 2**64 - 1",
    str(2**64): "from 0 to 2**64 - 1",
    "1e30": "from 0 to 2**64 - 1",
    "1.5": "expected a whole number",
    "nan": "expected a whole number",
    "": "expected a whole number",
    "1e999999999": "too large",
}


@pytest.mark.parametrize("seed", list(BAD_SEEDS))
@pytest.mark.parametrize("command", list(SEED_COMMANDS))
def test_a_negative_huge_or_non_integer_seed_is_a_usage_error(command, seed, folder, capsys, monkeypatch):
    no_work(monkeypatch)
    before = snapshot(folder)
    code, out, err = call(capsys, *SEED_COMMANDS[command], f"--seed={seed}")
    assert code == 2
    usage_error(err, "argument --seed", BAD_SEEDS[seed])
    assert out == ""
    assert snapshot(folder) == before


def test_the_seed_in_the_example_is_refused_with_a_clear_message(folder, capsys):
    code, _, err = call(capsys, "train", SVM3, "--seed", "-1", "--steps", "1")
    assert code == 2
    assert usage_error(err).endswith("argument --seed: a seed is an integer from 0 to 2**64 - 1, got '-1'")


@pytest.mark.usefixtures("stub_plots")
@pytest.mark.parametrize("seed", ["0", str(2**64 - 1), "1e3"])
def test_the_largest_seed_and_exponent_notation_are_accepted(seed, folder, capsys):
    code, out, err = call(capsys, "search", SVM3, "--evals", "2", "--seed", seed, "-q")
    assert code == 0, err
    code, _, err = call(capsys, "check", CIRCUIT, "--directions", "1", "--seed", seed)
    assert code == 0, err


# --- 2. work and memory are capped before any work ---------------------------------------------------

CAPPED = [
    pytest.param(["check", CIRCUIT, "--directions", "1e8"], "--directions", id="check-directions-1e8"),
    pytest.param(["check", CIRCUIT, "--directions", str(10**30)], "--directions", id="check-directions-huge"),
    pytest.param(["landscape", SVM3, "--points", "1e8"], "--points", id="landscape-ray-1e8"),
    pytest.param(["landscape", SVM3, "--plane", "--points", "100000"], "--points", id="landscape-plane"),
    pytest.param(["sweep", SVM3, "--per-decade", "100000"], "--per-decade", id="sweep-per-decade"),
    pytest.param(
        ["sweep", SVM3, "--range", "1e-300", "1e300", "--per-decade", "1000"],
        "--per-decade",
        id="sweep-range",
    ),  # fmt: skip
    pytest.param(["train", SVM3, "--steps", str(10**30)], "--steps", id="train-steps"),
    pytest.param(["search", SVM3, "--evals", "1e6"], "--evals", id="search-evals"),
    pytest.param(["compare", SVM3, "--evals", "40000"], "--evals", id="compare-3x-evals"),
]


@pytest.mark.parametrize(("args", "option"), CAPPED)
def test_a_count_beyond_the_budget_is_refused_before_any_work(args, option, folder, capsys, monkeypatch):
    no_work(monkeypatch)
    before = snapshot(folder)
    tracemalloc.start()
    try:
        code, out, err = call(capsys, *args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    line = one_line(err, f"{option}: ", f"more than the cap of {CAP} loss evaluations", "--max-evaluations N")
    assert out == ""
    assert snapshot(folder) == before
    assert peak < 20 * 1024**2, f"{peak} bytes allocated before refusing: {line}"


def test_check_counts_the_coordinates_of_a_large_leaf_before_checking_any(folder, capsys, monkeypatch):
    write_spec(folder, "big.json", big_leaf_spec())
    monkeypatch.setattr(graph_commands, "check_gradients", lambda *a, **k: pytest.fail("checked"))
    code, _, err = call(capsys, "check", "big.json", "--max-coords", "1000000")
    assert code == 2
    one_line(err, "--max-coords: ", "120,000 coordinates of 1 leaves = 240,000", f"the cap of {CAP}")
    code, _, err = call(capsys, "check", "big.json", "--max-coords", "1000000", "--max-evaluations", "1e5")
    assert code == 2 and "the cap of 100,000" in err


@pytest.mark.usefixtures("stub_plots")
@pytest.mark.parametrize(
    ("args", "over", "within"),
    [
        (["landscape", SVM3, "--plane", "-q"], ["--points", "4", "--max-evaluations", "15"],
         ["--points", "4", "--max-evaluations", "16"]),
        (["landscape", SVM3, "-q"], ["--points", "9", "--max-evaluations", "8"], ["--points", "8"]),
        (["train", SVM3, "-q"], ["--steps", "3", "--max-evaluations", "2"], ["--steps", "2"]),
        (["search", SVM3, "-q"], ["--evals", "3", "--max-evaluations", "2"], ["--evals", "2"]),
        (["compare", SVM3, "-q"], ["--evals", "2", "--max-evaluations", "5"], ["--evals", "2"]),
        (["sweep", SVM3, "-q"], ["--range", "1", "1e3", "--per-decade", "2", "--max-evaluations", "6"],
         ["--range", "1", "1e3", "--per-decade", "2", "--max-evaluations", "7"]),
        (["check", CIRCUIT], ["--directions", "2", "--max-evaluations", "11"],
         ["--directions", "2", "--max-evaluations", "12"]),
        (["check", CIRCUIT], ["--max-evaluations", "5"], ["--max-evaluations", "6"]),
    ],
)  # fmt: skip
def test_the_cap_is_the_max_evaluations_given(args, over, within, folder, capsys):
    force = ["--force"] if args[0] != "check" else []
    code, _, err = call(capsys, *args, *over, *force)
    assert code == 2
    cap = over[over.index("--max-evaluations") + 1]
    one_line(err, f"more than the cap of {cap} loss evaluations")
    code, _, err = call(capsys, *args, *within, *force)
    assert code == 0, err


NOT_COUNTS = [
    (["train", SVM3], "--steps", "2.5", "expected a whole number"),
    (["train", SVM3], "--batch-size", "nan", "expected a whole number"),
    (["train", SVM3], "--decay-every", "inf", "expected a whole number"),
    (["train", SVM3], "--eval-every", "", "expected a whole number"),
    (["train", SVM3], "--limit", "0x10", "expected a whole number"),
    (["search", SVM3], "--evals", "1e999999", "too large"),
    (["compare", SVM3], "--evals", "-inf", "expected a whole number"),
    (["sweep", SVM3], "--per-decade", "1.5", "expected a whole number"),
    (["landscape", SVM3], "--points", "NaN", "expected a whole number"),
    (["landscape", SVM3], "--max-evaluations", "0", "must be at least 1"),
    (["train", SVM3], "--max-evaluations", "-1", "must be at least 1"),
    (["check", CIRCUIT], "--directions", "0.5", "expected a whole number"),
    (["check", CIRCUIT], "--max-coords", "x", "expected a whole number"),
    (["check", CIRCUIT], "--max-evaluations", "1e999999", "too large"),
    (["render", CIRCUIT, "-o", "c.dot"], "--precision", str(2**64 - 1), "must be from 1 to 17"),
    (["render", CIRCUIT, "-o", "c.dot"], "--precision", "2147483648", "must be from 1 to 17"),
]


@pytest.mark.parametrize(("args", "option", "value", "expected"), NOT_COUNTS)
def test_a_count_that_is_no_count_is_a_usage_error(args, option, value, expected, folder, capsys):
    before = snapshot(folder)
    code, out, err = call(capsys, *args, f"{option}={value}")
    assert code == 2
    usage_error(err, f"argument {option}: ", expected)
    assert out == "" and snapshot(folder) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["landscape", SVM3, "--plane", "--points", "-5"], "at least 2 points"),
        (["landscape", SVM3, "--points=-1e30"], "at least 2 points"),
        (["sweep", SVM3, "--per-decade", "-2"], "--per-decade at least 1"),
        (["train", SVM3, "--decay-every", "-1"], "decay-every must be at least 1"),
        (["train", SVM3, "--steps=-1e30"], "steps must be at least 1"),
        (["compare", SVM3, "--evals", "-3"], "--evals: must be at least 1"),
        (["check", CIRCUIT, "--directions", "-3"], "directions"),
        (["check", CIRCUIT, "--max-coords", "-1"], "max_coords"),
    ],
)
def test_a_negative_count_is_refused_by_the_command_in_one_line(args, expected, folder, capsys):
    """Whole numbers below a command's minimum are the commands' own one-line refusals (the budget never
    mistakes a negative count, or its square, for an affordable one)."""
    before = snapshot(folder)
    code, out, err = call(capsys, *args)
    assert code == 2
    one_line(err, expected)
    assert out == "" and snapshot(folder) == before


def test_a_memory_error_in_a_command_is_one_line_naming_the_array(folder, capsys, monkeypatch):
    message = "Unable to allocate 74.5 GiB for an array with shape (100000, 100000) and data type float64"

    def allocate(*args, **kwargs):
        raise MemoryError(message)

    monkeypatch.setattr(optimize, "loss_landscape", allocate)
    before = snapshot(folder)
    code, out, err = call(capsys, "landscape", SVM3, "--plane", "--points", "3", "-q")
    assert code == 2
    one_line(err, f"landscape: out of memory: {message}")
    assert snapshot(folder) == before


def test_a_bare_memory_error_is_one_line_too(folder, capsys, monkeypatch):
    def allocate(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(graph_commands, "grad_table", allocate)
    code, _, err = call(capsys, "grad", CIRCUIT)
    assert code == 2
    one_line(err, "grad: out of memory: an allocation failed")


def limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))


@pytest.mark.parametrize(
    "args",
    [
        # 40,000 x 40,000 float64 = 12.8 GB, with the budget raised far enough to let it try
        ["landscape", SVM3, "--plane", "--points", "40000", "--max-evaluations", "1e10", "-q"],
        # an initializer of 2e9 elements (16 GB), with the element cap raised to allow it
        ["grad", "huge.json", "--max-elements", "1e10"],
    ],
    ids=["landscape-grid", "initializer"],
)
def test_a_real_out_of_memory_is_one_line_and_exit_code_2(args, folder):
    spec = big_leaf_spec()
    spec["leaves"][0]["shape"] = [40000, 50000]
    write_spec(folder, "huge.json", spec)
    if args[0] == "grad":
        args[-1] = str(10**10)  # --max-elements is a plain int option
    before = snapshot(folder)
    proc = subprocess.run(
        [sys.executable, "-m", "graphdiff", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_memory,
    )
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    line = one_line(proc.stderr, f"{args[0]}: out of memory: ")
    assert "Unable to allocate" in line
    assert snapshot(folder) == before


# --- 3. a standard output that cannot be written ----------------------------------------------------

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def env_with(buffered: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


@needs_dev_full
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args", [["grad", CIRCUIT], ["schema"], ["ops"], ["check", CIRCUIT], ["run", SOFTMAX, "--json"]]
)
def test_writing_to_a_full_device_is_one_line_and_exit_code_2(args, buffered, folder):
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "graphdiff", *args],
            cwd=folder,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env_with(buffered),
        )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    one_line(proc.stderr, "<stdout>: cannot write the output: No space left on device")


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["ops", "--markdown"], ["schema"]])
def test_a_closed_pipe_is_still_exit_code_0_and_silent(args, buffered, folder):
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphdiff", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_with(buffered),
    )
    proc.stdout.close()  # the reader went away before anything was written (`graphdiff ops | head -0`)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == b""


class FailingOutput:
    """A standard output whose writes fail as a disk's do."""

    def __init__(self, error: int) -> None:
        self.error = error

    def write(self, text: str) -> int:
        raise OSError(self.error, os.strerror(self.error))

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("error", [errno.EIO, errno.ENOSPC, errno.EDQUOT])
def test_an_output_error_in_process_is_one_line(error, folder, capsys, monkeypatch):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", FailingOutput(error))
    code = main(["grad", CIRCUIT])
    monkeypatch.undo()
    assert code == 2
    one_line(capsys.readouterr().err, f"<stdout>: cannot write the output: {os.strerror(error)}")


def test_a_file_error_inside_a_command_is_not_taken_for_an_output_error(folder, capsys):
    """Only stdout's own failures are reported as such; a command's file errors keep their messages."""
    code, _, err = call(capsys, "grad", CIRCUIT, "--save", "missing-folder/r.json")
    assert code == 2
    line = one_line(err, "missing-folder/r.json")
    assert "<stdout>" not in line


# --- 4. Ctrl-C from the first instant --------------------------------------------------------------

CONSOLE_SCRIPT = Path(sys.executable).with_name("graphdiff")
ENTRY_POINTS = {
    "console-script": [str(CONSOLE_SCRIPT)],
    "python-m-graphdiff": [sys.executable, "-m", "graphdiff"],
    "python-m-graphdiff.cli": [sys.executable, "-m", "graphdiff.cli"],
}


def interrupt_early(command: list[str], folder: Path, delay: float) -> tuple[int | None, str]:
    """Start ``command`` (a long training run), wait until it has begun importing graphdiff's modules
    (Python's -X importtime reports numpy imported), then ``delay`` seconds more, and send SIGINT.

    Waiting for the first import of graphdiff's own dependencies, not a time after start, keeps Python's
    own start-up out of the test: a SIGINT before the interpreter has run a line of any program (while it
    imports ``site``) is CPython's to report, and on a busy machine that phase alone can last 0.1 s."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    args = ["train", SPIRAL, "--data", "spiral", "--steps", "50000", "-q", "-o", "out/x.json"]
    proc = subprocess.Popen(
        [*command, *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    importing = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("import time:") and line.split("|")[-1].strip() == "numpy":
                importing.set()
        importing.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert importing.wait(60), "the process never imported numpy"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        proc.stdout.close()
    return proc.returncode, "".join(line for line in lines if not line.startswith("import time:"))


DELAYS = [0.0, 0.05, 0.1, 0.2]


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize(
    "entry",
    [
        "console-script",
        "python-m-graphdiff",
        "python-m-graphdiff.cli",
    ],
)
def test_ctrl_c_while_graphdiff_is_being_imported_exits_130_without_a_traceback(entry, delay, folder):
    if entry == "console-script":
        if not CONSOLE_SCRIPT.exists():
            pytest.skip("no console script beside this Python")
        assert "graphdiff_launcher" in CONSOLE_SCRIPT.read_text(), (
            "the installed console script predates graphdiff_launcher: reinstall (pip install -e .)"
        )
    (folder / "out").mkdir()
    code, err = interrupt_early(ENTRY_POINTS[entry], folder, delay)
    assert "Traceback" not in err, err
    assert code == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted"), err
    assert list((folder / "out").iterdir()) == []


def test_the_console_script_starts_in_the_launcher():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["graphdiff"] == "graphdiff_launcher:main"


def test_the_entry_modules_import_nothing_of_graphdiff_before_their_guard():
    """graphdiff_launcher imports only sys; graphdiff.cli adds only itself to what graphdiff imported
    (its commands are imported inside main, within launch's guard)."""
    code = (
        "import sys\n"
        "import graphdiff_launcher\n"
        "print(sorted(m for m in sys.modules if m.startswith(('graphdiff', 'numpy'))))\n"
        "import graphdiff\n"
        "before = set(sys.modules)\n"
        "import graphdiff.cli\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    launcher, cli = proc.stdout.splitlines()
    assert launcher == "['graphdiff_launcher']"
    assert cli == "['graphdiff.cli']"


@pytest.mark.parametrize("when", ["import", "report"])
def test_launch_turns_a_ctrl_c_outside_mains_handlers_into_130(when, monkeypatch, capsys):
    """While main imports the commands, or while it reports an earlier Ctrl-C: "interrupted", 130."""
    import graphdiff.cli as cli

    def interrupted(argv=None):
        if when == "report":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise KeyboardInterrupt from None  # a second Ctrl-C while handling the first
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted)
    previous = signal.getsignal(signal.SIGINT)
    try:
        assert cli.launch() == 130
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # Python's shutdown is not interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err == "interrupted\n"


def test_launch_notes_a_ctrl_c_while_the_commands_are_imported_and_exits_130(monkeypatch, capsys):
    """A Ctrl-C during the imports is noted, not raised into them (a KeyboardInterrupt raised inside a
    module's import can land in a finalizer, be printed as "Exception ignored" and be lost): the imports
    finish, the command never starts, and the exit code is 130."""
    import graphdiff.cli as cli

    imported = []

    def importing() -> None:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(0.05)  # the handler runs in here: it notes the Ctrl-C and raises nothing
        imported.append(True)

    monkeypatch.setattr(cli, "_import_commands", importing)
    monkeypatch.setattr(cli, "main", lambda argv=None: pytest.fail("the command ran after a Ctrl-C"))
    previous = signal.getsignal(signal.SIGINT)
    try:
        assert cli.launch() == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert imported == [True]
    assert capsys.readouterr().err == "interrupted\n"


# --- 5. reports that say what really happened --------------------------------------------------------


def check_rows(out: str) -> dict[str, str]:
    """The "checked" cell of each leaf's row of graphdiff check's table."""
    lines = out.splitlines()
    start = lines[0].index("checked")
    end = lines[0].index("max rel. error")
    return {line.split()[0]: line[start:end].strip() for line in lines[1:-1]}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--directions", "5"], {"X": "5 dirs (size 8)", "W": "5 dirs (size 6)", "b": "5 dirs (size 3)"}),
        (["--directions", "1"], {"X": "1 dir (size 8)", "W": "1 dir (size 6)", "b": "1 dir (size 3)"}),
        ([], {"X": "8/8", "W": "6/6", "b": "3/3"}),
        (["--max-coords", "2"], {"X": "2/8", "W": "2/6", "b": "2/3"}),
    ],
)
def test_check_reports_what_it_compared(args, expected, folder, capsys):
    code, out, err = call(capsys, "check", SOFTMAX, *args)
    assert code == 0, err
    assert check_rows(out) == expected
    assert "5/3" not in out


def test_check_directions_on_scalar_leaves_are_not_reported_as_more_than_the_leaf(folder, capsys):
    code, out, _ = call(capsys, "check", CIRCUIT, "--directions", "5")
    assert code == 0
    assert set(check_rows(out).values()) == {"5 dirs (size 1)"}
    assert "5/1" not in out


@pytest.mark.parametrize(
    ("spec", "args", "needles"),
    [
        ("circuit", [], ['no cluster "nope"', "no clusters"]),
        ("grouped", [], ['no cluster "nope"', '"layer1"', '"out"']),
        ("grouped", ["--no-clusters"], ['no cluster "nope"', "--no-clusters"]),
    ],
)
def test_render_collapse_of_no_cluster_is_refused_listing_the_clusters(spec, args, needles, folder, capsys):
    write_spec(folder, "grouped.json", grouped_spec())
    file = CIRCUIT if spec == "circuit" else "grouped.json"
    before = snapshot(folder)
    code, out, err = call(capsys, "render", file, "-o", "out.dot", "--collapse", "nope", *args)
    assert code == 2
    one_line(err, *needles)
    assert snapshot(folder) == before


def test_render_collapse_of_a_real_cluster_still_draws(folder, capsys):
    write_spec(folder, "grouped.json", grouped_spec())
    code, _, err = call(capsys, "render", "grouped.json", "-o", "out.dot", "--collapse", "layer1")
    assert code == 0, err
    assert "collapsed" in (folder / "out.dot").read_text()
