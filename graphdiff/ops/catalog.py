"""The op catalogue, made from the registry: what ``graphdiff ops`` prints, README's op table, and the
losses ``graphdiff import --loss`` can append.

Nothing here lists ops by hand: an op registered in its family module appears in each.
"""

from __future__ import annotations

import inspect

from .base import REGISTRY, Op

#: The order families are listed in; a family not named here comes after these, alphabetically.
FAMILY_ORDER = (
    "elementwise",
    "comparison and selection",
    "reductions",
    "softmax",
    "linear algebra",
    "shape",
    "indexing",
    "convolution",
    "normalization",
    "losses",
)


def ops_by_family() -> dict[str, list[Op]]:
    """Every registered op, grouped by family (in :data:`FAMILY_ORDER`), by name within a family."""
    families: dict[str, list[Op]] = {}
    for name in sorted(REGISTRY):
        families.setdefault(REGISTRY[name].family, []).append(REGISTRY[name])
    known = [f for f in FAMILY_ORDER if f in families]
    return {family: families[family] for family in known + sorted(families.keys() - set(known))}


def loss_ops() -> list[str]:
    """The losses ``--loss`` can append to an imported model (:func:`graphdiff.onnxio.loss.append_loss`):
    registered losses of a prediction and its labels or target."""
    return sorted(name for name, op in REGISTRY.items() if op.family == "losses" and op.arity == (2, 2))


def attribute_list(op: Op) -> str:
    """``axis=None, keepdims=False``; a required attribute without a default: ``subscripts``."""
    return ", ".join(
        f"{field.alias or key}" if field.is_required() else f"{field.alias or key}={field.default!r}"
        for key, field in op.Attrs.model_fields.items()
    )


def summary(op: Op) -> str:
    """The first paragraph of the op's docstring, on one line."""
    return " ".join((inspect.getdoc(op) or "").split("\n\n")[0].split())


def markdown_table() -> str:
    """README's op table: one row per op, grouped by family."""
    lines = ["| family | op | attributes (defaults) |", "| --- | --- | --- |"]
    for family, ops in ops_by_family().items():
        for index, op in enumerate(ops):
            attrs = attribute_list(op).replace("|", "\\|")
            lines.append(f"| {family if index == 0 else ''} | `{op.signature()}` | {attrs} |")
    return "\n".join(lines) + "\n"
