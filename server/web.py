"""Streamable HTTP serving: ``/mcp``, ``GET /health``, ``GET /ready``, a request-size limit,
and a limit on failed bearer attempts.

``/health`` (liveness) and ``/ready`` (readiness: every root exists and is readable) need
no token and reveal no paths. Request bodies larger than ``max_request_bytes`` get HTTP
413 before the MCP layer (or auth) reads them. A remote address that made
``auth_fail_limit`` failed bearer attempts within ``auth_fail_window`` seconds gets HTTP
429 with ``Retry-After`` (see ``AuthFailureLimit``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import os
import time
from typing import Any

from starlette.middleware import Middleware as ASGIMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_BODYLESS = {"GET", "HEAD", "OPTIONS", "DELETE"}
log = logging.getLogger("sciio_mcp.auth")


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reply(self, send: Any, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes (the server's --max-request-bytes)"
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.strip().isdigit():
                await self._reply(send, 400, "BAD_REQUEST", "invalid Content-Length")
                return
            if int(declared) > self.max_bytes:
                await self._reply(send, 413, "REQUEST_TOO_LARGE", too_large)
                return
            await self.app(scope, receive, send)  # the server enforces the declared length
            return
        # no Content-Length (chunked): read up to the limit, then replay what was read
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reply(send, 413, "REQUEST_TOO_LARGE", too_large)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class _Address:
    __slots__ = ("failures", "good", "stamp")

    def __init__(self) -> None:
        self.failures: collections.deque[float] = collections.deque()
        self.good: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self.stamp = 0.0


class AuthFailureLimit:
    """Pure ASGI middleware (inside FastMCP's authentication): failed bearer attempts per remote address.

    A request to ``path`` carrying an ``Authorization`` header that did not authenticate is a
    failure. Once an address has ``limit`` failures within ``window`` seconds, its requests
    with an ``Authorization`` header get 429 and ``Retry-After`` (until the oldest of them
    leaves the window) *without* regard to whether the token is valid, so guessing stops;
    tokens that already authenticated from that address before are let through, so a
    working client sharing the address (a proxy, a lab NAT) keeps working. Successful
    requests never count. Requests without the header get the usual 401 and are not counted.
    """

    MAX_ADDRESSES = 10_000
    MAX_GOOD_PER_ADDRESS = 64

    def __init__(self, app: Any, limit: int, window: float, path: str = "/mcp") -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self.path = path.rstrip("/")
        self.addresses: dict[str, _Address] = {}

    def _address(self, host: str, now: float) -> _Address:
        entry = self.addresses.get(host)
        if entry is None:
            if len(self.addresses) >= self.MAX_ADDRESSES:
                self._prune(now)
            entry = self.addresses[host] = _Address()
        entry.stamp = now
        while entry.failures and now - entry.failures[0] >= self.window:
            entry.failures.popleft()
        return entry

    def _prune(self, now: float) -> None:
        stale = [h for h, e in self.addresses.items() if now - e.stamp >= self.window]
        if not stale:  # every address is active: forget the least recently seen half
            stale = sorted(self.addresses, key=lambda h: self.addresses[h].stamp)[: len(self.addresses) // 2]
        for host in stale:
            del self.addresses[host]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not (scope["path"] == self.path or scope["path"].startswith(self.path + "/")):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            await self.app(scope, receive, send)
            return
        host = scope["client"][0] if scope.get("client") else "unknown"
        now = time.monotonic()
        entry = self._address(host, now)
        digest = hashlib.sha256(header).digest()
        authenticated = bool(getattr(scope.get("user"), "is_authenticated", False))
        if len(entry.failures) >= self.limit and not (authenticated and digest in entry.good):
            wait = max(1, math.ceil(self.window - (now - entry.failures[0])))
            body = json.dumps({"error": "TOO_MANY_AUTH_FAILURES", "message": (
                f"{len(entry.failures)} failed bearer attempts from this address in {self.window:g} s; "
                f"retry after {wait} s")}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if authenticated:
            entry.good[digest] = None
            entry.good.move_to_end(digest)
            while len(entry.good) > self.MAX_GOOD_PER_ADDRESS:
                entry.good.popitem(last=False)
        else:
            entry.failures.append(now)
            if len(entry.failures) == self.limit:
                log.warning("bearer attempts from %s limited: %d failures in %g s", host, self.limit, self.window)
        await self.app(scope, receive, send)


def root_problems(roots: list[Any]) -> list[str]:
    """Why the server is not ready, without naming paths (the routes are unauthenticated)."""
    problems = []
    for n, root in enumerate(roots, 1):
        if not os.path.isdir(root):
            problems.append(f"root {n} is missing or not a folder")
        elif not os.access(root, os.R_OK | os.X_OK):
            problems.append(f"root {n} is not readable")
    return problems


def register_routes(mcp: Any, settings: Any) -> None:
    @mcp.custom_route("/health", methods=["GET"], include_in_schema=False)
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @mcp.custom_route("/ready", methods=["GET"], include_in_schema=False)
    async def ready(request: Request) -> Response:
        problems = root_problems(settings.local_roots())
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready", "roots": len(settings.roots), "read_only": settings.read_only})


def _middleware(mcp: Any, settings: Any) -> list[ASGIMiddleware]:
    """Outermost first; all of it runs inside FastMCP's authentication (which sets ``scope["user"]``)."""
    stack = []
    if getattr(mcp, "auth", None) is not None and settings.auth_fail_limit > 0:
        stack.append(ASGIMiddleware(AuthFailureLimit, limit=settings.auth_fail_limit, window=settings.auth_fail_window))
    stack.append(ASGIMiddleware(BodyLimit, max_bytes=settings.max_request_bytes))
    return stack


def serve(mcp: Any, settings: Any) -> None:
    """Serve over streamable HTTP at /mcp until stopped (blocking)."""
    mcp.run(
        transport="http",
        host=settings.http_host,
        port=settings.http_port,
        path="/mcp",
        show_banner=False,
        host_origin_protection="auto",  # Host/Origin checks (DNS rebinding) when bound to loopback
        middleware=_middleware(mcp, settings),
        # uvicorn's default logging config writes its access log to stdout: use ours (stderr)
        uvicorn_config={"log_config": None, "access_log": False, "server_header": False},
    )
