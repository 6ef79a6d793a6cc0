"""The command line: the demo end to end, and clear errors instead of tracebacks."""

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()


def test_demo_runs_end_to_end(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--deals", "400", "--seed", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "canonical" / "ingest_report.json").read_text())
    assert report["balanced"] and report["rejected_by_reason"] == {}
    assert report["canonical_rows"]["deals"] == 400
    rows = pd.read_parquet(tmp_path / "features.parquet")
    assert len(rows) > 400 and {"deal_id", "as_of", "days_in_step"} <= set(rows.columns)
    assert "registered dealrisk version 1 as champion" in " ".join(result.output.split())
    ranking = pd.read_csv(tmp_path / "report" / "ranking.csv")
    open_deals = pd.read_parquet(tmp_path / "canonical" / "deals.parquet").outcome.isna().sum()
    assert len(ranking) == open_deals and ranking.revenue_at_risk.is_monotonic_decreasing
    assert (tmp_path / "report" / "ranking.html").stat().st_size > 10_000


def test_ingest_of_a_missing_directory_is_a_clear_error(tmp_path: Path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "export directory not found" in result.output
    assert "Traceback" not in result.output


def test_bad_journey_config_names_the_file(tmp_path: Path, fixtures: Path):
    cfg = tmp_path / "journey.yaml"
    cfg.write_text("stages:\n  Prospecting: {step: nowhere}\n")
    result = runner.invoke(app, ["ingest", str(fixtures / "salesforce"), "--config", str(cfg),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "journey.yaml" in result.output and "nowhere" in result.output


def test_features_at_a_time_scores_open_deals(tmp_path: Path, fixtures: Path):
    assert runner.invoke(app, ["ingest", str(fixtures / "salesforce"), "--out",
                               str(tmp_path / "c")]).exit_code == 0
    result = runner.invoke(app, ["features", str(tmp_path / "c"), "--as-of",
                                 "2024-04-05T00:00:00Z", "--out", str(tmp_path / "f.parquet")])
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_parquet(tmp_path / "f.parquet").deal_id) == ["006A", "006B", "006C"]
