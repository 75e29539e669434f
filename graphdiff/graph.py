"""Checking a spec once: references, ops, attributes, cycles, leaf values, shapes and dtypes.

:func:`check_graph` builds a networkx DiGraph from a :class:`GraphSpec`, reports every problem it finds
(not just the first), each naming the file and the place (``nodes[1] "f": input "w" is not defined``), and
hands back an immutable :class:`CheckedGraph`: a deterministic topological order (ties broken by file
order), the static type of every value, each node's validated attributes, and the leaves' values. Nothing
after this step re-validates; the executor compiles the checked graph into a plan.
"""

from __future__ import annotations

import functools
import gc
import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import nodecheck
from .errors import GraphdiffError, Problem, ShapeError, SpecError
from .ops import Attrs, Op, TensorType, bind_symbols, format_shape
from .spec import (
    DEFAULT_MAX_ELEMENTS,
    ArrayFile,
    GraphSpec,
    LeafSpec,
    NodeSpec,
    NormalInit,
    OnesInit,
    SpecSource,
    UniformInit,
    ZerosInit,
    read_array,
    resolve_inside,
)
from .spec.arrays import shape_size_problem
from .spec.strict_json import format_path

if TYPE_CHECKING:
    import networkx as nx

#: How many undefined references get a "did you mean" suggestion (each costs a pass over every id).
MAX_GUESSES = 20
#: numpy's limit on the number of dimensions of an array.
MAX_LITERAL_DIMENSIONS = 64


@dataclass(frozen=True)
class CheckedGraph:
    """A spec that passed every check, with what the checks found out. Treat it as read-only."""

    spec: GraphSpec
    source: SpecSource
    #: Every leaf and node id, leaves and nodes interleaved in a topological order (ties by file order).
    order: tuple[str, ...]
    #: The static type (shape with symbols, dtype) of every leaf and node.
    types: Mapping[str, TensorType]
    #: Where each id is defined in the file: ``leaves[0] "x"``, ``nodes[1] "f"``.
    places: Mapping[str, str]
    leaves: Mapping[str, LeafSpec]
    nodes: Mapping[str, NodeSpec]
    ops: Mapping[str, Op]
    attrs: Mapping[str, Attrs]
    #: The value of every parameter and constant, and each input's default (None when it has none).
    leaf_values: Mapping[str, np.ndarray | None]
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loss(self) -> str | None:
        return self.spec.loss

    @property
    def outputs(self) -> tuple[str, ...]:
        """The declared outputs, or the loss alone when none are declared."""
        if self.spec.outputs:
            return tuple(self.spec.outputs)
        return (self.spec.loss,) if self.spec.loss else ()

    def kind(self, id: str) -> str:
        """``input``, ``parameter``, ``constant`` or ``node``."""
        return self.leaves[id].kind if id in self.leaves else "node"

    def ids_of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(i for i in self.order if self.kind(i) == kind)

    def problem(self, id: str, message: str) -> Problem:
        """A problem located at ``id``'s place in the file."""
        return Problem(self.source.label, self.places.get(id), message)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large graph is built.

    Reading, checking and compiling a spec allocates millions of small objects that form no cycles;
    the collector would rescan them all again and again (a third of the time at 100k nodes, and more
    with each 10x, making loading superlinear). Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_graph(
    spec: GraphSpec, source: SpecSource | None = None, *, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> CheckedGraph:
    """Check ``spec`` and return the checked graph; raise :class:`SpecError` listing every problem."""
    return _Checker(spec, source or SpecSource(None, None), max_elements).run()


class _Checker:
    def __init__(self, spec: GraphSpec, source: SpecSource, max_elements: int) -> None:
        self.spec = spec
        self.source = source
        self.max_elements = max_elements
        self.problems: list[Problem] = []
        self.places: dict[str, str] = {}
        self.leaves: dict[str, LeafSpec] = {}
        self.nodes: dict[str, NodeSpec] = {}
        self.ops: dict[str, Op] = {}
        self.attrs: dict[str, Attrs] = {}
        #: Each op's validated empty attributes, shared by its nodes that set none.
        self.default_attrs: dict[Op, Attrs] = {}
        self.leaf_values = LeafValues()
        self.leaf_types: dict[str, TensorType] = {}

    def report(self, place: str | None, message: str) -> None:
        self.problems.append(Problem(self.source.label, place, message))

    def fail_if_problems(self) -> None:
        if self.problems:
            raise SpecError(*self.problems)

    def run(self) -> CheckedGraph:
        self.collect_ids()
        for index, leaf in enumerate(self.spec.leaves):
            self.check_leaf(index, leaf)
        for index, node in enumerate(self.spec.nodes):
            self.check_node(index, node)
        self.check_references()
        file_index = {id: i for i, id in enumerate(self.places)}
        if self.file_order_is_topological(file_index):
            # Then it is also the order networkx's sort would give (topological, ties by file order),
            # and there can be no cycle: both answers in one pass over the edges, without building a
            # DiGraph (or importing networkx: a tenth of a second, and a third of the memory at 1M nodes).
            self.fail_if_problems()
            order = tuple(self.places)
        else:
            import networkx as nx

            digraph = self.build_digraph()
            self.check_cycles(digraph)
            self.fail_if_problems()
            order = tuple(nx.lexicographical_topological_sort(digraph, key=file_index.__getitem__))
        types = self.infer_types(order)
        self.check_loss(types)
        self.fail_if_problems()
        return CheckedGraph(
            spec=self.spec,
            source=self.source,
            order=order,
            types=types,
            places=self.places,
            leaves=self.leaves,
            nodes=self.nodes,
            ops=self.ops,
            attrs=self.attrs,
            leaf_values=self.leaf_values,
            warnings=tuple(self.unused()),
        )

    # --- ids and references ---------------------------------------------------------------------

    def collect_ids(self) -> None:
        items: list[tuple[str, Any]] = [("leaves", leaf) for leaf in self.spec.leaves]
        items += [("nodes", node) for node in self.spec.nodes]
        counters = {"leaves": 0, "nodes": 0}
        for container, item in items:
            index = counters[container]
            counters[container] += 1
            place = f"{container}[{index}] {_quote(item.id)}"
            if item.id in self.places:
                self.report(place, f"id {_quote(item.id)} is already used by {self.places[item.id]}")
                continue
            self.places[item.id] = place
            if container == "leaves":
                self.leaves[item.id] = item
            else:
                self.nodes[item.id] = item

    def check_references(self) -> None:
        known = self.places
        guesses = 0
        for node in self.spec.nodes:
            if self.nodes.get(node.id) is not node:
                continue
            for name in node.inputs:
                if name not in known:
                    # Each guess compares the name with every id; a few are helpful, thousands quadratic.
                    guesses += 1
                    problem = nodecheck.undefined_input(name, known, with_guess=guesses <= MAX_GUESSES)
                    self.report(self.places[node.id], problem)
        for index, name in enumerate(self.spec.outputs):
            if name not in known:
                guesses += 1
                hint = nodecheck.guess(name, known) if guesses <= MAX_GUESSES else ""
                self.report(f"outputs[{index}]", f"{_quote(name)} is not defined{hint}")
        if self.spec.loss is not None and self.spec.loss not in known:
            hint = nodecheck.guess(self.spec.loss, known)
            self.report("loss", f"{_quote(self.spec.loss)} is not defined{hint}")

    def build_digraph(self) -> nx.DiGraph:
        import networkx as nx

        digraph = nx.DiGraph()
        digraph.add_nodes_from(self.places)
        places = self.places
        digraph.add_edges_from(
            (name, node.id) for node in self.nodes.values() for name in node.inputs if name in places
        )
        return digraph

    def file_order_is_topological(self, file_index: Mapping[str, int]) -> bool:
        """Whether every node comes after all its inputs in the file (as specs are usually written)."""
        for id, node in self.nodes.items():
            position = file_index[id]
            for name in node.inputs:
                if file_index.get(name, position) >= position:
                    return False
        return True

    def check_cycles(self, digraph: nx.DiGraph) -> None:
        import networkx as nx

        file_index = {id: i for i, id in enumerate(self.places)}
        for component in nx.strongly_connected_components(digraph):
            first = min(component, key=file_index.__getitem__)
            if len(component) == 1 and not digraph.has_edge(first, first):
                continue
            edges = nx.find_cycle(digraph.subgraph(component), source=first)
            path = " -> ".join([_quote(u) for u, _ in edges] + [_quote(edges[0][0])])
            self.report(self.places[first], f"cycle: {path}")

    # --- nodes ----------------------------------------------------------------------------------

    def check_node(self, index: int, node: NodeSpec) -> None:
        if self.nodes.get(node.id) is not node:
            return
        checked = nodecheck.check_node(node.op, node.attrs, len(node.inputs), defaults=self.default_attrs)
        for problem in checked.problems:
            self.report(self.places[node.id], problem)
        if checked.op is not None:
            self.ops[node.id] = checked.op
        if checked.attrs is not None:
            self.attrs[node.id] = checked.attrs

    # --- leaves ---------------------------------------------------------------------------------

    def check_leaf(self, index: int, leaf: LeafSpec) -> None:
        if self.leaves.get(leaf.id) is not leaf:
            return
        place = self.places[leaf.id]
        if leaf.shape is not None:
            problem = shape_size_problem(leaf.shape)
            if problem is not None:
                self.report(place, f"shape {problem}")
                return
        try:
            value = self.leaf_value(leaf)
        except GraphdiffError as exc:
            for problem in exc.problems:
                self.report(place, problem.message)
            return
        if value is not None or leaf.id not in self.leaf_values:
            self.leaf_values[leaf.id] = value
        declared = leaf.shape
        if declared is None:
            assert value is not None  # the model requires a shape otherwise
            self.leaf_types[leaf.id] = TensorType(value.shape, leaf.dtype)
            return
        self.leaf_types[leaf.id] = TensorType(tuple(declared), leaf.dtype)
        if value is not None and not bind_symbols(value.shape, declared, {}):
            self.report(
                place,
                f"value has shape {format_shape(value.shape)} but shape is declared {format_shape(declared)}",
            )

    def leaf_value(self, leaf: LeafSpec) -> np.ndarray | None:
        value = leaf.value
        if value is None:
            return None
        if isinstance(value, ArrayFile):
            return self.file_value(leaf, value)
        if isinstance(value, ZerosInit | OnesInit | NormalInit | UniformInit):
            check_initializer(leaf, value, self.max_elements)
            # Run when the value is first needed: checking a spec allocates nothing for initializers.
            self.leaf_values.defer(leaf.id, functools.partial(initial_value, leaf, value))
            return None
        return literal_value(value, leaf.dtype)

    def file_value(self, leaf: LeafSpec, ref: ArrayFile) -> np.ndarray:
        if self.source.folder is None:
            raise SpecError(f"value.file: {ref.file}: array files need a spec read from disk")
        try:
            path = resolve_inside(self.source.folder, ref.file)
            return read_array(
                path,
                ref.key,
                label=ref.file,
                dtype=leaf.dtype,
                shape=leaf.shape,
                max_elements=self.max_elements,
            )
        except GraphdiffError as exc:
            raise SpecError(*(f"value.file: {p.message}" for p in exc.problems)) from None

    # --- types ----------------------------------------------------------------------------------

    def infer_types(self, order: tuple[str, ...]) -> dict[str, TensorType]:
        """Shape and dtype of everything, in order. A node whose inputs failed is skipped silently."""
        types: dict[str, TensorType] = dict(self.leaf_types)
        for id in order:
            node = self.nodes.get(id)
            if node is None:
                continue
            if any(name not in types for name in node.inputs):
                continue
            op = self.ops[id]
            try:
                types[id] = nodecheck.infer_type(op, self.attrs[id], [types[name] for name in node.inputs])
            except ShapeError as exc:
                for problem in exc.problems:
                    self.report(self.places[id], problem.message)
        return types

    def check_loss(self, types: Mapping[str, TensorType]) -> None:
        loss = self.spec.loss
        if loss is None or loss not in types:
            return
        t = types[loss]
        if t.shape != ():
            self.report(
                "loss", f"the loss {_quote(loss)} must be a scalar, but its shape is {format_shape(t.shape)}"
            )
        elif not t.is_float:
            self.report("loss", f"the loss {_quote(loss)} must be a float, but it is {t.dtype}")

    def unused(self) -> Iterator[Problem]:
        targets = set(self.spec.outputs) | ({self.spec.loss} if self.spec.loss else set())
        if not targets:
            yield Problem(self.source.label, None, "warning: the graph declares no outputs and no loss")
            return
        # Everything an output or the loss depends on: a walk back along the inputs (the ancestors).
        used = set(targets)
        stack = list(targets)
        while stack:
            node = self.nodes.get(stack.pop())
            if node is not None:
                for name in node.inputs:
                    if name not in used:
                        used.add(name)
                        stack.append(name)
        for id, place in self.places.items():
            if id not in used:
                what = (
                    "no output or loss depends on this node" if id in self.nodes else "this leaf is not used"
                )
                yield Problem(self.source.label, place, f"warning: {what}")


def promoted_to_float64(graph: CheckedGraph) -> CheckedGraph:
    """The same graph computed in float64: float32 leaves, and attributes asking for float32 results
    (``cast``, ``one_hot``), become float64. Gradient checks run on it, since centered differences in
    float32 carry errors of about 1e-3 even for ``a + b``."""
    spec = graph.spec
    leaves = [
        leaf.model_copy(update={"dtype": "float64"}) if leaf.dtype == "float32" else leaf
        for leaf in spec.leaves
    ]
    nodes = [
        node.model_copy(update={"attrs": {**node.attrs, "dtype": "float64"}})
        if node.attrs.get("dtype") == "float32"
        else node
        for node in spec.nodes
    ]
    twin = spec.model_copy(update={"leaves": leaves, "nodes": nodes})
    return check_graph(twin, graph.source)


def literal_value(value: Any, dtype: str) -> np.ndarray:
    """A JSON number or nested list as an array of ``dtype``, refusing what would change a value: an
    integer outside int64's range for an int64 leaf (numpy would make it uint64, a float or an object),
    and a number that overflows a float leaf's dtype (1e300 is inf as a float32)."""
    depth, item = 0, value
    while isinstance(item, list) and item:
        depth, item = depth + 1, item[0]
    if depth > MAX_LITERAL_DIMENSIONS:
        limit = MAX_LITERAL_DIMENSIONS
        raise SpecError(f"value: nested {depth} lists deep; a tensor has at most {limit} dimensions")
    try:
        array = np.array(value)
    except ValueError:
        raise SpecError("value: nested lists have rows of different lengths") from None
    if dtype == "bool":
        if array.dtype.kind != "b" and array.size:
            raise SpecError("value: a bool leaf's values must be true or false")
        return array.astype(np.bool_)
    if array.dtype.kind == "b" and array.size:
        raise SpecError(f"value: true and false are values of bool leaves; this leaf is {dtype}")
    if dtype == "int64":
        if array.dtype.kind != "i" and array.size:
            # uint64, float64 or object: a float, or an integer numpy could not hold as an int64.
            found = first_item(value, lambda x: not isinstance(x, int) or not INT64_MIN <= x <= INT64_MAX)
            if found is None or isinstance(found[1], bool) or not isinstance(found[1], int):
                raise SpecError("value: an int64 leaf's values must be integers")
            path, number = found
            raise SpecError(
                f"{format_path(('value', *path))}: {number} is out of the int64 range "
                f"({INT64_MIN} to {INT64_MAX})"
            )
        return array.astype(np.int64)
    if array.dtype == object:
        # Integers past uint64's range (numpy keeps them as Python ints): numbers a float leaf can hold.
        found = first_item(value, lambda x: isinstance(x, bool) or not isinstance(x, int | float))
        if found is not None:
            if isinstance(found[1], bool):
                raise SpecError(f"value: true and false are values of bool leaves; this leaf is {dtype}")
            raise SpecError("value: nested lists have rows of different lengths")
        try:
            array = np.array(value, dtype=np.float64)
        except OverflowError:
            path, number = first_item(value, lambda x: abs(x) > _FLOAT64_MAX) or ((), value)
            raise SpecError(
                f"{format_path(('value', *path))}: {number} is out of the float64 range"
            ) from None
    with np.errstate(over="ignore"):
        result = array.astype(dtype)
    if result.size and not np.isfinite(result).all():
        # Every number in a spec is finite (strict JSON), so an infinity here is an overflow.
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(result))[0])
        largest = np.format_float_scientific(np.finfo(result.dtype).max, unique=True, trim="-")
        raise SpecError(
            f"{format_path(('value', *index))}: {array[index].item()!r} overflows {dtype} "
            f"(its largest finite value is {largest})"
        )
    return result


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def first_item(value: Any, bad: Callable[[Any], bool]) -> tuple[tuple[int, ...], Any] | None:
    """The index and value of the first number of a nested list (in C order) for which ``bad`` holds.
    Walked iteratively (a literal may be deep), and only on the way to an error."""
    stack: list[tuple[tuple[int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, list):
            stack.extend(((*path, i), sub) for i, sub in reversed(list(enumerate(item))))
        elif bad(item):
            return path, item
    return None


class LeafValues(Mapping[str, "np.ndarray | None"]):
    """Leaf values by id. Initializers are deferred: each runs on first access and is kept."""

    def __init__(self) -> None:
        self._values: dict[str, np.ndarray | None] = {}
        self._deferred: dict[str, Callable[[], np.ndarray]] = {}

    def __setitem__(self, id: str, value: np.ndarray | None) -> None:
        self._values[id] = value

    def defer(self, id: str, make: Callable[[], np.ndarray]) -> None:
        self._deferred[id] = make

    def __getitem__(self, id: str) -> np.ndarray | None:
        if id in self._deferred:
            self._values[id] = self._deferred.pop(id)()
        return self._values[id]

    def __contains__(self, id: object) -> bool:  # without running a deferred initializer
        return id in self._values or id in self._deferred

    def __iter__(self) -> Iterator[str]:
        return iter({**self._values, **dict.fromkeys(self._deferred)})

    def __len__(self) -> int:
        return len(self._values.keys() | self._deferred.keys())


def check_initializer(
    leaf: LeafSpec, init: ZerosInit | OnesInit | NormalInit | UniformInit, max_elements: int
) -> None:
    """Everything that could make an initializer fail, checked without running it."""
    if leaf.shape is None or not all(isinstance(d, int) for d in leaf.shape):
        raise SpecError(f"value.init: an initializer needs a shape of integers, not {leaf.shape}")
    size = math.prod(leaf.shape)
    if size > max_elements:
        raise SpecError(
            f"value.init: shape {format_shape(leaf.shape)} has {size} elements, more than the "
            f"limit of {max_elements}"
        )
    if leaf.dtype in ("int64", "bool") and not isinstance(init, ZerosInit | OnesInit):
        raise SpecError(f"value.init: {init.init} initializes float leaves only")
    if isinstance(init, UniformInit) and not math.isfinite(init.high - init.low):
        raise SpecError("value.init: high - low is out of the float64 range")


def initial_value(leaf: LeafSpec, init: ZerosInit | OnesInit | NormalInit | UniformInit) -> np.ndarray:
    """The value an initializer gives; the random ones are deterministic given their seed."""
    if leaf.shape is None or not all(isinstance(d, int) for d in leaf.shape):
        raise SpecError(f"value.init: an initializer needs a shape of integers, not {leaf.shape}")
    shape = tuple(int(d) for d in leaf.shape)
    if isinstance(init, ZerosInit):
        return np.zeros(shape, dtype=leaf.dtype)
    if isinstance(init, OnesInit):
        return np.ones(shape, dtype=leaf.dtype)
    if leaf.dtype in ("int64", "bool"):
        raise SpecError(f"value.init: {init.init} initializes float leaves only")
    rng = np.random.default_rng(init.seed)
    if isinstance(init, NormalInit):
        return rng.normal(init.mean, init.std, size=shape).astype(leaf.dtype)
    return rng.uniform(init.low, init.high, size=shape).astype(leaf.dtype)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
