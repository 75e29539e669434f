"""The scalar path: a graph whose every value is one number, run on numpy scalars instead of 0-d arrays.

The circuits of a backprop lecture (``f = (x + y) z``) are a handful of scalar nodes. Run as arrays, each
step pays for 0-d array arithmetic, un-broadcasting and shape checks that dwarf the arithmetic itself;
here each value is a numpy scalar of the graph's dtype (``np.float64`` is a Python float), each forward
step calls the op's own ``forward`` and each backward step the op's own local gradients
(:meth:`Op.local_gradients`), in the interpreter's order. The numbers are the interpreter's, bit for bit:
the same IEEE operations in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import ComputeError
from ..ops.base import LocalGradient
from .batched import ScalarValues, scalar_float_dtype
from .interpreter import Trace
from .program import BackwardProgram, Program

_NOTHING_FREED: frozenset[int] = frozenset()


class _BackwardCall(NamedTuple):
    output: int
    inputs: tuple[int, ...]
    #: (slot, local gradient) for each input that gets a gradient.
    targets: tuple[tuple[int, LocalGradient], ...]


class ScalarSteps:
    """A program of scalar elementwise steps run one step at a time on numpy scalars."""

    name = "numpy scalars"

    def __init__(self, program: Program, dtype: np.dtype) -> None:
        self.program = program
        self.scalar = dtype.type
        self.forward_calls = tuple((s.op.forward, s.attrs, s.inputs, s.output) for s in program.steps)
        self.leaves = tuple((slot, program.ids[slot]) for slot in program.leaves)
        self._backward_calls: dict[BackwardProgram, Any] = {}

    @classmethod
    def compile(cls, program: Program) -> ScalarSteps | None:
        """The scalar path of ``program``, or None when not every value is a float scalar and every step
        elementwise."""
        dtype = scalar_float_dtype(program)
        return None if dtype is None or not program.steps else cls(program, dtype)

    def describe(self) -> list[str]:
        return [f"every value a {self.scalar.__name__} scalar, {len(self.program.steps)} steps one at a time"]

    def forward(self, plan: Any, leaf_values: Mapping[str, np.ndarray]) -> Trace:
        values: list[Any] = [None] * len(self.program.ids)
        for slot, id in self.leaves:
            values[slot] = leaf_values[id][()]  # the 0-d array's number
        scalar, get = self.scalar, values.__getitem__
        try:
            for forward, attrs, inputs, output in self.forward_calls:
                out = forward(attrs, *map(get, inputs))
                values[output] = out if type(out) is scalar else scalar(out)
        except ComputeError:
            plan.interpreter.forward(plan, leaf_values)  # names the node that failed
            raise
        return Trace(plan, ScalarValues(values), _NOTHING_FREED, values)

    def backward(self, trace: Trace, backward: BackwardProgram, seed: np.ndarray) -> dict[str, np.ndarray]:
        values = trace.native
        grads: list[Any] = [None] * len(values)
        grads[backward.output] = seed[()]
        scalar, get = self.scalar, values.__getitem__
        calls, wanted = self._calls(backward)
        for output, inputs, targets in calls:
            upstream = grads[output]
            if upstream is None:
                continue
            out, ins = values[output], tuple(map(get, inputs))
            for slot, local in targets:
                grad = local(upstream, out, *ins)
                if type(grad) is not scalar:
                    grad = scalar(grad)  # an op's 0-d array, or a wider dtype: cast as the interpreter does
                previous = grads[slot]
                grads[slot] = grad if previous is None else previous + grad
        # Each gradient as an array of the caller's own (numpy scalars are immutable; arrays are not).
        array, zero = np.array, self.scalar(0)
        return {id: array(zero if grads[slot] is None else grads[slot]) for id, slot in wanted}

    def _calls(
        self, backward: BackwardProgram
    ) -> tuple[tuple[_BackwardCall, ...], tuple[tuple[str, int], ...]]:
        """The backward program unpacked for the loop (made once per program), and the wanted ids."""
        calls = self._backward_calls.get(backward)
        if calls is None:
            calls = self._backward_calls[backward] = (
                tuple(
                    _BackwardCall(
                        b.step.output,
                        b.step.inputs,
                        tuple(
                            (slot, local)
                            for (_, slot), local in zip(
                                b.targets,
                                _pick(b.step.op.local_gradients(b.step.attrs), b.targets),
                                strict=True,
                            )
                        ),
                    )
                    for b in backward.steps
                ),
                tuple((self.program.ids[slot], slot) for slot in backward.wanted),
            )
        return calls


def _pick(locals: tuple[LocalGradient, ...], targets: tuple[tuple[int, int], ...]) -> list[LocalGradient]:
    return [locals[position] for position, _ in targets]
