"""The batched scalar path: a graph of many scalar elementwise nodes run as a few numpy calls.

A graph drawn from scalars, as in every backprop lecture, has tens of thousands of nodes but few distinct
ops at each depth. Nodes at the same depth (longest path from a leaf) are independent, so all those with
the same op and attributes run as one call over the gathered values of their inputs; backward walks the
batches in reverse, and each batch's local gradients are scatter-added to its inputs' slots. Values live
in one vector indexed by slot.

The results equal the interpreter's: elementwise ops compute each element alike; only the order of the
gradient sums at fan-out may differ (by round-off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ComputeError
from ..ops import Attrs, Op
from .interpreter import Trace
from .program import BackwardProgram, Program, Step

#: Below this many nodes a scalar graph is not batched: batching pays off only with many per level.
BATCH_MIN_NODES = 256
#: Nor when its batches would average fewer nodes than this.
BATCH_MIN_AVERAGE = 4


class ScalarValues(Sequence[np.ndarray]):
    """The values of a scalar fast path's run, by slot, as 0-d arrays read on demand from its own store
    (a vector, or a list of numpy scalars)."""

    def __init__(self, store: Sequence[Any]) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, slot):  # type: ignore[override]
        if isinstance(slot, slice):
            return [np.array(v) for v in self.store[slot]]
        return np.array(self.store[slot])


@dataclass(frozen=True)
class ScatterAdd:
    """``grads[slots] += values`` where ``slots`` may repeat (a value feeding several nodes of a batch):
    a fancy-indexed ``+=`` when they are distinct, else one ``np.bincount`` over the distinct slots, summing
    each slot's contributions in order (``np.add.at`` does the same a few times slower)."""

    slots: np.ndarray
    #: For repeating slots: each entry's index into ``slots`` (then the distinct slots).
    inverse: np.ndarray | None

    @classmethod
    def of(cls, slots: np.ndarray) -> ScatterAdd:
        distinct, inverse = np.unique(slots, return_inverse=True)
        return cls(slots, None) if distinct.size == slots.size else cls(distinct, inverse)

    def __call__(self, grads: np.ndarray, values: np.ndarray) -> None:
        if self.inverse is None:
            grads[self.slots] += values
        else:
            grads[self.slots] += np.bincount(self.inverse, weights=values, minlength=self.slots.size)


@dataclass(frozen=True)
class Batch:
    """Every node of one level with one op and attrs: ``vector[outputs] = op(vector[inputs[0]], ...)``."""

    op: Op
    attrs: Attrs
    level: int
    inputs: tuple[np.ndarray, ...]
    outputs: np.ndarray
    #: Per input: how its gradients are added into the gradient vector (None: not differentiable).
    scatters: tuple[ScatterAdd | None, ...]
    needs: tuple[bool, ...]

    def describe(self, ids: tuple[str, ...]) -> str:
        one = f" ({ids[int(self.outputs[0])]})" if self.outputs.size == 1 else ""
        return f"level {self.level}: {self.op.name} x {self.outputs.size:,}{one}"

    def forward(self, vector: np.ndarray) -> None:
        vector[self.outputs] = self.op.forward(self.attrs, *(vector[i] for i in self.inputs))

    def backward(self, vector: np.ndarray, grads: np.ndarray) -> None:
        upstream = grads[self.outputs]
        if not upstream.any():
            return
        inputs = tuple(vector[i] for i in self.inputs)
        local = self.op.vjp(self.attrs, upstream, vector[self.outputs], inputs, self.needs)
        for scatter, grad in zip(self.scatters, local, strict=True):
            if scatter is not None:
                scatter(grads, grad)


@dataclass(frozen=True)
class SumChains:
    """Chains of adds of one length at one level, each ``s1 = t0 + t1, s2 = s1 + t2, ...`` (a neuron's
    ``b + w0 x0 + w1 x1 + ...``, a running loss sum), as one cumulative sum per chain.

    ``np.cumsum`` adds left to right, so every partial sum is the one the chain of add nodes gives, bit for
    bit (addition is commutative in IEEE arithmetic, so which input of each add is the chain does not
    matter). Each partial sum feeds only the next add, so its gradient, like every term's, is the chain
    end's: backward spreads one gradient per chain instead of walking the chain node by node.
    """

    level: int
    #: (terms, chains): the layout below, one row per position in the chains, so the cumulative sum runs
    #: down the rows, each step one vectorized add over every chain.
    shape: tuple[int, int]
    #: The slots added, row by row (flat).
    terms: np.ndarray
    #: The slots of the partial sums but the last, row by row (flat, (terms - 2) rows).
    partial: np.ndarray
    #: The slot of each chain's end.
    ends: np.ndarray
    scatter: ScatterAdd

    def describe(self, ids: tuple[str, ...]) -> str:
        terms, chains = self.shape
        one = f" ({ids[int(self.ends[0])]})" if chains == 1 else ""
        return f"level {self.level}: add chains of {terms} terms x {chains:,}{one} (cumulative sums)"

    def forward(self, vector: np.ndarray) -> None:
        sums = np.cumsum(vector[self.terms].reshape(self.shape), axis=0)
        vector[self.partial] = sums[1:-1].ravel()
        vector[self.ends] = sums[-1]

    def backward(self, vector: np.ndarray, grads: np.ndarray) -> None:
        upstream = grads[self.ends]
        if not upstream.any():
            return
        terms = self.shape[0]
        grads[self.partial] = np.tile(upstream, terms - 2)  # each partial sum feeds only the next add
        self.scatter(grads, np.tile(upstream, terms))


Unit = Batch | SumChains


class ScalarBatches:
    """A program of scalar elementwise steps compiled into one numpy call per (level, op, attrs), with
    chains of adds run as cumulative sums."""

    name = "batched scalars"

    def __init__(
        self, program: Program, units: tuple[Unit, ...], dtype: np.dtype, inside: frozenset[int]
    ) -> None:
        self.program = program
        self.batches = units
        self.dtype = dtype
        #: The partial sums inside add chains: a backward pass seeded at one of them runs step by step.
        self.inside_chains = inside
        self.leaf_slots = np.array(program.leaves, dtype=np.intp)
        self.leaf_ids = tuple(program.ids[s] for s in program.leaves)

    @classmethod
    def compile(cls, program: Program, *, force: bool = False) -> ScalarBatches | None:
        """The batches of ``program``, or None if it is not scalar elementwise steps of one float dtype,
        or (unless ``force``) too few or too sequential to gain from batching."""
        if not program.steps or (len(program.steps) < BATCH_MIN_NODES and not force):
            return None
        dtype = scalar_float_dtype(program)
        if dtype is None:
            return None
        chains = add_chains(program)
        last_of_chain = {chain[-1].output: chain for chain in chains}
        inside = {step.output for chain in chains for step in chain[:-1]}
        depth = [0] * len(program.ids)
        groups: dict[tuple[int, str, Any], list[Any]] = {}
        for step in program.steps:
            if step.output in inside:
                continue
            chain = last_of_chain.get(step.output)
            if chain is None:
                level = 1 + max(depth[i] for i in step.inputs)
                depth[step.output] = level
                groups.setdefault((level, step.op.name, step.attrs), []).append(step)
                continue
            terms = chain_terms(chain)
            level = 1 + max(depth[i] for i in terms)
            for member in chain:
                depth[member.output] = level
            groups.setdefault((level, "add chain", len(terms)), []).append((terms, chain))
        if len(groups) * BATCH_MIN_AVERAGE > len(program.steps) and not force:
            return None  # mostly one node per level (a long chain): one numpy call per node either way
        units: list[Unit] = []
        for (level, kind, key), members in sorted(groups.items(), key=lambda item: item[0][0]):
            if kind == "add chain":
                terms = np.array([t for t, _ in members], dtype=np.intp).T  # (terms, chains)
                sums = np.array([[s.output for s in chain] for _, chain in members], dtype=np.intp).T
                flat = terms.ravel()
                units.append(
                    SumChains(
                        level, terms.shape, flat, sums[:-1].ravel(), sums[-1].copy(), ScatterAdd.of(flat)
                    )
                )
                continue
            op = members[0].op
            inputs = tuple(
                np.array([m.inputs[position] for m in members], dtype=np.intp)
                for position in range(len(members[0].inputs))
            )
            units.append(
                Batch(
                    op,
                    key,
                    level,
                    inputs,
                    np.array([m.output for m in members], dtype=np.intp),
                    tuple(
                        ScatterAdd.of(slots) if op.differentiable(position) else None
                        for position, slots in enumerate(inputs)
                    ),
                    tuple(op.differentiable(position) for position in range(len(inputs))),
                )
            )
        return cls(program, tuple(units), dtype, frozenset(inside))

    def describe(self) -> list[str]:
        """One line per batch, for ``graphdiff plan``."""
        return [unit.describe(self.program.ids) for unit in self.batches]

    def forward(self, plan: Any, leaf_values: Mapping[str, np.ndarray]) -> Trace:
        vector = np.empty(len(self.program.ids), dtype=self.dtype)
        vector[self.leaf_slots] = [leaf_values[id] for id in self.leaf_ids]
        try:
            for unit in self.batches:
                unit.forward(vector)
        except ComputeError:
            # Rerun step by step, which names the node that failed.
            plan.interpreter.forward(plan, leaf_values)
            raise
        return Trace(plan, ScalarValues(vector), native=vector)

    def backward(
        self, trace: Trace, backward: BackwardProgram, seed: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        """d output / d every wanted slot (zeros where it does not depend); None (run the interpreter)
        when the output is a partial sum inside an add chain."""
        if backward.output in self.inside_chains:
            return None
        vector = trace.native
        grads = np.zeros_like(vector)
        grads[backward.output] = seed
        for unit in reversed(self.batches):
            unit.backward(vector, grads)
        ids = self.program.ids
        return {ids[slot]: np.array(grads[slot]) for slot in backward.wanted}


def add_chains(program: Program) -> list[list[Step]]:
    """The chains of at least two add steps in which each add's result feeds only the next add of its
    chain (and is neither an output nor the loss), in program order."""
    graph = program.graph
    consumers = [0] * len(program.ids)
    for step in program.steps:
        for slot in step.inputs:
            consumers[slot] += 1
    observed = {program.slots[id] for id in graph.outputs}
    if graph.loss is not None:
        observed.add(program.slots[graph.loss])
    is_add = [False] * len(program.ids)
    for step in program.steps:
        if step.op.name == "add":
            is_add[step.output] = True
    successor: dict[int, Step] = {}
    linked: set[int] = set()
    for step in program.steps:
        if step.op.name != "add":
            continue
        for slot in step.inputs:
            if is_add[slot] and consumers[slot] == 1 and slot not in observed and slot not in successor:
                successor[slot] = step
                linked.add(step.output)
                break
    chains = []
    for step in program.steps:
        if step.op.name != "add" or step.output in linked or step.output not in successor:
            continue
        chain = [step]
        while chain[-1].output in successor:
            chain.append(successor[chain[-1].output])
        chains.append(chain)
    return chains


def chain_terms(chain: list[Step]) -> list[int]:
    """The slots an add chain sums, in order: the first add's two inputs, then each next add's other one."""
    terms = list(chain[0].inputs)
    for previous, step in zip(chain, chain[1:], strict=False):
        a, b = step.inputs
        terms.append(b if a == previous.output else a)
    return terms


def scalar_float_dtype(program: Program) -> np.dtype | None:
    """The one float dtype of a program whose every value is a scalar and every step elementwise (what
    the scalar fast paths run), or None."""
    graph = program.graph
    dtypes = {graph.types[id].dtype for id in program.ids}
    if len(dtypes) != 1 or not all(graph.types[id].shape == () for id in program.ids):
        return None
    if not all(step.op.elementwise for step in program.steps):
        return None
    dtype = np.dtype(dtypes.pop())
    return dtype if dtype.kind == "f" else None
