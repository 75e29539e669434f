"""An imported model as files: the spec, and beside it an .npz of its weights that the spec reads back
through the usual array-file rules. Both are written as one change
(:func:`graphdiff.fileio.write_atomic_many`).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np

from ..api import Graph
from ..errors import GraphdiffError, Problem
from ..spec import ArrayFile, GraphSpec, dump_spec
from ..spec.models import LITERAL_TAG, value_kind

#: Constants and input defaults with at most this many elements stay in the spec, readable in place
#: (a scale, an axis list); parameters always go to the .npz, where training writes them back.
INLINE_ELEMENTS = 16


def spec_and_weights(graph: Graph, spec_path: Path) -> dict[Path, str | bytes]:
    """The files of ``graph`` saved as ``spec_path`` and ``spec_path`` with suffix .npz."""
    if spec_path.suffix != ".json":
        raise GraphdiffError(Problem(str(spec_path), None, "the spec is written as .json"))
    checked = graph.checked
    npz_path = spec_path.with_suffix(".npz")
    arrays: dict[str, np.ndarray] = {}
    leaves = []
    for leaf in checked.spec.leaves:
        value = checked.leaf_values[leaf.id]
        literal = leaf.value is not None and value_kind(leaf.value) == LITERAL_TAG
        if literal and value is not None and (leaf.kind == "parameter" or value.size > INLINE_ELEMENTS):
            arrays[leaf.id] = value
            shape = list(leaf.shape) if leaf.shape is not None else list(value.shape)
            leaf = leaf.model_copy(
                update={"value": ArrayFile(file=npz_path.name, key=leaf.id), "shape": shape}
            )
        leaves.append(leaf)
    spec = checked.spec.model_copy(update={"leaves": leaves})
    # model_copy does not validate; the round trip through the models does, before anything is written.
    spec = GraphSpec.model_validate(spec.model_dump(mode="python", by_alias=True, exclude_none=True))
    files: dict[Path, str | bytes] = {spec_path: dump_spec(spec)}
    if arrays:
        buffer = BytesIO()
        np.savez(buffer, **arrays)
        files[npz_path] = buffer.getvalue()
    return files
