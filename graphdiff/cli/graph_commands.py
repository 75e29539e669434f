"""The commands on graph spec files: validate, plan, run, grad, check, schema, render, ops, demo.

The diagrams (:mod:`graphdiff.render`, Graphviz) and the lab's data (:mod:`graphdiff.optimize`, for
``--data``) are imported by the commands that draw or read data, so validate, run and grad start quickly.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..api import Graph, Result, check_gradients, format_array, json_array, load
from ..errors import ArrayFileError, FeedError, GraphdiffError, Problem, did_you_mean, printable
from ..fileio import check_writable, write_atomic
from ..ops import REGISTRY, catalog
from ..spec import dump_spec, read_array, spec_json_schema
from ..spec.strict_json import parse_json
from .common import (
    BIND_HELP,
    DATA_HELP,
    EXIT_CHECK_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_max_elements_option,
    examples,
    load_data,
    parse_bind,
    print_problems,
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the graph commands to the ``graphdiff`` parser."""
    from .lab_commands import add_max_evaluations_option, count, seed, whole_number  # shared types

    def with_feeds(sub: argparse.ArgumentParser, *, seed_option: bool = True) -> None:
        sub.add_argument("file", metavar="FILE", help="a graph spec (.json)")
        sub.add_argument(
            "--feed",
            "-f",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="feed an input: a JSON number or list (x=-2, v=[1,2]), an .npy file (X=x.npy) or an "
            "array in an .npz file (X=data.npz:X); repeat for several inputs. With --data, an input fed "
            "here takes this value instead of the data's",
        )
        sub.add_argument("--data", metavar="SOURCE", help=DATA_HELP)
        sub.add_argument("--bind", action="append", default=[], metavar="INPUT=ARRAY", help=BIND_HELP)
        sub.add_argument(
            "--limit",
            type=whole_number,
            metavar="N",
            help="use N examples of the data, drawn with --seed (default: all of them)",
        )
        sub.add_argument(
            "--row",
            action="append",
            type=whole_number,
            metavar="I",
            help="use example I of the data (counting from 0; repeatable, kept in the order given), "
            "e.g. --row 0 for one example's values and gradients",
        )
        if seed_option:
            sub.add_argument(
                "--seed",
                type=seed,
                default=0,
                help="seed for the examples --limit draws, 0 to 2**64 - 1 (default 0)",
            )
        sub.add_argument(
            "--check-finite",
            action="store_true",
            help="stop at the first nan or inf, naming the node (exit code 1)",
        )
        add_max_elements_option(sub)

    validate = commands.add_parser(
        "validate",
        help="check spec files and report every problem",
        description="Check spec files (JSON, references, cycles, ops, attributes, shapes) and report every "
        "problem with its place. Exit code 2 if any file is invalid.",
        epilog=examples("graphdiff validate examples/*.json"),
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--quiet", "-q", action="store_true", help="print problems only")
    validate.set_defaults(handler=cmd_validate)

    plan = commands.add_parser(
        "plan",
        help="print the compiled program the executor runs",
        description="Compile a spec and print its program: every slot (leaf and node) with its type, one "
        "line per forward step (what its backward reads, what the memory-saving mode frees after it), "
        "the backward pass from the loss, and which executor path runs it (the interpreter, numpy "
        "scalars for small scalar graphs, or batched scalars with the batches).",
        epilog=examples(
            "graphdiff plan examples/cs231n_circuit.json",
            "graphdiff plan examples/digits_cnn.json --max-steps 5",
        ),
    )
    plan.add_argument("file", metavar="FILE", help="a graph spec (.json)")
    plan.add_argument(
        "--max-steps",
        type=whole_number,
        default=200,
        metavar="N",
        help="print at most N leaves, forward steps and backward steps, and say how many more (default "
        "200; 0 prints all)",
    )
    add_max_elements_option(plan)
    plan.set_defaults(handler=cmd_plan)

    run = commands.add_parser(
        "run",
        help="run the forward pass and print the outputs",
        description="Run the forward pass and print the graph's outputs (its loss if it declares none). "
        "Inputs are fed with --feed, or from a dataset with --data (all of its examples, --limit N of "
        "them or the --row I chosen); the others take their values in the spec.",
        epilog=examples(
            "graphdiff run examples/cs231n_circuit.json",
            "graphdiff run examples/cs231n_circuit.json --feed x=1 --feed z=2 --json",
            "graphdiff run examples/digits_softmax.json --data digits",
            "graphdiff run examples/spiral_two_layer.json --data spiral --row 0 --row 150",
        ),
    )
    with_feeds(run)
    run.add_argument("--json", action="store_true", help="print the outputs as a JSON object")
    run.set_defaults(handler=cmd_run)

    grad = commands.add_parser(
        "grad",
        help="print every node's value and gradient",
        description="Run forward and backward and print a table of every leaf's and node's value and the "
        "gradient of the loss with respect to it.",
        epilog=examples(
            "graphdiff grad examples/cs231n_circuit.json",
            "graphdiff grad examples/softmax_classifier.json --save results.npz",
            "graphdiff grad examples/digits_cnn.json --data digits --limit 8",
            "graphdiff grad net.json --data data.npz --bind X=features --feed y=[0,2]",
        ),
    )
    with_feeds(grad)
    grad.add_argument("--wrt", action="append", metavar="ID", help="only these gradients (repeatable)")
    grad.add_argument("--save", metavar="PATH", help="also save values and gradients (.json or .npz)")
    grad.add_argument("--force", action="store_true", help="replace an existing --save file")
    grad.set_defaults(handler=cmd_grad)

    check = commands.add_parser(
        "check",
        help="compare analytic gradients with numerical ones",
        description="Gradient check: compare backward's gradients with centered differences "
        "[f(x+h) - f(x-h)] / 2h for every float leaf. Exit code 1 if any leaf fails.",
        epilog=examples(
            "graphdiff check examples/two_layer_sigmoid.json",
            "graphdiff check examples/softmax_classifier.json --directions 5",
            "graphdiff check examples/digits_svm.json --data digits --limit 20",
        ),
    )
    with_feeds(check, seed_option=False)
    check.add_argument("--wrt", action="append", metavar="ID", help="only these leaves (repeatable)")
    check.add_argument("--h", type=float, default=1e-5, help="finite-difference step (default 1e-5)")
    check.add_argument("--tolerance", type=float, default=1e-6, help="largest passing relative error")
    check.add_argument(
        "--max-coords",
        type=whole_number,
        default=100,
        metavar="N",
        help="coordinates checked per leaf, sampled with --seed when larger (default 100)",
    )
    check.add_argument(
        "--directions",
        type=whole_number,
        metavar="K",
        help="fast mode: check K random directions per leaf instead of coordinates",
    )
    check.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed for the coordinates sampled and the examples --limit draws, 0 to 2**64 - 1 (default 0)",
    )
    add_max_evaluations_option(check)
    check.set_defaults(handler=cmd_check)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the spec format",
        description="Print the JSON Schema of the graphdiff spec format (generated from its models).",
        epilog=examples("graphdiff schema > graphdiff-v1.schema.json", "graphdiff schema -o schema.json"),
    )
    schema.add_argument("--output", "-o", metavar="PATH", help="write to a file instead")
    schema.add_argument("--force", action="store_true", help="replace an existing file")
    schema.set_defaults(handler=cmd_schema)

    render = commands.add_parser(
        "render",
        help="draw the graph with values and gradients on its wires",
        description="Run the graph forward and backward and draw it as the CS231n circuit diagrams do: "
        "gates, wires with the value flowing forward (green) and the gradient flowing back (red). "
        "OUT ends in .svg, .png, .pdf (these need Graphviz's dot) or .dot. --steps DIR writes one frame "
        "per forward and backward step and an index.html that steps through them.",
        epilog=examples(
            "graphdiff render examples/cs231n_circuit.json -o circuit.svg",
            "graphdiff render examples/two_layer_sigmoid.json -o net.png --direction TB --precision 3",
            "graphdiff render examples/softmax_classifier.json -o structure.pdf --show none",
            "graphdiff render big.json -o big.svg --collapse layer1 --max-nodes 100",
            "graphdiff render examples/cs231n_circuit.json --steps circuit-steps/",
            "graphdiff render examples/spiral_two_layer.json --data spiral -o spiral.svg",
            "graphdiff render examples/digits_cnn.json --data digits --row 0 -o digit0.svg",
        ),
    )
    with_feeds(render)
    render.add_argument("-o", "--output", metavar="OUT", help="the diagram file (.svg, .png, .pdf, .dot)")
    render.add_argument("--steps", metavar="DIR", help="write step-through frames and index.html into DIR")
    render.add_argument("--force", action="store_true", help="replace an existing OUT or step-through page")
    render.add_argument(
        "--show",
        choices=["both", "values", "grads", "none"],
        default="both",
        help="what the wires carry (default both; none draws the structure only)",
    )
    render.add_argument(
        "--direction",
        choices=["auto", "LR", "TB"],
        default="auto",
        help="left-to-right, top-to-bottom, or auto (default): left to right when that fits a 16:9 slide, "
        "else whichever fits one larger",
    )
    render.add_argument(
        "--precision",
        type=count(1, 17),
        default=4,
        metavar="N",
        help="significant digits, 1 to 17 (float64's most) (default 4)",
    )
    render.add_argument("--title", help="the diagram's title (default: the graph's name)")
    render.add_argument(
        "--weight-edges", action="store_true", help="draw wires thicker the larger the gradient they carry"
    )
    render.add_argument("--no-clusters", action="store_true", help="do not group nodes by group or id prefix")
    render.add_argument(
        "--collapse",
        action="append",
        default=[],
        metavar="CLUSTER",
        help="draw this cluster as one box with its gradient norm (repeatable)",
    )
    render.add_argument(
        "--max-nodes",
        type=int,
        default=150,
        metavar="N",
        help="collapse clusters, largest first, above this many nodes (default 150; 0: no cap)",
    )
    render.set_defaults(handler=cmd_render)

    ops = commands.add_parser(
        "ops",
        help="list the ops a spec may use",
        description="List every registered op: its inputs, its attributes with defaults, and its math.",
        epilog=examples(
            "graphdiff ops",
            "graphdiff ops conv2d multiclass_hinge",
            "graphdiff ops --markdown",
            "graphdiff ops --onnx",
        ),
    )
    ops.add_argument("names", nargs="*", metavar="OP", help="show these ops in full")
    ops.add_argument(
        "--markdown", action="store_true", help="print README's op table (a Markdown table of every op)"
    )
    ops.add_argument(
        "--onnx",
        action="store_true",
        help="print README's ONNX support table: the ONNX ops graphdiff imports and what they become",
    )
    ops.set_defaults(handler=cmd_ops)

    demo = commands.add_parser(
        "demo",
        help="run the CS231n circuit f = (x + y) z end to end",
        description="Build the circuit f = (x + y) z at x = -2, y = 5, z = -4, print its spec, its forward "
        "values and backward gradients, check the gradients numerically, and draw the circuit (an SVG, a "
        "PNG and a step-through page) into --output-dir.",
        epilog=examples("graphdiff demo", "graphdiff demo --output-dir /tmp/demo"),
    )
    demo.add_argument(
        "--output-dir",
        default="graphdiff-demo",
        metavar="DIR",
        help="where the diagrams go (default ./graphdiff-demo); written as a whole, never into a folder "
        "holding other files",
    )
    demo.add_argument("--force", action="store_true", help="replace the folder an earlier demo wrote")
    demo.set_defaults(handler=cmd_demo)


# --- commands ---------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for file in args.files:
        try:
            graph = load(file)
        except GraphdiffError as exc:
            print_problems(exc.problems)
            status = EXIT_INVALID
            continue
        print_problems(graph.warnings)
        if not args.quiet:
            checked = graph.checked
            loss = f', loss "{checked.loss}"' if checked.loss else ", no loss"
            # The file name and the graph's names came from outside: escaped, as in every problem line.
            line = (
                f'{file}: ok: graph "{checked.name}", {len(checked.leaves)} leaves, '
                f"{len(checked.nodes)} nodes{loss}"
            )
            print(printable(line))
    return status


def cmd_plan(args: argparse.Namespace) -> int:
    graph = load(args.file, max_elements=args.max_elements)
    print_problems(graph.warnings)
    print(graph.plan.describe(max_steps=args.max_steps or None))  # ids come escaped (Program.format)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    graph = load(args.file, max_elements=args.max_elements)
    feeds, fed = command_feeds(graph, args)
    result = graph.forward(feeds, check_finite=args.check_finite)
    if args.json:
        print(json.dumps({id: json_array(np.asarray(v)) for id, v in result.outputs.items()}, indent=1))
    else:
        _say(fed)
        for id, value in result.outputs.items():
            print(f"{id} = {format_array(value, full=True)}")
    return EXIT_OK


def cmd_grad(args: argparse.Namespace) -> int:
    if args.save:
        if Path(args.save).suffix not in (".json", ".npz"):
            raise GraphdiffError(Problem(args.save, None, "results are saved as .json or .npz"))
        check_writable(args.save, overwrite=args.force)
    graph = load(args.file, max_elements=args.max_elements)
    if graph.loss is None:
        raise GraphdiffError(Problem(args.file, "loss", "the graph declares no loss to differentiate"))
    feeds, fed = command_feeds(graph, args)
    graph.forward(feeds, check_finite=args.check_finite)
    result = graph.backward(wrt=args.wrt, check_finite=args.check_finite)
    _say(fed)
    print(grad_table(result))
    if args.save:
        print(f"saved {result.save(args.save, overwrite=args.force)}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from ..executor import bind_feeds
    from .lab_commands import check_evaluations

    if args.directions is not None:  # at least one leaf: refused before loading anything
        check_evaluations(
            "--directions",
            2 * args.directions,
            args.max_evaluations,
            f"2 forward passes x {args.directions:,} directions",
        )
    graph = load(args.file, max_elements=args.max_elements)
    feeds, fed = command_feeds(graph, args)
    # Two forward passes per coordinate (or direction) of every leaf checked, counted before any of them.
    checked = graph.checked
    ids = args.wrt if args.wrt is not None else [i for i in checked.leaves if checked.types[i].is_float]
    values = bind_feeds(checked, feeds)
    sizes = [values[i].size for i in ids if i in values]
    if args.directions is not None:
        passes = 2 * args.directions * len(sizes)
        what = f"2 forward passes x {args.directions:,} directions x {len(sizes):,} leaves = {passes:,}"
        check_evaluations("--directions", passes, args.max_evaluations, what)
    else:
        passes = 2 * sum(min(size, args.max_coords) for size in sizes)
        what = f"2 forward passes x {passes // 2:,} coordinates of {len(sizes):,} leaves = {passes:,}"
        check_evaluations("--max-coords", passes, args.max_evaluations, what)
    report = check_gradients(
        graph,
        feeds,
        wrt=args.wrt,
        h=args.h,
        tolerance=args.tolerance,
        max_coords=args.max_coords,
        directions=args.directions,
        seed=args.seed,
    )
    _say(fed)
    print(report.table())
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(spec_json_schema(), indent=2) + "\n"
    if args.output:
        write_atomic(args.output, text, overwrite=args.force)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from ..render import check_steps_folder, diagram_format, render, render_bytes, render_steps

    if not args.output and not args.steps:
        raise GraphdiffError(Problem(None, "render", "say where to draw: -o OUT and/or --steps DIR"))
    if args.output:
        diagram_format(args.output)  # a bad suffix or a file not to be replaced is refused before any work
        check_writable(args.output, overwrite=args.force)
    if args.steps:  # a folder not to be replaced, or holding files graphdiff did not write
        check_steps_folder(args.steps, overwrite=args.force)
    if args.precision < 1 or args.max_nodes < 0:
        raise GraphdiffError(
            Problem(None, "render", "--precision must be at least 1, --max-nodes at least 0")
        )
    graph = load(args.file, max_elements=args.max_elements)
    feeds, fed = command_feeds(graph, args)
    result = None
    if args.show != "none" or args.steps:
        graph.forward(feeds, check_finite=args.check_finite)
        result = graph.backward(check_finite=args.check_finite) if graph.loss else graph.last_result()
    picture = b""
    if args.output:  # laid out first, written last: a failure on the way writes neither OUT nor DIR
        diagram = render(
            graph,
            result,
            show=args.show,
            direction=args.direction,
            precision=args.precision,
            title=args.title,
            weight_edges=args.weight_edges,
            clusters=not args.no_clusters,
            collapse=args.collapse,
            max_nodes=args.max_nodes or None,
        )
        picture = render_bytes(diagram, diagram_format(args.output), file=args.output)
    index = None
    if args.steps:
        index = render_steps(
            graph,
            result,
            args.steps,
            direction=args.direction,
            precision=args.precision,
            title=args.title,
            clusters=not args.no_clusters,
            overwrite=args.force,
        )
    _say(fed)
    if args.output:
        write_atomic(args.output, picture, overwrite=args.force)
        print(f"wrote {args.output}")
    if index is not None:
        print(f"wrote {index} (open it in a browser; arrow keys step)")
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    unknown = [name for name in args.names if name not in REGISTRY]
    if unknown:
        hint = did_you_mean(unknown[0], REGISTRY)
        hint = f"; {hint}" if hint else ""
        raise GraphdiffError(Problem(None, None, f"unknown op {json.dumps(unknown[0])}{hint}"))
    if args.markdown:
        print(catalog.markdown_table(), end="")
        return EXIT_OK
    if args.onnx:
        from ..onnxio import require_onnx

        require_onnx()
        from ..onnxio.importer import support_table

        print(support_table(), end="")
        return EXIT_OK
    if args.names:
        for name in args.names:
            op = REGISTRY[name]
            attrs = catalog.attribute_list(op)
            print(f"{op.signature()}{'; ' + attrs if attrs else ''}  [{op.family}]\n\n{inspect.getdoc(op)}\n")
        return EXIT_OK
    families = catalog.ops_by_family()
    width = max(len(op.signature()) for ops in families.values() for op in ops)
    for family, ops in families.items():
        print(f"{family}:")
        for op in ops:
            print(f"  {op.signature():{width}}  {catalog.summary(op)}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ..examples import cs231n_circuit  # the demo's graph, built with the Python API
    from ..render import check_demo_folder, write_demo_folder

    folder = check_demo_folder(args.output_dir, overwrite=args.force)  # before anything is done
    graph = cs231n_circuit()
    print("graphdiff demo: the CS231n circuit f = (x + y) z at x = -2, y = 5, z = -4\n")
    print("The graph as a spec file (graphdiff's JSON format):\n")
    print(dump_spec(graph.spec))
    result = graph.run()
    print("Forward values and backward gradients (upstream x local gradient, from the loss back):\n")
    print(grad_table(result))
    print("\nNumerical check (centered differences):\n")
    report = check_gradients(graph)
    print(report.table())
    print()
    write_demo_folder(graph, result, folder, overwrite=args.force)  # all of it, or nothing
    if (folder / "steps").is_dir():
        steps = folder / "steps" / "index.html"
        print(f"Diagram: {folder / 'cs231n_circuit.svg'} (and .png); step by step: {steps}")
    else:
        print(
            f"Diagram source: {folder / 'cs231n_circuit.dot'} (install Graphviz, e.g. apt-get install "
            "graphviz, for SVG and PNG pictures)"
        )
    print("Next: graphdiff grad examples/two_layer_sigmoid.json, graphdiff render --help, graphdiff --help")
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


# --- feeds and formatting -----------------------------------------------------------------------


def command_feeds(graph: Graph, args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The feeds --feed, --data, --bind, --limit and --row ask for, checked against the graph, and with
    --data a line saying what the data fed (``data: digits (8 examples): X, y``), printed by the command
    once its work has succeeded.

    An input given with --feed takes that value, not the data's (to try another label on a digit, say);
    binding it with --bind as well is refused."""
    feeds: dict[str, Any] = parse_feeds(graph, args.feed, args.max_elements)
    bind = parse_bind(args.bind)
    if args.data is None:
        for option, given in (("--bind", bind), ("--limit", args.limit is not None), ("--row", args.row)):
            if given:
                raise GraphdiffError(Problem(None, option, "needs --data"))
        return feeds, None
    if args.row and args.limit is not None:
        raise GraphdiffError(Problem(None, "--row", "choose examples with --row or with --limit, not both"))
    from .. import optimize

    dataset = load_data(args.data, args.limit, seed=args.seed, max_elements=args.max_elements)
    fed = optimize.feeds_for(graph, dataset, bind=bind, rows=args.row, feeds=feeds)
    bindings = optimize.input_bindings(graph, dataset, bind)
    from_data = {i: a for i, a in bindings.items() if i not in feeds}
    chosen = dataset.name if args.row is None else f"{dataset.name}, {_rows_text(args.row)}"
    if args.row is None and args.limit is None:
        chosen += f" ({len(dataset):,} examples)"
    instead = [i for i in bindings if i in feeds]
    also = f" ({', '.join(instead)} from --feed instead)" if instead else ""
    return fed, f"data: {chosen}: {optimize.describe_bindings(from_data) or 'nothing'}{also}"


def _say(line: str | None) -> None:
    if line is not None:
        print(printable(line))  # names from the data file reach the terminal escaped


def _rows_text(rows: Sequence[int]) -> str:
    """``row 5``, ``rows 5, 17`` or ``rows 5, 17, 3, ... (12 rows)``."""
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(map(str, rows[:5]))
    return f"rows {shown}" + (f", ... ({len(rows)} rows)" if len(rows) > 5 else "")


def parse_feeds(graph: Graph, items: Sequence[str], max_elements: int) -> dict[str, np.ndarray]:
    """``name=value`` arguments as arrays: JSON numbers and lists, ``.npy`` files, ``.npz:key`` arrays."""
    checked = graph.checked
    feeds: dict[str, np.ndarray] = {}
    for item in items:
        name, sep, text = item.partition("=")
        place = f"--feed {item}"
        if not sep or not name:
            raise FeedError(Problem(None, place, "expected NAME=VALUE"))
        if name in feeds:
            raise FeedError(Problem(None, place, f"{name!r} is fed twice"))
        leaf = checked.types.get(name) if name in checked.leaves else None
        dtype = leaf.dtype if leaf else "float64"
        path, _, key = text.partition(":") if ".npz:" in text else (text, "", "")
        try:
            if path.endswith((".npy", ".npz")):
                if not Path(path).is_file():
                    raise ArrayFileError(f"{path}: no such file")
                feeds[name] = read_array(
                    Path(path), key or None, label=path, dtype=dtype, max_elements=max_elements
                )
                continue
            value = parse_json(text, None)
        except GraphdiffError as exc:
            raise FeedError(*(Problem(p.file, place, p.message) for p in exc.problems)) from None
        if isinstance(value, dict | str) or value is None:
            raise FeedError(Problem(None, place, "expected a number, a JSON list, or an .npy/.npz file"))
        feeds[name] = value
    return feeds


def grad_table(result: Result) -> str:
    """One row per leaf and node: id, what it is, shape, value, gradient (d loss / d id)."""
    loss = result.graph.loss or "L"
    rows = [("id", "kind", "shape", "value", f"d{loss}/d(id)"), *result.summary_rows()]
    rows = [tuple(map(printable, row)) for row in rows]  # ids reach the terminal escaped, as in problems
    widths = [min(max(len(r[i]) for r in rows), 48) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    )
