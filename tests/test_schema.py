"""The JSON Schema: the checked-in file is the generated one, every example and fixture validates against
it, and it knows every op and each op's attributes (so editors flag mistakes before graphdiff runs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import circuit_spec, classifier_spec, log_spec, scalar_circuit_spec

import graphdiff as gd
from graphdiff.examples import cs231n_circuit
from graphdiff.spec import dump_spec

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "graphdiff-v1.schema.json"
SPEC_FILES = sorted((ROOT / "examples").glob("*.json")) + sorted((ROOT / "tests" / "fixtures").glob("*.json"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = gd.spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, spec: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(spec)]


def test_checked_in_schema_is_the_generated_schema():
    checked_in = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert checked_in == gd.spec_json_schema(), (
        "schemas/graphdiff-v1.schema.json is out of date: run "
        "`graphdiff schema -o schemas/graphdiff-v1.schema.json` and commit the result"
    )


def test_schema_lists_every_registered_op():
    schema = gd.spec_json_schema()
    assert schema["$defs"]["NodeSpec"]["properties"]["op"]["enum"] == sorted(gd.OPS)
    assert schema["properties"]["format_version"]["const"] == gd.FORMAT_VERSION


@pytest.mark.parametrize("path", SPEC_FILES, ids=[f"{p.parent.name}/{p.name}" for p in SPEC_FILES])
def test_example_and_fixture_files_validate_against_the_schema(path, validator):
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert errors(validator, spec) == []


def generated_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("demo", json.loads(dump_spec(cs231n_circuit().spec))),
        ("circuit", circuit_spec()),
        ("scalar-circuit", scalar_circuit_spec()),
        ("classifier", classifier_spec()),
        ("logs", log_spec()),
    ]


@pytest.mark.parametrize(("name", "spec"), generated_specs(), ids=[n for n, _ in generated_specs()])
def test_valid_specs_validate_against_the_schema_and_load(name, spec, validator):
    assert errors(validator, spec) == []
    gd.loads(json.dumps(spec))  # and graphdiff agrees


def with_node(change: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(circuit_spec())
    spec["nodes"][2].update(change)  # node "L" = sum(f)
    return spec


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"op": "ad"}, "nodes/2/op"),
        ({"op": "os.system"}, "nodes/2/op"),
        ({"attrs": {"axis": "x"}}, "nodes/2/attrs/axis"),
        ({"attrs": {"axs": 0}}, "nodes/2/attrs"),
        ({"attrs": {"keepdims": 1}}, "nodes/2/attrs/keepdims"),
        ({"inputs": ["f", "f"]}, "nodes/2/inputs"),
        ({"imputs": ["f"]}, "nodes/2"),
    ],
    ids=["unknown-op", "hostile-op", "axis-string", "unknown-attr", "keepdims-int", "arity", "unknown-field"],
)
def test_schema_refuses_what_graphdiff_refuses(change, path, validator):
    spec = with_node(change)
    found = errors(validator, spec)
    assert found, f"the schema accepted {change}"
    assert any(message.startswith(f"{path}:") for message in found), found
    with pytest.raises(gd.SpecError):
        gd.loads(json.dumps(spec))


@pytest.mark.parametrize(
    ("spec_change", "path"),
    [
        (lambda s: s.update(format_version=2), "format_version"),
        (lambda s: s["leaves"][0].update(kind="variable"), "leaves/0/kind"),
        (lambda s: s["leaves"][0].update(dtype="complex128"), "leaves/0/dtype"),
        (lambda s: s.pop("name"), ""),
    ],
    ids=["newer-version", "bad-kind", "bad-dtype", "missing-name"],
)
def test_schema_refuses_bad_top_level_and_leaf_fields(spec_change, path, validator):
    spec = copy.deepcopy(circuit_spec())
    spec_change(spec)
    found = errors(validator, spec)
    assert any(message.startswith(f"{path}:") for message in found), found
