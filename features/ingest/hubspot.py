"""Reader for a HubSpot-style export.

Files (``.csv`` or ``.parquet``, columns named with HubSpot's export labels), all in one folder:

- ``deals`` (required): ``Record ID``, ``Deal Stage``, ``Amount``, ``Close Date``,
  ``Create Date``, ``Deal owner``, ``Associated Company IDs`` (``;``-separated, the first is the
  account) and ``Closed Lost Reason``; optional ``Deal Name``, ``Pipeline``, ``Deal Type``,
  ``Currency``; plus HubSpot's stage columns ``Date entered "<Stage label> (<Pipeline>)"``.
- ``engagements`` (optional): ``Engagement ID``, ``Associated Deal IDs``, ``Engagement type``,
  ``Timestamp``; optional ``Associated Contact IDs`` (the first is the contact), ``Subject``,
  ``Call direction``, ``Create Date`` (when it was logged or booked: ``recorded_at``).
- ``contacts`` (optional): ``Record ID``, ``Associated Deal IDs``, ``Buying Role``,
  ``Create Date``.

Mapping (values stay text; :mod:`features.ingest.validate` checks them):

- Whether a deal is closed comes from the journey config's stage map; for a deal whose stage
  maps to won or lost, ``Close Date`` is also its close time (``closed_at``).  The outcome of a
  closed-lost deal comes from ``Closed Lost Reason`` via the config's loss-reason map.
- Each non-empty ``Date entered "<Stage> (<Pipeline>)"`` cell is one stage-history row; its CRM
  stage is the label inside the quotes without the ``(<Pipeline>)`` suffix.
- An engagement linked to several deals (``Associated Deal IDs`` = ``"101;102"``) becomes one
  activity per distinct deal, with ids suffixed by the deal (``e3#101``, ``e3#102``) so they stay
  unique; an engagement with one deal keeps its id.  Types map through
  ``config.activities.types``; ``INCOMING_EMAIL`` is buyer-initiated (``buyer_types``); calls take
  their direction from ``Call direction`` (INBOUND / OUTBOUND).
- A contact becomes one row per (associated deal, buying role); ``Buying Role`` may list several
  ``;``-separated roles, mapped by ``config.roles`` (empty → ``other``; roles mapping to the same
  canonical role count once).  HubSpot exports no association time, so a contact counts as added
  to a deal at the later of its own and the deal's ``Create Date``.
- HubSpot has no field-history export: ``field_history`` is empty.

Known limitations of HubSpot exports:

- ``Date entered`` holds only the *latest* entry into each stage.  A deal that went A → B → A
  shows B then A (the first visit to A is gone), so regressions and repeated visits are invisible
  and time in step before a regression is lost.
- No close-date or amount history (no slips), no association times (see contacts above).
- HubSpot keeps ``Closed Lost Reason`` when a deal is reopened; such an open deal is rejected as
  ``open_with_outcome`` (clear the property or fix the stage).

Row accounting (``read == accepted + rejected`` per file): rows that do not exist as file rows
are counted under a derived file name, with ``_row`` the file row they come from:

- stage entries: ``deals.csv#stage_entries`` (one per non-empty ``Date entered`` cell);
- an engagement's second and further deals: ``engagements.csv#extra_deals``;
- a contact's further (deal, role) links: ``contacts.csv#extra_links``.

So ``deals.csv``, ``engagements.csv`` and ``contacts.csv`` are counted exactly once per file row
(an engagement or contact row stands for its first link), and a rejection names the file row.

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

import pandas as pd

from features.ingest.activities import classify_activities
from features.ingest.parsing import blank, parse_timestamps
from features.ingest.raw import RawTable, read_export, text_getter
from features.journey import JourneyConfig

#: Required columns of each HubSpot export file.
HUBSPOT_REQUIRED: dict[str, list[str]] = {
    "deals": ["Record ID", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner",
              "Associated Company IDs", "Closed Lost Reason"],
    "engagements": ["Engagement ID", "Associated Deal IDs", "Engagement type", "Timestamp"],
    "contacts": ["Record ID", "Associated Deal IDs", "Buying Role", "Create Date"],
}

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


def stage_label(column: str) -> str | None:
    """The CRM stage of a ``Date entered "<Stage> (<Pipeline>)"`` column (None for others)."""
    match = _STAGE_COLUMN.match(column)
    return match["label"].strip() if match else None


def read_hubspot(directory: Path, config: JourneyConfig) -> dict[str, RawTable]:
    """Read a HubSpot-style export directory into raw canonical tables.

    Raises :class:`SourceError` when the directory or the deals file is missing, when a file
    cannot be read, or (naming the file and columns) when a required column is missing.
    """
    frames = read_export(directory, HUBSPOT_REQUIRED, primary="deals")

    deals = frames["deals"]
    tables = {"deals": _deals(deals, config), "stage_history": _stage_entries(deals)}
    if "engagements" in frames:
        tables["activities"] = _engagements(frames["engagements"], config)
    if "contacts" in frames:
        tables["contacts"] = _contacts(frames["contacts"], deals, config)
    return tables


def _deals(deals: pd.DataFrame, config: JourneyConfig) -> RawTable:
    text = text_getter(deals)
    stage = text("Deal Stage")
    closed = stage.map(_closed_lookup(config)).astype(bool)
    out = pd.DataFrame({canon: text(src) for canon, src in _DEAL_COLUMNS.items()},
                       index=deals.index)
    out["account_id"] = text("Associated Company IDs").map(lambda v: next(iter(_ids(v)), ""))
    out["closed_at"] = text("Close Date").where(closed, "")
    out["_file"], out["_row"] = deals["_file"], deals["_row"]
    return RawTable("deals", out, dict(_DEAL_COLUMNS))


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
    kind = text("Engagement type")
    subject = text("Subject")
    classified = classify_activities(kind, subject, text("Call direction"), config)
    ids = text("Engagement ID")
    ids = ids.where(links["_links"] <= 1, ids + "#" + links["deal_id"])
    out = pd.DataFrame({
        "activity_id": ids, "deal_id": links["deal_id"], "occurred_at": text("Timestamp"),
        "recorded_at": text("Create Date"),
        "type": classified["type"].fillna(""), "type_raw": kind,
        "direction": classified["direction"], "action": classified["action"],
        "contact_id": text("Associated Contact IDs").map(lambda v: next(iter(_ids(v)), "")),
        "subject": subject, "_file": links["_file"], "_row": links["_row"],
    }, index=links.index)
    return RawTable("activities", out, {
        "activity_id": "Engagement ID", "deal_id": "Associated Deal IDs",
        "occurred_at": "Timestamp", "recorded_at": "Create Date", "type": "Engagement type",
        "direction": "Call direction",
        "contact_id": "Associated Contact IDs", "subject": "Subject"})


def _contacts(contacts: pd.DataFrame, deals: pd.DataFrame, config: JourneyConfig) -> RawTable:
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
        "added_at": _added_at(text("Create Date"), links["deal_id"], deals, config),
        "_file": links["_file"], "_row": links["_row"],
    }, index=links.index)
    return RawTable("contacts", out, {
        "source_id": "Record ID + deal + role", "deal_id": "Associated Deal IDs",
        "contact_id": "Record ID", "role": "Buying Role", "added_at": "Create Date"})


def _roles(value: str, config: JourneyConfig) -> list[tuple[str, str]]:
    """``(raw, canonical)`` buying roles of one cell; empty → ``[("", "other")]``."""
    pairs: dict[str, str] = {}
    for raw in _ids(value):
        pairs.setdefault(config.role(raw), raw)
    return [(raw, role) for role, raw in pairs.items()] or [("", "other")]


def _added_at(created: pd.Series, deal_ids: pd.Series, deals: pd.DataFrame,
              config: JourneyConfig) -> pd.Series:
    """The later of the contact's and the deal's create time, as the source's text.

    Text that does not parse is passed on unchanged so that validation reports it.
    """
    deal_text = text_getter(deals)
    deal_created = pd.Series(deal_text("Create Date").to_numpy(),
                             index=deal_text("Record ID").to_numpy())
    deal_created = deal_created[~deal_created.index.duplicated(keep="first")]
    other = pd.Series(deal_created.reindex(deal_ids.to_numpy()).to_numpy(),
                      index=deal_ids.index).astype("str").fillna("")
    tz = config.timestamps.naive_timezone
    own_time, _ = parse_timestamps(created, tz)
    deal_time, _ = parse_timestamps(other, tz)
    later = own_time.notna() & deal_time.notna() & (deal_time > own_time)
    return created.where(~later, other)


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
