"""The compiled program: a checked graph as data, like a jaxpr, which every executor path runs.

A :class:`Program` numbers every leaf and node with an integer *slot* (in the checked topological order)
and lists one :class:`Step` per node: ``slot[output] = op.forward(attrs, *slot[inputs])``. It is immutable
and holds everything the interpreters need to know, decided once:

- which slots each step's backward reads (``Op.vjp_reads``), and so which values the memory-saving mode
  may let go, and after which step (:attr:`Program.frees`);
- for one backward pass (an output and the gradients wanted), which steps run and which of their inputs
  get a gradient (:meth:`Program.backward`, a :class:`BackwardProgram`).

``str(program)`` (and ``graphdiff plan FILE``) prints it, one line per step, so a reader can follow the
executor from the printout and the interpreter's two loops.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import printable
from ..graph import CheckedGraph
from ..ops import Attrs, Op, TensorType


class Step(NamedTuple):
    """One node: ``values[output] = op.forward(attrs, *values[inputs])``. (A named tuple: a program of a
    million steps is built in a third of the time a frozen dataclass takes.)"""

    id: str
    op: Op
    attrs: Attrs
    inputs: tuple[int, ...]
    output: int


class BackwardStep(NamedTuple):
    """One step of a backward pass: the op's vjp turns the gradient of ``step.output`` into gradients for
    the inputs at ``targets`` (``(position, slot)`` pairs), which are added into those slots' gradients."""

    step: Step
    #: Per input: whether its gradient is wanted (what the op's vjp is told; it may skip the others).
    needs: tuple[bool, ...]
    targets: tuple[tuple[int, int], ...]
    #: Whether the gradient of ``step.output`` is asked for, and so kept after it has been passed on.
    keeps_output: bool


@dataclass(frozen=True, eq=False)
class BackwardProgram:
    """The steps of one backward pass, in the order they run, for one output and set of wanted slots."""

    output: int
    #: The slots whose gradients are handed back, in the order asked (float slots only).
    wanted: tuple[int, ...]
    steps: tuple[BackwardStep, ...]


@dataclass(frozen=True, eq=False)
class Program:
    """A checked graph compiled into ordered steps over integer slots (see the module docstring)."""

    graph: CheckedGraph
    #: The id held by each slot: leaves and nodes interleaved in the checked topological order.
    ids: tuple[str, ...]
    steps: tuple[Step, ...]
    #: The slots of the leaves (inputs, parameters, constants), in slot order.
    leaves: tuple[int, ...]
    #: Whether each slot holds floats (only those carry gradients).
    float_slot: tuple[bool, ...]
    _backward: dict[tuple[int, tuple[int, ...]], BackwardProgram] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def compile(cls, graph: CheckedGraph) -> Program:
        ids = graph.order
        slots = {id: slot for slot, id in enumerate(ids)}
        nodes, ops, attrs = graph.nodes, graph.ops, graph.attrs
        steps = tuple(
            Step(id, ops[id], attrs[id], tuple(slots[i] for i in nodes[id].inputs), slots[id])
            for id in ids
            if id in nodes
        )
        leaves = tuple(slot for slot, id in enumerate(ids) if id in graph.leaves)
        float_slot = tuple(graph.types[id].is_float for id in ids)
        return cls(graph, ids, steps, leaves, float_slot)

    @functools.cached_property
    def slots(self) -> dict[str, int]:
        """The slot of each id."""
        return {id: slot for slot, id in enumerate(self.ids)}

    def type(self, slot: int) -> TensorType:
        return self.graph.types[self.ids[slot]]

    @functools.cached_property
    def kept(self) -> frozenset[int]:
        """The slots the memory-saving mode never lets go: leaves, outputs, the loss, and every value
        some step's backward reads."""
        kept = set(self.leaves) | {self.slots[id] for id in self.graph.outputs}
        if self.graph.loss is not None:
            kept.add(self.slots[self.graph.loss])
        for step in self.steps:
            if "output" in step.op.vjp_reads:
                kept.add(step.output)
            if "inputs" in step.op.vjp_reads:
                kept.update(step.inputs)
        return frozenset(kept)

    @functools.cached_property
    def frees(self) -> tuple[tuple[int, ...], ...]:
        """For each step, the slots the memory-saving mode (``keep="backward"``) lets go once it has run:
        those not :attr:`kept`, after their last use (a value nobody uses, at once)."""
        last_use = {}
        for index, step in enumerate(self.steps):
            last_use[step.output] = index
            for slot in step.inputs:
                last_use[slot] = index
        schedule: list[list[int]] = [[] for _ in self.steps]
        kept = self.kept
        for slot, index in last_use.items():
            if slot not in kept:
                schedule[index].append(slot)
        return tuple(tuple(slots) for slots in schedule)

    @functools.cached_property
    def freeable(self) -> frozenset[int]:
        return frozenset(slot for slots in self.frees for slot in slots)

    def backward(self, output: int, wanted: tuple[int, ...]) -> BackwardProgram:
        """The backward pass from ``output`` for the gradients of ``wanted``: only the steps on a path
        from a wanted slot to the output run, and each sends gradients only to inputs on such a path.
        Computed once per (output, wanted) and kept (training asks for the same on every step)."""
        key = (output, wanted)
        cached = self._backward.get(key)
        if cached is not None:
            return cached
        count = len(self.ids)
        reaches_output = [False] * count
        reaches_output[output] = True
        for step in reversed(self.steps):
            if reaches_output[step.output]:
                for slot in step.inputs:
                    reaches_output[slot] = True
        from_wanted = [False] * count
        for slot in wanted:
            from_wanted[slot] = True
        for step in self.steps:
            if any(from_wanted[slot] for slot in step.inputs):
                from_wanted[step.output] = True
        float_slot = self.float_slot
        needed = [reaches_output[s] and from_wanted[s] and float_slot[s] for s in range(count)]
        wanted_set = frozenset(wanted)
        steps = []
        for step in reversed(self.steps):
            if not needed[step.output]:
                continue
            needs = tuple(
                needed[slot] and step.op.differentiable(position) for position, slot in enumerate(step.inputs)
            )
            if any(needs):
                targets = tuple((p, slot) for p, slot in enumerate(step.inputs) if needs[p])
                steps.append(BackwardStep(step, needs, targets, step.output in wanted_set))
        program = BackwardProgram(output, tuple(s for s in wanted if float_slot[s]), tuple(steps))
        self._backward[key] = program
        return program

    # --- printing -------------------------------------------------------------------------------

    def format(
        self, *, path: str | None = None, details: Sequence[str] = (), max_steps: int | None = None
    ) -> str:
        """The program as text: its slots, its forward steps (what each one's backward reads and what the
        memory-saving mode frees after it) and the backward pass from the loss. ``path`` and ``details``
        say which executor runs it; ``max_steps`` shortens long programs (``...`` says how many more)."""
        return "\n".join(self._lines(path, details, max_steps))

    def __str__(self) -> str:
        return self.format()

    def _name(self, slot: int) -> str:
        return f"%{slot} {printable(self.ids[slot])}"

    def _lines(self, path: str | None, details: Sequence[str], max_steps: int | None) -> Iterator[str]:
        graph = self.graph
        loss = f"; loss {self._name(self.slots[graph.loss])}" if graph.loss is not None else ""
        yield (
            f"program {printable(graph.name)}: {len(self.leaves)} leaves, {len(self.steps)} steps over "
            f"{len(self.ids)} slots{loss}"
        )
        if path is not None:
            yield f"runs as: {path}"
            yield from (f"  {line}" for line in details)
        yield ""
        yield "leaves (slot id: kind type)"
        for slot in self.leaves[:max_steps]:
            yield f"  {self._name(slot)}: {graph.kind(self.ids[slot])} {_type(self.type(slot))}"
        if max_steps is not None and len(self.leaves) > max_steps:
            yield f"  ... ({len(self.leaves) - max_steps} more)"
        yield ""
        yield "forward, in order (slot id: type = op[attrs] inputs; what the op's backward reads; what the"
        yield 'memory-saving mode, keep="backward", frees once the step has run)'
        frees = self.frees
        lefts, rights = [], []
        for index, step in enumerate(self.steps[:max_steps]):
            inputs = ", ".join(self._name(s) for s in step.inputs)
            lefts.append(
                f"  {self._name(step.output)}: {_type(self.type(step.output))} = "
                f"{step.op.name}{_attrs(step.attrs)} {inputs}"
            )
            reads = " and ".join(sorted(step.op.vjp_reads)) or "nothing"
            freed = f"; frees {', '.join(f'%{s}' for s in frees[index])}" if frees[index] else ""
            rights.append(f"reads {reads}{freed}")
        width = min(max((len(left) for left in lefts), default=0), 72)
        yield from (f"{left.ljust(width)}   # {right}" for left, right in zip(lefts, rights, strict=True))
        if max_steps is not None and len(self.steps) > max_steps:
            yield f"  ... ({len(self.steps) - max_steps} more)"
        if graph.loss is None:
            return
        out = self.slots[graph.loss]
        wanted = tuple(s for s in range(len(self.ids)) if self.float_slot[s])
        backward = self.backward(out, wanted)
        yield ""
        yield f"backward from {self._name(out)} (its own gradient is 1), in reverse: each line multiplies the"
        yield "gradient of a step's output by the op's local gradient (its vjp) and adds the results into the"
        yield "gradients of the inputs listed (only steps and inputs on a path to the output take part)"
        for bstep in backward.steps[:max_steps]:
            step = bstep.step
            into = ", ".join(f"{self._name(s)} ({step.op.input_name(p)})" for p, s in bstep.targets)
            yield f"  grad {self._name(step.output)} -> {step.op.name} vjp -> {into}"
        if max_steps is not None and len(backward.steps) > max_steps:
            yield f"  ... ({len(backward.steps) - max_steps} more)"


def _type(type: TensorType) -> str:
    """``f64[N,3]`` (as a jaxpr writes types), ``i64[]``, ``bool[2]``."""
    short = {"float64": "f64", "float32": "f32", "int64": "i64", "bool": "bool"}[type.dtype]
    return f"{short}[{','.join(printable(str(d)) for d in type.shape)}]"


def _attrs(attrs: Attrs) -> str:
    """``[axis=1, keepdims=True]``: the attributes a node sets (none: nothing)."""
    items = attrs.model_dump(by_alias=True, exclude_defaults=True)
    if not items:
        return ""
    return "[" + ", ".join(f"{printable(str(k))}={printable(repr(v))}" for k, v in items.items()) + "]"
