"""graphdiff: graph-based automatic differentiation with a validated, portable JSON file format.

Describe a computation as a graph (a spec file, or built in Python), and graphdiff checks it, runs the
forward pass with cached intermediates, and backpropagates to the gradient of the loss with respect to
every leaf and node.

The diagrams (``gd.render``, Graphviz), the optimization lab (``gd.optimize``, with tqdm) and ONNX
(``gd.from_onnx``, ``gd.to_onnx``) are imported the first time they are used (PEP 562's module
``__getattr__``), so that importing graphdiff, and the command line's validate, run and grad, start
quickly.
"""

import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING


class _Package(_types.ModuleType):
    """graphdiff's module type, so that ``gd.render`` is always the function: importing a submodule sets the
    package's attribute of its name to it, so importing the subpackage graphdiff.render (the render command
    does, as does ``from graphdiff.render import build_diagram``) would otherwise make it the module."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "render" and value is _sys.modules.get(f"{__name__}.render"):
            value = value.render
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


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
    from . import functions
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
    from .ops import REGISTRY as OPS
    from .spec import FORMAT_VERSION, GraphSpec, spec_json_schema
finally:
    if _starting:
        _signal.signal(_signal.SIGINT, _handler)
if _TYPE_CHECKING:  # imported on first use, by __getattr__ below
    from . import optimize
    from .onnxio import from_onnx, to_onnx
    from .render import render, render_steps
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

#: The names imported on first use: name -> (its module, the attribute of it; None: the module itself).
_LAZY = {
    "from_onnx": (".onnxio", "from_onnx"),
    "optimize": (".optimize", None),
    "render": (".render", "render"),
    "render_steps": (".render", "render_steps"),
    "to_onnx": (".onnxio", "to_onnx"),
}


def __getattr__(name: str) -> object:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = _importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(globals().keys() | _LAZY.keys())
