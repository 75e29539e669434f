"""graphdiff: graph-based automatic differentiation with a validated, portable JSON file format.

Describe a computation as a graph (a spec file, or built in Python), and graphdiff checks it, runs the
forward pass with cached intermediates, and backpropagates to the gradient of the loss with respect to
every leaf and node.
"""

import sys as _sys

# `python -m graphdiff` and `python -m graphdiff.cli` import this package before their __main__ can guard
# anything (sys.argv[0] is "-m" until the module is found): while they start, Ctrl-C is noted, not raised
# (raised inside a third-party import it could be dropped by a finalizer), and once the imports below are
# done the command line exits as it does for any Ctrl-C: "interrupted", exit code 130.
_starting = _sys.argv[:1] == ["-m"]
if _starting:
    import signal as _signal

    _noted: list[int] = []
    _handler = _signal.getsignal(_signal.SIGINT)
    if _handler is not _signal.SIG_IGN:
        _signal.signal(_signal.SIGINT, lambda signum, frame: _noted.append(signum))
try:
    from . import functions, optimize
    from .api import Graph, Result, Tensor, check_gradients, load, loads, save
    from .errors import (
        ArrayFileError,
        ComputeError,
        FeedError,
        FormatVersionError,
        GradientCheckError,
        GraphdiffError,
        ModelError,
        NonFiniteError,
        Problem,
        ShapeError,
        SpecError,
    )
    from .functions import *  # noqa: F403 (one builder per registered op: gd.relu, gd.conv2d, ...)
    from .gradcheck import GradientCheckReport, LeafCheck
    from .onnxio import from_onnx, to_onnx
    from .ops import REGISTRY as OPS
    from .render import render, render_steps
    from .spec import FORMAT_VERSION, GraphSpec, spec_json_schema
finally:
    if _starting:
        _signal.signal(_signal.SIGINT, _handler)
if _starting and _noted:
    print("interrupted", file=_sys.stderr)
    raise SystemExit(130)

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "OPS",
    "ArrayFileError",
    "ComputeError",
    "FeedError",
    "FormatVersionError",
    "GradientCheckError",
    "GradientCheckReport",
    "Graph",
    "GraphSpec",
    "GraphdiffError",
    "LeafCheck",
    "ModelError",
    "NonFiniteError",
    "Problem",
    "Result",
    "ShapeError",
    "SpecError",
    "Tensor",
    "check_gradients",
    "from_onnx",
    "functions",
    "optimize",
    "load",
    "loads",
    "render",
    "render_steps",
    "save",
    "spec_json_schema",
    "to_onnx",
]
__all__ += functions.__all__
