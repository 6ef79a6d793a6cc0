"""Property-based tests of the whole service against its own OpenAPI document (schemathesis).

The document is ``GET /docs.json`` of the in-process ASGI app; the generated requests go
through the same app (``client``: BentoML's routes and the edge included; a process holds one
BentoML app, since its metrics register once).  Every operation gets generated requests:
schema-valid (positive) ones and, for the bodies, schema-invalid (negative) ones, all sent with
a valid key.  Every answer must be no server error and conform to the document: a documented
status, its content type and its schema.  Generation is derandomized (the same cases on every
run).
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from serving_requests import AUTH

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Examples per operation and mode: (positive, negative); GET routes take no input.
EXAMPLES = {"POST": (200, 150), "GET": (10, 0)}
MIN_CASES = 1_000


@pytest.fixture(scope="module")
def api_schema(client):
    """The service's document as the app serves it (its requests go through ``client``)."""
    answer = client.get("/docs.json", headers=AUTH)
    assert answer.status_code == 200
    return schemathesis.openapi.from_dict(answer.json())


def send(client, case):
    """One generated case through the in-process app (the one app of this process)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
    body = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    assert not kwargs.get("cookies") and not kwargs.get("files"), kwargs
    response = client.request(kwargs["method"], kwargs["url"], headers=kwargs["headers"],
                              params=kwargs.get("params") or None, **body)
    return response, kwargs


def run_operation(client, operation, mode: GenerationMode, max_examples: int,
                  statuses: Counter) -> int:
    """Send ``max_examples`` generated cases of one operation; the number sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    def check(case) -> None:
        nonlocal sent
        sent += 1
        response, kwargs = send(client, case)
        statuses[(operation.label, mode.value, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])

    check()
    return sent


def test_every_operation_conforms_to_the_document(client, api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = sorted(op.label for op in operations)
    assert labels == sorted(["POST /score", "POST /score_batch", "POST /rank",
                             "GET /dashboard/ranking", "GET /healthz", "GET /readyz",
                             "GET /metrics"])
    statuses: Counter = Counter()
    sent: Counter = Counter()
    for operation in operations:
        positive, negative = EXAMPLES[operation.method.upper()]
        sent[operation.label] += run_operation(client, operation, GenerationMode.POSITIVE, positive,
                                               statuses)
        if negative:
            sent[operation.label] += run_operation(client, operation, GenerationMode.NEGATIVE,
                                                   negative, statuses)
    print(f"\nschemathesis: {sum(sent.values())} cases")
    for (label, mode, status), n in sorted(statuses.items()):
        print(f"  {label:24} {mode:8} {status}: {n}")
    assert sum(sent.values()) >= MIN_CASES
    for label in ("POST /score", "POST /score_batch", "POST /rank"):
        assert sent[label] >= 300, sent
        # the generated bodies reach the checks, not only the parser
        assert statuses[(label, "negative", 422)] > 0, statuses
    assert all(status < 500 for (_, _, status) in statuses)
