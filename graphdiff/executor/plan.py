"""The plan: a compiled program and the executor path chosen for it, run forward and backward.

:func:`compile_plan` compiles a checked graph once into a :class:`Program` (the steps, as data) and picks
the fastest path that computes its numbers exactly as the interpreter does:

- ``batched``: many scalar elementwise nodes, run as one numpy call per depth and op (:mod:`.batched`);
- ``scalars``: a smaller graph of scalar elementwise nodes, run on numpy scalars (:mod:`.floats`);
- ``interpreter``: everything else, one op call per step on arrays (:mod:`.interpreter`).

Every path has the same two methods, ``forward(plan, leaf_values) -> Trace`` and ``backward(trace,
backward_program, seed) -> gradients``. Checking for nan/inf, the memory-saving mode and recording each
edge's gradient run on the interpreter, made once per set of options. Running a plan does no validation,
sorting or networkx work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

import numpy as np

from ..errors import FeedError, GraphdiffError, Problem, did_you_mean
from ..graph import CheckedGraph, gc_paused
from ..ops import format_shape
from .batched import ScalarBatches
from .feeds import numbers_as
from .floats import ScalarSteps
from .interpreter import Gradients, Interpreter, Trace
from .program import BackwardProgram, Program, Step

PathName = Literal["auto", "interpreter", "batched", "scalars"]


class FastPath(Protocol):
    """What a fast path offers (the interpreter offers the same, with options)."""

    name: str

    def forward(self, plan: Plan, leaf_values: Mapping[str, np.ndarray]) -> Trace: ...

    def backward(
        self, trace: Trace, backward: BackwardProgram, seed: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        """The wanted gradients, or None when this path cannot start from that output."""
        ...

    def describe(self) -> list[str]: ...


class Plan:
    """A checked graph compiled into a :class:`Program`, with the path that runs it."""

    def __init__(self, graph: CheckedGraph, *, path: PathName = "auto") -> None:
        if path not in ("auto", "interpreter", "batched", "scalars"):
            raise ValueError(f'path must be "auto", "interpreter", "batched" or "scalars", not {path!r}')
        self.graph = graph
        self.program = Program.compile(graph)
        self.ids = self.program.ids
        self.steps: tuple[Step, ...] = self.program.steps
        self.leaf_slots = self.program.leaves
        self.float_slot = self.program.float_slot
        # Interpreters are made when first needed (a graph on a fast path may never need one).
        self._interpreters: dict[tuple[bool, str], Interpreter] = {}
        self._resolved: dict[
            tuple[str | None, tuple[str, ...] | None], tuple[int, BackwardProgram, np.ndarray | None]
        ] = {}
        self._unit_seeds: dict[np.dtype | str, np.ndarray] = {}
        #: Set when many scalar elementwise nodes run as batched numpy calls.
        self.batches: ScalarBatches | None = None
        self.fast: FastPath | None = None
        if path in ("auto", "batched"):
            self.batches = ScalarBatches.compile(self.program, force=path == "batched")
            self.fast = self.batches
        if self.fast is None and path in ("auto", "scalars"):
            self.fast = ScalarSteps.compile(self.program)

    @property
    def path(self) -> str:
        """The name of the path ``forward`` takes without options."""
        return self.fast.name if self.fast is not None else "interpreter"

    def describe(self, *, max_steps: int | None = None) -> str:
        """The program as text, with the path that runs it (what ``graphdiff plan`` prints)."""
        details = self.fast.describe() if self.fast is not None else []
        return self.program.format(path=self.path, details=details, max_steps=max_steps)

    def slot_of(self, id: str) -> int:
        try:
            return self.program.slots[id]
        except KeyError:
            hint = did_you_mean(id, self.ids)
            hint = f"; {hint}" if hint else ""
            raise GraphdiffError(
                Problem(self.graph.source.label, None, f"no leaf or node {json.dumps(id)}{hint}")
            ) from None

    def freed_error(self, id: str) -> GraphdiffError:
        return GraphdiffError(
            self.graph.problem(
                id, 'this value was freed (memory-saving mode): run forward with keep="all" to read it'
            )
        )

    def _interpreter(self, check_finite: bool, keep: str) -> Interpreter:
        key = (check_finite, keep)
        interpreter = self._interpreters.get(key)
        if interpreter is None:
            interpreter = self._interpreters[key] = Interpreter(
                self.program, check_finite=check_finite, keep=keep
            )
        return interpreter

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
        activation at a time; leaves, outputs and the loss are always kept. (A scalar fast path keeps its
        few numbers in one small store either way.)

        With ``check_finite`` the first nan or inf raises :class:`NonFiniteError` naming the node (and
        numpy's own floating-point warnings, which would name a line inside graphdiff, are silenced).
        """
        if keep not in ("all", "backward"):
            raise ValueError(f'keep must be "all" or "backward", not {keep!r}')
        if check_finite:
            with np.errstate(all="ignore"):
                return self._interpreter(True, keep).forward(self, leaf_values)
        if self.fast is not None:
            return self.fast.forward(self, leaf_values)
        return self._interpreter(False, keep).forward(self, leaf_values)

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
        key = None if wrt is None else tuple(wrt)
        resolved = self._resolved.get((output, key))
        if resolved is None:
            resolved = self._resolved[(output, key)] = self._resolve(output, key)
        out_slot, backward, unit = resolved
        if upstream is None and unit is not None:
            seed = unit  # a scalar output, seeded without reading its value
        else:
            seed = self._seed(trace.values[out_slot], self.ids[out_slot], upstream)
        if trace.native is not None and not check_finite and not record_edges:
            grads = self.fast.backward(trace, backward, seed)  # type: ignore[union-attr]  (it made the trace)
            if grads is not None:
                return Gradients(grads)
        if check_finite:
            with np.errstate(all="ignore"):
                return self._interpreter(True, "all").backward(
                    trace.values, backward, seed, record_edges=record_edges
                )
        return self.interpreter.backward(trace.values, backward, seed, record_edges=record_edges)

    @property
    def interpreter(self) -> Interpreter:
        """The interpreter without options."""
        return self._interpreter(False, "all")

    def _resolve(
        self, output: str | None, wrt: tuple[str, ...] | None
    ) -> tuple[int, BackwardProgram, np.ndarray | None]:
        """For one (output, wrt) as a caller names them: the output's slot, the backward program, and the
        unit seed when the output is statically a scalar. Checked once; training asks the same each step."""
        out_id = output if output is not None else self.graph.loss
        if out_id is None:
            raise FeedError(
                Problem(self.graph.source.label, "loss", "the graph has no loss to differentiate")
            )
        out_slot = self.slot_of(out_id)
        out_type = self.program.type(out_slot)
        if not out_type.is_float:
            raise FeedError(
                self.graph.problem(
                    out_id, f"{out_type.dtype} values have no gradient: backward starts from a float"
                )
            )
        if wrt is None:
            wanted = tuple(range(len(self.ids)))
        else:
            wanted = tuple(self.slot_of(id) for id in dict.fromkeys(wrt))
            for slot in wanted:
                if not self.float_slot[slot]:
                    dtype = self.program.type(slot).dtype
                    raise GraphdiffError(
                        self.graph.problem(self.ids[slot], f"{dtype} values have no gradient")
                    )
        unit = self._unit_seed(out_type.dtype) if out_type.shape == () else None
        return out_slot, self.program.backward(out_slot, wanted), unit

    def _unit_seed(self, dtype: np.dtype | str) -> np.ndarray:
        unit = self._unit_seeds.get(dtype)
        if unit is None:
            unit = self._unit_seeds[dtype] = np.ones((), dtype=dtype)
            unit.flags.writeable = False  # shared by every pass; handed out only as a copy
        return unit

    def _seed(self, out_value: np.ndarray, out_id: str, upstream: np.ndarray | float | None) -> np.ndarray:
        if upstream is None:
            if out_value.shape != ():
                raise FeedError(
                    self.graph.problem(
                        out_id, f"output has shape {format_shape(out_value.shape)}; pass an upstream gradient"
                    )
                )
            return self._unit_seed(out_value.dtype)
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


def compile_plan(graph: CheckedGraph, *, path: PathName = "auto") -> Plan:
    """Compile a checked graph into a plan (done once; the plan is then run any number of times).

    ``path``: ``"auto"`` (default) picks the fastest exact path: ``batched`` for a scalar graph of at
    least ``BATCH_MIN_NODES`` nodes averaging ``BATCH_MIN_AVERAGE`` per batch, else ``scalars`` for any
    other graph of scalar elementwise nodes, else the interpreter. Naming a path forces it where the graph
    qualifies (tests compare the paths); ``"interpreter"`` always runs step by step on arrays.
    """
    with gc_paused():
        return Plan(graph, path=path)
