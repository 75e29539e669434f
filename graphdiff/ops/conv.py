"""Convolution and pooling over NCHW images: conv2d, max_pool2d and avg_pool2d, as torch.nn.functional.

Shapes: x is (N, C, H, W). N may be symbolic (a batch fed at run time); C, H and W must be numbers, as
must every dimension of a conv2d weight (O, C/groups, kH, kW). stride, padding and dilation are an int
(both spatial axes) or a pair [height, width]. The output is (N, O or C, OH, OW) with
OH = (H + 2 ph - dh (kH - 1) - 1) // sh + 1 (floor, as torch's default ceil_mode=False), refused at check
time when it would be below 1.

How it is computed (vectorized; no loop over positions, images or channels):

- conv2d is im2col plus one matrix product per group (all groups in one batched ``np.matmul``). x is
  copied once into a zero buffer that holds, per channel, the batch's padded images stacked one below
  the other (see ConvGeometry). The output is computed at every row and column of that stack, including
  positions whose windows straddle two images or the right edge (their values are discarded), so that
  for stride 1 the elements under one kernel offset are one contiguous run per channel: the im2col copy
  is C x kH x kW long, simple copies instead of N x C x kH x kW x OH short ones, several times faster.
  The backward is the same product transposed: grad weight = upstream x windows, grad x = weight^T x
  upstream added back onto the buffer by kH x kW strided adds (the transposed convolution; overlapping
  windows accumulate; the discarded positions carry zeros), then cropped to x.
- The pools reduce a strided view of the windows; their backward scatters each window's share back,
  in one assignment when windows do not overlap (a plain reshape when they tile x exactly) and by
  kH x kW strided adds when they do.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from ..errors import ShapeError
from .base import Attrs, Op, TensorType, format_shape, promoted, register, require_float

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositivePair = Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]
NonNegativePair = Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]


def pair(value: int | list[int]) -> tuple[int, int]:
    """An int or [height, width] attribute as (height, width)."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _by(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


def _spatial(op: Op, x: TensorType, name: str = "x") -> tuple[int, int, int]:
    """(C, H, W) of an NCHW input; refuse any other rank and symbolic C, H or W."""
    if x.ndim != 4:
        raise ShapeError(
            f"{op.name}: input {name!r} must be 4-d (N, C, H, W), got shape {format_shape(x.shape)}"
        )
    _, c, h, w = x.shape
    if not all(isinstance(d, int) for d in (c, h, w)):
        raise ShapeError(
            f"{op.name}: the channels, height and width of {name!r} must be numbers (only N may be "
            f"symbolic), got shape {format_shape(x.shape)}"
        )
    return c, h, w


# --- geometry: the sizes of one call, computed from static shapes once ----------------------------------


@dataclass(frozen=True)
class ConvGeometry:
    """Sizes of a convolution over one (H, W) with a (kH, kW) kernel, and of its working buffer.

    The buffer holds, per channel, the batch's padded images one below the other: image n's padded
    rows start at row n * Hs, where Hs is the padded height rounded up to a multiple of sh, and each row
    is Wb long (the padded width rounded up to a multiple of sw), followed by a ``tail`` of zeros that the
    last windows' discarded positions read. Outputs are computed at every (row, column) of that stack
    with a stride: R = N * Hs / sh rows of Wc = Wb / sw, of which each image's first OH rows and OW
    columns are kept. With stride 1 the window elements under one kernel offset are then one contiguous
    run per channel, so the im2col copy and the backward's scatter are C kH kW long, simple copies and
    adds instead of many short ones.
    """

    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    out_h: int
    out_w: int
    image_h: int
    buffer_w: int

    @property
    def rows_per_image(self) -> int:
        return self.image_h // self.stride[0]

    @property
    def cols_w(self) -> int:
        return self.buffer_w // self.stride[1]

    @property
    def tail(self) -> int:
        """How far past the last image the last (discarded) windows read."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        return dh * (kh - 1) * self.buffer_w + dw * (kw - 1)

    def channel_size(self, n: int) -> int:
        return n * self.image_h * self.buffer_w + self.tail

    def positions(self, n: int) -> int:
        """Output positions computed per channel (kept and discarded)."""
        return n * self.rows_per_image * self.cols_w


@functools.lru_cache(maxsize=256)
def conv_geometry(
    h: int,
    w: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> ConvGeometry:
    """The geometry; a ShapeError (without the op's name) when the kernel does not fit."""
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    if extent[0] > padded[0] or extent[1] > padded[1]:
        dilated = "" if dilation == (1, 1) else f" (dilation {_by(dilation)}: extent {_by(extent)})"
        raise ShapeError(
            f"the kernel {_by(kernel)}{dilated} is bigger than the padded input {_by(padded)} "
            f"(input {_by((h, w))}, padding {_by(padding)}): the output would be empty"
        )
    out_h, out_w = ((p - e) // s + 1 for p, e, s in zip(padded, extent, stride, strict=True))
    image_h, buffer_w = (-(-p // s) * s for p, s in zip(padded, stride, strict=True))
    return ConvGeometry(h, w, kernel, stride, padding, dilation, out_h, out_w, image_h, buffer_w)


def _images(buffer: np.ndarray, g: ConvGeometry, n: int) -> np.ndarray:
    """(C, N, Hs, Wb) view of the buffer's images (the tail left out)."""
    c = buffer.shape[0]
    return buffer[:, : n * g.image_h * g.buffer_w].reshape(c, n, g.image_h, g.buffer_w)


def _crop(buffer: np.ndarray, g: ConvGeometry, n: int) -> np.ndarray:
    """(N, C, H, W) view of x's own positions in the buffer (the padding left out)."""
    (ph, pw) = g.padding
    return _images(buffer, g, n)[:, :, ph : ph + g.h, pw : pw + g.w].transpose(1, 0, 2, 3)


def _buffer(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """x copied into a zero buffer (C, channel_size), each image at its place in the stack."""
    n, c = x.shape[:2]
    buffer = np.zeros((c, g.channel_size(n)), dtype=x.dtype)
    _crop(buffer, g, n)[...] = x
    return buffer


def _positions_layout(g: ConvGeometry, n: int, item: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shape and strides of the computed positions within one channel of the buffer: one axis when
    they are contiguous (stride 1), (R, Wc) otherwise. numpy's loops do not merge the two axes of a view
    made by hand, and one long axis is about 4 times faster to copy or add."""
    (sh, sw) = g.stride
    if (sh, sw) == (1, 1):
        return (g.positions(n),), (item,)
    return (n * g.rows_per_image, g.cols_w), (sh * g.buffer_w * item, sw * item)


def _windows(buffer: np.ndarray, g: ConvGeometry, n: int) -> np.ndarray:
    """(C, kH, kW, *positions) view of the buffer: [c, p, q, ...] is the element under kernel offset
    (p, q) of every computed window. For one (p, q) the elements are distinct (Wc sw = Wb), so adding
    into ``_windows(...)[:, p, q]`` in place is safe. (A view made with np.ndarray: numpy checks that it
    stays inside the buffer, and it is several times cheaper than numpy.lib.stride_tricks.as_strided.)"""
    (kh, kw), (dh, dw) = g.kernel, g.dilation
    item = buffer.itemsize
    positions, position_strides = _positions_layout(g, n, item)
    shape = (buffer.shape[0], kh, kw, *positions)
    strides = (buffer.strides[0], dh * g.buffer_w * item, dw * item, *position_strides)
    return np.ndarray(shape, buffer.dtype, buffer, 0, strides)


def _im2col(x: np.ndarray, g: ConvGeometry, groups: int) -> np.ndarray:
    """The windows of x as (groups, C/groups * kH * kW, positions): one copy of a strided view."""
    n, c = x.shape[:2]
    kh, kw = g.kernel
    return _windows(_buffer(x, g), g, n).reshape(groups, c // groups * kh * kw, g.positions(n))


def _col2im(cols: np.ndarray, g: ConvGeometry, n: int, c: int, dtype: np.dtype) -> np.ndarray:
    """The transposed im2col: (C * kH * kW, positions) window contributions summed onto the input
    positions they came from (overlapping windows accumulate), as (N, C, H, W). One strided add per
    kernel offset; the discarded positions carry zeros, so where they land does not matter."""
    buffer = np.zeros((c, g.channel_size(n)), dtype=dtype)
    windows = _windows(buffer, g, n)
    kh, kw = g.kernel
    pieces = cols.reshape(windows.shape)
    for p in range(kh):
        for q in range(kw):
            windows[:, p, q] += pieces[:, p, q]
    return _crop(buffer, g, n)


# --- conv2d --------------------------------------------------------------------------------------------


class Conv2dAttrs(Attrs):
    stride: PositiveInt | PositivePair = Field(
        default=1, description="Step between windows: an int (both axes) or [height, width]."
    )
    padding: NonNegativeInt | NonNegativePair = Field(
        default=0, description="Zeros added on each side of the image: an int or [height, width]."
    )
    dilation: PositiveInt | PositivePair = Field(
        default=1, description="Spacing between kernel elements: an int or [height, width]."
    )
    groups: int = Field(
        default=1,
        ge=1,
        description="Split the channels into this many groups, each convolved with its own O/groups "
        "filters (groups = C is a depthwise convolution).",
    )


@register
class Conv2d(Op):
    """2-d cross-correlation of NCHW images with a bank of filters, as torch.nn.functional.conv2d.

    out[n, o, i, j] = bias[o] + sum over c in o's group, p < kH, q < kW of
    weight[o, c, p, q] * xpad[n, g(o) C/groups + c, i sh + p dh, j sw + q dw], where xpad is x with
    padding zeros on each side. x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) (optional);
    out (N, O, OH, OW) with OH = (H + 2 ph - dh (kH - 1) - 1) // sh + 1 (and OW likewise).

    Gradient: d/dweight[o, c, p, q] = sum over n, i, j of upstream[n, o, i, j] times the input under
    that kernel element; d/dx is the transposed convolution: each input position gets the sum over the
    windows covering it of upstream x weight (padding positions are dropped); d/dbias[o] = sum of
    upstream[:, o].

    Kink rule: none; conv2d is linear in x and in weight.
    """

    name = "conv2d"
    family = "convolution"
    symbol = "conv"
    input_names = ("x", "weight", "bias")
    min_inputs = 2
    vjp_reads = frozenset({"inputs"})
    Attrs = Conv2dAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        padding = pair(attrs.padding)
        return emit.op(
            "Conv",
            *promoted(emit, inputs, types),
            kernel_shape=list(types[1].shape[2:]),
            strides=list(pair(attrs.stride)),
            pads=[padding[0], padding[1], padding[0], padding[1]],
            dilations=list(pair(attrs.dilation)),
            group=attrs.groups,
        )

    def infer(self, attrs, x: TensorType, weight: TensorType, bias: TensorType | None = None) -> TensorType:
        types = [x, weight] if bias is None else [x, weight, bias]
        dtype = require_float(self, types)
        c, h, w = _spatial(self, x)
        if weight.ndim != 4 or not all(isinstance(d, int) for d in weight.shape):
            raise ShapeError(
                f"conv2d: weight must be 4-d (O, C/groups, kH, kW) with numeric dimensions, got shape "
                f"{format_shape(weight.shape)}"
            )
        out_channels, group_channels, kh, kw = weight.shape
        groups = attrs.groups
        if kh == 0 or kw == 0:
            raise ShapeError(
                f"conv2d: weight {format_shape(weight.shape)} has an empty {_by((kh, kw))} kernel"
            )
        if group_channels * groups != c:
            raise ShapeError(
                f"conv2d: weight {format_shape(weight.shape)} takes {group_channels} channels per group, "
                f"so with groups={groups} x needs {group_channels * groups} channels; "
                f"x {format_shape(x.shape)} has {c}"
            )
        if out_channels % groups:
            raise ShapeError(
                f"conv2d: weight {format_shape(weight.shape)} has {out_channels} output channels, "
                f"not divisible by groups={groups}"
            )
        if bias is not None and bias.shape != (out_channels,):
            raise ShapeError(
                f"conv2d: bias must have shape ({out_channels},) (one per output channel of weight "
                f"{format_shape(weight.shape)}), got {format_shape(bias.shape)}"
            )
        g = self.geometry(attrs, h, w, kh, kw)
        return TensorType((x.shape[0], out_channels, g.out_h, g.out_w), dtype)

    def geometry(self, attrs, h: int, w: int, kh: int, kw: int) -> ConvGeometry:
        try:
            return conv_geometry(
                h, w, (kh, kw), pair(attrs.stride), pair(attrs.padding), pair(attrs.dilation)
            )
        except ShapeError as exc:
            raise ShapeError(f"conv2d: {exc}") from None

    def forward(self, attrs, x, weight, bias=None):
        n, c, h, w = x.shape
        out_channels, _, kh, kw = weight.shape
        g = self.geometry(attrs, h, w, kh, kw)
        groups = attrs.groups
        cols = _im2col(x, g, groups)
        product = np.matmul(weight.reshape(groups, out_channels // groups, -1), cols)
        product = product.reshape(out_channels, -1)  # (O, positions)
        if bias is not None:
            product = product.astype(np.result_type(product, bias), copy=False)
            product += bias[:, None]
        computed = product.reshape(out_channels, n, g.rows_per_image, g.cols_w)
        out = np.empty((n, out_channels, g.out_h, g.out_w), dtype=product.dtype)
        np.copyto(out.transpose(1, 0, 2, 3), computed[:, :, : g.out_h, : g.out_w])
        return out

    def vjp(self, attrs, upstream, out, values, needs):
        x, weight = values[0], values[1]
        n, c, h, w = x.shape
        out_channels, _, kh, kw = weight.shape
        g = self.geometry(attrs, h, w, kh, kw)
        groups = attrs.groups
        grads: list[np.ndarray | None] = [None] * len(values)
        if len(values) == 3 and needs[2]:
            grads[2] = upstream.sum(axis=0).sum(axis=(1, 2)).astype(values[2].dtype, copy=False)
        if not (needs[0] or needs[1]):
            return tuple(grads)
        # upstream at its computed positions (O, positions), zero at the discarded ones: the products'
        # other operand
        spread = np.zeros((out_channels, n, g.rows_per_image, g.cols_w), dtype=upstream.dtype)
        spread[:, :, : g.out_h, : g.out_w] = upstream.transpose(1, 0, 2, 3)
        spread = spread.reshape(groups, out_channels // groups, -1)
        if needs[1]:
            windows = _im2col(x, g, groups)
            grads[1] = np.matmul(spread, windows.transpose(0, 2, 1)).reshape(weight.shape)
            grads[1] = grads[1].astype(weight.dtype, copy=False)
            # freed now, so that grad x's equally large product below can take its memory: a second
            # one would grow the heap, which glibc gives back after every call, and re-touching those
            # pages costs more than the product (measured: most of this vjp's time)
            del windows
        if needs[0]:
            weights = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
            cols = np.matmul(weights, spread)  # (groups, C/groups * kH * kW, positions)
            grads[0] = _col2im(cols, g, n, c, np.result_type(cols, x)).astype(x.dtype)
        return tuple(grads)


# --- pooling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolGeometry:
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_h: int
    out_w: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        return self.h + 2 * self.padding[0], self.w + 2 * self.padding[1]

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Every kernel offset (p, q), row by row."""
        return [(p, q) for p in range(self.kernel[0]) for q in range(self.kernel[1])]

    @property
    def tiles(self) -> bool:
        """Whether the windows cover x exactly, side by side (each element in exactly one window)."""
        return (
            self.padding == (0, 0)
            and self.stride == self.kernel
            and self.out_h * self.kernel[0] == self.h
            and self.out_w * self.kernel[1] == self.w
        )

    @property
    def overlaps(self) -> bool:
        """Whether some input position is in two windows."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return (sh < kh and self.out_h > 1) or (sw < kw and self.out_w > 1)

    def at(self, padded: np.ndarray, p: int, q: int) -> np.ndarray:
        """(N, C, OH, OW) strided view of a padded (N, C, Hp, Wp) array: the element at kernel offset
        (p, q) of every window."""
        (sh, sw) = self.stride
        return padded[:, :, p : p + (self.out_h - 1) * sh + 1 : sh, q : q + (self.out_w - 1) * sw + 1 : sw]

    def crop(self, padded: np.ndarray) -> np.ndarray:
        (ph, pw) = self.padding
        return padded[:, :, ph : ph + self.h, pw : pw + self.w]


class PoolAttrs(Attrs):
    kernel_size: PositiveInt | PositivePair = Field(
        description="The window: an int (square) or [height, width]."
    )
    stride: PositiveInt | PositivePair | None = Field(
        default=None, description="Step between windows: an int or [height, width]; null = kernel_size."
    )
    padding: NonNegativeInt | NonNegativePair = Field(
        default=0,
        description="Added on each side of the image: an int or [height, width], at most half the kernel.",
    )


class Pool(Op):
    """A pool's shape rule and window plumbing.

    Windows are visited by kernel offset: for each (p, q) of the kH x kW kernel, the strided slice of
    the (padded) input holding that element of every window is one (N, C, OH, OW) array, so a pool is
    kH kW - 1 elementwise calls (numpy's own reductions over small strided window axes are several
    times slower) and its backward kH kW strided writes. That small fixed loop is the only Python loop.
    """

    family = "convolution"
    input_names = ("x",)
    #: The value of the padding: -inf for max (it never wins), 0 for avg.
    pad_value: float = 0.0

    #: The ONNX pool op.
    onnx_pool: str = ""

    def to_onnx(self, attrs, emit, inputs, types, out):
        kernel = pair(attrs.kernel_size)
        stride = kernel if attrs.stride is None else pair(attrs.stride)
        padding = pair(attrs.padding)
        extra = self.onnx_attributes(attrs)
        return emit.op(
            self.onnx_pool,
            inputs[0],
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=[padding[0], padding[1], padding[0], padding[1]],
            **extra,
        )

    def onnx_attributes(self, attrs) -> dict:
        return {}

    def geometry(self, attrs, h: int, w: int) -> PoolGeometry:
        kernel = pair(attrs.kernel_size)
        stride = kernel if attrs.stride is None else pair(attrs.stride)
        padding = pair(attrs.padding)
        if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
            raise ShapeError(
                f"{self.name}: padding {_by(padding)} is more than half the kernel {_by(kernel)} "
                f"(at most {_by((kernel[0] // 2, kernel[1] // 2))}, as torch requires)"
            )
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        if kernel[0] > padded[0] or kernel[1] > padded[1]:
            raise ShapeError(
                f"{self.name}: the kernel {_by(kernel)} is bigger than the padded input {_by(padded)} "
                f"(input {_by((h, w))}, padding {_by(padding)}): the output would be empty"
            )
        out_h, out_w = ((p - k) // s + 1 for p, k, s in zip(padded, kernel, stride, strict=True))
        return PoolGeometry(h, w, kernel, stride, padding, out_h, out_w)

    def infer(self, attrs, x: TensorType) -> TensorType:
        dtype = require_float(self, [x])
        c, h, w = _spatial(self, x)
        if h == 0 or w == 0:
            raise ShapeError(
                f"{self.name}: x {format_shape(x.shape)} has an empty image ({_by((h, w))}); every window "
                "needs at least one element"
            )
        g = self.geometry(attrs, h, w)
        return TensorType((x.shape[0], c, g.out_h, g.out_w), dtype)

    def padded(self, x: np.ndarray, g: PoolGeometry) -> np.ndarray:
        """x with ``pad_value`` around it (x itself without padding)."""
        if g.padding == (0, 0):
            return x
        (ph, pw) = g.padding
        padded = np.full((*x.shape[:2], *g.padded_shape), self.pad_value, dtype=x.dtype)
        padded[:, :, ph : ph + g.h, pw : pw + g.w] = x
        return padded

    def fold(self, x: np.ndarray, g: PoolGeometry, ufunc: np.ufunc) -> np.ndarray:
        """(N, C, OH, OW): ``ufunc`` (maximum or add) over each window of x."""
        padded = self.padded(x, g)
        first, *rest = g.offsets
        if not rest:  # a 1x1 kernel
            return g.at(padded, *first).copy()
        total = ufunc(g.at(padded, *first), g.at(padded, *rest[0]))
        for p, q in rest[1:]:
            ufunc(total, g.at(padded, p, q), out=total)
        return total

    def scatter(self, g: PoolGeometry, x: np.ndarray, dtype: np.dtype, put) -> np.ndarray:
        """The gradient of x from per-offset contributions: ``put(p, q, target, add)`` writes (add=False)
        or adds (add=True, where windows overlap) the contribution of kernel offset (p, q) into
        ``target``, the (N, C, OH, OW) view of the positions it came from."""
        shape = (*x.shape[:2], *g.padded_shape)
        grad = np.empty(shape, dtype=dtype) if g.tiles else np.zeros(shape, dtype=dtype)
        if grad.size:
            for p, q in g.offsets:
                put(p, q, g.at(grad, p, q), g.overlaps)
        return g.crop(grad)


@register
class MaxPool2d(Pool):
    """Maximum over each kH x kW window of NCHW images, as torch.nn.functional.max_pool2d.

    out[n, c, i, j] = max over p < kH, q < kW of xpad[n, c, i sh + p, j sw + q], xpad being x padded
    with -inf (so padding never wins); stride defaults to kernel_size; padding at most half the kernel.
    out (N, C, OH, OW) with OH = (H + 2 ph - kH) // sh + 1.

    Gradient: each window passes its upstream gradient to its maximal element; an element that is the
    maximum of several (overlapping) windows collects all of their gradients.

    Kink rule: when several elements of a window tie for its maximum, each gets upstream / (number
    tied), as the ``max`` reduction does (PyTorch gives it all to one of them). A window holding nan has
    a nan maximum that no element equals, and passes no gradient.
    """

    name = "max_pool2d"
    onnx_pool = "MaxPool"
    symbol = "maxpool"
    vjp_reads = frozenset({"inputs", "output"})
    Attrs = PoolAttrs
    pad_value = -math.inf

    def forward(self, attrs, x):
        return self.fold(x, self.geometry(attrs, *x.shape[2:]), np.maximum)

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        g = self.geometry(attrs, *x.shape[2:])
        padded = self.padded(x, g)
        is_max = {(p, q): g.at(padded, p, q) == out for p, q in g.offsets}
        ties = np.zeros(out.shape, dtype=upstream.dtype)
        for mask in is_max.values():
            ties += mask
        np.maximum(ties, 1, out=ties)  # 0 only in a window holding nan, which passes nothing
        share = upstream / ties

        def put(p: int, q: int, target: np.ndarray, add: bool) -> None:
            if add:
                target += is_max[p, q] * share
            else:
                np.multiply(is_max[p, q], share, out=target)

        return (self.scatter(g, x, share.dtype, put).astype(x.dtype, copy=False),)


class AvgPoolAttrs(PoolAttrs):
    count_include_pad: bool = Field(
        default=True,
        description="Divide by the whole window (padding zeros included); false: by the number of x's "
        "elements in the window.",
    )


@register
class AvgPool2d(Pool):
    """Mean over each kH x kW window of NCHW images, as torch.nn.functional.avg_pool2d.

    out[n, c, i, j] = (sum over p < kH, q < kW of xpad[n, c, i sh + p, j sw + q]) / count[i, j], xpad
    being x padded with zeros; count is kH kW (count_include_pad, the default) or the number of x's own
    elements in the window. stride defaults to kernel_size; padding at most half the kernel.

    Gradient: each element of a window gets upstream / count of that window; an element in several
    (overlapping) windows collects each one's share.

    Kink rule: none; avg_pool2d is linear.
    """

    name = "avg_pool2d"
    onnx_pool = "AveragePool"
    symbol = "avgpool"
    vjp_reads = frozenset()
    Attrs = AvgPoolAttrs

    def onnx_attributes(self, attrs) -> dict:
        return {"count_include_pad": int(attrs.count_include_pad)}

    def counts(self, attrs, g: PoolGeometry, dtype: np.dtype) -> float | np.ndarray:
        """The divisor of each window: a number, or an (OH, OW) array without count_include_pad."""
        (kh, kw) = g.kernel
        if attrs.count_include_pad or g.padding == (0, 0):
            return float(kh * kw)

        def inside(out: int, k: int, s: int, p: int, size: int) -> np.ndarray:
            start = np.arange(out) * s - p
            return np.minimum(start + k, size) - np.maximum(start, 0)

        rows = inside(g.out_h, kh, g.stride[0], g.padding[0], g.h)
        cols = inside(g.out_w, kw, g.stride[1], g.padding[1], g.w)
        return np.multiply.outer(rows, cols).astype(dtype)

    def forward(self, attrs, x):
        g = self.geometry(attrs, *x.shape[2:])
        total = self.fold(x, g, np.add)
        total /= self.counts(attrs, g, x.dtype)
        return total

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        g = self.geometry(attrs, *x.shape[2:])
        share = upstream / self.counts(attrs, g, upstream.dtype)

        def put(p: int, q: int, target: np.ndarray, add: bool) -> None:
            if add:
                target += share
            else:
                target[...] = share

        return (self.scatter(g, x, share.dtype, put).astype(x.dtype, copy=False),)
