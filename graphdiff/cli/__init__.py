"""The ``graphdiff`` command line: a thin layer over the Python API.

Errors go to stderr as one line per problem, ``file: place: message``, never a traceback. Exit codes:
0 ok, 1 a check failed (gradient check, non-finite value, training diverged), 2 invalid input or usage,
130 interrupted (Ctrl-C; files being replaced are left as they were). Running out of memory and failing
to write the output (a full disk, an I/O error) are one line and exit code 2 too; a closed pipe
(``graphdiff ops | head -1``) is exit code 0.

A process starts in :func:`launch` (the console script through :mod:`graphdiff_launcher`, ``python -m
graphdiff`` and ``python -m graphdiff.cli`` directly), so Ctrl-C is exit code 130 from the first instant:
this module imports only modules Python has loaded anyway at its top, and the commands (numpy, the API,
...) are imported by :func:`launch` with Ctrl-C noted rather than raised (see :mod:`graphdiff_launcher`).

The commands live in four modules: :mod:`.graph_commands` (validate, run, grad, check, render, ...),
:mod:`.lab_commands` (the optimization lab: train, search, compare, sweep, landscape),
:mod:`.model_commands` (ONNX import and export) and :mod:`.serve_command` (the live viewer).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "launch", "main"]

#: Ctrl-C's exit code (128 + SIGINT), as graphdiff.cli.common.EXIT_INTERRUPTED; repeated here because
#: :func:`launch` must not import anything before its guard.
_EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import graph_commands, lab_commands, model_commands, serve_command
    from .common import Parser, examples

    parser = Parser(
        prog="graphdiff",
        description="Graph-based automatic differentiation: check, run, differentiate, draw and train "
        "graph spec files.",
        epilog=examples(
            "graphdiff demo",
            "graphdiff validate examples/*.json",
            "graphdiff grad examples/cs231n_circuit.json",
            "graphdiff train examples/spiral_two_layer.json --data spiral --steps 2000 --lr 1",
        ),
    )
    parser.add_argument("--version", action="version", version=f"graphdiff {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    graph_commands.add_commands(commands)
    lab_commands.add_commands(commands)
    model_commands.add_commands(commands)
    serve_command.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``graphdiff`` command line: run the command ``argv`` (default ``sys.argv[1:]``) names and
    return its exit code. Usage errors raise SystemExit (argparse's, exit code 2)."""
    import numpy as np

    from ..errors import GraphdiffError, NonFiniteError, Problem
    from .common import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, print_problems

    args = build_parser().parse_args(argv)
    stdout = sys.stdout
    sys.stdout = _Output(stdout)
    try:
        # nan and inf are shown in the output or reported by --check-finite with the node that made
        # them; numpy's warnings, which name a line inside graphdiff, would only add noise.
        with np.errstate(all="ignore"):
            code = args.handler(args)
        sys.stdout.flush()  # output still buffered fails here, while it can be reported
        return code
    except NonFiniteError as exc:
        print_problems(exc.problems)
        return EXIT_CHECK_FAILED
    except GraphdiffError as exc:
        print_problems(exc.problems)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _discard(stdout)
        return EXIT_OK
    except OutputError as exc:
        print_problems([Problem("<stdout>", None, f"cannot write the output: {exc}")])
        _discard(stdout)
        return EXIT_INVALID
    except MemoryError as exc:
        # numpy names the array: "Unable to allocate 74.5 GiB for an array with shape (100000, 100000)
        # and data type float64"; Python's own MemoryError says nothing.
        what = str(exc) or "an allocation failed"
        print_problems(
            [Problem(None, args.command, f"out of memory: {what}; ask for less (smaller sizes or counts)")]
        )
        return EXIT_INVALID
    finally:
        sys.stdout = stdout


def launch() -> int:
    """:func:`main` as a process's entry point: a Ctrl-C at any moment, while the commands are imported
    or while ``main`` reports an earlier one, is the line "interrupted" and exit code 130, never a
    traceback; once the command is over, Ctrl-C is ignored while Python shuts down."""
    try:
        try:
            if _interrupted_while(_import_commands):
                raise KeyboardInterrupt
            return main()
        except KeyboardInterrupt:
            _ignore_interrupts()  # a second Ctrl-C cannot interrupt the report of the first
            print("interrupted", file=sys.stderr)
            return _EXIT_INTERRUPTED
        finally:
            _ignore_interrupts()
    except KeyboardInterrupt:  # came as the handler above began
        return _EXIT_INTERRUPTED


def _import_commands() -> None:
    from . import graph_commands, lab_commands, model_commands, serve_command  # noqa: F401 (imported for main)


def _interrupted_while(work: Callable[[], None]) -> bool:
    """Run ``work`` with Ctrl-C noted instead of raised; whether one came. (A process started with Ctrl-C
    ignored, as a background job is, keeps ignoring it.)"""
    noted: list[int] = []
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        work()
        return False
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        work()
    finally:
        signal.signal(signal.SIGINT, previous)
    return bool(noted)


def _ignore_interrupts() -> None:
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the handler alone
        pass


class OutputError(Exception):
    """Writing the standard output failed (a full disk, an I/O error): one line and exit code 2.

    Not an OSError, so no handler of file errors inside a command takes it for one of its files."""


class _Output:
    """sys.stdout while a command runs: its writes and flushes that fail raise :class:`OutputError`
    (a closed pipe stays a BrokenPipeError, exit code 0). Everything else is the stream's own."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc.strerror or str(exc)) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _discard(stream: TextIO) -> None:
    """Point a standard output that cannot be written at /dev/null, so what is still buffered is dropped
    when Python exits instead of failing again ("Exception ignored ... BrokenPipeError", exit code 120)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing buffered
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)
