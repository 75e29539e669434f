"""What every command shares: exit codes, the parser class, examples in --help, printing problems."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import Problem, printable
from ..spec import DEFAULT_MAX_ELEMENTS

EXIT_OK, EXIT_CHECK_FAILED, EXIT_INVALID = 0, 1, 2
#: The shell's convention for a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, with examples kept verbatim in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def print_problems(problems: Sequence[Problem]) -> None:
    """Each problem on one line of stderr, its control, bidirectional and invisible characters escaped
    (``\\x1b``, ``\\u202e``): a file name, an id or an archive's member name cannot reach the terminal raw."""
    for problem in problems:
        print(printable(str(problem)), file=sys.stderr)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a cap, a size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {text!r}")
    return value


def add_max_elements_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--max-elements",
        type=positive_int,
        default=DEFAULT_MAX_ELEMENTS,
        metavar="N",
        help=f"largest array read from a file (default {DEFAULT_MAX_ELEMENTS})",
    )
