"""The one place graphdiff writes files: atomically, so a crash never leaves a half-written file.

Data is written to a temporary file in the destination folder, flushed and fsynced, then moved into place:
with :func:`os.replace` when replacing is allowed (atomic on POSIX and Windows), or with :func:`os.link`,
which fails rather than replace a file that appeared meanwhile, when it is not. On any failure the
temporary file is removed and the destination is untouched. :func:`write_atomic_many` writes several files
as one change: all temporary files first, then all the moves. A destination that is a symbolic link is
refused: graphdiff writes files, never through links.

:func:`write_folder` writes a whole folder (the step-through page and its frames, the demo's pictures) as
one change: it is built in a temporary folder beside it, then renamed into place, so a failure or Ctrl-C
leaves the folder as it was. It replaces an existing folder only when told to, and only a folder that
graphdiff itself wrote: every folder it writes holds a manifest (``.graphdiff-manifest.json``) with the
SHA-256 of each file, and a folder holding anything else (a file it did not write or one changed since, a
link, a sub-folder of someone else's) is refused.

Temporary files and folders are named ``.NAME.PID.XXXXXXXX.tmp``: the writer's process id, and the writer
holds an ``flock`` on them while it lives. A writer killed outright (SIGKILL, the OOM killer, a power cut)
cannot remove its own; the next write to the same NAME removes those whose process is gone and whose lock
nobody holds (see :func:`remove_stale_temporaries`). A live writer's temporary file is never removed.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import GraphdiffError, Problem

try:
    import fcntl
except ImportError:  # not POSIX: no locks, so no temporary file is ever judged stale
    fcntl = None  # type: ignore[assignment]

#: The manifest every folder written by :func:`write_folder` holds: {"graphdiff": 1, "files": {name: sha256}}.
MANIFEST = ".graphdiff-manifest.json"
_MANIFEST_MAX_BYTES = 8 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    writing (a full disk, an error, an interrupt) replaces none of them. Temporary files of the same
    targets left by writers that were killed are removed first."""
    targets = [check_writable(path, overwrite=overwrite) for path in files]
    pending: list[tuple[Path, str]] = []
    written: list[str] = []
    target = targets[0] if targets else Path(".")
    try:
        for target in targets:
            remove_stale_temporaries(target)
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
                written.append(tmp_name)
                pending.pop(0)
            for folder in dict.fromkeys(t.parent for t in targets):
                _fsync_folder(folder)
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
    finally:
        for tmp_name in [*written, *(name for _, name in pending)]:
            _release_lock(tmp_name)
    return targets


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl-C came while files were being moved into place: the moves were finished first (they take
    microseconds), then the interrupt was raised. Every file was written."""


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, then raise :class:`InterruptedAfterWriting` if one came
    (if the block raises, its exception goes on instead)."""
    with _sigint_recorded() as received:
        yield
    if received:
        raise InterruptedAfterWriting


@contextmanager
def _sigint_recorded() -> Iterator[list[int]]:
    """Hold SIGINT during the block; the list says whether one came."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_temporary(target: Path, data: bytes | str) -> str:
    """A new temporary file beside ``target`` holding ``data``, on disk and locked by this process (see
    :func:`remove_stale_temporaries`); removed again on failure."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with _CREATING:  # created and locked before this process's own cleaning up can look at it
        fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent)
        _hold_lock(tmp_name, fd)
    try:
        try:
            # mkstemp creates the file 0600; give it the permissions an ordinary open() would.
            os.fchmod(fd, 0o666 & ~_current_umask())
            tmp = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        _release_lock(tmp_name)
        raise
    return tmp_name


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a rename into it) durable; not every file system can, which is no error."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- temporary files of writers that were killed ---------------------------------------------------------

#: Temporary name -> a descriptor holding the writer's flock on it, while this process writes it.
_LOCKS: dict[str, int] = {}
#: Held while this process creates and locks a temporary file or folder, and while it looks for stale ones.
_CREATING = threading.Lock()
_LONG_NAME = 180  # bytes: a longer name is shortened in temporary names, to stay under NAME_MAX (255)


def _temporary_stem(target: Path) -> str:
    """``.NAME``, with a long NAME cut short and a hash of it added so that the name stays unique."""
    name = target.name
    if len(os.fsencode(name)) <= _LONG_NAME:
        return f".{name}"
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    cut = name
    while len(os.fsencode(cut)) > _LONG_NAME - 13:
        cut = cut[:-1]
    return f".{cut}~{digest}"


def _temporary_prefix(target: Path) -> str:
    return f"{_temporary_stem(target)}.{os.getpid()}."


def _temporary_pattern(target: Path) -> re.Pattern[str]:
    """What the temporary files and folders of ``target`` are called: ``.NAME.PID.XXXXXXXX.tmp``. The
    random part has no dot, so ``.a.5.123.x.tmp`` (target ``a.5``) is never taken for one of ``a``'s."""
    return re.compile(re.escape(_temporary_stem(target)) + r"\.([0-9]{1,10})\.[a-z0-9_]+\.tmp\Z")


def _hold_lock(name: str, fd: int) -> None:
    """Lock the new temporary ``name`` (open as ``fd``) for as long as this process writes it: the lock
    goes with the process, however it ends. Where no lock can be taken (some network file systems),
    nobody else can take one either, and such a temporary file is simply never judged stale."""
    if fcntl is None:
        return
    try:
        held = os.dup(fd)
    except OSError:
        return
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(held)
        return
    _LOCKS[name] = held


def _release_lock(name: str) -> None:
    held = _LOCKS.pop(name, None)
    if held is not None:
        os.close(held)


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing; when in doubt, yes. This process's own id counts as
    ended: its writes in progress hold their locks (and a container's main process is PID 1 at every
    start, so a killed one's leftovers carry this process's id)."""
    if pid == os.getpid():
        return False
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # EPERM: another user's live process
    try:  # a zombie has ended; only its parent has not collected its exit status yet
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    fields = state.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders of ``target`` (``.NAME.PID.XXXXXXXX.tmp`` beside it) that
    were left by writers that no longer run, and return them.

    One is removed only if all hold: its name is a temporary name of ``target``; it is a regular file or a
    folder (never a link) owned by this user; the process ``PID`` has ended (a zombie counts as ended);
    and its flock can be taken (a live writer holds it, wherever it runs: in another PID namespace or on
    another machine sharing the folder, where ``PID`` says nothing). Nothing else is touched, and any
    failure leaves the file where it is: removing leftovers never makes a write fail.
    """
    if fcntl is None:
        return []
    target = Path(target)
    folder = target.parent
    pattern = _temporary_pattern(target)
    removed = []
    with _CREATING:
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        for name in names:
            match = pattern.match(name)
            if match is None or _writer_alive(int(match.group(1))):
                continue
            try:
                if _remove_if_unlocked(folder / name):
                    removed.append(folder / name)
            except OSError:
                pass
    return removed


def _remove_if_unlocked(path: Path) -> bool:
    info = os.lstat(path)
    if info.st_uid != os.geteuid():
        return False
    if stat.S_ISREG(info.st_mode):
        flags = os.O_RDONLY | os.O_NONBLOCK
    elif stat.S_ISDIR(info.st_mode):
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    else:
        return False
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live writer holds it (or locks are not supported here: leave it)
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return False
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    finally:
        os.close(fd)


# --- folders written as one change -----------------------------------------------------------------------


class FolderWriter:
    """Files written into a folder being built by :func:`write_folder`, by name relative to the folder
    (``frame-001.svg``, ``steps/index.html``). An error names the file where it would have been."""

    def __init__(self, root: Path, final: Path) -> None:
        self._root = root
        self._final = final
        self._files: dict[str, str] = {}

    def final(self, name: str) -> Path:
        """Where the file ``name`` will be once the folder is in place (for messages)."""
        return self._final / name

    def write(self, name: str, data: bytes | str) -> None:
        if not _relative_name(name) or name in self._files:
            raise ValueError(f"not a new relative file name: {name!r}")
        payload = data.encode("utf-8") if isinstance(data, str) else data
        path = self._root.joinpath(*name.split("/"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            with os.fdopen(os.open(path, flags, 0o666), "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise GraphdiffError(
                Problem(str(self.final(name)), None, f"cannot write: {exc.strerror or exc}")
            ) from None
        self._files[name] = hashlib.sha256(payload).hexdigest()

    def seal(self, sub: str = "") -> None:
        """Write the manifest of the files written so far under the sub-folder ``sub`` ("" for the
        folder itself): the folder, moved elsewhere, is then known as graphdiff's on its own."""
        prefix = f"{sub.strip('/')}/" if sub.strip("/") else ""
        files = {
            name[len(prefix) :]: digest for name, digest in self._files.items() if name.startswith(prefix)
        }
        text = json.dumps({"graphdiff": 1, "files": dict(sorted(files.items()))}, indent=1) + "\n"
        self.write(prefix + MANIFEST, text)


#: A check for folders graphdiff wrote before folders held a manifest: true if the folder is one.
LegacyCheck = Callable[[Path], bool]


def check_folder_writable(
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    legacy: LegacyCheck | None = None,
    main_file: str | None = None,
) -> Path:
    """Refuse, before any work is done, a folder :func:`write_folder` would not replace.

    A missing folder or an empty one is fine. An existing one is refused if it is a symbolic link or not
    a folder, if it holds anything graphdiff did not write (even with ``overwrite``: what is not
    graphdiff's is not graphdiff's to delete), or, without ``overwrite``, at all; that message names
    ``main_file`` in it (``steps/index.html``) when there is one."""
    folder = Path(path)
    if os.path.basename(os.path.normpath(folder)) in ("", ".", ".."):
        raise GraphdiffError(
            Problem(str(folder), None, "name the folder itself (not . or ..): graphdiff writes it as a whole")
        )
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return folder
    except OSError as exc:
        raise GraphdiffError(Problem(str(folder), None, f"cannot write: {exc.strerror or exc}")) from None
    if stat.S_ISLNK(info.st_mode):
        raise GraphdiffError(Problem(str(folder), None, "is a symbolic link; refusing to write through it"))
    if not stat.S_ISDIR(info.st_mode):
        raise GraphdiffError(Problem(str(folder), None, "exists and is not a folder"))
    foreign = _foreign_entry(folder, legacy)
    if foreign is not None:
        name, why = foreign
        raise GraphdiffError(
            Problem(
                str(folder / name) if name else str(folder),
                None,
                f"{why}; refusing to replace the folder {folder}, even with --force",
            )
        )
    if not overwrite and os.listdir(folder):
        shown = folder / main_file if main_file and os.path.lexists(folder / main_file) else folder
        raise GraphdiffError(Problem(str(shown), None, "already exists; use --force to replace it"))
    return folder


def write_folder(
    path: str | os.PathLike[str],
    build: Callable[[FolderWriter], None],
    *,
    overwrite: bool = True,
    legacy: LegacyCheck | None = None,
    main_file: str | None = None,
) -> Path:
    """Write the folder ``path`` as one change: ``build`` writes its files through a
    :class:`FolderWriter` into a new temporary folder beside it (``.NAME.PID.XXXXXXXX.tmp``), a manifest
    is added, and only then is the temporary folder renamed into place, replacing the old folder in one
    atomic step where the system can (Linux's ``renameat2``). On any failure or Ctrl-C before then,
    ``path`` is as it was and the temporary folder is gone; missing parent folders are created, and
    removed again on failure. Which folders may be replaced: see :func:`check_folder_writable`; the old
    folder is checked again after it has been swapped out, and put back if something was added to it
    meanwhile."""
    folder = check_folder_writable(path, overwrite=overwrite, legacy=legacy, main_file=main_file)
    parent = folder.parent
    created: list[Path] = []
    tmp: Path | None = None
    lock = -1
    try:
        _make_folders(parent, created)
        remove_stale_temporaries(folder)
        with _CREATING:
            tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(folder), suffix=".tmp", dir=parent))
            lock = _lock_folder(tmp)
        writer = FolderWriter(tmp, folder)
        build(writer)
        writer.seal()
        for root, _, _ in os.walk(tmp):
            _fsync_folder(Path(root))
        os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes it 0700
        with _interrupts_held():
            old = _move_into_place(tmp, folder, overwrite=overwrite, legacy=legacy, main_file=main_file)
            tmp = old  # what is left to remove: the old folder, swapped out (or nothing)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
                tmp = None
            _fsync_folder(parent)
    except InterruptedAfterWriting:
        raise
    except BaseException as exc:
        with _sigint_recorded() as received:  # a second Ctrl-C must not stop the cleaning up
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for made in reversed(created):
                try:
                    made.rmdir()
                except OSError:
                    break
        if isinstance(exc, OSError):
            raise GraphdiffError(Problem(str(folder), None, f"cannot write: {exc.strerror or exc}")) from None
        if received and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    finally:
        if lock >= 0:
            os.close(lock)
    return folder


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, adding each one made to ``created`` (outermost first)."""
    missing = []
    current = folder
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for made in reversed(missing):
        try:
            made.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise GraphdiffError(
                Problem(str(made), None, f"cannot create the folder: {exc.strerror or exc}")
            ) from None
        created.append(made)


def _lock_folder(folder: Path) -> int:
    if fcntl is None:
        return -1
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass
    return fd


def _move_into_place(
    tmp: Path, folder: Path, *, overwrite: bool, legacy: LegacyCheck | None, main_file: str | None
) -> Path | None:
    """Rename ``tmp`` to ``folder``; if a folder is there, swap the two and return where the old one now
    is (to be removed)."""
    if _rename2(tmp, folder, _RENAME_NOREPLACE):
        return None
    if not os.path.lexists(folder):
        try:
            os.rename(tmp, folder)  # onto nothing (or onto an empty folder made meanwhile)
            return None
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    # A folder is there: the one checked before the work began, or one that appeared meanwhile.
    check_folder_writable(folder, overwrite=overwrite, legacy=legacy, main_file=main_file)
    if _rename2(tmp, folder, _RENAME_EXCHANGE):
        old = tmp
    else:  # two renames: the folder is missing for a moment (Ctrl-C is held meanwhile)
        old = Path(tempfile.mkdtemp(prefix=_temporary_prefix(folder), suffix=".tmp", dir=folder.parent))
        try:
            os.rename(folder, old)  # onto the empty folder just made
        except BaseException:
            old.rmdir()
            raise
        try:
            os.rename(tmp, folder)
        except BaseException:
            os.rename(old, folder)
            raise
    foreign = _foreign_entry(old, legacy) if not os.path.islink(old) and os.path.isdir(old) else ("", "")
    if foreign is not None:  # something was put there after the check: put the folder back, refuse
        if old == tmp:
            _rename2(tmp, folder, _RENAME_EXCHANGE)
        else:
            os.rename(folder, tmp)
            os.rename(old, folder)
        name, why = foreign
        raise GraphdiffError(
            Problem(
                str(folder / name) if name else str(folder),
                None,
                f"{why or 'was replaced while writing'}; refusing to replace the folder {folder}, "
                "even with --force",
            )
        )
    return old


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
_renameat2: Any = False  # False: not looked up yet; None: there is none


def _rename2(source: Path, destination: Path, flags: int) -> bool:
    """Linux's renameat2 (RENAME_NOREPLACE: fail if the destination exists; RENAME_EXCHANGE: swap the two,
    atomically): True if done; False if this system or file system cannot, or (RENAME_NOREPLACE) if the
    destination exists."""
    global _renameat2
    if _renameat2 is False:
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
            _renameat2 = function
        except (OSError, AttributeError, TypeError):
            _renameat2 = None
    if _renameat2 is None:
        return False
    result = _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), flags)
    if result == 0:
        return True
    code = ctypes.get_errno()
    # EINVAL, ENOTSUP: this file system cannot; ENOSYS: this kernel cannot; EPERM: a seccomp filter (older
    # container runtimes) forbids the call; a real lack of permission fails the plain rename as well.
    if code in (
        errno.EINVAL,
        errno.ENOSYS,
        errno.EPERM,
        getattr(errno, "ENOTSUP", -1),
        getattr(errno, "EOPNOTSUPP", -1),
    ):
        return False
    if code == errno.EEXIST and flags == _RENAME_NOREPLACE:
        return False  # the caller looks at what is there
    raise OSError(code, os.strerror(code), str(destination))


# --- is a folder graphdiff's? ----------------------------------------------------------------------------


def _foreign_entry(folder: Path, legacy: LegacyCheck | None) -> tuple[str, str] | None:
    """The first thing in ``folder`` that graphdiff did not write, as (name relative to it, why), or None
    if everything there is graphdiff's (or the folder is empty)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        return "", f"cannot be read: {exc.strerror or exc}"
    if not names:
        return None
    files = _read_manifest(folder)
    if files is None:
        if legacy is not None and legacy(folder):
            return None
        shown = next((n for n in names if n != MANIFEST), names[0])
        return shown, "was not written by graphdiff"
    folders = {str(PurePosixPath(name).parent) for name in files} | {"."}
    folders |= {str(p) for name in files for p in PurePosixPath(name).parents}
    for root, dirs, entries in os.walk(folder):
        dirs.sort()
        for name in sorted(dirs) + sorted(entries):
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if relative == MANIFEST:
                continue
            try:
                info = os.lstat(path)
            except OSError as exc:
                return relative, f"cannot be read: {exc.strerror or exc}"
            if stat.S_ISLNK(info.st_mode):
                return relative, "is a symbolic link graphdiff did not make"
            if stat.S_ISDIR(info.st_mode):
                if relative not in folders:
                    return relative, "was not written by graphdiff"
            elif not stat.S_ISREG(info.st_mode):
                return relative, "is not a regular file"
            elif relative not in files:
                return relative, "was not written by graphdiff"
            elif _sha256(path) != files[relative]:
                return relative, "was changed after graphdiff wrote it"
    return None


def _read_manifest(folder: Path) -> dict[str, str] | None:
    """The manifest's files (relative name -> SHA-256), or None if there is no well-formed one."""
    try:
        with _open_regular(folder / MANIFEST) as file:
            text = file.read(_MANIFEST_MAX_BYTES + 1)
        document = json.loads(text)
    except (OSError, ValueError):
        return None
    if len(text) > _MANIFEST_MAX_BYTES or not isinstance(document, dict) or document.get("graphdiff") != 1:
        return None
    files = document.get("files")
    if not isinstance(files, dict):
        return None
    for name, digest in files.items():
        if not _relative_name(name) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            return None
    return files


def _relative_name(name: str) -> bool:
    """Whether ``name`` is a plain relative name inside a folder: no root and no '', '.' or '..' part."""
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in name.split("/"))


@contextmanager
def _open_regular(path: Path) -> Iterator[object]:
    """``path`` open for reading if it is a regular file, never through a link or blocking on a FIFO."""
    fd = os.open(
        path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb") as file:
            fd = -1
            yield file
    finally:
        if fd >= 0:
            os.close(fd)


def _sha256(path: Path) -> str | None:
    try:
        with _open_regular(path) as file:
            return hashlib.file_digest(file, "sha256").hexdigest()  # type: ignore[arg-type]
    except OSError:
        return None
