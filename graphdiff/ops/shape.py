"""Shape ops: reshape, concat, stack, slice, squeeze, expand_dims, broadcast_to, flatten and pad.

They move elements without computing with them, so they accept every dtype (float64, float32, int64,
bool): values move unchanged and only float inputs get a gradient. Each gradient moves the upstream
gradient back to where its elements came from: split for concat and stack, scattered into zeros for
slice and pad, reshaped for reshape, squeeze, expand_dims and flatten, summed over the stretched axes for
broadcast_to. None of them reads a value in its backward (only shapes), and none has a kink.

Symbolic dimensions (``N``) pass through wherever the result's size is still a dimension of the input:
concatenating (N, 2) and (N, 3) along axis 1 gives (N, 5), a full slice keeps N. Where the result would
need arithmetic on a symbol (concatenating along N, padding N, slicing part of N, merging N with a known
size in flatten) the shape rule refuses, saying which axis and which symbol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..errors import ComputeError, ShapeError
from .base import (
    FLOAT_DTYPES,
    Attrs,
    Dim,
    OnnxEmitter,
    Op,
    Shape,
    TensorType,
    format_shape,
    normalize_axes,
    normalize_axis,
    promoted,
    register,
    unbroadcast,
)

#: ONNX Slice's stand-ins for "to the edge": its starts and ends are clamped as Python's slices are.
_ONNX_END, _ONNX_BEFORE_START = 2**63 - 1, -(2**63 - 1)


def reshape_to_onnx(emit: OnnxEmitter, x: str, x_type: TensorType, out: TensorType) -> str:
    """ONNX Reshape of x to out's shape (symbolic dims read from x at run time; a 0 is a size, not
    ONNX's "copy this dimension")."""
    allowzero = 1 if 0 in out.shape and not any(isinstance(d, str) for d in out.shape) else 0
    return emit.op("Reshape", x, emit.shape(out.shape, x, x_type), allowzero=allowzero)


class ReshapeAttrs(Attrs):
    shape: list[int] = Field(description="The new shape; at most one entry may be -1 (inferred).")


@register
class Reshape(Op):
    """The same elements in a new shape (C order). The gradient is reshaped back.

    A symbolic dimension (``N``) can only be carried by ``-1``: reshaping ``(N, 2, 3)`` to ``(-1, 6)`` gives
    ``(N, 6)``, since the sizes that are known agree.
    """

    name = "reshape"
    family = "shape"
    vjp_reads = frozenset()
    symbol = "reshape"
    input_names = ("x",)
    Attrs = ReshapeAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return reshape_to_onnx(emit, inputs[0], types[0], out)

    def infer(self, attrs, x: TensorType) -> TensorType:
        target = attrs.shape
        where = f"reshape {format_shape(x.shape)} to {format_shape(target)}"
        if target.count(-1) > 1 or any(d < -1 for d in target):
            raise ShapeError(f"{where}: dimensions must be >= 0, with at most one -1")
        symbols = [d for d in x.shape if isinstance(d, str)]
        known = math.prod(d for d in x.shape if isinstance(d, int))
        fixed = math.prod(d for d in target if d != -1)
        if -1 not in target:
            if symbols or known != fixed:
                raise ShapeError(
                    f"{where}: sizes differ ({known if not symbols else format_shape(x.shape)} "
                    f"vs {fixed} elements)"
                )
            return TensorType(tuple(target), x.dtype)
        inferred: Dim
        if not symbols and fixed and known % fixed == 0:
            inferred = known // fixed
        elif len(symbols) == 1 and fixed == known:
            inferred = symbols[0]
        else:
            raise ShapeError(f"{where}: the size of -1 cannot be inferred")
        return TensorType(tuple(inferred if d == -1 else d for d in target), x.dtype)

    def forward(self, attrs, x):
        return np.reshape(x, attrs.shape)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.reshape(upstream, x.shape),)


# --- results larger than their inputs -----------------------------------------------------------

#: No array can hold more elements than this: numpy refuses a shape whose non-zero dimensions multiply to
#: more than 2**63 - 1 bytes (of 8-byte elements), even when another dimension is 0.
MAX_ELEMENTS = (2**63 - 1) // 8


def require_size(op: Op, shape: Shape) -> None:
    """Refuse, when checking, a result no array could hold (pad, broadcast_to, one_hot, take can make
    one far larger than their inputs); symbolic dimensions count as 1, and a 0 does not make a huge
    dimension beside it fine: numpy refuses ``(2**64, 0)`` as it refuses ``(2**64,)``."""
    known = math.prod(d for d in shape if isinstance(d, int) and d)
    if known > MAX_ELEMENTS and 0 in shape:
        raise ShapeError(
            f"{op.name}: the result {format_shape(shape)} holds no elements, but its non-zero dimensions "
            f"multiply to {known}, more than an array holds (numpy refuses the shape)"
        )
    if known > MAX_ELEMENTS:
        raise ShapeError(
            f"{op.name}: the result {format_shape(shape)} would have {known} elements, "
            "more than an array holds"
        )


def allocating(op: Op, shape: tuple[int, ...], dtype: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()``; running out of memory is a :class:`ComputeError` naming the op and the size."""
    try:
        return make()
    except MemoryError:
        gib = math.prod(shape) * np.dtype(dtype).itemsize / 2**30
        raise ComputeError(
            f"{op.name}: not enough memory for the result {format_shape(shape)} {np.dtype(dtype)} "
            f"({gib:.3g} GiB)"
        ) from None


# --- concat and stack -----------------------------------------------------------------------------


def joined_dtype(op: Op, types: Sequence[TensorType]) -> str:
    """The dtype of inputs put together: their common dtype; float32 with float64 gives float64 (numpy
    promotion); any other mix is refused."""
    dtypes = {t.dtype for t in types}
    if len(dtypes) == 1:
        return dtypes.pop()
    if dtypes <= set(FLOAT_DTYPES):
        return "float64"
    listed = ", ".join(f"{op.input_name(i)!r} {t.dtype}" for i, t in enumerate(types))
    raise ShapeError(
        f"{op.name}: inputs mix dtypes ({listed}); only float32 and float64 mix (giving float64): "
        "cast the others first"
    )


def _listed_shapes(types: Sequence[TensorType]) -> str:
    return ", ".join(format_shape(t.shape) for t in types)


def _grad_as(grad: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``grad`` in the dtype of the input it flows to (a float32 input of a float64 concat)."""
    return grad if grad.dtype == value.dtype else grad.astype(value.dtype)


class AxisAttrs(Attrs):
    axis: int = Field(default=0, description="The axis to join along (negative counts from the end).")


@register
class Concat(Op):
    """Join arrays end to end along an existing axis, as ``numpy.concatenate``.

    The inputs have the same number of dimensions (at least 1) and the same size on every other axis;
    out's size on ``axis`` is the sum of theirs. Gradient: upstream is split back along ``axis`` at the
    inputs' offsets; each input gets its own block (in its own dtype when float32 and float64 mix).
    Sizes along ``axis`` must be known numbers (the sum of a symbol N and another size has no name);
    other axes may be symbolic. dtypes: all the same, or float32 with float64 (giving float64).

    Kink rule: none; concat is linear.
    """

    name = "concat"
    family = "shape"
    symbol = "concat"
    input_names = ("inputs",)
    variadic = True
    vjp_reads = frozenset()
    Attrs = AxisAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Concat", *promoted(emit, inputs, types), axis=attrs.axis % out.ndim)

    def infer(self, attrs, *inputs: TensorType) -> TensorType:
        dtype = joined_dtype(self, inputs)
        first = inputs[0]
        for index, t in enumerate(inputs):
            if t.ndim == 0:
                raise ShapeError(
                    f"concat: input {self.input_name(index)!r} is a scalar; concat joins along an "
                    "existing axis (stack makes a new one)"
                )
            if t.ndim != first.ndim:
                raise ShapeError(
                    f"concat: inputs {_listed_shapes(inputs)} differ in their number of dimensions"
                )
        axis = normalize_axis(self, attrs.axis, first.ndim)
        for i in range(first.ndim):
            if i != axis and len({t.shape[i] for t in inputs}) > 1:
                raise ShapeError(
                    f"concat along axis {attrs.axis}: inputs {_listed_shapes(inputs)} differ on axis {i} "
                    "(only the axis joined along may differ)"
                )
        sizes = [t.shape[axis] for t in inputs]
        total: Dim
        if len(inputs) == 1:
            total = sizes[0]
        else:
            symbols = [d for d in sizes if isinstance(d, str)]
            if symbols:
                raise ShapeError(
                    f"concat along axis {attrs.axis}: inputs {_listed_shapes(inputs)} have symbolic size "
                    f"{symbols[0]} on that axis; concat needs known sizes along the axis it joins "
                    "(symbolic dimensions are fine on the other axes)"
                )
            total = sum(d for d in sizes if isinstance(d, int))
        shape = first.shape[:axis] + (total,) + first.shape[axis + 1 :]
        return TensorType(shape, dtype)

    def forward(self, attrs, *values):
        return np.concatenate(values, axis=attrs.axis)

    def vjp(self, attrs, upstream, out, values, needs):
        axis = attrs.axis % upstream.ndim
        lead = (slice(None),) * axis
        grads: list[np.ndarray | None] = []
        offset = 0
        for value, need in zip(values, needs, strict=True):
            size = value.shape[axis]
            grads.append(_grad_as(upstream[lead + (slice(offset, offset + size),)], value) if need else None)
            offset += size
        return tuple(grads)


@register
class Stack(Op):
    """Join arrays of one shape along a new axis, as ``numpy.stack``.

    k inputs of shape S give out of shape S with k inserted at ``axis`` (which counts in the result's
    dimensions: -1 is a new last axis). Gradient: input i gets the slice i of upstream along ``axis``.
    Shapes must be equal (symbolic dimensions included); dtypes as concat.

    Kink rule: none; stack is linear.
    """

    name = "stack"
    family = "shape"
    symbol = "stack"
    input_names = ("inputs",)
    variadic = True
    vjp_reads = frozenset()
    Attrs = AxisAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        axis = attrs.axis % out.ndim
        parts = [emit.op("Unsqueeze", name, emit.ints([axis])) for name in promoted(emit, inputs, types)]
        return emit.op("Concat", *parts, axis=axis)

    def infer(self, attrs, *inputs: TensorType) -> TensorType:
        dtype = joined_dtype(self, inputs)
        first = inputs[0]
        if any(t.shape != first.shape for t in inputs):
            raise ShapeError(f"stack: inputs {_listed_shapes(inputs)} must all have the same shape")
        ndim = first.ndim + 1
        if not -ndim <= attrs.axis < ndim:
            raise ShapeError(
                f"stack: axis {attrs.axis} is out of range for stacking {first.ndim}-d inputs "
                f"(the result is {ndim}-d: axes {-ndim} to {ndim - 1})"
            )
        axis = attrs.axis % ndim
        return TensorType(first.shape[:axis] + (len(inputs),) + first.shape[axis:], dtype)

    def forward(self, attrs, *values):
        return np.stack(values, axis=attrs.axis)

    def vjp(self, attrs, upstream, out, values, needs):
        lead = (slice(None),) * (attrs.axis % upstream.ndim)
        return tuple(
            _grad_as(upstream[lead + (i,)], value) if need else None
            for i, (value, need) in enumerate(zip(values, needs, strict=True))
        )


# --- slice ----------------------------------------------------------------------------------------


class SliceAttrs(Attrs):
    start: list[int | None] = Field(
        description="Per sliced axis, the first index (Python semantics: negative counts from the end, "
        "out of range clamps); null = from the beginning (from the end for a negative step)."
    )
    stop: list[int | None] = Field(
        description="Per sliced axis, the index to stop before (Python semantics); null = to the end "
        "(to the beginning for a negative step)."
    )
    step: list[int] | None = Field(
        default=None, description="Per sliced axis, the step (not 0; negative goes backwards); null = 1s."
    )
    axes: list[int] | None = Field(
        default=None, description="The axes start, stop and step refer to; null = the first len(start) axes."
    )

    @field_validator("stop", "step", "axes")
    @classmethod
    def _as_many_as_start(cls, value: list | None, info: ValidationInfo) -> list | None:
        start = info.data.get("start")
        if value is not None and start is not None and len(value) != len(start):
            raise PydanticCustomError(
                "slice_entries",
                "should be a list of {count} entries like start (one per sliced axis), not {given}",
                {"count": len(start), "given": len(value)},
            )
        return value

    @field_validator("step")
    @classmethod
    def _no_zero_step(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and 0 in value:
            raise PydanticCustomError(
                "slice_step", "should be a list of non-zero steps (a slice step of 0 is undefined)"
            )
        return value


@register
class Slice(Op):
    """A strided window of x: along each listed axis, the indices of Python's ``x[start:stop:step]``.

    Python slice semantics per axis: negative start/stop count from the end, out-of-range bounds clamp
    (an empty result is fine), a negative step walks backwards, null bounds mean "from the edge". Axes
    not listed are kept whole. Gradient: upstream is written into zeros of x's shape at the picked
    positions (every position is picked at most once, so nothing accumulates).

    A symbolic axis (``N``) can only be sliced whole (start and stop null or the edge, step 1 or -1),
    since any other result's size depends on N.

    Kink rule: none; slicing is linear.
    """

    name = "slice"
    family = "shape"
    symbol = "[:]"
    input_names = ("x",)
    vjp_reads = frozenset()
    Attrs = SliceAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        steps = attrs.step or [1] * len(attrs.start)
        axes = attrs.axes if attrs.axes is not None else list(range(len(attrs.start)))
        starts = [
            (0 if step > 0 else _ONNX_END) if s is None else s
            for s, step in zip(attrs.start, steps, strict=True)
        ]
        ends = [
            (_ONNX_END if step > 0 else _ONNX_BEFORE_START) if e is None else e
            for e, step in zip(attrs.stop, steps, strict=True)
        ]
        return emit.op(
            "Slice", inputs[0], emit.ints(starts), emit.ints(ends), emit.ints(axes), emit.ints(steps)
        )

    def infer(self, attrs, x: TensorType) -> TensorType:
        shape = list(x.shape)
        for axis, piece in self._pieces(attrs, x.ndim):
            size = x.shape[axis]
            if isinstance(size, int):
                shape[axis] = len(range(*piece.indices(size)))
            elif not self._whole(piece):
                raise ShapeError(
                    f"slice: axis {axis} of x {format_shape(x.shape)} has symbolic size {size}; it can only "
                    f"be sliced whole (start and stop null, step 1 or -1), since the result's size "
                    f"depends on {size}"
                )
        return TensorType(tuple(shape), x.dtype)

    @staticmethod
    def _whole(piece: slice) -> bool:
        step = 1 if piece.step is None else piece.step
        first = 0 if step == 1 else -1
        return step in (1, -1) and piece.start in (None, first) and piece.stop is None

    def _pieces(self, attrs, ndim: int) -> list[tuple[int, slice]]:
        count = len(attrs.start)
        axes = list(range(count)) if attrs.axes is None else attrs.axes
        if attrs.axes is None and count > ndim:
            raise ShapeError(f"slice: start has {count} entries for a {ndim}-d x; give at most one per axis")
        normalized = [normalize_axis(self, a, ndim) for a in axes]
        if len(set(normalized)) != len(normalized):
            raise ShapeError(f"slice: axes {axes} repeat an axis")
        steps = attrs.step if attrs.step is not None else [None] * count
        return [
            (axis, slice(start, stop, step))
            for axis, start, stop, step in zip(normalized, attrs.start, attrs.stop, steps, strict=True)
        ]

    def _index(self, attrs, ndim: int) -> tuple[slice, ...]:
        index = [slice(None)] * ndim
        for axis, piece in self._pieces(attrs, ndim):
            index[axis] = piece
        return tuple(index)

    def forward(self, attrs, x):
        return x[self._index(attrs, x.ndim)]

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        grad = np.zeros(x.shape, dtype=upstream.dtype)
        grad[self._index(attrs, x.ndim)] = upstream
        return (grad,)


# --- squeeze, expand_dims, flatten ------------------------------------------------------------------


class ReshapingOp(Op):
    """An op whose output holds x's elements in C order in another shape: the gradient is reshaped back."""

    family = "shape"
    input_names = ("x",)
    vjp_reads = frozenset()

    def to_onnx(self, attrs, emit, inputs, types, out):
        return reshape_to_onnx(emit, inputs[0], types[0], out)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (np.reshape(upstream, x.shape),)


class SqueezeAttrs(Attrs):
    axis: int | list[int] | None = Field(
        default=None,
        description="The size-1 axes to remove; null (the default) removes every size-1 axis "
        "(refused when x has symbolic dimensions: name the axes then).",
    )


@register
class Squeeze(ReshapingOp):
    """Remove size-1 axes, as ``numpy.squeeze``. The gradient is upstream reshaped to x's shape.

    The named axes must have size 1. With axis null, every size-1 axis goes; that is refused for an x
    with symbolic dimensions (whether N is 1 is known only at run time, and the result's rank must not
    depend on a feed): name the axes instead.

    Kink rule: none; squeeze is linear.
    """

    name = "squeeze"
    symbol = "squeeze"
    Attrs = SqueezeAttrs

    def infer(self, attrs, x: TensorType) -> TensorType:
        axes = self._axes(attrs, x.shape)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def _axes(self, attrs, shape: Shape) -> tuple[int, ...]:
        ones = tuple(i for i, d in enumerate(shape) if d == 1)
        if attrs.axis is None:
            symbols = [(i, d) for i, d in enumerate(shape) if isinstance(d, str)]
            if symbols:
                where = ", ".join(f"{d} at axis {i}" for i, d in symbols)
                raise ShapeError(
                    f"squeeze: x {format_shape(shape)} has symbolic dimensions ({where}); with axis null "
                    f"it cannot tell whether they are 1: name the axes to squeeze (axis={list(ones)})"
                )
            return ones
        axes = normalize_axes(self, attrs.axis, len(shape))
        for i in axes:
            if shape[i] != 1:
                what = "symbolic size" if isinstance(shape[i], str) else "size"
                raise ShapeError(
                    f"squeeze: axis {i} of x {format_shape(shape)} has {what} {shape[i]}, not 1; "
                    "only size-1 axes can be squeezed"
                )
        return axes

    def forward(self, attrs, x):
        return np.squeeze(x, axis=self._axes(attrs, x.shape))


class ExpandDimsAttrs(Attrs):
    axis: int | list[int] = Field(
        description="Where the new size-1 axes go, as positions in the result (negative counts from its end)."
    )


@register
class ExpandDims(ReshapingOp):
    """Insert size-1 axes, as ``numpy.expand_dims``: the axes are positions in the result.

    The gradient is upstream reshaped to x's shape. Kink rule: none; expand_dims is linear.
    """

    name = "expand_dims"
    symbol = "expand"
    Attrs = ExpandDimsAttrs

    def infer(self, attrs, x: TensorType) -> TensorType:
        axes = self._axes(attrs, x.ndim)
        rest = iter(x.shape)
        ndim = x.ndim + len(axes)
        return TensorType(tuple(1 if i in axes else next(rest) for i in range(ndim)), x.dtype)

    def _axes(self, attrs, ndim: int) -> tuple[int, ...]:
        axes = [attrs.axis] if isinstance(attrs.axis, int) else attrs.axis
        out_ndim = ndim + len(axes)
        normalized = []
        for a in axes:
            if not -out_ndim <= a < out_ndim:
                raise ShapeError(
                    f"expand_dims: axis {a} is out of range for a {out_ndim}-d result ({ndim}-d x, "
                    f"{len(axes)} new: axes {-out_ndim} to {out_ndim - 1})"
                )
            normalized.append(a % out_ndim)
        if len(set(normalized)) != len(normalized):
            raise ShapeError(f"expand_dims: axis {axes} repeats an axis")
        return tuple(sorted(normalized))

    def forward(self, attrs, x):
        return np.expand_dims(x, self._axes(attrs, x.ndim))


class FlattenAttrs(Attrs):
    start_axis: int = Field(default=1, description="The first axis to merge (negative counts from the end).")
    end_axis: int = Field(default=-1, description="The last axis to merge, included.")


@register
class Flatten(ReshapingOp):
    """Merge the axes start_axis..end_axis (inclusive) into one, as ``torch.flatten(x, start_dim,
    end_dim)``; the default keeps the batch axis and flattens the rest, as ``torch.nn.Flatten``.

    (N, C, H, W) gives (N, C*H*W). A scalar gives shape (1,) (as torch). The gradient is upstream
    reshaped to x's shape. A symbolic dimension survives when it is the only axis merged, or is merged
    only with size-1 axes; merging it with other sizes is refused (N*12 has no name).

    Kink rule: none; flatten is linear.
    """

    name = "flatten"
    symbol = "flatten"
    Attrs = FlattenAttrs

    def _range(self, attrs, ndim: int) -> tuple[int, int]:
        span = max(ndim, 1)  # a scalar is flattened as if it had one axis (torch)
        start = normalize_axis(self, attrs.start_axis, span, "start_axis")
        end = normalize_axis(self, attrs.end_axis, span, "end_axis")
        if start > end:
            raise ShapeError(
                f"flatten: start_axis {attrs.start_axis} comes after end_axis {attrs.end_axis} "
                f"for a {ndim}-d x"
            )
        return start, end

    def infer(self, attrs, x: TensorType) -> TensorType:
        start, end = self._range(attrs, x.ndim)
        if x.ndim == 0:
            return TensorType((1,), x.dtype)
        merged = x.shape[start : end + 1]
        symbols = [d for d in merged if isinstance(d, str)]
        size: Dim
        if not symbols:
            size = math.prod(d for d in merged if isinstance(d, int))
        elif len(symbols) == 1 and all(d == 1 for d in merged if isinstance(d, int)):
            size = symbols[0]
        else:
            raise ShapeError(
                f"flatten: axes {start} to {end} of x {format_shape(x.shape)} merge symbolic "
                f"{' and '.join(map(str, symbols))} with other sizes; the merged size has no name "
                "(flatten only axes of known size, or reshape with -1)"
            )
        return TensorType(x.shape[:start] + (size,) + x.shape[end + 1 :], x.dtype)

    def forward(self, attrs, x):
        start, end = self._range(attrs, x.ndim)
        if x.ndim == 0:
            return np.reshape(x, (1,))
        merged = math.prod(x.shape[start : end + 1])
        return np.reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


# --- broadcast_to, pad ------------------------------------------------------------------------------


class BroadcastToAttrs(Attrs):
    shape: list[Annotated[int, Field(ge=0)]] = Field(
        description="The shape to broadcast to (numpy rules: x's axes align at the end; each is 1 or equal)."
    )


@register
class BroadcastTo(Op):
    """x repeated to a larger shape by numpy broadcasting, as ``numpy.broadcast_to``.

    x's axes align with the end of ``shape``; each has size 1 (stretched) or the target size. Gradient:
    upstream summed over the axes broadcasting added or stretched. The target holds numbers only, so a
    symbolic dimension of x cannot be broadcast (use a broadcasting op such as ``mul`` instead).

    Kink rule: none; broadcast_to is linear.
    """

    name = "broadcast_to"
    family = "shape"
    symbol = "bcast"
    input_names = ("x",)
    vjp_reads = frozenset()
    Attrs = BroadcastToAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Expand", inputs[0], emit.ints(attrs.shape))

    def infer(self, attrs, x: TensorType) -> TensorType:
        target = tuple(attrs.shape)
        where = f"broadcast_to: x {format_shape(x.shape)} to {format_shape(target)}"
        if x.ndim > len(target):
            raise ShapeError(f"{where}: the target has fewer dimensions than x")
        for i, d in enumerate(x.shape):
            want = target[len(target) - x.ndim + i]
            if d != 1 and d != want:
                hint = " (a symbolic dimension broadcasts only to itself)" if isinstance(d, str) else ""
                raise ShapeError(f"{where}: axis {i} has size {d}, which is neither 1 nor {want}{hint}")
        require_size(self, target)
        return TensorType(target, x.dtype)

    def forward(self, attrs, x):
        shape = tuple(attrs.shape)
        # a value of its own, not numpy's read-only view
        return allocating(self, shape, x.dtype, lambda: np.array(np.broadcast_to(x, shape)))

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (unbroadcast(upstream, x.shape),)


class PadAttrs(Attrs):
    pad_width: list[Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)]] = Field(
        description="One [before, after] pair per axis of x: how many elements to add at each end (>= 0)."
    )
    value: float = Field(default=0.0, description="The value of the added elements.")


@register
class Pad(Op):
    """Constant padding, as ``numpy.pad(x, pad_width, mode="constant", constant_values=value)``.

    Axis i grows by before_i + after_i elements of ``value``. Gradient: the upstream window where x sits
    (the padding is a constant and gets nothing). For an int64 x, value must be a whole number; for a
    bool x, 0 or 1. A symbolic axis can only get zero padding.

    Kink rule: none; pad is affine in x.
    """

    name = "pad"
    family = "shape"
    symbol = "pad"
    input_names = ("x",)
    vjp_reads = frozenset()
    Attrs = PadAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        pads = [before for before, _ in attrs.pad_width] + [after for _, after in attrs.pad_width]
        return emit.op(
            "Pad", inputs[0], emit.ints(pads), emit.scalar(attrs.value, out.dtype), mode="constant"
        )

    def infer(self, attrs, x: TensorType) -> TensorType:
        widths = attrs.pad_width
        if len(widths) != x.ndim:
            raise ShapeError(
                f"pad: pad_width has {len(widths)} pair{'s' if len(widths) != 1 else ''} for x "
                f"{format_shape(x.shape)} ({x.ndim}-d); give one [before, after] pair per axis"
            )
        value = attrs.value
        if x.dtype == "int64" and not (value.is_integer() and -(2**63) <= value < 2**63):
            raise ShapeError(f"pad: value {value} is not a whole number, and x is int64")
        if x.dtype == "bool" and value not in (0.0, 1.0):
            raise ShapeError(f"pad: value {value} is neither 0 nor 1, and x is bool")
        shape: list[Dim] = []
        for axis, (d, (before, after)) in enumerate(zip(x.shape, widths, strict=True)):
            if isinstance(d, int):
                shape.append(d + before + after)
            elif before == after == 0:
                shape.append(d)
            else:
                raise ShapeError(
                    f"pad: axis {axis} of x {format_shape(x.shape)} has symbolic size {d}; it can only get "
                    f"zero padding (got [{before}, {after}]: {d} + {before + after} has no name)"
                )
        require_size(self, tuple(shape))
        return TensorType(tuple(shape), x.dtype)

    def forward(self, attrs, x):
        if x.ndim == 0:
            return np.array(x)
        widths = attrs.pad_width
        shape = tuple(d + before + after for d, (before, after) in zip(x.shape, widths, strict=True))
        fill = x.dtype.type(attrs.value)
        return allocating(
            self, shape, x.dtype, lambda: np.pad(x, widths, mode="constant", constant_values=fill)
        )

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        window = tuple(slice(b, b + n) for (b, _), n in zip(attrs.pad_width, x.shape, strict=True))
        return (upstream[window],)
