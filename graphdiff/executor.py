"""The executor: a checked graph compiled once into a plan, then run forward and backward.

A :class:`Plan` is a flat list of :class:`Step` s over integer slots (one slot per leaf and node, in the
checked topological order). Running it does no validation, sorting or networkx work.

- :meth:`Plan.forward` fills a :class:`Trace` with every value (the cached intermediates).
- :meth:`Plan.backward` walks the steps in reverse: for each node, upstream gradient x local gradient
  (the op's ``vjp``) flows to its inputs, and gradients add up where a value feeds several nodes
  (fan-out). It computes only what the wanted gradients need, and never mutates a previous result, so
  calling it twice gives the same gradients, not doubled ones.

This module is the only home of the chain-rule loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from .errors import ComputeError, FeedError, GraphdiffError, NonFiniteError, Problem, did_you_mean
from .graph import CheckedGraph, first_item, gc_paused
from .ops import Attrs, Op, bind_symbols, format_shape
from .spec.arrays import inexact_cast


class Step(NamedTuple):
    """One node: ``values[output] = op.forward(attrs, *values[inputs])``. (A named tuple: a plan of a
    million steps is built in a third of the time a frozen dataclass takes.)"""

    id: str
    op: Op
    attrs: Attrs
    inputs: tuple[int, ...]
    output: int


class Trace(NamedTuple):
    """The values of one forward run, by slot, with the plan that produced them. In memory-saving mode
    (``keep="backward"``), ``freed`` lists the slots whose values were let go: they hold stand-ins."""

    plan: Plan
    values: Sequence[np.ndarray]
    freed: frozenset[int] = frozenset()

    def value(self, id: str) -> np.ndarray:
        slot = self.plan.slot_of(id)
        if slot in self.freed:
            raise GraphdiffError(
                self.plan.graph.problem(
                    id, 'this value was freed (memory-saving mode): run forward with keep="all" to read it'
                )
            )
        return self.values[slot]


class Gradients(NamedTuple):
    """What one backward pass found: the gradient of each wanted id, and, when recorded, the gradient
    flowing along each edge (into input ``position`` of node ``id``), whose sum over a value's consumers
    is that value's gradient (accumulation at fan-out)."""

    grads: dict[str, np.ndarray]
    edge_grads: dict[tuple[str, int], np.ndarray] | None = None


@dataclass(frozen=True)
class _BackwardPlan:
    """Which slots need a gradient for one (output, wanted set), and which inputs of each step."""

    wanted: tuple[int, ...]
    #: The steps to run, unpacked for the hot loop: (step, vjp, attrs, inputs, output, needs,
    #: [(position, slot) for each input needing a gradient]).
    calls: tuple[tuple[Any, ...], ...]
    wanted_set: frozenset[int]


class Plan:
    """A checked graph compiled into ordered steps over integer slots."""

    def __init__(self, graph: CheckedGraph, *, batch_scalars: bool | None = None) -> None:
        self.graph = graph
        self.ids: tuple[str, ...] = graph.order
        self._slots: dict[str, int] = {id: slot for slot, id in enumerate(self.ids)}
        self.leaf_slots: tuple[int, ...] = tuple(self._slots[id] for id in self.ids if id in graph.leaves)
        self.steps: tuple[Step, ...] = tuple(
            Step(
                id,
                graph.ops[id],
                graph.attrs[id],
                tuple(self._slots[i] for i in graph.nodes[id].inputs),
                self._slots[id],
            )
            for id in self.ids
            if id in graph.nodes
        )
        self._forward_calls = tuple((s.op.forward, s.attrs, s.inputs, s.output) for s in self.steps)
        self.float_slot: tuple[bool, ...] = tuple(graph.types[id].is_float for id in self.ids)
        self._backward_plans: dict[tuple[int, tuple[int, ...]], _BackwardPlan] = {}
        self._wanted: dict[tuple[str, ...], tuple[int, ...]] = {}
        self._free_schedule: tuple[tuple[int, ...], ...] | None = None
        self._freeable: frozenset[int] = frozenset()
        self._unit_seeds: dict[np.dtype, np.ndarray] = {}
        #: Set when the graph is many scalar elementwise nodes: they run as batched numpy calls.
        self.batches: ScalarBatches | None = None
        if batch_scalars is not False:
            self.batches = ScalarBatches.compile(self, force=bool(batch_scalars))

    def slot_of(self, id: str) -> int:
        try:
            return self._slots[id]
        except KeyError:
            hint = did_you_mean(id, self.ids)
            hint = f"; {hint}" if hint else ""
            raise GraphdiffError(
                Problem(self.graph.source.label, None, f"no leaf or node {json.dumps(id)}{hint}")
            ) from None

    # --- forward ------------------------------------------------------------------------------

    def forward(
        self,
        leaf_values: Mapping[str, np.ndarray],
        *,
        check_finite: bool = False,
        keep: Literal["all", "backward"] = "all",
    ) -> Trace:
        """Run every step; ``leaf_values`` holds one checked array per leaf (see :func:`bind_feeds`).

        ``keep="all"`` keeps every value (diagrams and results show them). ``keep="backward"`` is the
        memory-saving mode: an intermediate value that no op's backward reads (see ``Op.vjp_reads``) is
        let go as soon as the forward pass is done with it, so a long chain of such ops holds one
        activation at a time; leaves, outputs and the loss are always kept.

        With ``check_finite`` the first nan or inf raises :class:`NonFiniteError` naming the node (and
        numpy's own floating-point warnings, which would name a line inside graphdiff, are silenced).
        """
        if keep not in ("all", "backward"):
            raise ValueError(f'keep must be "all" or "backward", not {keep!r}')
        free_after = self._free_after() if keep == "backward" else None
        if check_finite:
            with np.errstate(all="ignore"):
                return self._forward(leaf_values, check_finite=True, free_after=free_after)
        if self.batches is not None:
            return Trace(self, self.batches.forward(leaf_values))
        return self._forward(leaf_values, check_finite=False, free_after=free_after)

    def _forward(
        self,
        leaf_values: Mapping[str, np.ndarray],
        *,
        check_finite: bool,
        free_after: tuple[tuple[int, ...], ...] | None = None,
    ) -> Trace:
        values: list[Any] = [None] * len(self.ids)
        for slot in self.leaf_slots:
            values[slot] = leaf_values[self.ids[slot]]
        if check_finite:
            for slot in self.leaf_slots:
                self._check_finite(values[slot], self.ids[slot], "the value is")
        ndarray, asarray, get = np.ndarray, np.asarray, values.__getitem__
        # The hot loop: one tuple per step, unpacked (attribute lookups on Step would cost as much as a
        # small op's arithmetic).
        for index, (forward, attrs, inputs, output) in enumerate(self._forward_calls):
            try:
                out = forward(attrs, *map(get, inputs))
            except ComputeError as exc:
                step = self.steps[index]
                raise exc.located(self.graph.source.label, self.graph.places[step.id]) from None
            except MemoryError:
                step = self.steps[index]
                raise ComputeError(
                    self.graph.problem(step.id, f"{step.op.name}: not enough memory for the result")
                ) from None
            except ValueError as exc:
                # Checking refuses every static shape numpy cannot make; a symbolic one (N, 2**59) can
                # still grow past numpy's limit with the N fed.
                if not _beyond_numpy(exc):
                    raise
                step = self.steps[index]
                raise ComputeError(
                    self.graph.problem(step.id, f"{step.op.name}: the result is too large for numpy ({exc})")
                ) from None
            values[output] = out if type(out) is ndarray else asarray(out)
            if check_finite:
                step = self.steps[index]
                self._check_finite(values[output], step.id, f"forward: {step.op.name} gave a value that is")
            if free_after is not None:
                for slot in free_after[index]:
                    values[slot] = _stand_in(values[slot])
        if free_after is None:
            return Trace(self, tuple(values))
        return Trace(self, tuple(values), self._freeable)

    def _free_after(self) -> tuple[tuple[int, ...], ...]:
        """For each step, the slots the memory-saving mode lets go once it has run (computed once)."""
        if self._free_schedule is None:
            kept = set(self.leaf_slots) | {self._slots[id] for id in self.graph.outputs}
            if self.graph.loss is not None:
                kept.add(self._slots[self.graph.loss])
            last_use = {}
            for index, step in enumerate(self.steps):
                if "output" in step.op.vjp_reads:
                    kept.add(step.output)
                if "inputs" in step.op.vjp_reads:
                    kept.update(step.inputs)
                last_use[step.output] = index  # a value nobody uses can go at once
                for slot in step.inputs:
                    last_use[slot] = index
            schedule: list[list[int]] = [[] for _ in self.steps]
            for slot, index in last_use.items():
                if slot not in kept:
                    schedule[index].append(slot)
            self._free_schedule = tuple(tuple(slots) for slots in schedule)
            self._freeable = frozenset(slot for slots in schedule for slot in slots)
        return self._free_schedule

    # --- backward -----------------------------------------------------------------------------

    def backward(
        self,
        trace: Trace,
        *,
        wrt: Iterable[str] | None = None,
        output: str | None = None,
        upstream: np.ndarray | float | None = None,
        check_finite: bool = False,
        record_edges: bool = False,
    ) -> Gradients:
        """Gradients of ``output`` (default: the loss) with respect to ``wrt`` (default: every float leaf
        and node), by reverse-mode accumulation. ``upstream`` seeds a non-scalar output's gradient;
        ``record_edges`` also keeps each edge's contribution (diagrams draw them)."""
        out_id = output if output is not None else self.graph.loss
        if out_id is None:
            raise FeedError(
                Problem(self.graph.source.label, "loss", "the graph has no loss to differentiate")
            )
        out_slot = self.slot_of(out_id)
        if not self.float_slot[out_slot]:
            dtype = self.graph.types[out_id].dtype
            raise FeedError(
                self.graph.problem(out_id, f"{dtype} values have no gradient: backward starts from a float")
            )
        seed = self._seed(trace.values[out_slot], out_id, upstream)
        if wrt is None:
            wanted = tuple(range(len(self.ids)))
        else:
            key = tuple(wrt)
            wanted = self._wanted.get(key)  # the same names are asked for on every training step
            if wanted is None:
                wanted = tuple(self.slot_of(id) for id in dict.fromkeys(key))
                for slot in wanted:
                    if not self.float_slot[slot]:
                        dtype = self.graph.types[self.ids[slot]].dtype
                        raise GraphdiffError(
                            self.graph.problem(self.ids[slot], f"{dtype} values have no gradient")
                        )
                self._wanted[key] = wanted
        backward_plan = self._backward_plan(out_slot, wanted)
        if type(trace.values) is SlotValues and not check_finite and not record_edges:
            grads_by_slot = trace.values.batches.backward(trace.values.vector, out_slot, seed)
            return Gradients({self.ids[s]: np.array(grads_by_slot[s]) for s in backward_plan.wanted})

        values = trace.values
        grads: list[Any] = [None] * len(self.ids)
        # owned[slot]: grads[slot] is an array this pass allocated, so later contributions add in place.
        owned = [False] * len(self.ids)
        grads[out_slot] = seed
        edge_grads: dict[tuple[str, int], np.ndarray] | None = {} if record_edges else None
        ndarray, asarray, add, get = np.ndarray, np.asarray, np.add, values.__getitem__
        wanted_set = backward_plan.wanted_set
        for step, vjp, attrs, inputs, output, needs, targets in backward_plan.calls:
            upstream_grad = grads[output]
            if upstream_grad is None:
                continue
            try:
                local = vjp(attrs, upstream_grad, values[output], tuple(map(get, inputs)), needs)
            except ComputeError as exc:
                raise exc.located(self.graph.source.label, self.graph.places[step.id]) from None
            except MemoryError:
                raise ComputeError(
                    self.graph.problem(step.id, f"{step.op.name}: not enough memory for the gradient")
                ) from None
            except ValueError as exc:
                if not _beyond_numpy(exc):
                    raise
                raise ComputeError(
                    self.graph.problem(
                        step.id, f"{step.op.name}: the gradient is too large for numpy ({exc})"
                    )
                ) from None
            for position, slot in targets:
                grad = local[position]
                value = values[slot]
                if type(grad) is not ndarray and grad is not None:
                    grad = asarray(grad)  # arithmetic on 0-d arrays gives numpy scalars
                if grad is None or grad.shape != value.shape or grad.dtype != value.dtype:
                    grad = self._conform(grad, value, step, position)
                if check_finite:
                    name = step.op.input_name(position)
                    self._check_finite(
                        grad, step.id, f"backward: the gradient flowing into input {name!r} is"
                    )
                if edge_grads is not None:
                    edge_grads[(step.id, position)] = grad
                previous = grads[slot]
                if previous is None:
                    grads[slot] = grad
                    if grad.size >= OWN_MIN_SIZE and len(targets) == 1 and edge_grads is None:
                        # A large gradient the op made afresh (not the upstream passed through, not a
                        # view, not read-only) is this pass's to add into: a weight's data and
                        # regularization gradients then sum in place, as hand-written numpy does.
                        owned[slot] = grad is not upstream_grad and grad.base is None and grad.flags.writeable
                elif owned[slot]:
                    add(previous, grad, out=previous)
                else:
                    total = previous + grad  # 0-d operands give a numpy scalar: made an array to own
                    grads[slot] = total if type(total) is ndarray else np.array(total)
                    owned[slot] = True
            if output not in wanted_set:
                grads[output] = None  # passed on to the inputs: let it go (a chain holds one at a time)
        result = {}
        handed_out: set[int] = set()
        for slot in backward_plan.wanted:
            grad = grads[slot]
            if grad is None:
                grad = np.zeros_like(values[slot])
            elif not isinstance(grad, np.ndarray) or not grad.flags.writeable or id(grad) in handed_out:
                # Ops may pass one array to several inputs (add) or return read-only broadcast views
                # (sum), and adding 0-d arrays gives numpy scalars; the caller gets arrays of its own.
                grad = np.array(grad)
            handed_out.add(id(grad))
            result[self.ids[slot]] = grad
        return Gradients(result, edge_grads)

    def _seed(self, out_value: np.ndarray, out_id: str, upstream: np.ndarray | float | None) -> np.ndarray:
        if upstream is None:
            if out_value.shape != ():
                raise FeedError(
                    self.graph.problem(
                        out_id, f"output has shape {format_shape(out_value.shape)}; pass an upstream gradient"
                    )
                )
            unit = self._unit_seeds.get(out_value.dtype)
            if unit is None:
                unit = self._unit_seeds[out_value.dtype] = np.ones((), dtype=out_value.dtype)
                unit.flags.writeable = False  # shared by every pass; handed out only as a copy
            return unit
        place = self.graph.places.get(out_id)
        try:
            seed = numbers_as(upstream, str(out_value.dtype), "the output")
        except ValueError as exc:
            raise FeedError(Problem(self.graph.source.label, place, f"upstream gradient: {exc}")) from None
        if seed.shape != out_value.shape:
            raise FeedError(
                self.graph.problem(
                    out_id,
                    f"upstream gradient has shape {format_shape(seed.shape)}, "
                    f"the output {format_shape(out_value.shape)}",
                )
            )
        return seed

    def _backward_plan(self, out_slot: int, wanted: tuple[int, ...]) -> _BackwardPlan:
        """The steps to run, and for each the inputs needing a gradient, cached per (output, wanted)."""
        key = (out_slot, wanted)
        cached = self._backward_plans.get(key)
        if cached is not None:
            return cached
        reaches_output = [False] * len(self.ids)
        reaches_output[out_slot] = True
        for step in reversed(self.steps):
            if reaches_output[step.output]:
                for slot in step.inputs:
                    reaches_output[slot] = True
        from_wanted = [False] * len(self.ids)
        for slot in wanted:
            from_wanted[slot] = True
        for step in self.steps:
            if any(from_wanted[slot] for slot in step.inputs):
                from_wanted[step.output] = True
        needed = [reaches_output[s] and from_wanted[s] and self.float_slot[s] for s in range(len(self.ids))]
        steps = []
        for step in reversed(self.steps):
            if not needed[step.output]:
                continue
            needs = tuple(
                needed[slot] and step.op.differentiable(position) for position, slot in enumerate(step.inputs)
            )
            if any(needs):
                steps.append((step, needs))
        calls = tuple(
            (
                step,
                step.op.vjp,
                step.attrs,
                step.inputs,
                step.output,
                needs,
                tuple((position, slot) for position, slot in enumerate(step.inputs) if needs[position]),
            )
            for step, needs in steps
        )
        kept = tuple(s for s in wanted if self.float_slot[s])
        plan = _BackwardPlan(kept, calls, frozenset(wanted))
        self._backward_plans[key] = plan
        return plan

    def _conform(self, grad: np.ndarray | None, value: np.ndarray, step: Step, position: int) -> np.ndarray:
        """Check an op's gradient has its input's shape (catches a forgotten reduction) and dtype."""
        if grad is None or np.shape(grad) != value.shape:
            got = "nothing" if grad is None else format_shape(np.shape(grad))
            raise AssertionError(
                f"op {step.op.name!r} returned a gradient of shape {got} for input "
                f"{step.op.input_name(position)!r} of shape {format_shape(value.shape)} (node {step.id!r})"
            )
        grad = np.asarray(grad)
        return grad if grad.dtype == value.dtype else grad.astype(value.dtype)

    def _check_finite(self, array: np.ndarray, id: str, what: str) -> None:
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            kind = "nan" if np.any(np.isnan(array)) else "infinite"
            raise NonFiniteError(self.graph.problem(id, f"{what} {kind}"))


#: How numpy says a shape is past what any array can be (rather than that an op was misused).
_NUMPY_SIZE_LIMITS = ("array is too big", "Maximum allowed dimension exceeded", "iterator is too large")


def _beyond_numpy(exc: ValueError) -> bool:
    return any(text in str(exc) for text in _NUMPY_SIZE_LIMITS)


def _stand_in(value: np.ndarray) -> np.ndarray:
    """A value's shape and dtype without its data: one element, broadcast (read-only, zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=value.dtype), value.shape)


def compile_plan(graph: CheckedGraph, *, batch_scalars: bool | None = None) -> Plan:
    """Compile a checked graph into a plan (done once; the plan is then run any number of times).

    ``batch_scalars``: run a graph of scalar elementwise nodes as batched numpy calls (see
    :class:`ScalarBatches`); None (default) when that pays (at least ``BATCH_MIN_NODES`` nodes, at least
    ``BATCH_MIN_AVERAGE`` per batch), True whenever the graph qualifies, False never.
    """
    with gc_paused():
        return Plan(graph, batch_scalars=batch_scalars)


#: Gradients at least this large are accumulated in place when fresh (smaller ones: not worth the check).
OWN_MIN_SIZE = 4096

#: Below this many nodes a scalar graph runs step by step: batching pays off only with many per level.
BATCH_MIN_NODES = 256
#: Nor when its batches would average fewer nodes than this.
BATCH_MIN_AVERAGE = 4


class SlotValues(Sequence[np.ndarray]):
    """The values of a batched forward run, by slot, as 0-d arrays read from one vector on demand."""

    def __init__(self, batches: ScalarBatches, vector: np.ndarray) -> None:
        self.batches = batches
        self.vector = vector

    def __len__(self) -> int:
        return self.vector.shape[0]

    def __getitem__(self, slot):  # type: ignore[override]
        if isinstance(slot, slice):
            return [np.array(v) for v in self.vector[slot]]
        return np.array(self.vector[slot])


@dataclass(frozen=True)
class _Batch:
    """Every node of one level with one op and attrs: ``vector[outputs] = op(vector[inputs[0]], ...)``."""

    op: Op
    attrs: Attrs
    inputs: tuple[np.ndarray, ...]
    outputs: np.ndarray
    #: Per input: whether its slots repeat (a value feeding several nodes of the batch), so its
    #: gradients must be scatter-added with np.add.at rather than a fancy-indexed +=.
    repeats: tuple[bool, ...]
    needs: tuple[bool, ...]


class ScalarBatches:
    """A graph of scalar elementwise nodes compiled into one numpy call per (level, op, attrs).

    A graph drawn from scalars, as in every backprop lecture, has tens of thousands of nodes but few
    distinct ops at each depth. Nodes at the same depth (longest path from a leaf) are independent, so
    all those with the same op and attributes run as one call over the gathered values of their inputs;
    backward walks the batches in reverse, and each batch's local gradients are scatter-added to its
    inputs' slots. Values live in one vector indexed by slot. The results equal the step-by-step plan's
    (elementwise ops compute each element alike; only the order of gradient sums at fan-out differs).
    """

    def __init__(self, plan: Plan, batches: tuple[_Batch, ...], dtype: np.dtype) -> None:
        self.plan = plan
        self.batches = batches
        self.dtype = dtype
        self.leaf_slots = np.array(plan.leaf_slots, dtype=np.intp)
        self.leaf_ids = tuple(plan.ids[s] for s in plan.leaf_slots)

    @classmethod
    def compile(cls, plan: Plan, *, force: bool = False) -> ScalarBatches | None:
        """The batches of ``plan``, or None if its graph is not scalar elementwise nodes, or (unless
        ``force``) too few or too sequential to gain from batching."""
        graph = plan.graph
        if not plan.steps or (len(plan.steps) < BATCH_MIN_NODES and not force):
            return None
        dtypes = {graph.types[id].dtype for id in plan.ids}
        if len(dtypes) != 1 or not all(graph.types[id].shape == () for id in plan.ids):
            return None
        if not all(step.op.elementwise for step in plan.steps):
            return None
        depth = [0] * len(plan.ids)
        groups: dict[tuple[int, str, Attrs], list[Step]] = {}
        for step in plan.steps:
            level = 1 + max(depth[i] for i in step.inputs)
            depth[step.output] = level
            groups.setdefault((level, step.op.name, step.attrs), []).append(step)
        if len(groups) * BATCH_MIN_AVERAGE > len(plan.steps) and not force:
            return None  # mostly one node per level (a long chain): one numpy call per node either way
        batches = []
        for (_, _, attrs), members in sorted(groups.items(), key=lambda item: item[0][0]):
            op = members[0].op
            inputs = tuple(
                np.array([m.inputs[position] for m in members], dtype=np.intp)
                for position in range(len(members[0].inputs))
            )
            batches.append(
                _Batch(
                    op,
                    attrs,
                    inputs,
                    np.array([m.output for m in members], dtype=np.intp),
                    tuple(bool(np.unique(i).size < i.size) for i in inputs),
                    tuple(op.differentiable(position) for position in range(len(inputs))),
                )
            )
        return cls(plan, tuple(batches), np.dtype(dtypes.pop()))

    def forward(self, leaf_values: Mapping[str, np.ndarray]) -> SlotValues:
        vector = np.empty(len(self.plan.ids), dtype=self.dtype)
        vector[self.leaf_slots] = [leaf_values[id] for id in self.leaf_ids]
        for batch in self.batches:
            try:
                out = batch.op.forward(batch.attrs, *(vector[i] for i in batch.inputs))
            except ComputeError:
                # Rerun step by step, which names the node that failed.
                self.plan._forward(leaf_values, check_finite=False)
                raise
            vector[batch.outputs] = out
        return SlotValues(self, vector)

    def backward(self, vector: np.ndarray, out_slot: int, seed: np.ndarray) -> np.ndarray:
        """d output / d every slot (zeros where it does not depend), by slot."""
        grads = np.zeros_like(vector)
        grads[out_slot] = seed
        for batch in reversed(self.batches):
            upstream = grads[batch.outputs]
            if not upstream.any():
                continue
            inputs = tuple(vector[i] for i in batch.inputs)
            local = batch.op.vjp(batch.attrs, upstream, vector[batch.outputs], inputs, batch.needs)
            for position, slots in enumerate(batch.inputs):
                if not batch.needs[position]:
                    continue
                if batch.repeats[position]:
                    np.add.at(grads, slots, local[position])
                else:
                    grads[slots] += local[position]
        return grads


def bind_feeds(graph: CheckedGraph, feeds: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Every leaf's value for one run: parameters and constants as stored, inputs fed or defaulted.

    Checks the feeds: each names an input, has its dtype kind and its shape, and symbolic dimensions
    (``N``) agree across all inputs. Raises :class:`FeedError` naming the input.
    """
    feeds = dict(feeds or {})
    label = graph.source.label
    for name in feeds:
        if name not in graph.leaves:
            hint = did_you_mean(name, graph.ids_of_kind("input"))
            hint = f"; {hint}" if hint else ""
            where = " (it is a node, computed from its inputs)" if name in graph.nodes else ""
            raise FeedError(
                Problem(label, f"feed {json.dumps(name)}", f"not an input of the graph{where}{hint}")
            )
        if graph.leaves[name].kind != "input":
            raise FeedError(
                Problem(label, f"feed {json.dumps(name)}", f"is a {graph.leaves[name].kind}, not an input")
            )
    values: dict[str, np.ndarray] = {}
    bound: dict[str, int] = {}
    bound_by: dict[str, str] = {}
    for id in graph.leaves:
        if id in feeds:
            value = _feed_array(label, id, feeds[id], graph.types[id].dtype)
        else:
            default = graph.leaf_values.get(id)
            if default is None:
                # Say how to give it, both ways a user gets here: the command line and Python.
                raise FeedError(
                    Problem(
                        label,
                        f"feed {json.dumps(id)}",
                        f"missing: the input has no default value; give it with --feed {id}=VALUE or "
                        f"--data SOURCE on the command line, or feeds={{{json.dumps(id)}: ...}} in Python",
                    )
                )
            value = default
        declared = graph.types[id].shape
        before = dict(bound)
        if not bind_symbols(value.shape, declared, bound):
            symbols = [d for d in declared if isinstance(d, str) and d in before]
            known = ", ".join(f"{s} = {before[s]} (from {json.dumps(bound_by[s])})" for s in symbols)
            raise FeedError(
                Problem(
                    label,
                    f"feed {json.dumps(id)}",
                    f"shape {format_shape(value.shape)} does not match the declared {format_shape(declared)}"
                    + (f" with {known}" if known else ""),
                )
            )
        for symbol in bound.keys() - before.keys():
            bound_by[symbol] = id
        values[id] = value
    return values


def _feed_array(label: str | None, id: str, value: Any, dtype: str) -> np.ndarray:
    try:
        return numbers_as(value, dtype, "the input")
    except ValueError as exc:
        raise FeedError(Problem(label, f"feed {json.dumps(id)}", str(exc))) from None


def numbers_as(value: Any, dtype: str, what: str) -> np.ndarray:
    """``value`` (an array, a number or nested lists) as an array of ``dtype``; a ValueError says why
    not: not numbers, numbers of the wrong kind, or a cast that would change a value (an integer out of
    int64's range, which numpy would wrap, 2**63 becoming -2**63; an integer a float cannot hold exactly,
    2**53 + 1; a finite float64 that overflows float32). Rounding float64 to float32 is allowed."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"not an array of numbers ({exc})") from None
    if array.dtype == object and dtype != "bool" and array.size and _plain_numbers(array):
        array = _big_integers(array, dtype)  # Python integers past 64 bits (from JSON, or Python)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"not an array of numbers (dtype {array.dtype})")
    if dtype == "bool":
        if array.dtype.kind != "b":
            raise ValueError(f"{what} is bool (a mask); got {array.dtype} values")
    elif dtype == "int64":
        if array.dtype.kind == "f" and not isinstance(value, np.ndarray | np.generic):
            # numpy makes [2**63, 1] a float64 array: name the integer it could not hold
            found = first_item(value, lambda x: type(x) is not int or not _INT64_MIN <= x <= _INT64_MAX)
            if found is not None and type(found[1]) is int:
                shown = f"{found[1]} at index {list(found[0])}" if found[0] else str(found[1])
                raise ValueError(f"holds {shown}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
        if array.dtype.kind not in "iu":
            raise ValueError(f"{what} is int64 (indices or labels); got {array.dtype} values")
        if array.dtype == np.uint64 and array.size and array.max() > _INT64_MAX:
            first = _first(array, array > _INT64_MAX)
            raise ValueError(f"holds {first}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
    elif array.dtype.kind == "b":
        raise ValueError(f"{what} is a float; got booleans")
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        result = array.astype(dtype)
    inexact = inexact_cast(array, result)
    if inexact is not None:
        raise ValueError(inexact)
    if array.dtype.kind == "f" and result.dtype.itemsize < array.dtype.itemsize:
        overflow = np.isinf(result)
        if overflow.any():
            overflow &= np.isfinite(array)  # an infinity fed stays one; a finite number must not become one
            if overflow.any():
                raise ValueError(f"holds {_first(array, overflow)}, which overflows {dtype}")
    return result


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _plain_numbers(array: np.ndarray) -> bool:
    return all(type(x) is int or type(x) is float for x in array.flat)


def _big_integers(array: np.ndarray, dtype: str) -> np.ndarray:
    """An object array of Python numbers, some of them integers past 64 bits, as float64 when each is a
    float64 exactly; otherwise the ValueError naming the first that is not."""
    for index, x in np.ndenumerate(array):
        if type(x) is float:
            continue
        shown = f"{x} at index {list(index)}" if index else str(x)
        if dtype == "int64":
            if not _INT64_MIN <= x <= _INT64_MAX:
                raise ValueError(f"holds {shown}, out of the int64 range ({_INT64_MIN} to {_INT64_MAX})")
        elif not (abs(x) < 2**1024 and int(float(x)) == x):
            raise ValueError(f"holds {shown}, which {dtype} cannot represent exactly")
    return array.astype(np.float64)


def _first(array: np.ndarray, where: np.ndarray) -> str:
    """``9223372036854775808 at index [1]``: the first element of ``array`` where ``where`` holds."""
    index = tuple(int(i) for i in np.argwhere(where)[0])
    return f"{array[index].item()!r} at index {list(index)}" if index else repr(array.item())
