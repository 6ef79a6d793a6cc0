"""Exports as they really come: hand-written Salesforce and HubSpot exports with each quirk of
real files, read without loss.

Fixtures:
- tests/fixtures/salesforce_real: a Data Loader / report export -- Opportunity ids in the
  15-character form while every other object uses 18; amounts written ``12,500.00``,
  ``EUR 48,000.00``, ``$9,500`` and empty; an opportunity with no account; a quoted multi-line
  Description; ``+0000`` offsets; ``Email: ...`` tasks in both directions with EmailMessage's
  ``Incoming`` flag (and an email with no task); field history of other fields (``created``,
  ``StageName``, ``Owner``); an open task due after the export and one still open after its
  due date; a task on an account (not a deal);
  CurrencyType and DatedConversionRate (EUR at 0.92 until April, 0.95 after); User (FirstName /
  LastName, no Name; one user owns no deal) and Account (one Id in the 15-character form, one
  account with no deal) for the owner and account names.
- tests/fixtures/hubspot_ui: what HubSpot's export button writes -- label-named columns, local
  times without an offset, one file per activity type, owner names (one deal unassigned), the
  company by name, a contact and an email on no deal, an open and an overdue task.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from table_records import records

from features.histories import DealHistories
from features.ingest import SourceError, ingest
from features.journey import JourneyConfig

SF = "0065g00000"  # the Opportunity ids' common start
EXPORT = pd.Timestamp("2024-06-01T00:00:00Z")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def local_zone(zone: str) -> JourneyConfig:
    config = JourneyConfig.default()
    return config.merged({"timestamps": {"naive_timezone": zone}})


@pytest.fixture(scope="module")
def sf(fixtures_dir=Path(__file__).parents[1] / "fixtures"):
    return ingest(fixtures_dir / "salesforce_real")


@pytest.fixture(scope="module")
def hs(fixtures_dir=Path(__file__).parents[1] / "fixtures"):
    return ingest(fixtures_dir / "hubspot_ui", kind="hubspot", config=local_zone(
        "Europe/Amsterdam"), export_time=EXPORT, currency="USD")


# ----------------------------------------------------------------------------- Salesforce
def test_salesforce_export_loses_nothing(sf):
    assert sf.rejections.empty and sf.balanced
    assert records(sf.skipped, ["file", "row", "reason"]) == [
        ("Account.csv", 3, "unreferenced"),  # an account with no opportunity
        ("EmailMessage.csv", 1, "merged"), ("EmailMessage.csv", 2, "merged"),
        ("OpportunityFieldHistory.csv", 1, "untracked_field"),
        ("OpportunityFieldHistory.csv", 2, "untracked_field"),
        ("OpportunityFieldHistory.csv", 5, "untracked_field"),
        ("Task.csv", 8, "not_linked"),  # an email on the account, not on a deal
        ("User.csv", 3, "unreferenced")]  # a user who owns no opportunity
    fc = sf.file_counts
    assert (fc["read"] == fc["accepted"] + fc["skipped"] + fc["rejected"]).all()


def test_15_and_18_character_ids_are_one_id(sf):
    deals = sf.histories.deals
    assert sorted(deals["deal_id"]) == [f"{SF}{x}AAF" for x in ("AbCd1", "MnOp3", "QrSt4",
                                                                  "XyZw2")]
    acts = sf.histories.activities
    assert set(acts["deal_id"]) <= set(deals["deal_id"]) and len(acts) == 11


def test_amounts_as_written_and_one_reporting_currency(sf):
    deals = sf.histories.deals.set_index("deal_id")
    amount = deals["amount"]
    assert amount[f"{SF}AbCd1AAF"] == 12500.0                       # "12,500.00"
    assert amount[f"{SF}QrSt4AAF"] == 9500.0                        # "$9,500"
    assert pd.isna(amount[f"{SF}MnOp3AAF"])                         # empty: kept, missing
    # "EUR 48,000.00", closing 2024-03-20: Salesforce's dated rate for that day (0.92)
    assert amount[f"{SF}XyZw2AAF"] == pytest.approx(48000 / 0.92)
    assert set(deals["currency"]) == {"USD"}
    assert sf.histories.profile.reporting_currency == "USD"
    assert pd.isna(deals.loc[f"{SF}MnOp3AAF", "account_id"])       # private opportunity


def test_direction_from_what_salesforce_records(sf):
    acts = sf.histories.activities.set_index("activity_id")
    assert records(acts.reset_index(), ["activity_id", "type", "direction", "action"])[:4] == [
        ("00T5g00000Tk001AAA", "email", "seller", None),   # EmailMessage.Incoming false
        ("00T5g00000Tk002AAA", "email", "buyer", None),    # Incoming true (same "Email:" form)
        ("00T5g00000Tk003AAA", "call", "seller", "confirm_problem"),   # CallType Outbound
        ("00T5g00000Tk004AAA", "call", "buyer", None),                 # CallType Inbound
    ]
    assert acts.loc["02s5g00000Em003AAA", "direction"] == "buyer"   # an email with no task
    assert acts.loc["00U5g00000Ev001AAA", "action"] == "agree_evaluation_plan"


def test_an_open_task_is_a_booked_step_due_at_its_due_date(sf):
    acts = sf.histories.activities.set_index("activity_id")
    task = acts.loc["00T5g00000Tk005AAA"]
    assert task["recorded_at"] == ts("2024-05-20T09:00:00Z")
    assert task["occurred_at"] == ts("2024-06-10T23:59:59.999Z")  # due after the export
    # still open after its due date: read the same way by an export taken at any time
    overdue = acts.loc["00T5g00000Tk006AAA"]
    assert (overdue["recorded_at"], overdue["occurred_at"]) == (
        ts("2024-04-20T09:00:00Z"), ts("2024-05-01T23:59:59.999Z"))


def test_owner_and_account_names_joined_on_15_or_18_character_ids(sf):
    deals = sf.histories.deals
    assert records(deals, ["deal_id", "owner_name", "account_name"]) == [
        (f"{SF}AbCd1AAF", "Dana Whitfield", "Acme Corporation"),  # Account.Id in 15 characters
        (f"{SF}MnOp3AAF", "Luis Ortega", None),                   # no AccountId: no name
        (f"{SF}QrSt4AAF", "Luis Ortega", "Acme Corporation"),
        (f"{SF}XyZw2AAF", "Dana Whitfield", "Globex GmbH")]
    assert deals["owner_name"].dtype == "str" and deals["account_name"].dtype == "str"
    sides = sf.file_counts[sf.file_counts["table"] == "side table"]
    assert records(sides, ["file", "read", "accepted", "skipped", "rejected"]) == [
        ("User.csv", 3, 2, 1, 0), ("Account.csv", 3, 2, 1, 0)]
    assert records(sf.skipped[sf.skipped["file"] == "User.csv"], ["column", "value", "detail"]
                   ) == [("Id", "0055g00000Rep03AAA", "no opportunity has this OwnerId")]


def test_user_and_account_rows_without_an_id_or_repeated_are_rejected(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    with (folder / "User.csv").open("a") as f:
        f.write(",integration@seller.example,Integration,User,true\n")
    with (folder / "Account.csv").open("a") as f:  # Globex again, in its 15-character form
        f.write("0015g00000GlBx2,Globex (old name),Energy,DE\n")
    result = ingest(folder)
    assert result.balanced
    assert records(result.rejections, ["file", "row", "column", "value", "reason", "detail"]) == [
        ("Account.csv", 4, "Id", "0015g00000GlBx2AAF", "duplicate_id", "id already used at row 2"),
        ("User.csv", 4, "Id", "", "missing_value", "a User row needs its Id")]
    sides = result.file_counts[result.file_counts["table"] == "side table"]
    assert records(sides, ["file", "read", "accepted", "skipped", "rejected"]) == [
        ("User.csv", 4, 2, 1, 1), ("Account.csv", 4, 2, 1, 1)]
    assert result.summary()["rejected_by_reason"] == {"duplicate_id": 1, "missing_value": 1}
    names = result.histories.deals.set_index("deal_id")["account_name"]
    assert names[f"{SF}XyZw2AAF"] == "Globex GmbH"  # the first row of the id
    assert len(result.histories.deals) == 4


def test_user_names_from_name_else_first_and_last_name(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "User.csv").write_text("Id,Name,FirstName,LastName\n"
                                     "0055g00000Rep01AAA,Dana W.,Dana,Whitfield\n"
                                     "0055g00000Rep02AAA,,Luis,\n")
    owners = ingest(folder).histories.deals.set_index("deal_id")["owner_name"]
    assert owners[f"{SF}XyZw2AAF"] == "Dana W." and owners[f"{SF}MnOp3AAF"] == "Luis"
    (folder / "User.csv").write_text("Id,Username\n0055g00000Rep01AAA,dana@seller.example\n")
    with pytest.raises(SourceError, match=r"User\.csv: missing required column\(s\) Name "
                                          r"\(or FirstName and LastName\) \(found: Id, Username\)"):
        ingest(folder)


def test_without_user_and_account_files_the_names_are_missing(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "User.csv").unlink()
    (folder / "Account.csv").unlink()
    result = ingest(folder)
    assert result.balanced and result.rejections.empty
    assert "side table" not in set(result.file_counts["table"])
    deals = result.histories.deals
    assert deals["owner_name"].isna().all() and deals["account_name"].isna().all()
    assert deals["owner_id"].notna().all()  # what the ranking shows instead


def test_names_survive_the_canonical_parquet_round_trip(sf, tmp_path):
    sf.write(tmp_path / "c")
    back = DealHistories.read_parquet(tmp_path / "c").deals
    pd.testing.assert_frame_equal(back, sf.histories.deals)
    # canonical tables written before the names existed read with the names missing
    old = pd.read_parquet(tmp_path / "c" / "deals.parquet").drop(
        columns=["owner_name", "account_name"])
    old.to_parquet(tmp_path / "c" / "deals.parquet", index=False)
    deals = DealHistories.read_parquet(tmp_path / "c").deals
    assert list(deals.columns) == list(sf.histories.deals.columns)
    assert deals["owner_name"].isna().all() and deals["owner_name"].dtype == "str"


def test_other_field_history_fields_are_skipped_not_rejected(sf):
    changes = sf.histories.field_history
    assert sorted(changes["field"]) == ["amount", "close_date"]


def test_multi_line_fields_in_a_file_of_any_size(fixtures: Path, tmp_path: Path):
    """pyarrow's chunked CSV parser loses sync on a quoted line break in files over ~1 MB."""
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    opp = pd.read_csv(folder / "Opportunity.csv", dtype=str, keep_default_na=False)
    filler = opp.iloc[[2]].copy()
    rows = []
    for i in range(6000):
        row = filler.copy()
        row["Id"] = f"0065g0000{i:06d}"
        row["Description"] = f"Line one of deal {i},\nline two \"quoted\"\nline three " + "x" * 80
        rows.append(row)
    pd.concat([opp, *rows]).to_csv(folder / "Opportunity.csv", index=False)
    assert (folder / "Opportunity.csv").stat().st_size > 1_500_000
    result = ingest(folder)
    assert result.balanced and result.rejections.empty
    assert len(result.histories.deals) == 6004


def test_amounts_in_another_locale(fixtures: Path, tmp_path: Path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    opp = pd.read_csv(folder / "Opportunity.csv", dtype=str, keep_default_na=False)
    opp["Amount"] = ["12.500,00", "EUR 48.000,00", "", "9.500 $"]
    opp.to_csv(folder / "Opportunity.csv", index=False)
    default = ingest(folder)
    rejected = default.rejections[default.rejections["file"] == "Opportunity.csv"]
    # "9.500 $" is a valid number in the default locale (9.5 dollars): which is why an export
    # written with a comma decimal needs its locale configured
    assert records(rejected, ["row", "value", "reason"]) == [
        (1, "12.500,00", "bad_amount"), (2, "EUR 48.000,00", "bad_amount")]
    assert "decimal '.'" in rejected["detail"].iloc[0]
    config = JourneyConfig.default().merged({"numbers": {"decimal": ",", "thousands": "."}})
    german = ingest(folder, config=config)
    assert german.rejections.empty
    assert sorted(german.histories.deals["amount"].dropna().round(2)) == [
        9500.0, 12500.0, round(48000 / 0.92, 2)]


def test_an_amount_naming_another_currency_than_the_deal_is_rejected(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    opp = pd.read_csv(folder / "Opportunity.csv", dtype=str, keep_default_na=False)
    opp.loc[0, "Amount"] = "GBP 12,500.00"  # the deal's CurrencyIsoCode is USD
    opp.to_csv(folder / "Opportunity.csv", index=False)
    rej = ingest(folder).rejections
    assert records(rej[rej["file"] == "Opportunity.csv"], ["row", "reason", "detail"]) == [
        (1, "bad_amount", "the amount names GBP but the currency is USD")]


def test_a_rates_file_instead_of_currency_type(fixtures: Path, tmp_path: Path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "CurrencyType.csv").unlink()
    (folder / "DatedConversionRate.csv").unlink()
    without = ingest(folder)
    assert without.histories.profile.reporting_currency is None
    assert "2 currencies (EUR, USD)" in without.warnings[0]
    (tmp_path / "rates.csv").write_text("currency,rate\nUSD,1\nEUR,0.8\n")
    result = ingest(folder, rates=tmp_path / "rates.csv")
    amount = result.histories.deals.set_index("deal_id")["amount"]
    assert amount[f"{SF}XyZw2AAF"] == pytest.approx(60000.0)
    assert result.histories.profile.reporting_currency == "USD" and not result.warnings
    with pytest.raises(SourceError, match="not relative to the reporting currency EUR "
                                          r"\(they are relative to USD\)"):
        ingest(folder, rates=tmp_path / "rates.csv", currency="EUR")
    (tmp_path / "gbp.csv").write_text("currency,rate\nEUR,1.15\n")  # GBP per... no: EUR per GBP
    in_pounds = ingest(folder, rates=tmp_path / "gbp.csv", currency="GBP")
    assert "3 deal(s) in USD have no conversion rate to GBP" in in_pounds.warnings[0]
    assert in_pounds.histories.deals["amount"].notna().sum() == 1
    (tmp_path / "bad.csv").write_text("currency,rate\nEUR,-1\n")
    with pytest.raises(SourceError, match=r"bad\.csv: row 1: conversion rate '-1'"):
        ingest(folder, rates=tmp_path / "bad.csv")


def test_no_field_history_file_takes_the_history_from_opportunity_history(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "OpportunityFieldHistory.csv").unlink()
    result = ingest(folder)
    assert result.histories.profile.tracked_fields == ("close_date", "amount")
    changes = result.histories.field_history
    acme = changes[(changes["deal_id"] == f"{SF}AbCd1AAF") & (changes["field"] == "amount")]
    # its rows show 10,000 throughout (the change to 12,500 came later than its last row)
    assert acme[["old_amount", "new_amount"]].values.tolist() == [[10000.0, 10000.0]]
    assert result.balanced


def test_a_field_without_field_history_rows_takes_opportunity_history(fixtures, tmp_path):
    """Field history tracking may be on for the close date and off for the amount."""
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    ofh = pd.read_csv(folder / "OpportunityFieldHistory.csv", dtype=str)
    ofh[ofh["Field"] != "Amount"].to_csv(folder / "OpportunityFieldHistory.csv", index=False)
    result = ingest(folder)
    assert result.histories.profile.tracked_fields == ("close_date", "amount")
    changes = result.histories.field_history
    assert set(changes.loc[changes["field"] == "close_date", "change_id"]) == {
        "0175g00000Fh004AAA"}                                       # from the field history
    assert changes.loc[changes["field"] == "amount", "change_id"].str.contains(
        "#Amount#").all()                                           # from OpportunityHistory
    assert result.balanced


def test_no_stage_history_leaves_the_stage_features_out(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "OpportunityHistory.csv").unlink()
    profile = ingest(folder).histories.profile
    assert profile.stage_entries == "none"
    assert {"days_in_step", "regressions"} <= set(profile.left_out())


def test_no_history_at_all_leaves_the_dependent_features_out(fixtures, tmp_path):
    folder = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce_real", folder)
    (folder / "OpportunityFieldHistory.csv").unlink()
    hist = pd.read_csv(folder / "OpportunityHistory.csv", dtype=str)
    hist.drop(columns=["Amount", "CloseDate"]).to_csv(folder / "OpportunityHistory.csv",
                                                     index=False)
    profile = ingest(folder).histories.profile
    assert profile.tracked_fields == ()
    assert {"days_to_close_date", "planned_cycle_days", "amount"} <= set(profile.left_out())


# -------------------------------------------------------------------------------- HubSpot
def test_hubspot_ui_export_loses_nothing(hs):
    assert hs.rejections.empty and hs.balanced
    assert records(hs.skipped, ["file", "row", "reason"]) == [
        ("contacts.csv", 5, "not_linked"), ("emails.csv", 4, "not_linked")]


def test_hubspot_local_times_and_names(hs):
    deals = hs.histories.deals.set_index("deal_id")
    # 2024-03-01 10:00 in Amsterdam (CET) is 09:00 UTC; 2024-04-05 09:15 (CEST) is 07:15 UTC
    assert deals.loc["9001", "created_at"] == ts("2024-03-01T09:00:00Z")
    assert deals.loc["9004", "created_at"] == ts("2024-04-05T07:15:00Z")
    assert deals.loc["9001", "owner_id"] == "Jane Doe"
    assert deals.loc["9003", "owner_id"] == "unassigned"
    assert deals.loc["9001", "account_id"] == "Acme Corp"
    # "Deal owner" and "Associated Company" are names: shown as such (none when empty)
    assert records(deals.reset_index(), ["deal_id", "owner_name", "account_name"]) == [
        ("9001", "Jane Doe", "Acme Corp"), ("9002", "Jane Doe", "Globex"),
        ("9003", None, "Initech"), ("9004", "Raj Patel", None)]
    assert deals.loc["9001", "amount"] == 12000.0 and pd.isna(deals.loc["9004", "amount"])
    assert deals.loc["9003", "outcome"] == "no_decision"  # "No budget"
    assert set(deals["currency"]) == {"USD"}


def test_hubspot_direction_from_what_hubspot_records(hs):
    acts = hs.histories.activities.set_index("activity_id")
    direction = acts["direction"].to_dict()
    assert direction == {"7001": "seller", "7401": "seller", "7002": "buyer", "7101": "seller",
                         "7201": "seller", "7202": "buyer", "7301": "seller", "7003": "seller",
                         "7102": "buyer", "7302": "seller"}
    assert acts.loc["7101", "action"] == "confirm_problem"
    assert acts.loc["7401", "type"] == "other"  # a note


def test_hubspot_without_a_zone_rejects_local_times_and_says_why(fixtures: Path):
    result = ingest(fixtures / "hubspot_ui", kind="hubspot", export_time=EXPORT)
    assert result.histories.deals.empty
    assert set(result.rejections["reason"]) >= {"timestamp_without_timezone"}
