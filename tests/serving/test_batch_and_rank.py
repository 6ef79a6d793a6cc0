"""``POST /score_batch``, ``POST /rank``, ``GET /readyz`` and the metrics.

A batch answers every deal in the order sent, scored or with its own errors (one bad deal
fails only itself); the ranking equals the per-deal scores ordered by revenue at risk.  The
requests go through the in-process app, but ``GET /metrics`` is read from the real server
(``live_service``): in process, ``prometheus_client`` was imported before the multiprocess
directory was set, so BentoML's multiprocess ``/metrics`` page cannot see this process's
counts; the in-process test reads them from the process's registry instead.
"""

import copy
import math

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_requests import AUTH, hand_written_history

from serving.schemas import BatchResponse, ErrorBody, RankResponse

AS_OF = "2024-09-01T00:00:00Z"
#: What a /score answer and a ranking row share, compared one to one.
SHARED = ("deal_id", "name", "owner", "account", "amount", "currency", "buyer_step",
          "days_in_step", "stall_risk", "no_decision_risk", "win_probability", "risk_change",
          "revenue_at_risk", "reasons")


def deal(deal_id: str, *, amount: float = 72000.0, owner: str = "owner-7",
         owner_name: str = "Dana Reyes", activities: int = 50, **deal_fields: object
         ) -> dict[str, object]:
    """A hand-written open deal (no as_of: the envelope's applies)."""
    body = hand_written_history()
    body.pop("as_of")
    body["deal"] = {**body["deal"], "deal_id": deal_id, "amount": amount, "owner_id": owner,
                    "owner_name": owner_name, **deal_fields}
    body["activities"] = body["activities"][:activities]
    return body


def scored_alone(client, body: dict[str, object]) -> dict[str, object]:
    answer = client.post("/score", json={**body, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def same(got: object, expected: object) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
    return got == expected


def refused(answer, status: int = 422) -> dict[str, str]:
    assert answer.status_code == status, answer.text[:2000]
    error = ErrorBody.model_validate_json(answer.text)
    assert "Traceback" not in answer.text
    return {p.field: p.kind for p in error.problems}


# ------------------------------------------------------------------------------- batches
def test_a_batch_answers_every_deal_in_order(client, served):
    wrong_type = deal("BAD-TYPE")
    wrong_type["deal"] = {**wrong_type["deal"], "amount": "3"}
    closed = deal("CLOSED", closed_at="2024-08-15T00:00:00Z", outcome="lost")
    deals = [deal("GOOD-1"), wrong_type, closed, 5, deal("GOOD-2", amount=15000.0,
                                                         activities=12)]
    answer = client.post("/score_batch", json={"deals": deals, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    batch = BatchResponse.model_validate_json(answer.text)
    assert [r.index for r in batch.results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in batch.results] == [True, False, False, False, True]
    assert [r.deal_id for r in batch.results] == ["GOOD-1", "BAD-TYPE", "CLOSED", None,
                                                  "GOOD-2"]
    assert (batch.scored, batch.failed) == (2, 3)
    errors = [{e.field: e.kind for e in r.errors} for r in batch.results]
    assert errors == [{}, {"body.deals[1].deal.amount": "float_type"},
                      {"body.deals[2].deal.closed_at": "deal_closed"},
                      {"body.deals[3]": "model_type"}, {}]
    assert [r.score is None for r in batch.results] == [False, True, True, True, False]
    assert batch.as_of.startswith("2024-09-01")
    assert batch.model.version == served["version"]


def test_a_batch_scores_each_deal_as_score_does(client):
    deals = [deal("GOOD-1"), deal("GOOD-2", amount=15000.0, activities=12),
             deal("GOOD-3", amount=250000.0, owner="owner-2", activities=3),
             deal("GOOD-4", name="", currency="", owner_name="")]  # empty text: null, as alone
    answer = client.post("/score_batch", json={"deals": deals, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    for body, result in zip(deals, results, strict=True):
        alone = scored_alone(client, body)
        assert result["ok"] is True
        for key, value in result["score"].items():
            assert same(value, alone[key]), key
    risks = [r["score"]["no_decision_risk"] for r in results]
    assert len(set(risks)) > 1  # the deals differ, so do their scores


def test_a_batch_scores_a_repeated_deal_id_on_each_history(client):
    # the batch is scored in one vectorised pass; a repeated id goes in a second one
    first, second = deal("SAME", amount=72000.0), deal("SAME", amount=9000.0, activities=4)
    answer = client.post("/score_batch", json={"deals": [first, deal("OTHER"), second],
                                               "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["ok"] for r in results] == [True, True, True]
    for body, result in ((first, results[0]), (second, results[2])):
        alone = scored_alone(client, body)
        assert {k: v for k, v in result["score"].items() if not same(v, alone[k])} == {}
    assert results[0]["score"]["amount"] == 72000.0 and results[2]["score"]["amount"] == 9000.0


def test_a_batch_of_more_than_the_limit_is_refused(client):
    small = {"deal": {"deal_id": "S", "account_id": "a", "owner_id": "o", "amount": 1.0,
                      "created_at": "2024-01-01T00:00:00Z"}}
    answer = client.post("/score_batch", json={"deals": [small] * 1001, "as_of": AS_OF},
                         headers=AUTH)
    assert refused(answer) == {"body.deals": "too_long"}
    answer = client.post("/rank", json={"deals": [small] * 1001}, headers=AUTH)
    assert refused(answer) == {"body.deals": "too_long"}


@pytest.mark.parametrize("path", ["/score_batch", "/rank"])
@pytest.mark.parametrize(("body", "expected"), [
    ({"deals": []}, {"body.deals": "too_short"}),
    ({"as_of": AS_OF}, {"body.deals": "missing"}),
    ({"deals": {"deal": {}}}, {"body.deals": "list_type"}),
    ({"deals": [{}], "as_of": "2024-09-01"}, {"body.as_of": "timezone_aware"}),
    ({"deals": [{}], "as_of": 1725148800}, {"body.as_of": "value_error"}),
    ({"deals": [{}], "colour": "red"}, {"body.colour": "extra_forbidden"}),
], ids=["empty", "missing", "not-a-list", "as_of-naive", "as_of-epoch", "unknown-field"])
def test_a_bad_envelope_is_refused(client, path, body, expected):
    assert refused(client.post(path, json=body, headers=AUTH)) == expected


def test_a_batch_deal_cannot_carry_its_own_as_of(client):
    """The envelope's as_of applies to all; a deal's own would be silently ignored."""
    answer = client.post("/score_batch", json={
        "deals": [{**deal("OWN-AS-OF"), "as_of": "2030-01-01T00:00:00Z"}], "as_of": AS_OF},
        headers=AUTH)
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["ok"] is False
    assert {e["field"]: e["kind"] for e in result["errors"]} == {
        "body.deals[0].as_of": "extra_forbidden"}


def test_a_batch_checks_each_deal_against_the_envelopes_as_of(client):
    deals = [deal("EARLY")]
    answer = client.post("/score_batch", json={"deals": deals, "as_of": "2024-06-01T00:00:00Z"},
                         headers=AUTH)
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    fields = {e["field"]: e["kind"] for e in result["errors"]}
    assert fields["body.deals[0].stage_history[1].entered_at"] == "after_as_of"
    assert fields["body.deals[0].field_history[0].changed_at"] == "after_as_of"
    assert set(fields.values()) == {"after_as_of"}


# -------------------------------------------------------------------------------- ranking
def five_open_deals() -> list[dict[str, object]]:
    return [deal("R-1", amount=72000.0),
            deal("R-2", amount=15000.0, owner="owner-2", owner_name="Lee Park", activities=12),
            deal("R-3", amount=250000.0, owner="owner-3", owner_name="Ana Ruiz", activities=3),
            deal("R-4", amount=40000.0, owner="owner-2", owner_name="Lee Park", activities=30),
            deal("R-5", amount=120000.0, activities=45, segment="Mid-Market")]


def test_rank_orders_the_deals_by_revenue_at_risk(client, served):
    deals = five_open_deals()
    answer = client.post("/rank", json={"deals": deals, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    ranking = RankResponse.model_validate_json(answer.text)
    rows = [r.model_dump() for r in ranking.rows]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert sorted(r["deal_id"] for r in rows) == ["R-1", "R-2", "R-3", "R-4", "R-5"]
    revenue = [r["revenue_at_risk"] for r in rows]
    assert revenue == sorted(revenue, reverse=True)
    assert len(set(revenue)) == 5
    assert ranking.not_ranked == []
    assert ranking.basis.risk == "no_decision"
    assert ranking.model.version == served["version"]
    by_id = {d["deal"]["deal_id"]: d for d in deals}
    for row in rows:  # each row is the deal's own /score at the same as_of
        alone = scored_alone(client, by_id[row["deal_id"]])
        for key in SHARED:
            assert same(row[key], alone[key]), (row["deal_id"], key)
        assert math.isclose(row["revenue_at_risk"],
                            row["no_decision_risk"] * row["amount"], rel_tol=1e-9)


def test_rank_equals_the_models_ranking_of_the_same_histories(client, served):
    import pandas as pd

    from serving.answers import histories_of, rank_rows
    from serving.requests import records_of
    from serving.schemas import RequestModels

    model = served["model"]
    item = RequestModels.for_profile(model.profile).item
    deals = five_open_deals()
    records = [records_of(item.model_validate(d)) for d in deals]
    expected = rank_rows(model.rank(histories_of(records, model), pd.Timestamp(AS_OF)))
    answer = client.post("/rank", json={"deals": deals, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [r.model_dump(mode="json") for r in expected]


def test_a_bad_deal_is_not_ranked_and_says_why(client):
    bad = deal("R-BAD")
    bad["stage_history"] = copy.deepcopy(bad["stage_history"])
    bad["stage_history"][0]["step"] = "negotiation"
    deals = [*five_open_deals()[:2], bad, "not a deal"]
    answer = client.post("/rank", json={"deals": deals, "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    ranking = answer.json()
    assert sorted(r["deal_id"] for r in ranking["rows"]) == ["R-1", "R-2"]
    assert [(n["index"], n["deal_id"], n["ok"]) for n in ranking["not_ranked"]] == [
        (2, "R-BAD", False), (3, None, False)]
    assert [{e["field"]: e["kind"] for e in n["errors"]} for n in ranking["not_ranked"]] == [
        {"body.deals[2].stage_history[0].step": "literal_error"},
        {"body.deals[3]": "model_type"}]


def test_a_deal_sent_twice_is_ranked_once(client):
    # found by schemathesis: two deals with one deal_id were a 500 (duplicate index labels)
    deals = five_open_deals()
    repeat = copy.deepcopy(deals[1])
    repeat["deal"]["amount"] = 1.0
    answer = client.post("/rank", json={"deals": [*deals, repeat], "as_of": AS_OF},
                         headers=AUTH)
    assert answer.status_code == 200, answer.text
    ranking = answer.json()
    assert sorted(r["deal_id"] for r in ranking["rows"]) == [f"R-{i}" for i in range(1, 6)]
    assert [r["amount"] for r in ranking["rows"] if r["deal_id"] == "R-2"] == [
        deals[1]["deal"]["amount"]]
    assert [(n["index"], n["deal_id"], n["errors"][0]["field"], n["errors"][0]["kind"])
            for n in ranking["not_ranked"]] == [(5, "R-2", "body.deals[5].deal.deal_id",
                                                 "duplicate_deal")]
    assert "body.deals[1]" in ranking["not_ranked"][0]["errors"][0]["message"]


def test_rank_of_only_bad_deals_is_empty(client):
    answer = client.post("/rank", json={"deals": [5, None], "as_of": AS_OF}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    ranking = answer.json()
    assert ranking["rows"] == []
    assert [n["index"] for n in ranking["not_ranked"]] == [0, 1]


def test_rank_top_returns_the_first_rows(client):
    deals = five_open_deals()
    full = client.post("/rank", json={"deals": deals, "as_of": AS_OF}, headers=AUTH).json()
    top = client.post("/rank", json={"deals": deals, "as_of": AS_OF, "top": 2}, headers=AUTH)
    assert top.status_code == 200, top.text
    assert top.json()["rows"] == full["rows"][:2]
    assert [r["rank"] for r in top.json()["rows"]] == [1, 2]
    for bad, kind in ((0, "greater_than_equal"), (True, "int_type"), ("2", "int_type")):
        answer = client.post("/rank", json={"deals": deals, "top": bad}, headers=AUTH)
        assert refused(answer) == {"body.top": kind}


# ------------------------------------------------------------------- readiness, metrics
def test_readyz_names_the_served_model(client, served):
    answer = client.get("/readyz", headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["ready"] is True
    assert body["model"]["version"] == served["version"]
    assert body["model"]["run_id"] == served["run_id"]
    assert body["model"]["name"] == served["name"]
    assert body["model"]["source"] == "pinned"


def _parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def _in_process_samples() -> list[tuple[str, dict[str, str], float]]:
    """This process's own metrics (the in-process app counts into them)."""
    from prometheus_client import REGISTRY, generate_latest

    return _parse(generate_latest(REGISTRY).decode())


def _live_samples(live_service: str) -> list[tuple[str, dict[str, str], float]]:
    """``GET /metrics`` of the real server (every worker's counts added up)."""
    answer = httpx.get(f"{live_service}/metrics", headers=AUTH, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return _parse(answer.text)


def _value(samples, name: str, **labels: str) -> float:
    return sum(v for n, got, v in samples
               if n == name and all(got.get(k) == x for k, x in labels.items()))


#: (metric, labels, expected increase) after the requests of ``_send_counted``.
EXPECTED = [
    ("dealrisk_requests_total", {"endpoint": "/score", "status": "200"}, 1),
    ("dealrisk_requests_total", {"endpoint": "/score", "status": "422"}, 1),
    ("dealrisk_requests_total", {"endpoint": "/score", "status": "401"}, 1),
    ("dealrisk_requests_total", {"endpoint": "/score_batch", "status": "200"}, 1),
    ("dealrisk_request_seconds_count", {"endpoint": "/score"}, 3),
    ("dealrisk_request_seconds_bucket", {"endpoint": "/score", "le": "+Inf"}, 3),
    ("dealrisk_errors_total", {"endpoint": "/score", "kind": "invalid_request"}, 1),
    ("dealrisk_errors_total", {"endpoint": "/score", "kind": "unauthorized"}, 1),
    ("dealrisk_errors_total", {"endpoint": "/score_batch", "kind": "model_type"}, 1),
    ("dealrisk_errors_total", {"endpoint": "/score_batch", "kind": "float_type"}, 1),
]


def _send_counted(post) -> None:
    assert post("/score", json=hand_written_history(), headers=AUTH).status_code == 200
    bad = hand_written_history()
    bad["deal"] = {**bad["deal"], "amount": False}
    assert post("/score", json=bad, headers=AUTH).status_code == 422
    assert post("/score", json=hand_written_history()).status_code == 401
    wrong = deal("M-2")
    wrong["deal"] = {**wrong["deal"], "amount": "3"}
    batch = {"deals": [deal("M-1"), 5, wrong], "as_of": AS_OF}
    assert post("/score_batch", json=batch, headers=AUTH).status_code == 200


def _increases(before, after) -> list[tuple[str, dict[str, str], float]]:
    return [(name, labels, _value(after, name, **labels) - _value(before, name, **labels))
            for name, labels, _ in EXPECTED]


def _model_info(samples) -> list[tuple[str, str, str, float]]:
    return [(labels["name"], labels["version"], labels["run_id"], value)
            for name, labels, value in samples if name == "dealrisk_model_info"]


def test_the_edge_counts_requests_latency_and_errors(client, served):
    before = _in_process_samples()
    _send_counted(client.post)
    after = _in_process_samples()
    assert _increases(before, after) == EXPECTED
    assert (served["name"], served["version"], served["run_id"], 1.0) in _model_info(after)


def test_metrics_show_requests_latency_errors_and_the_model(live_service, served):
    """The real /metrics page, every worker's counts added up (2 workers)."""
    import time

    before = _live_samples(live_service)
    with httpx.Client(base_url=live_service, timeout=60) as http:
        _send_counted(http.post)
    deadline = time.monotonic() + 10  # a worker counts a request right after answering it
    while True:
        after = _live_samples(live_service)
        if _increases(before, after) == EXPECTED or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert _increases(before, after) == EXPECTED
    names = {name for name, _, _ in after}
    assert {"dealrisk_requests_total", "dealrisk_request_seconds_bucket",
            "dealrisk_errors_total", "dealrisk_model_info"} <= names
    assert any(name == "dealrisk_request_seconds_bucket" and labels.get("endpoint") == "/score"
               and labels.get("le") == "0.1" for name, labels, _ in after)
    assert _model_info(after) == [(served["name"], served["version"], served["run_id"], 1.0)]


def test_the_dashboard_ranking_follows_a_new_ingest(client, served, monkeypatch):
    import os

    import serving.service
    from features.ingest.result import REPORT_FILE

    reads = []

    def counted(directory):
        reads.append(directory)
        return read_canonical(directory)

    read_canonical = serving.service.read_canonical
    monkeypatch.setattr(serving.service, "read_canonical", counted)
    first = client.get("/dashboard/ranking", headers=AUTH)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert client.get("/dashboard/ranking", headers=AUTH).json() == first.json()
    cached = len(reads)
    assert cached <= 1  # ranked at most once (an earlier test may have ranked it already)
    report = served["canonical"] / REPORT_FILE
    stat = report.stat()
    os.utime(report, (stat.st_atime, stat.st_mtime + 60))  # `dealrisk ingest` wrote it again
    try:
        again = client.get("/dashboard/ranking", headers=AUTH)
    finally:
        os.utime(report, (stat.st_atime, stat.st_mtime))  # the shared export as it was
    assert len(reads) == cached + 1
    assert again.json()["rows"] == first.json()["rows"]
