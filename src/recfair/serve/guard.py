"""ASGI middleware of the service: bearer-token check, body-size limit, request metrics.

Written as plain ASGI callables (no per-request task or thread) so they add
microseconds, not milliseconds.  Order, outermost first: metrics (every answer is
counted, refusals included) → token → body size → the FastAPI app.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException

from recfair.serve.observe import RequestMetrics

__all__ = ["BODY_TOO_LARGE", "BodyLimit", "BearerAuth", "MISSING_TOKEN", "Metered", "OPEN_PATHS", "WRONG_TOKEN"]

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]

MISSING_TOKEN = "Missing bearer token: send the header 'Authorization: Bearer <api key>'."
WRONG_TOKEN = "Wrong bearer token."
BODY_TOO_LARGE = "Request body larger than {limit} bytes."
#: Paths answered without a token (liveness checks).
OPEN_PATHS = ("/health",)


async def send_json(send: Callable, status: int, body: dict[str, Any], headers: list | None = None) -> None:
    """Send a whole JSON response from middleware."""
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BearerAuth:
    """Refuse every HTTP request but :data:`OPEN_PATHS` without ``Authorization: Bearer <key>`` (401).

    The token is compared with :func:`hmac.compare_digest` (constant time).
    """

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        challenge = [(b"www-authenticate", b'Bearer realm="recfair"')]
        if scheme.lower() != b"bearer" or not token:
            return await send_json(send, 401, {"detail": MISSING_TOKEN}, challenge)
        if not hmac.compare_digest(token.strip(), self.key):
            return await send_json(send, 401, {"detail": WRONG_TOKEN}, challenge)
        return await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by ``Content-Length`` or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = int(limit)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = {"detail": BODY_TOO_LARGE.format(limit=self.limit)}
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await send_json(send, 413, too_large)
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # a chunked body: the app answers 413 through its error handler
                    raise HTTPException(status_code=413, detail=too_large["detail"])
            return message

        await self.app(scope, limited, send)


class Metered:
    """Count every HTTP answer by route template, method and status, with its latency."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def recording(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(route, scope.get("method", ""), status, time.perf_counter() - t0)
