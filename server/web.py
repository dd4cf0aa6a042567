"""Streamable HTTP serving: ``/mcp``, ``GET /health``, ``GET /ready``, and a request-size limit.

``/health`` (liveness) and ``/ready`` (readiness: every root exists and is readable) need
no token and reveal no paths. Request bodies larger than ``max_request_bytes`` get HTTP
413 before the MCP layer (or auth) reads them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from starlette.middleware import Middleware as ASGIMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_BODYLESS = {"GET", "HEAD", "OPTIONS", "DELETE"}


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
        problems = root_problems(list(settings.roots))
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready", "roots": len(settings.roots), "read_only": settings.read_only})


def serve(mcp: Any, settings: Any) -> None:
    """Serve over streamable HTTP at /mcp until stopped (blocking)."""
    mcp.run(
        transport="http",
        host=settings.http_host,
        port=settings.http_port,
        path="/mcp",
        show_banner=False,
        host_origin_protection="auto",  # Host/Origin checks (DNS rebinding) when bound to loopback
        middleware=[ASGIMiddleware(BodyLimit, max_bytes=settings.max_request_bytes)],
        # uvicorn's default logging config writes its access log to stdout: use ours (stderr)
        uvicorn_config={"log_config": None, "access_log": False, "server_header": False},
    )
