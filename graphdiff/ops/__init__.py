"""Every primitive graphdiff knows, in one closed registry.

Op names in spec files resolve only through :data:`REGISTRY`: nothing is imported or looked up on a
module by name. Importing this package imports each family module once, which registers its ops.
"""

from . import (  # noqa: F401  (registers the ops)
    conv,
    elementwise,
    indexing,
    linalg,
    logic,
    losses,
    normalization,
    reductions,
    shape,
    softmax,
)
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
