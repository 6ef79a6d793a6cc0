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
from pathlib import Path
from typing import Literal

import pandas as pd

from features.ingest.raw import SourceError
from features.ingest.rejections import REASONS
from features.ingest.result import IngestResult
from features.ingest.validate import validate_tables
from features.journey import JourneyConfig

__all__ = ["REASONS", "IngestResult", "SourceError", "detect_source", "ingest",
           "read_export_time"]

SourceKind = Literal["auto", "salesforce", "hubspot", "generic"]
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
    names = {p.stem for p in directory.iterdir()}
    if "Opportunity" in names:
        return "salesforce"
    if "deals" in names and "engagements" in names:
        return "hubspot"
    raise SourceError(f"{directory}: cannot tell the export kind (no Opportunity file, no "
                      f"HubSpot deals + engagements); pass --source or a --mapping file")


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
) -> IngestResult:
    """Read, map and validate an export into canonical histories plus a rejection report.

    ``export_time`` (the moment the export was taken; nothing may be later) defaults to the
    ``exported_at`` of the export's ``export.json``; without either this raises ``SourceError``.
    The caller (CLI, service) decides what "now" is; this function never reads the clock.
    """
    config = config or JourneyConfig.default()
    source = Path(source)
    if mapping is not None:
        kind = "generic"
    if kind == "auto":
        kind = detect_source(source)  # type: ignore[assignment]
    if kind == "salesforce":
        from features.ingest.salesforce import read_salesforce

        raw = read_salesforce(source, config)
    elif kind == "hubspot":
        from features.ingest.hubspot import read_hubspot

        raw = read_hubspot(source, config)
    elif kind == "generic":
        from features.ingest.generic import read_generic

        if mapping is None:
            raise SourceError("a generic source needs a YAML column mapping (--mapping)")
        raw, mapped_config_tz = read_generic(mapping, config)
        if mapped_config_tz is not None:
            config = config.model_copy(update={"timestamps": mapped_config_tz})
    else:
        raise SourceError(f"unknown source kind {kind!r}")
    if export_time is None:
        export_time = read_export_time(source if source.is_dir() else source.parent)
    if export_time is None:
        raise SourceError(f"{source}: no export time (no export.json with exported_at); "
                          "pass export_time / --export-time")
    return validate_tables(raw, config, export_time)


def _manifest(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read export manifest ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: export manifest must be a JSON object")
    return data
