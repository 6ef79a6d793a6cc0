"""The documented chain through the installed binary: simulate, ingest, features, train, rank.

Protects: `dealrisk train` with its documented options trains and registers a version (it used
to crash on every call: TypeError on TrainConfig's ``horizon``) and the options reach the
logged run; `dealrisk rank` ranks every open deal; a rank with no open deal exits 1 with why.

The chain is one test so that it runs once however pytest-xdist spreads the tests (~30 s).
"""

from pathlib import Path

import pandas as pd
import pytest
from dealrisk_cli import assert_ok, assert_refused, flat, run, tracking_env


def test_help_lists_every_documented_command():
    stdout = assert_ok(run("--help"))
    for command in ("simulate", "ingest", "features", "train", "rank", "demo"):
        assert command in stdout


@pytest.mark.slow
def test_simulate_ingest_features_train_rank(tmp_path: Path):
    import mlflow

    env = tracking_env(tmp_path)
    export, canonical, report = tmp_path / "export", tmp_path / "canonical", tmp_path / "report"
    assert_ok(run("simulate", "--deals", "400", "--seed", "3", "--out", export))
    assert_ok(run("ingest", export, "--out", canonical))

    stdout = assert_ok(run("features", canonical, "--out", tmp_path / "features.parquet"))
    rows = pd.read_parquet(tmp_path / "features.parquet")
    assert len(rows) > 400 and f"{len(rows):,} feature rows" in stdout

    stdout = assert_ok(run("train", canonical, "--horizon", "21", "--n-estimators", "50",
                           "--run-name", "cli-test", env=env))
    assert "registered dealrisk-export version 1 as champion" in stdout
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias("dealrisk-export", "champion")
    params = client.get_run(version.run_id).data.params
    assert str(version.version) == "1"
    assert (params["horizon_days"], params["n_estimators"]) == ("21", "50")

    stdout = assert_ok(run("rank", canonical, "--out", report, env=env))
    ranking = pd.read_csv(report / "ranking.csv")
    open_deals = int(pd.read_parquet(canonical / "deals.parquet").outcome.isna().sum())
    assert open_deals > 0 and len(ranking) == open_deals
    assert ranking.revenue_at_risk.is_monotonic_decreasing
    assert f"csv: {report / 'ranking.csv'}" in flat(stdout)

    proc = run("rank", canonical, "--as-of", "2000-01-01T00:00:00Z", "--out", tmp_path / "empty",
               env=env)
    assert_refused(proc, 1, "nothing usable: no deal was open at --as-of 2000-01-01T00:00:00Z",
                   f"400 deals in {canonical}")
    assert len(pd.read_csv(tmp_path / "empty" / "ranking.csv")) == 0


@pytest.mark.slow
def test_demo_as_the_makefile_runs_it(tmp_path: Path):
    """``make demo`` runs ``dealrisk demo --out demo``: simulate, ingest, features, train with the
    oracle (``--truth``), rank."""
    import json

    proc = run("demo", "--out", tmp_path, "--deals", "400", "--seed", "3",
               env=tracking_env(tmp_path))
    stdout = assert_ok(proc)
    report = json.loads((tmp_path / "canonical" / "ingest_report.json").read_text())
    assert report["balanced"] and report["rejected_by_reason"] == {}
    assert report["canonical_rows"]["deals"] == 400
    assert set(report["skipped_by_reason"]) == {"merged"}  # email messages: their task's direction
    assert report["pipeline"]["reporting_currency"] == "USD"
    rows = pd.read_parquet(tmp_path / "features.parquet")
    assert len(rows) > 400 and {"deal_id", "as_of", "days_in_step"} <= set(rows.columns)
    assert "registered dealrisk-demo version 1 as champion" in stdout
    ranking = pd.read_csv(tmp_path / "report" / "ranking.csv")
    open_deals = pd.read_parquet(tmp_path / "canonical" / "deals.parquet").outcome.isna().sum()
    assert len(ranking) == open_deals and ranking.revenue_at_risk.is_monotonic_decreasing
    assert (tmp_path / "report" / "ranking.html").stat().st_size > 10_000
    # --truth brings the simulation's parameters: the run logs true vs estimated effects
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_env(tmp_path)["MLFLOW_TRACKING_URI"])
    (found,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    plots = {a.path for a in client.list_artifacts(found.info.run_id, "plots")}
    assert "oracle.no_decision.roc_auc" in found.data.metrics
    assert {"plots/next_steps_lift_calibration.png",
            "plots/next_steps_true_vs_estimated.png"} <= plots
    assert "next_step.truth.recommended_nd_reduction" in found.data.metrics


def test_simulate_writes_parquet_too(tmp_path: Path):
    assert_ok(run("simulate", "--deals", "120", "--format", "parquet", "--out", tmp_path))
    assert {"Opportunity.parquet", "EmailMessage.parquet", "CurrencyType.parquet"} <= {
        p.name for p in tmp_path.iterdir()}
    assert_ok(run("ingest", tmp_path, "--out", tmp_path / "canonical"))
