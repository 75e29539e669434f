"""``python -m graphdiff.cli`` runs the command line (as do ``python -m graphdiff`` and the console script).

Python imports ``graphdiff`` and ``graphdiff.cli`` (the standard library only) before this module runs;
:func:`graphdiff.cli.launch` imports the commands inside the guard that turns Ctrl-C into exit code 130.
"""

from . import launch

raise SystemExit(launch())
