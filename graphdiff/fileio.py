"""The one place graphdiff writes files: atomically, so a crash never leaves a half-written file.

Data is written to a temporary file in the destination folder, flushed and fsynced, then moved over the
destination with :func:`os.replace` (atomic on POSIX and Windows). On any failure the temporary file is
removed and the destination is untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import GraphdiffError


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GraphdiffError(f"{target}: cannot write: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp creates the file 0600; give it the permissions an ordinary open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise GraphdiffError(f"{target}: cannot write: {exc.strerror or exc}") from None
        raise
    return target


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
