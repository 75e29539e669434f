"""The graphdiff file format, version 1: pydantic models, the single source of truth.

The JSON Schema in ``schemas/`` is generated from these models (:func:`spec_json_schema`), including each
op's attribute model taken from the op registry, so editors can validate and autocomplete spec files.

A spec is data only. It says what the graph is; checking that it makes sense (references, cycles, shapes)
is the job of :mod:`graphdiff.graph`, and nothing here computes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    TypeAdapter,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from typing_extensions import TypeAliasType

from ..errors import SAFE_NAME_PATTERN
from ..ops import REGISTRY

#: The format version this graphdiff writes and the newest it reads.
FORMAT_VERSION = 1
SCHEMA_ID = "https://graphdiff.dev/schemas/graphdiff-v1.schema.json"


class SpecModel(BaseModel):
    """Base of the file-format models: strict types, unknown fields refused, finite numbers only."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


#: Names (ids, groups, the graph's name, array paths and keys) are shown on terminals and in diagrams: no
#: control characters (C0, DEL, C1), no bidirectional formatting, no line separators, no invisible
#: formatting characters (graphdiff.errors.UNSAFE_CHARACTERS). Descriptions are prose and may hold any
#: text (newlines, and the bidirectional marks right-to-left text needs); graphdiff never prints them raw.
NAME_PATTERN = SAFE_NAME_PATTERN

Id = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=NAME_PATTERN,
        description="A unique name for a leaf or node (no control, bidirectional-formatting or invisible "
        "characters).",
    ),
]
Symbol = Annotated[
    str,
    Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="A symbolic dimension such as N (batch size)."),
]
Dim = Annotated[StrictInt, Field(ge=0)] | Symbol
Group = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=NAME_PATTERN,
        description="The cluster diagrams draw this in; '/' nests clusters (layer1/gate). Without it, the "
        "id's prefix up to its last '/' is the cluster.",
    ),
]
# Booleans are for bool leaves (masks, conditions); graph.literal_value refuses them elsewhere.
Number = StrictBool | StrictInt | StrictFloat
ArrayLiteral = TypeAliasType("ArrayLiteral", "Number | list[ArrayLiteral]")  # type: ignore[misc]


class ZerosInit(SpecModel):
    """All zeros."""

    init: Literal["zeros"]


class OnesInit(SpecModel):
    """All ones."""

    init: Literal["ones"]


class NormalInit(SpecModel):
    """Normal(mean, std) samples from numpy's default generator seeded with ``seed`` (deterministic)."""

    init: Literal["normal"]
    mean: float = 0.0
    std: float = Field(ge=0)
    seed: int = Field(ge=0)


class UniformInit(SpecModel):
    """Uniform samples in [low, high) from numpy's default generator seeded with ``seed`` (deterministic)."""

    init: Literal["uniform"]
    low: float
    high: float
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> UniformInit:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


Initializer = Annotated[ZerosInit | OnesInit | NormalInit | UniformInit, Field(discriminator="init")]


class ArrayFile(SpecModel):
    """An array stored beside the spec: a ``.npy`` file, or one array (``key``) of a ``.npz`` file.

    The path is relative to the spec's folder and must stay inside it.
    """

    file: str = Field(min_length=1, max_length=1024, pattern=NAME_PATTERN)
    key: str | None = Field(
        default=None, min_length=1, pattern=NAME_PATTERN, description="The array's name inside a .npz file."
    )


# The union's tags appear in pydantic's error locations; they are named so as never to collide with a key
# of the value objects, so an error's JSON path can be told apart from the tags.
LITERAL_TAG, INIT_TAG, FILE_TAG = "<literal>", "<initializer>", "<array file>"


def value_kind(value: Any) -> str | None:
    """Which kind of leaf value this is: LITERAL_TAG, INIT_TAG or FILE_TAG (None when it is none)."""
    if isinstance(value, dict):
        return FILE_TAG if "file" in value else INIT_TAG if "init" in value else None
    if isinstance(value, ArrayFile):
        return FILE_TAG
    if isinstance(value, BaseModel):
        return INIT_TAG
    return LITERAL_TAG


LeafValue = Annotated[
    Annotated[ArrayLiteral, Tag(LITERAL_TAG)]
    | Annotated[Initializer, Tag(INIT_TAG)]
    | Annotated[ArrayFile, Tag(FILE_TAG)],
    Discriminator(
        value_kind,
        custom_error_type="leaf_value",
        custom_error_message='a value is a number, a nested list, {"init": ...} or {"file": ...}',
    ),
]

LeafKind = Literal["input", "parameter", "constant"]
DType = Literal["float64", "float32", "int64", "bool"]


class LeafSpec(SpecModel):
    """A leaf of the graph: an input (fed at run time), a parameter (trainable) or a constant."""

    id: Id
    kind: LeafKind
    dtype: DType = "float64"
    shape: list[Dim] | None = Field(
        default=None,
        max_length=64,
        description="Dimensions (ints, or symbols such as N for inputs). May be left out when the value is "
        "a literal, whose shape it then is.",
    )
    value: LeafValue | None = Field(
        default=None, description="Required for parameters and constants; an input's default value."
    )
    description: str | None = None
    group: Group | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LeafSpec:
        if self.kind != "input" and self.value is None:
            raise ValueError(f"a {self.kind} needs a value")
        if self.shape is None and not (self.value is None or value_kind(self.value) == LITERAL_TAG):
            raise ValueError("shape is required when the value is an initializer or a file")
        if self.shape is None and self.value is None:
            raise ValueError("an input without a default value needs a shape")
        if self.kind != "input" and self.shape and any(isinstance(d, str) for d in self.shape):
            raise ValueError(f"only inputs may have symbolic dimensions; a {self.kind}'s shape is fixed")
        return self


class NodeSpec(SpecModel):
    """One primitive op applied to named inputs (ids of leaves or nodes)."""

    id: Id
    op: str = Field(description="The op's name in graphdiff's op registry.")
    inputs: list[Id] = Field(description="Ids of the op's inputs, in the op's order.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="Attributes, checked by the op's model.")
    description: str | None = None
    group: Group | None = None


class GraphSpec(SpecModel):
    """A whole graph: leaves, nodes, outputs and the loss."""

    schema_: str | None = Field(default=None, alias="$schema", description="Where the JSON Schema is.")
    format_version: int = Field(ge=1, description="The version of the graphdiff file format.")
    name: str = Field(min_length=1, max_length=256, pattern=NAME_PATTERN)
    description: str | None = None
    leaves: list[LeafSpec] = Field(default_factory=list)
    nodes: list[NodeSpec] = Field(default_factory=list)
    outputs: list[Id] = Field(default_factory=list, description="Ids printed by `graphdiff run`.")
    loss: Id | None = Field(default=None, description="The scalar node (or leaf) to differentiate.")


#: Every field name a spec object may have, for "did you mean" suggestions on unknown fields.
SPEC_FIELD_NAMES: tuple[str, ...] = tuple(
    sorted(
        {
            field.alias or name
            for model in (GraphSpec, LeafSpec, NodeSpec, ArrayFile, ZerosInit, NormalInit, UniformInit)
            for name, field in model.model_fields.items()
        }
    )
)


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of the format, with every registered op and its attributes (via if/then)."""
    schema = GraphSpec.model_json_schema(schema_generator=GenerateJsonSchema, mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
    schema["title"] = f"graphdiff graph spec, format version {FORMAT_VERSION}"
    schema["properties"]["format_version"]["const"] = FORMAT_VERSION
    node = schema["$defs"]["NodeSpec"]
    node["properties"]["op"]["enum"] = sorted(REGISTRY)
    node["allOf"] = [
        {
            "if": {"properties": {"op": {"const": name}}, "required": ["op"]},
            "then": {
                "properties": {
                    "inputs": _arity_schema(op.arity),
                    "attrs": TypeAdapter(op.Attrs).json_schema(mode="validation", by_alias=True),
                },
                "description": f"inputs: {op.signature()}",
            },
        }
        for name, op in sorted(REGISTRY.items())
    ]
    return schema


def _arity_schema(arity: tuple[int, int | None]) -> dict[str, int]:
    least, most = arity
    return {"minItems": least} if most is None else {"minItems": least, "maxItems": most}
