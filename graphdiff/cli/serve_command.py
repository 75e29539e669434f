"""``graphdiff serve FILE``: the live viewer, a local web app on 127.0.0.1 (see :mod:`graphdiff.serve`).

This module only parses arguments and prints; Starlette and uvicorn (the ``serve`` extra) are imported
when the command runs, never when the parser is built, and without them the command says how to install
them (exit code 2).
"""

from __future__ import annotations

import argparse
import re
import sys

from ..errors import GraphdiffError, Problem, printable
from .common import EXIT_OK, add_max_elements_option, examples


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``graphdiff`` parser."""
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
    session = Session(graph, parse_feeds(graph, args.feed, args.max_elements))
    session.svg()  # Graphviz's dot missing or failing is said now, not by the page
    sock = bind(port)
    port = sock.getsockname()[1]
    url = f"http://{HOST}:{port}/"
    print(printable(f"graphdiff serve: {graph.checked.name} at {url} (Ctrl-C stops)"), flush=True)
    if args.open:
        try:
            webbrowser.open(url)
        except webbrowser.Error as exc:  # no browser to open: the address above still works
            print(printable(f"cannot open a browser ({exc}); open {url}"), file=sys.stderr)
    run(create_app(session, port=port), sock)
    return EXIT_OK


def _port(text: str) -> int:
    """--port as a number: 0 (any free port) or 1 to 65535; anything else is a one-line error."""
    if re.fullmatch(r"[0-9]{1,5}", text.strip()) and int(text) <= 65535:
        return int(text)
    raise GraphdiffError(
        Problem(None, "--port", f"expected a port number from 1 to 65535 (or 0: any free port), got {text!r}")
    )
