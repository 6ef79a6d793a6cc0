"""Raw tables: what a reader hands to validation, before any value is trusted.

A reader renames its source columns to canonical names and keeps every value as text, adding
``_file`` (source file name) and ``_row`` (1-based data row number) so each row can be reported.
It also records which source column each canonical column came from, so messages name the
user's own field (``CloseDate``) rather than ours (``expected_close_date``).

Example:
    >>> import pandas as pd
    >>> raw = RawTable("deals", pd.DataFrame({"deal_id": ["d1"], "_file": ["x.csv"], "_row": [1]}),
    ...                {"deal_id": "Id"})
    >>> raw.label("deal_id"), raw.label("amount")
    ('Id', 'amount')

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.profile import PipelineProfile

#: The text columns a reader may hand over for each canonical table (absent ones read as empty).
#: Beyond the contract's columns: ``crm_stage``/``is_closed`` (deal status as the CRM has it),
#: ``source_id`` (the source row's id, for duplicate checks), ``type_raw``/``role_raw``/
#: ``field_raw`` (the CRM's own value, shown in rejections), ``old_value``/``new_value`` (text).
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "deals": ("deal_id", "account_id", "owner_id", "created_at", "amount", "currency",
              "expected_close_date", "name", "owner_name", "account_name", "segment", "region",
              "industry", "deal_type", "lead_source", "crm_stage", "is_closed", "outcome",
              "close_reason", "closed_at"),
    "stage_history": ("source_id", "deal_id", "entered_at", "crm_stage"),
    "activities": ("activity_id", "deal_id", "occurred_at", "recorded_at", "type", "type_raw",
                   "direction",
                   "contact_id", "action", "subject"),
    "contacts": ("source_id", "deal_id", "contact_id", "role", "role_raw", "added_at",
                 "is_primary"),
    "field_history": ("change_id", "deal_id", "changed_at", "field", "field_raw", "old_value",
                      "new_value"),
}


#: A reader may mark a row it reads on purpose but does not keep: the skip reason (one of
#: :data:`~features.ingest.rejections.SKIP_REASONS`) and a detail (e.g. which row took it in).
SKIP, SKIP_DETAIL = "_skip", "_skip_detail"


class SourceError(ValueError):
    """An input that cannot be read at all: unreadable file, missing column, bad mapping."""


@dataclass
class RawExport:
    """What a reader hands to validation: raw tables, what the source records, and extras.

    ``rates`` holds currency conversion rates found in the export (columns ``currency``,
    ``rate`` = units of that currency per one unit of ``reporting_currency``, and optional
    ``start``/``end`` dates of a dated rate); ``side_counts`` the row accounting of side files
    (joined tables, rate tables) as ``{table, file, read, accepted, skipped, rejected}`` rows,
    and ``side_rejections`` / ``side_skipped`` the side-file rows behind their ``rejected`` and
    ``skipped`` counts.
    """

    tables: dict[str, RawTable]
    profile: PipelineProfile = field(default_factory=PipelineProfile)
    rates: pd.DataFrame | None = None
    reporting_currency: str | None = None
    side_counts: list[dict[str, object]] = field(default_factory=list)
    #: Rows of side files rejected or skipped by the reader itself (columns of
    #: :data:`~features.ingest.rejections.REPORT_COLUMNS`), reported with the canonical tables'.
    side_rejections: pd.DataFrame | None = None
    side_skipped: pd.DataFrame | None = None


@dataclass
class RawTable:
    """Text columns with canonical names plus ``_file``/``_row`` provenance."""

    table: str
    frame: pd.DataFrame
    source_columns: dict[str, str] = field(default_factory=dict)
    #: Per source file, names that differ from ``source_columns`` (a table read from several
    #: files with their own columns).
    file_columns: dict[str, dict[str, str]] = field(default_factory=dict)

    def label(self, column: str, file: str | None = None) -> str:
        """The source's name for a canonical column (falls back to the canonical name)."""
        if file is not None and column in self.file_columns.get(file, {}):
            return self.file_columns[file][column]
        return self.source_columns.get(column, column)

    def text(self, column: str) -> pd.Series:
        """The column as text, empty strings where the source has no such column."""
        return text_getter(self.frame)(column)


def text_getter(frame: pd.DataFrame) -> Callable[[str], pd.Series]:
    """A function giving ``frame[column]`` as text ("" when missing; all "" if no such column).

    Example:
        >>> text = text_getter(pd.DataFrame({"a": ["x", None]}))
        >>> text("a").tolist(), text("b").tolist()
        (['x', ''], ['', ''])
    """
    def text(column: str) -> pd.Series:
        if column in frame.columns:
            return frame[column].astype("str").fillna("")
        return pd.Series("", index=frame.index, dtype="str")

    return text


def find_object_file(directory: Path, name: str) -> Path | None:
    """``<directory>/<name>.csv`` or ``.parquet``, whichever exists (None if neither)."""
    for suffix in (".csv", ".parquet"):
        path = directory / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def read_export(directory: Path, required: dict[str, list[str]], primary: str
                ) -> dict[str, pd.DataFrame]:
    """Read each ``<name>.csv|.parquet`` of an export directory as text.

    ``required`` maps file stems to their required columns; only ``primary`` must exist.
    Raises :class:`SourceError` for a missing directory or primary file, an unreadable file,
    or a missing required column.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceError(f"{directory}: export directory not found")
    frames: dict[str, pd.DataFrame] = {}
    for name, columns in required.items():
        path = find_object_file(directory, name)
        if path is None:
            if name == primary:
                raise SourceError(f"{directory}: no {name}.csv or {name}.parquet")
            continue
        frames[name] = read_text_table(path, columns)
    return frames


def read_text_table(path: Path, required: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file with every column as text, plus ``_file`` and ``_row``.

    CSV fields may hold quoted line breaks (a ``Description`` written over several lines) at any
    file size; a UTF-8 byte-order mark is ignored.  Raises :class:`SourceError` naming the file
    when it cannot be read, or naming the file and the columns when any of ``required`` is
    missing.
    """
    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
            table = table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))
        else:
            parse = pacsv.ParseOptions(newlines_in_values=True)
            with pacsv.open_csv(path, parse_options=parse) as reader:
                names = reader.schema.names
            convert = pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            table = pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the file ({_first_line(exc)})") from None
    frame = table.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow", na_value=float("nan")))
    frame = frame.astype("str")
    missing = [c for c in (required or []) if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{path.name}: missing required column(s) {', '.join(missing)} "
            f"(found: {', '.join(frame.columns) or 'none'})"
        )
    frame["_file"] = path.name
    frame["_row"] = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
