"""``python -m graphdiff.cli`` runs the command line (as does ``python -m graphdiff``)."""

from . import main

raise SystemExit(main())
