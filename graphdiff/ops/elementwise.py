"""Elementwise ops: numpy broadcasting forward, gradients un-broadcast once in the base classes.

Each op writes its local gradient in the output's (broadcast) shape as a small named method
(``grad_x``; ``grad_a`` and ``grad_b`` for binary ops); the base class multiplies nothing and hides
nothing else: it only sums the gradient back to each input's shape (:func:`unbroadcast`).

Kinks (documented here, pinned by tests, as HIPS autograd and JAX do):
- ``maximum``/``minimum`` split the gradient equally between tied inputs (0.5 each);
- ``relu'(0) = 0`` and ``abs'(0) = 0``.

The activations added for issue 10 follow PyTorch at their kinks instead (its reference corpus checks
them): ``clip`` passes the gradient on ``min <= x <= max`` with both ends included, ``leaky_relu'(0)`` is
``negative_slope``, ``elu'(0)`` is ``alpha``, ``d power / d b`` is 0 where the base is 0, and
``sqrt'(0) = inf``.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any, Literal

import numpy as np
from pydantic import Field

from .base import (
    Attrs,
    LocalGradient,
    Op,
    TensorType,
    broadcast_shapes,
    exact_in_float32,
    register,
    require_float,
    unbroadcast,
)


@functools.cache
def _special() -> ModuleType:
    """scipy.special, imported the first time an op needs it (sigmoid's expit, the exact gelu's erfc):
    importing it takes longer than importing numpy, and a graph without those ops never does."""
    import scipy.special

    return scipy.special


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) in x's dtype: scipy's expit, one ufunc that is stable on its own (sigmoid(1000) = 1,
    sigmoid(-1000) = 0, no overflow warnings) and within an ulp of the two-branch formula, which costs
    five numpy calls, both branches evaluated everywhere, and an errstate."""
    return _special().expit(x)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = logaddexp(0, x): x + log1p(e^-x) for large x, so exact (and silent) at +-1000."""
    with np.errstate(under="ignore"):
        return np.logaddexp(0.0, x)


def _share(wins: np.ndarray, ties: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """1 where an input wins, 0.5 where it ties, 0 elsewhere, in the upstream's dtype (0.5 times a mask
    alone would be float64, and a float32 gradient would be computed in float64)."""
    return (wins + 0.5 * ties).astype(upstream.dtype, copy=False)


class UnaryElementwise(Op):
    """f(x) applied to every element; the gradient is upstream x f'(x), elementwise."""

    input_names = ("x",)
    family = "elementwise"
    elementwise = True

    def infer(self, attrs: Any, x: TensorType) -> TensorType:
        return TensorType(x.shape, require_float(self, [x]))

    def vjp(self, attrs, upstream, out, values, needs):
        (x,) = values
        return (self.grad_x(attrs, upstream, out, x),)

    def local_gradients(self, attrs: Any) -> tuple[LocalGradient, ...]:
        return (functools.partial(self.grad_x, attrs),)

    def grad_x(self, attrs: Any, upstream: np.ndarray, out: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class BinaryElementwise(Op):
    """f(a, b) over the broadcast of a and b; each gradient is summed back to its input's shape."""

    input_names = ("a", "b")
    family = "elementwise"
    elementwise = True

    def infer(self, attrs: Any, a: TensorType, b: TensorType) -> TensorType:
        dtype = require_float(self, [a, b])
        return TensorType(broadcast_shapes(self, a.shape, b.shape), dtype)

    def vjp(self, attrs, upstream, out, values, needs):
        a, b = values
        grad_a = unbroadcast(self.grad_a(upstream, out, a, b), a.shape) if needs[0] else None
        grad_b = unbroadcast(self.grad_b(upstream, out, a, b), b.shape) if needs[1] else None
        return grad_a, grad_b

    def local_gradients(self, attrs: Any) -> tuple[LocalGradient, ...]:
        return (self.grad_a, self.grad_b)

    def grad_a(self, upstream: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad_b(self, upstream: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
class Add(BinaryElementwise):
    """a + b. The add gate distributes the upstream gradient unchanged to both inputs."""

    name = "add"
    onnx_op = "Add"
    vjp_reads = frozenset()
    symbol = "+"

    def forward(self, attrs, a, b):
        return a + b

    def grad_a(self, upstream, out, a, b):
        return upstream

    def grad_b(self, upstream, out, a, b):
        return upstream


@register
class Sub(BinaryElementwise):
    """a - b. d/da = 1, d/db = -1."""

    name = "sub"
    onnx_op = "Sub"
    vjp_reads = frozenset()
    symbol = "−"

    def forward(self, attrs, a, b):
        return a - b

    def grad_a(self, upstream, out, a, b):
        return upstream

    def grad_b(self, upstream, out, a, b):
        return -upstream


@register
class Mul(BinaryElementwise):
    """a * b. The mul gate swaps its inputs: d/da = b, d/db = a."""

    name = "mul"
    onnx_op = "Mul"
    vjp_reads = frozenset({"inputs"})
    symbol = "×"

    def forward(self, attrs, a, b):
        return a * b

    def grad_a(self, upstream, out, a, b):
        return upstream * b

    def grad_b(self, upstream, out, a, b):
        return upstream * a


@register
class Div(BinaryElementwise):
    """a / b. d/da = 1/b, d/db = -a/b^2."""

    name = "div"
    onnx_op = "Div"
    symbol = "÷"

    def forward(self, attrs, a, b):
        return a / b

    def grad_a(self, upstream, out, a, b):
        return upstream / b

    def grad_b(self, upstream, out, a, b):
        return -upstream * a / (b * b)


@register
class Maximum(BinaryElementwise):
    """max(a, b) elementwise. The max gate routes the gradient to the larger input.

    Kink: where a == b the gradient is split equally, 0.5 to each (so the two sum to the upstream).
    """

    name = "maximum"
    onnx_op = "Max"
    symbol = "max"

    def forward(self, attrs, a, b):
        return np.maximum(a, b)

    def grad_a(self, upstream, out, a, b):
        return upstream * _share(a > b, a == b, upstream)

    def grad_b(self, upstream, out, a, b):
        return upstream * _share(b > a, a == b, upstream)


@register
class Minimum(BinaryElementwise):
    """min(a, b) elementwise; routes the gradient to the smaller input. Kink: ties split 0.5 / 0.5."""

    name = "minimum"
    onnx_op = "Min"
    symbol = "min"

    def forward(self, attrs, a, b):
        return np.minimum(a, b)

    def grad_a(self, upstream, out, a, b):
        return upstream * _share(a < b, a == b, upstream)

    def grad_b(self, upstream, out, a, b):
        return upstream * _share(b < a, a == b, upstream)


@register
class Neg(UnaryElementwise):
    """-x. d/dx = -1."""

    name = "neg"
    onnx_op = "Neg"
    vjp_reads = frozenset()
    symbol = "−x"

    def forward(self, attrs, x):
        return -x

    def grad_x(self, attrs, upstream, out, x):
        return -upstream


class PowAttrs(Attrs):
    exponent: float = Field(description="The constant exponent p in x ** p.")


@register
class Pow(UnaryElementwise):
    """x ** p for a constant exponent p (an attribute). d/dx = p x^(p-1).

    numpy semantics: a negative base with a non-integer exponent gives nan. For p = 0 the output is the
    constant 1 and the gradient is 0 everywhere (not 0 * 0^-1 = nan at x = 0).
    """

    name = "pow"
    symbol = "^"
    Attrs = PowAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Pow", inputs[0], emit.scalar(attrs.exponent, out.dtype))

    def forward(self, attrs, x):
        return np.power(x, attrs.exponent)

    def grad_x(self, attrs, upstream, out, x):
        p = attrs.exponent
        if p == 0:
            return np.zeros_like(upstream * x)
        return upstream * (p * np.power(x, p - 1.0))


@register
class Square(UnaryElementwise):
    """x^2. d/dx = 2x."""

    name = "square"
    vjp_reads = frozenset({"inputs"})
    symbol = "x²"

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Mul", inputs[0], inputs[0])

    def forward(self, attrs, x):
        return x * x

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (2.0 * x)


@register
class Exp(UnaryElementwise):
    """e^x. d/dx = e^x, which is the cached output."""

    name = "exp"
    onnx_op = "Exp"
    vjp_reads = frozenset({"output"})
    symbol = "exp"

    def forward(self, attrs, x):
        with np.errstate(under="ignore"):  # e^-1000 is 0
            return np.exp(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * out


@register
class Log(UnaryElementwise):
    """Natural log. d/dx = 1/x. log(0) = -inf and log of a negative number is nan, as in numpy."""

    name = "log"
    onnx_op = "Log"
    symbol = "log"

    def forward(self, attrs, x):
        return np.log(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream / x


@register
class Abs(UnaryElementwise):
    """|x|. d/dx = sign(x). Kink: abs'(0) = 0."""

    name = "abs"
    onnx_op = "Abs"
    symbol = "|x|"

    def forward(self, attrs, x):
        return np.abs(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * np.sign(x)


@register
class Relu(UnaryElementwise):
    """max(0, x). d/dx = 1 where x > 0, else 0. Kink: relu'(0) = 0."""

    name = "relu"
    onnx_op = "Relu"
    vjp_reads = frozenset({"inputs"})
    symbol = "relu"

    def forward(self, attrs, x):
        return np.maximum(x, 0.0).astype(x.dtype, copy=False)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (x > 0)


@register
class Sigmoid(UnaryElementwise):
    """sigma(x) = 1 / (1 + e^-x). d/dx = sigma(x) (1 - sigma(x)), from the cached output.

    Stable for large |x|: only e^-|x| is ever computed, so sigmoid(1000) = 1 and sigmoid(-1000) = 0
    without an overflow warning.
    """

    name = "sigmoid"
    onnx_op = "Sigmoid"
    vjp_reads = frozenset({"output"})
    symbol = "σ"

    def forward(self, attrs, x):
        return _sigmoid(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (out * (1.0 - out))


@register
class Tanh(UnaryElementwise):
    """tanh(x). d/dx = 1 - tanh(x)^2, from the cached output."""

    name = "tanh"
    onnx_op = "Tanh"
    vjp_reads = frozenset({"output"})
    symbol = "tanh"

    def forward(self, attrs, x):
        return np.tanh(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (1.0 - out * out)


class ClipAttrs(Attrs):
    min: float | None = Field(default=None, description="The lower bound; null = no lower bound.")
    max: float | None = Field(default=None, description="The upper bound; null = no upper bound.")


@register
class Clip(UnaryElementwise):
    """min(max(x, min), max), either bound optional (numpy's clip, PyTorch's clamp).

    d/dx = 1 where min <= x <= max, else 0. Kink rule: the bounds themselves count as inside (both ends
    included, as PyTorch's clamp), so clip'(min) = clip'(max) = 1. With min > max every output is max
    and every gradient 0 (as numpy and PyTorch); nan stays nan with gradient 0.
    """

    name = "clip"
    vjp_reads = frozenset({"inputs"})
    symbol = "clip"
    Attrs = ClipAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        low = "" if attrs.min is None else emit.scalar(attrs.min, out.dtype)
        high = "" if attrs.max is None else emit.scalar(attrs.max, out.dtype)
        return emit.op("Clip", inputs[0], low, high)

    def forward(self, attrs, x):
        out = x
        if attrs.min is not None:
            out = np.maximum(out, attrs.min)
        if attrs.max is not None:
            out = np.minimum(out, attrs.max)
        return out if out is not x else x.copy()

    def grad_x(self, attrs, upstream, out, x):
        inside = np.ones(np.shape(x), dtype=bool)
        if attrs.min is not None:
            inside &= x >= attrs.min
        if attrs.max is not None:
            inside &= x <= attrs.max
        return upstream * inside


@register
class Sqrt(UnaryElementwise):
    """sqrt(x). d/dx = 1 / (2 sqrt(x)), from the cached output.

    Domain edge: sqrt'(0) = inf (as numpy and PyTorch; an upstream of 0 there gives nan, as in PyTorch);
    sqrt of a negative number is nan, as in numpy.
    """

    name = "sqrt"
    onnx_op = "Sqrt"
    vjp_reads = frozenset({"output"})
    symbol = "√"

    def forward(self, attrs, x):
        return np.sqrt(x)

    def grad_x(self, attrs, upstream, out, x):
        with np.errstate(divide="ignore", invalid="ignore"):  # at 0: the documented inf (or nan)
            return upstream / (2.0 * out)


@register
class Sin(UnaryElementwise):
    """sin(x). d/dx = cos(x)."""

    name = "sin"
    onnx_op = "Sin"
    vjp_reads = frozenset({"inputs"})
    symbol = "sin"

    def forward(self, attrs, x):
        return np.sin(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * np.cos(x)


@register
class Cos(UnaryElementwise):
    """cos(x). d/dx = -sin(x)."""

    name = "cos"
    onnx_op = "Cos"
    vjp_reads = frozenset({"inputs"})
    symbol = "cos"

    def forward(self, attrs, x):
        return np.cos(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * -np.sin(x)


@register
class Softplus(UnaryElementwise):
    """log(1 + e^x), computed as logaddexp(0, x). d/dx = sigma(x).

    Stable: softplus(1000) = 1000 and softplus(-1000) = 0 without an overflow warning (unlike PyTorch's
    F.softplus this never switches to the identity above a threshold: it is exact everywhere).
    """

    name = "softplus"
    onnx_op = "Softplus"
    vjp_reads = frozenset({"inputs"})
    symbol = "softplus"

    def forward(self, attrs, x):
        return _softplus(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * _sigmoid(x)


@register
class LogSigmoid(UnaryElementwise):
    """log(sigma(x)) = -softplus(-x). d/dx = sigma(-x) = 1 - sigma(x).

    Stable: log_sigmoid(-1000) = -1000 and log_sigmoid(1000) = 0, with gradients 1 and 0, no warnings.
    """

    name = "log_sigmoid"
    vjp_reads = frozenset({"inputs"})
    symbol = "log σ"

    def to_onnx(self, attrs, emit, inputs, types, out):
        return emit.op("Neg", emit.op("Softplus", emit.op("Neg", inputs[0])))

    def forward(self, attrs, x):
        return -_softplus(-x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * _sigmoid(-x)


class LeakyReluAttrs(Attrs):
    negative_slope: float = Field(default=0.01, description="The slope for x <= 0.")


@register
class LeakyRelu(UnaryElementwise):
    """x where x > 0, else negative_slope * x. d/dx = 1 where x > 0, else negative_slope.

    Kink rule: leaky_relu'(0) = negative_slope (as PyTorch).
    """

    name = "leaky_relu"
    vjp_reads = frozenset({"inputs"})
    symbol = "lrelu"
    Attrs = LeakyReluAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        if out.dtype == "float32" or exact_in_float32(attrs.negative_slope):
            return emit.op("LeakyRelu", inputs[0], alpha=attrs.negative_slope)
        # ONNX's alpha is a float32: a float64 graph gets its slope as a float64 constant instead.
        (x,) = inputs
        positive = emit.op("Greater", x, emit.scalar(0.0, out.dtype))
        return emit.op("Where", positive, x, emit.op("Mul", x, emit.scalar(attrs.negative_slope, out.dtype)))

    def forward(self, attrs, x):
        return np.where(x > 0, x, x * attrs.negative_slope)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * np.where(x > 0, 1.0, attrs.negative_slope).astype(upstream.dtype, copy=False)


class EluAttrs(Attrs):
    alpha: float = Field(default=1.0, description="The scale of the negative side: alpha (e^x - 1).")


@register
class Elu(UnaryElementwise):
    """x where x > 0, else alpha (e^x - 1) (computed with expm1). d/dx = 1 where x > 0, else alpha e^x.

    Kink rule: elu'(0) = alpha (as PyTorch; the slope of the negative side, which is 1 only when
    alpha = 1). Stable: e^x is only taken of min(x, 0), so elu(1000) = 1000 without a warning.
    """

    name = "elu"
    vjp_reads = frozenset({"inputs"})
    symbol = "elu"
    Attrs = EluAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        if out.dtype == "float32" or exact_in_float32(attrs.alpha):
            return emit.op("Elu", inputs[0], alpha=attrs.alpha)
        (x,), dtype = inputs, out.dtype  # alpha as a float64 constant, as leaky_relu's slope
        negative = emit.op(
            "Sub", emit.op("Exp", emit.op("Min", x, emit.scalar(0.0, dtype))), emit.scalar(1.0, dtype)
        )
        positive = emit.op("Greater", x, emit.scalar(0.0, dtype))
        return emit.op("Where", positive, x, emit.op("Mul", emit.scalar(attrs.alpha, dtype), negative))

    def forward(self, attrs, x):
        with np.errstate(under="ignore"):
            negative = np.expm1(np.minimum(x, 0.0)) * attrs.alpha
        return np.where(x > 0, x, negative)

    def grad_x(self, attrs, upstream, out, x):
        with np.errstate(under="ignore"):
            negative = np.exp(np.minimum(x, 0.0)) * attrs.alpha
        return upstream * np.where(x > 0, 1.0, negative).astype(upstream.dtype, copy=False)


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = Field(
        default="none",
        description='"none": the exact x Phi(x) (with erf); "tanh": the tanh approximation (as PyTorch).',
    )


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), the standard normal CDF, as erfc(-x / sqrt 2) / 2 (no cancellation for negative x)."""
    return 0.5 * _special().erfc(x * -math.sqrt(0.5))


@register
class Gelu(UnaryElementwise):
    """x Phi(x), Phi the standard normal CDF (PyTorch's gelu, ``approximate`` as there).

    exact ("none"): Phi(x) = (1 + erf(x / sqrt 2)) / 2, computed as erfc(-x / sqrt 2) / 2 (no cancellation
    for negative x); d/dx = Phi(x) + x phi(x) with phi(x) = e^(-x^2/2) / sqrt(2 pi).
    "tanh": 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as x sigma(2u) (the same
    function, stable for large |x|); d/dx = s + 2 x s (1 - s) u' with s = sigma(2u),
    u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2). Smooth: no kink. gelu(+-1000) = 1000 and 0 without warnings.
    """

    name = "gelu"
    vjp_reads = frozenset({"inputs"})
    symbol = "gelu"
    Attrs = GeluAttrs

    def to_onnx(self, attrs, emit, inputs, types, out):
        (x,), dtype = inputs, out.dtype
        if emit.opset >= 20 and (attrs.approximate == "none" or dtype == "float32"):
            return emit.op("Gelu", x, approximate=attrs.approximate)
        # Gelu is an ONNX op from opset 20; before, its definition in ONNX's own terms (also for the
        # float64 tanh form, which onnxruntime's Gelu computes to only about 1e-9).
        if attrs.approximate == "tanh":
            cubic = emit.op("Mul", emit.scalar(_GELU_CUBIC, dtype), emit.op("Mul", x, emit.op("Mul", x, x)))
            u = emit.op("Mul", emit.scalar(_SQRT_2_OVER_PI, dtype), emit.op("Add", x, cubic))
            gate = emit.op("Add", emit.scalar(1.0, dtype), emit.op("Tanh", u))
        else:
            erf = emit.op("Erf", emit.op("Mul", x, emit.scalar(math.sqrt(0.5), dtype)))
            gate = emit.op("Add", emit.scalar(1.0, dtype), erf)
        return emit.op("Mul", emit.op("Mul", x, emit.scalar(0.5, dtype)), gate)

    def forward(self, attrs, x):
        if attrs.approximate == "tanh":
            return x * self._tanh_gate(x)
        return x * _normal_cdf(x)

    def grad_x(self, attrs, upstream, out, x):
        if attrs.approximate == "tanh":
            s = self._tanh_gate(x)
            with np.errstate(over="ignore", invalid="ignore"):  # x^2 of a huge x: inf, as it should
                du = _SQRT_2_OVER_PI * (1.0 + (3.0 * _GELU_CUBIC) * (x * x))
                return upstream * (s + 2.0 * x * s * (1.0 - s) * du)
        cdf = _normal_cdf(x)
        with np.errstate(over="ignore", under="ignore"):  # e^(-x^2/2) of a large |x| is 0
            pdf = np.exp(-0.5 * (x * x)) * (1.0 / math.sqrt(2.0 * math.pi))
        return upstream * (cdf + x * pdf)

    @staticmethod
    def _tanh_gate(x: np.ndarray) -> np.ndarray:
        """sigma(2u) = (1 + tanh(u)) / 2 for the tanh approximation's u."""
        with np.errstate(over="ignore", invalid="ignore"):
            u2 = (2.0 * _SQRT_2_OVER_PI) * (x + _GELU_CUBIC * (x * x * x))
        return _sigmoid(np.asarray(u2))


@register
class Power(BinaryElementwise):
    """a ** b with a tensor exponent, broadcasting (numpy's power, PyTorch's pow).

    d/da = b a^(b-1) (0 where b == 0: a^0 is the constant 1, as the ``pow`` op and PyTorch);
    d/db = a^b log(a).

    Kink rule: d/db = 0 where a == 0 (as PyTorch for b >= 0; the limit of a^b log a as a -> 0+ for
    b > 0), whatever b. numpy semantics elsewhere: a negative base with a non-integer exponent gives nan
    (and its d/db, log of a negative number, is nan), d/da at a == 0 is inf for b < 1.
    """

    name = "power"
    onnx_op = "Pow"
    symbol = "^"

    def forward(self, attrs, a, b):
        return np.power(a, b)

    def grad_a(self, upstream, out, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):  # 0^(b-1) for b < 1: the documented inf
            local = b * np.power(a, b - 1)
            return upstream * np.where(b == 0, 0.0, local)

    def grad_b(self, upstream, out, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):  # log of a negative base is nan, as numpy
            local = out * np.log(np.where(a == 0, 1.0, a))
            return upstream * np.where(a == 0, 0.0, local)
