"""Fuzzing the spec loader: whatever the bytes, loading succeeds or raises graphdiff's own error, without
hanging or allocating much more than the input's size.

Every load here goes through :func:`measure`, which times it (``time.perf_counter``), records its peak
allocation (``tracemalloc``) and then checks (:func:`check`):

- the only exception that escapes is a :class:`graphdiff.GraphdiffError` (or a subclass), or none;
- the load did not hang (one still running after ``HANG_SECONDS`` is interrupted and reported as a hang;
  that timeout only stops a runaway load: how long loads take is reported, never asserted, since the
  suite asserts no wall-clock time);
- the peak allocation stayed under ``ALLOCATION_FACTOR`` times the size of the files read plus
  ``ALLOCATION_SLACK`` (and, as a safety net, the process may not grow by more than ``ADDRESS_SPACE_CAP``
  during a load, so a runaway allocation fails fast instead of swapping).

The inputs:

1. specs generated from graphdiff's own JSON Schema (``schemas/graphdiff-v1.schema.json``) with
   hypothesis-jsonschema, sometimes with their ids folded onto a few names so references resolve and the
   graph checks run deep; loaded from text (``gd.loads``) and from disk (``gd.load``);
2. the valid example specs (``examples/*.json``, ``tests/fixtures/format_v1.json``) mutated: fields deleted,
   types swapped, keys duplicated, NaN/Infinity/1e400 and 5000-digit numbers, dangling references, cycles
   and self-loops, 100,000 levels of nesting, huge declared shapes, hostile array-file paths, random bytes,
   invalid UTF-8, byte-order marks, truncation;
3. ``.npy`` files with mutated headers (magic, version, header length, ``descr``, ``fortran_order``,
   ``shape``), truncated, with junk appended, and ``.npz`` archives with mutated members and zip fields.

The CI profile runs ``fuzz_settings.CI_EXAMPLES`` derandomized examples per fuzz test; see
``tests/fuzz_settings.py`` for the long run (``GRAPHDIFF_FUZZ_EXAMPLES``) and the figures it reports.

An open bug the fuzzers found is listed in ``KNOWN_BUGS`` (so the fuzz tests, which meet it again and
again, count it instead of failing; ``GRAPHDIFF_FUZZ_STRICT=1`` makes them fail on it) and has a minimal
regression test at the end, marked ``xfail(strict=True)``: when the bug is fixed, that test passes, the
strict xfail fails, and the test joins ``FIXED_FINDINGS`` while its ``KNOWN_BUGS`` entry goes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import resource
import signal
import struct
import sys
import time
import traceback
import tracemalloc
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fuzz_settings
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import graphdiff as gd

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "graphdiff-v1.schema.json"
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLE_SPECS = sorted((ROOT / "examples").glob("*.json")) + [FIXTURES / "format_v1.json"]
GRAPHDIFF_DIR = Path(gd.__file__).resolve().parent

#: When a load is interrupted as hung (a runaway, far beyond any real load's time).
HANG_SECONDS = 6.0
#: The allocation bound of one load: this many times the bytes of the files it reads, plus this much.
ALLOCATION_FACTOR = 50
ALLOCATION_SLACK = 5 * 1024 * 1024
#: How much the process's address space may grow during one load before allocations fail.
ADDRESS_SPACE_CAP = 4 * 1024**3

FUZZ = fuzz_settings.fuzz_profile()


# --- measuring one load --------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised into a load that ran past ``HANG_SECONDS`` (a BaseException, so no ``except Exception``
    inside graphdiff can swallow it)."""


class LoaderBug(AssertionError):
    """A load broke the contract: a foreign exception escaped, it hung, or it was too slow or too hungry."""


@dataclass
class Outcome:
    """What one load did."""

    error: BaseException | None
    seconds: float
    peak: int
    size: int
    what: str

    @property
    def allocation_bound(self) -> int:
        return ALLOCATION_FACTOR * self.size + ALLOCATION_SLACK


def _virtual_memory_size() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Guards:
    """An alarm that interrupts a hung load and a cap on the address space, both restored afterwards."""

    def __enter__(self) -> _Guards:
        self.alarm = hasattr(signal, "setitimer")
        if self.alarm:
            self.old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        self.old_limit = None
        vm = _virtual_memory_size()
        if vm is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = vm + ADDRESS_SPACE_CAP
            if (soft == resource.RLIM_INFINITY or soft > cap) and (
                hard == resource.RLIM_INFINITY or hard > cap
            ):
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
                self.old_limit = (soft, hard)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old_handler)
        if self.old_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, self.old_limit)

    @staticmethod
    def _on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"the load was still running after {HANG_SECONDS} s")


def measure(load: Callable[[], object], *, size: int, what: str) -> Outcome:
    """Run ``load`` once, timed, under tracemalloc and the guards; return what happened (never raises,
    except KeyboardInterrupt)."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    error: BaseException | None = None
    try:
        with _Guards(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's overflow warnings and the like are not the point here
            start = time.perf_counter()
            try:
                load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - classifying every escape is the point
                error = exc
            seconds = time.perf_counter() - start
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
    return Outcome(error, seconds, peak, size, what)


# --- what counts as a known bug --------------------------------------------------------------------------


def escaped_from(error: BaseException) -> str:
    """``module:function`` of the innermost graphdiff frame the exception passed through."""
    where = "?"
    for frame, _ in traceback.walk_tb(error.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(GRAPHDIFF_DIR):
            where = f"{path.stem}:{frame.f_code.co_name}"
    return where


def type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True)
class Evidence:
    """The inputs of a load, for telling which known bug (if any) a failure is."""

    spec: bytes | None = None
    archive: bytes | None = None


@dataclass(frozen=True)
class KnownBug:
    """An open bug the fuzzers found; each has a minimal, strictly xfailed regression test below.

    ``escape`` recognizes a foreign exception that escaped (check its type, :func:`escaped_from`, its
    message); ``blowup`` a load over its time or allocation bound, from the inputs.
    """

    name: str
    summary: str
    escape: Callable[[BaseException, Evidence], bool] | None = None
    blowup: Callable[[Outcome, Evidence], bool] | None = None


#: Open bugs (none at the moment: the ones found so far are fixed, see the regressions at the end).
KNOWN_BUGS: tuple[KnownBug, ...] = ()


# --- counting -------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one fuzz test saw."""

    examples: int = 0
    successes: int = 0
    graphdiff_errors: int = 0
    foreign_exceptions: int = 0
    known_bugs: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    largest_peak: int = 0
    largest_peak_ratio: float = 0.0


FIGURES: dict[str, Figures] = {}


def figures(name: str) -> Figures:
    return FIGURES.setdefault(name, Figures())


def check(outcome: Outcome, stats: Figures | None = None, evidence: Evidence = Evidence()) -> None:
    """Raise :class:`LoaderBug` if the load broke the contract (known bugs are counted instead, unless
    ``stats`` is None (a regression test) or ``GRAPHDIFF_FUZZ_STRICT`` is set)."""
    tolerate = stats is not None and not fuzz_settings.strict()
    if stats is not None:
        stats.examples += 1
        stats.slowest = max(stats.slowest, outcome.seconds)
        stats.largest_peak = max(stats.largest_peak, outcome.peak)
        stats.largest_peak_ratio = max(stats.largest_peak_ratio, outcome.peak / max(outcome.size, 1))
    error = outcome.error
    if error is not None and not isinstance(error, gd.GraphdiffError | Hang):
        bug = next((b for b in KNOWN_BUGS if b.escape and b.escape(error, evidence)), None)
        if bug is not None and tolerate:
            stats.known_bugs[bug.name] += 1
            return
        if stats is not None:
            stats.foreign_exceptions += 1
        trace = "".join(traceback.format_exception(error))
        raise LoaderBug(
            f"{outcome.what}: {type_name(error)} escaped from {escaped_from(error)}: {error}\n{trace}"
        )
    if isinstance(error, gd.GraphdiffError):
        str(error)  # every problem must format
        assert error.problems and all(isinstance(p.message, str) for p in error.problems)
    problems = []
    if isinstance(error, Hang):
        problems.append(f"hung (interrupted after {HANG_SECONDS} s)")
    if outcome.peak >= outcome.allocation_bound:
        problems.append(
            f"allocated {outcome.peak} bytes at peak for {outcome.size} bytes of input "
            f"(bound {outcome.allocation_bound})"
        )
    if problems:
        bug = next((b for b in KNOWN_BUGS if b.blowup and b.blowup(outcome, evidence)), None)
        if bug is not None and tolerate:
            stats.known_bugs[bug.name] += 1
            return
        raise LoaderBug(f"{outcome.what}: " + "; ".join(problems))
    if stats is not None:
        if error is None:
            stats.successes += 1
        else:
            stats.graphdiff_errors += 1


@pytest.fixture(scope="module", autouse=True)
def report_figures(request) -> Iterator[None]:
    """With ``GRAPHDIFF_FUZZ_REPORT`` set, print (``-``) or write (a path, as JSON) the fuzz figures."""
    started = time.perf_counter()
    yield
    target = os.environ.get(fuzz_settings.REPORT_VARIABLE, "").strip()
    if not target:
        return
    elapsed = time.perf_counter() - started
    table = {
        name: {
            "examples": f.examples,
            "successes": f.successes,
            "graphdiff_errors": f.graphdiff_errors,
            "foreign_exceptions": f.foreign_exceptions,
            "known_bug_examples": dict(f.known_bugs),
            "slowest_load_s": round(f.slowest, 4),
            "largest_peak_bytes": f.largest_peak,
            "largest_peak_per_input_byte": round(f.largest_peak_ratio, 1),
        }
        for name, f in FIGURES.items()
    }
    summary = {"profile": fuzz_settings.profile_name(), "seconds": round(elapsed, 1), "tests": table}
    if target == "-":
        lines = [f"loader fuzz figures ({summary['profile']}, {summary['seconds']} s):"]
        lines += [
            f"  {name}: " + ", ".join(f"{k}={v}" for k, v in row.items()) for name, row in table.items()
        ]
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print("\n" + "\n".join(lines), file=sys.stderr, flush=True)
    else:
        Path(target).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


# --- folders the loads read from --------------------------------------------------------------------------


def huge_npy_bytes(shape: tuple[int, ...]) -> bytes:
    """A .npy whose header declares ``shape`` float64 and which holds no data."""
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': " + repr(shape) + ", }").ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


def make_folder(folder: Path) -> Path:
    """A spec folder with real array files (the fixture's, plus a few), a subfolder, a symlink, a FIFO."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("w_v1.npy", "data_v1.npz"):
        (folder / name).write_bytes((FIXTURES / name).read_bytes())  # copies: one hard link each
    np.save(folder / "a.npy", np.arange(3.0))
    np.save(folder / "m.npy", np.arange(6.0).reshape(2, 3))
    np.save(folder / "labels.npy", np.array([0, 1, 2]))
    np.savez(folder / "b.npz", x=np.arange(3.0), y=np.array([0, 1, 2]))
    (folder / "huge.npy").write_bytes(huge_npy_bytes((10**12,)))
    (folder / "sub").mkdir(exist_ok=True)
    np.save(folder / "sub" / "c.npy", np.ones(3))
    if not (folder / "link.npy").is_symlink():
        os.symlink(folder / "a.npy", folder / "link.npy")
    if hasattr(os, "mkfifo") and not (folder / "fifo.npy").exists():
        os.mkfifo(folder / "fifo.npy")
    return folder


def folder_bytes(folder: Path, but: str = "") -> int:
    """The bytes of the regular files in ``folder`` but ``but`` (what a load may read beside its spec)."""
    files = (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.name != but)
    return sum(p.stat().st_size for p in files)


@pytest.fixture(scope="module")
def spec_folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("fuzz-specs"))


ARRAY_FILE_NAMES = ["a.npy", "m.npy", "labels.npy", "w_v1.npy", "huge.npy", "sub/c.npy", "missing.npy"]
NPZ_REFERENCES = [("b.npz", "x"), ("b.npz", "y"), ("data_v1.npz", "X"), ("data_v1.npz", "y"), ("b.npz", "z")]


def load_spec_bytes(
    data: bytes, folder: Path, *, via: str, max_elements: int | None, name: str = "spec.json"
) -> Outcome:
    """Load spec ``data`` from ``folder`` with ``gd.load`` (written to disk) or ``gd.loads``."""
    size = len(data) + folder_bytes(folder, but=name)
    if via == "load":
        path = folder / name
        path.write_bytes(data)
        kwargs = {} if max_elements is None else {"max_elements": max_elements}
        return measure(lambda: gd.load(path, **kwargs), size=size, what=f"gd.load({name}, {kwargs})")
    return measure(lambda: gd.loads(data, folder=folder), size=size, what="gd.loads(bytes, folder=...)")


# --- 1. specs generated from the JSON Schema ---------------------------------------------------------------

#: hypothesis-jsonschema cannot generate recursive references: tensor literals are unrolled this deep
#: (deeper literals are the mutation fuzzer's job).
LITERAL_DEPTH = 3


def _literal_schema(depth: int) -> dict[str, Any]:
    scalars: list[dict[str, Any]] = [{"type": "integer"}, {"type": "number"}]
    if depth == 0:
        return {"anyOf": scalars}
    return {"anyOf": [*scalars, {"type": "array", "items": _literal_schema(depth - 1), "maxItems": 4}]}


class SchemaStrategies:
    """Hypothesis strategies for graphdiff's JSON Schema, compiled piecewise.

    Handing the whole schema to ``from_schema`` works but is very slow (the per-op ``if``/``then`` rules
    of ``NodeSpec`` make every draw re-canonicalise the object schemas: ~0.7 s an example). So objects with
    ``additionalProperties: false`` become ``fixed_dictionaries`` (required and optional keys as the schema
    says), the ``allOf`` of ``if op == X then ...`` becomes one branch per op (its ``then`` merged into the
    properties: an exact rewrite, as the ops' conditions exclude each other), arrays of objects become
    lists, and every other subschema (strings with patterns, shapes, leaf values...) goes to ``from_schema``.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs = schema["$defs"]
        self.spec = self.compile(schema)

    def inline(self, node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref == "#/$defs/ArrayLiteral":
                return _literal_schema(LITERAL_DEPTH)
            if ref is not None:
                return self.inline(self.defs[ref.rsplit("/", 1)[1]])
            return {k: self.inline(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [self.inline(v) for v in node]
        return node

    def compile(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        ref = schema.get("$ref")
        if ref is not None and ref != "#/$defs/ArrayLiteral":
            return self.compile(self.defs[ref.rsplit("/", 1)[1]])
        rules = schema.get("allOf")
        if rules and all(set(rule) >= {"if", "then"} for rule in rules):
            base = {k: v for k, v in schema.items() if k != "allOf"}
            branches = []
            for rule in rules:
                branch = {**base, "properties": dict(base["properties"])}
                branch["properties"].update(rule["if"]["properties"])
                for key, extra in rule["then"].get("properties", {}).items():
                    branch["properties"][key] = {**branch["properties"].get(key, {}), **extra}
                branches.append(self.compile(branch))
            return st.one_of(branches)
        if schema.get("type") == "object" and schema.get("additionalProperties") is False:
            properties = schema.get("properties", {})
            required = set(schema.get("required", ()))
            return st.fixed_dictionaries(
                {k: self.compile(v) for k, v in properties.items() if k in required},
                optional={k: self.compile(v) for k, v in properties.items() if k not in required},
            )
        if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            return st.lists(self.compile(schema["items"]), max_size=6)
        return from_schema(self.inline(schema))


SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
SCHEMA_SPECS = SchemaStrategies(SCHEMA).spec
ID_POOL = ["x", "y", "W", "h", "L"]


def fold_ids(data: st.DataObject, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every id and reference replaced by one of a few names (drawn per distinct name), and
    array-file paths by files that exist, so references resolve and the deeper checks run."""
    names: dict[str, str] = {}

    def fold(name: Any) -> Any:
        if not isinstance(name, str):
            return name
        if name not in names:
            names[name] = data.draw(st.sampled_from(ID_POOL), label=f"id for {name!r}")
        return names[name]

    spec = copy.deepcopy(spec)
    for leaf in spec.get("leaves", []):
        leaf["id"] = fold(leaf["id"])
        value = leaf.get("value")
        if isinstance(value, dict) and "file" in value:
            if value.get("key") is None:
                value["file"] = data.draw(st.sampled_from(ARRAY_FILE_NAMES), label="npy")
            else:
                value["file"], value["key"] = data.draw(st.sampled_from(NPZ_REFERENCES), label="npz")
    for node in spec.get("nodes", []):
        node["id"] = fold(node["id"])
        node["inputs"] = [fold(name) for name in node["inputs"]]
    if "outputs" in spec:
        spec["outputs"] = [fold(name) for name in spec["outputs"]]
    if spec.get("loss") is not None:
        spec["loss"] = fold(spec["loss"])
    return spec


def encode_spec(data: st.DataObject, spec: dict[str, Any]) -> bytes:
    if data.draw(st.booleans(), label="ascii"):
        return json.dumps(spec).encode("ascii")
    return json.dumps(spec, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")


def test_the_schema_strategy_generates_specs_the_schema_accepts():
    """The piecewise compilation of the schema is faithful: what it generates validates against it."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    seen = []

    @settings(FUZZ, max_examples=15, derandomize=True)
    @given(SCHEMA_SPECS)
    def collect(spec):
        seen.append(spec)

    collect()
    assert seen
    for spec in seen:
        errors = list(validator.iter_errors(spec))
        assert not errors, (spec, errors[0].message)


@FUZZ
@given(data=st.data())
def test_specs_generated_from_the_schema_load_or_raise_graphdiff_errors(data, spec_folder):
    spec = data.draw(SCHEMA_SPECS, label="spec")
    if data.draw(st.booleans(), label="fold ids"):
        spec = fold_ids(data, spec)
    text = encode_spec(data, spec)
    check(
        measure(lambda: gd.loads(text), size=len(text), what="gd.loads(text)"),
        figures("schema specs (gd.loads)"),
        Evidence(spec=text),
    )
    if data.draw(st.booleans(), label="also from disk"):
        via = data.draw(st.sampled_from(["load", "loads"]), label="via")
        max_elements = data.draw(st.sampled_from([None, 10, 10**15]), label="max_elements")
        outcome = load_spec_bytes(text, spec_folder, via=via, max_elements=max_elements)
        check(outcome, figures("schema specs (from disk)"), Evidence(spec=text))


# --- 2. mutated example specs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put into the output as it is (NaN, a 5000-digit number, 100,000 open brackets...)."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """A JSON object as key-value pairs, so a key can appear twice."""

    items: tuple[tuple[str, Any], ...]


def emit(node: Any) -> str:
    """JSON text of a tree that may hold :class:`Raw` and :class:`Pairs`."""
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {emit(v)}" for k, v in node.items) + "}"
    if isinstance(node, dict):
        return emit(Pairs(tuple(node.items())))
    if isinstance(node, list):
        return "[" + ", ".join(emit(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


Path_ = tuple[Any, ...]


def paths(tree: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """The path of every value in ``tree`` (the root first)."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def get(tree: Any, path: Path_) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def put(tree: Any, path: Path_, value: Any) -> Any:
    """``tree`` with the value at ``path`` replaced (the root when ``path`` is empty)."""
    if not path:
        return value
    get(tree, path[:-1])[path[-1]] = value
    return tree


def pick_path(data: st.DataObject, tree: Any, want: Callable[[Any], bool] = lambda v: True) -> Path_ | None:
    candidates = [p for p in paths(tree) if want(get(tree, p))]
    return data.draw(st.sampled_from(candidates), label="path") if candidates else None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def _json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


JSON_VALUES = st.recursive(JSON_SCALARS, _json_containers, max_leaves=6)

NON_FINITE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1E+309",
    "1e-400",
    "-0",
    "[NaN]",
    "[1, Infinity]",
    "-NaN",
    "nan",
    "inf",
    "Infinity1",
]
LONG_NUMBERS = [
    "9" * 5000,
    "-" + "1" * 5000,
    "1" + "0" * 5000 + ".5",
    "0." + "1" * 5000,
    "1e" + "9" * 5000,
    "1" * 41,
    "1" * 40,
    "9" * 4301,
    "1." + "0" * 5000 + "1e-5000",
]
NESTING_DEPTHS = [63, 64, 65, 100, 255, 256, 500, 990, 1000, 1001, 5000, 100_000]
HUGE_SHAPES = [
    [10**12, 10**12],
    [10**12],
    [2**63],
    [2**64],
    [10**39],
    [0, 10**18],
    [10**6, 10**6],
    [4096, 4096],
    [1] * 64,
    [1] * 65,
    [2] * 40,
    [-1],
    [3.5],
    ["N"],
    [],
    [True],
    [10**40],
]
TRICKY_PATHS = [
    ".",
    "./",
    "./.",
    "..",
    "../a.npy",
    "sub/../a.npy",
    "/etc/passwd",
    "/a.npy",
    "a\x00.npy",
    "\x00",
    "sub\\c.npy",
    "C:a.npy",
    "c:/a.npy",
    "//a.npy",
    "a.npy/",
    "a.npy/.",
    "sub",
    "sub/",
    "link.npy",
    "fifo.npy",
    "huge.npy",
    "spec.json",
    "a.NPY",
    "b.NPZ",
    "~/a.npy",
    "a.npy\n",
    "%2e%2e/a.npy",
    "a" * 300 + ".npy",
    ("d/" * 200) + "a.npy",
    "\u202ea.npy",
    "\udcff.npy",
    "proc/self/mem.npy",
    "/dev/zero.npy",
    "/dev/zero",
    "nul.npy",
    " a.npy",
]
INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\x80",
]
WEIRD_STRINGS = [
    "",
    "\x00",
    "\n",
    "\x7f",
    "a" * 300,
    "\u202e",
    "N",
    "-1",
    "1",
    "float64",
    "zeros",
    "\U0001f600" * 100,
    "$schema",
    "__proto__",
]

NUMBERS = st.sampled_from([0, 1, -1, 2, 0.5, 2**31, 2**63, -(2**63), 2**64, 10**20, 1e308, -0.0, 5e-324])


class FreshDraws:
    """``st.data()`` whose draws are deep copies: a mutation that edits what it drew (a shape list from
    ``HUGE_SHAPES``...) must not edit the strategy's own constants, or generation stops being repeatable."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def draw(self, strategy: st.SearchStrategy[Any], label: Any = None) -> Any:
        return copy.deepcopy(self.data.draw(strategy, label=label))


def _value_of_another_type(data: st.DataObject, old: Any) -> Any:
    new = data.draw(JSON_VALUES, label="new value")
    if type(new) is type(old) and new == old:
        return [old]
    return new


# Tree mutations: (data, tree) -> tree; they may leave the tree unchanged when they do not apply.


def m_delete_field(data, tree):
    path = pick_path(data, tree, lambda v: isinstance(v, dict) and bool(v))
    if path is not None:
        obj = get(tree, path)
        del obj[data.draw(st.sampled_from(sorted(obj)), label="field")]
    return tree


def m_delete_item(data, tree):
    path = pick_path(data, tree, lambda v: isinstance(v, list) and bool(v))
    if path is not None:
        items = get(tree, path)
        del items[data.draw(st.integers(0, len(items) - 1), label="index")]
    return tree


def m_swap_type(data, tree):
    path = pick_path(data, tree)
    return put(tree, path, _value_of_another_type(data, get(tree, path)))


def m_weird_string(data, tree):
    path = pick_path(data, tree, lambda v: isinstance(v, str))
    if path is None:
        return tree
    choice = data.draw(st.sampled_from(["pick", "text", "lone surrogate", "escape"]), label="string")
    if choice == "pick":
        new: Any = data.draw(st.sampled_from(WEIRD_STRINGS))
    elif choice == "text":
        new = data.draw(st.text(max_size=40))
    elif choice == "lone surrogate":
        new = Raw(data.draw(st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\u0000"', '"\\ud83d\\ude00"'])))
    else:
        new = Raw(data.draw(st.sampled_from(['"\\x41"', "'a'", '"\\u12"', '"a', '"\t"', '"\\/"'])))
    return put(tree, path, new)


def m_number(data, tree):
    path = pick_path(data, tree, is_number) or pick_path(data, tree)
    return put(tree, path, data.draw(NUMBERS, label="number"))


def m_non_finite(data, tree):
    path = pick_path(data, tree, is_number) or pick_path(data, tree)
    return put(tree, path, Raw(data.draw(st.sampled_from(NON_FINITE), label="non-finite")))


def m_long_number(data, tree):
    path = pick_path(data, tree, is_number) or pick_path(data, tree)
    return put(tree, path, Raw(data.draw(st.sampled_from(LONG_NUMBERS), label="long number")))


def m_deep_nesting(data, tree):
    depth = data.draw(st.sampled_from(NESTING_DEPTHS), label="depth")
    kind = data.draw(st.sampled_from(["balanced", "unclosed", "objects", "in a value"]), label="nesting")
    if kind == "balanced":
        raw = "[" * depth + "1" + "]" * depth
    elif kind == "unclosed":
        raw = "[" * depth
    elif kind == "objects":
        raw = '{"a": ' * depth + "1" + "}" * depth
    else:  # as a leaf's value: a tensor literal nested this deep
        leaves = tree.get("leaves") if isinstance(tree, dict) else None
        if isinstance(leaves, list) and leaves and isinstance(leaves[0], dict):
            index = data.draw(st.integers(0, len(leaves) - 1), label="leaf")
            if isinstance(leaves[index], dict):
                leaves[index]["value"] = Raw("[" * depth + "0.5" + "]" * depth)
                leaves[index].pop("shape", None)
                return tree
        raw = "[" * depth + "]" * depth
    return put(tree, pick_path(data, tree), Raw(raw))


def _items(tree: Any, key: str) -> list[Any]:
    items = tree.get(key) if isinstance(tree, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _ids(tree: Any) -> list[str]:
    return [i["id"] for i in _items(tree, "leaves") + _items(tree, "nodes") if isinstance(i.get("id"), str)]


def m_dangle_reference(data, tree):
    missing = data.draw(st.sampled_from(["nope", "", "x ", "X", "\x00"]) | st.text(max_size=8), label="id")
    where = data.draw(st.sampled_from(["input", "output", "loss"]), label="reference")
    nodes = [n for n in _items(tree, "nodes") if isinstance(n.get("inputs"), list) and n["inputs"]]
    if where == "input" and nodes:
        node = data.draw(st.sampled_from(nodes))
        node["inputs"][data.draw(st.integers(0, len(node["inputs"]) - 1))] = missing
    elif where == "output" and isinstance(tree, dict) and isinstance(tree.get("outputs", []), list):
        tree.setdefault("outputs", []).append(missing)
    elif isinstance(tree, dict):
        tree["loss"] = missing
    return tree


def m_cycle(data, tree):
    """Make a node consume itself, or a node after it (a cycle through the graph)."""
    nodes = _items(tree, "nodes")
    if not nodes:
        return tree
    i = data.draw(st.integers(0, len(nodes) - 1), label="node")
    j = data.draw(st.integers(i, len(nodes) - 1), label="consumed")
    target = nodes[j].get("id", "?")
    inputs = nodes[i].get("inputs")
    if isinstance(inputs, list) and inputs:
        inputs[data.draw(st.integers(0, len(inputs) - 1))] = target
    else:
        nodes[i]["inputs"] = [target]
    return tree


def m_duplicate_id(data, tree):
    items = _items(tree, "leaves") + _items(tree, "nodes")
    ids = _ids(tree)
    if items and ids:
        data.draw(st.sampled_from(items))["id"] = data.draw(st.sampled_from(ids))
    return tree


def m_duplicate_key(data, tree):
    path = pick_path(data, tree, lambda v: isinstance(v, dict) and bool(v))
    if path is None:
        return tree
    obj = get(tree, path)
    key = data.draw(st.sampled_from(sorted(obj)), label="key")
    second = obj[key] if data.draw(st.booleans(), label="same value") else data.draw(JSON_VALUES)
    items = list(obj.items())
    items.insert(data.draw(st.integers(0, len(items)), label="at"), (key, second))
    return put(tree, path, Pairs(tuple(items)))


def m_huge_shape(data, tree):
    """A leaf with a huge declared shape and an initializer, a .npy reference or its own value."""
    leaves = _items(tree, "leaves")
    if not leaves:
        return tree
    leaf = data.draw(st.sampled_from(leaves), label="leaf")
    leaf["shape"] = data.draw(st.sampled_from(HUGE_SHAPES), label="shape")
    value = data.draw(
        st.sampled_from(
            [
                {"init": "zeros"},
                {"init": "ones"},
                {"init": "normal", "std": 1.0, "seed": 0},
                {"init": "uniform", "low": 0.0, "high": 1.0, "seed": 1},
                {"file": "huge.npy"},
                {"file": "a.npy"},
                {"file": "b.npz", "key": "x"},
                "keep",
            ]
        ),
        label="value",
    )
    if value != "keep":
        leaf["value"] = value
    if data.draw(st.booleans(), label="as parameter"):
        leaf["kind"] = "parameter"
    return tree


def m_array_file(data, tree):
    """A leaf whose value names an array file: a hostile path, a random one, or a real file."""
    leaves = _items(tree, "leaves")
    if not leaves:
        return tree
    leaf = data.draw(st.sampled_from(leaves), label="leaf")
    path = data.draw(
        st.sampled_from(TRICKY_PATHS) | st.sampled_from(ARRAY_FILE_NAMES) | st.text(max_size=20), label="file"
    )
    value: dict[str, Any] = {"file": path}
    key = data.draw(
        st.none() | st.sampled_from(["x", "y", "X", "z", "", "x.npy", "../x"]) | st.text(max_size=8)
    )
    if key is not None:
        value["key"] = key
    leaf["value"] = value
    if data.draw(st.booleans(), label="keep shape"):
        leaf.setdefault("shape", [3])
    else:
        leaf["shape"] = data.draw(st.sampled_from([[3], ["N"], [2, 3], [], [5, 3], [10**12]]))
    return tree


def m_replicate(data, tree):
    """Many copies of the leaves and nodes: ids renamed per copy ("h~3"), references left dangling
    ("h?3"), ids repeated, or every item renamed to a short numbered id ("v17") with its inputs and an
    output naming undefined ones ("u17_0", "u17"; generated graphs name things so)."""
    if not isinstance(tree, dict):
        return tree
    copies = data.draw(st.sampled_from([2, 10, 30]), label="copies")
    mode = data.draw(st.sampled_from(["renamed", "dangling", "repeated", "numbered"]), label="replicas")
    count = 0
    for key in ("leaves", "nodes"):
        items = tree.get(key)
        if not isinstance(items, list):
            continue
        originals = list(items)
        for r in range(1, copies):
            for item in originals:
                clone = copy.deepcopy(item)
                items.append(clone)
                if not isinstance(clone, dict) or mode == "repeated":
                    continue
                count += 1
                inputs = clone.get("inputs") if isinstance(clone.get("inputs"), list) else []
                if mode == "numbered":
                    clone["id"] = f"v{count}"
                    inputs = [f"u{count}_{j}" for j in range(len(inputs))]
                    if isinstance(tree.get("outputs"), list):
                        tree["outputs"].append(f"u{count}")
                else:
                    clone["id"] = f"{clone.get('id')}~{r}"
                    mark = f"~{r}" if mode == "renamed" else f"?{r}"
                    inputs = [f"{name}{mark}" for name in inputs]
                if "inputs" in clone:
                    clone["inputs"] = inputs
    return tree


def m_format_version(data, tree):
    if isinstance(tree, dict):
        tree["format_version"] = data.draw(
            st.sampled_from([0, 2, -1, 1.0, True, "1", None, [1], 10**30, 2**63]) | JSON_VALUES
        )
    return tree


def m_root(data, tree):
    """Replace the whole document with another JSON value."""
    return data.draw(JSON_VALUES | st.sampled_from([[], {}, "", 0, None, [tree]]), label="root")


TREE_MUTATIONS = {
    f.__name__.removeprefix("m_"): f
    for f in (
        m_delete_field,
        m_delete_item,
        m_swap_type,
        m_weird_string,
        m_number,
        m_non_finite,
        m_long_number,
        m_deep_nesting,
        m_dangle_reference,
        m_cycle,
        m_duplicate_id,
        m_duplicate_key,
        m_huge_shape,
        m_array_file,
        m_format_version,
        m_root,
    )
}


# Byte mutations: (data, bytes) -> bytes.


def b_random_bytes(data, text):
    return data.draw(st.binary(max_size=300), label="random bytes")


def b_splice_bytes(data, text):
    at = data.draw(st.integers(0, len(text)), label="at")
    return text[:at] + data.draw(st.binary(min_size=1, max_size=16)) + text[at:]


def b_flip_byte(data, text):
    if not text:
        return text
    at = data.draw(st.integers(0, len(text) - 1), label="at")
    return text[:at] + bytes([data.draw(st.integers(0, 255))]) + text[at + 1 :]


def b_invalid_utf8(data, text):
    at = data.draw(st.integers(0, len(text)), label="at")
    return text[:at] + data.draw(st.sampled_from(INVALID_UTF8), label="bytes") + text[at:]


def b_bom(data, text):
    kind = data.draw(st.sampled_from(["utf-8", "twice", "utf-16", "utf-32", "utf-8 mid"]), label="bom")
    if kind == "utf-8":
        return b"\xef\xbb\xbf" + text
    if kind == "twice":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + text
    if kind == "utf-8 mid":
        at = data.draw(st.integers(0, len(text)))
        return text[:at] + b"\xef\xbb\xbf" + text[at:]
    decoded = text.decode("utf-8", "replace")
    return decoded.encode(kind)  # Python writes the BOM for utf-16/utf-32


def b_truncate(data, text):
    return text[: data.draw(st.integers(0, max(len(text) - 1, 0)), label="length")]


def b_whitespace(data, text):
    return (
        data.draw(st.sampled_from([b"", b" ", b"\n\t\r ", b"\x0c", b"\xc2\xa0"]))
        + text
        + data.draw(st.sampled_from([b"", b"\n", b" x", b"{}", b"\x00", b"\x1a"]))
    )


BYTE_MUTATIONS = {
    f.__name__.removeprefix("b_"): f
    for f in (b_random_bytes, b_splice_bytes, b_flip_byte, b_invalid_utf8, b_bom, b_truncate, b_whitespace)
}
MUTATIONS = sorted(TREE_MUTATIONS) + sorted(BYTE_MUTATIONS)
EXAMPLE_TREES = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in EXAMPLE_SPECS}


def test_the_unmutated_examples_load(spec_folder):
    """The mutation fuzzer starts from valid specs: each loads, within the bounds."""
    for name, tree in EXAMPLE_TREES.items():
        outcome = load_spec_bytes(emit(tree).encode(), spec_folder, via="load", max_elements=None)
        check(outcome)
        assert outcome.error is None, (name, outcome.error)


@FUZZ
@given(data=st.data())
def test_mutated_example_specs_load_or_raise_graphdiff_errors(data, spec_folder):
    data = FreshDraws(data)
    name = data.draw(st.sampled_from(sorted(EXAMPLE_TREES)), label="example")
    tree = copy.deepcopy(EXAMPLE_TREES[name])
    chosen = data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3), label="mutations")
    for mutation in chosen:  # tree mutations first, then byte mutations on the text
        if mutation in TREE_MUTATIONS:
            tree = TREE_MUTATIONS[mutation](data, tree)
    text = emit(tree).encode("utf-8", "surrogatepass")
    for mutation in chosen:
        if mutation in BYTE_MUTATIONS:
            text = BYTE_MUTATIONS[mutation](data, text)
    via = data.draw(st.sampled_from(["load", "loads"]), label="via")
    max_elements = data.draw(st.sampled_from([None, 10, 10**15]), label="max_elements")
    outcome = load_spec_bytes(text, spec_folder, via=via, max_elements=max_elements)
    check(outcome, figures("mutated examples"), Evidence(spec=text))


# --- 3. fuzzed .npy and .npz files --------------------------------------------------------------------------

MAGIC = b"\x93NUMPY"
BASE_ARRAYS = [
    np.arange(3.0),
    np.arange(6.0).reshape(2, 3),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.array(2.5),
    np.zeros(0),
    np.arange(4, dtype=np.float32),
    np.arange(3, dtype=np.int64),
    np.arange(3, dtype=">f8"),
    np.arange(3, dtype=np.uint8),
    np.array([True, False, True]),
    np.arange(3, dtype=np.float16),
    np.arange(24.0).reshape(2, 3, 4),
]
DESCRS = [
    "'<f8'",
    "'>f8'",
    "'<f4'",
    "'<i8'",
    "'|u1'",
    "'|b1'",
    "'<f2'",
    "'<f16'",
    "'|O'",
    "'<U3'",
    "'<c16'",
    "'V8'",
    "'<M8[s]'",
    "[('a', '<f8')]",
    "'f8'",
    "'float64'",
    "'<f0'",
    "'<f9999999999'",
    "''",
    "'<'",
    "8",
    "None",
    "b'<f8'",
    "'<f8' if 1 else 2",
    "__import__('os')",
    "{'a': 1}",
    "('<f8', (2,))",
    "'S0'",
    "'<i16'",
]
FORTRANS = ["False", "True", "0", "1", "None", "'yes'", "[]"]
SHAPES = [
    "()",
    "(3,)",
    "(2, 3)",
    "(0,)",
    "(-1,)",
    "(-1, -1)",
    "(-3,)",
    "(10**12,)",
    "(1000000000000,)",
    "(1000000000000, 1000000000000)",
    "(9223372036854775808,)",
    "(18446744073709551616,)",
    "(" + "1, " * 65 + ")",
    "(" + "1, " * 64 + ")",
    "(3.0,)",
    "None",
    "[3]",
    "(True,)",
    "('3',)",
    "(0, 1000000000000000000)",
    "(1, 2, 3, 4)",
    "(24,)",
    "(6,)",
    "(" * 50 + ")" * 50,
]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def split_npy(blob: bytes) -> tuple[tuple[int, int], str, bytes]:
    """(version, header text, data) of a .npy numpy wrote."""
    version = (blob[6], blob[7])
    if version == (1, 0):
        length, start = struct.unpack("<H", blob[8:10])[0], 10
    else:
        length, start = struct.unpack("<I", blob[8:12])[0], 12
    return version, blob[start : start + length].decode("latin1"), blob[start + length :]


def build_npy(
    header: str,
    body: bytes,
    *,
    version: tuple[int, int] = (1, 0),
    magic: bytes = MAGIC,
    length: int | None = None,
    pad: bool = True,
) -> bytes:
    """A .npy: ``magic``, ``version``, the header length (``length`` or the true one) and the header."""
    text = header.rstrip("\n")
    wide = version[0] >= 2
    prefix = len(magic) + 2 + (4 if wide else 2)
    if pad:
        text = text + " " * (-(prefix + len(text) + 1) % 64)
    encoded = (text + "\n").encode("utf-8" if version[0] >= 3 else "latin1", "replace")
    true_length = len(encoded)
    declared = true_length if length is None else length
    field_format = "<I" if wide else "<H"
    declared &= 0xFFFFFFFF if wide else 0xFFFF
    return magic + bytes(version) + struct.pack(field_format, declared) + encoded + body


def header_dict(descr: str, fortran: str, shape: str) -> str:
    return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"


def mutated_npy(data: st.DataObject) -> tuple[bytes, np.ndarray]:
    """A .npy made from one of ``BASE_ARRAYS`` with a few of its parts mutated; and the base array."""
    base = data.draw(st.sampled_from(BASE_ARRAYS), label="base array")
    version, header, body = split_npy(npy_bytes(base))
    original = np.lib.format.header_data_from_array_1_0(base)
    descr, fortran, shape = repr(original["descr"]), repr(original["fortran_order"]), repr(original["shape"])
    magic, length, pad = MAGIC, None, True
    parts = data.draw(
        st.lists(
            st.sampled_from(
                [
                    "descr",
                    "fortran",
                    "shape",
                    "header text",
                    "extra key",
                    "missing key",
                    "magic",
                    "version",
                    "length",
                    "no padding",
                    "body",
                    "truncate",
                    "append",
                    "flip",
                ]
            ),
            min_size=1,
            max_size=3,
        ),
        label="mutations",
    )
    header_text: str | None = None
    for part in parts:
        if part == "descr":
            descr = data.draw(st.sampled_from(DESCRS) | st.text(max_size=12).map(repr), label="descr")
        elif part == "fortran":
            fortran = data.draw(st.sampled_from(FORTRANS), label="fortran_order")
        elif part == "shape":
            shape = data.draw(
                st.sampled_from(SHAPES)
                | st.lists(st.integers(-(2**65), 2**65), max_size=4).map(lambda d: repr(tuple(d))),
                label="shape",
            )
        elif part == "header text":
            header_text = data.draw(
                st.text(max_size=60)
                | st.sampled_from(
                    [
                        "{}",
                        "",
                        "{'descr': '<f8'}",
                        "[1, 2]",
                        "{" * 5000,
                        "(" * 300 + ")" * 300,
                        "{'descr': '<f8', " * 100,
                    ]
                ),
                label="header text",
            )
        elif part == "extra key":
            shape = shape + ", 'extra': 1"
        elif part == "missing key":
            header_text = data.draw(
                st.sampled_from(
                    [
                        "{'descr': " + descr + ", 'shape': " + shape + "}",
                        "{'fortran_order': " + fortran + ", 'shape': " + shape + "}",
                        "{'descr': " + descr + ", 'fortran_order': " + fortran + "}",
                    ]
                )
            )
        elif part == "magic":
            magic = data.draw(
                st.sampled_from([b"\x93NUMPX", b"NUMPY\x93", b"", b"\x93NUMP", b"PK\x03\x04"])
                | st.binary(min_size=6, max_size=6),
                label="magic",
            )
        elif part == "version":
            version = data.draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (0, 0), (1, 1), (255, 255), (2, 1)]))
        elif part == "length":
            length = data.draw(
                st.sampled_from([0, 1, 10, 0xFFFF, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF),
                label="header length",
            )
        elif part == "no padding":
            pad = False
        elif part == "body":
            body = data.draw(
                st.binary(max_size=64) | st.sampled_from([b"", body * 2, body[:-1], b"\x00" * 8]),
                label="body",
            )
    blob = build_npy(
        header_dict(descr, fortran, shape) if header_text is None else header_text,
        body,
        version=version,
        magic=magic,
        length=length,
        pad=pad,
    )
    for part in parts:
        if part == "truncate":
            blob = blob[: data.draw(st.integers(0, len(blob)), label="truncate at")]
        elif part == "append":
            blob = blob + data.draw(st.binary(min_size=1, max_size=64), label="junk")
        elif part == "flip" and blob:
            at = data.draw(st.integers(0, len(blob) - 1), label="flip at")
            blob = blob[:at] + bytes([data.draw(st.integers(0, 255))]) + blob[at + 1 :]
    return blob, base


def draw_leaf(data: st.DataObject, base: np.ndarray, value: dict[str, Any]) -> dict[str, Any]:
    """A leaf reading ``value``, declaring the base array's shape, a symbolic one, or another."""
    kind = data.draw(st.sampled_from(["parameter", "constant", "input"]), label="kind")
    choice = data.draw(st.sampled_from(["actual", "symbolic", "other", "none"]), label="declared shape")
    leaf: dict[str, Any] = {
        "id": "w",
        "kind": kind,
        "value": value,
        "dtype": data.draw(st.sampled_from(["float64", "float32", "int64"]), label="dtype"),
    }
    if choice == "actual":
        leaf["shape"] = list(base.shape)
    elif choice == "symbolic":
        leaf["shape"] = ["N"] * base.ndim
        leaf["kind"] = "input"
    elif choice == "other":
        leaf["shape"] = data.draw(st.sampled_from([[3], [10**12], [0], [2, 3], [10**12, 10**12], [1] * 65]))
    return leaf


def array_spec(leaf: dict[str, Any]) -> bytes:
    spec = {"format_version": 1, "name": "arrays", "leaves": [leaf], "outputs": ["w"]}
    return json.dumps(spec).encode()


@pytest.fixture(scope="module")
def array_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-arrays")


def test_unmutated_array_files_load(array_folder):
    """The array fuzzers start from files that load."""
    for array in BASE_ARRAYS:
        (array_folder / "a.npy").write_bytes(npy_bytes(array))
        leaf = {"id": "w", "kind": "input", "shape": list(array.shape), "value": {"file": "a.npy"}}
        outcome = load_spec_bytes(array_spec(leaf), array_folder, via="load", max_elements=None)
        check(outcome)
        assert outcome.error is None, (array.dtype, outcome.error)


@FUZZ
@given(data=st.data())
def test_npy_files_with_mutated_headers_load_or_raise_graphdiff_errors(data, array_folder):
    blob, base = mutated_npy(data)
    name = data.draw(st.sampled_from(["a.npy", "a.NPY"]), label="name")
    for old in array_folder.iterdir():
        old.unlink()
    (array_folder / name).write_bytes(blob)
    spec = array_spec(draw_leaf(data, base, {"file": name}))
    max_elements = data.draw(st.sampled_from([None, 10, 10**15]), label="max_elements")
    outcome = load_spec_bytes(spec, array_folder, via="load", max_elements=max_elements)
    check(outcome, figures("npy headers"), Evidence(spec=spec))


# Fields of the zip structures: (offset from the record's signature, struct format).
LOCAL_FIELDS = {
    "flags": (6, "<H"),
    "method": (8, "<H"),
    "crc": (14, "<I"),
    "compressed size": (18, "<I"),
    "size": (22, "<I"),
    "name length": (26, "<H"),
    "extra length": (28, "<H"),
}
CENTRAL_FIELDS = {
    "flags": (8, "<H"),
    "method": (10, "<H"),
    "crc": (16, "<I"),
    "compressed size": (20, "<I"),
    "size": (24, "<I"),
    "name length": (28, "<H"),
    "extra length": (30, "<H"),
    "comment length": (32, "<H"),
    "local offset": (42, "<I"),
}
END_FIELDS = {
    "entries on disk": (8, "<H"),
    "entries": (10, "<H"),
    "directory size": (12, "<I"),
    "directory offset": (16, "<I"),
    "comment length": (20, "<H"),
}
COMPRESSIONS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def zip_fields(blob: bytes) -> list[tuple[int, str]]:
    """(absolute offset, struct format) of every mutable field of every record of a zip numpy wrote."""
    fields = []
    for signature, table in (
        (b"PK\x03\x04", LOCAL_FIELDS),
        (b"PK\x01\x02", CENTRAL_FIELDS),
        (b"PK\x05\x06", END_FIELDS),
    ):
        start = blob.find(signature)
        while start != -1:
            fields += [
                (start + offset, fmt) for offset, fmt in table.values() if start + offset + 4 <= len(blob)
            ]
            start = blob.find(signature, start + 1)
    return fields


def mutated_npz(data: st.DataObject) -> tuple[bytes, np.ndarray]:
    """An .npz whose member ``x.npy`` (maybe mutated) sits beside others, then zip fields mutated."""
    if data.draw(st.booleans(), label="mutate member"):
        member, base = mutated_npy(data)
    else:
        base = data.draw(st.sampled_from(BASE_ARRAYS), label="base array")
        member = npy_bytes(base)
    buffer = io.BytesIO()
    compression = data.draw(st.sampled_from(COMPRESSIONS), label="compression")
    layout = data.draw(
        st.sampled_from(["plain", "duplicate", "directory", "bomb", "many", "comment"]), label="layout"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            if layout == "directory":
                archive.writestr("x.npy/", b"")
            archive.writestr("x.npy", member)
            archive.writestr("y.npy", npy_bytes(np.array([0, 1, 2])))
            if layout == "duplicate":
                archive.writestr("x.npy", npy_bytes(np.arange(5.0)))
            elif layout == "bomb":  # 4 MiB of zeros that a shape of (524288,) float64 declares honestly
                zeros = np.zeros(1 << 19)
                archive.writestr(
                    "b.npy", npy_bytes(zeros), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
                )
            elif layout == "many":
                for i in range(50):
                    archive.writestr(f"m{i}.npy", b"")
            elif layout == "comment":
                archive.comment = data.draw(st.binary(max_size=100))
    blob = buffer.getvalue()
    for _ in range(data.draw(st.integers(0, 3), label="field mutations")):
        fields = zip_fields(blob)
        if not fields:
            break
        offset, fmt = data.draw(st.sampled_from(fields), label="field")
        width = struct.calcsize(fmt)
        (old,) = struct.unpack_from(fmt, blob, offset)
        top = 2 ** (8 * width) - 1
        new = data.draw(
            st.sampled_from([0, 1, top, (old + 1) & top, (old - 1) & top, old ^ 1, old ^ 0x8])
            | st.integers(0, top),
            label="field value",
        )
        blob = blob[:offset] + struct.pack(fmt, new) + blob[offset + width :]
    for part in data.draw(st.lists(st.sampled_from(["truncate", "append", "flip", "prefix"]), max_size=2)):
        if part == "truncate":
            blob = blob[: data.draw(st.integers(0, len(blob)), label="truncate at")]
        elif part == "append":
            blob = blob + data.draw(st.binary(min_size=1, max_size=64), label="junk")
        elif part == "prefix":
            blob = data.draw(st.binary(min_size=1, max_size=64), label="prefix") + blob
        elif blob:
            at = data.draw(st.integers(0, len(blob) - 1), label="flip at")
            blob = blob[:at] + bytes([data.draw(st.integers(0, 255))]) + blob[at + 1 :]
    return blob, base


@FUZZ
@given(data=st.data())
def test_npz_files_with_mutated_members_load_or_raise_graphdiff_errors(data, array_folder):
    blob, base = mutated_npz(data)
    for old in array_folder.iterdir():
        old.unlink()
    (array_folder / "a.npz").write_bytes(blob)
    key = data.draw(
        st.sampled_from(["x", "x", "x", "y", "b", "z", "x.npy", "x.npy/", "m0", "../x"])
        | st.text(max_size=6),
        label="key",
    )
    spec = array_spec(draw_leaf(data, base, {"file": "a.npz", "key": key}))
    max_elements = data.draw(st.sampled_from([None, 10, 10**15]), label="max_elements")
    outcome = load_spec_bytes(spec, array_folder, via="load", max_elements=max_elements)
    check(outcome, figures("npz members"), Evidence(spec=spec, archive=blob))


# --- the harness itself -------------------------------------------------------------------------------------


def test_the_harness_flags_foreign_exceptions_slow_loads_and_large_allocations(monkeypatch):
    def foreign():
        raise KeyError("boom")

    with pytest.raises(LoaderBug, match="KeyError escaped"):
        check(measure(foreign, size=10, what="foreign"))

    def hungry():
        block = bytearray(ALLOCATION_SLACK + 2000)
        del block

    with pytest.raises(LoaderBug, match="allocated"):
        check(measure(hungry, size=10, what="hungry"))
    check(measure(lambda: gd.loads("{"), size=1, what="graphdiff error"))  # a GraphdiffError is fine
    monkeypatch.setattr(sys.modules[__name__], "HANG_SECONDS", 0.2)
    hung = measure(lambda: time.sleep(30), size=10, what="hung")
    assert isinstance(hung.error, Hang)  # the 30 s sleep was interrupted
    with pytest.raises(LoaderBug, match="hung"):
        check(hung)


# --- regressions: the bugs the fuzzers found, minimized -----------------------------------------------------


def one_leaf_spec(leaf: dict[str, Any]) -> bytes:
    leaf = {"id": "w", "kind": "parameter", **leaf}
    return json.dumps({"format_version": 1, "name": "bug", "leaves": [leaf], "outputs": ["w"]}).encode()


def assert_loads_within_contract(
    spec: bytes, folder: Path | None = None, archive: bytes | None = None
) -> None:
    """Success or a GraphdiffError, within the time and allocation bounds; LoaderBug otherwise."""
    evidence = Evidence(spec, archive)
    if folder is None:
        check(measure(lambda: gd.loads(spec), size=len(spec), what="gd.loads"), evidence=evidence)
    else:
        check(load_spec_bytes(spec, folder, via="load", max_elements=None), evidence=evidence)


def npz_member(compression: int, damage: Callable[[bytearray, int], None]) -> bytes:
    """An .npz with x.npy = arange(3.0) compressed so; ``damage(blob, start)`` edits the member's data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("x.npy", npy_bytes(np.arange(3.0)))
    blob = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(blob))) as archive:
        info = archive.getinfo("x.npy")
    damage(blob, info.header_offset + 30 + len(info.filename) + len(info.extra))
    return bytes(blob)


def _lzma_dictionary(size: int) -> Callable[[bytearray, int], None]:
    # The member's data: LZMA SDK version (2 bytes), properties size (2), then lc/lp/pb (1), dictionary (4).
    def damage(blob: bytearray, start: int) -> None:
        blob[start + 5 : start + 9] = struct.pack("<I", size)

    return damage


def _bad_deflate_block(blob: bytearray, start: int) -> None:
    blob[start] = 0xFF  # a deflate block of the reserved type 3: zlib's "invalid block type"


NPY = {"shape": [3], "value": {"file": "a.npy"}}
NPZ = {"shape": [3], "value": {"file": "a.npz", "key": "x"}}

#: Inputs the fuzzers once failed on, as (leaf, files beside the spec); all fixed since.
FIXED_FINDINGS = [
    # numpy's ValueError "array is too big" escaped from graph.initial_value.
    pytest.param({"shape": [10**12, 10**12], "value": {"init": "zeros"}}, {}, id="zeros-init-huge-shape"),
    # numpy's MemoryError ("Unable to allocate 7.28 TiB") escaped from graph.initial_value.
    pytest.param(
        {"shape": [10**12], "value": {"init": "normal", "std": 1.0, "seed": 0}},
        {},
        id="normal-init-beyond-memory",
    ),
    # A 100-byte spec allocated 128 MiB: initializers ignored max_elements.
    pytest.param({"shape": [4096, 4096], "value": {"init": "zeros"}}, {}, id="init-allocation-unbounded"),
    # numpy's ValueError "maximum supported dimension for an ndarray is currently 64" escaped.
    pytest.param({"shape": [1] * 65, "value": {"init": "ones"}}, {}, id="init-65-dimensions"),
    # numpy's OverflowError "high - low range exceeds valid bounds" escaped from graph.initial_value.
    pytest.param(
        {"shape": [2], "value": {"init": "uniform", "low": -1e308, "high": 1e308, "seed": 0}},
        {},
        id="uniform-init-range-overflow",
    ),
    # os.lstat's ValueError "embedded null byte" escaped from spec.arrays.resolve_inside.
    pytest.param({"shape": [3], "value": {"file": "a\x00.npy"}}, {}, id="array-path-nul"),
    # UnboundLocalError in spec.arrays.resolve_inside: "." has no parts.
    pytest.param({"shape": [3], "value": {"file": "."}}, {}, id="array-path-dot"),
    # tokenize.TokenError escaped from spec.arrays._read_npy: numpy retries an unparsable header through
    # tokenize, which fails on an unclosed bracket.
    pytest.param(NPY, {"a.npy": lambda: build_npy("{", b"")}, id="npy-header-unclosed-brace"),
    # zlib.error "invalid block type" escaped from spec.arrays._read_npy.
    pytest.param(
        NPZ, {"a.npz": lambda: npz_member(zipfile.ZIP_DEFLATED, _bad_deflate_block)}, id="npz-corrupt-deflate"
    ),
    # A 201-byte .npz whose LZMA member declares a 1 GiB dictionary made zipfile allocate 1 GiB.
    pytest.param(
        NPZ,
        {"a.npz": lambda: npz_member(zipfile.ZIP_LZMA, _lzma_dictionary(1 << 30))},
        id="npz-lzma-dictionary",
    ),
]


@pytest.mark.parametrize(("leaf", "files"), FIXED_FINDINGS)
def test_inputs_the_fuzzers_once_failed_on_load_within_the_contract(leaf, files, tmp_path):
    archive = None
    for name, make in files.items():
        content = make()
        (tmp_path / name).write_bytes(content)
        archive = content if name.endswith(".npz") else archive
    assert_loads_within_contract(one_leaf_spec(leaf), tmp_path, archive)


def test_leaf_values_nested_past_pydantics_recursion_limit_load_within_the_contract():
    """Leaf values nested 255+ lists deep (pydantic's recursion limit) once failed validation with
    O(depth^2) error locations that validation_problems grouped in O(errors^2): these 1.2 KB took 14 MB,
    and 16 such leaves (9 KB) took 5.6 s."""
    deep = "[" * 256 + "0.5" + "]" * 256
    leaves = ", ".join(f'{{"id": "w{i}", "kind": "constant", "value": {deep}}}' for i in range(2))
    spec = f'{{"format_version": 1, "name": "deep", "leaves": [{leaves}], "outputs": ["w0"]}}'.encode()
    assert_loads_within_contract(spec)


def test_many_undefined_inputs_are_reported_in_linear_time():
    """800 nodes with 2 undefined inputs each (40 KB) once took 8.8 s: a difflib "did you mean" per
    undefined input, each over every id (fixed by capping the guesses)."""
    nodes = [{"id": f"n{i}", "op": "add", "inputs": [f"m{i}", f"k{i}"]} for i in range(800)]
    assert_loads_within_contract(
        json.dumps({"format_version": 1, "name": "dangling", "nodes": nodes}).encode()
    )


def test_many_undefined_outputs_are_reported_in_linear_time():
    """600 leaves and 600 undefined outputs (33 KB) once took 4.3 s traced (800: 2.1 s untraced): the
    same guesses for outputs (fixed by the same cap)."""
    leaves = [{"id": f"n{i}", "kind": "input", "value": 0.0} for i in range(600)]
    spec = {
        "format_version": 1,
        "name": "dangling",
        "leaves": leaves,
        "outputs": [f"m{i}" for i in range(600)],
    }
    assert_loads_within_contract(json.dumps(spec).encode())
