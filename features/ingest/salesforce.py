"""Reader for a Salesforce export (Data Loader, Data Export or Workbench style).

Objects, as ``.csv`` or ``.parquet`` files with Salesforce's standard field names (custom
fields: ``Loss_Reason__c``, ``Segment__c``, ``Region__c``, ``Industry__c``); only
``Opportunity`` is required, a missing optional file is an empty table:

- ``Opportunity`` (deals), ``OpportunityHistory`` (stage history), ``OpportunityFieldHistory``
  (close-date and amount changes), ``Task`` and ``Event`` (activities),
  ``OpportunityContactRole`` (buying committee);
- ``EmailMessage`` (optional): ``ActivityId`` links a message to its email Task and
  ``Incoming`` says whether the buyer sent it; a message with no Task but an opportunity as
  ``RelatedToId`` is an email activity itself;
- ``CurrencyType`` / ``DatedConversionRate`` (optional, multi-currency orgs): amounts are
  converted into the corporate currency (see :mod:`features.ingest.currency`);
- ``User`` (optional: ``Id`` and ``Name``, or ``FirstName`` / ``LastName``) and ``Account``
  (optional: ``Id``, ``Name``): the deal's ``owner_name`` and ``account_name``, joined on the
  Opportunity's ``OwnerId`` / ``AccountId`` (shown instead of the ids; without the file, or for
  an id it lacks, the name is missing).  Their rows are counted as a ``side table``: a row some
  opportunity refers to is accepted, one none refers to is skipped as ``unreferenced``, one
  without an ``Id`` is rejected as ``missing_value`` and a repeated ``Id`` as ``duplicate_id``.

What real exports need, and what this reader does about it:

- **Ids** come as 15 characters (reports) or 18 (API, Data Loader), sometimes mixed in one
  export: every id is brought to the 18-character form (:mod:`features.ingest.sfid`).
- **Empty optional fields** (``Amount``, ``AccountId``, ``CloseDate``) are kept as missing.
- **Direction** comes from what Salesforce records: ``EmailMessage.Incoming`` for emails,
  ``CallType`` (Inbound / Outbound) for calls; tasks and events with neither fall back to the
  journey config's subject rules, then to seller-initiated.  Salesforce writes email tasks as
  ``Email: <subject>`` in both directions, so the subject is only a fallback.
- **Tasks and events on other records** (an account, a case: a ``WhatId`` that is not an
  opportunity's ``006...``, or none) are skipped as ``not_linked``, not errors.
- **Open tasks** (``IsClosed`` false, or ``Status`` other than Completed) are planned steps:
  known from ``CreatedDate`` as a booked next step, due at the end of ``ActivityDate``.  One
  still open after its due date counts from then on as a seller task at that date: whether a
  task would be done is not known when it is booked, so an export taken at any time reads it
  the same way (skipping it would hide, in the past, a next step that was booked then).
- **Field history**: ``OpportunityFieldHistory`` rows of other fields (``StageName``,
  ``Owner``, ``created`` ...) are skipped, not errors.  A field it has no row of (its history
  tracking is off), or all of them without the file: the close-date and amount history comes
  from ``OpportunityHistory`` (Salesforce writes a row there
  whenever the stage, amount, probability or close date changes); without either, the features
  that need it are left out (:mod:`features.profile`), never back-dated.

Example:
    >>> sorted(SALESFORCE_REQUIRED)[:3]
    ['Account', 'CurrencyType', 'DatedConversionRate']

"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.ingest.activities import classify_activities
from features.ingest.currency import salesforce_rates
from features.ingest.parsing import blank, is_in, map_distinct, parse_bools, parse_timestamps
from features.ingest.raw import (
    SKIP,
    SKIP_DETAIL,
    RawExport,
    RawTable,
    SourceError,
    find_object_file,
    read_export,
    text_getter,
)
from features.ingest.rejections import SKIP_REASONS, RejectionLog
from features.ingest.sfid import normalise_ids
from features.journey import JourneyConfig
from features.profile import PipelineProfile

#: Required columns of each Salesforce object's export.
SALESFORCE_REQUIRED: dict[str, list[str]] = {
    "Opportunity": ["Id", "OwnerId", "StageName", "CreatedDate"],
    "OpportunityHistory": ["OpportunityId", "StageName", "CreatedDate"],
    "OpportunityFieldHistory": ["Id", "OpportunityId", "Field", "OldValue", "NewValue",
                                "CreatedDate"],
    "Task": ["Id", "WhatId", "Subject", "CreatedDate"],
    "Event": ["Id", "WhatId", "Subject", "ActivityDateTime"],
    "OpportunityContactRole": ["OpportunityId", "ContactId", "Role", "CreatedDate"],
    "EmailMessage": ["Id", "Incoming"],
    "CurrencyType": ["IsoCode", "ConversionRate"],
    "DatedConversionRate": ["IsoCode", "ConversionRate", "StartDate"],
    "User": ["Id"],  # and Name, or FirstName / LastName
    "Account": ["Id", "Name"],
}
#: Id columns brought to the 18-character form, per object.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "Opportunity": ("Id", "AccountId", "OwnerId"),
    "OpportunityHistory": ("Id", "OpportunityId"),
    "OpportunityFieldHistory": ("Id", "OpportunityId"),
    "Task": ("Id", "WhatId", "WhoId", "OwnerId"),
    "Event": ("Id", "WhatId", "WhoId", "OwnerId"),
    "OpportunityContactRole": ("Id", "OpportunityId", "ContactId"),
    "EmailMessage": ("Id", "ActivityId", "RelatedToId"),
    "User": ("Id",),
    "Account": ("Id",),
}
#: Side objects whose names go onto the deals: object -> (Opportunity column, deals column).
NAME_OBJECTS: dict[str, tuple[str, str]] = {"User": ("OwnerId", "owner_name"),
                                            "Account": ("AccountId", "account_name")}
#: Key prefix of Opportunity ids (the first three characters of every Salesforce id name its
#: object).
OPPORTUNITY_PREFIX = "006"

_OPPORTUNITY_COLUMNS = {
    "deal_id": "Id", "account_id": "AccountId", "owner_id": "OwnerId",
    "created_at": "CreatedDate", "amount": "Amount", "currency": "CurrencyIsoCode",
    "expected_close_date": "CloseDate", "name": "Name", "segment": "Segment__c",
    "region": "Region__c", "industry": "Industry__c", "deal_type": "Type",
    "lead_source": "LeadSource", "crm_stage": "StageName", "is_closed": "IsClosed",
    "close_reason": "Loss_Reason__c",
}
_TRACKED_FIELDS = {"CloseDate": "close_date", "Amount": "amount"}
_DERIVED_CHANGES = "#field_changes"


def read_salesforce(directory: Path, config: JourneyConfig) -> RawExport:
    """Read a Salesforce export directory into raw canonical tables (see the module doc).

    Raises :class:`SourceError` when the directory or ``Opportunity`` is missing, or when a
    present file lacks a required column.
    """
    frames = read_export(directory, SALESFORCE_REQUIRED, primary="Opportunity")
    for name, columns in ID_COLUMNS.items():
        if name in frames:
            for column in columns:
                if column in frames[name].columns:
                    frames[name][column] = normalise_ids(frames[name][column])

    rejected, skipped = RejectionLog(), RejectionLog(SKIP_REASONS)
    side: list[dict[str, object]] = []
    names = _side_names(directory, frames, rejected, skipped, side)
    tables = {"deals": _deals(frames["Opportunity"], names)}
    if "OpportunityHistory" in frames:
        tables["stage_history"] = _stage_history(frames["OpportunityHistory"])
    tables_fh, tracked = _close_date_and_amount_history(frames, config)
    if tables_fh is not None:
        tables["field_history"] = tables_fh
    directions = _email_directions(frames.get("EmailMessage"), frames.get("Task"))
    acts = [_tasks(frames["Task"], config, directions)] if "Task" in frames else []
    acts += [_events(frames["Event"], config)] if "Event" in frames else []
    if "EmailMessage" in frames:
        acts.append(_email_messages(frames["EmailMessage"], frames.get("Task"), config))
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
    rates, corporate = salesforce_rates(frames.get("CurrencyType"),
                                        frames.get("DatedConversionRate"))
    profile = PipelineProfile(
        source="salesforce", tracked_fields=tracked,
        stage_entries="all" if "OpportunityHistory" in frames else "none",
        has_activities="Task" in frames or "Event" in frames or "EmailMessage" in frames,
        has_contacts="OpportunityContactRole" in frames)
    side += [{"table": "currency rates", "file": str(frames[n]["_file"].iloc[0]),
              "read": len(frames[n]), "accepted": len(frames[n]), "skipped": 0, "rejected": 0}
             for n in ("CurrencyType", "DatedConversionRate") if n in frames and len(frames[n])]
    return RawExport(tables, profile, rates=rates, reporting_currency=corporate,
                     side_counts=side, side_rejections=rejected.frame(),
                     side_skipped=skipped.frame())


def _pick(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    out = {canon: frame[src] for canon, src in mapping.items() if src in frame.columns}
    out["_file"], out["_row"] = frame["_file"], frame["_row"]
    return pd.DataFrame(out, index=frame.index)


def _deals(opps: pd.DataFrame, names: dict[str, pd.Series]) -> RawTable:
    frame = _pick(opps, _OPPORTUNITY_COLUMNS)
    labels = dict(_OPPORTUNITY_COLUMNS)
    text = text_getter(opps)
    for obj, (key, column) in NAME_OBJECTS.items():
        if column in names:
            found = names[column].reindex(text(key).to_numpy())
            frame[column] = pd.Series(found.to_numpy(), index=opps.index,
                                      dtype="str").fillna("")
            labels[column] = f"{obj}.Name (by {key})"
    return RawTable("deals", frame, labels)


def _side_names(directory: Path, frames: dict[str, pd.DataFrame], rejected: RejectionLog,
                skipped: RejectionLog, counts: list[dict[str, object]]) -> dict[str, pd.Series]:
    """Owner and account names by id from ``User`` and ``Account``, each row accounted for.

    Returns ``{deals column: name by 18-character id}`` for the files the export has.
    """
    opps = text_getter(frames["Opportunity"])
    out = {}
    for obj, (key, column) in NAME_OBJECTS.items():
        if obj not in frames:
            continue
        frame = frames[obj]
        if obj == "User" and not {"Name", "FirstName", "LastName"} & set(frame.columns):
            found = ", ".join(c for c in frame.columns if not c.startswith("_")) or "none"
            path = find_object_file(Path(directory), obj)
            raise SourceError(f"{path.name if path else obj}: missing required column(s) Name "
                              f"(or FirstName and LastName) (found: {found})")
        if not len(frame):
            continue
        text = text_getter(frame)
        ids = text("Id").str.strip()
        no_id = blank(ids)
        rejected.add(frame[no_id], column="Id", values=ids, reason="missing_value",
                     detail=f"a {obj} row needs its Id")
        dup = ids.duplicated(keep="first") & ~no_id
        if dup.any():
            first = frame.groupby(ids, sort=False)["_row"].transform("first")
            rejected.add(frame[dup], column="Id", values=ids, reason="duplicate_id",
                         detail="id already used at row " + first.astype("str"))
        kept = ~no_id & ~dup
        used = kept & is_in(ids, opps(key).unique())
        unused = kept & ~used
        skipped.add(frame[unused], column="Id", values=ids, reason="unreferenced",
                    detail=f"no opportunity has this {key}")
        counts.append({"table": "side table", "file": str(frame["_file"].iloc[0]),
                       "read": len(frame), "accepted": int(used.sum()),
                       "skipped": int(unused.sum()), "rejected": int((~kept).sum())})
        out[column] = pd.Series(_display_names(text)[used].to_numpy(),
                                index=ids[used].to_numpy(), dtype="str")
    return out


def _display_names(text) -> pd.Series:
    """``Name``, else ``FirstName LastName`` (a user export may have either)."""
    name = text("Name").str.strip()
    parts = (text("FirstName").str.strip() + " " + text("LastName").str.strip()).str.strip()
    return name.where(~blank(name), parts)



def _stage_history(hist: pd.DataFrame) -> RawTable:
    mapping = {"source_id": "Id", "deal_id": "OpportunityId", "crm_stage": "StageName",
               "entered_at": "CreatedDate"}
    return RawTable("stage_history", _pick(hist, mapping), mapping)


def _close_date_and_amount_history(frames: dict[str, pd.DataFrame], config: JourneyConfig
                                   ) -> tuple[RawTable | None, tuple[str, ...]]:
    """The close-date and amount changes, and which of the two fields have a history.

    A field with rows in ``OpportunityFieldHistory`` takes its history from there (field history
    tracking is on for it); a field with none, from the values on ``OpportunityHistory`` rows.
    """
    parts, tracked = [], []
    if "OpportunityFieldHistory" in frames:
        own = _field_history(frames["OpportunityFieldHistory"])
        parts.append(own)
        tracked = [f for f in _TRACKED_FIELDS.values() if (own.frame["field"] == f).any()]
    missing = tuple(f for f in _TRACKED_FIELDS.values() if f not in tracked)
    if missing and "OpportunityHistory" in frames:
        derived = _changes_from_stage_rows(frames["OpportunityHistory"],
                                           config.timestamps.naive_timezone, missing)
        if derived is not None:
            parts.append(derived[0])
            tracked += derived[1]
    if not parts:
        return None, ()
    if len(parts) == 1:
        return parts[0], tuple(f for f in _TRACKED_FIELDS.values() if f in tracked)
    labels = {c: " / ".join(dict.fromkeys(p.label(c) for p in parts))
              for c in parts[0].source_columns}
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    return RawTable("field_history", frame, labels), tuple(
        f for f in _TRACKED_FIELDS.values() if f in tracked)


def _field_history(hist: pd.DataFrame) -> RawTable:
    mapping = {"change_id": "Id", "deal_id": "OpportunityId", "field_raw": "Field",
               "old_value": "OldValue", "new_value": "NewValue", "changed_at": "CreatedDate"}
    frame = _pick(hist, mapping)
    frame["field"] = frame["field_raw"].map(_TRACKED_FIELDS).astype("str").fillna("")
    return RawTable("field_history", frame, {**mapping, "field": "Field"})


def _changes_from_stage_rows(hist: pd.DataFrame, naive_timezone: str | None,
                             wanted: tuple[str, ...] = tuple(_TRACKED_FIELDS.values())
                             ) -> tuple[RawTable, tuple[str, ...]] | None:
    """Close-date and amount history from the values on OpportunityHistory rows.

    Per deal and field: the value on its first row (a starting value: old == new) and every
    change between consecutive rows.  Values change at some time between two rows, so the history
    is as of the rows: later than the change, never earlier.  Rows are counted under
    ``OpportunityHistory.csv#field_changes`` with the row number of the OpportunityHistory row
    that shows the value.
    """
    fields = [(f, src) for src, f in _TRACKED_FIELDS.items()
              if src in hist.columns and f in wanted]
    if not fields:
        return None
    text = text_getter(hist)
    deal = text("OpportunityId")
    at, _ = parse_timestamps(text("CreatedDate"), naive_timezone)  # in time, not text, order
    order = pd.DataFrame({"deal": deal, "at": at, "row": hist["_row"]}
                         ).sort_values(["deal", "at", "row"], kind="stable").index
    rows = hist.loc[order]
    first_row = ~deal[order].eq(deal[order].shift())
    parts = []
    for canon, src in fields:
        value = text(src)[order].str.strip()
        before = value.shift().fillna("").where(~first_row, value)
        keep = ~blank(value) & (first_row | ((value != before) & ~blank(before)))
        picked = rows[keep.to_numpy()]
        parts.append(pd.DataFrame({
            "change_id": deal[picked.index] + "#" + src + "#" + picked["_row"].astype("str"),
            "deal_id": deal[picked.index], "field_raw": src, "field": canon,
            "old_value": before[keep], "new_value": value[keep],
            "changed_at": text("CreatedDate")[picked.index],
            "_file": picked["_file"] + _DERIVED_CHANGES, "_row": picked["_row"]}))
    frame = pd.concat(parts, ignore_index=True).sort_values("_row", kind="stable")
    table = RawTable("field_history", frame.reset_index(drop=True), {
        "change_id": "OpportunityId + field + row", "deal_id": "OpportunityId",
        "field": "field (derived from OpportunityHistory)", "old_value": "previous row",
        "new_value": "this row", "changed_at": "CreatedDate"})
    return table, tuple(canon for canon, _ in fields)


def _email_directions(messages: pd.DataFrame | None, tasks: pd.DataFrame | None) -> pd.Series:
    """Buyer / seller per Task id from ``EmailMessage.Incoming`` (empty when no message)."""
    if messages is None or tasks is None or "ActivityId" not in messages.columns:
        return pd.Series(dtype="str")
    text = text_getter(messages)
    incoming = parse_bools(text("Incoming"))[0]
    linked = ~blank(text("ActivityId")) & incoming.notna()
    direction = np.where(incoming[linked].astype(bool), "buyer", "seller")
    out = pd.Series(direction, index=text("ActivityId")[linked].to_numpy(), dtype="str")
    return out[~out.index.duplicated(keep="first")]


def _tasks(tasks: pd.DataFrame, config: JourneyConfig, directions: pd.Series) -> RawTable:
    text = text_getter(tasks)
    kind = text("TaskSubtype").where(text("TaskSubtype").str.strip() != "", text("Type"))
    done = _task_done(text)
    due = text("ActivityDate")
    when = text("CompletedDateTime").where(text("CompletedDateTime").str.strip() != "",
                                           text("CreatedDate").where(done, due))
    known = directions.reindex(text("Id").to_numpy()).fillna("").to_numpy()
    return _activities(tasks, kind, when, text("CallType"), config,
                       pd.Series(known, index=tasks.index, dtype="str"))


def _task_done(text) -> pd.Series:
    """Whether each task is completed (IsClosed, else Status; no field: completed)."""
    closed, _ = parse_bools(text("IsClosed"))
    status = text("Status").str.strip().str.casefold()
    by_status = (status == "") | (status == "completed")
    return closed.fillna(by_status).astype(bool)


def _events(events: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(events)
    when = text("ActivityDateTime").where(text("ActivityDateTime").str.strip() != "",
                                          text("StartDateTime"))
    return _activities(events, text("Type").where(text("Type") != "", "Meeting"), when, None,
                       config)


def _email_messages(messages: pd.DataFrame, tasks: pd.DataFrame | None,
                    config: JourneyConfig) -> RawTable:
    """Email messages as activities; those whose Task exists only gave it their direction."""
    text = text_getter(messages)
    task_ids = text_getter(tasks)("Id").unique() if tasks is not None else []
    activity = text("ActivityId")
    merged = is_in(activity, task_ids) & ~blank(activity)
    related = text("RelatedToId")
    linked = related.str.startswith(OPPORTUNITY_PREFIX)
    incoming = parse_bools(text("Incoming"))[0]
    direction = pd.Series(np.where(incoming.fillna(False).astype(bool), "buyer", "seller"),
                          index=messages.index, dtype="str").where(incoming.notna(), "")
    # a merged message is only accounted for (skipped): no need to classify it
    subject = text("Subject").where(~merged, "")
    frame = messages.assign(WhatId=related, Type="Email", CreatedDate=text("MessageDate"),
                            Subject=subject)
    out = _activities(frame, frame["Type"], text("MessageDate"), None, config, direction)
    out.frame[SKIP] = np.where(merged, "merged", np.where(linked, "", "not_linked"))
    out.frame[SKIP_DETAIL] = np.where(merged, "gave its direction to Task " + activity, "")
    return out


def _activities(frame: pd.DataFrame, kind: pd.Series, when: pd.Series,
                call_dir: pd.Series | None, config: JourneyConfig,
                known_direction: pd.Series | None = None) -> RawTable:
    text = text_getter(frame)
    classified = classify_activities(kind, text("Subject"), call_dir, config, known_direction)
    out = pd.DataFrame({
        "activity_id": text("Id"), "deal_id": text("WhatId"), "occurred_at": when,
        "recorded_at": text("CreatedDate"),
        "type": classified["type"].fillna(""), "type_raw": kind,
        "direction": classified["direction"], "action": classified["action"],
        "contact_id": text("WhoId"), "subject": text("Subject"),
        "_file": frame["_file"], "_row": frame["_row"],
    }, index=frame.index)
    # a task or event on an account, a case or nothing is not about a deal: skipped, not wrong
    unlinked = ~text("WhatId").str.strip().str.startswith(OPPORTUNITY_PREFIX)
    out[SKIP] = np.where(unlinked, "not_linked", "")
    out[SKIP_DETAIL] = np.where(unlinked, "its WhatId is not an opportunity", "")
    return RawTable("activities", out)


def _contacts(roles: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(roles)
    role_raw = text("Role")
    out = pd.DataFrame({
        "source_id": text("Id"), "deal_id": text("OpportunityId"),
        "contact_id": text("ContactId"), "role_raw": role_raw,
        "role": map_distinct(role_raw, lambda r: config.role(r) if r.strip() else "other"),
        "is_primary": text("IsPrimary"), "added_at": text("CreatedDate"),
        "_file": roles["_file"], "_row": roles["_row"],
    }, index=roles.index)
    mapping = {"source_id": "Id", "deal_id": "OpportunityId", "contact_id": "ContactId",
               "role": "Role", "is_primary": "IsPrimary", "added_at": "CreatedDate"}
    return RawTable("contacts", out, mapping)
