"""Ingest CRM exports into canonical deal histories without losing a row.

``ingest(path)`` reads a Salesforce-style export, a HubSpot-style export, or generic CSV/Parquet
files described by a YAML column mapping, validates every row, and returns an
:class:`IngestResult` (canonical tables, rejection report, per-file accounting).

Example:
    >>> from pathlib import Path
    >>> detect_source(Path("does-not-exist"))
    Traceback (most recent call last):
    ...
    features.ingest.raw.SourceError: does-not-exist: export directory not found

"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pandas as pd

from features.ingest.currency import convert_histories, read_rates_file
from features.ingest.raw import SourceError
from features.ingest.rejections import REASONS, SKIP_REASONS
from features.ingest.result import COUNT_COLUMNS, IngestResult
from features.ingest.validate import validate_tables
from features.journey import JourneyConfig

__all__ = ["REASONS", "SKIP_REASONS", "IngestResult", "SourceError", "detect_source", "ingest",
           "read_export_time"]

SourceKind = Literal["auto", "salesforce", "hubspot", "generic", "eventlog"]
MANIFEST = "export.json"


def detect_source(directory: Path) -> str:
    """Guess the export kind of a directory: its ``export.json`` or the files it holds."""
    if not directory.is_dir():
        raise SourceError(f"{directory}: export directory not found")
    manifest = directory / MANIFEST
    if manifest.is_file():
        source = _manifest(manifest).get("source")
        if source in ("salesforce", "hubspot", "generic"):
            return str(source)
    names = {p.stem for p in directory.iterdir() if p.suffix.lower() in (".csv", ".parquet")}
    if "Opportunity" in names:
        return "salesforce"
    if "deals" in names:
        return "hubspot"
    raise SourceError(f"{directory}: cannot tell the export kind (no Opportunity file, no "
                      f"HubSpot deals file); pass --source or a --mapping file")


def read_export_time(directory: Path) -> pd.Timestamp | None:
    """The ``exported_at`` time recorded in the directory's ``export.json``, if any."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return None
    value = _manifest(manifest).get("exported_at")
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise SourceError(f"{manifest}: exported_at {value!r} is not a timestamp") from None
    if stamp.tzinfo is None:
        raise SourceError(f"{manifest}: exported_at {value!r} has no UTC offset")
    return stamp.tz_convert("UTC")


def ingest(
    source: Path,
    *,
    kind: SourceKind = "auto",
    config: JourneyConfig | None = None,
    export_time: pd.Timestamp | None = None,
    mapping: Path | None = None,
    rates: Path | None = None,
    currency: str | None = None,
    name: str | None = None,
) -> IngestResult:
    """Read, map and validate an export into canonical histories plus a rejection report.

    ``export_time`` (the moment the export was taken; nothing may be later) defaults to the
    ``exported_at`` of the export's ``export.json``; without either this raises ``SourceError``.
    ``rates`` (a rates file) and ``currency`` (the reporting currency) convert amounts into one
    currency (see :mod:`features.ingest.currency`; a Salesforce export's own ``CurrencyType`` is
    used when no file is given); a deal the export gives no currency is taken to be in
    ``currency``.  ``name`` names the pipeline (default: the mapping's ``name``, else the
    source folder's name).  An event log (``kind="eventlog"``, :mod:`features.ingest.eventlog`)
    is a file read with its ``mapping``; without a manifest its export time is its last
    event's.  The caller (CLI, service) decides what "now" is; this function never reads the
    clock.
    """
    config = config or JourneyConfig.default()
    source = Path(source)
    if mapping is not None and kind != "eventlog":
        kind = "generic"
    if kind == "auto":
        kind = detect_source(source)  # type: ignore[assignment]
    if export_time is None:
        export_time = read_export_time(source if source.is_dir() else source.parent)
    if kind == "eventlog":  # read first: without a manifest, the log's last event is its end
        from features.ingest.eventlog import read_eventlog

        if mapping is None:
            raise SourceError("an event log needs its mapping (--mapping), e.g. "
                              "examples/bpic2012/mapping.yaml")
        raw, config, log_end = read_eventlog(source, mapping, config)
        folder = source.parent
        export_time = export_time if export_time is not None else log_end
    if export_time is None:
        raise SourceError(f"{source}: no export time (no export.json with exported_at); "
                          "pass export_time / --export-time")
    export_time = pd.Timestamp(export_time).tz_convert("UTC")
    if kind == "salesforce":
        from features.ingest.salesforce import read_salesforce

        raw = read_salesforce(source, config)
        folder = source
    elif kind == "hubspot":
        from features.ingest.hubspot import read_hubspot

        raw = read_hubspot(source, config)
        folder = source
    elif kind == "generic":
        from features.ingest.generic import read_generic

        if mapping is None:
            raise SourceError("a generic source needs a YAML column mapping (--mapping)")
        raw, config = read_generic(mapping, config)
        folder = Path(mapping).parent
    elif kind != "eventlog":
        raise SourceError(f"unknown source kind {kind!r}")
    profile = replace(raw.profile, name=name or raw.profile.name or folder.absolute().name
                      ).with_catalogue(config.catalogue)
    result = validate_tables(raw.tables, config, export_time, profile)
    table = read_rates_file(rates) if rates is not None else raw.rates
    reporting = (currency or raw.reporting_currency or _unit_rate_currency(table))
    reporting = reporting.strip().upper() if reporting else None
    histories = result.histories
    if currency is not None:  # deals the export gives no currency are in the one named
        deals = histories.deals.assign(currency=histories.deals["currency"].fillna(reporting))
        histories = replace(histories, deals=deals)
    histories, notes = convert_histories(histories, table, reporting)
    counts = pd.concat([result.file_counts, pd.DataFrame(raw.side_counts,
                                                         columns=COUNT_COLUMNS)],
                       ignore_index=True) if raw.side_counts else result.file_counts
    if rates is not None and table is not None:
        counts = pd.concat([counts, pd.DataFrame([{
            "table": "currency rates", "file": Path(rates).name, "read": len(table),
            "accepted": len(table), "skipped": 0, "rejected": 0}])], ignore_index=True)
    return replace(result, histories=histories, file_counts=counts,
                   rejections=_with_side_rows(result.rejections, raw.side_rejections),
                   skipped=_with_side_rows(result.skipped, raw.side_skipped),
                   warnings=[*result.warnings, *notes])


def _with_side_rows(log: pd.DataFrame | None, side: pd.DataFrame | None) -> pd.DataFrame | None:
    """A rejection (skip) log with the reader's own side-file rows, ordered by file and row."""
    if side is None or not len(side):
        return log
    if log is None or not len(log):
        return side.reset_index(drop=True)
    return pd.concat([log, side], ignore_index=True).sort_values(
        ["file", "row"], kind="stable").reset_index(drop=True)


def _unit_rate_currency(rates: pd.DataFrame | None) -> str | None:
    """The one currency whose static rate is 1 (the reporting currency of a rates table)."""
    if rates is None:
        return None
    unit = rates.loc[(rates["rate"] == 1.0) & rates["start"].isna(), "currency"].unique()
    return str(unit[0]) if len(unit) == 1 else None


def _manifest(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read export manifest ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: export manifest must be a JSON object")
    return data
