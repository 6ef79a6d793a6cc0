"""Reader for generic CSV / Parquet files described by a YAML column mapping.

The mapping names, per canonical table, a file (relative to the mapping file's folder) and which
source column holds each canonical column (``canonical: source``)::

    timestamps: {naive_timezone: UTC}   # optional; overrides the journey config's rule
    tables:
      deals:
        file: deals.csv
        columns: {deal_id: id, account_id: account, owner_id: rep, created_at: created,
                  amount: value, crm_stage: stage, outcome: result, closed_at: closed}
      stage_history: {file: stages.parquet, columns: {deal_id: deal, crm_stage: stage,
                                                      entered_at: at}}
      activities: {file: acts.csv, columns: {activity_id: id, deal_id: deal, occurred_at: at,
                                             type_raw: kind, subject: subject,
                                             call_direction: dir}}

Canonical names are those of :data:`features.ingest.raw.RAW_COLUMNS`, plus ``call_direction``
for activities.  ``deals`` is required; every other table is optional.  Per table these must be
mapped (alternatives separated by ``|``): :data:`REQUIRED`.

Derived columns (values stay text; :mod:`features.ingest.validate` checks them):

- activities: ``type_raw`` (or ``type``), ``subject`` and ``call_direction`` go through
  :func:`~features.ingest.activities.classify_activities`; a mapped ``type``, ``direction`` or
  ``action`` is used as given where non-empty, the classified value elsewhere;
- contacts: a mapped ``role_raw`` goes through ``config.roles`` (empty → ``other``) unless
  ``role`` is mapped;
- field history: a mapped ``field_raw`` of ``close_date`` / ``CloseDate`` / ``expected close
  date`` becomes ``close_date`` and ``amount`` becomes ``amount`` (case, spaces and underscores
  ignored); anything else is rejected as an untracked field.

Rows are reported under the ``file`` as written in the mapping; when several tables read the
same file, as ``<file>#<table>`` so that each table's rows are counted apart.

A bad mapping (unreadable or invalid YAML, an unknown table or canonical name, a required
canonical column left unmapped, a missing file or a mapped column the file lacks) raises
:class:`~features.ingest.raw.SourceError` naming the mapping file, the table and the column.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "map.yaml").write_text("tables: {opportunities: {file: o.csv, columns: {}}}")
    >>> try:
    ...     read_generic(folder / "map.yaml", None)
    ... except SourceError as exc:
    ...     print(str(exc).replace(str(folder), "<folder>"))  # doctest: +ELLIPSIS
    <folder>/map.yaml: unknown table 'opportunities' (tables: deals, stage_history, ...)
    >>> import shutil; shutil.rmtree(folder)

"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from features.ingest.activities import classify_activities
from features.ingest.parsing import blank
from features.ingest.raw import RAW_COLUMNS, RawTable, SourceError, read_text_table, text_getter
from features.journey import JourneyConfig, TimestampRule

#: Canonical columns a mapping must give per table (``a|b``: at least one of them).
REQUIRED: dict[str, tuple[str, ...]] = {
    "deals": ("deal_id", "account_id", "owner_id", "created_at", "amount"),
    "stage_history": ("deal_id", "crm_stage", "entered_at"),
    "activities": ("activity_id", "deal_id", "occurred_at", "type_raw|type"),
    "contacts": ("deal_id", "contact_id", "added_at", "role_raw|role"),
    "field_history": ("change_id", "deal_id", "changed_at", "field_raw|field", "new_value"),
}
#: Canonical columns each table accepts in a mapping.
ALLOWED: dict[str, tuple[str, ...]] = {
    **RAW_COLUMNS, "activities": (*RAW_COLUMNS["activities"], "call_direction"),
}
_FIELDS = {"closedate": "close_date", "expectedclosedate": "close_date", "amount": "amount"}


class TableMapping(BaseModel):
    """One canonical table: its source file and ``canonical: source`` column names."""

    model_config = ConfigDict(extra="forbid")
    file: str
    columns: dict[str, str]


class GenericMapping(BaseModel):
    """A whole mapping file: optional timestamp rule and the tables."""

    model_config = ConfigDict(extra="forbid")
    timestamps: TimestampRule | None = None
    tables: dict[str, TableMapping]

    @field_validator("timestamps")
    @classmethod
    def _known_zone(cls, rule: TimestampRule | None) -> TimestampRule | None:
        if rule is not None and rule.naive_timezone is not None:
            try:
                zoneinfo.ZoneInfo(rule.naive_timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {rule.naive_timezone!r}") from None
        return rule


def read_generic(
    mapping_path: Path, config: JourneyConfig | None
) -> tuple[dict[str, RawTable], TimestampRule | None]:
    """Read the files a YAML mapping describes into raw canonical tables.

    Returns the tables and the mapping's timestamp rule (``None`` when it sets none, so the
    journey config's rule applies).  Raises :class:`SourceError` for any problem with the
    mapping or its files (see the module documentation).
    """
    mapping_path = Path(mapping_path)
    mapping = load_mapping(mapping_path)
    config = config or JourneyConfig.default()
    uses = pd.Series([t.file for t in mapping.tables.values()]).value_counts()
    tables: dict[str, RawTable] = {}
    for name, spec in mapping.tables.items():
        path = Path(spec.file)
        path = path if path.is_absolute() else mapping_path.parent / path
        where = f"{mapping_path}: table {name}"
        if not path.is_file():
            raise SourceError(f"{where}: file {spec.file} not found ({path})")
        try:
            frame = read_text_table(path)
        except SourceError as exc:
            raise SourceError(f"{where}: {exc}") from None
        missing = {c: s for c, s in spec.columns.items() if s not in frame.columns}
        if missing:
            which = ", ".join(f"{c} (mapped to {s!r})" for c, s in missing.items())
            raise SourceError(f"{where}: {spec.file} has no column for {which}; "
                              f"found: {', '.join(c for c in frame.columns if c[0] != '_')}")
        file = spec.file if uses[spec.file] == 1 else f"{spec.file}#{name}"
        out = pd.DataFrame({c: frame[s] for c, s in spec.columns.items()}, index=frame.index)
        out["_file"] = pd.Series(file, index=frame.index, dtype="str")
        out["_row"] = frame["_row"]
        tables[name] = _DERIVE[name](out, dict(spec.columns), config)
    return tables, (mapping.timestamps if "timestamps" in mapping.model_fields_set else None)


def load_mapping(path: Path) -> GenericMapping:
    """Load and check a mapping file; :class:`SourceError` names the file, table and column."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: mapping is not valid YAML ({_one_line(exc)})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: mapping must be a YAML mapping with a `tables` key")
    tables = data.get("tables")
    if isinstance(tables, dict):
        unknown = [t for t in tables if t not in RAW_COLUMNS]
        if unknown:
            raise SourceError(f"{path}: unknown table {unknown[0]!r} "
                              f"(tables: {', '.join(RAW_COLUMNS)})")
    try:
        mapping = GenericMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in exc.errors()
        )
        raise SourceError(f"{path}: invalid mapping: {problems}") from None
    if "deals" not in mapping.tables:
        raise SourceError(f"{path}: table deals is required (tables.deals)")
    for name, spec in mapping.tables.items():
        for column in spec.columns:
            if column not in ALLOWED[name]:
                raise SourceError(f"{path}: table {name}: unknown canonical column {column!r} "
                                  f"(allowed: {', '.join(ALLOWED[name])})")
        for need in REQUIRED[name]:
            if not any(option in spec.columns for option in need.split("|")):
                wanted = need.replace("|", " or ")
                raise SourceError(f"{path}: table {name}: required column {wanted} is not "
                                  f"mapped (tables.{name}.columns)")
    return mapping


def _activities(frame: pd.DataFrame, columns: dict[str, str], config: JourneyConfig) -> RawTable:
    text = text_getter(frame)
    kind = text("type_raw") if "type_raw" in columns else text("type")
    calls = text("call_direction") if "call_direction" in columns else None
    classified = classify_activities(kind, text("subject"), calls, config)
    out = frame.drop(columns=["call_direction"], errors="ignore").copy()
    out["type_raw"] = kind
    for column in ("type", "direction", "action"):
        given = text(column)
        out[column] = given.where(~blank(given), classified[column])
    labels = dict(columns)
    labels.setdefault("type", columns.get("type_raw", "type"))
    return RawTable("activities", out, labels)


def _contacts(frame: pd.DataFrame, columns: dict[str, str], config: JourneyConfig) -> RawTable:
    out = frame.copy()
    if "role" not in columns:
        raw = text_getter(frame)("role_raw")
        out["role"] = raw.map(lambda r: config.role(r) if r.strip() else "other").astype("str")
    labels = dict(columns)
    labels.setdefault("role", columns.get("role_raw", "role"))
    return RawTable("contacts", out, labels)


def _field_history(frame: pd.DataFrame, columns: dict[str, str],
                   config: JourneyConfig) -> RawTable:
    out = frame.copy()
    if "field" not in columns:
        raw = text_getter(frame)("field_raw")
        folded = raw.str.replace(r"[\s_]", "", regex=True).str.casefold()
        out["field"] = folded.map(_FIELDS).astype("str").fillna("")
    labels = dict(columns)
    labels.setdefault("field", columns.get("field_raw", "field"))
    return RawTable("field_history", out, labels)


def _table(name: str):
    def plain(frame: pd.DataFrame, columns: dict[str, str], config: JourneyConfig) -> RawTable:
        return RawTable(name, frame, columns)

    return plain


_DERIVE = {
    "deals": _table("deals"), "stage_history": _table("stage_history"),
    "activities": _activities, "contacts": _contacts, "field_history": _field_history,
}


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
