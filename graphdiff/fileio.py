"""The one place graphdiff writes files: atomically, so a crash never leaves a half-written file.

Data is written to a temporary file in the destination folder, flushed and fsynced, then moved into place:
with :func:`os.replace` when replacing is allowed (atomic on POSIX and Windows), or with :func:`os.link`,
which fails rather than replace a file that appeared meanwhile, when it is not. On any failure the
temporary file is removed and the destination is untouched. :func:`write_atomic_many` writes several files
as one change: all temporary files first, then all the moves. A destination that is a symbolic link is
refused: graphdiff writes files, never through links.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import GraphdiffError, Problem


def check_writable(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse, before any work is done, a destination graphdiff would not write (see :func:`write_atomic`)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise GraphdiffError(Problem(str(target), None, f"cannot write: {exc.strerror or exc}")) from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise GraphdiffError(
                Problem(str(target), None, "is a symbolic link; refusing to write through it")
            )
        if not stat.S_ISREG(info.st_mode):
            raise GraphdiffError(Problem(str(target), None, "exists and is not a regular file"))
        if not overwrite:
            raise GraphdiffError(Problem(str(target), None, "already exists; use --force to replace it"))
    if not folder.is_dir():
        raise GraphdiffError(Problem(str(target), None, f"cannot write: folder {folder} does not exist"))
    return target


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    An existing file is replaced only when ``overwrite`` is true; a symbolic link is never written through.
    """
    return write_atomic_many({path: data}, overwrite=overwrite)[0]


def write_atomic_many(
    files: Mapping[str | os.PathLike[str], bytes | str], *, overwrite: bool = True
) -> list[Path]:
    """Write several files as one change: every file's data goes to a temporary file beside it (flushed
    and fsynced) first, and only when all are on disk are they moved into place, so a failure while
    writing (a full disk, an error, an interrupt) replaces none of them."""
    targets = [check_writable(path, overwrite=overwrite) for path in files]
    pending: list[tuple[Path, str]] = []
    target = targets[0] if targets else Path(".")
    try:
        for target, data in zip(targets, files.values(), strict=True):
            pending.append((target, _write_temporary(target, data)))
        with _interrupts_held():
            while pending:
                target, tmp_name = pending[0]
                if overwrite:
                    os.replace(tmp_name, target)
                else:
                    os.link(tmp_name, target)  # fails if the file appeared since the check
                    os.unlink(tmp_name)
                pending.pop(0)
    except BaseException as exc:
        for _, tmp_name in pending:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
        if isinstance(exc, FileExistsError):
            raise GraphdiffError(
                Problem(str(target), None, "already exists; use --force to replace it")
            ) from None
        if isinstance(exc, OSError):
            raise GraphdiffError(Problem(str(target), None, f"cannot write: {exc.strerror or exc}")) from None
        raise
    return targets


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl-C came while files were being moved into place: the moves were finished first (they take
    microseconds), then the interrupt was raised. Every file was written."""


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, then raise :class:`InterruptedAfterWriting` if one came."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise InterruptedAfterWriting


def _write_temporary(target: Path, data: bytes | str) -> str:
    """A new temporary file beside ``target`` holding ``data``, on disk; removed again on failure."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions an ordinary open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return tmp_name


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
