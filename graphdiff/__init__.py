"""graphdiff: graph-based automatic differentiation with a validated, portable JSON file format.

Describe a computation as a graph (a spec file, or built in Python), and graphdiff checks it, runs the
forward pass with cached intermediates, and backpropagates to the gradient of the loss with respect to
every leaf and node.
"""

from . import functions
from .api import Graph, Result, Tensor, check_gradients, load, loads, save
from .errors import (
    ArrayFileError,
    ComputeError,
    FeedError,
    FormatVersionError,
    GradientCheckError,
    GraphdiffError,
    NonFiniteError,
    Problem,
    ShapeError,
    SpecError,
)
from .functions import (
    abs,
    add,
    div,
    exp,
    l1_regularization,
    l2_regularization,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    minimum,
    mul,
    multiclass_hinge,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    square,
    squared_error,
    sub,
    sum,
    tanh,
    transpose,
)
from .gradcheck import GradientCheckReport, LeafCheck
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
    "NonFiniteError",
    "Problem",
    "Result",
    "ShapeError",
    "SpecError",
    "Tensor",
    "abs",
    "add",
    "check_gradients",
    "div",
    "exp",
    "functions",
    "l1_regularization",
    "l2_regularization",
    "load",
    "loads",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "maximum",
    "mean",
    "minimum",
    "mul",
    "multiclass_hinge",
    "neg",
    "pow",
    "relu",
    "render",
    "render_steps",
    "reshape",
    "save",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "spec_json_schema",
    "square",
    "squared_error",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
