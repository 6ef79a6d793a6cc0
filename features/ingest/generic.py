"""Reader for generic CSV / Parquet files described by a YAML column mapping.

The mapping (schema and checks: :mod:`features.ingest.mapping`) names, per canonical table, its
file(s) relative to the mapping file's folder and how each canonical column is made.  A complete
example -- a spreadsheet pipeline with one row per opportunity, account and team side tables,
no activities (``examples/crm_pipeline/mapping.yaml``)::

    name: crm_pipeline                   # the pipeline's name (default: the folder's name)
    timestamps: {naive_timezone: UTC}    # zone of times without an offset (default: reject)
    numbers: {decimal: ".", thousands: ","}
    journey:                             # journey config overrides for this export
      stages: {Engaging: {step: problem_shared}, Won: {status: won}, Lost: {status: lost}}
    tables:
      deals:
        file: sales_pipeline.csv         # or a list of files with the same columns
        join:                            # side tables, joined by key (left join)
          - {file: accounts.csv, on: {account: account}}           # columns: accounts.<col>
          - {file: sales_teams.csv, on: {sales_agent: sales_agent}, as: team}
        columns:
          deal_id: opportunity_id
          owner_id: sales_agent
          owner_name: sales_agent          # names shown instead of ids (optional)
          account_id: {column: account, missing: unknown account}  # empty -> this value
          account_name: account
          created_at: {column: engage_date, format: "%Y-%m-%d"}
          closed_at: {column: close_date, format: "%Y-%m-%d"}
          crm_stage: deal_stage
          amount: close_value
          currency: {value: USD}                                    # a constant
          region: team.regional_office
        context:                         # typed custom context fields (model features)
          account_revenue: {column: accounts.revenue, kind: number}
          sector: {column: accounts.sector, kind: category}
      stage_history:
        file: sales_pipeline.csv
        columns: {deal_id: opportunity_id}
        rows_from_columns:               # one stage row per date column with a value
          engage_date: {crm_stage: {value: Engaging}, entered_at: {column: engage_date,
                                                                  format: "%Y-%m-%d"}}
      activities:                        # several files with their own columns: a list
        - {file: calls.csv, columns: {...}}
        - {file: emails.csv, columns: {...}}

Canonical names are those of :data:`features.ingest.raw.RAW_COLUMNS`, plus ``call_direction``
for activities.  ``deals`` is required; every other table is optional.  Per table these must be
mapped (alternatives separated by ``|``): :data:`~features.ingest.mapping.REQUIRED`.

What the pipeline's export records goes into its :class:`~features.profile.PipelineProfile`: a
field history tracks the fields its rows name, or those its ``tracks:`` lists; a stage history
says ``entries: latest`` when the source keeps only the latest entry into each stage; contacts
without an ``added_at`` are known from their first activity; a table left out means the export
has none (and the features that need it are left out).

Derived columns (values stay text; :mod:`features.ingest.validate` checks them):

- times with a ``format`` (and ``timezone``) are rewritten as ISO 8601 with their offset; a value
  that does not match the format is passed on unchanged, so validation reports it;
- activities: ``type_raw`` (or ``type``), ``subject`` and ``call_direction`` go through
  :func:`~features.ingest.activities.classify_activities`; a mapped ``type``, ``direction`` or
  ``action`` is used as given where non-empty, the classified value elsewhere;
- contacts: a mapped ``role_raw`` goes through ``config.roles`` (empty → ``other``) unless
  ``role`` is mapped;
- field history: a mapped ``field_raw`` of ``close_date`` / ``CloseDate`` / ``expected close
  (date)`` / ``closing date`` becomes ``close_date`` and ``amount`` / ``value`` / ``deal value``
  becomes ``amount`` (case, spaces and underscores ignored); other fields are skipped (not an
  error).

Row accounting: rows are reported under the ``file`` as written in the mapping; when several
tables read the same file, as ``<file>#<table>``; derived rows as ``<file>#<source column>``;
side-table rows that no row refers to are skipped as ``unreferenced``.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "map.yaml").write_text("tables: {opportunities: {file: o.csv, columns: {}}}")
    >>> try:
    ...     read_generic(folder / "map.yaml", None)
    ... except SourceError as exc:
    ...     print(str(exc).replace(str(folder), "<folder>"))  # doctest: +ELLIPSIS
    <folder>/map.yaml: unknown table 'opportunities' at tables.opportunities (tables: deals, ...)
    >>> import shutil; shutil.rmtree(folder)

"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import TRACKED_FIELDS
from features.ingest.activities import classify_activities
from features.ingest.mapping import (
    ColumnSpec,
    GenericMapping,
    JoinSpec,
    TableMapping,
    load_mapping,
)
from features.ingest.parsing import LATER_INSTANT, blank, map_distinct
from features.ingest.raw import RawExport, RawTable, SourceError, read_text_table, text_getter
from features.journey import JourneyConfig
from features.profile import ContextField, PipelineProfile

__all__ = ["iso_times", "load_mapping", "read_generic"]

_FIELDS = {"closedate": "close_date", "expectedclosedate": "close_date",
           "expectedclose": "close_date", "closingdate": "close_date", "amount": "amount",
           "value": "amount", "dealvalue": "amount"}


def read_generic(mapping_path: Path, config: JourneyConfig | None
                 ) -> tuple[RawExport, JourneyConfig]:
    """Read the files a YAML mapping describes into raw canonical tables.

    Returns the raw export and the journey config with the mapping's ``timestamps`` and
    ``numbers`` rules applied.  Raises :class:`SourceError` for any problem with the mapping or
    its files (naming the mapping file, the table and the column or YAML key).
    """
    mapping_path = Path(mapping_path)
    mapping = load_mapping(mapping_path)
    config = config or JourneyConfig.default()
    updates = {k: getattr(mapping, k) for k in ("timestamps", "numbers")
               if getattr(mapping, k) is not None}
    config = config.model_copy(update=updates) if updates else config
    if mapping.journey:
        try:
            config = config.merged(mapping.journey, where=f"{mapping_path}: journey")
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    reader = _Reader(mapping_path, mapping, config)
    tables = {name: reader.table(name) for name in mapping.tables}
    profile = _profile(mapping, tables)
    return RawExport(tables, profile, side_counts=reader.side_counts()), config


def _profile(mapping: GenericMapping, tables: dict[str, RawTable]) -> PipelineProfile:
    deals = mapping.specs("deals")
    context = tuple(ContextField(name, spec.kind, spec.meaning, spec.phrase)
                    for spec in deals for name, spec in spec.context.items())
    changes = mapping.specs("field_history")
    declared = [f for s in changes if s.tracks is not None for f in s.tracks]
    seen = set(tables["field_history"].frame["field"]) if "field_history" in tables else set()
    tracked = tuple(f for f in TRACKED_FIELDS if f in declared or f in seen)
    contacts = mapping.specs("contacts")
    join_known = all("added_at" in s.columns for s in contacts)
    return PipelineProfile(
        name=mapping.name or "", source="generic", tracked_fields=tracked,
        stage_entries=("none" if not mapping.specs("stage_history") else "latest"
                       if any(s.entries == "latest" for s in mapping.specs("stage_history"))
                       else "all"),
        has_activities=bool(mapping.specs("activities")), has_contacts=bool(contacts),
        contact_join_times="recorded" if join_known else "first_activity", context=context)


class _Reader:
    """Reads a mapping's files once each, joins side tables and builds raw tables."""

    def __init__(self, path: Path, mapping: GenericMapping, config: JourneyConfig) -> None:
        self.path, self.mapping, self.config = path, mapping, config
        self.uses = Counter(f for specs in mapping.tables.values() for s in specs
                            for f in s.files)
        #: per side file: which of its rows some row joined (the others are unreferenced)
        self.side: dict[str, np.ndarray] = {}

    def table(self, name: str) -> RawTable:
        parts, labels, by_file = [], {}, {}
        for i, spec in enumerate(self.mapping.specs(name)):
            key = f"tables.{name}" + (f"[{i}]" if len(self.mapping.specs(name)) > 1 else "")
            frame, part_labels = self._part(name, key, spec)
            parts.append(frame)
            labels = {**part_labels, **labels}
            for file in frame["_file"].astype("str").unique():
                by_file[file] = part_labels
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        raw = _DERIVE[name](frame, labels, self.config)
        if len(parts) > 1:
            raw.file_columns = by_file
        return raw

    def side_counts(self) -> list[dict[str, object]]:
        """Accounting of the side tables: joined rows accepted, unreferenced rows skipped."""
        return [{"table": "side table", "file": file, "read": len(used),
                 "accepted": int(used.sum()), "skipped": int((~used).sum()), "rejected": 0}
                for file, used in self.side.items()]

    # ----------------------------------------------------------------------------- one part
    def _part(self, name: str, key: str, spec: TableMapping) -> tuple[pd.DataFrame, dict]:
        where = f"{self.path}: table {name}"
        frames = []
        for file in spec.files:
            frame = self._read(where, file)
            label = file if self.uses[file] == 1 else f"{file}#{name}"
            frames.append(frame.assign(_file=label))
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        for join in spec.join:
            frame = self._join(where, key, frame, join)
        columns = {c: s.column for c, s in spec.columns.items()}
        self._check_columns(where, spec, frame, columns)
        if spec.rows_from_columns:
            out = self._derived_rows(frame, spec)
        else:
            out = self._columns(frame, spec.columns)
        for field_name, ctx in spec.context.items():
            out[field_name] = self._values(frame, ctx).to_numpy()
        labels = {c: s for c, s in columns.items() if s is not None}
        labels.update({f: c.column or f for f, c in spec.context.items()})
        return out, labels

    def _read(self, where: str, file: str) -> pd.DataFrame:
        path = Path(file) if Path(file).is_absolute() else self.path.parent / file
        if not path.is_file():
            raise SourceError(f"{where}: file {file} not found ({path})")
        try:
            return read_text_table(path)
        except SourceError as exc:
            raise SourceError(f"{where}: {exc}") from None

    def _check_columns(self, where: str, spec: TableMapping, frame: pd.DataFrame,
                       columns: dict[str, str | None]) -> None:
        wanted = dict(columns)
        wanted.update({f"context {f}": c.column for f, c in spec.context.items()})
        for source, row in spec.rows_from_columns.items():
            wanted[f"rows_from_columns {source}"] = source
            wanted.update({f"{c} (from {source})": s.column for c, s in row.items()})
        missing = {c: s for c, s in wanted.items() if s is not None and s not in frame.columns}
        if missing:
            files = ", ".join(spec.files)
            which = ", ".join(f"{c} (mapped to {s!r})" for c, s in missing.items())
            found = ", ".join(c for c in frame.columns if not c.startswith("_"))
            raise SourceError(f"{where}: {files} has no column for {which}; found: {found}")

    def _join(self, where: str, key: str, frame: pd.DataFrame, join: JoinSpec) -> pd.DataFrame:
        side = self._read(where, join.file)
        side_where = f"{where}: join {join.file}"
        for left, right in join.on.items():
            if left not in frame.columns:
                raise SourceError(f"{side_where}: no column {left!r} to join on ({key}.join.on)")
            if right not in side.columns:
                raise SourceError(f"{side_where}: {join.file} has no column {right!r} "
                                  f"({key}.join.on)")
        rights = list(join.on.values())
        duplicated = side.duplicated(rights, keep="first")
        if duplicated.any():
            row = side.loc[duplicated, "_row"].iloc[0]
            value = ", ".join(side.loc[duplicated, rights].iloc[0].astype(str))
            raise SourceError(f"{side_where}: key {value!r} appears more than once (row {row}); "
                              "a side table needs one row per key")
        renamed = side.drop(columns=["_file"]).rename(
            columns={c: f"{join.name}.{c}" for c in side.columns if c != "_file"})
        right_keys = [f"{join.name}.{r}" for r in rights]
        merged = frame.merge(renamed, how="left", left_on=list(join.on), right_on=right_keys,
                             sort=False)
        used = side["_row"].isin(merged[f"{join.name}._row"].dropna().astype("int64"))
        self.side[join.file] = used.to_numpy() | self.side.get(join.file, False)
        merged = merged.drop(columns=[f"{join.name}._row"])
        text_columns = [c for c in renamed.columns if c in merged.columns]
        merged[text_columns] = merged[text_columns].fillna("").astype("str")
        return merged

    def _columns(self, frame: pd.DataFrame, specs: dict[str, ColumnSpec]) -> pd.DataFrame:
        out = pd.DataFrame({c: self._values(frame, s) for c, s in specs.items()},
                           index=frame.index)
        out["_file"] = frame["_file"].astype("str")
        out["_row"] = frame["_row"]
        return out

    def _derived_rows(self, frame: pd.DataFrame, spec: TableMapping) -> pd.DataFrame:
        parts = []
        for source, row in spec.rows_from_columns.items():
            present = ~blank(frame[source].astype("str"))
            picked = frame[present]
            part = self._columns(picked, {**spec.columns, **row})
            part["_file"] = picked["_file"].astype("str") + f"#{source}"
            if "source_id" not in part:
                base = self._values(picked, spec.columns["deal_id"]) if "deal_id" in \
                    spec.columns else picked["_row"].astype("str")
                part["source_id"] = base + f"#{source}"
            parts.append(part)
        return pd.concat(parts, ignore_index=True).sort_values(["_row"], kind="stable")

    def _values(self, frame: pd.DataFrame, spec: ColumnSpec) -> pd.Series:
        text = text_getter(frame)
        values = (pd.Series(spec.value, index=frame.index, dtype="str") if spec.value is not None
                  else text(str(spec.column)))
        if spec.missing is not None:
            values = values.where(~blank(values), spec.missing)
        if spec.format is not None or spec.timezone is not None:
            zone = spec.timezone or self.config.timestamps.naive_timezone
            values = iso_times(values, spec.format, zone)
        return values


def iso_times(text: pd.Series, fmt: str | None, zone: str | None) -> pd.Series:
    """Times read with ``fmt`` (and ``zone`` for those without an offset) as ISO 8601 text.

    Times with an offset (``%z``) or a zone come out with their UTC offset; without either they
    stay local (validation then applies ``timestamps.naive_timezone`` or rejects them).  A
    format without a time of day (``%m/%d/%Y``) gives a plain date, zone or not: validation
    reads it as the start of that UTC day, or its end for an event.  A value that does not match
    the format is passed on with a note saying so, so validation rejects it as ``bad_timestamp``
    showing the value and the format.

    Example:
        >>> iso_times(pd.Series(["8/30/2017"]), "%m/%d/%Y", "America/New_York").tolist()
        ['2017-08-30']
        >>> iso_times(pd.Series(["2/26/2018 19:58", "2018-02-26"]), "%m/%d/%Y %H:%M",
        ...            "America/New_York").tolist()
        ['2018-02-26T19:58:00-0500', "2018-02-26 (does not match the format '%m/%d/%Y %H:%M')"]
    """
    stripped = text.astype("str").str.strip()
    aware = fmt is not None and "%z" in fmt
    parsed = pd.to_datetime(stripped.where(~blank(stripped)), format=fmt or "ISO8601",
                            errors="coerce", utc=aware)
    date_only = fmt is not None and not any(d in fmt for d in _TIME_DIRECTIVES)
    if date_only:  # a date stays a date: validation decides the start or the end of its day
        iso = parsed.dt.strftime("%Y-%m-%d")
    else:
        if parsed.dt.tz is None and zone is not None:
            parsed = parsed.dt.tz_localize(zone, ambiguous=LATER_INSTANT,
                                           nonexistent="shift_forward")
        iso = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%z" if parsed.dt.tz is not None
                                 else "%Y-%m-%dT%H:%M:%S")
    failed = parsed.isna() & ~blank(stripped)
    note = f" (does not match the format {fmt!r})" if fmt else ""
    return iso.astype("str").where(parsed.notna(), text.astype("str").where(
        ~failed, stripped + note))


_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%f", "%z", "%X", "%c", "%T", "%R")


def _activities(frame: pd.DataFrame, columns: dict[str, str], config: JourneyConfig) -> RawTable:
    text = text_getter(frame)
    kind = text("type_raw") if "type_raw" in frame.columns else text("type")
    calls = text("call_direction") if "call_direction" in frame.columns else None
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
    if "role" not in frame.columns:
        raw = text_getter(frame)("role_raw")
        out["role"] = map_distinct(raw, lambda r: config.role(r) if r.strip() else "other"
                                   ).astype("str")
    labels = dict(columns)
    labels.setdefault("role", columns.get("role_raw", "role"))
    return RawTable("contacts", out, labels)


def _field_history(frame: pd.DataFrame, columns: dict[str, str],
                   config: JourneyConfig) -> RawTable:
    out = frame.copy()
    if "field" not in frame.columns:
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
