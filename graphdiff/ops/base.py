"""What an op is, the one registry of ops, and the shape helpers all ops share.

An op is one class holding everything about a primitive on adjacent lines: the name used in spec files,
its named inputs, its attribute model, its shape rule (:meth:`Op.infer`), its :meth:`Op.forward` and its
vector-Jacobian product (:meth:`Op.vjp`: upstream gradient x local gradient). Ops are stateless; a node's
attributes are passed in. Registration is explicit (:func:`register`) and refuses a duplicate name.

Shapes are checked statically, before anything runs. A dimension is an ``int`` or a symbol such as ``"N"``
(a batch size fed at run time). A symbol equals only itself: it broadcasts against itself and against 1,
and anything else is a mismatch, so a graph that checks passes every feed whose symbols agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..errors import ShapeError

Dim = int | str
Shape = tuple[Dim, ...]
#: An elementwise op's gradient for one input, before un-broadcasting: ``(upstream, out, *inputs)`` ->
#: upstream x the local derivative, elementwise (see :meth:`Op.local_gradients`).
LocalGradient = Callable[..., Any]

FLOAT_DTYPES = ("float64", "float32")
#: Every dtype a value may have: floats carry gradients; int64 (indices, labels) and bool (masks,
#: comparison results) do not.
DTYPES = ("float64", "float32", "int64", "bool")


def format_shape(shape: Sequence[Dim]) -> str:
    """``(N, 3073)``; ``()`` for a scalar and ``(3,)`` for a vector, as numpy prints them."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


@dataclass(frozen=True)
class TensorType:
    """The static type of a value: its shape (ints and symbols) and dtype name."""

    shape: Shape
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def __str__(self) -> str:
        return f"{format_shape(self.shape)} {self.dtype}"


class OnnxEmitter(Protocol):
    """What an op's :meth:`Op.to_onnx` writes ONNX nodes with (implemented by :mod:`graphdiff.onnxio`).

    Values are named by strings; ops name ONNX op types and attributes as the ONNX operator docs do, and
    need not import onnx.
    """

    #: The default-domain opset being written (17 or later).
    opset: int

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add a node of ``op_type`` (``""`` skips an optional input); returns its output's name."""
        ...

    def scalar(self, value: float | int | bool, dtype: str) -> str:
        """A 0-d constant of ``dtype``."""
        ...

    def ints(self, values: Sequence[int]) -> str:
        """A 1-d int64 constant (axes, shapes, pads)."""
        ...

    def array(self, value: np.ndarray) -> str:
        """A constant holding ``value``."""
        ...

    def cast(self, name: str, dtype: str, current: str | None = None) -> str:
        """``name`` as ``dtype`` (itself when ``current`` already is ``dtype``)."""
        ...

    def reduce(self, op_type: str, name: str, axes: Sequence[int], keepdims: bool) -> str:
        """A Reduce* node over ``axes``: an attribute before opset 18 (ReduceSum: 13), an input after."""
        ...

    def shape(self, dims: Sequence[Dim], like: str, like_type: TensorType) -> str:
        """A 1-d int64 shape of ``dims``; a symbolic dim is read at run time from ``like`` (of
        ``like_type``), where it must occur."""
        ...


class Attrs(BaseModel):
    """Base of every op's attribute model: frozen, strict, unknown keys forbidden, finite numbers only."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class NoAttrs(Attrs):
    """The attributes of an op that takes none."""


class Op:
    """One primitive. Subclasses set the class attributes and implement the three methods.

    Everything other modules need to know about an op is declared here, never found out by testing its
    class: its arity (``input_names``, ``min_inputs``, ``variadic``), which inputs carry no gradient, its
    family and diagram symbol, and capabilities such as ``elementwise`` or ``classifies``.
    """

    #: The name used in spec files (declared, never derived from the class name).
    name: ClassVar[str]
    #: Names of the inputs, in order; they appear in error messages and diagrams. A variadic op's last
    #: name stands for any number of inputs (``inputs[0]``, ``inputs[1]``, ...).
    input_names: ClassVar[tuple[str, ...]]
    #: How many inputs must be given; the rest of ``input_names`` are optional (conv2d's ``bias``).
    #: None means all of them (or, for a variadic op, at least one for its last name).
    min_inputs: ClassVar[int | None] = None
    #: Whether the last input name repeats: concat, stack and einsum take any number of inputs.
    variadic: ClassVar[bool] = False
    #: The family the op is listed under (``graphdiff ops``, README's op table).
    family: ClassVar[str] = "other"
    #: Applies a scalar function to every element (with numpy broadcasting) and nothing else: the
    #: executor may then run many scalar nodes of this op as one batched numpy call.
    elementwise: ClassVar[bool] = False
    #: A classification loss over (scores, labels) in its first two inputs, scores' argmax being the
    #: predicted class: the lab reports accuracy for it.
    classifies: ClassVar[bool] = False
    #: Attributes the Python builder takes before the inputs, as numpy does (``gd.einsum("ij->ji", a)``).
    leading_attrs: ClassVar[tuple[str, ...]] = ()
    #: The pydantic model of the attributes.
    Attrs: ClassVar[type[Attrs]] = NoAttrs
    #: Inputs that carry no gradient (integer class labels).
    non_differentiable: ClassVar[frozenset[str]] = frozenset()
    #: The symbol diagrams draw on the gate.
    symbol: ClassVar[str] = ""
    #: What ``vjp`` reads besides the upstream gradient: the input values ("inputs"), the cached output
    #: ("output"), both (the safe default) or neither (only their shapes and dtypes). The executor's
    #: memory-saving mode frees, after the forward pass is done with it, a value no vjp reads; the vjp
    #: then gets a stand-in of the same shape and dtype that holds no data.
    vjp_reads: ClassVar[frozenset[str]] = frozenset({"inputs", "output"})

    #: The ONNX op computing the same as this op on the same inputs, when there is one (``"Add"``): the
    #: default :meth:`to_onnx` then emits that node. Other ops override :meth:`to_onnx`.
    onnx_op: ClassVar[str | None] = None

    def infer(self, attrs: Any, *inputs: TensorType) -> TensorType:
        """The output type for these input types; raise :class:`ShapeError` if they do not fit."""
        raise NotImplementedError

    def to_onnx(
        self,
        attrs: Any,
        emit: OnnxEmitter,
        inputs: Sequence[str],
        types: Sequence[TensorType],
        out: TensorType,
    ) -> str:
        """Write standard ONNX nodes computing this op's output from ``inputs`` (of ``types``); return the
        name of the value holding it. Float inputs of mixed precision are cast to the wider first, as
        numpy promotes them (ONNX refuses mixed types)."""
        if self.onnx_op is None:
            raise NotImplementedError(f"{self.name} has no ONNX form")
        return emit.op(self.onnx_op, *promoted(emit, inputs, types))

    def forward(self, attrs: Any, *values: np.ndarray) -> np.ndarray:
        """The output value."""
        raise NotImplementedError

    def vjp(
        self,
        attrs: Any,
        upstream: np.ndarray,
        out: np.ndarray,
        values: tuple[np.ndarray, ...],
        needs: tuple[bool, ...],
    ) -> tuple[np.ndarray | None, ...]:
        """One gradient per input, each of that input's shape: upstream x local gradient.

        ``needs[i]`` says whether the gradient of input ``i`` is wanted; an op may return ``None`` for an
        input that is not needed, and so skip its work.
        """
        raise NotImplementedError

    def local_gradients(self, attrs: Any) -> tuple[LocalGradient, ...]:
        """For an ``elementwise`` op: one function per input, called as ``(upstream, out, *inputs)`` on
        values of one shape (nothing to un-broadcast), giving upstream x the local derivative. The scalar
        fast path calls them on numpy scalars."""
        raise NotImplementedError(f"{self.name} is not elementwise")

    def input_name(self, index: int) -> str:
        """The name of input ``index``: ``x``, or ``inputs[2]`` for the repeating input of a variadic op."""
        if self.variadic and index >= len(self.input_names) - 1:
            return f"{self.input_names[-1]}[{index - len(self.input_names) + 1}]"
        return self.input_names[index]

    def input_names_for(self, count: int) -> tuple[str, ...]:
        """The names of ``count`` inputs."""
        return tuple(self.input_name(i) for i in range(count))

    @property
    def arity(self) -> tuple[int, int | None]:
        """(least, most) inputs; most is None for a variadic op."""
        least = self.min_inputs if self.min_inputs is not None else len(self.input_names)
        return least, None if self.variadic else len(self.input_names)

    def arity_problem(self, count: int) -> str | None:
        """Why ``count`` inputs do not fit this op, or None when they do."""
        least, most = self.arity
        if least <= count and (most is None or count <= most):
            return None
        if most is None:
            wanted = f"at least {least} input{'s' if least != 1 else ''}"
        elif least == most:
            wanted = f"{least} input{'s' if least != 1 else ''} ({', '.join(self.input_names)})"
        else:
            wanted = f"{least} to {most} inputs ({', '.join(self.input_names)})"
        return f"{self.name} takes {wanted}, got {count}"

    def signature(self) -> str:
        """``conv2d(x, weight, bias?)``, ``concat(*inputs)``: the inputs as ``graphdiff ops`` lists them."""
        least = self.arity[0]
        parts = []
        for index, name in enumerate(self.input_names):
            if self.variadic and index == len(self.input_names) - 1:
                parts.append(f"*{name}")
            else:
                parts.append(name if index < least else f"{name}?")
        return f"{self.name}({', '.join(parts)})"

    def differentiable(self, index: int) -> bool:
        name = self.input_names[min(index, len(self.input_names) - 1)]
        return name not in self.non_differentiable


REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add one instance of ``cls`` to the registry under ``cls.name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"op {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


# --- shape rules shared by ops -------------------------------------------------------------------------


def require_float(op: Op, types: Sequence[TensorType], names: Sequence[str] | None = None) -> str:
    """The floating dtype of the result (numpy promotion: float64 wins); refuse integer inputs."""
    for name, t in zip(names or op.input_names_for(len(types)), types, strict=False):
        if not t.is_float:
            raise ShapeError(f"{op.name}: input {name!r} is {t.dtype}; {op.name} needs float32 or float64")
    return "float64" if any(t.dtype == "float64" for t in types) else "float32"


def require_labels(op: Op, name: str, t: TensorType) -> None:
    if t.dtype != "int64":
        raise ShapeError(f"{op.name}: input {name!r} must be int64 class labels, got {t.dtype}")


def require_dtype(op: Op, name: str, t: TensorType, dtype: str, what: str) -> None:
    """Refuse an input whose dtype is not ``dtype`` (``what`` says what it is for: "indices")."""
    if t.dtype != dtype:
        raise ShapeError(f"{op.name}: input {name!r} must be {dtype} {what}, got {t.dtype}")


def normalize_axis(op: Op, axis: int, ndim: int, what: str = "axis") -> int:
    """One axis as a non-negative int (numpy: -1 is the last)."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op.name}: {what} {axis} is out of range for a {ndim}-d input")
    return axis % ndim


def broadcast_shapes(op: Op, *shapes: Shape) -> Shape:
    """numpy broadcasting over shapes with symbolic dimensions; a symbol matches itself and 1 only."""
    ndim = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            listed = " and ".join(format_shape(s) for s in shapes)
            conflict = " vs ".join(str(d) for d in sorted(dims, key=str))
            raise ShapeError(f"{op.name}: shapes {listed} do not broadcast (dimension {conflict})")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axes(op: Op, axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Axes as sorted non-negative ints; ``None`` means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"{op.name}: axis {a} is out of range for a {ndim}-d input")
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op.name}: axis {list(axes)} repeats an axis")
    return tuple(sorted(normalized))


def bind_symbols(actual: Sequence[int], declared: Sequence[Dim], bound: dict[str, int]) -> bool:
    """Whether a concrete shape matches a declared one; symbols bind in ``bound`` and must agree with it."""
    if len(actual) != len(declared):
        return False
    fits = True
    for have, want in zip(actual, declared, strict=True):
        if isinstance(want, str):
            fits = fits and bound.setdefault(want, have) == have
        else:
            fits = fits and have == want
    return fits


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo numpy broadcasting: sum ``grad`` over the axes broadcasting added or stretched to get ``shape``.

    The one place broadcasting is undone; elementwise ops call it for every input.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and grad.shape[lead + i] != 1
    )
    summed = grad.sum(axis=axes, keepdims=True)
    return summed.reshape(shape)


def promoted(emit: OnnxEmitter, inputs: Sequence[str], types: Sequence[TensorType]) -> list[str]:
    """Numeric inputs cast to one dtype as numpy promotes them (float64 over float32 over int64), which
    ONNX does not do; bool inputs (conditions) stay as they are."""
    dtypes = {t.dtype for t in types}
    wide = next((d for d in ("float64", "float32", "int64") if d in dtypes), None)
    return [
        name if t.dtype == "bool" or wide is None else emit.cast(name, wide, t.dtype)
        for name, t in zip(inputs, types, strict=True)
    ]


def exact_in_float32(value: float) -> bool:
    """Whether ``value`` survives as an ONNX float attribute (a float32) unchanged."""
    return float(np.float32(value)) == value
