"""Shape targets of PRODUCT.md, measured on N=5000, seed=1, plus the export contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.journey import JourneyConfig
from training.simulator import SimulatedPipeline

COLUMNS = {
    "Opportunity": ["Id", "Name", "AccountId", "OwnerId", "StageName", "Amount", "CurrencyIsoCode",
                    "CloseDate", "CreatedDate", "IsClosed", "IsWon", "Type", "LeadSource",
                    "Segment__c", "Region__c", "Industry__c", "Loss_Reason__c"],
    "OpportunityHistory": ["Id", "OpportunityId", "StageName", "Amount", "CloseDate", "Probability",
                           "CreatedDate"],
    "OpportunityFieldHistory": ["Id", "OpportunityId", "Field", "OldValue", "NewValue",
                                "CreatedDate"],
    "Task": ["Id", "WhatId", "WhoId", "OwnerId", "Subject", "TaskSubtype", "Type", "CallType",
             "Status", "ActivityDate", "CompletedDateTime", "CreatedDate"],
    "Event": ["Id", "WhatId", "WhoId", "OwnerId", "Subject", "Type", "ActivityDateTime",
              "StartDateTime", "EndDateTime", "DurationInMinutes", "CreatedDate"],
    "OpportunityContactRole": ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary",
                               "CreatedDate"],
}
DT = "%Y-%m-%dT%H:%M:%S.000Z"


def _dt(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format=DT, utc=True)


def test_columns_and_ids(pipe: SimulatedPipeline) -> None:
    t = pipe.tables
    prefixes = {"Opportunity": "006", "OpportunityHistory": "008", "OpportunityFieldHistory": "017",
                "Task": "00T", "Event": "00U", "OpportunityContactRole": "00K"}
    for name, cols in COLUMNS.items():
        assert list(t[name].columns) == cols
        ids = t[name]["Id"]
        assert ids.is_unique
        assert ids.str.len().eq(18).all() and ids.str.startswith(prefixes[name]).all()
    opp = set(t["Opportunity"]["Id"])
    for name in ("OpportunityHistory", "OpportunityFieldHistory", "OpportunityContactRole"):
        assert set(t[name]["OpportunityId"]) <= opp
    for name in ("Task", "Event"):
        assert set(t[name]["WhatId"]) <= opp
        assert t[name]["WhoId"].str.startswith("003").all()
        assert t[name]["OwnerId"].str.startswith("005").all()


def test_timestamps_within_deal_life(pipe: SimulatedPipeline) -> None:
    t = pipe.tables
    opp = t["Opportunity"].set_index("Id")
    created = _dt(opp["CreatedDate"])
    export = pd.Timestamp("2025-01-01T00:00:00Z")
    hist = t["OpportunityHistory"]
    closed_rows = hist[hist["StageName"].str.startswith("Closed")]
    assert closed_rows["OpportunityId"].is_unique
    close_at = _dt(closed_rows.set_index("OpportunityId")["CreatedDate"])
    end = pd.Series(export, index=opp.index)
    end.loc[close_at.index] = close_at
    checks = [("OpportunityHistory", "OpportunityId", ["CreatedDate"]),
              ("OpportunityFieldHistory", "OpportunityId", ["CreatedDate"]),
              ("Task", "WhatId", ["CompletedDateTime", "CreatedDate"]),
              ("Event", "WhatId", ["ActivityDateTime", "EndDateTime", "CreatedDate"]),
              ("OpportunityContactRole", "OpportunityId", ["CreatedDate"])]
    for name, key, cols in checks:
        df = t[name]
        c0 = created.loc[df[key]].to_numpy()
        c1 = end.loc[df[key]].to_numpy()
        for col in cols:
            ts = _dt(df[col]).to_numpy()
            assert (ts >= c0).all(), (name, col)
            assert (ts <= c1).all(), (name, col)
    ev = t["Event"]
    assert (_dt(ev["CreatedDate"]) <= _dt(ev["ActivityDateTime"])).all()
    assert (ev["ActivityDateTime"] == ev["StartDateTime"]).all()
    tk = t["Task"]
    assert (_dt(tk["CreatedDate"]) >= _dt(tk["CompletedDateTime"])).all()
    assert (tk["ActivityDate"] == tk["CompletedDateTime"].str[:10]).all()


def test_opportunity_flags(pipe: SimulatedPipeline) -> None:
    o = pipe.tables["Opportunity"]
    closed = o["IsClosed"] == "true"
    assert set(o["IsClosed"]) <= {"true", "false"}
    assert (o.loc[~closed, "Loss_Reason__c"] == "").all()
    assert (o.loc[o["IsWon"] == "true", "StageName"] == "Closed Won").all()
    lost = o["StageName"] == "Closed Lost"
    assert (o.loc[lost, "Loss_Reason__c"] != "").all()
    assert o.loc[~closed, "StageName"].isin(
        ["Prospecting", "Qualification", "Id. Decision Makers", "Perception Analysis",
         "Negotiation/Review"]).all()
    assert o["Amount"].str.fullmatch(r"\d+\.\d{2}").all()
    truth = pipe.truth["deals"].set_index("deal_id").loc[o["Id"]]
    assert ((truth["outcome"] != "open").to_numpy() == closed.to_numpy()).all()


def test_outcome_mix(pipe: SimulatedPipeline) -> None:
    s = pipe.summary
    assert 0.40 <= s.no_decision <= 0.55
    assert 0.20 <= s.won <= 0.30
    assert s.no_decision > max(s.won, s.lost)


def test_won_durations(pipe: SimulatedPipeline) -> None:
    d = pipe.truth["deals"]
    won = d[d["outcome"] == "won"]
    days = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400
    assert 60 <= days.median() <= 90
    assert ((days >= 30) & (days <= 180)).mean() >= 0.7


def test_activities_and_committees(pipe: SimulatedPipeline) -> None:
    t = pipe.tables
    per_deal = pd.concat([t["Task"]["WhatId"], t["Event"]["WhatId"]]).value_counts()
    per_deal = per_deal.reindex(t["Opportunity"]["Id"], fill_value=0)
    assert 10 <= per_deal.median() <= 80
    buyer = ((t["EmailMessage"]["Incoming"] == "true").sum()
             + (t["Task"]["CallType"] == "Inbound").sum()
             + t["Event"]["Subject"].str.startswith("Meeting requested by customer: ").sum())
    share = buyer / (len(t["Task"]) + len(t["Event"]))
    assert 0.25 <= share <= 0.33
    assert abs(share - pipe.summary.buyer_initiated_share) < 1e-9
    sizes = t["OpportunityContactRole"].groupby("OpportunityId").size()
    assert sizes.min() >= 1 and sizes.max() <= 8 and sizes.nunique() >= 6
    cr = t["OpportunityContactRole"]
    primaries = cr.groupby("OpportunityId")["IsPrimary"].apply(lambda s: (s == "true").sum())
    assert (primaries == 1).all()


def test_activity_conventions(pipe: SimulatedPipeline) -> None:
    """What Salesforce writes: ``Email: `` tasks in both directions, the direction in the email
    message's ``Incoming`` flag and in ``CallType``, actions in plain words (no tags)."""
    tk, ev, em = pipe.tables["Task"], pipe.tables["Event"], pipe.tables["EmailMessage"]
    ok_task = (tk["Subject"].str.match(r"^(Email: |Call: |Proposal sent: )"))
    assert ok_task.all()
    emails = tk["TaskSubtype"] == "Email"
    assert tk.loc[emails, "Subject"].str.startswith("Email: ").all()
    assert sorted(em["ActivityId"]) == sorted(tk.loc[emails, "Id"])
    assert em["Incoming"].isin(["true", "false"]).all() and (em["Incoming"] == "true").any()
    calls = tk["TaskSubtype"] == "Call"
    assert tk.loc[calls, "Subject"].str.startswith("Call: ").all()
    assert tk.loc[calls, "CallType"].isin(["Inbound", "Outbound"]).all()
    assert (tk.loc[~calls, "CallType"] == "").all()
    prop = tk["Subject"].str.startswith("Proposal sent: ")
    assert (tk.loc[prop, "TaskSubtype"] == "Task").all() and (tk.loc[prop, "Type"] == "Other").all()
    assert ev["Subject"].str.match(r"^(Meeting requested by customer: |Meeting: |Demo: )").all()
    assert ev["Type"].isin(["Meeting", "Demo", "Presentation"]).all()
    subjects = pd.concat([tk["Subject"], ev["Subject"]])
    assert not subjects.str.contains(r"\[").any()  # no simulator-only tags
    # the default journey config recognises every action from its plain words, and only those
    config = JourneyConfig.default()
    actions = subjects.drop_duplicates().map(lambda t: config.classify_subject(t)["action"])
    assert set(actions.dropna()) == set(config.activities.actions)
    incoming = set(em.loc[em["Incoming"] == "true", "ActivityId"])
    buyer = tk["Id"].isin(incoming) | (tk["CallType"] == "Inbound")
    assert tk.loc[buyer, "Subject"].map(lambda t: config.classify_subject(t)["action"]
                                         ).isna().all()


def test_history_consistent_with_opportunity(pipe: SimulatedPipeline) -> None:
    t = pipe.tables
    last = t["OpportunityHistory"].groupby("OpportunityId", sort=False).tail(1).set_index(
        "OpportunityId")
    o = t["Opportunity"].set_index("Id").loc[last.index]
    assert (last["StageName"] == o["StageName"]).all()
    assert (last["CreatedDate"] >= o["CreatedDate"]).all()
    fh = t["OpportunityFieldHistory"]
    assert set(fh["Field"]) == {"CloseDate", "Amount"}
    cd = fh["Field"] == "CloseDate"
    assert fh.loc[cd, "NewValue"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert fh.loc[~cd, "NewValue"].str.fullmatch(r"\d+\.\d{2}").all()
    # regressions exist
    order = {"Prospecting": 0, "Qualification": 1, "Id. Decision Makers": 2,
             "Perception Analysis": 3, "Negotiation/Review": 4}
    h = t["OpportunityHistory"]
    o_num = h["StageName"].map(order)
    prev = o_num.groupby(h["OpportunityId"]).shift()
    assert ((o_num < prev) & o_num.notna()).sum() > 0
    assert np.isfinite(o_num.dropna()).all()
