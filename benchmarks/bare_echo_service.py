"""A bare BentoML service for ``bench_serving.py``: one endpoint that returns its JSON input.

It is the floor a BentoML HTTP service of 2 workers costs on this machine (routing, JSON in and
out, no model, no auth middleware), measured by the same client as the scoring service::

    .venv/bin/bentoml serve bare_echo_service:BareEcho --working-dir benchmarks --port 3100
    curl -s -X POST localhost:3100/echo -H 'content-type: application/json' \
        -d '{"payload": {"deal_id": "HAND-1"}}'
"""

from __future__ import annotations

from typing import Any

import bentoml


@bentoml.service(name="bare-echo", workers=2)
class BareEcho:
    """Echoes its input (one instance per worker)."""

    @bentoml.api
    async def echo(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Return ``payload`` unchanged (``async``: no thread hop, the cheapest BentoML API)."""
        return payload
