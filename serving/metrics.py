"""The service's Prometheus metrics (served on ``/metrics`` beside BentoML's own).

Plain :mod:`prometheus_client` metrics: under ``bentoml serve`` (which sets
``PROMETHEUS_MULTIPROC_DIR``) they live in BentoML's multi-process registry, so every worker's
counts add up on one ``/metrics`` page.

- ``dealrisk_requests_total{endpoint, status}``: answered requests;
- ``dealrisk_request_seconds{endpoint}``: latency histogram;
- ``dealrisk_errors_total{endpoint, kind}``: 4xx / 5xx answers and per-deal batch errors by kind
  (``unauthorized``, ``invalid_request``, ``after_as_of`` ...);
- ``dealrisk_model_info{name, version, run_id, source}``: 1 for the model being served.

Example:
    >>> endpoint_label("/score"), endpoint_label("/nowhere/../x")
    ('/score', 'other')
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ENDPOINTS = frozenset({"/score", "/score_batch", "/rank", "/readyz", "/metrics", "/healthz",
                       "/docs.json", "/dashboard", "/dashboard/ranking", "/"})
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "dealrisk_requests", "Answered requests by endpoint and status.",
    labelnames=["endpoint", "status"])
LATENCY = Histogram(
    "dealrisk_request_seconds", "Request latency by endpoint.",
    labelnames=["endpoint"], buckets=_BUCKETS)
ERRORS = Counter(
    "dealrisk_errors", "Errors by endpoint and kind (per deal in batches).",
    labelnames=["endpoint", "kind"])
MODEL_INFO = Gauge(
    "dealrisk_model_info", "The model being served (value 1).",
    labelnames=["name", "version", "run_id", "source"], multiprocess_mode="max")


def endpoint_label(path: str) -> str:
    """A bounded label for a request path (unknown paths share ``other``)."""
    if path.startswith("/dashboard/") and path != "/dashboard/ranking":
        return "/dashboard"
    return path if path in ENDPOINTS else "other"
