"""End to end against a real ``bentoml serve`` (2 workers on 127.0.0.1), over HTTP with httpx.

The real server answers exactly as the in-process app does (same model, same as_of), and its
edge (key, body limit, readiness, metrics across workers, keep-alive recycling) works over real
sockets.
"""

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_requests import AUTH, hand_written_history

from serving.schemas import ErrorBody

AS_OF = "2024-09-01T00:00:00Z"


@pytest.fixture(scope="module")
def live(live_service):
    with httpx.Client(base_url=live_service, timeout=60) as http:
        yield http


def deal(deal_id: str, amount: float, activities: int = 50) -> dict[str, object]:
    body = hand_written_history()
    body.pop("as_of")
    body["deal"] = {**body["deal"], "deal_id": deal_id, "amount": amount}
    body["activities"] = body["activities"][:activities]
    return body


def test_score_answers_as_the_in_process_app_does(live, client, served):
    body = hand_written_history()
    over_http = live.post("/score", json=body, headers=AUTH)
    assert over_http.status_code == 200, over_http.text
    assert over_http.headers["content-type"] == "application/json"
    in_process = client.post("/score", json=body, headers=AUTH)
    assert in_process.status_code == 200, in_process.text
    assert over_http.json() == in_process.json()
    assert over_http.json()["model"]["version"] == served["version"]
    assert over_http.json()["as_of"] == "2024-09-01T00:00:00+00:00"


def test_score_batch_answers_as_the_in_process_app_does(live, client):
    batch = {"deals": [deal("L-1", 72000.0), {"deal": {"deal_id": 5}},
                       deal("L-2", 18000.0, activities=9)], "as_of": AS_OF}
    over_http = live.post("/score_batch", json=batch, headers=AUTH)
    assert over_http.status_code == 200, over_http.text
    answer = over_http.json()
    assert [r["ok"] for r in answer["results"]] == [True, False, True]
    assert (answer["scored"], answer["failed"]) == (2, 1)
    assert "body.deals[1].deal.deal_id" in {e["field"] for e in answer["results"][1]["errors"]}
    assert answer == client.post("/score_batch", json=batch, headers=AUTH).json()


def test_rank_answers_over_http(live):
    deals = [deal("L-1", 72000.0), deal("L-2", 18000.0, activities=9),
             deal("L-3", 300000.0, activities=2)]
    answer = live.post("/rank", json={"deals": deals, "as_of": AS_OF, "top": 2}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["revenue_at_risk"] >= rows[1]["revenue_at_risk"]


def test_readyz_names_the_model(live, served):
    answer = live.get("/readyz", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json()["ready"] is True
    assert answer.json()["model"]["version"] == served["version"]
    assert answer.json()["model"]["run_id"] == served["run_id"]


def test_the_edge_works_over_real_sockets(live):
    assert live.get("/healthz").status_code == 200
    unauthorized = live.post("/score", json=hand_written_history())
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"] == 'Bearer realm="dealrisk"'
    malformed = live.post("/score", content=b'{"deal": ', headers={
        **AUTH, "content-type": "application/json"})
    assert malformed.status_code == 400
    assert ErrorBody.model_validate_json(malformed.text).error == "malformed_json"
    late = hand_written_history()
    late["deal"] = {**late["deal"], "created_at": "2024-09-02T00:00:00Z"}
    invalid = live.post("/score", json=late, headers=AUTH)
    assert invalid.status_code == 422
    assert [p.field for p in ErrorBody.model_validate_json(invalid.text).problems] == [
        "body.deal.created_at"]
    big = json.dumps({"deal": {"name": "x" * (4 * 2**20)}}).encode()
    too_large = live.post("/score", content=big, headers={**AUTH,
                                                          "content-type": "application/json"})
    assert too_large.status_code == 413
    assert ErrorBody.model_validate_json(too_large.text).error == "too_large"


def test_a_keep_alive_connection_is_closed_every_hundred_answers(live_service):
    """So a connection parked on a busy worker gets another chance (serving/keepalive.py)."""
    closed = []
    with httpx.Client(base_url=live_service, timeout=60,
                      limits=httpx.Limits(max_connections=1)) as one_connection:
        for _ in range(250):
            answer = one_connection.get("/healthz")
            assert answer.status_code == 200  # the client reconnects after each close
            closed.append(answer.headers.get("connection") == "close")
    assert [i + 1 for i, c in enumerate(closed) if c] == [100, 200]


def test_metrics_name_the_model_and_count_across_workers(live, served):
    for _ in range(6):
        assert live.post("/score", json=hand_written_history(), headers=AUTH).status_code == 200
    answer = live.get("/metrics", headers=AUTH)
    assert answer.status_code == 200
    samples = [(s.name, s.labels, s.value)
               for family in text_string_to_metric_families(answer.text)
               for s in family.samples]
    info = [labels for name, labels, value in samples
            if name == "dealrisk_model_info" and value == 1]
    assert [labels["version"] for labels in info] == [served["version"]]
    scored = sum(value for name, labels, value in samples
                 if name == "dealrisk_requests_total" and labels.get("endpoint") == "/score"
                 and labels.get("status") == "200")
    assert scored >= 6
    assert any(name == "dealrisk_request_seconds_bucket" for name, _, _ in samples)
