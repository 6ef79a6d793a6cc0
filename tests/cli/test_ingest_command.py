"""`dealrisk ingest` through the installed binary: the fixture exports, and every way it refuses.

Protects: the three documented export kinds ingest; an export where no deal row came through
still writes its reports but exits 1 with the reason; a bad option value or unreadable input
exits 2 naming it on stderr, before anything is written.
"""

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dealrisk_cli import assert_ok, assert_refused, flat, run

EXPORT_TIME = "2024-06-01T00:00:00Z"


def _copy_salesforce(fixtures: Path, tmp_path: Path) -> Path:
    export = tmp_path / "export"
    shutil.copytree(fixtures / "salesforce", export)
    return export


@pytest.mark.parametrize(("kind", "args"), [
    ("salesforce", []),
    ("hubspot", ["--source", "hubspot"]),
    ("generic", ["--mapping", "generic/mapping.yaml", "--export-time", EXPORT_TIME]),
])
def test_each_fixture_export_ingests(kind: str, args: list[str], fixtures: Path,
                                     tmp_path: Path):
    args = [str(fixtures / a) if a.endswith(".yaml") else a for a in args]
    out = tmp_path / "canonical"
    stdout = assert_ok(run("ingest", fixtures / kind, "--out", out, *args))
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["balanced"] and report["canonical_rows"]["deals"] > 0
    assert report["export_time"] == "2024-06-01T00:00:00+00:00"
    assert f"Ingest (export time {report['export_time']})" in stdout
    assert str(out / "rejections.csv") in stdout


def test_without_an_export_time_it_warns_on_stderr_and_uses_now(fixtures: Path, tmp_path: Path):
    proc = run("ingest", fixtures / "generic", "--mapping", fixtures / "generic" / "mapping.yaml",
               "--out", tmp_path / "c")
    assert_ok(proc)
    assert "warning: no export time given" in flat(proc.stderr)
    assert "warning" not in proc.stdout


def test_header_only_deal_file_writes_the_reports_then_exits_1(fixtures: Path, tmp_path: Path):
    export = _copy_salesforce(fixtures, tmp_path)
    opportunity = export / "Opportunity.csv"
    opportunity.write_text(opportunity.read_text().splitlines()[0] + "\n")
    out = tmp_path / "canonical"
    proc = run("ingest", export, "--out", out)
    assert_refused(proc, 1, "nothing usable: 0 of 0 deal rows accepted",
                   f"see {out / 'rejections.csv'}")
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["canonical_rows"]["deals"] == 0 and report["balanced"]
    assert len(pd.read_csv(out / "rejections.csv")) > 0  # their activities etc. name no deal
    assert (out / "deals.parquet").is_file()
    assert "Ingest (export time" in proc.stdout  # the accounting still goes to stdout


def test_every_deal_row_rejected_exits_1_with_the_commonest_reasons(fixtures: Path,
                                                                    tmp_path: Path):
    export = _copy_salesforce(fixtures, tmp_path)
    path = export / "Opportunity.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:3]:
        row["CreatedDate"] = ""
    rows[3]["Amount"] = "lots"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "canonical"
    assert_refused(run("ingest", export, "--out", out), 1,
                   "nothing usable: 0 of 4 deal rows accepted (most common reasons: "
                   "missing_value 3, bad_amount 1)", str(out / "rejections.csv"))
    rejected = pd.read_csv(out / "rejections.csv")
    deal_rows = rejected[rejected["file"] == "Opportunity.csv"]
    assert sorted(deal_rows["reason"]) == ["bad_amount"] + ["missing_value"] * 3
    assert json.loads((out / "ingest_report.json").read_text())["canonical_rows"]["deals"] == 0


@pytest.mark.parametrize(("args", "named"), [
    (["--source", "bogus"], ["--source 'bogus' is not one of: auto, salesforce, hubspot, "
                             "generic"]),
    (["--export-time", "garbage"], ["--export-time 'garbage' is not a timestamp",
                                    "2024-06-01T00:00:00Z"]),
    (["--export-time", "2024-06-01T00:00:00"], ["--export-time '2024-06-01T00:00:00' has no "
                                                "UTC offset"]),
    (["--mapping", "generic/mapping.yaml", "--source", "hubspot"], ["--mapping", "--source"]),
])
def test_a_bad_option_value_is_named_and_nothing_is_written(args: list[str], named: list[str],
                                                             fixtures: Path, tmp_path: Path):
    args = [str(fixtures / a) if a.endswith(".yaml") else a for a in args]
    out = tmp_path / "canonical"
    proc = run("ingest", fixtures / "salesforce", "--out", out, *args)
    assert_refused(proc, 2, *named)
    assert proc.stdout == "" and not out.exists()


def test_a_missing_export_directory_is_named(tmp_path: Path):
    missing = tmp_path / "nope"
    proc = run("ingest", missing, "--out", tmp_path / "o")
    assert_refused(proc, 2, f"{missing}: export directory not found")
    assert not (tmp_path / "o").exists()


def test_a_bad_journey_config_names_the_file_and_the_value(fixtures: Path, tmp_path: Path):
    config = tmp_path / "journey.yaml"
    config.write_text("stages:\n  Prospecting: {step: nowhere}\n")
    proc = run("ingest", fixtures / "salesforce", "--config", config, "--out", tmp_path / "o")
    assert_refused(proc, 2, str(config), "nowhere")
