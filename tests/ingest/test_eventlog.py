"""Event-log ingest (XES / CSV + YAML mapping) on tiny hand-written logs.

Every log here is written by the test itself, so each expected row number is the line the test
put the ``<trace>`` / ``<event>`` on (XES) or the data row it wrote (CSV).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd
import pytest

from features.ingest import ingest
from features.ingest.eventlog import read_eventlog
from features.ingest.eventlog_mapping import load_eventlog_mapping
from features.ingest.raw import SourceError
from features.ingest.rejections import EVENTLOG_REASONS
from features.ingest.xes import read_xes

REPO = Path(__file__).resolve().parents[2]
BPIC_MAPPING = REPO / "examples" / "bpic2012" / "mapping.yaml"
DEALRISK = Path(sys.executable).with_name("dealrisk")

#: A mapping for the XES logs below (standard XES keys, BPIC-like activity names).
XES_MAPPING = """\
name: tiny
lifecycle: {values: [SCHEDULE, START, COMPLETE], use: [COMPLETE]}
deal:
  amount: AMOUNT_REQ
  currency: {value: EUR}
stages: {A_SUBMITTED: curious, O_SENT: decision}
outcomes: {A_APPROVED: won, A_DECLINED: lost, A_CANCELLED: no_decision}
activities:
  W_call: {type: call}
  O_SENT_BACK: {type: proposal, direction: buyer}
"""

#: The same mapping for a CSV log with its own column names and no lifecycle column.
CSV_MAPPING = """\
name: tiny
log: {case_id: case, activity: activity, timestamp: timestamp, resource: resource,
      lifecycle: null}
deal:
  amount: amount
  currency: {value: EUR}
stages: {A_SUBMITTED: curious, O_SENT: decision}
outcomes: {A_APPROVED: won, A_DECLINED: lost, A_CANCELLED: no_decision}
activities:
  W_call: {type: call}
  O_SENT_BACK: {type: proposal, direction: buyer}
"""

BPIC_ACTIVITIES = [
    "A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED",
    "A_APPROVED", "A_REGISTERED", "A_ACTIVATED", "A_DECLINED", "A_CANCELLED",
    "O_SELECTED", "O_CREATED", "O_SENT", "O_SENT_BACK", "O_ACCEPTED", "O_DECLINED",
    "O_CANCELLED", "W_Afhandelen leads", "W_Completeren aanvraag", "W_Nabellen offertes",
    "W_Nabellen incomplete dossiers", "W_Valideren aanvraag", "W_Beoordelen fraude",
    "W_Wijzigen contractgegevens",
]

_MISSING = object()


def ev(activity: str, time: object, resource: str = "r1", lifecycle: str = "COMPLETE"
       ) -> dict[str, str]:
    """An XES event's attributes; ``time=_MISSING`` leaves the timestamp out."""
    attrs = {"concept:name": activity, "lifecycle:transition": lifecycle,
             "org:resource": resource}
    if time is not _MISSING:
        attrs["time:timestamp"] = str(time)
    return attrs


def xes_text(traces: list[tuple[dict[str, str], list[dict[str, str]]]]) -> str:
    """An XES document, one attribute per line, log-level attributes included."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">',
             '  <string key="concept:name" value="tiny log"/>']

    def attr(indent: str, key: str, value: str) -> str:
        tag = ("date" if key.startswith("time:") or key == "REG_DATE"
               else "float" if key == "AMOUNT_REQ" else "string")
        return f"{indent}<{tag} key={quoteattr(key)} value={quoteattr(value)}/>"

    for case, events in traces:
        lines.append("  <trace>")
        lines += [attr("    ", k, v) for k, v in case.items()]
        for event in events:
            lines.append("    <event>")
            lines += [attr("      ", k, v) for k, v in event.items()]
            lines.append("    </event>")
        lines.append("  </trace>")
    lines.append("</log>")
    return "\n".join(lines) + "\n"


def lines_of(text: str, tag: str) -> list[int]:
    """1-based numbers of the lines that open ``<tag>``."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == f"<{tag}>"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def triples(frame: pd.DataFrame | None) -> set[tuple[str, int, str]]:
    """(file, row, reason) of a rejection or skip report."""
    if frame is None:
        return set()
    return {(f, int(r), why) for f, r, why in frame[["file", "row", "reason"]].itertuples(
        index=False)}


def pairs(frame: pd.DataFrame | None) -> set[tuple[int, str]]:
    """(row, reason) of a rejection or skip report."""
    return {(row, why) for _, row, why in triples(frame)}


def counts(result) -> dict[str, dict[str, int]]:
    """file_counts as {file: {read, accepted, skipped, rejected}}."""
    return {row["file"]: {k: int(row[k]) for k in ("read", "accepted", "skipped", "rejected")}
            for row in result.file_counts.to_dict("records")}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def dealrisk(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dealrisk`` console script as a user would."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlruns.db"}
    return subprocess.run([str(DEALRISK), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd, check=False)


# ------------------------------------------------------------------------------- logs used
#: Three cases: won (with a seller call), no decision (via an offer sent), open.
SMALL_TRACES = [
    ({"concept:name": "c1", "AMOUNT_REQ": "5000"}, [
        ev("A_SUBMITTED", "2012-01-02T10:00:00.000+01:00", "112"),
        ev("W_call", "2012-01-03T10:00:00.000+01:00", "10"),
        ev("A_APPROVED", "2012-01-05T10:00:00.000+01:00", "10"),
    ]),
    ({"concept:name": "c2", "AMOUNT_REQ": "12000"}, [
        ev("A_SUBMITTED", "2012-01-02T11:00:00.000+01:00", "113"),
        ev("O_SENT", "2012-01-04T09:30:00.000+01:00", "11"),
        ev("O_SENT_BACK", "2012-01-06T12:00:00.000+01:00", "11"),
        ev("A_CANCELLED", "2012-01-08T16:00:00.000+01:00", "11"),
    ]),
    ({"concept:name": "c3", "AMOUNT_REQ": "800"}, [
        ev("A_SUBMITTED", "2012-01-07T08:00:00.000+01:00", "114"),
    ]),
]

SMALL_CSV = """\
case,activity,timestamp,resource,amount
c1,A_SUBMITTED,2012-01-02T10:00:00.000+01:00,112,5000
c1,W_call,2012-01-03T10:00:00.000+01:00,10,5000
c1,A_APPROVED,2012-01-05T10:00:00.000+01:00,10,5000
c2,A_SUBMITTED,2012-01-02T11:00:00.000+01:00,113,12000
c2,O_SENT,2012-01-04T09:30:00.000+01:00,11,12000
c2,O_SENT_BACK,2012-01-06T12:00:00.000+01:00,11,12000
c2,A_CANCELLED,2012-01-08T16:00:00.000+01:00,11,12000
c3,A_SUBMITTED,2012-01-07T08:00:00.000+01:00,114,800
"""

#: One case with every kind of bad or unused event, one empty case, one clean case.
BAD_TRACES = [
    ({"concept:name": "c1", "AMOUNT_REQ": "1000"}, [
        ev("A_SUBMITTED", "2012-01-02T10:00:00+01:00", "11"),                # 0 stage
        ev("A_SUBMITTED", "2012-01-02T10:30:00+01:00", "11", "SCHEDULE"),    # 1 unused_lifecycle
        ev("W_call", "2012-01-02T11:00:00+01:00", "11", "ate_abort"),        # 2 unknown_lifecycle
        ev("W_call", "2012-01-01T09:00:00+01:00", "11"),                     # 3 out_of_order
        ev("W_call", "2012-01-03T10:00:00", "11"),                           # 4 no time zone
        ev("W_call", _MISSING, "11"),                                        # 5 missing time
        ev("W_call", "next tuesday", "11"),                                  # 6 bad time
        ev("W_Nabellen", "2012-01-04T10:00:00+01:00", "11"),                 # 7 unused_activity
        ev("A_DECLINED", "2012-01-05T10:00:00+01:00", "11"),                 # 8 outcome: lost
        ev("A_APPROVED", "2012-01-06T10:00:00+01:00", "11"),                 # 9 after_outcome
    ]),
    ({"concept:name": "c2", "AMOUNT_REQ": "2000"}, []),                       # no_events
    ({"concept:name": "c3", "AMOUNT_REQ": "3000"}, [
        ev("A_SUBMITTED", "2012-01-03T09:00:00+01:00", "12"),
    ]),
]


@pytest.fixture
def xes_mapping(tmp_path: Path) -> Path:
    return write(tmp_path, "mapping.yaml", XES_MAPPING)


# ------------------------------------------------------------------------- 1. the XES reader
def test_plain_and_gzipped_xes_read_the_same_tables_with_their_line_numbers(tmp_path: Path):
    """Plain and gzipped XES give equal tables; attributes are read; _row is the file line."""
    text = xes_text(SMALL_TRACES)
    plain = write(tmp_path, "log.xes", text)
    packed = tmp_path / "log.xes.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    a, b = read_xes(plain), read_xes(packed)
    pd.testing.assert_frame_equal(a.cases, b.cases)
    pd.testing.assert_frame_equal(a.events, b.events)

    assert a.cases["concept:name"].tolist() == ["c1", "c2", "c3"]
    assert a.cases["AMOUNT_REQ"].tolist() == ["5000", "12000", "800"]
    assert a.cases["_row"].tolist() == lines_of(text, "trace")
    assert a.cases["_n"].tolist() == [3, 4, 1]
    assert "tiny log" not in a.cases["concept:name"].tolist()  # log-level attribute ignored
    assert len(a.events) == 8
    assert a.events["_row"].tolist() == lines_of(text, "event")
    assert a.events["_case"].tolist() == [0, 0, 0, 1, 1, 1, 1, 2]
    assert a.events["concept:name"].tolist()[:3] == ["A_SUBMITTED", "W_call", "A_APPROVED"]
    assert a.events["org:resource"].tolist()[3] == "113"
    assert a.events["time:timestamp"].iloc[0] == "2012-01-02T10:00:00.000+01:00"


def test_gzipped_log_ingests_like_the_plain_one(tmp_path: Path, xes_mapping: Path):
    """Ingesting log.xes.gz gives the same canonical deals as log.xes."""
    text = xes_text(SMALL_TRACES)
    plain = write(tmp_path, "log.xes", text)
    packed = tmp_path / "log.xes.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    cols = ["deal_id", "outcome", "closed_at", "amount", "created_at"]
    a = ingest(plain, kind="eventlog", mapping=xes_mapping).histories.deals[cols]
    b = ingest(packed, kind="eventlog", mapping=xes_mapping).histories.deals[cols]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert a["deal_id"].tolist() == ["c1", "c2", "c3"]


# ------------------------------------------------------------------- 2. unreadable XES files
def test_truncated_xml_names_the_file_and_the_line_it_stops_on(tmp_path: Path):
    """An XES cut in the middle of an element is a SourceError naming the file and its line."""
    text = xes_text(SMALL_TRACES)
    cut = text[:text.index('value="A_APPROVED"') + 10]
    path = write(tmp_path, "cut.xes", cut)
    last_line = cut.count("\n") + 1
    with pytest.raises(SourceError) as info:
        read_xes(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {last_line}:" in message


def test_xml_cut_between_elements_says_truncated(tmp_path: Path):
    """An XES missing its closing tags is reported as truncated, with the file and a line."""
    text = xes_text(SMALL_TRACES)
    path = write(tmp_path, "short.xes", text[:text.rindex("  </trace>")])
    with pytest.raises(SourceError, match=r"line \d+: .*truncated") as info:
        read_xes(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_names_the_file_and_a_line(tmp_path: Path):
    """A gzip file cut in half is a SourceError naming the file, a line and the gzip problem."""
    packed = gzip.compress(xes_text(SMALL_TRACES).encode())
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(SourceError) as info:
        read_xes(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(r"line \d+", message), message
    assert "gzip" in message


def test_file_that_is_not_xml(tmp_path: Path):
    """A CSV given as XES is 'not well-formed XES' at line 1 of that file."""
    path = write(tmp_path, "events.xes", "case,activity\nc1,A\n")
    with pytest.raises(SourceError, match="not well-formed XES") as info:
        read_xes(path)
    assert f"{path}: line 1:" in str(info.value)


def test_root_that_is_not_log(tmp_path: Path):
    """XML whose root is not <log> is refused, naming the root it found."""
    path = write(tmp_path, "page.xes", '<?xml version="1.0"?>\n<html><trace/></html>\n')
    with pytest.raises(SourceError, match=r"root element is <html>, expected <log>") as info:
        read_xes(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path, xes_mapping: Path):
    """A log that does not exist is a SourceError naming it (reader and ingest)."""
    path = tmp_path / "nowhere.xes"
    with pytest.raises(SourceError, match="not found") as info:
        read_xes(path)
    assert str(path) in str(info.value)
    with pytest.raises(SourceError, match=re.escape(str(path))):
        ingest(path, kind="eventlog", mapping=xes_mapping)


# ------------------------------------------------------------------- 3. CSV and XES agree
def test_csv_log_ingests_to_the_same_canonical_tables_as_the_xes_log(tmp_path: Path):
    """A CSV event log with the XES log's content gives the same deals, stages and activities."""
    xes = ingest(write(tmp_path, "log.xes", xes_text(SMALL_TRACES)), kind="eventlog",
                 mapping=write(tmp_path, "xes.yaml", XES_MAPPING))
    csv = ingest(write(tmp_path, "log.csv", SMALL_CSV), kind="eventlog",
                 mapping=write(tmp_path, "csv.yaml", CSV_MAPPING))
    for result in (xes, csv):
        assert result.balanced
        assert result.rejections.empty
    tables = {"deals": ["deal_id", "owner_id", "created_at", "amount", "currency", "outcome",
                        "closed_at"],
              "stage_history": ["deal_id", "entered_at", "crm_stage", "step", "status"],
              "activities": ["deal_id", "occurred_at", "type", "direction", "subject"]}
    for table, cols in tables.items():
        a = getattr(xes.histories, table)[cols].reset_index(drop=True)
        b = getattr(csv.histories, table)[cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=table)

    deals = csv.histories.deals.set_index("deal_id")
    assert deals.index.tolist() == ["c1", "c2", "c3"]
    assert deals["amount"].tolist() == [5000.0, 12000.0, 800.0]
    assert deals["owner_id"].tolist() == ["112", "113", "114"]
    assert deals.loc["c1", "outcome"] == "won"
    assert deals.loc["c2", "outcome"] == "no_decision"
    assert pd.isna(deals.loc["c3", "outcome"])
    assert deals.loc["c1", "closed_at"] == utc("2012-01-05T10:00:00+01:00")
    assert deals.loc["c2", "closed_at"] == utc("2012-01-08T16:00:00+01:00")
    stages = csv.histories.stage_history
    assert list(zip(stages["deal_id"], stages["crm_stage"], strict=True)) == [
        ("c1", "A_SUBMITTED"), ("c1", "A_APPROVED"), ("c2", "A_SUBMITTED"), ("c2", "O_SENT"),
        ("c2", "A_CANCELLED"), ("c3", "A_SUBMITTED")]
    assert [None if pd.isna(v) else v for v in stages["step"]] == [
        "curious", None, "curious", "decision", None, "curious"]
    assert stages["status"].tolist() == ["open", "won", "open", "open", "lost", "open"]
    acts = csv.histories.activities
    assert list(zip(acts["deal_id"], acts["type"], acts["direction"], strict=True)) == [
        ("c1", "call", "seller"), ("c2", "proposal", "buyer")]


def test_csv_rows_are_data_row_numbers(tmp_path: Path):
    """A bad CSV event is reported with its data row (1 = first row after the header)."""
    text = ("case,activity,timestamp,resource,amount\n"
            "c1,A_SUBMITTED,2012-01-02T10:00:00+01:00,7,10\n"
            "c1,W_call,2012-01-01T10:00:00+01:00,7,10\n"
            "c1,W_zzz,2012-01-03T10:00:00+01:00,7,10\n"
            "c1,A_APPROVED,2012-01-04T10:00:00+01:00,7,10\n")
    result = ingest(write(tmp_path, "log.csv", text), kind="eventlog",
                    mapping=write(tmp_path, "csv.yaml", CSV_MAPPING))
    assert pairs(result.rejections) == {(2, "out_of_order")}
    assert pairs(result.skipped) == {(3, "unused_activity")}
    assert result.histories.stage_history["crm_stage"].tolist() == ["A_SUBMITTED", "A_APPROVED"]
    assert counts(result)["log.csv#cases"] == {"read": 1, "accepted": 1, "skipped": 0,
                                               "rejected": 0}


# --------------------------------------------------------------- 4. every bad row reported
def test_every_bad_event_and_case_is_reported_with_reason_file_and_row(
        tmp_path: Path, xes_mapping: Path):
    """Each bad or unused event and the empty case land in the reports at their XES line."""
    text = xes_text(BAD_TRACES)
    result = ingest(write(tmp_path, "bad.xes", text), kind="eventlog", mapping=xes_mapping)
    event_line, trace_line = lines_of(text, "event"), lines_of(text, "trace")
    assert len(event_line) == 11 and len(trace_line) == 3
    assert pairs(result.rejections) == {
        (event_line[2], "unknown_lifecycle"), (event_line[3], "out_of_order"),
        (event_line[4], "timestamp_without_timezone"), (event_line[5], "missing_value"),
        (event_line[6], "bad_timestamp"), (trace_line[1], "no_events")}
    assert pairs(result.skipped) == {
        (event_line[1], "unused_lifecycle"), (event_line[7], "unused_activity"),
        (event_line[9], "after_outcome")}
    # each event-log reason is exercised here but outside_trace (its own test below)
    assert set(EVENTLOG_REASONS) - {"outside_trace"} <= set(result.rejections["reason"])
    rej = result.rejections.set_index("reason")
    assert rej.loc["unknown_lifecycle", "value"] == "ate_abort"
    assert rej.loc["unknown_lifecycle", "column"] == "lifecycle:transition"
    assert rej.loc["out_of_order", "value"] == "2012-01-01T09:00:00+01:00"
    assert rej.loc["timestamp_without_timezone", "value"] == "2012-01-03T10:00:00"
    assert rej.loc["timestamp_without_timezone", "column"] == "time:timestamp"
    assert rej.loc["bad_timestamp", "value"] == "next tuesday"
    assert rej.loc["no_events", "value"] == "c2"
    skip = result.skipped.set_index("reason")
    assert skip.loc["unused_activity", "value"] == "W_Nabellen"
    assert skip.loc["unused_lifecycle", "value"] == "SCHEDULE"
    assert skip.loc["after_outcome", "value"] == "A_APPROVED"

    deals = result.histories.deals.set_index("deal_id")
    assert deals.index.tolist() == ["c1", "c3"]
    assert deals.loc["c1", "outcome"] == "lost"
    assert deals.loc["c1", "closed_at"] == utc("2012-01-05T10:00:00+01:00")
    assert result.histories.activities.empty
    assert result.histories.stage_history["crm_stage"].tolist() == [
        "A_SUBMITTED", "A_DECLINED", "A_SUBMITTED"]


def test_report_file_labels_are_the_accounting_lines(tmp_path: Path, xes_mapping: Path):
    """Each reported row names the accounting line that counts it (<log>#unused, #activities...)."""
    text = xes_text(BAD_TRACES)
    result = ingest(write(tmp_path, "bad.xes", text), kind="eventlog", mapping=xes_mapping)
    event_line, trace_line = lines_of(text, "event"), lines_of(text, "trace")
    assert triples(result.rejections) == {
        ("bad.xes#unused", event_line[2], "unknown_lifecycle"),
        ("bad.xes#unused", event_line[3], "out_of_order"),
        ("bad.xes#activities", event_line[4], "timestamp_without_timezone"),
        ("bad.xes#activities", event_line[5], "missing_value"),
        ("bad.xes#activities", event_line[6], "bad_timestamp"),
        ("bad.xes#empty cases", trace_line[1], "no_events"),
    }
    assert triples(result.skipped) == {
        ("bad.xes#unused", event_line[1], "unused_lifecycle"),
        ("bad.xes#unused", event_line[7], "unused_activity"),
        ("bad.xes#unused", event_line[9], "after_outcome"),
    }
    c = counts(result)
    for file, n in result.rejections["file"].value_counts().items():
        assert c[file]["rejected"] == n, file
    for file, n in result.skipped["file"].value_counts().items():
        assert c[file]["skipped"] == n, file


def test_row_accounting_balances_and_covers_every_event_and_trace(
        tmp_path: Path, xes_mapping: Path):
    """read = accepted + skipped + rejected per line; the lines add up to the log's events."""
    text = xes_text(BAD_TRACES)
    result = ingest(write(tmp_path, "bad.xes", text), kind="eventlog", mapping=xes_mapping)
    assert result.balanced
    fc = result.file_counts
    assert (fc["read"] == fc["accepted"] + fc["skipped"] + fc["rejected"]).all()
    c = counts(result)
    assert c["bad.xes#cases"] == {"read": 2, "accepted": 2, "skipped": 0, "rejected": 0}
    assert c["bad.xes#stages"] == {"read": 3, "accepted": 3, "skipped": 0, "rejected": 0}
    assert c["bad.xes#activities"] == {"read": 3, "accepted": 0, "skipped": 0, "rejected": 3}
    assert c["bad.xes#unused"] == {"read": 5, "accepted": 0, "skipped": 3, "rejected": 2}
    assert c["bad.xes#empty cases"] == {"read": 1, "accepted": 0, "skipped": 0, "rejected": 1}
    n_events = sum(len(events) for _, events in BAD_TRACES)
    assert sum(c[f"bad.xes#{k}"]["read"] for k in ("stages", "activities", "unused")) \
        == n_events == len(lines_of(text, "event"))
    assert c["bad.xes#cases"]["read"] + c["bad.xes#empty cases"]["read"] == len(BAD_TRACES)
    assert fc["rejected"].sum() == len(result.rejections)
    assert fc["skipped"].sum() == len(result.skipped)


# ------------------------------------------------------------------------------ 5. outcomes
def _case(name: str, *events: tuple[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    return {"concept:name": name, "AMOUNT_REQ": "1000"}, [ev(a, t) for a, t in events]


OUTCOME_TRACES = [
    _case("won", ("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
          ("A_APPROVED", "2012-01-03T10:00:00+00:00")),
    _case("lost", ("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
          ("A_DECLINED", "2012-01-04T10:00:00+00:00")),
    _case("nodec", ("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
          ("A_CANCELLED", "2012-01-05T10:00:00+00:00")),
    _case("first", ("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
          ("A_DECLINED", "2012-01-06T10:00:00+00:00"),
          ("A_APPROVED", "2012-01-07T10:00:00+00:00")),
    _case("open", ("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
          ("O_SENT", "2012-01-10T10:00:00+00:00"), ("W_call", "2012-01-12T10:00:00+00:00")),
]


def test_first_outcome_event_closes_each_case(tmp_path: Path, xes_mapping: Path):
    """won, lost and no_decision come from the first outcome event, which sets closed_at."""
    result = ingest(write(tmp_path, "out.xes", xes_text(OUTCOME_TRACES)), kind="eventlog",
                    mapping=xes_mapping)
    deals = result.histories.deals.set_index("deal_id")
    assert sorted(deals.index) == ["first", "lost", "nodec", "open", "won"]
    assert {k: None if pd.isna(v) else v for k, v in deals["outcome"].items()} == {
        "first": "lost", "lost": "lost", "nodec": "no_decision", "open": None, "won": "won"}
    assert deals.loc["won", "closed_at"] == utc("2012-01-03T10:00:00Z")
    assert deals.loc["lost", "closed_at"] == utc("2012-01-04T10:00:00Z")
    assert deals.loc["nodec", "closed_at"] == utc("2012-01-05T10:00:00Z")
    assert deals.loc["first", "closed_at"] == utc("2012-01-06T10:00:00Z")
    assert pd.isna(deals.loc["open", "outcome"])
    assert pd.isna(deals.loc["open", "closed_at"])
    assert pairs(result.skipped) == {(lines_of(xes_text(OUTCOME_TRACES), "event")[8],
                                      "after_outcome")}


def test_export_time_defaults_to_the_last_event(tmp_path: Path, xes_mapping: Path):
    """Without an export time, the log's last event (a call on 2012-01-12) is the export time."""
    result = ingest(write(tmp_path, "out.xes", xes_text(OUTCOME_TRACES)), kind="eventlog",
                    mapping=xes_mapping)
    assert result.export_time == utc("2012-01-12T10:00:00Z")
    assert result.rejections.empty


def test_explicit_export_time_rejects_later_events(tmp_path: Path, xes_mapping: Path):
    """Events after an explicit export time are rejected as after_export_time at their line."""
    text = xes_text(OUTCOME_TRACES)
    stamp = pd.Timestamp("2012-01-11T00:00:00Z")
    result = ingest(write(tmp_path, "out.xes", text), kind="eventlog", mapping=xes_mapping,
                    export_time=stamp)
    assert result.export_time == stamp
    events = lines_of(text, "event")
    assert triples(result.rejections) == {("out.xes#activities", events[11], "after_export_time")}
    assert result.balanced
    assert len(result.histories.deals) == 5
    assert result.histories.activities.empty


# --------------------------------------------------------------------------- 6. bad mappings
@pytest.mark.parametrize(("text", "named"), [
    ("stages: {A_SUBMITTED: curious}\noutcomes: {A_APPROVED: won}\n"
     "activities: {A_SUBMITTED: {type: call}}\n", ["'A_SUBMITTED'", "stages", "activities"]),
    ("stages: {A_SUBMITTED: curious}\n", ["outcomes"]),
    ("outcomes: {A_APPROVED: won}\ndeal: {colour: AMOUNT_REQ}\n", ["deal.colour"]),
    ("outcomes: {A_APPROVED: won\nstages: [curious\n", ["not valid YAML"]),
    ("tables:\n  deals: {file: deals.csv}\n", ["tables", "--source generic"]),
    ("lifecycle: {values: [START, COMPLETE], use: [DONE]}\noutcomes: {A_APPROVED: won}\n",
     ["lifecycle", "'DONE'"]),
], ids=["two-roles", "no-outcomes", "unknown-deal-column", "invalid-yaml", "generic-mapping",
        "use-not-in-values"])
def test_bad_mapping_names_the_file_and_the_key(tmp_path: Path, text: str, named: list[str]):
    """A bad event-log mapping is a SourceError naming the mapping file and the YAML key."""
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(SourceError) as info:
        load_eventlog_mapping(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    for part in named:
        assert part in message, message
    log = write(tmp_path, "log.xes", xes_text(SMALL_TRACES))
    with pytest.raises(SourceError, match=re.escape(str(path))):
        ingest(log, kind="eventlog", mapping=path)


def test_event_log_without_mapping_is_refused(tmp_path: Path):
    """ingest(kind='eventlog') without a mapping says it needs --mapping."""
    log = write(tmp_path, "log.xes", xes_text(SMALL_TRACES))
    with pytest.raises(SourceError, match="--mapping"):
        ingest(log, kind="eventlog")


# ------------------------------------------------------------------------------------ 7. CLI
def test_cli_ingests_an_event_log(tmp_path: Path, xes_mapping: Path):
    """`dealrisk ingest LOG --source eventlog --mapping MAP --out DIR` writes tables and reports."""
    log = write(tmp_path, "bad.xes", xes_text(BAD_TRACES))
    out = tmp_path / "canonical"
    proc = dealrisk("ingest", log, "--source", "eventlog", "--mapping", xes_mapping,
                    "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for name in ("deals.parquet", "rejections.csv", "ingest_report.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["balanced"] is True
    assert report["export_time"].startswith("2012-01-06T09:00:00")
    assert report["rejected_by_reason"] == {"unknown_lifecycle": 1, "out_of_order": 1,
                                            "timestamp_without_timezone": 1,
                                            "missing_value": 1, "bad_timestamp": 1,
                                            "no_events": 1}
    assert report["skipped_by_reason"] == {"unused_lifecycle": 1, "unused_activity": 1,
                                           "after_outcome": 1}
    assert pd.read_parquet(out / "deals.parquet")["deal_id"].tolist() == ["c1", "c3"]
    rejections = pd.read_csv(out / "rejections.csv")
    assert sorted(rejections["reason"]) == sorted(report["rejected_by_reason"])
    assert rejections.loc[rejections["reason"] == "no_events", "file"].tolist() == [
        "bad.xes#empty cases"]


def test_cli_eventlog_without_mapping_exits_2(tmp_path: Path):
    """`--source eventlog` without `--mapping` exits 2 with an error on stderr naming --mapping."""
    log = write(tmp_path, "log.xes", xes_text(SMALL_TRACES))
    proc = dealrisk("ingest", log, "--source", "eventlog", "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error" in proc.stderr.lower()
    assert "--mapping" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "o" / "deals.parquet").exists()


def test_cli_truncated_log_names_file_and_line_without_traceback(
        tmp_path: Path, xes_mapping: Path):
    """A truncated XES via the CLI exits non-zero with the file and line, no traceback."""
    text = xes_text(SMALL_TRACES)
    cut = text[:text.index('value="A_CANCELLED"') + 5]
    log = write(tmp_path, "cut.xes", cut)
    proc = dealrisk("ingest", log, "--source", "eventlog", "--mapping", xes_mapping,
                    "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode != 0
    err = " ".join(proc.stderr.split())
    assert "cut.xes" in err
    assert f"line {cut.count(chr(10)) + 1}" in err, err
    assert "Traceback" not in proc.stdout + proc.stderr


# ------------------------------------------------------------------- 8. the shipped mapping
def test_shipped_bpic_mapping_maps_every_bpic2012_activity():
    """The shipped BPIC 2012 mapping loads and gives each of the log's 24 activities a role."""
    mapping = load_eventlog_mapping(BPIC_MAPPING)
    assert len(BPIC_ACTIVITIES) == 24
    unmapped = [a for a in BPIC_ACTIVITIES if mapping.role(a) is None]
    assert unmapped == []
    assert mapping.role("O_SENT_BACK") == "activity"
    assert mapping.activities["O_SENT_BACK"].direction == "buyer"
    assert mapping.role("A_CANCELLED") == "outcome"
    assert mapping.outcomes["A_CANCELLED"] == "no_decision"
    assert mapping.outcomes["A_APPROVED"] == "won"
    assert mapping.outcomes["A_DECLINED"] == "lost"
    assert mapping.lifecycle.used("COMPLETE") and not mapping.lifecycle.used("SCHEDULE")


def test_shipped_bpic_mapping_reads_a_bpic_shaped_trace(tmp_path: Path):
    """A BPIC-shaped trace (REG_DATE, AMOUNT_REQ, lifecycle) ingests with the shipped mapping."""
    traces = [({"concept:name": "173688", "REG_DATE": "2011-10-01T00:38:44.546+02:00",
                "AMOUNT_REQ": "20000"}, [
        ev("A_SUBMITTED", "2011-10-01T00:38:44.546+02:00", "112"),
        ev("A_PARTLYSUBMITTED", "2011-10-01T00:38:44.880+02:00", "112"),
        ev("W_Afhandelen leads", "2011-10-01T00:39:37.906+02:00", "112", "SCHEDULE"),
        ev("W_Afhandelen leads", "2011-10-01T11:36:46.437+02:00", "10862", "START"),
        ev("W_Afhandelen leads", "2011-10-01T11:45:13.917+02:00", "10862"),
        ev("O_SENT_BACK", "2011-10-05T10:00:00.000+02:00", "10862"),
        ev("A_CANCELLED", "2011-10-08T10:00:00.000+02:00", "10862"),
    ])]
    log = write(tmp_path, "bpic.xes", xes_text(traces))
    _, _, last = read_eventlog(log, BPIC_MAPPING, None)
    assert last == utc("2011-10-08T10:00:00+02:00")
    result = ingest(log, kind="eventlog", mapping=BPIC_MAPPING)
    assert result.balanced
    assert result.rejections.empty
    assert sorted(result.skipped["reason"]) == ["unused_lifecycle", "unused_lifecycle"]
    deal = result.histories.deals.iloc[0]
    assert (deal["deal_id"], deal["account_id"], deal["owner_id"]) == ("173688", "173688", "112")
    assert (deal["amount"], deal["currency"], deal["outcome"]) == (20000.0, "EUR", "no_decision")
    assert deal["created_at"] == utc("2011-10-01T00:38:44.546+02:00")
    acts = result.histories.activities
    assert list(zip(acts["subject"], acts["type"], acts["direction"], strict=True)) == [
        ("W_Afhandelen leads", "call", "seller"), ("O_SENT_BACK", "proposal", "buyer")]


def test_unknown_catalogue_action_and_case_attribute_are_named(tmp_path: Path):
    """An action the journey does not know, or a case attribute no trace has, is an error."""
    log = write(tmp_path, "log.xes", xes_text([({"concept:name": "c1"}, [
        ev("A_SUBMITTED", "2012-01-01T10:00:00+01:00", "1")])]))
    base = ("stages: {A_SUBMITTED: curious}\noutcomes: {A_APPROVED: won}\n")
    bad_action = write(tmp_path, "a.yaml", base + "activities: {W_x: {action: bribe}}\n")
    with pytest.raises(SourceError, match=r"a\.yaml: activities\.W_x\.action: 'bribe'"):
        ingest(log, kind="eventlog", mapping=bad_action)
    bad_attribute = write(tmp_path, "b.yaml", base + "deal: {amount: AMOUNT_REQUESTED}\n")
    with pytest.raises(SourceError, match=r"log\.xes: no case has the attribute "
                                          r"'AMOUNT_REQUESTED'"):
        ingest(log, kind="eventlog", mapping=bad_attribute)


def test_events_outside_traces_are_rejected_and_counted(tmp_path: Path, xes_mapping: Path):
    """An <event> directly under <log> belongs to no case: rejected at its line, counted."""
    text = xes_text(SMALL_TRACES).replace(
        "</log>", '  <event>\n    <string key="concept:name" value="A_SUBMITTED"/>\n'
                  "  </event>\n</log>")
    result = ingest(write(tmp_path, "stray.xes", text), kind="eventlog", mapping=xes_mapping)
    stray_line = text.splitlines().index("  <event>") + 1
    assert triples(result.rejections) == {("stray.xes#unused", stray_line, "outside_trace")}
    assert counts(result)["stray.xes#unused"]["rejected"] == 1 and result.balanced


def test_a_repeated_case_id_never_merges_two_traces(tmp_path: Path, xes_mapping: Path):
    """The second trace with an id is rejected, and so is every event of it."""
    traces = [SMALL_TRACES[0], ({"concept:name": "c1", "AMOUNT_REQ": "9"}, [
        ev("A_SUBMITTED", "2012-02-01T10:00:00+01:00"),
        ev("A_DECLINED", "2012-02-02T10:00:00+01:00")])]
    text = xes_text(traces)
    result = ingest(write(tmp_path, "dup.xes", text), kind="eventlog", mapping=xes_mapping)
    events, trace = lines_of(text, "event"), lines_of(text, "trace")
    assert pairs(result.rejections) == {(trace[1], "duplicate_id"), (events[3], "duplicate_id"),
                                        (events[4], "duplicate_id")}
    deal = result.histories.deals.set_index("deal_id").loc["c1"]
    assert deal["outcome"] == "won" and deal["amount"] == 5000
    assert result.histories.stage_history["crm_stage"].tolist() == ["A_SUBMITTED", "A_APPROVED"]


def test_order_is_checked_on_used_events_past_a_missing_time(tmp_path: Path, xes_mapping: Path):
    """A blank time does not hide a later backdated event; an unused event never rejects one."""
    traces = [({"concept:name": "c1", "AMOUNT_REQ": "1"}, [
        ev("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
        ev("W_call", _MISSING),                                              # missing_value
        ev("W_call", "2012-01-01T10:00:00+00:00"),                           # out_of_order
        ev("W_call", "2012-03-01T10:00:00+00:00", lifecycle="SCHEDULE"),     # unused, later
        ev("A_APPROVED", "2012-01-05T10:00:00+00:00")])]                     # still in order
    text = xes_text(traces)
    result = ingest(write(tmp_path, "order.xes", text), kind="eventlog", mapping=xes_mapping)
    events = lines_of(text, "event")
    assert pairs(result.rejections) == {(events[1], "missing_value"),
                                        (events[2], "out_of_order")}
    assert result.histories.deals.set_index("deal_id").loc["c1", "outcome"] == "won"


def test_times_without_offset_use_the_mapping_zone_for_the_export_time(tmp_path: Path):
    """With timestamps.naive_timezone, the log's last event is not after its own export time."""
    log = write(tmp_path, "ny.csv", "case,activity,time\nc1,start,2024-01-01T09:00:00\n"
                                    "c1,won,2024-01-05T09:00:00\n")
    mapping = write(tmp_path, "ny.yaml", "timestamps: {naive_timezone: America/New_York}\n"
                    "log: {case_id: case, activity: activity, timestamp: time, lifecycle: null,"
                    " resource: null}\nstages: {start: curious}\noutcomes: {won: won}\n")
    result = ingest(log, kind="eventlog", mapping=mapping)
    assert result.export_time == utc("2024-01-05T14:00:00Z")
    assert result.rejections.empty
    deal = result.histories.deals.iloc[0]
    assert deal["owner_id"] == "unassigned" and deal["outcome"] == "won"  # a log with no resource
    assert deal["closed_at"] == utc("2024-01-05T14:00:00Z")


def test_a_named_lifecycle_field_the_log_lacks_is_an_error(tmp_path: Path):
    """log.lifecycle named but absent from every event is a mapping error, not 'all complete'."""
    log = write(tmp_path, "l.csv", "case,activity,time\nc1,start,2024-01-01T09:00:00Z\n")
    mapping = write(tmp_path, "l.yaml", "log: {case_id: case, activity: activity, timestamp: "
                    "time, lifecycle: transition}\nstages: {start: curious}\n"
                    "outcomes: {won: won}\n")
    with pytest.raises(SourceError, match=r"l\.csv: no event has the lifecycle attribute "
                                          r"'transition'"):
        ingest(log, kind="eventlog", mapping=mapping)


def test_csv_case_attribute_is_the_first_non_empty_value(tmp_path: Path):
    """A case attribute left empty on the case's first row is taken from a later row."""
    log = write(tmp_path, "a.csv", "case,activity,time,amount\nc1,start,2024-01-01T09:00:00Z,\n"
                                   "c1,won,2024-01-05T09:00:00Z,700\n")
    mapping = write(tmp_path, "a.yaml", "log: {case_id: case, activity: activity, timestamp: "
                    "time, lifecycle: null, resource: null}\ndeal: {amount: amount}\n"
                    "stages: {start: curious}\noutcomes: {won: won}\n")
    result = ingest(log, kind="eventlog", mapping=mapping)
    assert result.histories.deals.iloc[0]["amount"] == 700


def test_a_rejected_event_never_sets_the_export_time(tmp_path: Path, xes_mapping: Path):
    """A bad event dated 2099 is rejected and the export time stays at the log's real end."""
    traces = [({"concept:name": "c1", "AMOUNT_REQ": "1"}, [
        ev("A_SUBMITTED", "2012-01-02T10:00:00+00:00"),
        ev("W_call", "2099-01-01T10:00:00+00:00", lifecycle="ate_abort")])]
    result = ingest(write(tmp_path, "late.xes", xes_text(traces)), kind="eventlog",
                    mapping=xes_mapping)
    assert result.export_time == utc("2012-01-02T10:00:00Z")
    assert set(result.rejections["reason"]) == {"unknown_lifecycle"}
