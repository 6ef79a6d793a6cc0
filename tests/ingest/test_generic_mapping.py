"""What a mapping must express for real exports: side tables joined by key, constants, rows
derived from columns, several files per table, typed context fields, a timestamp format and zone
per column, a value for an empty key; a bad mapping names its YAML key.

On examples/crm_pipeline (a spreadsheet pipeline: one row per opportunity, account and team side
tables) and on small hand-written files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from table_records import records

from features.ingest import SourceError, ingest

EXAMPLE = Path(__file__).parents[2] / "examples" / "crm_pipeline"


@pytest.fixture(scope="module")
def crm():
    return ingest(EXAMPLE, mapping=EXAMPLE / "mapping.yaml")


def test_example_pipeline_loses_nothing(crm):
    assert crm.balanced
    pipeline = pd.read_csv(EXAMPLE / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    prospects = (pipeline["deal_stage"] == "Prospecting").sum()
    # prospects have no engage date: nothing places them in time (reported, not lost)
    assert records(crm.rejections.drop_duplicates("reason"), ["column", "reason"]) == [
        ("engage_date", "missing_value")]
    assert len(crm.rejections) == prospects
    assert len(crm.histories.deals) == len(pipeline) - prospects
    sides = crm.file_counts[crm.file_counts["table"] == "side table"]
    assert records(sides, ["file", "read", "accepted", "skipped"]) == [
        ("accounts.csv", 48, 48, 0), ("sales_teams.csv", 12, 12, 0), ("products.csv", 7, 7, 0)]


def test_joins_constants_and_typed_context_fields(crm):
    deals = crm.histories.deals.set_index("deal_id")
    pipeline = pd.read_csv(EXAMPLE / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    accounts = pd.read_csv(EXAMPLE / "accounts.csv", dtype=str).set_index("account")
    row = pipeline[pipeline["deal_stage"] == "Won"].iloc[0]
    deal = deals.loc[row["opportunity_id"]]
    assert deal["industry"] == accounts.loc[row["account"], "sector"]      # joined
    assert deal["employees"] == float(accounts.loc[row["account"], "employees"])  # a number
    assert deal["currency"] == "USD"                                         # a constant
    products = pd.read_csv(EXAMPLE / "products.csv").set_index("product")
    assert deal["amount"] == products.loc[row["product"], "sales_price"]  # the list price
    profile = crm.histories.profile
    assert [(c.name, c.kind) for c in profile.context] == [("employees", "number"),
                                                           ("sales_manager", "category")]
    assert profile.schema().names[-2:] == ["employees", "sales_manager"]
    assert deals["employees"].dtype == "float64" and deals["sales_manager"].notna().all()


def test_owner_and_account_names_are_mapped(crm):
    deals = crm.histories.deals.set_index("deal_id")
    pipeline = pd.read_csv(EXAMPLE / "sales_pipeline.csv", dtype=str, keep_default_na=False
                           ).set_index("opportunity_id").loc[deals.index]
    assert (deals["owner_name"] == pipeline["sales_agent"]).all()
    assert (deals["account_name"] == pipeline["account"]).all()  # (only prospects lack one)


def test_stage_history_derived_from_date_columns(crm):
    pipeline = pd.read_csv(EXAMPLE / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    row = pipeline[pipeline["deal_stage"] == "Lost"].iloc[0]
    stages = crm.histories.stage_history
    mine = stages[stages["deal_id"] == row["opportunity_id"]]
    # dates alone are events known at the end of their day
    assert records(mine, ["crm_stage", "status", "entered_at"]) == [
        ("Engaging", "open", f"{row['engage_date']}T23:59:59.999000+00:00"),
        ("Lost", "lost", f"{row['close_date']}T23:59:59.999000+00:00")]
    deal = crm.histories.deals.set_index("deal_id").loc[row["opportunity_id"]]
    assert deal["outcome"] == "lost" and deal["closed_at"] == mine["entered_at"].iloc[-1]


def test_what_the_spreadsheet_cannot_tell_is_left_out(crm):
    left_out = crm.histories.profile.left_out()
    assert {"amount", "days_to_close_date", "buyer_activities_30d", "contacts_on_deal"} <= set(
        left_out)
    assert "days_in_step" not in left_out and "owner_win_rate" not in left_out


# ------------------------------------------------------------------ hand-written variations
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "deals.csv").write_text(
        "id,rep,acct,opened,size,stage\n"
        "d1,Ann,a1,2/26/2018 19:58,\"1,200\",Open\n"
        "d2,Bob,,3/1/2018 08:00,300,Open\n"
        "d3,Ann,a2,3/5/2018 09:30,40,Open\n")
    (tmp_path / "calls.csv").write_text(
        "call,deal,when,dir\nc1,d1,27.02.2018 10:15,Inbound\nc2,d3,06.03.2018 12:00,Outbound\n")
    (tmp_path / "emails.csv").write_text(
        "mail,opportunity,sent_at,incoming\nm1,d1,2018-02-28T09:00:00Z,true\n")
    (tmp_path / "accounts.csv").write_text("acct,seats\na1,120\na2,15\na3,7\n")
    mapping = {
        "timestamps": {"naive_timezone": "America/New_York"},
        "journey": {"stages": {"Open": {"step": "curious"}}},
        "tables": {
            "deals": {
                "file": "deals.csv",
                "join": [{"file": "accounts.csv", "on": {"acct": "acct"}, "as": "account"}],
                "columns": {"deal_id": "id", "owner_id": "rep",
                            "account_id": {"column": "acct", "missing": "unknown account"},
                            "created_at": {"column": "opened", "format": "%m/%d/%Y %H:%M"},
                            "amount": "size", "crm_stage": "stage",
                            "currency": {"value": "USD"}},
                "context": {"seats": {"column": "account.seats", "kind": "number"}}},
            "activities": [
                {"file": "calls.csv",
                 "columns": {"activity_id": "call", "deal_id": "deal",
                             "occurred_at": {"column": "when", "format": "%d.%m.%Y %H:%M",
                                             "timezone": "Europe/Berlin"},
                             "type_raw": {"value": "Call"}, "call_direction": "dir"}},
                {"file": "emails.csv",
                 "columns": {"activity_id": "mail", "deal_id": "opportunity",
                             "occurred_at": "sent_at", "type_raw": {"value": "Email"},
                             "call_direction": "incoming"}}]}}
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    return tmp_path


def read(folder: Path):
    return ingest(folder, mapping=folder / "mapping.yaml",
                  export_time=pd.Timestamp("2018-06-01T00:00:00Z"))


def test_formats_zones_fill_values_and_several_files(folder: Path):
    config = folder / "mapping.yaml"
    data = yaml.safe_load(config.read_text())
    data["journey"]["activities"] = {"call_directions": {"true": "buyer", "false": "seller"}}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = read(folder)
    assert result.rejections.empty and result.balanced
    deals = result.histories.deals.set_index("deal_id")
    # 19:58 in New York (EST, -05:00) is 00:58 UTC the next day
    assert deals.loc["d1", "created_at"] == pd.Timestamp("2018-02-27T00:58:00Z")
    assert deals.loc["d1", "amount"] == 1200.0
    assert deals.loc["d2", "account_id"] == "unknown account"
    assert deals.loc["d1", "seats"] == 120.0 and deals.loc["d3", "seats"] == 15.0
    assert pd.isna(deals.loc["d2", "seats"])  # no account: nothing joined
    acts = result.histories.activities.set_index("activity_id")
    assert acts.loc["c1", "occurred_at"] == pd.Timestamp("2018-02-27T09:15:00Z")  # Berlin
    assert acts["direction"].to_dict() == {"c1": "buyer", "m1": "buyer", "c2": "seller"}
    files = result.file_counts.set_index("file")
    assert files.loc["calls.csv", "accepted"] == 2 and files.loc["emails.csv", "accepted"] == 1
    assert files.loc["accounts.csv", ["accepted", "skipped"]].tolist() == [2, 1]  # a3 unused


def test_what_a_field_history_tracks_is_what_its_rows_name(folder: Path):
    (folder / "changes.csv").write_text("id,deal,at,what,old,new\n"
                                        "h1,d1,2018-03-10T10:00:00Z,CloseDate,2018-04-01,"
                                        "2018-04-30\n")
    path = folder / "mapping.yaml"
    data = yaml.safe_load(path.read_text())
    data["tables"]["field_history"] = {
        "file": "changes.csv", "columns": {"change_id": "id", "deal_id": "deal",
                                           "changed_at": "at", "field_raw": "what",
                                           "old_value": "old", "new_value": "new"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = read(folder).histories.profile
    assert profile.tracked_fields == ("close_date",)  # no amount change: not assumed constant
    assert "amount" in profile.left_out() and "days_to_close_date" not in profile.left_out()
    assert profile.stage_entries == "none"             # no stage history mapped
    data["tables"]["field_history"]["tracks"] = ["close_date", "amount"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert read(folder).histories.profile.tracked_fields == ("close_date", "amount")


def test_a_value_that_misses_its_format_is_reported(folder: Path):
    (folder / "calls.csv").write_text("call,deal,when,dir\nc1,d1,2018-02-27,Inbound\n")
    result = read(folder)
    assert records(result.rejections, ["file", "row", "column", "value", "reason"]) == [
        ("calls.csv", 1, "when", "2018-02-27 (does not match the format '%d.%m.%Y %H:%M')",
         "bad_timestamp")]


def test_a_duplicate_side_table_key_is_an_error(folder: Path):
    (folder / "accounts.csv").write_text("acct,seats\na1,120\na1,121\n")
    with pytest.raises(SourceError, match=r"join accounts\.csv: key 'a1' appears more than once "
                                          r"\(row 2\)"):
        read(folder)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["tables"]["deals"]["columns"]["created_at"].update(format="MM/DD/YYYY"),
     r"tables\.deals\.columns\.created_at: .*format 'MM/DD/YYYY' has no strptime directive"),
    (lambda m: m["tables"]["deals"]["columns"]["created_at"].update(timezone="Mars/Base"),
     r"tables\.deals\.columns\.created_at: .*unknown time zone 'Mars/Base'"),
    (lambda m: m["tables"]["deals"]["columns"].update(currency={"value": "USD", "column": "x"}),
     r"tables\.deals\.columns\.currency: .*exactly one of `column`"),
    (lambda m: m["tables"]["deals"]["context"].update(seats={"column": "account.seats",
                                                             "kind": "integer"}),
     r"tables\.deals\.context\.seats\.kind: Input should be 'number' or 'category'"),
    (lambda m: m["tables"]["deals"]["context"].update(amount={"column": "size",
                                                              "kind": "number"}),
     r"tables\.deals\.context\.amount: context field name 'amount' is already"),
    (lambda m: m["tables"]["deals"]["join"][0].update(on={"nope": "acct"}),
     r"join accounts\.csv: no column 'nope' to join on \(tables\.deals\.join\.on\)"),
    (lambda m: m["tables"]["activities"][1]["columns"].update(occurred_at={
        "column": "sent_at", "format": "%d"}) or m["tables"]["activities"][1]["columns"].update(
        deal_id={"column": "opportunity", "format": "%d"}),
     r"tables\.activities\[1\]\.columns\.deal_id\.format: only time columns"),
    (lambda m: m["tables"]["activities"][0]["columns"].pop("deal_id"),
     r"required column deal_id is not mapped \(tables\.activities\[0\]\.columns\)"),
    (lambda m: m.update(journey={"stages": {"Open": {"step": "nowhere"}}}),
     r"mapping\.yaml: journey is invalid: .*undefined buyer steps \['nowhere'\]"),
])
def test_a_bad_mapping_names_the_yaml_key(folder: Path, change, message):
    path = folder / "mapping.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SourceError, match=message):
        read(folder)


def test_a_bare_yaml_on_key_works(folder: Path):
    """YAML 1.1 reads ``on:`` as true; the mapping takes it as the join key anyway."""
    text = (folder / "mapping.yaml").read_text()
    assert "'on':" in text  # yaml.safe_dump quotes it; a person writes it bare
    bare = text.replace("'on':", "on:")
    assert True in yaml.safe_load(bare)["tables"]["deals"]["join"][0]
    (folder / "mapping.yaml").write_text(bare)
    deals = read(folder).histories.deals.set_index("deal_id")
    assert deals.loc["d1", "seats"] == 120.0


def test_the_example_copied_elsewhere_reads_the_same(tmp_path: Path, crm):
    shutil.copytree(EXAMPLE, tmp_path / "copy")
    again = ingest(tmp_path / "copy", mapping=tmp_path / "copy" / "mapping.yaml")
    pd.testing.assert_frame_equal(again.histories.deals, crm.histories.deals)
