"""The command line in process: the demo end to end, and the ``run_*`` functions a notebook
calls, which raise (``CliError``, ``NothingUsable``) instead of exiting.

The commands as a user types them (the installed binary in a subprocess) are in ``tests/cli/``.
"""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import CliError, NothingUsable, app, run_features, run_ingest

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


def test_features_at_a_time_scores_open_deals(tmp_path: Path, fixtures: Path):
    assert runner.invoke(app, ["ingest", str(fixtures / "salesforce"), "--out",
                               str(tmp_path / "c")]).exit_code == 0
    result = runner.invoke(app, ["features", str(tmp_path / "c"), "--as-of",
                                 "2024-04-05T00:00:00Z", "--out", str(tmp_path / "f.parquet")])
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_parquet(tmp_path / "f.parquet").deal_id) == ["006A", "006B", "006C"]


def test_run_ingest_writes_the_reports_then_raises_nothing_usable(tmp_path: Path,
                                                                 fixtures: Path):
    export = tmp_path / "export"
    shutil.copytree(fixtures / "salesforce", export)
    opportunity = export / "Opportunity.csv"
    opportunity.write_text(opportunity.read_text().splitlines()[0] + "\n")
    with pytest.raises(NothingUsable, match=r"^0 of 0 deal rows accepted") as caught:
        run_ingest(export, tmp_path / "c")
    assert caught.value.exit_code == 1
    assert (tmp_path / "c" / "ingest_report.json").is_file()


def test_run_features_refuses_a_time_after_the_export(tmp_path: Path, fixtures: Path):
    run_ingest(fixtures / "salesforce", tmp_path / "c")
    with pytest.raises(CliError, match=r"^--as-of 2024-07-01T00:00:00\+00:00 is after the "
                                       r"export time 2024-06-01T00:00:00\+00:00") as caught:
        run_features(tmp_path / "c", tmp_path / "f.parquet", as_of="2024-07-01T00:00:00Z")
    assert caught.value.exit_code == 2 and not (tmp_path / "f.parquet").exists()
