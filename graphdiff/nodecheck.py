"""Checking one node: its op, its number of inputs, its attributes, its inputs' names and its result type.

The file checker (:mod:`graphdiff.graph`) and the Python builder (:meth:`graphdiff.Graph.apply`) check
nodes here and nowhere else, so a node gets the same messages whichever way it was written. Each returns
or raises messages without a place; the caller adds it: the checker collects them at the node's place in
the file (``nodes[1] "f": add takes 2 inputs (a, b), got 1``), the builder raises them at once, naming the
node (``node "f": add takes 2 inputs (a, b), got 1``).

A node is checked in two steps, because the checker can give types only once the whole graph is known to
be sound (references resolved, no cycle): :func:`check_node` (op, inputs, attributes), then
:func:`infer_type` (shapes and dtypes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .errors import ShapeError, did_you_mean
from .ops import REGISTRY, Attrs, Op, TensorType
from .spec.arrays import shape_size_problem
from .spec.problems import attrs_vocabulary, validation_messages
from .spec.strict_json import format_path


@dataclass(frozen=True)
class NodeCheck:
    """What :func:`check_node` found: the op and the validated attributes (None where they failed)."""

    op: Op | None
    attrs: Attrs | None
    problems: tuple[str, ...]


def check_node(
    op_name: str, attrs: Mapping[str, Any], input_count: int, *, defaults: dict[Op, Attrs] | None = None
) -> NodeCheck:
    """Check a node's op, number of inputs and attributes. An unknown op is the only problem reported
    (nothing else can be checked without it); otherwise the arity's problem and every attribute's.

    ``defaults`` caches each op's validated empty attributes: most nodes set none, and a large graph
    then validates them once per op, not once per node."""
    op = REGISTRY.get(op_name)
    if op is None:
        return NodeCheck(None, None, (f"unknown op {_quote(op_name)}{guess(op_name, REGISTRY)}",))
    problems = []
    arity_problem = op.arity_problem(input_count)
    if arity_problem is not None:
        problems.append(arity_problem)
    if not attrs and defaults is not None and op in defaults:
        return NodeCheck(op, defaults[op], tuple(problems))
    try:
        parsed: Attrs | None = op.Attrs.model_validate(attrs)
    except ValidationError as exc:
        parsed = None
        problems += attrs_problems(op, attrs, exc)
    if not attrs and defaults is not None and parsed is not None:
        defaults[op] = parsed
    return NodeCheck(op, parsed, tuple(problems))


def attrs_problems(op: Op, attrs: Mapping[str, Any], exc: ValidationError) -> list[str]:
    """``op``'s attribute errors as ``attrs.axis: ...`` messages (an unknown name with a guess)."""
    names = [field.alias or name for name, field in op.Attrs.model_fields.items()]
    messages = validation_messages(exc, dict(attrs), attrs_vocabulary(op.name, names))
    return [f"{format_path(('attrs', *path))}: {message}" for path, message in messages]


def undefined_input(name: str, known: Iterable[str], *, with_guess: bool = True) -> str:
    """The problem of a node input naming no leaf or node (a guess costs a pass over ``known``)."""
    return f"input {_quote(name)} is not defined{guess(name, known) if with_guess else ''}"


def infer_type(op: Op, attrs: Attrs, inputs: Sequence[TensorType]) -> TensorType:
    """``op``'s result type for these input types; raises :class:`ShapeError` when they do not fit, or for
    a result no numpy array can have: a reshape, broadcast_to, pad or one_hot to ``(2**70, 0)`` holds
    nothing, but numpy refuses the shape, so the graph would check and then fail when run."""
    out = op.infer(attrs, *inputs)
    problem = shape_size_problem(out.shape)
    if problem is not None:
        raise ShapeError(f"{op.name}: the result's shape {problem}")
    return out


def guess(name: str, known: Iterable[str]) -> str:
    """``'; did you mean "add"?'`` to end a message about a misspelt ``name``, or ``""``."""
    hint = did_you_mean(name, known)
    return f"; {hint}" if hint else ""


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
