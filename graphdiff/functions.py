"""Functions that add nodes to a graph: ``gd.sigmoid(x)``, ``gd.matmul(X, W)``, ``gd.concat([a, b], axis=1)``.

There is one function per registered op, made here from the op's declaration (its inputs, optional and
variadic ones included, and its attribute model), so the registry is the only list of ops: an op added
to :mod:`graphdiff.ops` is a function here too, with the op's docstring and a real signature
(``inspect.signature``, ``help()`` and Jupyter show it).

The calling convention is numpy's: inputs first, then the attributes in their model's order, positional
or by keyword (``gd.sum(x, 1, keepdims=True)``); a variadic op takes its inputs as separate arguments or
as one list (``gd.concat([a, b], axis=0)``); ``id=`` names the new node (otherwise it gets a readable
default such as ``sigmoid_1``). Python numbers are accepted where a tensor is, and become constant leaves.
An attribute whose spec name is a Python keyword is spelled by its field name (``lam`` for ``lambda``).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Sequence
from typing import Any

from .api import Tensor
from .ops import REGISTRY, Op

Operand = Tensor | float


def _python_name(name: str, alias: str | None) -> str:
    """The keyword a builder takes for an attribute: its spec name unless that is a Python keyword."""
    if alias and alias.isidentifier() and not keyword.iskeyword(alias):
        return alias
    return name


def _builder(op: Op) -> Callable[..., Tensor]:
    """The function ``gd.<op.name>``: binds its arguments by the op's signature and applies the op."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params: list[inspect.Parameter] = []
    spec_names: dict[str, str] = {}  # python keyword -> attribute name in spec files
    fields = {_python_name(n, f.alias): (n, f) for n, f in op.Attrs.model_fields.items()}
    for name in op.leading_attrs:
        params.append(inspect.Parameter(name, positional, annotation=fields[name][1].annotation))
    least = op.arity[0]
    for index, name in enumerate(op.input_names):
        if op.variadic and index == len(op.input_names) - 1:
            params.append(inspect.Parameter(name, inspect.Parameter.VAR_POSITIONAL, annotation=Operand))
        elif index < least:
            params.append(inspect.Parameter(name, positional, annotation=Operand))
        else:
            params.append(inspect.Parameter(name, positional, default=None, annotation=Operand | None))
    attr_kind = inspect.Parameter.KEYWORD_ONLY if op.variadic else positional
    for python_name, (field_name, field) in fields.items():
        spec_names[python_name] = field.alias or field_name
        if python_name in op.leading_attrs:
            continue
        default = (
            inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        )
        params.append(inspect.Parameter(python_name, attr_kind, default=default, annotation=field.annotation))
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    params.append(inspect.Parameter("id", keyword_only, default=None, annotation=str | None))
    signature = inspect.Signature(params, return_annotation=Tensor)
    input_params = [p.name for p in params if p.annotation in (Operand, Operand | None)]

    def build(*args: Any, **kwargs: Any) -> Tensor:
        bound = signature.bind(*args, **kwargs)
        inputs: list[Any] = []
        attrs: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if name == "id":
                continue
            if name in input_params:
                if isinstance(value, tuple):  # the variadic input: f(a, b) or f([a, b])
                    if len(value) == 1 and isinstance(value[0], Sequence):
                        value = tuple(value[0])
                    inputs.extend(value)
                elif value is not None:
                    inputs.append(value)
            else:
                attrs[spec_names[name]] = value
        graph = next((t.graph for t in inputs if isinstance(t, Tensor)), None)
        if graph is None:
            raise TypeError(f"{op.name}: at least one input must be a graphdiff Tensor")
        return graph.apply(op.name, *inputs, id=bound.arguments.get("id"), **attrs)

    build.__name__ = build.__qualname__ = op.name
    build.__module__ = __name__
    build.__doc__ = f"{op.signature()}: add a ``{op.name}`` node.\n\n{inspect.getdoc(op) or ''}"
    build.__signature__ = signature  # type: ignore[attr-defined]
    return build


#: One builder per registered op, by op name.
BUILDERS: dict[str, Callable[..., Tensor]] = {name: _builder(op) for name, op in sorted(REGISTRY.items())}
globals().update(BUILDERS)

__all__ = sorted(BUILDERS)  # noqa: PLE0605 (built from the registry)
