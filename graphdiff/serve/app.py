"""The viewer's web app: the page, its script and style, and a JSON API over a :class:`Session`.

Routes (every answer is JSON unless it is the page, a static file or a picture):

- ``GET /`` the page; ``GET /static/viewer.js``, ``/static/viewer.css``, ``/static/favicon.svg``
- ``GET /api/graph`` the structure: every id by its SVG index (``n<i>``), kinds, ops, inputs, clusters
- ``GET /api/state`` the diagram (SVG text), the loss, a summary of every value and gradient, the view
- ``GET /api/node/<i>``, ``/api/wire/<i>/<p>``, ``/api/box/<k>`` one item in full (value and gradient)
- ``GET /api/diagram.svg``, ``/api/diagram.png`` the diagram (``?download=1``: as an attachment)
- ``GET /api/steps``, ``/api/steps/<k>`` the step-through frames' captions, and one frame
- ``POST /api/leaf`` ``{"id": "x", "value": 1}`` or ``{"id": "X", "index": [0, 3], "value": 0.5}``
- ``POST /api/rows`` ``{"rows": [0, 1, 2]}`` (with ``--data``); ``POST /api/reset`` ``{}``
- ``POST /api/view`` ``{"collapse": ["layer1"]}``; ``POST /api/check`` ``{}`` a gradient check

Every request passes :class:`Guard` first: only the Host names 127.0.0.1 and localhost (a page elsewhere
that rebinds its DNS name to 127.0.0.1 is refused), no cross-site Origin, a bounded body, JSON bodies
for POST. Every failure is a 4xx with ``{"error": message}``, and every answer carries a
Content-Security-Policy that lets the page load nothing but the app's own files.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import GraphdiffError, SpecError
from ..spec.strict_json import parse_json
from .payload import RequestError
from .session import Session

#: The largest request body read (an edited tensor of MAX_EDIT_ELEMENTS numbers fits many times over).
MAX_BODY = 1024 * 1024
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
#: The page loads its own script, style and pictures and talks to its own API; nothing else, ever.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
STATIC = {
    "viewer.js": "text/javascript; charset=utf-8",
    "viewer.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def json_response(content: Any, status: int = 200) -> Response:
    # allow_nan=False: the session writes nan and inf as strings; a bare NaN would be invalid JSON.
    body = json.dumps(content, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class Guard:
    """ASGI middleware in front of every route: Host and Origin checks, the body limit, JSON bodies for
    POST, and the security headers on every answer (errors included)."""

    def __init__(self, app: ASGIApp, *, port: int | None = None) -> None:
        self.app = app
        #: The port the server listens on, once known: an Origin naming another port is another site.
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if refusal is None and scope["method"] == "POST":
            body = await _read_body(receive, headers)
            if isinstance(body, Response):
                refusal = body
            else:
                receive = _replay(body)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        host = headers.get("host", "")
        if _hostname(host) not in ALLOWED_HOSTS:
            # Not echoed: the name came from whoever sent the request.
            return error_response(403, "requests must name the host 127.0.0.1 or localhost")
        origin = headers.get("origin")
        if origin is not None and not self._same_site(origin):
            return error_response(403, "cross-origin requests are refused")
        if headers.get("sec-fetch-site") == "cross-site":
            return error_response(403, "cross-site requests are refused")
        if scope["method"] == "POST":
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                return error_response(415, "POST bodies must be JSON (Content-Type: application/json)")
        return None

    def _same_site(self, origin: str) -> bool:
        match = re.fullmatch(r"http://([^/:]+)(?::(\d{1,5}))?", origin)
        if match is None or match.group(1) not in ALLOWED_HOSTS:
            return False
        return self.port is None or int(match.group(2) or 80) == self.port


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _hostname(host: str) -> str:
    """``127.0.0.1`` from ``127.0.0.1:8000``; an IPv6 literal or anything odd comes out as it is."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not name.endswith("]"):
        return name.lower()
    return host.lower()


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | Response:
    """The whole body, or the 413 answer as soon as it is known to pass :data:`MAX_BODY`."""
    too_large = error_response(413, f"the request body is larger than {MAX_BODY:,} bytes")
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return error_response(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY:
            return too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return error_response(400, "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _json_body(request: Request, keys: set[str]) -> dict[str, Any]:
    """The body as a JSON object with no keys but ``keys``; strict JSON (no NaN, no duplicate keys)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = parse_json(raw, None)
    except SpecError as exc:
        raise RequestError(400, "; ".join(str(p) for p in exc.problems)) from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - keys)
    if unknown:
        allowed = ", ".join(sorted(keys)) or "none"
        raise RequestError(400, f"unknown key {json.dumps(unknown[0])} (allowed: {allowed})")
    return body


def create_app(session: Session, *, port: int | None = None) -> ASGIApp:
    """The viewer app for ``session``; ``port``, when known, is the only one an Origin may name."""
    static = resources.files(__package__) / "static"
    files = {name: (static / name).read_bytes() for name in STATIC}
    page = (static / "viewer.html").read_bytes()

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            raise RequestError(404, "no such file")
        return Response(files[name], media_type=STATIC[name])

    async def graph(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.structure))

    async def state(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.state))

    async def node(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.node, request.path_params["index"]))

    async def wire(request: Request) -> Response:
        index, position = request.path_params["index"], request.path_params["position"]
        return json_response(await run_in_threadpool(session.wire, index, position))

    async def box(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.box, request.path_params["index"]))

    def picture(fmt: str, media: str):
        async def endpoint(request: Request) -> Response:
            data = await run_in_threadpool(session.image, fmt)
            headers = {}
            if request.query_params.get("download"):
                headers["content-disposition"] = f'attachment; filename="{_file_name(session)}.{fmt}"'
            return Response(data, media_type=media, headers=headers)

        return endpoint

    async def steps(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.steps))

    async def step(request: Request) -> Response:
        return json_response(await run_in_threadpool(session.step, request.path_params["index"]))

    async def leaf(request: Request) -> Response:
        body = await _json_body(request, {"id", "value", "index"})
        if "id" not in body or "value" not in body:
            raise RequestError(400, 'an edit names the leaf and its value: {"id": "x", "value": 1}')
        await run_in_threadpool(session.set_leaf, body["id"], body["value"], body.get("index"))
        return json_response(await run_in_threadpool(session.state))

    async def rows(request: Request) -> Response:
        body = await _json_body(request, {"rows"})
        await run_in_threadpool(session.set_rows, body.get("rows"))
        return json_response(await run_in_threadpool(session.state))

    async def reset(request: Request) -> Response:
        await _json_body(request, set())
        await run_in_threadpool(session.reset)
        return json_response(await run_in_threadpool(session.state))

    async def view(request: Request) -> Response:
        body = await _json_body(request, {"collapse"})
        if "collapse" in body:
            await run_in_threadpool(session.set_collapse, body["collapse"])
        return json_response(await run_in_threadpool(session.state))

    async def check(request: Request) -> Response:
        await _json_body(request, set())
        return json_response(await run_in_threadpool(session.check))

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static_file, methods=["GET"]),
        Route("/api/graph", graph, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/node/{index:int}", node, methods=["GET"]),
        Route("/api/wire/{index:int}/{position:int}", wire, methods=["GET"]),
        Route("/api/box/{index:int}", box, methods=["GET"]),
        Route("/api/diagram.svg", picture("svg", "image/svg+xml"), methods=["GET"]),
        Route("/api/diagram.png", picture("png", "image/png"), methods=["GET"]),
        Route("/api/steps", steps, methods=["GET"]),
        Route("/api/steps/{index:int}", step, methods=["GET"]),
        Route("/api/leaf", leaf, methods=["POST"]),
        Route("/api/rows", rows, methods=["POST"]),
        Route("/api/reset", reset, methods=["POST"]),
        Route("/api/view", view, methods=["POST"]),
        Route("/api/check", check, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            RequestError: _request_error,
            GraphdiffError: _graphdiff_error,
            Exception: _server_error,
        },
    )
    return Guard(app, port=port)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such page or endpoint", 405: "method not allowed"}
    response = error_response(exc.status_code, messages.get(exc.status_code, exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)  # 405 says which methods are allowed
    return response


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return error_response(exc.status, exc.message)


async def _graphdiff_error(request: Request, exc: Exception) -> Response:
    # Graphviz's dot missing or failing, a dataset that cannot feed the graph: the request cannot be met.
    assert isinstance(exc, GraphdiffError)
    return error_response(422, "; ".join(str(p) for p in exc.problems))


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug: the page gets a message, not a traceback (uvicorn's log has the traceback).
    return error_response(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def _file_name(session: Session) -> str:
    """The graph's name as a safe download file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", session.checked.name).strip("._")[:80]
    return name or "graph"
