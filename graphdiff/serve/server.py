"""Running the viewer: a socket bound to 127.0.0.1 (never another address) served by uvicorn.

The socket is bound and listening before uvicorn starts, so the port (a free one when 0 is asked for) is
known and printed at once, and a browser opened at that moment is queued rather than refused.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from ..errors import GraphdiffError, Problem

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: a free port); a port in use is a one-line error."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a port left in TIME_WAIT by the last run is free again at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise GraphdiffError(Problem(None, "--port", f"cannot listen on {HOST}:{port}: {reason}")) from None
    return sock


def make_server(app: ASGIApp) -> uvicorn.Server:
    """A uvicorn server for ``app`` that logs only warnings and errors (no access log)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        # Ctrl-C stops at once even with the page's keep-alive connection still open.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def run(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C (which then reaches the caller as KeyboardInterrupt)."""
    server = make_server(app)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
