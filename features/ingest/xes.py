"""A streaming XES reader: traces and events as text tables, with the line each one starts on.

XES (IEEE 1849) writes one ``<trace>`` per case holding case attributes and ``<event>`` elements
holding event attributes; every attribute is ``<string|date|int|float|boolean|id key= value=/>``.
This reader feeds the (optionally gzipped) file to the standard library's expat parser in 1 MiB
chunks, so memory stays bounded by the output tables, not by the XML tree; values are kept as
written (a ``date`` keeps its UTC offset).  Nested attribute children, log-level attributes and
``<global>`` defaults are ignored; events outside any trace are listed by line (``outside``).
Chosen over ``iterparse`` (builds elements, no line numbers) and pm4py (AGPL, slower) and the
Rust readers (drop the timestamp offset).

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tiny.xes"
    >>> _ = path.write_text('''<log><trace><string key="concept:name" value="c1"/>
    ... <event><string key="concept:name" value="A"/>
    ... <date key="time:timestamp" value="2012-01-01T10:00:00+01:00"/></event>
    ... </trace></log>''')
    >>> log = read_xes(path)
    >>> log.cases[["concept:name", "_row"]].to_dict("records")
    [{'concept:name': 'c1', '_row': 1}]
    >>> log.events[["_case", "concept:name", "time:timestamp", "_row"]].to_dict("records")
    [{'_case': 0, 'concept:name': 'A', 'time:timestamp': '2012-01-01T10:00:00+01:00', '_row': 2}]
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import pandas as pd

from features.ingest.raw import SourceError

CHUNK_BYTES = 1 << 20
ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id"})


@dataclass
class EventLogTables:
    """A log as two text tables.

    ``cases``: one row per trace, its attributes by key, ``_row`` (the trace's line), ``_n``
    (its events).  ``events``: one row per event, its attributes by key, ``_case`` (the
    trace's position in ``cases``) and ``_row`` (the event's line in the file).
    """

    cases: pd.DataFrame
    events: pd.DataFrame
    #: Lines of events written outside any trace (they belong to no case).
    outside: list[int] = field(default_factory=list)


class _Columns:
    """Column lists grown one record at a time; a key first seen late is padded with None."""

    def __init__(self) -> None:
        self.data: dict[str, list[str | None]] = {}
        self.provenance: dict[str, list[int]] = {}
        self.n = 0

    def add(self, record: dict[str, str], provenance: dict[str, int]) -> None:
        for key, value in record.items():
            column = self.data.get(key)
            if column is None:
                column = self.data[key] = [None] * self.n
            column.append(value)
        self.n += 1
        for column in self.data.values():
            if len(column) < self.n:
                column.append(None)
        for key, value in provenance.items():
            self.provenance.setdefault(key, []).append(value)

    def frame(self, provenance: tuple[str, ...]) -> pd.DataFrame:
        frame = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in self.data.items()},
                             index=pd.RangeIndex(self.n))
        for key in provenance:
            frame[key] = pd.Series(self.provenance.get(key, []), dtype="int64")
        return frame


def read_xes(path: Path) -> EventLogTables:
    """Read an XES file (plain or ``.gz``, detected by its magic bytes) into text tables.

    Raises :class:`SourceError` naming the file and line for a file that is missing, not XML,
    not XES (no ``<trace>`` in a ``<log>``), or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: event log not found")
    cases, events = _Columns(), _Columns()
    state = {"depth": 0, "trace_depth": 0, "event_depth": 0, "root": ""}
    case_attrs: dict[str, str] = {}
    event_attrs: dict[str, str] = {}
    marks = {"trace_line": 0, "event_line": 0, "n_events": 0}
    outside: list[int] = []
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth = state["depth"] = state["depth"] + 1
        if depth == 1:
            state["root"] = tag
        elif tag == "trace" and depth == 2:
            state["trace_depth"] = depth
            case_attrs.clear()
            marks["trace_line"], marks["n_events"] = parser.CurrentLineNumber, 0
        elif tag == "event" and state["trace_depth"] and depth == state["trace_depth"] + 1:
            state["event_depth"] = depth
            event_attrs.clear()
            marks["event_line"] = parser.CurrentLineNumber
        elif tag == "event" and not state["trace_depth"] and depth == 2:
            outside.append(parser.CurrentLineNumber)
        elif tag in ATTRIBUTE_TAGS and "key" in attrs:
            if state["event_depth"] and depth == state["event_depth"] + 1:
                event_attrs[attrs["key"]] = attrs.get("value", "")
            elif state["trace_depth"] and not state["event_depth"] \
                    and depth == state["trace_depth"] + 1:
                case_attrs[attrs["key"]] = attrs.get("value", "")

    def end(tag: str) -> None:
        depth = state["depth"]
        if depth == state["event_depth"]:
            events.add(event_attrs, {"_case": cases.n, "_row": marks["event_line"]})
            marks["n_events"] += 1
            state["event_depth"] = 0
        elif depth == state["trace_depth"]:
            cases.add(case_attrs, {"_row": marks["trace_line"], "_n": marks["n_events"]})
            state["trace_depth"] = 0
        state["depth"] = depth - 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with _open(path) as stream:
            # read1: the data before a truncated gzip's end is parsed, so the error's line is
            # where the data stops
            while chunk := stream.read1(CHUNK_BYTES):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        problem = expat.errors.messages.get(exc.code, str(exc)) if exc.code else str(exc)
        hint = " (the file is truncated)" if exc.code == _NO_ELEMENTS_END else ""
        raise SourceError(f"{path}: line {exc.lineno}: not well-formed XES ({problem}){hint}"
                          ) from None
    except (EOFError, OSError, zlib.error) as exc:
        raise SourceError(f"{path}: line {parser.CurrentLineNumber}: cannot read the file "
                          f"({exc or type(exc).__name__}; truncated or corrupt gzip?)") from None
    if state["root"] != "log":
        raise SourceError(f"{path}: line 1: not an XES log (root element is "
                          f"<{state['root'] or 'nothing'}>, expected <log>)")
    return EventLogTables(cases.frame(("_row", "_n")), events.frame(("_case", "_row")), outside)


_NO_ELEMENTS_END = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]


def _open(path: Path):
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")
