"""The HubSpot reader on a small hand-made export with hand-checked canonical rows.

Fixture (tests/fixtures/hubspot, export time 2024-06-01T00:00Z):
- deals.csv: 101 open (Qualified To Buy), 102 won, 103 lost "No budget" (→ no_decision),
  104 lost "Lost to competitor" (→ lost), 105 in an unmapped stage "Discovery", 106 with a naive
  Create Date; 10 non-empty ``Date entered`` cells.
- engagements.csv: 8 rows, e3 linked to two deals; e5 unknown deal, e6 naive timestamp, e7 an
  unmapped type (SMS); e8 a meeting booked before the export for after it.
- contacts.csv: c2 on two deals with two roles (4 links); c3 on no deal.
"""

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from table_records import records

from features.ingest import SourceError, ingest
from features.ingest.hubspot import read_hubspot, stage_label
from features.journey import JourneyConfig

EXPORT = pd.Timestamp("2024-06-01T00:00:00Z")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


@pytest.fixture
def result(fixtures: Path):
    return ingest(fixtures / "hubspot", kind="hubspot")


def test_accounting_balances_per_file_including_derived_rows(result):
    assert result.balanced
    counts = result.file_counts.set_index("file")[["table", "read", "accepted", "skipped",
                                                   "rejected"]]
    assert counts.to_dict("index") == {
        "deals.csv": {"table": "deals", "read": 6, "accepted": 4, "skipped": 0, "rejected": 2},
        "deals.csv#stage_entries": {"table": "stage_history", "read": 10, "accepted": 8,
                                    "skipped": 0, "rejected": 2},
        "engagements.csv": {"table": "activities", "read": 8, "accepted": 5, "skipped": 0,
                            "rejected": 3},
        "engagements.csv#extra_deals": {"table": "activities", "read": 1, "accepted": 1,
                                        "skipped": 0, "rejected": 0},
        "contacts.csv": {"table": "contacts", "read": 4, "accepted": 3, "skipped": 1,
                         "rejected": 0},
        "contacts.csv#extra_links": {"table": "contacts", "read": 3, "accepted": 3,
                                     "skipped": 0, "rejected": 0},
    }
    fc = result.file_counts
    assert fc["read"].sum() == fc["accepted"].sum() + len(result.skipped) + len(result.rejections)
    assert sum(result.histories.row_counts().values()) == fc["accepted"].sum()
    assert result.export_time == EXPORT


def test_rejections_name_file_row_column_and_reason(result):
    rej = result.rejections
    assert records(rej, ["file", "row", "column", "value", "reason"]) == [
        ("deals.csv", 5, "Deal Stage", "Discovery", "unknown_stage"),
        ("deals.csv", 6, "Create Date", "2024-03-05 10:00", "timestamp_without_timezone"),
        ("deals.csv#stage_entries", 5, 'Date entered "<Stage> (<Pipeline>)" (column header)',
         "Discovery", "unknown_stage"),
        ("deals.csv#stage_entries", 6, "Record ID", "106", "unknown_deal"),
        ("engagements.csv", 5, "Associated Deal IDs", "999", "unknown_deal"),
        ("engagements.csv", 6, "Timestamp", "2024-02-10 09:00", "timestamp_without_timezone"),
        ("engagements.csv", 7, "Engagement type", "SMS", "unknown_type"),
    ]
    # a contact on no deal is skipped, not an error
    assert records(result.skipped, ["file", "row", "reason"]) == [
        ("contacts.csv", 3, "not_linked")]
    assert rej.loc[rej["value"] == "106", "detail"].item() == (
        "deal rejected at deals.csv row 6 (timestamp_without_timezone)")


def test_deals(result):
    deals = result.histories.deals
    assert records(deals, ["deal_id", "account_id", "owner_id", "created_at", "amount",
                           "currency", "expected_close_date", "name", "deal_type"]) == [
        ("101", "9001", "owner-1", "2024-03-01T09:00:00+00:00", 12000.0, "USD",
         "2024-06-30T00:00:00+00:00", "Acme", "newbusiness"),
        ("102", "9003", "owner-1", "2024-02-01T10:00:00+00:00", 50000.5, "USD",
         "2024-05-20T16:00:00+00:00", "Globex", "existingbusiness"),
        ("103", "9004", "owner-2", "2024-02-15T09:00:00+00:00", 8000.0, "EUR",
         "2024-05-01T12:00:00+00:00", "Initech", "newbusiness"),
        ("104", "9005", "owner-2", "2024-01-15T10:00:00+00:00", 9000.0, "EUR",
         "2024-04-01T08:00:00+00:00", "Umbrella", "newbusiness"),
    ]
    # open / won / no decision from "No budget" / lost; Close Date is the close time when closed
    assert records(deals, ["deal_id", "outcome", "closed_at", "close_reason"]) == [
        ("101", None, None, None),
        ("102", "won", "2024-05-20T16:00:00+00:00", None),
        ("103", "no_decision", "2024-05-01T12:00:00+00:00", "No budget"),
        ("104", "lost", "2024-04-01T08:00:00+00:00", "Lost to competitor"),
    ]


def test_owner_name_from_deal_owner_and_no_company_name_without_its_column(result):
    deals = result.histories.deals
    assert (deals["owner_name"] == deals["owner_id"]).all()  # "Deal owner" as written
    assert deals["account_name"].isna().all()  # only "Associated Company IDs": no names


def test_stage_history_from_date_entered_columns(result):
    assert records(result.histories.stage_history,
                   ["deal_id", "entered_at", "crm_stage", "step", "status"]) == [
        ("101", "2024-03-01T09:00:00+00:00", "Appointment Scheduled", "curious", "open"),
        ("101", "2024-03-10T09:00:00+00:00", "Qualified To Buy", "problem_shared", "open"),
        ("102", "2024-02-01T10:00:00+00:00", "Appointment Scheduled", "curious", "open"),
        ("102", "2024-05-20T16:00:00+00:00", "Closed Won", None, "won"),
        ("103", "2024-02-15T09:00:00+00:00", "Appointment Scheduled", "curious", "open"),
        ("103", "2024-05-01T12:00:00+00:00", "Closed Lost", None, "lost"),
        ("104", "2024-01-15T10:00:00+00:00", "Appointment Scheduled", "curious", "open"),
        ("104", "2024-04-01T08:00:00+00:00", "Closed Lost", None, "lost"),
    ]


def test_activities_split_per_deal_with_directions(result):
    acts = result.histories.activities
    assert records(acts, ["activity_id", "deal_id", "occurred_at", "recorded_at", "type",
                          "direction", "contact_id", "action"]) == [
        ("e1", "101", "2024-03-02T10:00:00+00:00", "2024-03-02T10:00:00+00:00", "email",
         "seller", "c1", None),
        # INCOMING_EMAIL is a buyer type; first of several contacts
        ("e2", "101", "2024-03-05T11:00:00+00:00", None, "email", "buyer", "c1", None),
        ("e3#101", "101", "2024-03-08T15:00:00+00:00", "2024-03-01T12:00:00+00:00", "meeting",
         "seller", "c2", "agree_evaluation_plan"),
        # Call direction INBOUND → buyer
        ("e4", "101", "2024-03-09T15:00:00+00:00", None, "call", "buyer", "c1", None),
        # booked on 28 May for 10 June: known from its recording time
        ("e8", "101", "2024-06-10T14:00:00+00:00", "2024-05-28T09:00:00+00:00", "meeting",
         "seller", "c2", "confirm_decision_date"),
        ("e3#102", "102", "2024-03-08T15:00:00+00:00", "2024-03-01T12:00:00+00:00", "meeting",
         "seller", "c2", "agree_evaluation_plan"),
    ]


def test_contacts_one_row_per_deal_and_role(result):
    assert records(result.histories.contacts, ["deal_id", "contact_id", "role", "added_at"]) == [
        # HubSpot exports no association time: unknown (the features date a contact at its
        # first activity on the deal, see tests/pipeline/test_reader_leaks.py)
        ("101", "c1", "champion", None),
        ("101", "c2", "economic_buyer", None),
        ("101", "c2", "user", None),
        ("102", "c2", "economic_buyer", None),
        ("102", "c2", "user", None),
        # empty Buying Role → other
        ("104", "c4", "other", None),
    ]


def test_profile_says_what_hubspot_cannot_tell(result):
    profile = result.histories.profile
    assert (profile.source, profile.tracked_fields, profile.stage_entries,
            profile.contact_join_times) == ("hubspot", (), "latest", "first_activity")
    left_out = profile.left_out()
    assert {"days_to_close_date", "planned_cycle_days", "amount", "regressions",
            "step_changes"} <= set(left_out)
    assert "days_in_step" not in left_out and "contacts_on_deal" not in left_out


def test_no_field_history(result):
    assert result.histories.field_history.empty


def test_naive_timezone_from_config_accepts_naive_times(fixtures: Path):
    config = JourneyConfig.default().model_copy(update={
        "timestamps": JourneyConfig.default().timestamps.model_copy(
            update={"naive_timezone": "Europe/Amsterdam"})})
    result = ingest(fixtures / "hubspot", kind="hubspot", config=config)
    assert result.balanced
    deals = result.histories.deals.set_index("deal_id")
    assert deals.loc["106", "created_at"] == ts("2024-03-05T09:00:00Z")
    acts = result.histories.activities.set_index("activity_id")
    assert acts.loc["e6", "occurred_at"] == ts("2024-02-10T08:00:00Z")


def test_parquet_export_equals_csv_export(fixtures: Path, tmp_path: Path):
    for csv in (fixtures / "hubspot").glob("*.csv"):
        table = pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(
            strings_can_be_null=False, column_types={"Record ID": pa.string()}))
        table = table.cast(pa.schema([
            pa.field(f.name, pa.float64() if f.name == "Amount" else pa.string())
            for f in table.schema]))
        pq.write_table(table, tmp_path / f"{csv.stem}.parquet")
    shutil.copy(fixtures / "hubspot" / "export.json", tmp_path)
    from_csv = ingest(fixtures / "hubspot", kind="hubspot")
    from_parquet = ingest(tmp_path, kind="hubspot")
    for name, frame in from_csv.histories.tables().items():
        pd.testing.assert_frame_equal(getattr(from_parquet.histories, name), frame, obj=name)
    rej = from_parquet.rejections
    renamed = rej.assign(file=rej["file"].str.replace(".parquet", ".csv"),
                         detail=rej["detail"].str.replace(".parquet", ".csv"))
    pd.testing.assert_frame_equal(renamed, from_csv.rejections)
    assert from_parquet.balanced


def test_detected_as_hubspot(fixtures: Path, tmp_path: Path):
    for name in ("deals.csv", "engagements.csv"):
        shutil.copy(fixtures / "hubspot" / name, tmp_path)
    result = ingest(tmp_path, export_time=EXPORT)
    assert len(result.histories.deals) == 4


def test_missing_required_column_names_file_and_column(fixtures: Path, tmp_path: Path):
    deals = pd.read_csv(fixtures / "hubspot" / "deals.csv", dtype=str)
    deals.drop(columns=["Deal Stage"]).to_csv(tmp_path / "deals.csv", index=False)
    with pytest.raises(SourceError, match=r"deals\.csv: missing required column\(s\) Deal Stage"):
        ingest(tmp_path, kind="hubspot", export_time=EXPORT)


def test_missing_engagement_column(fixtures: Path, tmp_path: Path):
    shutil.copy(fixtures / "hubspot" / "deals.csv", tmp_path)
    (tmp_path / "engagements.csv").write_text("Engagement ID,Timestamp\ne1,2024-01-01\n")
    with pytest.raises(SourceError, match=r"engagements\.csv: missing required column\(s\) "
                                          r"Associated Deal IDs, Engagement type"):
        ingest(tmp_path, kind="hubspot", export_time=EXPORT)


def test_unreadable_file_is_a_source_error(fixtures: Path, tmp_path: Path):
    (tmp_path / "deals.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(SourceError, match=r"deals\.parquet: cannot read the file"):
        ingest(tmp_path, kind="hubspot", export_time=EXPORT)


def test_no_deals_file(tmp_path: Path):
    (tmp_path / "engagements.csv").write_text("Engagement ID\n")
    with pytest.raises(SourceError, match=r"no deals\.csv or deals\.parquet"):
        read_hubspot(tmp_path, JourneyConfig.default())


def test_regression_is_invisible_only_latest_entry_kept(tmp_path: Path):
    """A deal that went Appointment → Qualified → Appointment shows only the latest entries."""
    (tmp_path / "deals.csv").write_text(
        'Record ID,Deal Stage,Amount,Close Date,Create Date,Deal owner,Associated Company IDs,'
        'Closed Lost Reason,"Date entered ""Appointment Scheduled (Sales Pipeline)""",'
        '"Date entered ""Qualified To Buy (Sales Pipeline)"""\n'
        "1,Appointment Scheduled,10,2024-06-30,2024-01-01T00:00:00Z,o,a,,"
        "2024-03-01T00:00:00Z,2024-02-01T00:00:00Z\n")
    result = ingest(tmp_path, kind="hubspot", export_time=EXPORT)
    assert result.histories.stage_history["crm_stage"].tolist() == [
        "Qualified To Buy", "Appointment Scheduled"]


@pytest.mark.parametrize(("column", "label"), [
    ('Date entered "Appointment Scheduled (Sales Pipeline)"', "Appointment Scheduled"),
    ('Date entered "Closed Lost (Other) (Partner Pipeline)"', "Closed Lost (Other)"),
    ('date entered "Closed Won"', "Closed Won"),
    ('Date exited "Closed Won (Sales Pipeline)"', None),
    ("Deal Stage", None),
])
def test_stage_label(column, label):
    assert stage_label(column) == label
