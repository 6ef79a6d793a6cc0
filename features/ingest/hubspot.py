"""Reader for a HubSpot export: what HubSpot's "Export" button writes, one file per object.

Files (``.csv`` or ``.parquet``, columns named with HubSpot's export labels; label matching
ignores case), all in one folder:

- ``deals`` (required): ``Record ID``, ``Deal Stage``, ``Create Date``; optional ``Deal Name``,
  ``Amount``, ``Close Date``, ``Deal owner`` (the owner's name: owner id and ``owner_name``;
  empty: owner ``unassigned``, no name), ``Associated Company IDs`` (``;``-separated, the first
  is the account; else ``Associated Company``), ``Associated Company`` (the company's name:
  ``account_name``, the first of a ``;``-separated list), ``Closed Lost Reason``, ``Pipeline``,
  ``Deal Type``, ``Currency``; plus HubSpot's stage columns
  ``Date entered "<Stage label> (<Pipeline>)"``.
- Activities, either as the UI writes them, one file per activity type -- ``emails``,
  ``calls``, ``meetings``, ``notes``, ``tasks`` with ``Record ID``, ``Activity date`` (meetings:
  ``Meeting start time``), ``Associated Deal IDs`` and optional ``Associated Contact IDs``,
  ``Create date`` (when it was logged or booked: ``recorded_at``), a title (``Email subject``,
  ``Call title``, ``Meeting name``, ``Task title``), ``Email direction`` / ``Call direction`` /
  ``Meeting source`` and ``Task status`` -- or as one ``engagements`` file (``Engagement ID``,
  ``Associated Deal IDs``, ``Engagement type``, ``Timestamp``, optional ``Subject``,
  ``Call direction``, ``Create Date``).
- ``contacts`` (optional): ``Record ID``, ``Associated Deal IDs``, ``Buying Role``.

**Time zone.** The UI export writes local date-times without an offset
(``2024-03-05 14:07``): name the account's zone with ``dealrisk ingest --timezone
Europe/Amsterdam`` (or ``timestamps.naive_timezone`` in the journey config); otherwise those
rows are rejected as ``timestamp_without_timezone``.

Mapping (values stay text; :mod:`features.ingest.validate` checks them):

- Whether a deal is closed comes from the journey config's stage map; for a deal whose stage
  maps to won or lost, ``Close Date`` is also its close time (``closed_at``).  The outcome of a
  closed-lost deal comes from ``Closed Lost Reason`` via the config's loss-reason map.
- Each non-empty ``Date entered "<Stage> (<Pipeline>)"`` cell is one stage-history row; its CRM
  stage is the label inside the quotes without the ``(<Pipeline>)`` suffix.
- An activity linked to several deals (``Associated Deal IDs`` = ``"101;102"``) becomes one
  activity per distinct deal, with ids suffixed by the deal (``e3#101``, ``e3#102``) so they stay
  unique; one with one deal keeps its id.  Types map through ``config.activities.types``; the
  direction is what HubSpot records: an email's direction (``INCOMING_EMAIL`` / "Incoming
  email" is the buyer's), a call's (INBOUND / OUTBOUND) and a meeting's source (``MEETINGS_PUBLIC``:
  the contact booked it through a meetings link), through ``config.activities.call_directions``;
  subject rules are only a fallback.  An open task is a booked step, known from its
  create date and due at its activity date (as in :mod:`features.ingest.salesforce`).
- A contact becomes one row per (associated deal, buying role); ``Buying Role`` may list several
  ``;``-separated roles, mapped by ``config.roles`` (empty → ``other``; roles mapping to the same
  canonical role count once).

What HubSpot's export cannot tell, and what dealrisk does about it (:mod:`features.profile`):

- **No association times**: when a contact joined a deal is unknown, so a contact counts as on
  the deal from its first activity on that deal (never from the deal's creation, which would let
  a buyer who joined months later be seen from day one); one with no activity is never counted.
- **Only the latest entry into each stage**: a deal that went A → B → A shows B then A (the first
  visit to A is gone).  The features that need the whole path (step changes, regressions,
  forward moves) are left out for HubSpot pipelines; the current step and days in it use the
  entries there are.
- **No close-date or amount history**: the features that need the close date or amount known at
  an earlier time are left out (today's values would leak the future into training snapshots).
- HubSpot keeps ``Closed Lost Reason`` when a deal is reopened; such an open deal is rejected as
  ``open_with_outcome`` (clear the property or fix the stage).

Row accounting (``read == accepted + skipped + rejected`` per file): rows that do not exist as
file rows are counted under a derived file name, with ``_row`` the file row they come from:

- stage entries: ``deals.csv#stage_entries`` (one per non-empty ``Date entered`` cell);
- an activity's second and further deals: ``<file>#extra_deals``;
- a contact's further (deal, role) links: ``contacts.csv#extra_links``.

So each file is counted exactly once per file row (an activity or contact row stands for its
first link), and a rejection names the file row.

Example:
    >>> stage_label('Date entered "Appointment Scheduled (Sales Pipeline)"')
    'Appointment Scheduled'
    >>> stage_label('Date entered "Closed Lost (Other) (Partner Pipeline)"')
    'Closed Lost (Other)'
    >>> stage_label('Date exited "Closed Won (Sales Pipeline)"') is None
    True

"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from features.ingest.activities import classify_activities
from features.ingest.parsing import blank
from features.ingest.raw import (
    SKIP,
    SKIP_DETAIL,
    RawExport,
    RawTable,
    SourceError,
    read_export,
    text_getter,
)
from features.journey import JourneyConfig
from features.profile import PipelineProfile

#: Required columns of each HubSpot export file.
HUBSPOT_REQUIRED: dict[str, list[str]] = {
    "deals": ["Record ID", "Deal Stage", "Create Date"],
    "engagements": ["Engagement ID", "Associated Deal IDs", "Engagement type", "Timestamp"],
    "emails": ["Record ID", "Associated Deal IDs", "Activity date"],
    "calls": ["Record ID", "Associated Deal IDs", "Activity date"],
    "meetings": ["Record ID", "Associated Deal IDs"],
    "notes": ["Record ID", "Associated Deal IDs", "Activity date"],
    "tasks": ["Record ID", "Associated Deal IDs", "Activity date"],
    "contacts": ["Record ID", "Associated Deal IDs", "Buying Role"],
}
#: The activity files of the UI export: (engagement type, title column, time columns).
ACTIVITY_FILES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "emails": ("EMAIL", "Email subject", ("Activity date",)),
    "calls": ("CALL", "Call title", ("Activity date",)),
    "meetings": ("MEETING", "Meeting name", ("Meeting start time", "Activity date")),
    "notes": ("NOTE", "Note body", ("Activity date",)),
    "tasks": ("TASK", "Task title", ("Activity date",)),
}
#: Every label the reader looks for (files are matched to these ignoring case).
LABELS: tuple[str, ...] = (
    "Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date", "Create Date",
    "Deal owner", "Associated Company IDs", "Associated Company", "Closed Lost Reason",
    "Deal Type", "Currency", "Engagement ID", "Associated Deal IDs", "Engagement type",
    "Timestamp", "Associated Contact IDs", "Subject", "Call direction", "Email direction",
    "Activity date", "Meeting start time", "Email subject", "Call title", "Meeting name",
    "Note body", "Task title", "Task status", "Buying Role", "Meeting source")
UNASSIGNED = "unassigned"
#: The column holding what HubSpot records about who started an activity, per file.
_DIRECTION_COLUMN = {"emails": "Email direction", "calls": "Call direction",
                     "meetings": "Meeting source"}

#: Suffixes of the derived "files" that count rows which are not file rows (see module doc).
STAGE_ENTRIES = "#stage_entries"
EXTRA_DEALS = "#extra_deals"
EXTRA_LINKS = "#extra_links"

_STAGE_COLUMN = re.compile(
    r'^\s*Date entered\s+"(?P<label>.+?)(?:\s+\((?P<pipeline>[^()]*)\))?"\s*$', re.IGNORECASE
)
_DEAL_COLUMNS = {
    "deal_id": "Record ID", "name": "Deal Name", "crm_stage": "Deal Stage", "amount": "Amount",
    "expected_close_date": "Close Date", "created_at": "Create Date", "owner_id": "Deal owner",
    "account_id": "Associated Company IDs", "close_reason": "Closed Lost Reason",
    "deal_type": "Deal Type", "currency": "Currency", "closed_at": "Close Date",
}
_LABELS_FOLDED = {label.casefold(): label for label in LABELS}


def stage_label(column: str) -> str | None:
    """The CRM stage of a ``Date entered "<Stage> (<Pipeline>)"`` column (None for others)."""
    match = _STAGE_COLUMN.match(column)
    return match["label"].strip() if match else None


def read_hubspot(directory: Path, config: JourneyConfig) -> RawExport:
    """Read a HubSpot export directory into raw canonical tables (see the module doc).

    Raises :class:`SourceError` when the directory or the deals file is missing, when a file
    cannot be read, or (naming the file and columns) when a required column is missing.
    """
    frames = _read(directory)
    deals = frames["deals"]
    tables = {"deals": _deals(deals, config), "stage_history": _stage_entries(deals)}
    acts = [_activity_file(frames[name], name, config) for name in ACTIVITY_FILES
            if name in frames]
    if "engagements" in frames:
        acts.append(_engagements(frames["engagements"], config))
    if acts:
        labels = {c: " / ".join(dict.fromkeys(a.label(c) for a in acts))
                  for c in acts[0].source_columns}
        tables["activities"] = RawTable(
            "activities", pd.concat([a.frame for a in acts], ignore_index=True), labels)
    if "contacts" in frames:
        tables["contacts"] = _contacts(frames["contacts"], config)
    entries = "latest" if any(stage_label(str(c)) for c in deals.columns) else "none"
    profile = PipelineProfile(source="hubspot", tracked_fields=(), stage_entries=entries,
                              has_activities=bool(acts), has_contacts="contacts" in frames,
                              contact_join_times="first_activity")
    return RawExport(tables, profile)


def _read(directory: Path) -> dict[str, pd.DataFrame]:
    """The export's files with their columns named as in :data:`LABELS` (matched ignoring case)."""
    frames = read_export(directory, {name: [] for name in HUBSPOT_REQUIRED}, primary="deals")
    for name, frame in frames.items():
        frame.columns = [_LABELS_FOLDED.get(" ".join(str(c).split()).casefold(), c)
                         for c in frame.columns]
        missing = [c for c in HUBSPOT_REQUIRED[name] if c not in frame.columns]
        if missing:
            file = frame["_file"].iloc[0] if len(frame) else f"{name} file"
            found = ", ".join(c for c in frame.columns if not c.startswith("_")) or "none"
            raise SourceError(f"{file}: missing required column(s) {', '.join(missing)} "
                              f"(found: {found})")
    return frames


def _deals(deals: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(deals)
    stage = text("Deal Stage")
    closed = stage.map(_closed_lookup(config)).astype(bool)
    out = pd.DataFrame({canon: text(src) for canon, src in _DEAL_COLUMNS.items()},
                       index=deals.index)
    company = text("Associated Company IDs" if "Associated Company IDs" in deals.columns
                   else "Associated Company")
    out["account_id"] = company.map(lambda v: next(iter(_ids(v)), ""))
    out["account_name"] = text("Associated Company").map(lambda v: next(iter(_ids(v)), ""))
    out["owner_name"] = out["owner_id"].str.strip()  # the UI export names the owner
    out["owner_id"] = out["owner_id"].where(~blank(out["owner_id"]), UNASSIGNED)
    out["closed_at"] = text("Close Date").where(closed, "")
    out["_file"], out["_row"] = deals["_file"], deals["_row"]
    return RawTable("deals", out, {**_DEAL_COLUMNS, "owner_name": "Deal owner",
                                   "account_name": "Associated Company"})


def _closed_lookup(config: JourneyConfig):
    def closed(stage: str) -> bool:
        mapped = config.stage(stage)
        return mapped is not None and mapped.status != "open"

    return closed


def _stage_entries(deals: pd.DataFrame) -> RawTable:
    text = text_getter(deals)
    file = deals["_file"].iloc[0] + STAGE_ENTRIES if len(deals) else "deals" + STAGE_ENTRIES
    parts = []
    for column in deals.columns:
        label = stage_label(column) if column not in ("_file", "_row") else None
        if label is None:
            continue
        cell = text(column)
        keep = ~blank(cell)
        header = _STAGE_COLUMN.match(column)
        pipeline = header["pipeline"] if header and header["pipeline"] else ""
        key = label + (f" ({pipeline})" if pipeline else "")
        parts.append(pd.DataFrame({
            "source_id": text("Record ID")[keep] + "#" + key,
            "deal_id": text("Record ID")[keep],
            "crm_stage": label,
            "entered_at": cell[keep],
            "_row": deals["_row"][keep],
        }))
    columns = ["source_id", "deal_id", "crm_stage", "entered_at", "_row"]
    frame = pd.concat(parts) if parts else pd.DataFrame({c: pd.Series(dtype="str")
                                                         for c in columns})
    frame = frame.sort_values("_row", kind="stable").reset_index(drop=True)
    frame["_row"] = frame["_row"].astype("int64")
    frame["_file"] = pd.Series(file, index=frame.index, dtype="str")
    header = 'Date entered "<Stage> (<Pipeline>)"'
    return RawTable("stage_history", frame, {
        "source_id": "Record ID + stage column", "deal_id": "Record ID",
        "crm_stage": f"{header} (column header)", "entered_at": header})


def _engagements(engagements: pd.DataFrame, config: JourneyConfig) -> RawTable:
    links = _explode(engagements, {"deal_id": "Associated Deal IDs"}, EXTRA_DEALS)
    text = text_getter(links)
    return _activity_rows(links, ids=text("Engagement ID"), kind=text("Engagement type"),
                          when=text("Timestamp"), subject=text("Subject"),
                          direction=text("Call direction"), config=config, labels={
                              "activity_id": "Engagement ID", "occurred_at": "Timestamp",
                              "type": "Engagement type", "direction": "Call direction",
                              "subject": "Subject"})


def _activity_file(frame: pd.DataFrame, name: str, config: JourneyConfig) -> RawTable:
    """One activity file of the UI export (emails, calls, meetings, notes, tasks)."""
    kind, title, times = ACTIVITY_FILES[name]
    links = _explode(frame, {"deal_id": "Associated Deal IDs"}, EXTRA_DEALS)
    text = text_getter(links)
    when = text(times[0])
    for fallback in times[1:]:
        when = when.where(~blank(when), text(fallback))
    direction = text(_DIRECTION_COLUMN.get(name, "Call direction"))
    out = _activity_rows(links, ids=text("Record ID"),
                         kind=pd.Series(kind, index=links.index, dtype="str"), when=when,
                         subject=text(title), direction=direction, config=config, labels={
                             "activity_id": "Record ID", "occurred_at": times[0],
                             "type": f"({name} file)", "direction": direction.name or "",
                             "subject": title})
    return out


def _activity_rows(links: pd.DataFrame, *, ids: pd.Series, kind: pd.Series, when: pd.Series,
                   subject: pd.Series, direction: pd.Series, config: JourneyConfig,
                   labels: dict[str, str]) -> RawTable:
    text = text_getter(links)
    classified = classify_activities(kind, subject, direction, config)
    ids = ids.where(links["_links"] <= 1, ids + "#" + links["deal_id"])
    out = pd.DataFrame({
        "activity_id": ids, "deal_id": links["deal_id"], "occurred_at": when,
        "recorded_at": text("Create Date"),
        "type": classified["type"].fillna(""), "type_raw": kind,
        "direction": classified["direction"], "action": classified["action"],
        "contact_id": text("Associated Contact IDs").map(lambda v: next(iter(_ids(v)), "")),
        "subject": subject, "_file": links["_file"], "_row": links["_row"],
    }, index=links.index)
    _skip_unlinked(out)
    return RawTable("activities", out, {
        "deal_id": "Associated Deal IDs", "recorded_at": "Create date",
        "contact_id": "Associated Contact IDs", **labels})


def _contacts(contacts: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(contacts)
    roles = text("Buying Role").map(lambda v: _roles(v, config))
    frame = contacts.assign(_role_pairs=roles)
    links = _explode(frame, {"deal_id": "Associated Deal IDs", "_role_pair": "_role_pairs"},
                     EXTRA_LINKS)
    text = text_getter(links)
    role_raw = links["_role_pair"].map(lambda p: p[0]).astype("str")
    role = links["_role_pair"].map(lambda p: p[1]).astype("str")
    out = pd.DataFrame({
        "source_id": text("Record ID") + "#" + links["deal_id"] + "#" + role,
        "deal_id": links["deal_id"], "contact_id": text("Record ID"),
        "role_raw": role_raw, "role": role,
        "added_at": "",  # HubSpot exports no association time: known from the first activity
        "_file": links["_file"], "_row": links["_row"],
    }, index=links.index)
    _skip_unlinked(out)
    return RawTable("contacts", out, {
        "source_id": "Record ID + deal + role", "deal_id": "Associated Deal IDs",
        "contact_id": "Record ID", "role": "Buying Role"})


def _skip_unlinked(frame: pd.DataFrame) -> None:
    """Mark rows associated with no deal as skipped (``not_linked``): nothing to learn from."""
    unlinked = blank(frame["deal_id"].astype("str"))
    frame[SKIP] = np.where(unlinked, "not_linked", "")
    frame[SKIP_DETAIL] = np.where(unlinked, "associated with no deal", "")


def _roles(value: str, config: JourneyConfig) -> list[tuple[str, str]]:
    """``(raw, canonical)`` buying roles of one cell; empty → ``[("", "other")]``."""
    pairs: dict[str, str] = {}
    for raw in _ids(value):
        pairs.setdefault(config.role(raw), raw)
    return [(raw, role) for role, raw in pairs.items()] or [("", "other")]


def _explode(frame: pd.DataFrame, lists: dict[str, str], extra_suffix: str) -> pd.DataFrame:
    """One row per combination of the ``;``-separated ids in ``lists`` (target ← source column).

    The first combination of each row keeps its file and row; the others are counted under
    ``<file><extra_suffix>``.  ``_links`` holds the number of combinations of the row.
    """
    out = frame.copy()
    for target, source in lists.items():
        values = out[source]
        if values.map(lambda v: isinstance(v, list)).all():
            out[target] = values
        else:
            out[target] = values.astype("str").fillna("").map(lambda v: _ids(v) or [""])
        out = out.explode(target)
    position = out.groupby(level=0).cumcount()
    out["_links"] = out.groupby(level=0)["_row"].transform("size")
    out["_file"] = out["_file"].where(position == 0, out["_file"] + extra_suffix)
    out = out.reset_index(drop=True)
    for target in lists:
        if not target.startswith("_"):
            out[target] = out[target].astype("str")
    return out


def _ids(value: str) -> list[str]:
    """Distinct non-empty ``;``-separated values, in order."""
    seen: dict[str, None] = {}
    for part in str(value).split(";"):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)
