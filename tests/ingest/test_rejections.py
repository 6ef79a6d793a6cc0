"""Each rejection reason, on a hand-corrupted copy of the small Salesforce export.

Every expected rejection is named by (file, row, reason); the test also asserts nothing else is
rejected and that rows read == rows accepted + rows rejected for every file.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.ingest import REASONS, ingest
from features.ingest.rejections import EVENTLOG_REASONS
from features.journey import JourneyConfig


def _load(d: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(d / f"{name}.csv", dtype=str, keep_default_na=False)


def _save(frame: pd.DataFrame, d: Path, name: str) -> None:
    frame.to_csv(d / f"{name}.csv", index=False)


def _add(frame: pd.DataFrame, **values: str) -> pd.DataFrame:
    row = {c: "" for c in frame.columns} | values
    return pd.concat([frame, pd.DataFrame([row])], ignore_index=True)


OPP = {"AccountId": "001X", "OwnerId": "005X", "Amount": "100", "CloseDate": "2024-05-30",
       "CreatedDate": "2024-03-01T00:00:00Z", "IsClosed": "false", "StageName": "Prospecting"}


@pytest.fixture
def corrupted(fixtures: Path, tmp_path: Path) -> Path:
    d = tmp_path / "sf"
    shutil.copytree(fixtures / "salesforce", d)
    opp = _load(d, "Opportunity")                                              # rows 1-4 good
    opp = _add(opp, Id="006E", **OPP | {"CreatedDate": "not a date"})          # 5 bad_timestamp
    opp = _add(opp, Id="006F", **OPP | {"CreatedDate": "2024-03-01 10:00:00"})  # 6 no timezone
    opp = _add(opp, Id="006G", **OPP | {"Amount": "-5"})                       # 7 bad_amount
    opp = _add(opp, Id="006H", **OPP | {"Amount": "12k"})                      # 8 bad_amount
    opp = _add(opp, Id="006A", **OPP)                                          # 9 duplicate_id
    opp = _add(opp, Id="006I", **OPP | {"StageName": "Discovery"})             # 10 unknown_stage
    opp = _add(opp, Id="006J", **OPP | {"IsClosed": "true"})                   # 11 closed w/o out
    opp = _add(opp, Id="006K", **OPP | {"StageName": "Closed Won"})            # 12 open with out
    opp = _add(opp, Id="006L", **OPP | {"Loss_Reason__c": "Price"})            # 13 open with out
    opp = _add(opp, Id="006M", **OPP | {"CreatedDate": "2024-07-01T00:00:00Z"})  # 14 after export
    opp = _add(opp, Id="006N", **OPP | {"OwnerId": ""})                        # 15 missing_value
    opp = _add(opp, Id="006O", **OPP | {"IsClosed": "maybe"})                  # 16 bad_value
    _save(opp, d, "Opportunity")

    task = _load(d, "Task")                                                    # rows 1-5 good
    base = {"WhatId": "006A", "Subject": "Email sent: hi", "TaskSubtype": "Email",
            "CompletedDateTime": "2024-03-03T00:00:00Z", "CreatedDate": "2024-03-03T00:00:00Z"}
    task = _add(task, Id="00TX1", **base | {"WhatId": "006ZZZ"})               # 6 unknown_deal
    task = _add(task, Id="00TX2", **base | {"CompletedDateTime": "2024-02-01T00:00:00Z"})  # 7
    task = _add(task, Id="00TX3", **base | {"CompletedDateTime": "2024-06-02T00:00:00Z",
                                            "CreatedDate": "2024-06-02T00:00:00Z"})  # 8
    task = _add(task, Id="00TA1", **base)                                      # 9 duplicate_id
    task = _add(task, Id="00TX4", **base | {"TaskSubtype": "Fax"})             # 10 unknown_type
    task = _add(task, Id="00TX5", **base | {"WhatId": "006E"})                 # 11 deal rejected
    _save(task, d, "Task")

    event = _load(d, "Event")                                                  # rows 1-2 good
    event = _add(event, Id="00UX1", WhatId="006A", Subject="Meeting: next steps",
                 Type="Meeting", ActivityDateTime="2024-06-10T10:00:00Z",
                 CreatedDate="2024-05-30T10:00:00Z")           # 3 booked future meeting: kept
    _save(event, d, "Event")

    hist = _load(d, "OpportunityHistory")                                      # rows 1-8 good
    hist = _add(hist, Id="008X1", OpportunityId="006A", StageName="Discovery",
                CreatedDate="2024-04-03T00:00:00Z")                            # 9 unknown_stage
    _save(hist, d, "OpportunityHistory")

    fh = _load(d, "OpportunityFieldHistory")                                   # rows 1-2 good
    fh = _add(fh, Id="017X1", OpportunityId="006A", Field="StageName", OldValue="a",
              NewValue="b", CreatedDate="2024-04-03T00:00:00Z")                # 3 skipped
    fh = _add(fh, Id="017X2", OpportunityId="006A", Field="Amount", OldValue="1",
              NewValue="lots", CreatedDate="2024-04-03T00:00:00Z")             # 4 bad_amount
    _save(fh, d, "OpportunityFieldHistory")
    return d


EXPECTED = {
    ("Opportunity.csv", 5, "bad_timestamp"),
    ("Opportunity.csv", 6, "timestamp_without_timezone"),
    ("Opportunity.csv", 7, "bad_amount"),
    ("Opportunity.csv", 8, "bad_amount"),
    ("Opportunity.csv", 9, "duplicate_id"),
    ("Opportunity.csv", 10, "unknown_stage"),
    ("Opportunity.csv", 11, "closed_without_outcome"),
    ("Opportunity.csv", 12, "open_with_outcome"),
    ("Opportunity.csv", 13, "open_with_outcome"),
    ("Opportunity.csv", 14, "after_export_time"),
    ("Opportunity.csv", 15, "missing_value"),
    ("Opportunity.csv", 16, "bad_value"),
    ("Task.csv", 6, "unknown_deal"),
    ("Task.csv", 7, "before_deal_created"),
    ("Task.csv", 8, "after_export_time"),
    ("Task.csv", 9, "duplicate_id"),
    ("Task.csv", 10, "unknown_type"),
    ("Task.csv", 11, "unknown_deal"),
    ("OpportunityHistory.csv", 9, "unknown_stage"),
    ("OpportunityFieldHistory.csv", 4, "bad_amount"),
}


def test_each_defect_is_rejected_with_its_reason(corrupted: Path):
    result = ingest(corrupted)
    got = set(zip(result.rejections["file"], result.rejections["row"],
                  result.rejections["reason"], strict=True))
    assert got == EXPECTED
    # every reason a CRM export can have (event-log ones: tests/ingest/test_eventlog.py)
    assert set(result.rejections["reason"]) == set(REASONS) - set(EVENTLOG_REASONS)


def test_good_rows_go_on_and_counts_add_up(corrupted: Path):
    result = ingest(corrupted)
    assert result.balanced
    fc = result.file_counts
    assert int(fc["read"].sum()) == (int(fc["accepted"].sum()) + len(result.skipped)
                                     + len(result.rejections))
    # a change of a field dealrisk does not use is skipped, not an error
    skipped = result.skipped[["file", "row", "reason"]].values.tolist()
    assert ["OpportunityFieldHistory.csv", 3, "untracked_field"] in skipped
    assert result.histories.row_counts() == {
        "deals": 4, "stage_history": 8, "activities": 9, "contacts": 3, "field_history": 2}
    booked = result.histories.activities.set_index("activity_id").loc["00UX1"]
    assert booked["occurred_at"] > result.export_time >= booked["recorded_at"]


def test_rejection_messages_name_the_source_field(corrupted: Path):
    rej = ingest(corrupted).rejections.set_index(["file", "row"])
    assert rej.loc[("Opportunity.csv", 6), "column"] == "CreatedDate"
    assert rej.loc[("Opportunity.csv", 6), "value"] == "2024-03-01 10:00:00"
    assert rej.loc[("Opportunity.csv", 7), "column"] == "Amount"
    assert rej.loc[("Opportunity.csv", 9), "detail"] == "id already used at row 1"
    assert rej.loc[("Task.csv", 10), "value"] == "Fax"
    assert rej.loc[("Task.csv", 11), "detail"] == (
        "deal rejected at Opportunity.csv row 5 (bad_timestamp)")
    assert rej.loc[("Task.csv", 6), "detail"] == (
        "no deal with this id (the deals have 4-character ids, this one has 6)")
    assert rej.loc[("Task.csv", 8), "column"] == "CreatedDate"
    assert (rej.loc[("Opportunity.csv", 16), "column"], rej.loc[("Opportunity.csv", 16), "value"]
            ) == ("IsClosed", "maybe")
    assert rej.loc[("Opportunity.csv", 15), "column"] == "OwnerId"


def test_naive_timezone_rule_can_be_configured(corrupted: Path):
    config = JourneyConfig.default().model_copy(
        update={"timestamps": JourneyConfig.default().timestamps.model_copy(
            update={"naive_timezone": "Europe/Amsterdam"})})
    result = ingest(corrupted, config=config)
    assert ("Opportunity.csv", 6) not in set(zip(result.rejections["file"],
                                                 result.rejections["row"], strict=True))
    deal = result.histories.deals.set_index("deal_id").loc["006F"]
    assert deal["created_at"] == pd.Timestamp("2024-03-01T09:00:00Z")


def test_every_reason_has_an_explanation():
    assert all(REASONS.values())
