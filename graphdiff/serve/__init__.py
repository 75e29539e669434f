"""The live viewer (``graphdiff serve FILE``): a local web app showing a graph's diagram, in which a click on
a gate or wire shows its full value and gradient and an edit of a leaf recomputes everything at once.

- :mod:`.session` holds the state (leaf values, the result, the view) and knows nothing of HTTP;
- :mod:`.payload` turns arrays into the page's JSON and checks the values the page sends;
- :mod:`.app` is the Starlette app: the page, its script and style, and a JSON API over the session,
  every request validated (a 4xx with a JSON message, never a traceback page);
- :mod:`.server` binds 127.0.0.1 and runs the app with uvicorn.

Starlette and uvicorn are the optional ``serve`` extra: importing graphdiff (or this package) never imports
them; :func:`require_serve` says how to install them.

>>> import graphdiff as gd
>>> from graphdiff.serve import Session
>>> session = Session(gd.load("examples/cs231n_circuit.json"))
>>> session.set_leaf("x", 1.0)
>>> float(session.result.value("f")), float(session.result.grad("x"))
(-24.0, -4.0)
"""

from __future__ import annotations

from ..errors import GraphdiffError, Problem
from .payload import RequestError
from .session import DataRows, Session

__all__ = ["SERVE_HINT", "DataRows", "RequestError", "Session", "require_serve"]

SERVE_HINT = "graphdiff serve needs Starlette and uvicorn: pip install 'graphdiff[serve]'"


def require_serve() -> None:
    """Refuse, with the command that installs them, when Starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise GraphdiffError(Problem(None, None, SERVE_HINT)) from None
