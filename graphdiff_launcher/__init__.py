"""The ``graphdiff`` console script's entry point, so that Ctrl-C from the first instant is exit code 130.

Importing graphdiff takes a moment (numpy, pydantic, networkx, ...), and a Ctrl-C during an import outside
any ``try`` prints a KeyboardInterrupt traceback. Importing any module of the ``graphdiff`` package runs
``graphdiff/__init__.py`` first, with all its imports, so the entry point lives outside the package and
imports nothing but :mod:`signal` and :mod:`sys` at its top.

While graphdiff is imported, Ctrl-C is noted, not raised: a KeyboardInterrupt raised inside a third-party
module's import can land in a finalizer, where Python prints it ("Exception ignored ... KeyboardInterrupt")
and drops it, and the run would go on. Once the imports are done, a noted Ctrl-C is "interrupted" and exit
code 130; :func:`graphdiff.cli.launch` guards the rest of the run the same way.
"""

import signal
import sys

__all__ = ["main"]


def main() -> int:
    """Run ``graphdiff`` with ``sys.argv``: a process's entry point (once the command is over it ignores
    Ctrl-C, so it is not for calling in-process; call :func:`graphdiff.cli.main` there)."""
    noted: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # a background job started with Ctrl-C ignored keeps ignoring it
        signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        from graphdiff.cli import launch
    finally:
        signal.signal(signal.SIGINT, previous)
    if noted:
        print("interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, the shell's convention, as graphdiff.cli exits
    return launch()


if __name__ == "__main__":
    sys.exit(main())
