"""The optimization lab's commands: train, search, compare, sweep, landscape.

Each is a thin layer over :mod:`graphdiff.optimize`: load the graph and the data, run, then write every
output at once (atomically, with Ctrl-C held back while writing). Outputs that exist are replaced only with
``--force``, and that is checked before any work; an interrupted or diverged run writes nothing.

The work a run asks for is checked first, too: its loss evaluations (training steps, searches' tries,
sweeps' step sizes, landscapes' grid points) may not exceed ``--max-evaluations`` (default
:data:`DEFAULT_MAX_EVALUATIONS`), so ``--points 100000 --plane`` is one line, not a 75 GiB allocation.
Seeds are checked while the arguments are parsed (:func:`seed`), and counts are whole numbers
(:func:`whole_number`, ``1e5`` included).

Building the parser imports nothing of the lab: every command's parser is built for any command line, so
:mod:`graphdiff.optimize` (and tqdm, and matplotlib for the plots) is imported by the command that runs.
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..api import load
from ..errors import GraphdiffError, Problem
from ..fileio import InterruptedAfterWriting
from ..spec import dump_spec, read_array
from .common import (
    BIND_HELP,
    DATA_HELP,
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_max_elements_option,
    examples,
    load_data,
    parse_bind,
    print_problems,
)

if TYPE_CHECKING:
    from .. import optimize

#: Seeds are what numpy's generators take, up to 64 bits: the integers 0 to 2**64 - 1.
MAX_SEED = 2**64 - 1
#: The most loss evaluations (forward passes over the data) one command makes unless --max-evaluations
#: says otherwise: a training step, a search's try, a sweep's step size, a landscape's grid point or a
#: gradient check's perturbed pass each count as one. Checked before any work.
DEFAULT_MAX_EVALUATIONS = 100_000
#: Whole numbers on the command line have at most this many digits (1e999999 is refused unread).
_MAX_DIGITS = 100


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the lab commands to the ``graphdiff`` parser."""
    train = commands.add_parser(
        "train",
        help="train the parameters by gradient descent (full-batch, minibatch, SGD, momentum)",
        description="Train the graph's parameter leaves to lower its loss on the data, starting from their "
        "values in the spec. Full-batch gradient descent by default; --batch-size B for minibatch SGD "
        "(reshuffled every epoch), --batch-size 1 for SGD proper, --momentum 0.9 (and --nesterov) for "
        "momentum, --lr-decay for step decay. Writes the trained parameters (.npz) and a spec that reads "
        "them, a loss-curve CSV and a PNG plot. A non-finite loss stops the run (exit code 1) and nothing "
        "is written.",
        epilog=examples(
            "graphdiff train examples/spiral_two_layer.json --data spiral --steps 3000 --lr 1",
            "graphdiff train examples/digits_svm.json --data digits --steps 1000 --lr 0.1 --batch-size 64",
            "graphdiff train examples/digits_softmax.json --data digits --lr 0.01 --batch-size 64 \\\n"
            "    --momentum 0.9",
            "graphdiff train examples/digits_cnn.json --data digits --steps 2000 --lr 0.05 \\\n"
            "    --batch-size 64 --momentum 0.9 --lr-decay 0.5 --decay-every 500",
            "graphdiff train net.json --data data.npz --bind X=features -o net.trained.npz --force",
            "graphdiff run spiral_two_layer.trained.json --feed X=[[0.1,0.2]] --feed y=[0]",
        ),
    )
    _data_options(train)
    _train_options(train)
    _output_option(
        train,
        "the trained spec (.json, reading its parameters from an .npz beside it) or the "
        "parameters alone (.npz); default ./STEM.trained.json. The loss curve goes to "
        "OUT-STEM.loss.csv and .loss.png",
    )
    train.set_defaults(handler=cmd_train)

    search = commands.add_parser(
        "search",
        help="random search or random local search (no gradients)",
        description="The CS231n notes' strategies that use the loss alone. random: try --evals random "
        "settings of the parameters (each scale * standard normal) and keep the best. local: start from the "
        "spec's parameters and try a random step (step-size * standard normal) each time, moving only when "
        "the loss goes down. Writes the best parameters (as train does), the losses tried as CSV and the "
        "best loss so far as a PNG.",
        epilog=examples(
            "graphdiff search examples/digits_svm.json --data digits --strategy random --evals 1000",
            "graphdiff search examples/digits_svm.json --data digits --strategy local --step-size 1e-3",
        ),
    )
    _data_options(search)
    search.add_argument("--strategy", choices=["random", "local"], default="random", help="default random")
    search.add_argument(
        "--evals", type=whole_number, default=1000, metavar="N", help="loss evaluations (default 1000)"
    )
    _search_options(search)
    _output_option(search, "the best parameters, as for train; default ./STEM.STRATEGY-search.json")
    search.set_defaults(handler=cmd_search)

    compare = commands.add_parser(
        "compare",
        help="random search vs random local search vs gradient descent, on one budget",
        description="Run the notes' three strategies with the same number of loss evaluations (a gradient "
        "step, forward and backward, counts as one) from the same seed, print the final loss and accuracy "
        "of each as a table, and plot the loss against evaluations.",
        epilog=examples(
            "graphdiff compare examples/digits_svm.json --data digits --evals 1000 --lr 0.1",
            "graphdiff compare examples/digits_softmax.json --data digits --evals 300 --lr 0.5 -o cmp.png",
        ),
    )
    _data_options(compare)
    compare.add_argument(
        "--evals",
        type=whole_number,
        default=1000,
        metavar="N",
        help="evaluations per strategy (default 1000)",
    )
    _train_options(compare, steps=False)
    _search_options(compare)
    _output_option(compare, "the plot (.png); default ./STEM.compare.png, with the table as OUT-STEM.csv")
    compare.set_defaults(handler=cmd_compare)

    sweep = commands.add_parser(
        "sweep",
        help="the step-size table: the loss after one step along -grad, per step size",
        description="From the spec's parameters W, compute the gradient on all the training data and the "
        "loss at W - step * grad for each step size, printed as the CS231n notes print it and plotted. "
        "Small steps barely move, a good one lowers the loss most, large ones overshoot and explode.",
        epilog=examples(
            "graphdiff sweep examples/digits_svm.json --data digits",
            "graphdiff sweep examples/digits_svm.json --data digits --range 1e-6 1e4",
            "graphdiff sweep examples/spiral_two_layer.json --data spiral --range 1e-3 1e4 --per-decade 3",
        ),
    )
    _data_options(sweep)
    sweep.add_argument(
        "--range",
        nargs=2,
        type=float,
        default=[1e-10, 1e-1],
        metavar=("SMALLEST", "LARGEST"),
        help="the step sizes, powers of ten from SMALLEST to LARGEST (default 1e-10 1e-1, as in the notes)",
    )
    sweep.add_argument(
        "--per-decade",
        type=whole_number,
        default=1,
        metavar="K",
        help="step sizes per power of ten (default 1)",
    )
    _output_option(sweep, "the plot (.png); default ./STEM.sweep.png, with the table as OUT-STEM.csv")
    sweep.set_defaults(handler=cmd_sweep)

    landscape = commands.add_parser(
        "landscape",
        help="the loss along a ray L(W + a d1) or over a plane L(W + a d1 + b d2) through the parameters W",
        description="Slice the loss through the spec's parameters W (all the parameters moved, taken "
        "together) along random (seeded) or given directions d1 (and d2), each holding one array per "
        "moved parameter: a ray L(W + a d1) gives a line plot, a plane L(W + a d1 + b d2) a heat map "
        "(blue low, red high). Writes the PNG and the raw grid (.csv or .npz). Pass a trained spec to "
        "look around a minimum.",
        epilog=examples(
            "graphdiff landscape examples/digits_svm.json --data digits --param W --ray",
            "graphdiff landscape examples/digits_svm.json --data digits --loss data_loss --plane --limit 1",
            "graphdiff landscape net.trained.json --data spiral --plane --normalize --range -1 1 --points 41",
            "graphdiff landscape examples/digits_svm.json --data digits --ray --direction d.npz",
        ),
    )
    _data_options(landscape)
    shape = landscape.add_mutually_exclusive_group()
    shape.add_argument(
        "--ray", dest="plane", action="store_false", help="one direction d1: L(W + a d1) (default)"
    )
    shape.add_argument(
        "--plane", dest="plane", action="store_true", help="two directions d1, d2: L(W + a d1 + b d2)"
    )
    landscape.set_defaults(plane=False)  # else the first option's (--ray's) default, True, would win
    landscape.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="ID",
        help="a parameter to move (repeatable; default: all of them)",
    )
    landscape.add_argument(
        "--range",
        nargs=2,
        type=float,
        default=[-1.0, 1.0],
        metavar=("LOW", "HIGH"),
        help="the range of a (and b) (default -1 1)",
    )
    landscape.add_argument(
        "--points", type=whole_number, default=51, metavar="N", help="grid points per axis (default 51)"
    )
    landscape.add_argument(
        "--normalize",
        action="store_true",
        help="scale each direction, per parameter, to the parameter's norm",
    )
    landscape.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="FILE",
        help="a given direction: an .npz with one array per moved parameter (named by id), or an .npy "
        "when one parameter moves; once for a ray (d1), twice for a plane (d1, then d2) (default: "
        "random, from --seed)",
    )
    landscape.add_argument(
        "--grid", metavar="PATH", help="the raw grid (.csv or .npz); default OUT-STEM.csv (ray), .npz (plane)"
    )
    _output_option(landscape, "the plot (.png); default ./STEM.ray.png or ./STEM.plane.png")
    landscape.set_defaults(handler=cmd_landscape)


# --- options ------------------------------------------------------------------------------------------


def _data_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "file", metavar="FILE", help="a graph spec (.json) with a scalar loss and parameter leaves"
    )
    sub.add_argument("--data", metavar="SOURCE", help=DATA_HELP)
    sub.add_argument("--bind", action="append", default=[], metavar="INPUT=ARRAY", help=BIND_HELP)
    sub.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="the share of the data held out for validation, split with --seed (default 0.2; 0: none)",
    )
    sub.add_argument(
        "--limit",
        type=whole_number,
        metavar="N",
        help="use N examples of the data, drawn with --seed (e.g. 1 for one example's loss)",
    )
    sub.add_argument("--loss", metavar="NODE", help="the scalar node to minimize (default: the graph's loss)")
    sub.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed for the split, shuffles and random draws, 0 to 2**64 - 1 (default 0)",
    )
    sub.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sub.add_argument("--force", action="store_true", help="replace existing output files")
    add_max_elements_option(sub)
    add_max_evaluations_option(sub)


def _train_options(sub: argparse.ArgumentParser, *, steps: bool = True) -> None:
    if steps:
        sub.add_argument(
            "--steps", type=whole_number, default=1000, metavar="N", help="update steps (default 1000)"
        )
    sub.add_argument("--lr", type=float, default=1e-3, help="the learning rate (step size) (default 1e-3)")
    sub.add_argument(
        "--batch-size",
        type=whole_number,
        metavar="B",
        help="examples per step (default: all of them, full-batch)",
    )
    sub.add_argument("--momentum", type=float, default=0.0, metavar="MU", help="momentum (default 0: none)")
    sub.add_argument("--nesterov", action="store_true", help="Nesterov momentum (with --momentum)")
    sub.add_argument(
        "--lr-decay",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the learning rate by F every --decay-every steps (default 1: constant)",
    )
    sub.add_argument(
        "--decay-every", type=whole_number, metavar="N", help="steps between decays (default: one epoch)"
    )
    sub.add_argument(
        "--eval-every",
        type=whole_number,
        metavar="N",
        help="evaluate on all the data every N steps (default: 100 times per run)",
    )


def _search_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--scale",
        type=float,
        default=1e-3,
        help="random search: each parameter ~ scale * randn (default 1e-3)",
    )
    sub.add_argument(
        "--step-size",
        type=float,
        default=1e-3,
        help="random local search: each try moves by step-size * randn (default 1e-3)",
    )


def _output_option(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument("-o", "--output", metavar="OUT", help=what)


def add_max_evaluations_option(sub: argparse.ArgumentParser) -> None:
    """--max-evaluations: the cap on the loss evaluations a command makes (shared with graphdiff check)."""
    sub.add_argument(
        "--max-evaluations",
        type=count(1),
        default=DEFAULT_MAX_EVALUATIONS,
        metavar="N",
        help="refuse, before any work, a run of more loss evaluations (forward passes) than N "
        f"(default {DEFAULT_MAX_EVALUATIONS:,})",
    )


# --- argument types: checked while the command line is parsed, before anything is loaded -----------


def whole_number(text: str) -> int:
    """An integer written in digits or in exponent notation (``100000``, ``1e5``), read exactly."""
    try:
        return int(text)
    except ValueError:  # not digits, or more digits than Python converts (4,300)
        pass
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number.is_finite() and number.adjusted() >= _MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text!r} is too large (more than {_MAX_DIGITS} digits)")
    if not number.is_finite() or number != number.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(number)


def count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """The argparse type of a count from ``minimum`` to ``maximum``, for options no command checks
    itself. (The lab's counts are read with :func:`whole_number`: each command refuses a count below its
    minimum with a message of its own, and one that costs work beyond the --max-evaluations budget.)"""

    def parse(text: str) -> int:
        value = whole_number(text)
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text!r}")
        return value

    parse.__name__ = "count"
    return parse


def seed(text: str) -> int:
    """The argparse type of a seed: an integer from 0 to 2**64 - 1."""
    value = whole_number(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to 2**64 - 1, got {text!r}")
    return value


def check_evaluations(place: str, evaluations: int, cap: int, what: str) -> None:
    """Refuse, before any work, a run of more loss evaluations than the --max-evaluations cap; ``what``
    says what the run asked for (``a plane of 400 x 400 = 160,000 points``)."""
    if evaluations > cap:
        raise GraphdiffError(
            Problem(
                None,
                place,
                f"{what}: more than the cap of {cap:,} loss evaluations (--max-evaluations N raises it)",
            )
        )


def _train_config(args: argparse.Namespace, steps: int) -> optimize.TrainConfig:
    from .. import optimize

    config = optimize.TrainConfig(
        steps=steps,
        lr=args.lr,
        batch_size=args.batch_size,
        momentum=args.momentum,
        nesterov=args.nesterov,
        lr_decay=args.lr_decay,
        decay_every=args.decay_every,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    config.check()
    return config


# --- setup shared by the commands ---------------------------------------------------------------------


def _objective(args: argparse.Namespace) -> tuple[optimize.Objective, str, str]:
    """The graph and its data as an objective, a one-line account of what was bound, and a plot title."""
    from .. import optimize

    graph = load(args.file, max_elements=args.max_elements)
    bind = parse_bind(args.bind)
    if args.data is None:
        if args.limit is not None:
            raise GraphdiffError(Problem(None, "--limit", "needs --data"))
        objective = optimize.Objective(graph, loss=args.loss, bind=bind or None)
        return objective, "data: the inputs' values in the spec", _title(objective, None)
    dataset = load_data(args.data, args.limit, seed=args.seed, max_elements=args.max_elements)
    train, val = dataset.split(args.val_fraction, seed=args.seed)
    objective = optimize.Objective(graph, train, val, loss=args.loss, bind=bind or None)
    bound = optimize.describe_bindings(objective.bindings)
    sizes = _count(len(train), "training example") + (f", {len(val)} validation" if val is not None else "")
    return objective, f"data: {dataset.name}, {sizes} ({bound})", _title(objective, dataset.name)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _title(objective: optimize.Objective, data: str | None) -> str:
    """``digits_svm (data_loss), digits (100 examples)``: the graph, the loss when not the graph's own,
    and the data."""
    title = objective.graph.name
    if objective.loss_id != objective.graph.loss:
        title += f" ({objective.loss_id})"
    return f"{title}, {data}" if data else title


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _stem(file: str) -> str:
    return Path(file).name.removesuffix(".json")


def _param_outputs(out: Path) -> dict[str, Path]:
    """Where a parameter-writing command puts each file, from its main output."""
    if out.suffix not in (".json", ".npz"):
        raise GraphdiffError(Problem(str(out), None, "write parameters as .json (a spec) or .npz"))
    paths = {
        "npz": out.with_suffix(".npz"),
        "csv": out.with_suffix(".loss.csv"),
        "png": out.with_suffix(".loss.png"),
    }
    if out.suffix == ".json":
        paths["spec"] = out
    return paths


def _png_output(args: argparse.Namespace, default: str) -> Path:
    out = Path(args.output or default)
    if out.suffix != ".png":
        raise GraphdiffError(Problem(str(out), None, "the plot is written as .png"))
    return out


def _plots():  # noqa: ANN202
    """The plotting module, imported when a plot is drawn (matplotlib takes a while to import)."""
    from ..optimize import plots

    return plots


def _interrupted() -> int:
    print("interrupted: nothing written (existing files are as they were)", file=sys.stderr)
    return EXIT_INTERRUPTED


def _params_files(
    objective: optimize.Objective, params: optimize.Params, paths: dict[str, Path], note: str
) -> dict[Path, bytes | str]:
    from ..optimize.export import npz_bytes, trained_spec

    files: dict[Path, bytes | str] = {paths["npz"]: npz_bytes(params)}
    if "spec" in paths:
        spec = trained_spec(objective.graph, paths["npz"].name, paths["spec"], note)
        files[paths["spec"]] = dump_spec(spec)
    return files


def _summary(evaluation: optimize.Evaluation, val: optimize.Evaluation | None) -> str:
    text = f"loss {evaluation.loss:.6g}"
    if evaluation.accuracy is not None:
        text += f", training accuracy {evaluation.accuracy:.1%}"
    if val is not None:
        text += f", validation loss {val.loss:.6g}" + (
            f", validation accuracy {val.accuracy:.1%}" if val.accuracy is not None else ""
        )
    return text


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Ctrl-C during a long run: say that nothing was written, exit 130."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except InterruptedAfterWriting:
            print("interrupted: the outputs had all been written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            return _interrupted()

    run.__doc__ = command.__doc__
    return run


# --- commands -----------------------------------------------------------------------------------------


@_guarded
def cmd_train(args: argparse.Namespace) -> int:
    from .. import optimize
    from ..optimize.export import check_outputs, csv_text, trained_spec, write_all

    config = _train_config(args, args.steps)
    check_evaluations("--steps", args.steps, args.max_evaluations, f"{args.steps:,} steps")
    paths = _param_outputs(Path(args.output or f"{_stem(args.file)}.trained.json"))
    check_outputs(paths.values(), overwrite=args.force)
    objective, bound, title = _objective(args)
    objective.check_batch_size(config.batch_size)
    if "spec" in paths:
        trained_spec(objective.graph, paths["npz"].name, paths["spec"], "")  # refuse before training
    print(f"training {objective.graph.name}: {config.method}, {config.schedule}, {config.steps} steps")
    print(bound)
    result = optimize.train(objective, config, progress=_progress(args))
    print(f"start: {_summary(result.initial, None)}")
    if result.diverged_at is not None:
        print_problems(
            [
                Problem(
                    args.file,
                    f"step {result.diverged_at}",
                    f"training diverged: {result.diverged_what} (learning rate "
                    f"{result.history[-1].lr:g}); nothing written. Try a smaller --lr (graphdiff sweep "
                    "shows which step sizes lower the loss)",
                )
            ]
        )
        return EXIT_CHECK_FAILED
    print(
        f"after {result.steps_done} steps ({result.seconds:.2f} s): "
        f"{_summary(result.final, result.final_val)}"
    )
    note = (
        f"Parameters trained by graphdiff train ({config.method}, {config.schedule}, "
        f"{config.steps} steps, seed {config.seed}): {_summary(result.final, result.final_val)}."
    )
    files = _params_files(objective, result.params, paths, note)
    rows = [[getattr(row, c) for c in optimize.HISTORY_COLUMNS] for row in result.history]
    files[paths["csv"]] = csv_text(optimize.HISTORY_COLUMNS, rows)
    files[paths["png"]] = _plots().loss_curve_png(result, title)
    for path in write_all(files, overwrite=args.force):
        print(f"wrote {path}")
    return EXIT_OK


@_guarded
def cmd_search(args: argparse.Namespace) -> int:
    from .. import optimize
    from ..optimize.export import check_outputs, csv_text, trained_spec, write_all

    if args.evals < 1:
        raise GraphdiffError(Problem(None, "--evals", "must be at least 1"))
    check_evaluations("--evals", args.evals, args.max_evaluations, f"{args.evals:,} loss evaluations")
    paths = _param_outputs(Path(args.output or f"{_stem(args.file)}.{args.strategy}-search.json"))
    check_outputs(paths.values(), overwrite=args.force)
    objective, bound, title = _objective(args)
    if "spec" in paths:
        trained_spec(objective.graph, paths["npz"].name, paths["spec"], "")
    name = "random search" if args.strategy == "random" else "random local search"
    print(f"{name} on {objective.graph.name}: {args.evals} loss evaluations")
    print(bound)
    found = optimize.search(
        objective,
        args.strategy,
        evals=args.evals,
        scale=args.scale,
        step_size=args.step_size,
        seed=args.seed,
        progress=_progress(args),
    )
    print(
        f"best after {args.evals} evaluations ({found.seconds:.2f} s, {found.accepted} improvements): "
        f"{_summary(found.final, found.final_val)}"
    )
    spread = f"scale {args.scale:g}" if args.strategy == "random" else f"step size {args.step_size:g}"
    note = (
        f"Parameters found by graphdiff search ({name}, {args.evals} evaluations, {spread}, "
        f"seed {args.seed}): "
        f"{_summary(found.final, found.final_val)}."
    )
    files = _params_files(objective, found.params, paths, note)
    rows = zip(range(1, args.evals + 1), found.losses.tolist(), found.best_losses.tolist(), strict=True)
    files[paths["csv"]] = csv_text(["evaluation", "loss", "best_loss"], rows)
    outcome = optimize.StrategyOutcome(
        name, args.evals, found.final, found.final_val, found.seconds, found.best_losses
    )
    files[paths["png"]] = _plots().comparison_png(optimize.Comparison((outcome,)), title)
    for path in write_all(files, overwrite=args.force):
        print(f"wrote {path}")
    return EXIT_OK


@_guarded
def cmd_compare(args: argparse.Namespace) -> int:
    from .. import optimize
    from ..optimize.export import check_outputs, csv_text, write_all

    if args.evals < 1:
        raise GraphdiffError(Problem(None, "--evals", "must be at least 1"))
    check_evaluations(
        "--evals",
        3 * args.evals,
        args.max_evaluations,
        f"3 strategies x {args.evals:,} = {3 * args.evals:,} evaluations",
    )
    config = _train_config(args, args.evals)
    out = _png_output(args, f"{_stem(args.file)}.compare.png")
    table_path = out.with_suffix(".csv")
    check_outputs([out, table_path], overwrite=args.force)
    objective, bound, title = _objective(args)
    objective.check_batch_size(config.batch_size)
    print(f"comparing three strategies on {objective.graph.name}, {args.evals} loss evaluations each")
    print(bound)
    comparison = optimize.compare(
        objective,
        args.evals,
        config=config,
        scale=args.scale,
        step_size=args.step_size,
        seed=args.seed,
        progress=_progress(args),
    )
    print()
    print(comparison.table())
    print()
    descent = comparison.outcomes[-1]
    if descent.diverged_at is not None:
        print_problems(
            [
                Problem(
                    args.file,
                    f"step {descent.diverged_at}",
                    "gradient descent diverged (its row is at its last finite point); try a smaller --lr",
                )
            ]
        )
    rows = [
        [
            o.strategy,
            o.evaluations,
            o.final.loss,
            o.final.accuracy,
            o.final_val.loss if o.final_val else None,
            o.final_val.accuracy if o.final_val else None,
            o.seconds,
        ]
        for o in comparison.outcomes
    ]
    header = [
        "strategy",
        "evaluations",
        "final_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    ]
    files: dict[Path, bytes | str] = {
        out: _plots().comparison_png(comparison, title),
        table_path: csv_text(header, rows),
    }
    for path in write_all(files, overwrite=args.force):
        print(f"wrote {path}")
    return EXIT_OK


@_guarded
def cmd_sweep(args: argparse.Namespace) -> int:
    from .. import optimize
    from ..optimize.export import check_outputs, csv_text, write_all

    smallest, largest = args.range
    if not (0 < smallest <= largest and math.isfinite(largest)) or args.per_decade < 1:
        raise GraphdiffError(
            Problem(None, "--range", "expected 0 < SMALLEST <= LARGEST, and --per-decade at least 1")
        )
    low, high = math.log10(smallest), math.log10(largest)
    sizes = max(1, int(round((high - low) * args.per_decade)) + 1)
    check_evaluations(
        "--per-decade" if args.per_decade > 1 else "--range",
        sizes,
        args.max_evaluations,
        f"{sizes:,} step sizes ({high - low:.3g} decades x {args.per_decade:,})",
    )
    step_sizes = np.logspace(low, high, sizes)
    out = _png_output(args, f"{_stem(args.file)}.sweep.png")
    table_path = out.with_suffix(".csv")
    check_outputs([out, table_path], overwrite=args.force)
    objective, bound, title = _objective(args)
    print(bound)
    sweep = optimize.step_size_sweep(objective, step_sizes)
    print(sweep.table())
    best = sweep.best_step_size
    print(
        f"best step size: {best:g} (loss {float(np.nanmin(sweep.losses)):.6g})"
        if best is not None
        else "no step size lowered the loss; try smaller ones with --range"
    )
    files: dict[Path, bytes | str] = {
        out: _plots().sweep_png(sweep, title),
        table_path: csv_text(
            ["step_size", "loss"], zip(sweep.step_sizes.tolist(), sweep.losses.tolist(), strict=True)
        ),
    }
    for path in write_all(files, overwrite=args.force):
        print(f"wrote {path}")
    return EXIT_OK


@_guarded
def cmd_landscape(args: argparse.Namespace) -> int:
    from .. import optimize
    from ..optimize.export import check_outputs, landscape_grid, write_all

    kind = "plane" if args.plane else "ray"
    if args.points < 2:  # before the budget: (-5)**2 would pass it
        raise GraphdiffError(Problem(None, "--points", "a grid needs at least 2 points per axis"))
    evaluations = args.points**2 if args.plane else args.points
    points = (
        f"a plane of {args.points:,} x {args.points:,} = {evaluations:,} points"
        if args.plane
        else f"a ray of {args.points:,} points"
    )
    check_evaluations("--points", evaluations, args.max_evaluations, points)
    out = _png_output(args, f"{_stem(args.file)}.{kind}.png")
    grid = Path(args.grid) if args.grid else out.with_suffix(".npz" if args.plane else ".csv")
    if grid.suffix not in (".csv", ".npz"):
        raise GraphdiffError(Problem(str(grid), None, "the grid is written as .csv or .npz"))
    check_outputs([out, grid], overwrite=args.force)
    objective, bound, title = _objective(args)
    moved = tuple(args.param) or objective.param_ids
    optimize.check_moved_params(objective, moved)
    directions = None
    if args.direction:
        directions = [
            _read_direction(file, n, moved, objective, args.max_elements)
            for n, file in enumerate(args.direction, start=1)
        ]
    print(bound)
    landscape = optimize.loss_landscape(
        objective,
        moved,
        plane=args.plane,
        span=(args.range[0], args.range[1]),
        points=args.points,
        directions=directions,
        normalize=args.normalize,
        seed=args.seed,
        progress=_progress(args),
    )
    finite = landscape.losses[np.isfinite(landscape.losses)]
    print(
        f"{kind} through W (loss {landscape.center_loss:.6g}), moving {', '.join(moved)}: "
        f"{landscape.losses.size} points, loss from {finite.min():.6g} to {finite.max():.6g}"
        if finite.size
        else "no finite loss on the grid"
    )
    files: dict[Path, bytes | str] = {
        out: _plots().landscape_png(landscape, title),
        grid: landscape_grid(landscape, grid),
    }
    for path in write_all(files, overwrite=args.force):
        print(f"wrote {path}")
    return EXIT_OK


def _read_direction(
    file: str, number: int, moved: Sequence[str], objective: optimize.Objective, max_elements: int
) -> dict[str, np.ndarray]:
    from ..optimize.data import read_npz

    path = Path(file)
    if not path.is_file():
        raise GraphdiffError(Problem(file, f"--direction {number}", "no such file"))
    if path.suffix == ".npy":
        if len(moved) != 1:
            raise GraphdiffError(
                Problem(
                    file,
                    f"--direction {number}",
                    "an .npy holds one array; moving several parameters "
                    "needs an .npz with one array per parameter",
                )
            )
        shape = objective.graph.types[moved[0]].shape
        return {
            moved[0]: read_array(
                path, None, label=file, dtype="float64", shape=shape, max_elements=max_elements
            )
        }
    keys = read_npz(path, max_elements=max_elements)
    direction = {}
    for id in moved:
        for key in (f"direction{number}/{id}", id):  # a landscape's own grid file first: its "b" is an axis
            if key in keys:
                direction[id] = keys[key]
                break
        else:
            raise GraphdiffError(
                Problem(
                    file,
                    f"--direction {number}",
                    f"has no array {json.dumps(id)} (it has: {', '.join(keys)})",
                )
            )
    return direction
