"""Every documented command on exports the simulator did not write, through the entry point.

Hand-written Salesforce (tests/fixtures/salesforce_real) and HubSpot UI (tests/fixtures/
hubspot_ui) exports; the spreadsheet pipeline of examples/crm_pipeline is the README
walkthrough (test_readme_walkthrough.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dealrisk_cli import assert_ok, assert_refused, run

FIXTURES = Path(__file__).parents[1] / "fixtures"
HUBSPOT = ["--timezone", "Europe/Amsterdam", "--export-time", "2024-06-01T00:00:00+02:00",
           "--currency", "USD"]


def test_salesforce_export_ingest_and_features(tmp_path: Path):
    out = assert_ok(run("ingest", FIXTURES / "salesforce_real", "--out", tmp_path / "c"))
    assert "amounts in USD" in out and "no rows rejected" in out
    assert "3 untracked_field" in out
    assert_ok(run("features", tmp_path / "c", "--out", tmp_path / "f.parquet"))
    assert len(pd.read_parquet(tmp_path / "f.parquet")) > 10
    assert_ok(run("features", tmp_path / "c", "--as-of", "2024-05-01T00:00:00Z", "--out",
                  tmp_path / "now.parquet"))
    rows = pd.read_parquet(tmp_path / "now.parquet")
    assert sorted(rows["deal_id"]) == ["0065g00000AbCd1AAF", "0065g00000MnOp3AAF"]
    # four deals are too few to train on: said so, nothing registered
    assert_refused(run("train", tmp_path / "c"), 1, "nothing usable")


def test_hubspot_ui_export_needs_its_zone(tmp_path: Path):
    proc = run("ingest", FIXTURES / "hubspot_ui", "--out", tmp_path / "c", "--export-time",
               "2024-06-01T00:00:00+02:00")
    assert_refused(proc, 1, "nothing usable", "timestamp_without_timezone")
    assert "--timezone" in proc.stdout
    out = assert_ok(run("ingest", FIXTURES / "hubspot_ui", "--out", tmp_path / "c", *HUBSPOT))
    assert "pipeline hubspot_ui (hubspot); amounts in USD" in out
    assert "only the latest entry into each stage" in out
    assert_ok(run("features", tmp_path / "c", "--as-of", "2024-05-15T00:00:00Z", "--out",
                  tmp_path / "f.parquet"))
    rows = pd.read_parquet(tmp_path / "f.parquet").set_index("deal_id")
    assert sorted(rows.index) == ["9001", "9002", "9004"]  # 9003 closed on May 1
    assert rows.loc["9001", "has_economic_buyer"] == 1  # Kim's meeting on 2024-03-20
    assert rows["days_to_close_date"].isna().all()      # no close-date history in HubSpot


def test_bad_currency_options_are_named(tmp_path: Path):
    assert_refused(run("ingest", FIXTURES / "salesforce_real", "--out", tmp_path / "c",
                       "--rates", tmp_path / "nope.csv"), 2, "--rates", "not found")
    assert_refused(run("ingest", FIXTURES / "salesforce_real", "--out", tmp_path / "c",
                       "--currency", "12"), 2, "--currency '12'")
    (tmp_path / "rates.csv").write_text("currency,rate\nEUR,zero\n")
    assert_refused(run("ingest", FIXTURES / "salesforce_real", "--out", tmp_path / "c",
                       "--rates", tmp_path / "rates.csv"), 2, "rates.csv: row 1",
                   "'zero' is not a positive number")
    assert_refused(run("ingest", FIXTURES / "hubspot_ui", "--out", tmp_path / "c",
                       "--timezone", "Mars/Base"), 2, "--timezone 'Mars/Base'")


def test_homegrown_crm_example_reads_without_a_rejection(tmp_path: Path):
    example = Path(__file__).parents[2] / "examples" / "homegrown_crm"
    out = assert_ok(run("ingest", example, "--mapping", example / "mapping.yaml", "--out",
                        tmp_path / "c"))
    assert "no rows rejected" in out and "1 untracked_field" in out
    assert_ok(run("features", tmp_path / "c", "--as-of", "2018-03-08T00:00:00Z", "--out",
                  tmp_path / "f.parquet"))
    rows = pd.read_parquet(tmp_path / "f.parquet").set_index("deal_id")
    assert list(rows.columns[-2:]) == ["seats", "tier"]     # the mapping's context fields
    assert rows.loc["D-1001", "has_economic_buyer"] == 1    # P-2's email on 2018-03-02
    assert rows.loc["D-1001", "seller_actions_total"] == 1  # "Introduction to our economic buyer"
    assert rows.loc["D-1003", "has_technical"] == 1         # "Evaluator", mapped by the journey


def test_rates_file_currency_and_pipeline_name(tmp_path: Path):
    """``dealrisk ingest export/ --rates rates.csv --currency USD --name emea_pipeline``."""
    import json
    import shutil

    export = tmp_path / "export"
    shutil.copytree(FIXTURES / "salesforce_real", export)
    (export / "CurrencyType.csv").unlink()
    (export / "DatedConversionRate.csv").unlink()
    (tmp_path / "rates.csv").write_text("currency,rate\nUSD,1\nEUR,0.8\n")
    out = assert_ok(run("ingest", export, "--rates", tmp_path / "rates.csv", "--currency", "USD",
                        "--name", "emea_pipeline", "--out", tmp_path / "c"))
    assert "pipeline emea_pipeline (salesforce); amounts in USD" in out
    profile = json.loads((tmp_path / "c" / "pipeline.json").read_text())
    assert (profile["name"], profile["reporting_currency"]) == ("emea_pipeline", "USD")
    deals = pd.read_parquet(tmp_path / "c" / "deals.parquet").set_index("deal_id")
    assert deals.loc["0065g00000XyZw2AAF", "amount"] == 60000.0  # EUR 48,000 at 0.8
    # without rates the amounts stay as exported, and stderr says the currencies are mixed
    proc = run("ingest", export, "--out", tmp_path / "mixed")
    assert_ok(proc)
    assert "2 currencies (EUR, USD)" in " ".join(proc.stderr.split())


@pytest.mark.slow
def test_each_pipeline_ranks_with_its_own_champion_and_refuses_another(tmp_path: Path):
    """The simulated Salesforce pipeline and the spreadsheet one each register under their own
    name and get their own champion (never compared with each other); `rank` uses the
    pipeline's own champion by default and refuses the other's (another pipeline, and features
    this export cannot give), naming --model."""
    from dealrisk_cli import flat, tracking_env

    env = tracking_env(tmp_path)
    example = Path(__file__).parents[2] / "examples" / "crm_pipeline"
    assert_ok(run("simulate", "--deals", "400", "--seed", "3", "--out", tmp_path / "sim"))
    assert_ok(run("ingest", tmp_path / "sim", "--out", tmp_path / "sim_c"))
    out = assert_ok(run("train", tmp_path / "sim_c", "--n-estimators", "30", env=env))
    assert "registered dealrisk-sim version 1 as champion" in flat(out)
    assert_ok(run("ingest", example, "--mapping", example / "mapping.yaml", "--out",
                  tmp_path / "crm_c"))
    out = assert_ok(run("train", tmp_path / "crm_c", "--n-estimators", "30", env=env))
    assert "registered dealrisk-crm_pipeline version 1 as champion" in flat(out)
    refused = assert_refused(run("rank", tmp_path / "crm_c", "--model", "models:/dealrisk-sim/1",
                                 "--out", tmp_path / "r", env=env),
                             2, "belongs to pipeline 'sim', not 'crm_pipeline'", "--model")
    assert "cannot give" in refused and "models:/dealrisk-crm_pipeline/<version>" in refused
    assert_refused(run("rank", tmp_path / "sim_c", "--model",
                       "models:/dealrisk-crm_pipeline@champion", "--out", tmp_path / "r",
                       env=env), 2, "belongs to pipeline 'crm_pipeline', not 'sim'")
    assert_ok(run("rank", tmp_path / "crm_c", "--out", tmp_path / "r", env=env))
    assert flat((tmp_path / "r" / "ranking.csv").read_text())
