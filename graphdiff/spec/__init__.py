"""The graphdiff file format: models (data only), strict parsing, migration, array files, load and save."""

from .arrays import DEFAULT_MAX_ELEMENTS, read_array, resolve_inside
from .io import SpecSource, dump_spec, parse_spec, read_spec, write_spec
from .models import (
    FORMAT_VERSION,
    ArrayFile,
    GraphSpec,
    LeafSpec,
    NodeSpec,
    NormalInit,
    OnesInit,
    UniformInit,
    ZerosInit,
    spec_json_schema,
)
from .problems import describe_place

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "FORMAT_VERSION",
    "ArrayFile",
    "GraphSpec",
    "LeafSpec",
    "NodeSpec",
    "NormalInit",
    "OnesInit",
    "SpecSource",
    "UniformInit",
    "ZerosInit",
    "describe_place",
    "dump_spec",
    "parse_spec",
    "read_array",
    "read_spec",
    "resolve_inside",
    "spec_json_schema",
    "write_spec",
]
