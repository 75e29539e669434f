"""Every primitive graphdiff knows, in one closed registry.

Op names in spec files resolve only through :data:`REGISTRY`: nothing is imported or looked up on a
module by name. Importing this package imports each family module once, which registers its ops.
"""

from . import elementwise, linalg, losses, reductions, shape, softmax  # noqa: F401  (registers the ops)
from .base import (
    DTYPES,
    FLOAT_DTYPES,
    REGISTRY,
    Attrs,
    Dim,
    NoAttrs,
    Op,
    Shape,
    TensorType,
    bind_symbols,
    format_shape,
    register,
    unbroadcast,
)

__all__ = [
    "DTYPES",
    "FLOAT_DTYPES",
    "REGISTRY",
    "Attrs",
    "Dim",
    "NoAttrs",
    "Op",
    "Shape",
    "TensorType",
    "bind_symbols",
    "format_shape",
    "register",
    "unbroadcast",
]
