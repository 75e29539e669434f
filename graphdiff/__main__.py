"""``python -m graphdiff`` runs the command line, as the console script does.

Python imports the ``graphdiff`` package (``graphdiff/__init__.py``) before this module runs; from here on,
:func:`graphdiff.cli.launch` turns a Ctrl-C at any moment into exit code 130 without a traceback.
"""

import sys

try:
    from .cli import launch  # the standard library only: the commands are imported inside its guard
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(launch())
