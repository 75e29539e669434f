"""graphdiff: graph-based automatic differentiation with a validated, portable JSON file format.

Describe a computation as a graph (a spec file, or built in Python), and graphdiff checks it, runs the
forward pass with cached intermediates, and backpropagates to the gradient of the loss with respect to
every leaf and node.
"""

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
