"""Reader for a Salesforce-style export.

Objects: Opportunity, OpportunityHistory, OpportunityFieldHistory, Task, Event and
OpportunityContactRole, as ``.csv`` or ``.parquet`` files with Salesforce's
standard field names (custom fields: ``Loss_Reason__c``, ``Segment__c``, ``Region__c``,
``Industry__c``).  Only ``Opportunity`` is required; a missing optional file is an empty table.

Example:
    >>> from pathlib import Path
    >>> sorted(SALESFORCE_REQUIRED)[:2]
    ['Event', 'Opportunity']

"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.ingest.activities import classify_activities
from features.ingest.raw import RawTable, read_export, text_getter
from features.journey import JourneyConfig

#: Required columns of each Salesforce object's export.
SALESFORCE_REQUIRED: dict[str, list[str]] = {
    "Opportunity": ["Id", "AccountId", "OwnerId", "StageName", "Amount", "CloseDate",
                    "CreatedDate"],
    "OpportunityHistory": ["OpportunityId", "StageName", "CreatedDate"],
    "OpportunityFieldHistory": ["Id", "OpportunityId", "Field", "OldValue", "NewValue",
                                "CreatedDate"],
    "Task": ["Id", "WhatId", "Subject", "CreatedDate"],
    "Event": ["Id", "WhatId", "Subject", "ActivityDateTime"],
    "OpportunityContactRole": ["OpportunityId", "ContactId", "Role", "CreatedDate"],
}

_OPPORTUNITY_COLUMNS = {
    "deal_id": "Id", "account_id": "AccountId", "owner_id": "OwnerId",
    "created_at": "CreatedDate", "amount": "Amount", "currency": "CurrencyIsoCode",
    "expected_close_date": "CloseDate", "name": "Name", "segment": "Segment__c",
    "region": "Region__c", "industry": "Industry__c", "deal_type": "Type",
    "lead_source": "LeadSource", "crm_stage": "StageName", "is_closed": "IsClosed",
    "close_reason": "Loss_Reason__c",
}
_TRACKED_FIELDS = {"CloseDate": "close_date", "Amount": "amount"}


def read_salesforce(directory: Path, config: JourneyConfig) -> dict[str, RawTable]:
    """Read a Salesforce-style export directory into raw canonical tables.

    Raises :class:`SourceError` when the directory or ``Opportunity`` is missing, or when a
    present file lacks a required column.
    """
    frames = read_export(directory, SALESFORCE_REQUIRED, primary="Opportunity")

    tables = {"deals": _deals(frames["Opportunity"])}
    if "OpportunityHistory" in frames:
        tables["stage_history"] = _stage_history(frames["OpportunityHistory"])
    if "OpportunityFieldHistory" in frames:
        tables["field_history"] = _field_history(frames["OpportunityFieldHistory"])
    acts = [_tasks(frames["Task"], config)] if "Task" in frames else []
    acts += [_events(frames["Event"], config)] if "Event" in frames else []
    if acts:
        tables["activities"] = RawTable(
            "activities",
            pd.concat([a.frame for a in acts], ignore_index=True),
            {"occurred_at": "CompletedDateTime (Task) / ActivityDateTime (Event)",
             "recorded_at": "CreatedDate",
             "activity_id": "Id", "deal_id": "WhatId", "type": "TaskSubtype (Task) / Type (Event)"},
        )
    if "OpportunityContactRole" in frames:
        tables["contacts"] = _contacts(frames["OpportunityContactRole"], config)
    return tables


def _pick(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    out = {canon: frame[src] for canon, src in mapping.items() if src in frame.columns}
    out["_file"], out["_row"] = frame["_file"], frame["_row"]
    return pd.DataFrame(out, index=frame.index)


def _deals(opps: pd.DataFrame) -> RawTable:
    return RawTable("deals", _pick(opps, _OPPORTUNITY_COLUMNS), dict(_OPPORTUNITY_COLUMNS))


def _stage_history(hist: pd.DataFrame) -> RawTable:
    mapping = {"source_id": "Id", "deal_id": "OpportunityId", "crm_stage": "StageName",
               "entered_at": "CreatedDate"}
    return RawTable("stage_history", _pick(hist, mapping), mapping)


def _field_history(hist: pd.DataFrame) -> RawTable:
    mapping = {"change_id": "Id", "deal_id": "OpportunityId", "field_raw": "Field",
               "old_value": "OldValue", "new_value": "NewValue", "changed_at": "CreatedDate"}
    frame = _pick(hist, mapping)
    frame["field"] = frame["field_raw"].map(_TRACKED_FIELDS).astype("str").fillna("")
    return RawTable("field_history", frame, {**mapping, "field": "Field"})


def _tasks(tasks: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(tasks)
    kind = text("TaskSubtype").where(text("TaskSubtype").str.strip() != "", text("Type"))
    when = text("CompletedDateTime").where(text("CompletedDateTime").str.strip() != "",
                                           text("CreatedDate"))
    return _activities(tasks, kind, when, text("CallType"), config)


def _events(events: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(events)
    when = text("ActivityDateTime").where(text("ActivityDateTime").str.strip() != "",
                                          text("StartDateTime"))
    return _activities(events, text("Type").where(text("Type") != "", "Meeting"), when, None,
                       config)


def _activities(frame: pd.DataFrame, kind: pd.Series, when: pd.Series,
                call_dir: pd.Series | None, config: JourneyConfig) -> RawTable:
    text = text_getter(frame)
    classified = classify_activities(kind, text("Subject"), call_dir, config)
    out = pd.DataFrame({
        "activity_id": text("Id"), "deal_id": text("WhatId"), "occurred_at": when,
        "recorded_at": text("CreatedDate"),
        "type": classified["type"].fillna(""), "type_raw": kind,
        "direction": classified["direction"], "action": classified["action"],
        "contact_id": text("WhoId"), "subject": text("Subject"),
        "_file": frame["_file"], "_row": frame["_row"],
    }, index=frame.index)
    return RawTable("activities", out)


def _contacts(roles: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(roles)
    role_raw = text("Role")
    out = pd.DataFrame({
        "source_id": text("Id"), "deal_id": text("OpportunityId"),
        "contact_id": text("ContactId"), "role_raw": role_raw,
        "role": role_raw.map(lambda r: config.role(r) if r.strip() else "other"),
        "is_primary": text("IsPrimary"), "added_at": text("CreatedDate"),
        "_file": roles["_file"], "_row": roles["_row"],
    }, index=roles.index)
    mapping = {"source_id": "Id", "deal_id": "OpportunityId", "contact_id": "ContactId",
               "role": "Role", "is_primary": "IsPrimary", "added_at": "CreatedDate"}
    return RawTable("contacts", out, mapping)
