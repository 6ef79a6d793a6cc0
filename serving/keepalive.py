"""Keep-alive connections are closed after a number of requests, so the workers share the load.

BentoML's workers accept from one shared socket: whichever worker wakes first takes every
connection waiting, and a keep-alive connection then stays on that worker for good
(bentoml/BentoML#5426).  Measured with ``benchmarks/bench_serving.py``: at concurrency 8, all
eight connections landed on one worker (its CPU column read 9.0 s / 0.0 s) while the other
idled.  Closing each connection after ``DEALRISK_KEEPALIVE_REQUESTS`` answers (default 100,
nginx's long-standing ``keepalive_requests``; 0 never closes) makes the client reconnect, and
an idle worker, waiting in ``accept``, is the one likely to take the new connection.

The answer that reaches the limit carries ``Connection: close``; uvicorn closes the connection
after sending it, and an HTTP/1.1 client opens a new one for its next request.

Example:
    >>> recycle = ConnectionRecycler(2)
    >>> scope = {"type": "http", "client": ("127.0.0.1", 50000)}
    >>> recycle.headers(scope), recycle.headers(scope), recycle.headers(scope)
    ([], [(b'connection', b'close')], [])
    >>> ConnectionRecycler(0).headers(scope)
    []
"""

from __future__ import annotations

from typing import Any

CLOSE = [(b"connection", b"close")]
#: Connections remembered at most (the count of one a client closed itself is dropped then).
MAX_TRACKED = 10_000


class ConnectionRecycler:
    """Counts answers per client connection and says when one should close (module docs)."""

    def __init__(self, max_requests: int) -> None:
        self.max_requests = max_requests
        self._answered: dict[tuple[Any, ...], int] = {}

    def headers(self, scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        """Extra response headers for this answer: ``Connection: close`` at the limit."""
        client = scope.get("client")
        if self.max_requests <= 0 or not client:
            return []
        key = tuple(client)
        count = self._answered.get(key, 0) + 1
        if count >= self.max_requests:
            self._answered.pop(key, None)
            return CLOSE
        if len(self._answered) >= MAX_TRACKED:
            self._answered.clear()
        self._answered[key] = count
        return []
