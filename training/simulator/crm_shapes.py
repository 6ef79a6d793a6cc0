"""The simulated pipeline as other CRMs export it, and as any export looked at an earlier time.

The simulator writes a Salesforce export.  Real users bring other shapes, each recording less:

- :func:`without_field_history`: Salesforce without ``OpportunityFieldHistory`` (close-date and
  amount history only from ``OpportunityHistory``), or without both (no history at all);
- :func:`to_hubspot`: what HubSpot's export button writes -- local times without an offset,
  only the latest entry into each stage, no close-date or amount history, contacts without the
  time they joined a deal, one file per activity type;
- :func:`to_few_stage`: a spreadsheet pipeline -- one row per opportunity with its engage and
  close dates and close value, account and team side tables, no activities, contacts or loss
  reasons (the shape of public CRM sample tables).

:func:`truncate` gives the Salesforce export as it would have been taken at an earlier time
``T`` (rows after ``T`` dropped, later closes blanked, stage, amount and close date rolled back):
features at ``T`` must be the same from the full export and from the truncated one, in every
shape, or a reader leaks the future (``tests/pipeline/test_reader_leaks.py``,
``benchmarks/bench_reader_leaks.py``).

Tables are text DataFrames keyed by object name (``simulate_frames(...).tables``, or
:func:`read_tables` of an export directory); :func:`write_tables` writes any shape as CSV with
its ``export.json``.

Example:
    >>> from training.simulator import simulate_frames
    >>> tables = simulate_frames(60, seed=1).tables
    >>> sorted(to_hubspot(tables))
    ['calls', 'contacts', 'deals', 'emails', 'meetings', 'tasks']
    >>> sorted(to_few_stage(tables))
    ['accounts', 'products', 'sales_pipeline', 'sales_teams']
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from training.simulator.params import STAGE_NAMES

Tables = dict[str, pd.DataFrame]
CLOSED_STAGES = ("Closed Won", "Closed Lost")
PIPELINE = "Sales Pipeline"
#: Salesforce contact roles as HubSpot's buying roles (HubSpot has no technical or procurement
#: role: those become OTHER).
HUBSPOT_ROLES = {"Champion": "CHAMPION", "Economic Buyer": "BUDGET_HOLDER",
                 "Technical Buyer": "OTHER", "Business User": "END_USER", "Procurement": "OTHER",
                 "Legal": "LEGAL_AND_COMPLIANCE", "Executive Sponsor": "EXECUTIVE_SPONSOR",
                 "Influencer": "INFLUENCER"}
_EMPLOYEES = {"SMB": "120", "Mid-Market": "1400", "Enterprise": "12000"}


# ----------------------------------------------------------------------------- time travel
def truncate(tables: Tables, at: pd.Timestamp) -> Tables:
    """The Salesforce export as taken at ``at``: what the CRM held then, and nothing later.

    Rows created after ``at`` are dropped (a meeting booked by then for later stays: it was in
    the calendar); a task created by then and completed later is open (not started, due at its
    activity date); a deal that closed later is open, without close reason; its stage, amount
    and close date are the ones it had at ``at`` (rolled back through its field history).
    """
    at = pd.Timestamp(at).tz_convert("UTC")

    def upto(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        return frame[_utc(frame[column]) <= at].copy()

    opp = upto(tables["Opportunity"], "CreatedDate")
    history = upto(tables["OpportunityHistory"], "CreatedDate")
    changes = tables["OpportunityFieldHistory"]
    stage = history.groupby("OpportunityId", sort=False)["StageName"].last()
    opp["StageName"] = opp["Id"].map(stage).fillna(opp["StageName"])
    closed = opp["StageName"].isin(CLOSED_STAGES)
    opp["IsClosed"] = np.where(closed, "true", "false")
    opp["IsWon"] = np.where(opp["StageName"] == "Closed Won", "true", "false")
    opp["Loss_Reason__c"] = opp["Loss_Reason__c"].where(closed, "")
    later = changes[_utc(changes["CreatedDate"]) > at]
    for field in ("Amount", "CloseDate"):
        first_later = later[later["Field"] == field].groupby("OpportunityId", sort=False)[
            "OldValue"].first()
        opp[field] = opp["Id"].map(first_later).fillna(opp[field])
    out = {**tables, "Opportunity": opp, "OpportunityHistory": history,
           "OpportunityFieldHistory": upto(changes, "CreatedDate"),
           "Task": _reopen_later_tasks(upto(tables["Task"], "CreatedDate"), at),
           "Event": upto(tables["Event"], "CreatedDate"),
           "OpportunityContactRole": upto(tables["OpportunityContactRole"], "CreatedDate")}
    if "EmailMessage" in tables:  # a message goes with its task (logged when the task was)
        em = upto(tables["EmailMessage"], "MessageDate")
        out["EmailMessage"] = em[em["ActivityId"].isin(out["Task"]["Id"])
                                 | (em["ActivityId"] == "")]
    return {name: frame.reset_index(drop=True) for name, frame in out.items()}


def _reopen_later_tasks(tasks: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Tasks completed after ``at`` were still open then."""
    done = tasks["CompletedDateTime"].where(tasks["CompletedDateTime"] != "")
    later = (_utc(done) > at).to_numpy()
    tasks = tasks.copy()
    tasks.loc[later, "CompletedDateTime"] = ""
    tasks.loc[later, "Status"] = "Not Started"
    if "IsClosed" in tasks:
        tasks.loc[later, "IsClosed"] = "false"
    return tasks


# ----------------------------------------------------------------------------- shapes
def without_field_history(tables: Tables, *, keep_stage_values: bool = True) -> Tables:
    """Salesforce without ``OpportunityFieldHistory``.

    With ``keep_stage_values=False`` also without the amount and close date in
    ``OpportunityHistory`` (no history at all).
    """
    out = {k: v for k, v in tables.items() if k != "OpportunityFieldHistory"}
    if not keep_stage_values:
        out["OpportunityHistory"] = out["OpportunityHistory"].drop(
            columns=["Amount", "CloseDate"], errors="ignore")
    return out


def to_hubspot(tables: Tables, timezone: str = "Europe/Amsterdam") -> Tables:
    """The export as HubSpot's UI writes it (see the module docstring).

    Times are local in ``timezone`` with no offset; ids are numbers.
    """
    opp, history = tables["Opportunity"], tables["OpportunityHistory"]
    local = _local_text(timezone)
    closed_at = history[history["StageName"].isin(CLOSED_STAGES)].groupby(
        "OpportunityId")["CreatedDate"].last()
    is_closed = opp["StageName"].isin(CLOSED_STAGES)
    close = np.where(is_closed, local(opp["Id"].map(closed_at).fillna("")),
                     opp["CloseDate"])
    deals = pd.DataFrame({
        "Record ID": record_number(opp["Id"]), "Deal Name": opp["Name"],
        "Deal Stage": opp["StageName"],
        "Pipeline": PIPELINE, "Amount": opp["Amount"], "Currency": opp["CurrencyIsoCode"],
        "Close Date": close, "Create Date": local(opp["CreatedDate"]),
        "Deal owner": "Owner " + record_number(opp["OwnerId"]),
        "Associated Company IDs": record_number(opp["AccountId"]),
        "Closed Lost Reason": opp["Loss_Reason__c"], "Deal Type": opp["Type"]})
    latest = history.groupby(["OpportunityId", "StageName"], sort=False)["CreatedDate"].max()
    for stage in STAGE_NAMES:
        entered = latest.xs(stage, level="StageName") if stage in latest.index.get_level_values(
            "StageName") else pd.Series(dtype="str")
        deals[f'Date entered "{stage} ({PIPELINE})"'] = local(
            opp["Id"].map(entered).fillna(""))
    return {"deals": deals, **_hubspot_activities(tables, local),
            "contacts": _hubspot_contacts(tables["OpportunityContactRole"])}


def to_few_stage(tables: Tables) -> Tables:
    """A spreadsheet pipeline, with no activities, contacts or loss reasons.

    ``sales_pipeline`` has one row per opportunity: product, engage and close dates, close
    value (the amount of a won deal, 0 for a lost one, empty while open); ``accounts``,
    ``sales_teams`` and ``products`` (one per deal here, its list price the deal's amount as
    exported) are side tables.
    """
    opp, history = tables["Opportunity"], tables["OpportunityHistory"]
    closed_at = history[history["StageName"].isin(CLOSED_STAGES)].groupby(
        "OpportunityId")["CreatedDate"].last()
    stage = opp["StageName"].map({"Closed Won": "Won", "Closed Lost": "Lost"}).fillna(
        "Engaging")
    close_date = opp["Id"].map(closed_at).fillna("").str[:10]
    value = np.where(stage == "Won", opp["Amount"], np.where(stage == "Lost", "0", ""))
    pipeline = pd.DataFrame({
        "opportunity_id": opp["Id"], "sales_agent": "Agent " + record_number(opp["OwnerId"]),
        "product": "Product " + record_number(opp["Id"]),
        "account": "Account " + record_number(opp["AccountId"]), "deal_stage": stage,
        "engage_date": opp["CreatedDate"].str[:10], "close_date": close_date,
        "close_value": value})
    # side-table attributes: those of the account's (agent's) first deal, so that they are the
    # same in an export taken at any time
    by_creation = opp.sort_values(["CreatedDate", "Id"], kind="stable")
    firsts = by_creation.drop_duplicates("AccountId")
    accounts = pd.DataFrame({
        "account": "Account " + record_number(firsts["AccountId"]), "sector": firsts["Industry__c"],
        "employees": firsts["Segment__c"].map(_EMPLOYEES).fillna(""),
        "office_location": firsts["Region__c"]})
    agents = by_creation.drop_duplicates("OwnerId")
    teams = pd.DataFrame({"sales_agent": "Agent " + record_number(agents["OwnerId"]),
                          "regional_office": agents["Region__c"],
                          "manager": "Manager " + (record_number(agents["OwnerId"]).astype(int) % 5
                                                   ).astype(str)})
    products = pd.DataFrame({"product": pipeline["product"], "sales_price": opp["Amount"]})
    return {"sales_pipeline": pipeline, "accounts": accounts, "sales_teams": teams,
            "products": products}


# ----------------------------------------------------------------------------- files
def read_tables(directory: Path) -> Tables:
    """Every CSV of an export directory as text (``Opportunity.csv`` -> ``"Opportunity"``)."""
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in sorted(Path(directory).glob("*.csv"))}


def write_tables(tables: Tables, directory: Path, exported_at: pd.Timestamp,
                 source: str | None = None) -> Path:
    """Write ``<name>.csv`` per table and ``export.json``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    manifest: dict[str, str] = {"exported_at": pd.Timestamp(exported_at).isoformat()}
    if source:
        manifest["source"] = source
    (directory / "export.json").write_text(json.dumps(manifest) + "\n")
    return directory


# ----------------------------------------------------------------------------- helpers
def _utc(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, utc=True, format="ISO8601")


def _local_text(timezone: str):
    def local(text: pd.Series) -> pd.Series:
        times = pd.to_datetime(text.where(text != ""), utc=True, format="ISO8601")
        out = times.dt.tz_convert(timezone).dt.strftime("%Y-%m-%d %H:%M")
        return out.where(times.notna(), "").astype(str)

    return local


def record_number(ids: pd.Series) -> pd.Series:
    """A Salesforce-like id's running number: the HubSpot shape's record id.

    Example:
        >>> record_number(pd.Series(["006000000000000042"])).tolist()
        ['42']
    """
    return ids.astype(str).str[3:].str.lstrip("0").replace("", "0")


def _hubspot_activities(tables: Tables, local) -> Tables:
    tasks, events = tables["Task"], tables["Event"]
    incoming = set()
    if "EmailMessage" in tables:
        em = tables["EmailMessage"]
        incoming = set(em.loc[em["Incoming"] == "true", "ActivityId"])

    def common(frame: pd.DataFrame, when: str) -> pd.DataFrame:
        return pd.DataFrame({
            "Record ID": record_number(frame["Id"]) + frame["Id"].str[:3].map(
                {"00T": "1", "00U": "2"}).fillna("3"),
            "Associated Deal IDs": record_number(frame["WhatId"]),
            "Associated Contact IDs": record_number(frame["WhoId"]),
            "Activity date": local(frame[when]), "Create date": local(frame["CreatedDate"])})

    emails = tasks[tasks["TaskSubtype"] == "Email"]
    calls = tasks[tasks["TaskSubtype"] == "Call"]
    todo = tasks[~tasks["TaskSubtype"].isin(["Email", "Call"])]
    out = {
        "emails": common(emails, "CompletedDateTime").assign(**{
            "Email subject": emails["Subject"].str.removeprefix("Email: "),
            "Email direction": np.where(emails["Id"].isin(incoming), "INCOMING_EMAIL",
                                        "EMAIL")}),
        "calls": common(calls, "CompletedDateTime").assign(**{
            "Call title": calls["Subject"],
            "Call direction": calls["CallType"].str.upper()}),
        "meetings": common(events, "ActivityDateTime").assign(**{
            "Meeting name": events["Subject"],
            "Meeting source": np.where(events["Subject"].str.contains("requested by customer"),
                                       "MEETINGS_PUBLIC", "CRM_UI")}),
        "tasks": common(todo.assign(CompletedDateTime=todo["CompletedDateTime"].where(
            todo["CompletedDateTime"] != "", todo["ActivityDate"])), "CompletedDateTime").assign(**{
            "Task title": todo["Subject"],
            "Task status": np.where(todo["Status"] == "Completed", "COMPLETED", "NOT_STARTED")}),
    }
    return {name: frame.reset_index(drop=True) for name, frame in out.items()}


def _hubspot_contacts(roles: pd.DataFrame) -> pd.DataFrame:
    """One row per contact: its deals and buying roles, ``;``-separated (no joining time)."""
    frame = pd.DataFrame({"contact": record_number(roles["ContactId"]),
                          "deal": record_number(roles["OpportunityId"]),
                          "role": roles["Role"].map(HUBSPOT_ROLES).fillna("OTHER")})
    grouped = frame.groupby("contact", sort=False).agg(
        deals=("deal", lambda s: ";".join(dict.fromkeys(s))),
        roles=("role", lambda s: ";".join(dict.fromkeys(s))))
    return pd.DataFrame({"Record ID": grouped.index, "Associated Deal IDs": grouped["deals"],
                         "Buying Role": grouped["roles"]}).reset_index(drop=True)
