"""Reading old spec files: a chain of migrations, one per format version step.

``MIGRATIONS[k]`` turns the JSON tree of a version-``k`` file into a version-``k + 1`` tree. A file of
version ``v`` is read by applying the steps ``v, v + 1, ..., FORMAT_VERSION - 1`` in turn. Version 1 is
the first released version, so the chain is empty for now; ``tests/fixtures/`` keeps one frozen file per
released version that must keep loading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import FormatVersionError, Problem
from .models import FORMAT_VERSION

Tree = dict[str, Any]

MIGRATIONS: dict[int, Callable[[Tree], Tree]] = {}


def migrate(tree: Tree, file: str | None) -> Tree:
    """``tree`` brought up to :data:`FORMAT_VERSION`; refuses files with no version or a newer one."""
    version = tree.get("format_version")
    if "format_version" not in tree:
        raise FormatVersionError(
            Problem(file, "format_version", f"missing; this graphdiff writes format version {FORMAT_VERSION}")
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatVersionError(
            Problem(file, "format_version", f"must be a positive integer, got {version!r}")
        )
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            Problem(
                file,
                "format_version",
                f"the file is format version {version}, newer than this graphdiff reads "
                f"(up to version {FORMAT_VERSION}); upgrade graphdiff",
            )
        )
    while version < FORMAT_VERSION:
        tree = MIGRATIONS[version](tree)
        version += 1
        tree["format_version"] = version
    return tree
