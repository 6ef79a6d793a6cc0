"""``POST /score`` through the service's ASGI app, on hand-written histories."""

import json
import math

import pandas as pd
import pytest
from serving_requests import AUTH, hand_written_history, history_from_tables


def test_score_answers_risks_reasons_and_the_model(client, served):
    answer = client.post("/score", json=hand_written_history(), headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for key in ("stall_risk", "no_decision_risk", "win_probability"):
        assert 0.0 <= body[key] <= 1.0
    assert body["risk_band"] in ("high", "medium", "low")
    assert body["owner"] == "Dana Reyes" and body["buyer_step"] == "solution_visualised"
    catalogue = served["model"].next_steps.catalogue
    actions = body["next_best_actions"]
    assert actions or body["next_best_actions_note"].startswith("Keep going")
    for step in actions:  # valid at the deal's step, expected to help, with an interval
        assert catalogue.valid(step["action"], body["buyer_step"])
        assert step["description"] == catalogue.actions[step["action"]].description
        assert step["lift"] >= 0.005 and step["lift_low"] <= step["lift"] <= step["lift_high"]
        assert step["reason"].startswith("at this step")
    assert [a["lift"] for a in actions] == sorted((a["lift"] for a in actions), reverse=True)
    assert body["model"]["version"] == served["version"]
    assert body["model"]["run_id"] == served["run_id"] and body["model"]["source"] == "pinned"
    assert body["as_of"].startswith("2024-09-01")
    assert math.isclose(body["revenue_at_risk"], body["no_decision_risk"] * 72000.0)


def test_score_equals_the_ranking_row_with_the_same_peers(client, served):
    """Parity: /score of a deal = its `dealrisk rank` row when both use the frozen peers."""
    histories, export_time, model = served["histories"], served["export_time"], served["model"]
    ranking = model.rank(histories, export_time, frozen_peers=True)
    checked = 0
    for row in ranking.head(25).to_dict("records"):
        answer = client.post("/score", json=history_from_tables(histories, row["deal_id"],
                                                                  export_time), headers=AUTH)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for key, expected in row.items():
            if key in ("rank", "next_step"):
                continue
            if key == "next_best_actions":
                assert [a["action"] for a in body[key]] == [a["action"] for a in expected]
                for got, want in zip(body[key], expected, strict=True):
                    assert got["lift"] == pytest.approx(want["lift"], rel=1e-9, abs=1e-12)
                    assert got["lift_low"] == pytest.approx(want["lift_low"], rel=1e-9)
                    assert got["reason"] == want["reason"]
                if not expected:
                    assert body["next_best_actions_note"] == row["next_step"]
                continue
            got = body[key]
            if isinstance(expected, float) and math.isnan(expected):
                assert got is None, key
            elif isinstance(expected, float):
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), key
            elif expected is None or expected is pd.NA:
                assert got is None, key
            else:
                assert got == expected, key
        checked += 1
    assert checked == 25


def test_an_amount_comes_back_as_sent_not_rounded_to_float32(client):
    body = hand_written_history()
    body["deal"] = {**body["deal"], "amount": 1234567.89}
    score = client.post("/score", json=body, headers=AUTH).json()
    assert score["amount"] == 1234567.89  # the features hold 1234567.875
    risk = score["no_decision_risk"]
    assert score["revenue_at_risk"] == pytest.approx(risk * 1234567.89, rel=1e-12)
    deal = {k: v for k, v in body.items() if k != "as_of"}
    for path in ("/score_batch", "/rank"):
        answer = client.post(path, json={"deals": [deal], "as_of": body["as_of"]},
                             headers=AUTH).json()
        got = answer["results"][0]["score"] if path == "/score_batch" else answer["rows"][0]
        assert got["amount"] == 1234567.89, path


def test_records_are_the_models_dumps_with_the_deal_id():
    """records_of reads the flat models' fields directly: the same dicts as model_dump()."""
    from features.profile import PipelineProfile
    from serving.requests import HISTORY_LISTS, records_of
    from serving.schemas import RequestModels

    body = hand_written_history()
    body["contacts"][0]["deal_id"] = "HAND-1"
    history = RequestModels.for_profile(PipelineProfile()).history.model_validate_json(
        json.dumps(body))
    records = records_of(history)
    assert records.deal == history.deal.model_dump()
    for name in HISTORY_LISTS:
        rows = getattr(history, name)
        assert rows, name
        assert getattr(records, name) == [{**r.model_dump(), "deal_id": "HAND-1"} for r in rows]
        assert [list(r) for r in getattr(records, name)] == [list(r.model_dump()) for r in rows]
