"""The ``graphdiff`` command line: a thin layer over the Python API.

Errors go to stderr as one line per problem, ``file: place: message``, never a traceback. Exit codes:
0 ok, 1 a check failed (gradient check, non-finite value, training diverged), 2 invalid input or usage,
130 interrupted (Ctrl-C; files being replaced are left as they were).

The commands live in three modules: :mod:`.graph_commands` (validate, run, grad, check, render, ...),
:mod:`.lab_commands` (the optimization lab: train, search, compare, sweep, landscape) and
:mod:`.model_commands` (ONNX import and export).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from .. import __version__
from ..errors import GraphdiffError, NonFiniteError
from . import graph_commands, lab_commands, model_commands
from .common import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    Parser,
    examples,
    print_problems,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphdiff`` console script."""
    args = build_parser().parse_args(argv)
    try:
        # nan and inf are shown in the output or reported by --check-finite with the node that made
        # them; numpy's warnings, which name a line inside graphdiff, would only add noise.
        with np.errstate(all="ignore"):
            return args.handler(args)
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
        return EXIT_OK
