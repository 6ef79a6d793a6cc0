"""The Salesforce reader on a small hand-made export with hand-checked canonical rows."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.ingest import SourceError, ingest

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert(UTC) if "+" in text or "Z" in text else pd.Timestamp(
        text, tz=UTC)


@pytest.fixture
def result(fixtures: Path):
    return ingest(fixtures / "salesforce")


def test_every_row_accepted_and_accounted(result):
    assert result.rejections.empty
    assert result.balanced
    assert result.histories.row_counts() == {
        "deals": 4, "stage_history": 8, "activities": 8, "contacts": 3, "field_history": 2}
    assert result.export_time == ts("2024-06-01T00:00:00Z")
    # email messages: two gave their task its direction, one is an email of its own, one is
    # about an account (not a deal)
    assert result.skipped[["file", "row", "reason"]].values.tolist() == [
        ["EmailMessage.csv", 1, "merged"], ["EmailMessage.csv", 2, "merged"],
        ["EmailMessage.csv", 4, "not_linked"]]


def test_deals_outcomes_and_close_times(result):
    deals = result.histories.deals.set_index("deal_id")
    assert deals.loc["006A", "outcome"] is pd.NA or pd.isna(deals.loc["006A", "outcome"])
    assert pd.isna(deals.loc["006A", "closed_at"])
    # won: close time is when it entered Closed Won, not midnight of CloseDate
    assert deals.loc["006B", "outcome"] == "won"
    assert deals.loc["006B", "closed_at"] == ts("2024-05-20T15:30:00Z")
    assert pd.isna(deals.loc["006B", "close_reason"])
    # "Went dark" is a no-decision reason in the default config
    assert deals.loc["006C", "outcome"] == "no_decision"
    assert deals.loc["006C", "close_reason"] == "Went dark"
    # +01:00 offset converted to UTC
    assert deals.loc["006C", "created_at"] == ts("2024-02-15T09:00:00Z")
    # no history row: close time falls back to the CloseDate, known at the end of that day
    assert deals.loc["006D", "outcome"] == "lost"
    assert deals.loc["006D", "closed_at"] == ts("2024-04-01T23:59:59.999Z")
    assert deals.loc["006A", "amount"] == 12000.0
    assert deals.loc["006A", "segment"] == "SMB"
    assert deals.loc["006A", "expected_close_date"] == ts("2024-06-30T00:00:00Z")


def test_stage_history_maps_to_buyer_steps(result):
    hist = result.histories.stage_history
    a = hist[hist.deal_id == "006A"]
    assert a["step"].tolist() == ["curious", "problem_shared", "evaluation_plan"]
    assert a["status"].tolist() == ["open"] * 3
    b = hist[hist.deal_id == "006B"]
    assert b["status"].tolist() == ["open", "open", "won"]
    assert pd.isna(b["step"].iloc[-1])


def test_activities_type_direction_action(result):
    acts = result.histories.activities.set_index("activity_id")
    expected = {
        # "Email: ..." both ways: the direction is EmailMessage.Incoming
        "00TA1": ("email", "seller", None),
        "00TA2": ("email", "buyer", None),
        "02sA3": ("email", "buyer", None),
        "00TA3": ("call", "seller", "confirm_problem"),
        "00TA4": ("call", "buyer", None),
        "00UA1": ("meeting", "buyer", None),  # subject fallback: requested by customer
        "00TB1": ("proposal", "seller", None),
        "00UB1": ("demo", "seller", "run_evaluation"),
    }
    for aid, (kind, direction, action) in expected.items():
        row = acts.loc[aid]
        assert (row["type"], row["direction"]) == (kind, direction), aid
        assert (None if pd.isna(row["action"]) else row["action"]) == action, aid
    assert acts.loc["00TA3", "occurred_at"] == ts("2024-03-08T15:00:00Z")
    assert acts.loc["00UA1", "contact_id"] == "003A2"


def test_contacts_roles_and_field_history(result):
    contacts = result.histories.contacts.set_index("contact_id")
    assert contacts.loc["003A1", "role"] == "champion"
    assert contacts.loc["003A2", "role"] == "economic_buyer"
    assert contacts.loc["003B1", "role"] == "technical"
    assert bool(contacts.loc["003A1", "is_primary"]) is True
    changes = result.histories.field_history.set_index("change_id")
    assert changes.loc["017A1", "field"] == "close_date"
    assert changes.loc["017A1", "old_close_date"] == ts("2024-05-31T00:00:00Z")
    assert changes.loc["017A1", "new_close_date"] == ts("2024-06-30T00:00:00Z")
    assert changes.loc["017A2", "old_amount"] == 10000.0
    assert changes.loc["017A2", "new_amount"] == 12000.0


def test_canonical_dtypes_follow_the_contract(result):
    from features.contract import TABLES_BY_NAME

    for name, frame in result.histories.tables().items():
        spec = TABLES_BY_NAME[name]
        assert list(frame.columns) == spec.names
        for col in spec.columns:
            assert str(frame[col.name].dtype) == str(pd.Series(dtype=col.dtype).dtype), (name, col)


def test_parquet_export_reads_the_same(fixtures: Path, tmp_path: Path, result):
    for csv in (fixtures / "salesforce").glob("*.csv"):
        pd.read_csv(csv, dtype=str, keep_default_na=False).to_parquet(
            tmp_path / f"{csv.stem}.parquet", index=False)
    shutil.copy(fixtures / "salesforce" / "export.json", tmp_path)
    other = ingest(tmp_path)
    for name, frame in result.histories.tables().items():
        pd.testing.assert_frame_equal(frame, other.histories.tables()[name], obj=name)


def test_roundtrip_through_parquet(result, tmp_path: Path):
    from features.histories import DealHistories

    result.write(tmp_path)
    back = DealHistories.read_parquet(tmp_path)
    for name, frame in result.histories.tables().items():
        pd.testing.assert_frame_equal(frame, back.tables()[name], obj=name)
    assert (tmp_path / "rejections.csv").is_file()
    assert (tmp_path / "ingest_report.json").is_file()


def test_missing_required_column_names_file_and_column(fixtures: Path, tmp_path: Path):
    shutil.copytree(fixtures / "salesforce", tmp_path / "sf")
    opp = pd.read_csv(tmp_path / "sf" / "Opportunity.csv", dtype=str)
    opp.drop(columns=["StageName"]).to_csv(tmp_path / "sf" / "Opportunity.csv", index=False)
    with pytest.raises(SourceError, match=r"Opportunity\.csv: missing required column\(s\) "
                                          r"StageName"):
        ingest(tmp_path / "sf")


def test_unreadable_file_is_a_clear_error(fixtures: Path, tmp_path: Path):
    shutil.copytree(fixtures / "salesforce", tmp_path / "sf")
    (tmp_path / "sf" / "Task.csv").write_bytes(b'Id,WhatId\n"unterminated,\xff\xfe\n')
    with pytest.raises(SourceError, match=r"Task\.csv"):
        ingest(tmp_path / "sf")


def test_missing_export_time_is_a_clear_error(fixtures: Path, tmp_path: Path):
    shutil.copytree(fixtures / "salesforce", tmp_path / "sf")
    (tmp_path / "sf" / "export.json").unlink()
    with pytest.raises(SourceError, match="no export time"):
        ingest(tmp_path / "sf")
    assert ingest(tmp_path / "sf", export_time=pd.Timestamp("2024-06-01", tz=UTC)).balanced
