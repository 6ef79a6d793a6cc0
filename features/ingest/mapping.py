"""The YAML column mapping of a generic CSV/Parquet export: its schema and its checks.

A mapping names, per canonical table, the source file(s) and how each canonical column is made
(see :mod:`features.ingest.generic` for a complete example).  A column is either a source column
name or a spec::

    created_at: {column: engage_date, format: "%m/%d/%Y %H:%M", timezone: America/New_York}
    currency: {value: USD}                                   # a constant
    account_id: {column: account, missing: unknown account}  # keep rows whose key is empty
    account_revenue: {column: accounts.revenue}              # a joined side table's column

Every problem is a :class:`~features.ingest.raw.SourceError` naming the mapping file and the
YAML key (``tables.deals.columns.created_at.format``).

Example:
    >>> ColumnSpec.model_validate("close_date").column
    'close_date'
    >>> ColumnSpec.model_validate({"value": "USD"}).value
    'USD'
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.ingest.raw import RAW_COLUMNS, SourceError
from features.journey import NumberFormat, TimestampRule, check_zone

#: Canonical columns a mapping must give per table (``a|b``: at least one of them).
REQUIRED: dict[str, tuple[str, ...]] = {
    "deals": ("deal_id", "owner_id", "created_at"),
    "stage_history": ("deal_id", "crm_stage", "entered_at"),
    "activities": ("activity_id", "deal_id", "occurred_at", "type_raw|type"),
    "contacts": ("deal_id", "contact_id", "role_raw|role"),
    "field_history": ("change_id", "deal_id", "changed_at", "field_raw|field", "new_value"),
}
#: Canonical columns each table accepts in a mapping.
ALLOWED: dict[str, tuple[str, ...]] = {
    **RAW_COLUMNS, "activities": (*RAW_COLUMNS["activities"], "call_direction"),
}
#: Columns holding times (a ``format`` / ``timezone`` applies to them).
TIME_COLUMNS = frozenset({"created_at", "expected_close_date", "closed_at", "entered_at",
                          "occurred_at", "recorded_at", "added_at", "changed_at"})


class ColumnSpec(BaseModel):
    """How one canonical column is made: a source column or a constant, and how to read it."""

    model_config = ConfigDict(extra="forbid")
    column: str | None = None
    value: str | None = None
    #: ``strptime`` format of a time column (e.g. ``%m/%d/%Y %H:%M``); default ISO 8601.
    format: str | None = None
    #: The zone of times written without an offset (overrides ``timestamps.naive_timezone``).
    timezone: str | None = None
    #: The value of an empty cell (keeps a row whose key is missing, e.g. "unknown account").
    missing: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: object) -> object:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` (a source column) or `value` "
                             "(a constant)")
        if self.timezone is not None:
            check_zone(self.timezone)
        if self.format is not None:
            if "%" not in self.format:
                raise ValueError(f"format {self.format!r} has no strptime directive such as %Y")
            try:
                datetime(2024, 2, 26, 19, 58).strftime(self.format)
            except ValueError as exc:
                raise ValueError(f"format {self.format!r} is not a strptime format ({exc})"
                                 ) from None
        return self


class ContextSpec(ColumnSpec):
    """A typed custom context field of the deals (a model feature of its own)."""

    kind: Literal["number", "category"]
    meaning: str = ""
    phrase: str = ""


class JoinSpec(BaseModel):
    """A side table joined onto a table's rows by key (a left join; keys unique in the side)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    file: str
    #: ``this table's column: the side table's column`` (several pairs: a composite key).
    on: dict[str, str]
    #: The name that prefixes the side table's columns (``accounts.revenue``); default: the
    #: file's stem.
    alias: str | None = Field(default=None, alias="as")

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: object) -> object:
        """YAML 1.1 reads a bare ``on:`` key as ``True``: take it as ``on``."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @property
    def name(self) -> str:
        """The prefix of the side table's columns."""
        return self.alias or Path(self.file).stem


class TableMapping(BaseModel):
    """One canonical table from one or several files."""

    model_config = ConfigDict(extra="forbid")
    file: str | list[str]
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    join: list[JoinSpec] = Field(default_factory=list)
    #: Derived rows: ``source column: {canonical: spec}``; each file row with a value in the
    #: source column gives one row (e.g. a stage history from one date column per stage).
    rows_from_columns: dict[str, dict[str, ColumnSpec]] = Field(default_factory=dict)
    context: dict[str, ContextSpec] = Field(default_factory=dict)
    #: field_history: the fields whose every change the export holds (default: the fields its
    #: rows name; say so when a field is tracked but happens to have no change yet).
    tracks: list[Literal["close_date", "amount"]] | None = None
    #: stage_history: ``latest`` when the source keeps only the latest entry into each stage.
    entries: Literal["all", "latest"] = "all"

    @property
    def files(self) -> list[str]:
        """The source files, in order."""
        return [self.file] if isinstance(self.file, str) else list(self.file)

    @field_validator("columns", "rows_from_columns", mode="before")
    @classmethod
    def _mapping(cls, value: object) -> object:
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be a mapping of canonical column: source column")
        return value


class GenericMapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    timestamps: TimestampRule | None = None
    numbers: NumberFormat | None = None
    #: Journey config overrides for this export (its stage names, roles ...), merged over the
    #: default and any ``--config`` file, as a journey YAML file would be.
    journey: dict[str, Any] | None = None
    #: Each table's mappings: one, or a list (several files with different columns).
    tables: dict[str, list[TableMapping]]

    @field_validator("tables", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    def specs(self, table: str) -> list[TableMapping]:
        """The (one or several) mappings of ``table``."""
        return self.tables.get(table, [])


def read_yaml_mapping(path: Path, expected: str) -> dict[str, Any]:
    """A mapping file's YAML as a dict; :class:`SourceError` names the file when it is not.

    ``expected`` ends the message for YAML that is not a mapping ("a YAML mapping with ...").
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: mapping is not valid YAML ({' '.join(str(exc).split())})"
                          ) from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: mapping must be {expected}")
    return data


def load_mapping(path: Path) -> GenericMapping:
    """Load and check a mapping file; :class:`SourceError` names the file and the YAML key."""
    data = read_yaml_mapping(path, "a YAML mapping with a `tables` key")
    tables = data.get("tables")
    if isinstance(tables, dict):
        unknown = [t for t in tables if t not in RAW_COLUMNS]
        if unknown:
            raise SourceError(f"{path}: unknown table {unknown[0]!r} at tables.{unknown[0]} "
                              f"(tables: {', '.join(RAW_COLUMNS)})")
    single = {k for k, v in tables.items() if not isinstance(v, list)} if isinstance(
        tables, dict) else set()
    try:
        mapping = GenericMapping.model_validate(data)
    except ValidationError as exc:
        raise SourceError(f"{path}: invalid mapping: {validation_problems(exc, single)}") from None
    if not mapping.specs("deals"):
        raise SourceError(f"{path}: table deals is required (tables.deals)")
    for name in mapping.tables:
        for i, spec in enumerate(mapping.specs(name)):
            _check_table(path, name, None if name in single else i, spec)
    return mapping


def _check_table(path: Path, name: str, index: int | None, spec: TableMapping) -> None:
    key = f"tables.{name}" + (f"[{index}]" if index is not None else "")
    derived = {c for row in spec.rows_from_columns.values() for c in row}
    for column, column_spec in [*spec.columns.items(),
                                *((c, s) for row in spec.rows_from_columns.values()
                                  for c, s in row.items())]:
        if column not in ALLOWED[name]:
            raise SourceError(f"{path}: table {name}: unknown canonical column {column!r} at "
                              f"{key}.columns.{column} (allowed: {', '.join(ALLOWED[name])})")
        if column_spec.format is not None and column not in TIME_COLUMNS:
            raise SourceError(f"{path}: {key}.columns.{column}.format: only time columns take "
                              f"a format ({', '.join(sorted(TIME_COLUMNS))})")
    given = set(spec.columns) | derived | set(spec.context)
    for need in REQUIRED[name]:
        if not any(option in given for option in need.split("|")):
            wanted = need.replace("|", " or ")
            raise SourceError(f"{path}: table {name}: required column {wanted} is not mapped "
                              f"({key}.columns)")
    if spec.context and name != "deals":
        raise SourceError(f"{path}: {key}.context: only deals take context fields")
    from features.profile import ContextField

    for field_name, ctx in spec.context.items():
        try:
            ContextField(field_name, ctx.kind)
        except ValueError as exc:
            raise SourceError(f"{path}: {key}.context.{field_name}: {exc}") from None


def validation_problems(exc: ValidationError, single: set[str]) -> str:
    """Pydantic's errors as ``yaml.key.path: message`` (a single table's list index dropped)."""
    out = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not re.fullmatch(
            r"function-.*|str|list\[str\]|dict\[.*\]", str(p))]
        if len(loc) >= 3 and loc[0] == "tables" and loc[1] in single and loc[2] == 0:
            loc = loc[:2] + loc[3:]
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc)
        out.append(f"{key.replace('.[', '[') or 'mapping'}: {error['msg']}")
    return "; ".join(dict.fromkeys(out))
