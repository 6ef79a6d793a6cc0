"""The service's edge: API-key auth, body limit, readiness, metrics and one log line per error.

A pure ASGI middleware around the whole BentoML app (its own ``/readyz`` and ``/metrics``
included):

- every path but ``/healthz`` and the dashboard's static page needs ``Authorization: Bearer
  <key>``, checked against every configured key with :func:`hmac.compare_digest` (no early
  exit, so timing says nothing about which key or how much of it matched); otherwise 401;
- a body larger than ``DEALRISK_MAX_BODY_MB`` is refused with 413 before it is read whole;
- ``GET /readyz`` answers whether the model is loaded and which one (JSON);
- a keep-alive connection is closed after ``DEALRISK_KEEPALIVE_REQUESTS`` answers
  (:mod:`serving.keepalive`), so the workers share the load;
- every answer is counted (:mod:`serving.metrics`); an error answer gets one log line (method,
  path, status, kind, offending fields) and never the key; an exception the app did not handle
  becomes a JSON 500 without a stack trace (the traceback goes to the server log only).

Example:
    >>> keys = (b"secret-1", b"secret-2")
    >>> key_matches(b"Bearer secret-2", keys), key_matches(b"Bearer nope", keys)
    (True, False)
    >>> key_matches(b"secret-2", keys)
    False
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from serving.keepalive import ConnectionRecycler
from serving.metrics import ERRORS, LATENCY, REQUESTS, endpoint_label
from serving.schemas import ErrorBody, Problem

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOG = logging.getLogger("dealrisk.serving")
#: Paths answered without a key: liveness and the dashboard's page (it asks for the key).
OPEN_PATHS = ("/healthz",)
OPEN_PREFIXES = ("/dashboard/static/",)
OPEN_EXACT = ("/dashboard", "/dashboard/")
ERROR_KIND_HEADER = b"x-dealrisk-error"
#: Answers of BentoML's own routes (plain text) the edge turns into an ErrorBody.
PLAIN_ERRORS = {404: ("not_found", "no such route; see /docs.json"),
                405: ("method_not_allowed", "this route does not take that method; see "
                                            "/docs.json")}


#: The body of every 500: the traceback goes to the server log only.
INTERNAL_BODY = ErrorBody(error="internal", message="the service failed on this request; it "
                          "is logged").model_dump_json().encode()


def key_matches(header: bytes, keys: tuple[bytes, ...]) -> bool:
    """Whether an ``Authorization`` header carries one of ``keys`` (constant time per key)."""
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer" or not token:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.strip(), key)
    return found


def error_body(error: str, message: str, problems: list[Problem] | None = None) -> bytes:
    """The JSON of an :class:`~serving.schemas.ErrorBody`."""
    return ErrorBody(error=error, message=message, problems=problems or []).model_dump_json(
        ).encode()


class ServiceEdge:
    """The middleware (see the module docstring); BentoML passes the inner app."""

    def __init__(self, app: ASGIApp, readiness: Callable[[], tuple[bool, bytes]] | None = None
                 ) -> None:
        from serving.settings import Settings

        self.app = app
        self.settings = Settings.from_env()
        self.readiness = readiness
        self.recycler = ConnectionRecycler(self.settings.keepalive_requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer or pass on one ASGI event (counted, timed, errors logged)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        endpoint = endpoint_label(path)
        status: dict[str, Any] = {"code": 500, "kind": b"", "started": False}

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = dict((k.lower(), v) for k, v in message.get("headers", ()))
                status["kind"] = headers.get(ERROR_KIND_HEADER, b"")
                if message["status"] in PLAIN_ERRORS and not status["kind"]:
                    status["rewritten"] = True  # BentoML's own routes answer in plain text
                    status["kind"] = PLAIN_ERRORS[message["status"]][0].encode()
                    await self._plain_error(scope, send, message["status"], headers)
                    return
                close = self.recycler.headers(scope)
                if close:
                    message = {**message, "headers": [*message.get("headers", ()), *close]}
            if not status.get("rewritten"):
                await send(message)

        try:
            await self._handle(scope, receive, tracked_send, path)
        except Exception:
            LOG.exception("unhandled error on %s %s", scope.get("method"), path)
            status["kind"] = b"internal"
            if not status["started"]:  # else the app already answered (its JSON 500)
                await _answer(tracked_send, 500, INTERNAL_BODY, b"internal")
        finally:
            code = int(status["code"])
            REQUESTS.labels(endpoint=endpoint, status=str(code)).inc()
            LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
            if code >= 400:
                kind = status["kind"].decode() or _kind_of(code)
                ERRORS.labels(endpoint=endpoint, kind=kind).inc()

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if not self._is_open(path) and not key_matches(_header(scope, b"authorization"),
                                                       self.settings.api_keys):
            _log_bad(scope, 401, "unauthorized")
            await _answer(send, 401, error_body(
                "unauthorized", "send an API key as `Authorization: Bearer <key>`",
                [Problem(field="header.Authorization", kind="unauthorized",
                         message="missing or not a valid API key")]),
                b"unauthorized", extra=[(b"www-authenticate", b'Bearer realm="dealrisk"')])
            return
        if path == "/readyz" and self.readiness is not None and scope.get("method") in (
                "GET", "HEAD"):
            ready, body = self.readiness()
            await _answer(send, 200 if ready else 503, body,
                          b"" if ready else b"not_ready")
            return
        limit = self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send, limit)
            return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            body = bytearray()
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limit:
                    await self._too_large(scope, send, limit)
                    return
            receive = _replay(bytes(body))
        await self.app(scope, receive, send)

    async def _plain_error(self, scope: Scope, send: Send, code: int,
                           headers: dict[bytes, bytes]) -> None:
        kind, message = PLAIN_ERRORS[code]
        _log_bad(scope, code, kind)
        allow = [(b"allow", headers[b"allow"])] if b"allow" in headers else []
        await _answer(send, code, error_body(kind, message), kind.encode(), extra=allow)

    def _is_open(self, path: str) -> bool:
        return path in OPEN_PATHS or path in OPEN_EXACT or path.startswith(OPEN_PREFIXES)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        _log_bad(scope, 413, "too_large")
        await _answer(send, 413, error_body(
            "too_large", f"the request body is larger than {limit:,} bytes "
                         "(DEALRISK_MAX_BODY_MB)",
            [Problem(field="body", kind="too_large", message=f"at most {limit:,} bytes")]),
            b"too_large")


def log_bad_request(method: str, path: str, status: int, kind: str,
                    problems: list[Problem]) -> None:
    """The one log line of a refused request (fields named, values never logged)."""
    fields = ", ".join(sorted({p.field for p in problems}))[:500]
    LOG.warning("%s %s -> %d %s%s", method, path, status, kind,
                f" ({fields})" if fields else "")


def _log_bad(scope: Scope, status: int, kind: str) -> None:
    log_bad_request(str(scope.get("method")), str(scope.get("path")), status, kind, [])


def _kind_of(code: int) -> str:
    return {400: "malformed", 401: "unauthorized", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
            422: "invalid_request"}.get(code, "internal" if code >= 500 else "client_error")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return b""


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _answer(send: Send, status: int, body: bytes, kind: bytes,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    if kind:
        headers.append((ERROR_KIND_HEADER, kind))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def readiness_body(ready: bool, info: object) -> bytes:
    """The JSON of ``/readyz`` (``info``: a :class:`~serving.schemas.ModelInfo` or None)."""
    model = info.model_dump() if info is not None else None  # type: ignore[attr-defined]
    return json.dumps({"ready": ready, "model": model}).encode()
