"""What the lab hands back as files: trained parameters (an .npz, and a spec that reads them), CSV tables
and raw grids. Everything here builds bytes or text; :func:`write_all` writes them as one change, only once
all of them are ready, so an interrupted or failed run leaves the previous files as they were.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np

from ..errors import GraphdiffError, Problem
from ..fileio import check_writable, write_atomic_many
from ..graph import CheckedGraph
from ..spec import ArrayFile, GraphSpec
from .landscape import Landscape


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Arrays as the bytes of an uncompressed .npz file (no pickles)."""
    buffer = BytesIO()
    np.savez(buffer, **{key: np.asarray(value) for key, value in arrays.items()})
    return buffer.getvalue()


def trained_spec(graph: CheckedGraph, npz_name: str, output: Path, note: str) -> GraphSpec:
    """The graph's spec with every parameter read from ``npz_name`` (beside ``output``), and other array
    files re-pointed from the original spec's folder to ``output``'s. ``note`` is appended to the
    description. Raises when an array file would have to be reached with '..' (refused when loading)."""
    source = graph.source.folder
    target = output.parent if str(output.parent) else Path(".")
    leaves = []
    for leaf in graph.spec.leaves:
        if leaf.kind == "parameter":
            # A value read from a file needs a declared shape; a literal's was implied by the literal.
            shape = [int(d) for d in graph.types[leaf.id].shape]
            leaves.append(
                leaf.model_copy(update={"value": ArrayFile(file=npz_name, key=leaf.id), "shape": shape})
            )
            continue
        if isinstance(leaf.value, ArrayFile):
            leaves.append(
                leaf.model_copy(update={"value": _rebased(leaf.value, leaf.id, source, target, output)})
            )
            continue
        leaves.append(leaf)
    description = f"{graph.spec.description} {note}" if graph.spec.description else note
    update: dict[str, object] = {"leaves": leaves, "description": description}
    schema = graph.spec.schema_
    if schema and source is not None and "://" not in schema and not Path(schema).is_absolute():
        # An editor finds the JSON Schema through this path, relative to the spec's own folder.
        update["schema_"] = Path(os.path.relpath(Path(source) / schema, target)).as_posix()
    spec = graph.spec.model_copy(update=update)
    # model_copy does not validate; a round trip through the models does, so a spec that would not
    # load is refused here, before anything is written.
    return GraphSpec.model_validate(spec.model_dump(mode="python", by_alias=True, exclude_none=True))


def _rebased(ref: ArrayFile, leaf_id: str, source: Path | None, target: Path, output: Path) -> ArrayFile:
    if source is None:
        raise GraphdiffError(
            Problem(
                str(output),
                f"leaf {json.dumps(leaf_id)}",
                "reads an array file, but the spec came from no folder",
            )
        )
    if os.path.realpath(source) == os.path.realpath(target):
        return ref
    relative = Path(os.path.relpath(Path(source) / ref.file, target)).as_posix()
    if relative.startswith("../") or relative == "..":
        raise GraphdiffError(
            Problem(
                str(output),
                f"leaf {json.dumps(leaf_id)}",
                f"its array file {ref.file} would be outside the new spec's folder; write the trained spec "
                f"into {source} (or below it), or write the parameters as .npz",
            )
        )
    return ref.model_copy(update={"file": relative})


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV with floats at full precision (``repr``) and empty cells for missing values."""
    buffer = StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "" if cell is None else repr(float(cell)) if isinstance(cell, float | np.floating) else cell
                for cell in row
            ]
        )
    return buffer.getvalue()


def landscape_grid(landscape: Landscape, path: Path) -> bytes | str:
    """The raw grid: ``.csv`` rows of (a, [b,] loss), or ``.npz`` with ``a``, ``b``, ``loss`` (``loss[i, j]``
    at ``a[i], b[j]``) and the directions as ``direction1/<param>``, ``direction2/<param>``."""
    if path.suffix == ".csv":
        if landscape.b is None:
            return csv_text(["a", "loss"], zip(landscape.a.tolist(), landscape.losses.tolist(), strict=True))
        rows = (
            (a, b, float(landscape.losses[i, j]))
            for i, a in enumerate(landscape.a.tolist())
            for j, b in enumerate(landscape.b.tolist())
        )
        return csv_text(["a", "b", "loss"], rows)
    arrays: dict[str, np.ndarray] = {"a": landscape.a, "loss": landscape.losses}
    if landscape.b is not None:
        arrays["b"] = landscape.b
    for n, direction in enumerate(landscape.directions, start=1):
        arrays.update({f"direction{n}/{id}": d for id, d in direction.items()})
    return npz_bytes(arrays)


def check_outputs(paths: Iterable[Path], *, overwrite: bool) -> None:
    """Refuse, before any work, outputs that could not be written (or would replace files without --force)."""
    seen: set[str] = set()
    for path in paths:
        key = os.path.abspath(path)
        if key in seen:
            raise GraphdiffError(Problem(str(path), None, "is named for two outputs"))
        seen.add(key)
        check_writable(path, overwrite=overwrite)


def write_all(files: Mapping[Path, bytes | str], *, overwrite: bool) -> list[Path]:
    """Write every file as one change (see :func:`graphdiff.fileio.write_atomic_many`): an error or a
    Ctrl-C while writing replaces none of them."""
    check_outputs(files, overwrite=overwrite)
    return write_atomic_many(files, overwrite=overwrite)
