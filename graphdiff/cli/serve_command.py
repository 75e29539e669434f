"""``graphdiff serve FILE``: the live viewer, a local web app on 127.0.0.1 (see :mod:`graphdiff.serve`).

This module only parses arguments and prints; the viewer (:mod:`graphdiff.serve`, with Starlette and
uvicorn, the ``serve`` extra) and the lab's data (:mod:`graphdiff.optimize`) are imported when the command
runs, never when the parser is built, and without the extra the command says how to install it (exit
code 2).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from ..errors import GraphdiffError, Problem, printable
from .common import BIND_HELP, DATA_HELP, EXIT_OK, add_max_elements_option, examples, parse_bind

if TYPE_CHECKING:
    import numpy as np

    from ..api import Graph
    from ..serve import DataRows


#: The examples of --data fed at start when --row picks none: a few, for pictures one can read.
DEFAULT_ROWS = 4


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``graphdiff`` parser."""
    from .lab_commands import whole_number

    serve = commands.add_parser(
        "serve",
        help="open the graph in a live viewer in the browser",
        description="Serve a live viewer of the graph on 127.0.0.1 (on a free port, printed at start): the "
        "diagram with pan and zoom; click a gate or wire for its full value and gradient (a table, a heat "
        "map, images for NCHW tensors); edit any leaf and see the forward and backward pass recomputed at "
        "once; step through the pass; collapse clusters; check gradients; download SVG or PNG. It reads "
        "the spec and its array files and writes nothing. Ctrl-C stops it. Needs the serve extra: "
        "pip install 'graphdiff[serve]'.",
        epilog=examples(
            "graphdiff serve examples/cs231n_circuit.json",
            "graphdiff serve examples/two_layer_sigmoid.json --open",
            "graphdiff serve examples/self_attention.json --port 8765",
            "graphdiff serve examples/cs231n_circuit.json --feed x=1 --feed z=2",
            "graphdiff serve examples/digits_cnn.json --data digits",
            "graphdiff serve examples/digits_softmax.json --data digits --row 7 --row 42",
        ),
    )
    serve.add_argument("file", metavar="FILE", help="a graph spec (.json)")
    serve.add_argument(
        "--port",
        default="0",
        metavar="N",
        help="the port on 127.0.0.1 to listen on, 1 to 65535 (default: a free one)",
    )
    serve.add_argument("--open", action="store_true", help="open the viewer in the default web browser")
    serve.add_argument(
        "--feed",
        "-f",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input's starting value: a JSON number or list (x=-2, v=[1,2]), an .npy file (X=x.npy) or "
        "an array in an .npz file (X=data.npz:X); repeat for several inputs",
    )
    serve.add_argument("--data", metavar="SOURCE", help=DATA_HELP + "; the page picks which examples")
    serve.add_argument("--bind", action="append", default=[], metavar="INPUT=ARRAY", help=BIND_HELP)
    serve.add_argument(
        "--row",
        action="append",
        type=whole_number,
        metavar="I",
        help=f"an example of the data fed at start (counting from 0; repeatable; default the first "
        f"{DEFAULT_ROWS}); the page feeds others",
    )
    add_max_elements_option(serve)
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve import require_serve

    port = _port(args.port)
    require_serve()
    import webbrowser

    from ..api import load
    from ..serve import Session
    from ..serve.app import create_app
    from ..serve.server import HOST, bind, run
    from .graph_commands import parse_feeds

    graph = load(args.file, max_elements=args.max_elements)
    feeds = parse_feeds(graph, args.feed, args.max_elements)
    data, said = _data_rows(graph, feeds, args)
    session = Session(graph, feeds, data=data)
    session.svg()  # Graphviz's dot missing or failing is said now, not by the page
    sock = bind(port)
    port = sock.getsockname()[1]
    url = f"http://{HOST}:{port}/"
    print(printable(f"graphdiff serve: {graph.checked.name} at {url} (Ctrl-C stops)"), flush=True)
    if said is not None:
        print(printable(said), flush=True)  # names from the data file reach the terminal escaped
    if args.open:
        try:
            webbrowser.open(url)
        except webbrowser.Error as exc:  # no browser to open: the address above still works
            print(printable(f"cannot open a browser ({exc}); open {url}"), file=sys.stderr)
    run(create_app(session, port=port), sock)
    return EXIT_OK


def _data_rows(
    graph: Graph, feeds: dict[str, Any], args: argparse.Namespace
) -> tuple[DataRows | None, str | None]:
    """The examples --data, --bind and --row ask for, checked against the graph once here (so a mismatch
    is one line now, not an error in the page), and the line saying what they feed."""
    from .. import optimize
    from ..serve import DataRows
    from ..serve.payload import MAX_ROWS

    bind = parse_bind(args.bind)
    if args.data is None:
        for option, given in (("--bind", bind), ("--row", args.row)):
            if given:
                raise GraphdiffError(Problem(None, option, "needs --data"))
        return None, None
    dataset = optimize.load_dataset(args.data, max_elements=args.max_elements)
    rows = list(args.row) if args.row else list(range(min(DEFAULT_ROWS, len(dataset))))
    if len(rows) > MAX_ROWS:
        raise GraphdiffError(Problem(None, "--row", f"at most {MAX_ROWS} examples at once"))
    for row in rows:
        if not 0 <= row < len(dataset):
            raise GraphdiffError(
                Problem(None, f"--row {row}", f"{dataset.name} has examples 0 to {len(dataset) - 1}")
            )
    optimize.feeds_for(graph, dataset, bind=bind, rows=rows, feeds=feeds)  # refuses what does not fit
    bindings = {i: a for i, a in optimize.input_bindings(graph, dataset, bind).items() if i not in feeds}

    def rows_feeds(picked: np.ndarray) -> dict[str, np.ndarray]:
        return optimize.feeds_for(graph, dataset, bind=bind, rows=picked)

    shown = ", ".join(map(str, rows[:5])) + (f", ... ({len(rows)} rows)" if len(rows) > 5 else "")
    said = f"data: {dataset.name} ({len(dataset):,} examples), rows {shown}: "
    said += optimize.describe_bindings(bindings) or "nothing"
    return DataRows(dataset.name, len(dataset), rows_feeds, tuple(rows)), said


def _port(text: str) -> int:
    """--port as a number: 0 (any free port) or 1 to 65535; anything else is a one-line error."""
    if re.fullmatch(r"[0-9]{1,5}", text.strip()) and int(text) <= 65535:
        return int(text)
    raise GraphdiffError(
        Problem(None, "--port", f"expected a port number from 1 to 65535 (or 0: any free port), got {text!r}")
    )
