"""Elementwise ops: numpy broadcasting forward, gradients un-broadcast once in the base classes.

Each op writes its local gradient in the output's (broadcast) shape as a small named method
(``grad_x``; ``grad_a`` and ``grad_b`` for binary ops); the base class multiplies nothing and hides
nothing else: it only sums the gradient back to each input's shape (:func:`unbroadcast`).

Kinks (documented here, pinned by tests, as HIPS autograd and JAX do):
- ``maximum``/``minimum`` split the gradient equally between tied inputs (0.5 each);
- ``relu'(0) = 0`` and ``abs'(0) = 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from .base import Attrs, Op, TensorType, broadcast_shapes, register, require_float, unbroadcast


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

    def grad_a(self, upstream: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad_b(self, upstream: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
class Add(BinaryElementwise):
    """a + b. The add gate distributes the upstream gradient unchanged to both inputs."""

    name = "add"
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
    symbol = "max"

    def forward(self, attrs, a, b):
        return np.maximum(a, b)

    def grad_a(self, upstream, out, a, b):
        return upstream * ((a > b) + 0.5 * (a == b))

    def grad_b(self, upstream, out, a, b):
        return upstream * ((b > a) + 0.5 * (a == b))


@register
class Minimum(BinaryElementwise):
    """min(a, b) elementwise; routes the gradient to the smaller input. Kink: ties split 0.5 / 0.5."""

    name = "minimum"
    symbol = "min"

    def forward(self, attrs, a, b):
        return np.minimum(a, b)

    def grad_a(self, upstream, out, a, b):
        return upstream * ((a < b) + 0.5 * (a == b))

    def grad_b(self, upstream, out, a, b):
        return upstream * ((b < a) + 0.5 * (a == b))


@register
class Neg(UnaryElementwise):
    """-x. d/dx = -1."""

    name = "neg"
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

    def forward(self, attrs, x):
        return x * x

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (2.0 * x)


@register
class Exp(UnaryElementwise):
    """e^x. d/dx = e^x, which is the cached output."""

    name = "exp"
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
    symbol = "log"

    def forward(self, attrs, x):
        return np.log(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream / x


@register
class Abs(UnaryElementwise):
    """|x|. d/dx = sign(x). Kink: abs'(0) = 0."""

    name = "abs"
    symbol = "|x|"

    def forward(self, attrs, x):
        return np.abs(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * np.sign(x)


@register
class Relu(UnaryElementwise):
    """max(0, x). d/dx = 1 where x > 0, else 0. Kink: relu'(0) = 0."""

    name = "relu"
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
    vjp_reads = frozenset({"output"})
    symbol = "σ"

    def forward(self, attrs, x):
        with np.errstate(under="ignore"):  # e^-1000 underflows to 0, which is the right answer
            e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (out * (1.0 - out))


@register
class Tanh(UnaryElementwise):
    """tanh(x). d/dx = 1 - tanh(x)^2, from the cached output."""

    name = "tanh"
    vjp_reads = frozenset({"output"})
    symbol = "tanh"

    def forward(self, attrs, x):
        return np.tanh(x)

    def grad_x(self, attrs, upstream, out, x):
        return upstream * (1.0 - out * out)
