"""The interpreter: the one forward loop and the one backward loop over a :class:`Program`.

Forward runs every step in order and keeps each value (the cached intermediates). Backward walks a
:class:`BackwardProgram`: for each step, upstream gradient x local gradient (the op's ``vjp``) flows to
its inputs, and gradients add up where a value feeds several steps (fan-out). It never mutates a
previous result, so calling it twice gives the same gradients, not doubled ones.

The options are chosen when an :class:`Interpreter` is made, never tested inside the loops: checking
for nan and inf wraps each op's functions in a checking one, the memory-saving mode is the list of
slots each step lets go (empty otherwise), and recording every edge's gradient wraps the vjps of one
backward pass. This module is the only home of the chain rule; the fast paths (:mod:`.batched`,
:mod:`.floats`) compute the same numbers in other shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import ComputeError, NonFiniteError
from ..ops import format_shape
from .program import BackwardProgram, Program, Step

#: Gradients at least this large are accumulated in place when fresh (smaller ones: not worth the check).
OWN_MIN_SIZE = 4096


class Trace(NamedTuple):
    """The values of one forward run, by slot, with the plan that produced them. In memory-saving mode
    (``keep="backward"``), ``freed`` lists the slots whose values were let go: they hold stand-ins. A fast
    path keeps its own form of the values in ``native`` (``values`` then reads them as arrays)."""

    plan: Any  # the Plan (not imported: it imports this module)
    values: Sequence[np.ndarray]
    freed: frozenset[int] = frozenset()
    native: Any = None

    def value(self, id: str) -> np.ndarray:
        slot = self.plan.slot_of(id)
        if slot in self.freed:
            raise self.plan.freed_error(id)
        return self.values[slot]


class Gradients(NamedTuple):
    """What one backward pass found: the gradient of each wanted id, and, when recorded, the gradient
    flowing along each edge (into input ``position`` of node ``id``), whose sum over a value's consumers
    is that value's gradient (accumulation at fan-out)."""

    grads: dict[str, np.ndarray]
    edge_grads: dict[tuple[str, int], np.ndarray] | None = None


class _ForwardCall(NamedTuple):
    forward: Callable[..., Any]
    attrs: Any
    inputs: tuple[int, ...]
    output: int
    frees: tuple[int, ...]


class _BackwardCall(NamedTuple):
    vjp: Callable[..., Any]
    attrs: Any
    output: int
    inputs: tuple[int, ...]
    needs: tuple[bool, ...]
    targets: tuple[tuple[int, int], ...]
    keeps_output: bool
    step: Step


class Interpreter:
    """Runs a program step by step on numpy arrays, with the options fixed when it is made."""

    def __init__(self, program: Program, *, check_finite: bool = False, keep: str = "all") -> None:
        self.program = program
        self.check_finite = check_finite
        frees = program.frees if keep == "backward" else ((),) * len(program.steps)
        self.freed = program.freeable if keep == "backward" else frozenset()
        self._plain_calls: dict[BackwardProgram, tuple[_BackwardCall, ...]] = {}
        self.forward_calls = tuple(
            _ForwardCall(
                self._finite_forward(step) if check_finite else step.op.forward,
                step.attrs,
                step.inputs,
                step.output,
                freed,
            )
            for step, freed in zip(program.steps, frees, strict=True)
        )

    # --- forward ------------------------------------------------------------------------------

    def forward(self, plan: Any, leaf_values: Mapping[str, np.ndarray]) -> Trace:
        """Every step in order: ``values[output] = op.forward(attrs, *values[inputs])``."""
        program = self.program
        values: list[Any] = [None] * len(program.ids)
        ids = program.ids
        for slot in program.leaves:
            values[slot] = leaf_values[ids[slot]]
        if self.check_finite:
            for slot in program.leaves:
                check_finite(program, values[slot], ids[slot], "the value is")
        ndarray, asarray, get = np.ndarray, np.asarray, values.__getitem__
        try:
            for forward, attrs, inputs, output, frees in self.forward_calls:
                out = forward(attrs, *map(get, inputs))
                # Arithmetic on 0-d arrays gives numpy scalars: every value is an array.
                values[output] = out if type(out) is ndarray else asarray(out)
                for slot in frees:
                    values[slot] = _stand_in(values[slot])
        except (ComputeError, MemoryError, ValueError) as exc:
            # The failing step is the first whose output is still unset.
            step = next(s for s in program.steps if values[s.output] is None)
            raise located(program, step, exc, "result") from None
        return Trace(plan, tuple(values), self.freed)

    def _finite_forward(self, step: Step) -> Callable[..., Any]:
        forward, program, what = (
            step.op.forward,
            self.program,
            f"forward: {step.op.name} gave a value that is",
        )

        def checked(attrs: Any, *values: Any) -> Any:
            out = forward(attrs, *values)
            check_finite(program, np.asarray(out), step.id, what)
            return out

        return checked

    # --- backward -----------------------------------------------------------------------------

    def backward(
        self, values: Sequence[np.ndarray], backward: BackwardProgram, seed: np.ndarray, *, record_edges: bool
    ) -> Gradients:
        """The gradients of ``backward.output`` (seeded with ``seed``) for ``backward.wanted``."""
        program = self.program
        edges: dict[tuple[str, int], np.ndarray] | None = {} if record_edges else None
        calls = self._backward_calls(backward, values, edges)
        grads: list[Any] = [None] * len(program.ids)
        # owned[slot]: grads[slot] is an array this pass allocated, so later contributions add in place.
        owned = [False] * len(program.ids)
        grads[backward.output] = seed
        ndarray, asarray, add, get = np.ndarray, np.asarray, np.add, values.__getitem__
        may_own = edges is None
        try:
            for vjp, attrs, output, inputs, needs, targets, keeps_output, step in calls:
                upstream = grads[output]
                if upstream is None:
                    continue
                local = vjp(attrs, upstream, values[output], tuple(map(get, inputs)), needs)
                for position, slot in targets:
                    grad = local[position]
                    value = values[slot]
                    if type(grad) is not ndarray:
                        grad = asarray(grad)  # arithmetic on 0-d arrays gives numpy scalars
                    if grad.shape != value.shape or grad.dtype != value.dtype:
                        grad = conform(grad, value, step, position)
                    previous = grads[slot]
                    if previous is None:
                        grads[slot] = grad
                        if may_own and grad.size >= OWN_MIN_SIZE and len(targets) == 1:
                            # A large gradient the op made afresh (not the upstream passed through, not a
                            # view, not read-only) is this pass's to add into: a weight's data and
                            # regularization gradients then sum in place, as hand-written numpy does.
                            owned[slot] = grad is not upstream and grad.base is None and grad.flags.writeable
                    elif owned[slot]:
                        add(previous, grad, out=previous)
                    else:
                        total = previous + grad  # 0-d operands give a numpy scalar: made an array to own
                        grads[slot] = total if type(total) is ndarray else np.array(total)
                        owned[slot] = True
                if not keeps_output:
                    grads[output] = None  # passed on to the inputs: let go (a chain holds one at a time)
        except (ComputeError, MemoryError, ValueError) as exc:
            raise located(program, step, exc, "gradient") from None
        return Gradients(self._handed_out(grads, values, backward), edges)

    def _backward_calls(
        self,
        backward: BackwardProgram,
        values: Sequence[np.ndarray],
        edges: dict[tuple[str, int], np.ndarray] | None,
    ) -> tuple[_BackwardCall, ...]:
        """The backward program unpacked for the loop, each step with its op's vjp, or with one that also
        checks and records what the vjp returns (made for this pass: it writes into ``edges``)."""
        observed = self.check_finite or edges is not None
        if not observed:
            calls = self._plain_calls.get(backward)
            if calls is not None:
                return calls
        calls = tuple(
            _BackwardCall(
                self._observed_vjp(b.step, b.targets, values, edges) if observed else b.step.op.vjp,
                b.step.attrs,
                b.step.output,
                b.step.inputs,
                b.needs,
                b.targets,
                b.keeps_output,
                b.step,
            )
            for b in backward.steps
        )
        if not observed:
            self._plain_calls[backward] = calls
        return calls

    def _observed_vjp(
        self,
        step: Step,
        targets: tuple[tuple[int, int], ...],
        values: Sequence[np.ndarray],
        edges: dict[tuple[str, int], np.ndarray] | None,
    ) -> Callable[..., Any]:
        vjp, program, check = step.op.vjp, self.program, self.check_finite

        def observed(*args: Any) -> list[Any]:
            local = list(vjp(*args))
            for position, slot in targets:
                grad = conform(
                    np.asarray(local[position]) if local[position] is not None else None,
                    values[slot],
                    step,
                    position,
                )
                if check:
                    name = step.op.input_name(position)
                    check_finite(
                        program, grad, step.id, f"backward: the gradient flowing into input {name!r} is"
                    )
                if edges is not None:
                    edges[(step.id, position)] = grad
                local[position] = grad
            return local

        return observed

    def _handed_out(
        self, grads: list[Any], values: Sequence[np.ndarray], backward: BackwardProgram
    ) -> dict[str, np.ndarray]:
        """The wanted gradients as arrays the caller owns (zeros where the output does not depend)."""
        ids = self.program.ids
        result = {}
        handed_out: set[int] = set()
        for slot in backward.wanted:
            grad = grads[slot]
            if grad is None:
                grad = np.zeros_like(values[slot])
            elif not grad.flags.writeable or id(grad) in handed_out:
                # Ops may pass one array to several inputs (add) or return read-only broadcast views
                # (sum), and the seed is shared by every pass: the caller gets arrays of its own.
                grad = np.array(grad)
            handed_out.add(id(grad))
            result[ids[slot]] = grad
        return result


def conform(grad: np.ndarray | None, value: np.ndarray, step: Step, position: int) -> np.ndarray:
    """Check an op's gradient has its input's shape (catches a forgotten reduction); cast its dtype."""
    if grad is None or np.shape(grad) != value.shape:
        got = "nothing" if grad is None else format_shape(np.shape(grad))
        raise AssertionError(
            f"op {step.op.name!r} returned a gradient of shape {got} for input "
            f"{step.op.input_name(position)!r} of shape {format_shape(value.shape)} (node {step.id!r})"
        )
    grad = np.asarray(grad)
    return grad if grad.dtype == value.dtype else grad.astype(value.dtype)


def check_finite(program: Program, array: np.ndarray, id: str, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``id`` if a float ``array`` holds a nan or an infinity."""
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        kind = "nan" if np.any(np.isnan(array)) else "infinite"
        raise NonFiniteError(program.graph.problem(id, f"{what} {kind}"))


#: How numpy says a shape is past what any array can be (rather than that an op was misused).
_NUMPY_SIZE_LIMITS = ("array is too big", "Maximum allowed dimension exceeded", "iterator is too large")


def located(program: Program, step: Step, exc: Exception, what: str) -> Exception:
    """The error to raise for ``exc`` from ``step``: a :class:`ComputeError` naming the node and its
    place in the file, or ``exc`` itself when it is not the user's (a bug in graphdiff)."""
    graph = program.graph
    if isinstance(exc, ComputeError):
        return exc.located(graph.source.label, graph.places[step.id])
    if isinstance(exc, MemoryError):
        return ComputeError(graph.problem(step.id, f"{step.op.name}: not enough memory for the {what}"))
    if any(text in str(exc) for text in _NUMPY_SIZE_LIMITS):
        # Checking refuses every static shape numpy cannot make; a symbolic one (N, 2**59) can still grow
        # past numpy's limit with the N fed.
        return ComputeError(
            graph.problem(step.id, f"{step.op.name}: the {what} is too large for numpy ({exc})")
        )
    return exc


def _stand_in(value: np.ndarray) -> np.ndarray:
    """A value's shape and dtype without its data: one element, broadcast (read-only, zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=value.dtype), value.shape)
