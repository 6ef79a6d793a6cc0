"""The command line in process: the ``run_*`` functions a notebook calls, which raise
(``CliError``, ``NothingUsable``) instead of exiting.

The commands as a user types them (the installed binary in a subprocess) are in ``tests/cli/``.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import CliError, NothingUsable, app, run_features, run_ingest

runner = CliRunner()


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
