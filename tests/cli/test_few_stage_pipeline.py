"""The few-stage spreadsheet pipeline (examples/crm_pipeline) through the CLI, as a user runs it.

No activities, no contact roles, no field history, two buyer steps and no deal that ended in no
decision: `ingest -> train -> rank` must give that pipeline its own champion, skip the
no-decision target and say so, rank by the fallback revenue at risk (1 - P(won)) x amount with
reasons that mean something, and the leak guard must fire when the close value is mapped as the
amount (every lost deal's close value is 0).
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import mlflow
import pytest
from dealrisk_cli import assert_ok, assert_refused, flat, run, tracking_env

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "crm_pipeline"
ENGAGEMENT_WORDS = ("meeting", "buyer-initiated", "contact", "email", "call", "seller")


def _ingest(tmp_path: Path, mapping: Path, name: str) -> Path:
    canonical = tmp_path / name
    assert_ok(run("ingest", EXAMPLE, "--mapping", mapping, "--out", canonical))
    return canonical


def test_ingest_train_rank_on_the_few_stage_pipeline(tmp_path: Path):
    env = tracking_env(tmp_path)
    canonical = _ingest(tmp_path, EXAMPLE / "mapping.yaml", "crm")
    trained = flat(run("train", canonical, "--n-estimators", "200", env=env).stdout)
    assert "registered dealrisk-crm_pipeline version 1 as champion" in trained
    assert "no_decision: skipped, no training row has the outcome" in trained
    assert "won: " in trained and "chosen on the validation window" in trained
    assert "likely leak" not in trained  # the list price is an honest amount
    assert "no activities" in trained and "buyer step(s) seen" in trained

    ranked = assert_ok(run("rank", canonical, "--out", tmp_path / "report", env=env))
    assert "no deal in this pipeline's history ended in no decision" in ranked
    assert "(1 - P(won)) x amount" in ranked
    rows = list(csv.DictReader((tmp_path / "report" / "ranking.csv").open()))
    assert rows and {r["risk_basis"] for r in rows} == {"not_won"}
    revenue = [float(r["revenue_at_risk"]) for r in rows]
    assert revenue == sorted(revenue, reverse=True) and revenue[0] > 0
    for r in rows:
        assert r["no_decision_risk"] == ""  # no such model: empty, not 0
        expected = (1 - float(r["win_probability"])) * float(r["amount"])
        assert math.isclose(float(r["revenue_at_risk"]), expected, rel_tol=0.01, abs_tol=1)
        assert re.fullmatch(r"\d+(\.\d{1,3})?", r["win_probability"])  # rounded
        assert r["owner"] and not re.fullmatch(r"[0-9A-Za-z]{15,18}", r["owner"])
    reasons = [x for r in rows for x in r["reasons"].split(" | ") if x]
    assert reasons, "some deal at risk should say why"
    for reason in reasons:
        assert not reason.rstrip().endswith(":"), reason  # never a blank category
        assert not any(word in reason.lower() for word in ENGAGEMENT_WORDS), reason
    page = (tmp_path / "report" / "ranking.html").read_text()
    assert "no deal in this pipeline&#x27;s history ended in no decision" in page or \
        "no deal in this pipeline's history ended in no decision" in page


def test_leak_guard_fires_on_a_close_value_mapped_as_the_amount(tmp_path: Path):
    env = tracking_env(tmp_path)
    mapping = (EXAMPLE / "mapping.yaml").read_text()
    leaky = mapping.replace("amount: products.sales_price", "amount: close_value")
    assert leaky != mapping
    folder = Path(shutil.copytree(EXAMPLE, tmp_path / "crm_pipeline"))
    (folder / "leaky.yaml").write_text(leaky)
    canonical = tmp_path / "leaky"
    assert_ok(run("ingest", folder, "--mapping", folder / "leaky.yaml", "--out", canonical))
    proc = run("train", canonical, "--n-estimators", "50", env=env)
    trained = flat(proc.stdout)
    assert proc.returncode == 0
    assert "likely leak: amount is 0 for 100% of the lost deals" in trained
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    run_id = mlflow.search_runs(experiment_names=["dealrisk"]).iloc[0]["run_id"]
    scan = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/leak_scan.json"))
    assert [leak["feature"] for leak in scan["leaks"]] == ["amount"]
    assert mlflow.get_run(run_id).data.tags["leaks"] == "amount"


def test_drop_feature_leaves_a_feature_out_and_refuses_an_unknown_one(tmp_path: Path):
    env = tracking_env(tmp_path)
    canonical = _ingest(tmp_path, EXAMPLE / "mapping.yaml", "crm")
    assert_refused(run("train", canonical, "--drop-feature", "no_such_feature", env=env), 2,
                   "--drop-feature no_such_feature: not a feature of this pipeline")
    assert_ok(run("train", canonical, "--drop-feature", "employees", "--n-estimators", "30",
                  env=env))
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    run_id = mlflow.search_runs(experiment_names=["dealrisk"]).iloc[0]["run_id"]
    assert "employees" in mlflow.get_run(run_id).data.tags["features.left_out"].split(", ")
