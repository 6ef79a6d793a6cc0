"""A corrupted copy of a simulated Salesforce export: good rows go on, every bad row is reported
with its reason, and rows read == accepted + skipped + rejected exactly."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.ingest import ingest
from training.simulator import simulate_to_dir

CHILD_FILES = {"OpportunityHistory": "OpportunityId", "OpportunityFieldHistory": "OpportunityId",
               "Task": "WhatId", "Event": "WhatId", "OpportunityContactRole": "OpportunityId"}


@pytest.fixture(scope="module")
def clean_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "export"
    simulate_to_dir(1500, 11, out)
    return out


def _load(d: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(d / f"{name}.csv", dtype=str, keep_default_na=False)


def corrupt(src: Path, dst: Path) -> tuple[set, set]:
    """Inject every defect once; return expected (file, row, reason) and rejected deal ids."""
    shutil.copytree(src, dst)
    t = {n: _load(dst, n) for n in ["Opportunity", *CHILD_FILES]}
    opp = t["Opportunity"]
    expected, bad_deals = set(), set()

    def mark(name, i, reason):
        expected.add((f"{name}.csv", i + 1, reason))

    def bad_deal(i, column, value, reason):
        opp.loc[i, column] = value
        mark("Opportunity", i, reason)
        bad_deals.add(opp.loc[i, "Id"])

    bad_deal(10, "CreatedDate", "yesterday", "bad_timestamp")
    bad_deal(20, "CreatedDate", "2023-06-01 10:00:00", "timestamp_without_timezone")
    bad_deal(30, "Amount", "-5.00", "bad_amount")
    bad_deal(40, "Amount", "n/a", "bad_amount")
    bad_deal(50, "StageName", "Discovery Call", "unknown_stage")
    open_row = opp.index[opp.IsClosed == "false"][0]
    bad_deal(open_row, "IsClosed", "true", "closed_without_outcome")
    won_row = opp.index[opp.StageName == "Closed Won"][0]
    bad_deal(won_row, "IsClosed", "false", "open_with_outcome")
    bad_deal(60, "CreatedDate", "2031-01-01T00:00:00.000Z", "after_export_time")
    dup = opp.iloc[[70]]
    t["Opportunity"] = opp = pd.concat([opp, dup], ignore_index=True)
    mark("Opportunity", len(opp) - 1, "duplicate_id")

    good = [d for d in opp.Id.iloc[100:] if d not in bad_deals]
    task, event, hist = t["Task"], t["Event"], t["OpportunityHistory"]

    def row_of(frame, col, deal, skip_first=False):
        rows = frame.index[frame[col] == deal]
        return rows[1] if skip_first else rows[0]

    i = row_of(task, "WhatId", good[0])
    task.loc[i, "CompletedDateTime"] = task.loc[i, "CompletedDateTime"].rstrip("Z")
    mark("Task", i, "timestamp_without_timezone")
    i = row_of(task, "WhatId", good[1])
    task.loc[i, "WhatId"] = "006XXXXXXXXXXXXXXX"
    mark("Task", i, "unknown_deal")
    task = pd.concat([task, task.iloc[[5]]], ignore_index=True)
    mark("Task", len(task) - 1, "duplicate_id")
    i = row_of(event, "WhatId", good[2])
    event.loc[i, ["ActivityDateTime", "CreatedDate"]] = "2031-01-01T00:00:00.000Z"
    mark("Event", i, "after_export_time")
    deal_created = opp.set_index("Id").loc[good[3], "CreatedDate"]
    i = row_of(hist, "OpportunityId", good[3], skip_first=True)
    hist.loc[i, "CreatedDate"] = (pd.Timestamp(deal_created) - pd.Timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    mark("OpportunityHistory", i, "before_deal_created")
    i = row_of(hist, "OpportunityId", good[4], skip_first=True)
    hist.loc[i, "StageName"] = "Discovery Call"
    mark("OpportunityHistory", i, "unknown_stage")
    t["Task"], t["Event"], t["OpportunityHistory"] = task, event, hist
    for name, frame in t.items():
        frame.to_csv(dst / f"{name}.csv", index=False)
    return expected, bad_deals


def test_clean_export_has_owner_and_account_names(clean_export: Path):
    result = ingest(clean_export)
    assert result.rejections.empty and result.balanced  # no rejection
    deals = result.histories.deals
    assert deals["owner_name"].notna().all() and deals["account_name"].notna().all()
    # one User / Account row per owner / account some deal has, each with its own name
    fc = result.file_counts.set_index("file")
    for name, key in (("User", "owner_id"), ("Account", "account_id")):
        assert fc.loc[f"{name}.csv", ["table", "read", "accepted", "skipped"]].tolist() == [
            "side table", deals[key].nunique(), deals[key].nunique(), 0]
    assert (deals.groupby("owner_id")["owner_name"].nunique() == 1).all()
    assert deals.groupby("owner_name")["owner_id"].nunique().max() == 1


def test_corrupted_export_loses_nothing(clean_export: Path, tmp_path: Path):
    assert ingest(clean_export).rejections.empty  # the clean export ingests with no rejection
    expected, bad_deals = corrupt(clean_export, tmp_path / "bad")
    result = ingest(tmp_path / "bad")
    rej = result.rejections
    got = set(zip(rej.file, rej.row, rej.reason, strict=True))
    assert expected <= got, expected - got

    # everything else rejected is a child row of a rejected deal, and all of those are
    cascade = rej[~pd.Series(list(zip(rej.file, rej.row, rej.reason, strict=True))).isin(
        expected).to_numpy()]
    assert set(cascade.reason) == {"unknown_deal"}
    assert cascade.detail.str.startswith("deal rejected at Opportunity.csv row").all()
    children = sum(int(_load(tmp_path / "bad", n)[col].isin(bad_deals).sum())
                   for n, col in CHILD_FILES.items())
    assert len(cascade) == children

    # rows read == accepted + skipped + rejected, per file and overall, and equal to the file
    # rows (skipped: the email messages, whose only content is their task's direction)
    assert result.balanced
    fc = result.file_counts.set_index("file")
    for name in ["Opportunity", *CHILD_FILES]:
        assert fc.loc[f"{name}.csv", "read"] == len(_load(tmp_path / "bad", name))
    assert fc["read"].sum() == fc["accepted"].sum() + len(result.skipped) + len(rej)
    assert set(result.skipped["reason"]) == {"merged"}
    assert sum(result.histories.row_counts().values()) == fc.loc[
        ~fc["table"].isin(["currency rates", "side table"]), "accepted"].sum()
    assert set(rej.reason) >= {"bad_timestamp", "timestamp_without_timezone",
                               "after_export_time", "before_deal_created", "unknown_deal",
                               "duplicate_id", "bad_amount", "unknown_stage",
                               "closed_without_outcome", "open_with_outcome"}
