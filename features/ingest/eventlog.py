r"""Reader for process event logs (XES or CSV) mapped onto deal histories.

One case becomes one deal; each event whose lifecycle transition counts becomes a stage entry,
a deal activity or the case's outcome, as the mapping (:mod:`features.ingest.eventlog_mapping`)
says.  The case's first outcome event closes the deal (``closed_at``, ``outcome``, its closing
stage).  Case attributes are taken as known from the case's start (an ``AMOUNT_REQ`` is the
amount asked for when the application came in), so a mapped amount counts as tracked.

Row accounting (``read = accepted + skipped + rejected`` on every line): deals are reported
under ``<log>#cases``, stage entries under ``<log>#stages``, activities under
``<log>#activities``; events the reader keeps out of every table under ``<log>#unused``
(skipped: an activity the mapping does not use, a lifecycle transition it does not count, an
outcome after the first; rejected: an unknown lifecycle value, an event earlier than an
earlier event of its case, an event of a trace repeating a case id, an event outside any
trace) and cases without any event under ``<log>#empty cases`` (a line only
when there are some).  Rows are the line in the file where the trace or event starts (XES) or
the data row (CSV).

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "log.csv").write_text(
    ...     "case,activity,time\nc1,start,2024-01-01T09:00:00Z\nc1,won,2024-01-05T09:00:00Z\n")
    >>> _ = (folder / "map.yaml").write_text(
    ...     "log: {case_id: case, activity: activity, timestamp: time, lifecycle: null}\n"
    ...     "stages: {start: curious}\noutcomes: {won: won}\n")
    >>> raw, _, last = read_eventlog(folder / "log.csv", folder / "map.yaml", None)
    >>> raw.tables["deals"].frame[["deal_id", "outcome", "closed_at"]].to_dict("records")
    [{'deal_id': 'c1', 'outcome': 'won', 'closed_at': '2024-01-05T09:00:00Z'}]
    >>> str(last)
    '2024-01-05 09:00:00+00:00'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.ingest.eventlog_mapping import (
    DERIVED_CASE_ATTRIBUTES,
    EventLogMapping,
    load_eventlog_mapping,
)
from features.ingest.generic import iso_times
from features.ingest.mapping import ColumnSpec
from features.ingest.parsing import blank, parse_timestamps
from features.ingest.raw import RawExport, RawTable, SourceError, read_text_table
from features.ingest.rejections import REPORT_COLUMNS
from features.ingest.xes import EventLogTables, read_xes
from features.journey import JourneyConfig
from features.profile import ContextField, PipelineProfile

__all__ = ["read_eventlog"]


def read_eventlog(log_path: Path, mapping_path: Path, config: JourneyConfig | None
                  ) -> tuple[RawExport, JourneyConfig, pd.Timestamp | None]:
    """Read a log and its mapping into raw canonical tables.

    Returns the raw export, the journey config with the mapping's stages, timestamps and
    numbers applied, and the time of the log's last event that is not rejected (its natural
    export time).  Raises
    :class:`SourceError` naming the file (and line) for a log or mapping that cannot be read.
    """
    log_path, mapping_path = Path(log_path), Path(mapping_path)
    mapping = load_eventlog_mapping(mapping_path)
    config = _config(mapping, mapping_path, config or JourneyConfig.default())
    for activity, spec in mapping.activities.items():
        if spec.action is not None and spec.action not in config.activities.actions:
            raise SourceError(f"{mapping_path}: activities.{activity}.action: {spec.action!r} "
                              f"is not a catalogue action (journey activities.actions: "
                              f"{', '.join(config.activities.actions)})")
    log = _read_log(log_path, mapping)
    name = log_path.name
    events = pd.concat([_classify(log, mapping, name, config.timestamps.naive_timezone),
                        _outside_traces(log, name)], ignore_index=True)
    deals = _deals(log, events, mapping, name)
    tables = {"deals": RawTable("deals", deals, {c: f"case {s.column}" for c, s in
                                                 mapping.deal.items() if s.column}),
              "stage_history": RawTable("stage_history", _stage_rows(events, name),
                                        {"entered_at": mapping.log.timestamp,
                                         "crm_stage": mapping.log.activity}),
              "activities": RawTable("activities", _activity_rows(events, mapping, name),
                                     {"occurred_at": mapping.log.timestamp,
                                      "type": mapping.log.activity})}
    unused = events[events["_fate"] != "used"]
    empty = log.cases[log.cases["_n"] == 0]
    side_counts = [
        {"table": "event log", "file": f"{name}#unused", "read": len(unused), "accepted": 0,
         "skipped": int((unused["_fate"] == "skip").sum()),
         "rejected": int((unused["_fate"] == "reject").sum())},
    ]
    if len(empty):
        side_counts.append({"table": "event log", "file": f"{name}#empty cases",
                            "read": len(empty), "accepted": 0, "skipped": 0,
                            "rejected": len(empty)})
    empty_log = _report(empty.assign(_file=f"{name}#empty cases", _why="no_events",
                                     _value=_case_ids(log, mapping).reindex(empty.index),
                                     _detail="the case has no events", _column="trace"))
    profile = PipelineProfile(
        name=mapping.name or "", source="eventlog",
        tracked_fields=("amount",) if "amount" in mapping.deal else (),
        stage_entries="all" if mapping.stages or mapping.outcomes else "none",
        has_activities=bool(mapping.activities), has_contacts=False,
        contact_join_times="first_activity",
        context=tuple(ContextField(n, s.kind, s.meaning, s.phrase)
                      for n, s in mapping.context.items()))
    raw = RawExport(tables, profile, side_counts=side_counts,
                    side_rejections=pd.concat([_report(unused[unused["_fate"] == "reject"]),
                                               empty_log], ignore_index=True),
                    side_skipped=_report(unused[unused["_fate"] == "skip"]))
    times = events.loc[events["_fate"] != "reject", "_t"].dropna()  # a rejected one never counts
    return raw, config, (times.max() if len(times) else None)


def _config(mapping: EventLogMapping, path: Path, config: JourneyConfig) -> JourneyConfig:
    updates = {k: getattr(mapping, k) for k in ("timestamps", "numbers")
               if getattr(mapping, k) is not None}
    config = config.model_copy(update=updates) if updates else config
    try:
        return config.merged(mapping.journey_override(), where=f"{path}: journey")
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def _read_log(path: Path, mapping: EventLogMapping) -> EventLogTables:
    fmt = mapping.format or ("csv" if ".csv" in path.suffixes else "xes")
    if fmt == "xes":
        log = read_xes(path)
        if mapping.log.case_id not in log.cases.columns and len(log.cases):
            raise SourceError(f"{path}: no trace has the case id attribute "
                              f"{mapping.log.case_id!r} (log.case_id)")
    else:
        log = _csv_log(path, mapping)
    wanted = {s.column for s in (*mapping.deal.values(), *mapping.context.values())
              if s.column is not None} - set(DERIVED_CASE_ATTRIBUTES)
    absent = sorted(c for c in wanted if len(log.cases) and c not in log.cases.columns)
    if absent:
        raise SourceError(f"{path}: no case has the attribute {absent[0]!r} the deal mapping "
                          f"names; case attributes: {', '.join(_attributes(log.cases))}")
    for field in ("lifecycle", "resource"):
        key = getattr(mapping.log, field)
        if field in mapping.log.model_fields_set and key is not None and len(log.events) \
                and key not in log.events.columns:
            raise SourceError(f"{path}: no event has the {field} attribute {key!r} "
                              f"(log.{field}; null if the log has none); found: "
                              f"{', '.join(_attributes(log.events))}")
    for field in ("activity", "timestamp"):
        key = getattr(mapping.log, field)
        if len(log.events) and key not in log.events.columns:
            raise SourceError(f"{path}: no event has the {field} attribute {key!r} "
                              f"(log.{field}); found: {', '.join(_attributes(log.events))}")
    return log


def _csv_log(path: Path, mapping: EventLogMapping) -> EventLogTables:
    """A CSV log as cases + events: case attributes are taken from each case's first row."""
    frame = read_text_table(path)
    case_col = mapping.log.case_id
    if case_col not in frame.columns:
        raise SourceError(f"{path}: no column {case_col!r} for the case id (log.case_id); "
                          f"found: {', '.join(_attributes(frame))}")
    missing_case = blank(frame[case_col].astype("str").fillna(""))
    if missing_case.any():
        row = int(frame.loc[missing_case, "_row"].iloc[0])
        raise SourceError(f"{path}: row {row}: empty case id ({case_col}); every event needs "
                          "its case")
    codes, uniques = pd.factorize(frame[case_col], sort=False)
    frame["_case"] = codes
    first = frame.groupby("_case", sort=True).head(1).set_index("_case").sort_index()
    filled = frame.replace("", np.nan).groupby("_case", sort=True).first()
    wanted = {s.column for s in (*mapping.deal.values(), *mapping.context.values())
              if s.column is not None} - set(DERIVED_CASE_ATTRIBUTES)
    absent = sorted(c for c in wanted if c not in frame.columns)
    if absent:
        raise SourceError(f"{path}: no column {absent[0]!r} for the deal mapping; found: "
                          f"{', '.join(_attributes(frame))}")
    # a case attribute is the first non-empty value of the case's rows
    cases = filled[[case_col, *sorted(wanted - {case_col})]].fillna("").reset_index(drop=True)
    cases["_row"] = first["_row"].to_numpy()
    cases["_n"] = np.bincount(codes, minlength=len(uniques))
    return EventLogTables(cases, frame.drop(columns=["_file"]))


def _attributes(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not str(c).startswith("_")]


def _text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame[column].astype("str").fillna("")


def _case_ids(log: EventLogTables, mapping: EventLogMapping) -> pd.Series:
    return _text(log.cases, mapping.log.case_id)


def _classify(log: EventLogTables, mapping: EventLogMapping, name: str,
              naive_timezone: str | None) -> pd.DataFrame:
    """Each event with its case id, parsed time and fate: used (and its role), skip, reject.

    The checks run in this order, each on the events still used: a trace repeating an earlier
    trace's case id, an unknown lifecycle value, an unused lifecycle value or activity, an event
    earlier than the latest used one before it in its case, an outcome after the first.
    """
    ev = log.events
    out = pd.DataFrame({
        "_case": ev["_case"].to_numpy(), "_row": ev["_row"].to_numpy(),
        "_file": f"{name}#unused",
        "deal_id": _case_ids(log, mapping).to_numpy()[ev["_case"].to_numpy()],
        "activity": _text(ev, mapping.log.activity).str.strip(),
        "time": _text(ev, mapping.log.timestamp).str.strip(),
        "resource": _text(ev, mapping.log.resource).str.strip(),
        "lifecycle": _text(ev, mapping.log.lifecycle).str.strip(),
    }, index=ev.index)
    out["_t"] = parse_timestamps(out["time"], naive_timezone, "end")[0]
    out["role"] = out["activity"].map(lambda a: mapping.role(a) or "")
    fate = pd.Series("used", index=out.index, dtype="str")
    why = pd.Series("", index=out.index, dtype="str")
    detail = pd.Series("", index=out.index, dtype="str")
    column = pd.Series(mapping.log.activity, index=out.index, dtype="str")
    value = out["activity"].copy()

    def mark(mask: pd.Series, kind: str, reason: str, text: pd.Series | str, col: str,
             shown: pd.Series) -> None:
        mask = mask & (fate == "used")
        fate[mask], why[mask], column[mask] = kind, reason, col
        detail[mask] = text if isinstance(text, str) else text[mask]
        value[mask] = shown[mask]

    case_ids = _case_ids(log, mapping)
    repeated = case_ids.duplicated(keep="first").to_numpy()[out["_case"].to_numpy()]
    first_line = log.cases.groupby(case_ids.to_numpy())["_row"].transform("first")
    mark(pd.Series(repeated, index=out.index), "reject", "duplicate_id",
         "its trace repeats the case id of the trace at line "
         + first_line.to_numpy()[out["_case"].to_numpy()].astype("str"),
         mapping.log.case_id, out["deal_id"])
    lifecycle = out["lifecycle"].where(~blank(out["lifecycle"]), "complete")
    lc_field = mapping.log.lifecycle or "lifecycle"
    known = lifecycle.map(mapping.lifecycle.known)
    mark(~known, "reject", "unknown_lifecycle",
         f"lifecycle value is not one of {', '.join(mapping.lifecycle.values)}", lc_field,
         out["lifecycle"])
    mark(~lifecycle.map(mapping.lifecycle.used), "skip", "unused_lifecycle",
         f"only {', '.join(mapping.lifecycle.use)} events are used (lifecycle.use)", lc_field,
         out["lifecycle"])
    mark(out["role"] == "", "skip", "unused_activity",
         "the mapping does not use this activity (stages, outcomes, activities)",
         mapping.log.activity, out["activity"])
    used_t = out["_t"].where(fate == "used")
    latest = used_t.groupby(out["_case"]).cummax().groupby(out["_case"]).ffill()
    previous = latest.groupby(out["_case"]).shift(1)
    early = (out["_t"] < previous).fillna(False).astype(bool)
    mark(early, "reject", "out_of_order",
         "event is earlier than an earlier event of its case (at " + previous.astype("str")
         + ")", mapping.log.timestamp, out["time"])
    is_outcome = (out["role"] == "outcome") & (fate == "used")
    later = is_outcome & is_outcome.groupby(out["_case"]).cumsum().gt(1)
    mark(later, "skip", "after_outcome", "the case already ended with an earlier outcome event",
         mapping.log.activity, out["activity"])
    out["_fate"], out["_why"], out["_detail"] = fate, why, detail
    out["_column"], out["_value"] = column, value
    return out


def _outside_traces(log: EventLogTables, name: str) -> pd.DataFrame:
    """Events written outside any trace (no case to belong to), as rejected events."""
    lines = np.asarray(log.outside, dtype="int64")
    return pd.DataFrame({"_case": -1, "_row": lines, "_file": f"{name}#unused",
                         "deal_id": "", "activity": "", "time": "", "resource": "",
                         "lifecycle": "", "_t": pd.Series(pd.NaT, index=range(len(lines)),
                                                          dtype="datetime64[us, UTC]"),
                         "role": "", "_fate": "reject", "_why": "outside_trace",
                         "_detail": "the event is not inside a <trace>", "_column": "event",
                         "_value": ""}, index=range(len(lines)))


def _report(rows: pd.DataFrame) -> pd.DataFrame:
    """Reader-side rejections or skips in the rejection-report layout."""
    if not len(rows):
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str")
                             for c in REPORT_COLUMNS})
    return pd.DataFrame({"file": rows["_file"].astype("str").to_numpy(),
                         "row": rows["_row"].astype("int64").to_numpy(),
                         "column": rows["_column"].astype("str").to_numpy(),
                         "value": rows["_value"].astype("str").to_numpy(),
                         "reason": rows["_why"].astype("str").to_numpy(),
                         "detail": rows["_detail"].astype("str").to_numpy()})


def _stage_rows(events: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = events[(events["_fate"] == "used") & events["role"].isin(["stage", "outcome"])]
    return pd.DataFrame({
        "source_id": rows["deal_id"] + "#" + rows["_row"].astype("str"),
        "deal_id": rows["deal_id"], "entered_at": rows["time"],
        "crm_stage": rows["activity"], "_file": f"{name}#stages", "_row": rows["_row"],
    }).reset_index(drop=True)


def _activity_rows(events: pd.DataFrame, mapping: EventLogMapping, name: str
                   ) -> pd.DataFrame:
    rows = events[(events["_fate"] == "used") & (events["role"] == "activity")]
    specs = rows["activity"].map(mapping.activities.get)
    return pd.DataFrame({
        "activity_id": rows["deal_id"] + "#" + rows["_row"].astype("str"),
        "deal_id": rows["deal_id"], "occurred_at": rows["time"],
        "type": specs.map(lambda s: s.type), "type_raw": rows["activity"],
        "direction": specs.map(lambda s: s.direction),
        "action": specs.map(lambda s: s.action or ""), "subject": rows["activity"],
        "_file": f"{name}#activities", "_row": rows["_row"],
    }).reset_index(drop=True)


def _deals(log: EventLogTables, events: pd.DataFrame, mapping: EventLogMapping, name: str
           ) -> pd.DataFrame:
    """One row per case with events: mapped case attributes, its stage and its outcome."""
    cases = log.cases.copy()
    used = events[events["_fate"] == "used"]
    in_case = events[events["_case"] >= 0]
    readable = in_case[in_case["_t"].notna()]
    cases["first_event_time"] = readable.groupby("_case")["time"].first().reindex(
        cases.index).fillna("")
    # the first event's resource only: a later event's would be known only later
    cases["first_resource"] = in_case.groupby("_case")["resource"].first().reindex(
        cases.index).fillna("")
    ends = used[used["role"] == "outcome"].groupby("_case").first()
    stages = used[used["role"] == "stage"].groupby("_case")["activity"].last()
    out = pd.DataFrame(index=cases.index)
    specs = {"deal_id": mapping.log.case_id,
             "owner_id": ColumnSpec(column="first_resource", missing="unassigned"),
             "created_at": "first_event_time", "account_id": None, **mapping.deal}
    for column, spec in specs.items():
        out[column] = _case_values(cases, spec)
    for field_name, spec in mapping.context.items():
        out[field_name] = _case_values(cases, spec)
    out["crm_stage"] = ends["activity"].reindex(cases.index).fillna(
        stages.reindex(cases.index)).fillna("")
    out["outcome"] = ends["activity"].reindex(cases.index).map(mapping.outcomes).fillna("")
    out["closed_at"] = ends["time"].reindex(cases.index).fillna("")
    out["_file"] = f"{name}#cases"
    out["_row"] = cases["_row"].to_numpy()
    return out[cases["_n"] > 0].reset_index(drop=True)


def _case_values(cases: pd.DataFrame, spec: ColumnSpec | str | None) -> pd.Series:
    """A deal column from the cases: a case attribute or a constant, as the spec reads it."""
    if spec is None:
        return pd.Series("", index=cases.index, dtype="str")
    if isinstance(spec, str):
        spec = ColumnSpec(column=spec)
    values = (pd.Series(spec.value, index=cases.index, dtype="str") if spec.value is not None
              else _text(cases, spec.column))
    if spec.missing is not None:
        values = values.where(~blank(values), spec.missing)
    if spec.format is not None or spec.timezone is not None:
        values = iso_times(values, spec.format, spec.timezone)
    return values
