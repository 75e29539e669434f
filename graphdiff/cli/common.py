"""What every command shares: exit codes, the parser class, examples in --help, printing problems, and
reading --data, --limit and --bind (the lab's commands and run, grad, check and render take them)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GraphdiffError, Problem, printable
from ..spec import DEFAULT_MAX_ELEMENTS

if TYPE_CHECKING:
    from ..optimize.data import Dataset

EXIT_OK, EXIT_CHECK_FAILED, EXIT_INVALID = 0, 1, 2
#: The shell's convention for a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


#: --data's help, shared by every command that takes it.
DATA_HELP = (
    "the data fed to the graph's inputs: spiral (the CS231n case study's 300 points), digits (scikit-learn's "
    "1,797 8x8 images; needs the digits extra) or an .npz file of named arrays, each feeding the input of "
    "the same name (default: the inputs' values in the spec)"
)
BIND_HELP = "feed an input from a data array of another name (repeatable)"


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


def parse_bind(items: Sequence[str]) -> dict[str, str]:
    """``--bind INPUT=ARRAY`` arguments as input id -> array name."""
    bind = {}
    for item in items:
        input_id, sep, array = item.partition("=")
        if not sep or not input_id or not array:
            raise GraphdiffError(Problem(None, f"--bind {item}", "expected INPUT=ARRAY"))
        bind[input_id] = array
    return bind


def load_data(source: str, limit: int | None, *, seed: int, max_elements: int) -> Dataset:
    """The dataset ``--data`` names, cut to ``--limit`` examples drawn with ``--seed``."""
    from ..optimize.data import load_dataset  # the lab (and tqdm) only for a command given --data

    dataset = load_dataset(source, max_elements=max_elements)
    if limit is None:
        return dataset
    if not 1 <= limit <= len(dataset):  # said here, naming the option, before the library would
        raise GraphdiffError(
            Problem(None, "--limit", f"must be between 1 and the {len(dataset)} examples of {dataset.name}")
        )
    return dataset.sample(limit, seed=seed)
