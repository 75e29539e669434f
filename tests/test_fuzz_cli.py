"""Fuzzing the command line: whatever the arguments, every command exits with 0, 1, 2 or 130, and nothing
but argparse's SystemExit escapes ``graphdiff.cli.main``: no traceback, ever.

For every command ``graphdiff --help`` lists (import and export included), hypothesis builds argument
vectors from the command's own options, read from the parser itself (so a new option is fuzzed the day it
is added), with values mixed from one pool: small, negative and huge numbers (``10**30``, ``2**64``,
``1e400``), NaN and infinities, ``''``, text that is no number, the names of ids and inputs, files that
do not exist, folders, ``/dev/null``, the valid example specs, a corrupt spec, ``.npy``/``.npz`` feeds and
an ONNX model. Each vector runs in-process with :func:`graphdiff.cli.main` in one temporary folder per
command, so files written by one run (``--force`` or not) meet the next.

Long-running commands get small work first (``--steps 2``, ``--evals 3``, ``--points 3``, placed before the
fuzzed options so a fuzzed value still overrides them), numbers in the pool are either small or far beyond
the ``--max-evaluations`` budget, and ``--max-evaluations`` itself is only ever lowered: an accidental valid
run stays quick. A run still going after ``HANG_SECONDS`` is stopped and reported as a hang.

Profiles come from ``tests/fuzz_settings.py``: derandomized in CI (``CI_EXAMPLES_PER_COMMAND`` examples
per command, well under a minute on 2 cores), random with ``GRAPHDIFF_FUZZ_EXAMPLES=N`` (N per command);
``GRAPHDIFF_FUZZ_REPORT=-`` prints the exit codes seen per command.

A crash the fuzzer found in code this test's authors could not change is listed in ``KNOWN_BUGS``: the
fuzz test counts it instead of failing (``GRAPHDIFF_FUZZ_STRICT=1`` fails on it), and its regression test
at the end is marked ``xfail(strict=True)``, so fixing the bug makes that test fail until the entry goes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fuzz_settings
import numpy as np
import pytest
from helpers import grouped_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdiff.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ONNX_FIXTURES = ROOT / "tests" / "onnx_fixtures"

#: Examples per command in CI: 15 commands, each run a few tens of milliseconds.
CI_EXAMPLES_PER_COMMAND = 25
#: Heavy commands (Graphviz runs, ONNX, the demo's three diagrams) get fewer in CI.
HEAVY_COMMANDS = {"demo": 4, "render": 15, "import": 15, "export": 15, "serve": 15}
#: A single run taking longer than this is a hang (the test fails naming the arguments).
HANG_SECONDS = 20.0
EXIT_CODES = {0, 1, 2, 130}

SPECS = [
    "cs231n_circuit.json",
    "svm_three_points.json",
    "softmax_classifier.json",
    "spiral_two_layer.json",
    "digits_svm.json",
]

#: Numbers: small ones (valid, and quick), and ones far beyond any budget, or no numbers at all.
NUMBERS = [
    "0", "1", "2", "3", "5", "-1", "-3", "0.5", "1e-3", "-0.5", "2.5",
    str(10**30), str(-(10**30)), str(2**63), str(2**64), "1e30", "1e308", "1e400", "-1e400", "9" * 5000,
    "nan", "NaN", "inf", "-inf", "Infinity",
    "", " ", "abc", "0x10", "1,2", "[1,2]", "\x1b[31m", "\u202e",
]  # fmt: skip
#: --max-evaluations is only lowered (or refused): a raised cap would let a huge fuzzed count run.
SMALL_OR_INVALID = ["0", "1", "2", "5", "-1", "nan", "inf", "", "abc", "1.5"]
#: Paths: existing files of each kind, missing ones, folders and devices.
INPUTS = [*SPECS, "grouped.json", "garbage.json", "empty.json", "missing.json", "sub", ".", "/dev/null", "",
          "x.npy", "data.npz", "missing.npz", "model.onnx", "missing.onnx", "sub/missing.json"]  # fmt: skip
OUTPUTS = ["out.json", "out.npz", "out.png", "out.svg", "out.dot", "out.csv", "out.onnx", "out.txt", "out",
           "sub", ".", "/dev/null", "", "missing-folder/out.json", "sub/out.png", "out.json.npz"]  # fmt: skip
#: Ids, input names, data sources, bindings and feeds.
NAMES = ["x", "y", "z", "W", "b", "X", "W1", "b2", "q", "f", "L", "loss", "data_loss", "scores", "nope", "",
         "layer1", "out", "layer1/q", "\x1b[2J", "a" * 300]  # fmt: skip
DATA = ["spiral", "digits", "data.npz", "missing.npz", "x.npy", "sub", "/dev/null", "", "nope"]
FEEDS = ["x=3", "z=[1,2,3]", "z=[1,2]", "x=nan", "x=1e400", "X=x.npy", "X=data.npz:X", "X=data.npz:nope",
         "X=missing.npy", "y=[0,1]", "=3", "x", "x=", "x=[[1],[2,3]]", "nope=1", "x={}", 'x="s"']  # fmt: skip
BINDS = ["X=X", "X=features", "y=y", "nope=X", "X", "=", "X=", "=X"]

#: Valid invocations each vector starts from (so most runs get past parsing into the command's work), with
#: small work for the commands that would otherwise do a lot by default. The fuzzed options come after
#: them and override them; the positional is now and then replaced by a fuzzed one.
LAB = [
    ["svm_three_points.json"],
    ["softmax_classifier.json"],
    ["spiral_two_layer.json", "--data", "spiral"],
    ["digits_svm.json", "--data", "digits", "--limit", "50"],
    ["softmax_classifier.json", "--data", "data.npz"],
]
BASES: dict[str, list[list[str]]] = {
    "validate": [[spec] for spec in SPECS],
    "plan": [["cs231n_circuit.json"], ["softmax_classifier.json", "--max-steps", "2"]],
    "run": [["cs231n_circuit.json"], ["softmax_classifier.json"], ["grouped.json"]],
    "grad": [["cs231n_circuit.json"], ["softmax_classifier.json"], ["svm_three_points.json"]],
    "check": [["cs231n_circuit.json"], ["softmax_classifier.json"], ["svm_three_points.json"]],
    "render": [
        ["cs231n_circuit.json", "-o", "out.dot", "--force"],
        ["grouped.json", "-o", "out.dot", "--force"],
        ["softmax_classifier.json", "-o", "out.svg", "--force"],
    ],
    "ops": [[], ["add"]],
    "schema": [[], ["-o", "schema.json", "--force"]],
    "demo": [["--output-dir", "demo"]],
    "train": [[*lab, "--steps", "2", "-q", "--force"] for lab in LAB],
    "search": [[*lab, "--evals", "3", "-q", "--force"] for lab in LAB],
    "compare": [[*lab, "--evals", "3", "-q", "--force"] for lab in LAB],
    "sweep": [[*lab, "-q", "--force"] for lab in LAB],
    "landscape": [[*lab, "--points", "3", "-q", "--force"] for lab in LAB],
    "import": [["model.onnx", "-o", "imported.json", "--force"]],
    # The server itself is replaced (see the test): what is fuzzed is everything before it serves.
    "serve": [["cs231n_circuit.json", "--port", "0"], ["spiral_two_layer.json", "--data", "spiral"]],
    "export": [
        ["cs231n_circuit.json", "-o", "out.onnx", "--force"],
        ["softmax_classifier.json", "-o", "m.onnx"],
    ],
}

OUTPUT_DESTS = {"output", "save", "grid", "steps", "output_dir"}
INPUT_DESTS = {"file", "files", "model", "direction"}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


COMMANDS = sorted(subcommands())


def values_for(action: argparse.Action) -> st.SearchStrategy[str]:
    """The values an option is fuzzed with: half of the time a plausible one of its own kind (so a run
    gets past parsing, into the command's work), else a hostile one of its kind or anything at all."""
    dest = action.dest
    if dest == "max_evaluations":
        return st.sampled_from(SMALL_OR_INVALID)
    if action.choices:
        plausible = [str(c) for c in action.choices]
        hostile = NAMES
    elif dest in OUTPUT_DESTS:
        plausible, hostile = OUTPUTS[:9], OUTPUTS[9:]
    elif dest in INPUT_DESTS:
        plausible, hostile = INPUTS[:7], INPUTS[7:]
    elif dest == "data":
        plausible, hostile = DATA[:3], DATA[3:]
    elif dest == "feed":
        plausible, hostile = FEEDS[:7], FEEDS[7:]
    elif dest == "bind":
        plausible, hostile = BINDS[:3], BINDS[3:]
    elif action.type is float or dest == "range":
        plausible, hostile = ["0", "1", "0.5", "1e-3", "-1", "2", "0.9", str(2**64)], NUMBERS
    elif action.type is not None:  # whole numbers: counts, seeds, sizes
        plausible, hostile = ["1", "2", "3", "0", "18446744073709551615"], NUMBERS
    else:  # ids, names, titles
        plausible, hostile = NAMES[:14], NAMES[14:] + NUMBERS[:12]
    anything = NUMBERS + INPUTS + OUTPUTS + NAMES + FEEDS
    return st.one_of(st.sampled_from(plausible), st.sampled_from(hostile), st.sampled_from(anything))


@st.composite
def argument_vectors(draw: st.DrawFn, command: str) -> list[str]:
    sub = subcommands()[command]
    positionals = [a for a in sub._actions if not a.option_strings]
    options = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    base = list(draw(st.sampled_from(BASES[command])))
    if positionals and draw(st.integers(0, 3)) == 0:  # a fuzzed positional instead of the base's
        action = positionals[0]
        fuzzed = draw(st.lists(values_for(action), min_size=0, max_size=3))
        base = fuzzed + (base[1:] if base and not base[0].startswith("-") else base)
    argv = [command, *base]
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 2, 3, 4]))):
        action = draw(st.sampled_from(options))
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        elif isinstance(action.nargs, int):
            argv += [flag, *(draw(values_for(action)) for _ in range(action.nargs))]
        else:
            value = draw(values_for(action))
            # "--opt=value" sometimes: the only way a value starting with "-" reaches some options
            argv += [f"{flag}={value}"] if flag.startswith("--") and draw(st.booleans()) else [flag, value]
    return argv


# --- the folder the commands run in ------------------------------------------------------------------


def make_folder(folder: Path) -> Path:
    for name in SPECS:
        shutil.copy(EXAMPLES / name, folder / name)
    grouped = grouped_spec()
    (folder / "grouped.json").write_text(json.dumps(grouped))
    (folder / "garbage.json").write_bytes(b"\x00\x01 not json {")
    (folder / "empty.json").write_bytes(b"")
    (folder / "sub").mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", rng.standard_normal((4, 2)))
    np.savez(folder / "data.npz", X=rng.standard_normal((6, 2)), y=np.array([0, 1, 2, 1, 0, 2]))
    shutil.copy(ONNX_FIXTURES / "mlp.onnx", folder / "model.onnx")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One folder per command, holding the example specs, data files and a model."""
    return {c: make_folder(tmp_path_factory.mktemp(f"fuzz-{c}")) for c in COMMANDS}


@dataclass(frozen=True)
class KnownBug:
    """A crash found by this fuzzer and not yet fixed, and the file where the fix belongs."""

    name: str
    where: str
    matches: Callable[[list[str], BaseException], bool]


KNOWN_BUGS: tuple[KnownBug, ...] = ()
KNOWN_SEEN: Counter = Counter()


class Hang(BaseException):
    """A run took longer than HANG_SECONDS (BaseException: no handler in the CLI takes it for its own)."""


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    def alarm(signum, frame):
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(argv: list[str], folder: Path) -> tuple[int, str, str, float]:
    """``graphdiff ARGV`` in-process in ``folder``: (exit code, stdout, stderr, seconds). argparse's
    SystemExit is an exit code; any other exception fails the test with the arguments that raised it."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    start = time.perf_counter()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), hang_guard(HANG_SECONDS):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
                code = exc.code if isinstance(exc.code, int) else 2
                assert code in (0, 2), f"argparse exited {exc.code!r} for {argv!r}"
    except Hang:
        pytest.fail(f"graphdiff {argv!r} ran for more than {HANG_SECONDS} s")
    except BaseException as exc:
        bug = next((b for b in KNOWN_BUGS if b.matches(argv, exc)), None)
        if bug is not None and not fuzz_settings.strict():
            KNOWN_SEEN[bug.name] += 1
            return -1, out.getvalue(), err.getvalue(), time.perf_counter() - start
        pytest.fail(
            f"graphdiff {argv!r} raised {type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exception(exc))
            + f"stderr: {err.getvalue()}"
        )
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


SEEN: dict[str, Counter] = {}


def examples_for(command: str) -> int:
    return fuzz_settings.long_run_examples() or HEAVY_COMMANDS.get(command, CI_EXAMPLES_PER_COMMAND)


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_raises_or_exits_oddly_whatever_the_arguments(command, folders, monkeypatch):
    folder = folders[command]
    if command == "serve":  # a valid run would serve until Ctrl-C: it binds its port, then stops at once
        pytest.importorskip("uvicorn")
        import webbrowser

        from graphdiff.serve import server

        monkeypatch.setattr(server, "run", lambda app, sock: sock.close())
        monkeypatch.setattr(webbrowser, "open", lambda url: True)
    seen = SEEN.setdefault(command, Counter())

    @settings(fuzz_settings.fuzz_profile(), max_examples=examples_for(command))
    @given(argv=argument_vectors(command))
    def fuzz(argv: list[str]) -> None:
        code, out, err, seconds = run(argv, folder)
        seen[code] += 1
        if code == -1:  # a known bug, counted
            return
        assert code in EXIT_CODES, f"graphdiff {argv!r} exited {code}: {err}"
        assert "Traceback" not in err, f"graphdiff {argv!r}: {err}"

    fuzz()
    report = os.environ.get(fuzz_settings.REPORT_VARIABLE, "").strip()
    if report:
        print(
            f"\n{command}: exit codes {dict(sorted(seen.items()))} (-1: a known bug); known bugs {KNOWN_SEEN}"
        )


def test_the_fuzzer_covers_every_command_and_option():
    """Every command --help lists is fuzzed (import and export too), each with all its options."""
    assert {"import", "export", "train", "landscape", "check", "render", "demo"} <= set(COMMANDS)
    for command, sub in subcommands().items():
        options = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        for action in options:
            assert values_for(action) is not None, (command, action.dest)


# --- the findings: regression tests ------------------------------------------------------------------


def test_found_import_with_a_max_bytes_beyond_an_index_does_not_overflow(tmp_path):
    """Found by this fuzzer: ``import --max-bytes 18446744073709551615`` raised OverflowError from
    ``stream.read(max_bytes + 1)`` (fixed in graphdiff/onnxio/reader.py, which reads in bounded chunks)."""
    argv = ["import", "model.onnx", "-o", "m.json", "--max-bytes", str(2**64 - 1)]
    code, out, err, _ = run(argv, make_folder(tmp_path))
    assert code in (0, 2), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["render", "cs231n_circuit.json", "-o", "out.dot", "--precision", str(2**64 - 1)],
        ["render", "cs231n_circuit.json", "-o", "out.dot", "--precision", "2147483648"],
    ],
)
def test_found_render_precision_beyond_a_format_width_is_a_usage_error(argv, tmp_path):
    """Found by this fuzzer: a --precision too wide for Python's format() escaped as a ValueError."""
    code, out, err, _ = run(argv, make_folder(tmp_path))
    assert code == 2
    assert "argument --precision: must be from 1 to 17" in err
