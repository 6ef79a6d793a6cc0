"""``DealHistories``: the five canonical tables and the pipeline's profile, with Parquet round-trip.

The deals table may carry the pipeline's own context columns (``profile.context``) after the
contract's columns; every other table has exactly the contract's columns.

Example:
    >>> h = DealHistories.empty()
    >>> h.row_counts()
    {'deals': 0, 'stage_history': 0, 'activities': 0, 'contacts': 0, 'field_history': 0}
    >>> h.profile.left_out()
    {}

"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import PANDAS_DTYPES, TABLES_BY_NAME, TableSpec
from features.profile import PipelineProfile

#: The table names, in contract order.
TABLE_NAMES: tuple[str, ...] = tuple(TABLES_BY_NAME)
PROFILE_FILE = "pipeline.json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAT = int(np.iinfo(np.int64).min)  # NaT as int64


@dataclass
class DealHistories:
    """Canonical deal histories: one DataFrame per table of :mod:`features.contract`."""

    deals: pd.DataFrame
    stage_history: pd.DataFrame
    activities: pd.DataFrame
    contacts: pd.DataFrame
    field_history: pd.DataFrame
    profile: PipelineProfile = field(default_factory=PipelineProfile)

    @classmethod
    def empty(cls, profile: PipelineProfile | None = None) -> DealHistories:
        """Histories with no rows (every table with its columns and dtypes)."""
        return cls(**{name: TABLES_BY_NAME[name].empty() for name in TABLE_NAMES},
                   profile=profile or PipelineProfile()).conformed()

    @classmethod
    def from_records(cls, records: Mapping[str, Sequence[Mapping[str, object]]],
                     profile: PipelineProfile | None = None) -> DealHistories:
        """Histories from plain row dicts per table (canonical names; a missing table: empty).

        Times may be timezone-aware datetimes or ISO 8601 text (a time without an offset is
        read as UTC); they become UTC.  An unknown table name is a ``ValueError``.

        Example:
            >>> h = DealHistories.from_records({"deals": [{
            ...     "deal_id": "d1", "account_id": "a", "owner_id": "o", "amount": 5.0,
            ...     "created_at": "2024-01-01T00:00:00+01:00"}]})
            >>> h.row_counts()["deals"], str(h.deals["created_at"].iloc[0])
            (1, '2023-12-31 23:00:00+00:00')
        """
        unknown = sorted(set(records) - set(TABLE_NAMES))
        if unknown:
            raise ValueError(f"unknown tables {unknown}; the tables are {list(TABLE_NAMES)}")
        tables = {}
        for name in TABLE_NAMES:
            spec, rows = TABLES_BY_NAME[name], records.get(name, ())
            tables[name] = _records_frame(spec, rows) if rows else spec.empty()
        return cls(**tables, profile=profile or PipelineProfile()).conformed()

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by canonical name, in contract order."""
        return {name: getattr(self, name) for name in TABLE_NAMES}

    def row_counts(self) -> dict[str, int]:
        """Number of rows in each table."""
        return {name: len(frame) for name, frame in self.tables().items()}

    def for_deals(self, deal_ids: Sequence[str]) -> DealHistories:
        """The histories of ``deal_ids`` only (every table's rows of those deals).

        Example:
            >>> h = DealHistories.from_records({"deals": [
            ...     {"deal_id": d, "account_id": "a", "owner_id": "o", "amount": 1.0,
            ...      "created_at": "2024-01-01T00:00:00Z"} for d in ("d1", "d2")]})
            >>> h.for_deals(["d2"]).deals["deal_id"].tolist()
            ['d2']
        """
        keep = set(map(str, deal_ids))
        tables = {name: frame[frame["deal_id"].astype("str").isin(keep)].reset_index(drop=True)
                  for name, frame in self.tables().items()}
        return DealHistories(**tables, profile=self.profile)

    def conformed(self) -> DealHistories:
        """A copy with every table cast to exactly the contract's columns and dtypes.

        The deals table keeps the profile's context columns (numbers as float, categories as
        text); a context column the deals lack is added empty.
        """
        tables = {name: TABLES_BY_NAME[name].conform(frame)
                  for name, frame in self.tables().items()}
        for ctx in self.profile.context:
            dtype = PANDAS_DTYPES["float" if ctx.kind == "number" else "str"]
            source = self.deals[ctx.name] if ctx.name in self.deals.columns else pd.Series(
                pd.NA, index=self.deals.index, dtype=dtype)
            tables["deals"][ctx.name] = source.astype(dtype).to_numpy()
        return DealHistories(**tables, profile=self.profile)

    def to_parquet(self, directory: Path) -> dict[str, Path]:
        """Write each table as ``<directory>/<table>.parquet`` and the profile as JSON."""
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, frame in self.tables().items():
            path = directory / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            written[name] = path
        written["profile"] = directory / PROFILE_FILE
        written["profile"].write_text(json.dumps(self.profile.to_dict(), indent=2) + "\n")
        return written

    @classmethod
    def read_parquet(cls, directory: Path) -> DealHistories:
        """Read tables written by :meth:`to_parquet` (a missing file is a clear error).

        A directory without ``pipeline.json`` (written before profiles existed) reads with the
        default profile.
        """
        tables = {}
        for name in TABLE_NAMES:
            path = directory / f"{name}.parquet"
            if not path.is_file():
                raise FileNotFoundError(f"canonical table {name!r} not found: {path}")
            tables[name] = pd.read_parquet(path)
        pa.default_memory_pool().release_unused()  # hand Parquet decode buffers back to the OS
        profile_path = directory / PROFILE_FILE
        profile = (PipelineProfile.from_dict(json.loads(profile_path.read_text()))
                   if profile_path.is_file() else PipelineProfile())
        return cls(**tables, profile=profile).conformed()


def _records_frame(spec: TableSpec, rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """One table from row dicts, built column by column: every key of any row is a column.

    Values stay Python objects (no per-cell type inference: :meth:`TableSpec.conform` casts
    them); the contract's time columns become UTC times (:func:`utc_times`).
    """
    kinds = {column.name: column.kind for column in spec.columns}
    first = rows[0].keys()
    names = list(first)
    if all(row.keys() == first for row in rows):  # the usual case: one shape, read in C
        values = list(zip(*map(itemgetter(*names), rows), strict=True)) if len(names) > 1 \
            else [tuple(map(itemgetter(*names), rows))]
    else:
        names = list(dict.fromkeys(key for row in rows for key in row))
        values = [[row.get(name) for row in rows] for name in names]
    return pd.DataFrame({
        name: utc_times(column) if kinds.get(name) == "datetime"
        else pd.Series(column, dtype=object)
        for name, column in zip(names, values, strict=True)})


def utc_times(values: Sequence[object]) -> pd.Series:
    """Times (timezone-aware datetimes, ISO 8601 text, empty) as UTC.

    Text without an offset is read as UTC.  Aware ``datetime`` objects (what a validated
    request holds) are converted exactly in integer microseconds, several times faster than
    pandas' per-object path; anything else goes through :func:`pandas.to_datetime`.

    Example:
        >>> from datetime import timezone
        >>> t = datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
        >>> [str(v) for v in utc_times([t, None])]
        ['2024-01-01 00:00:00+00:00', 'NaT']
        >>> str(utc_times(["2024-01-01T00:00:00"])[0])
        '2024-01-01 00:00:00+00:00'
    """
    if all(v is None or (type(v) is datetime and v.tzinfo is not None) for v in values):
        micros = np.array([_NAT if v is None else (v - _EPOCH) // _MICROSECOND
                           for v in values], dtype=np.int64)
        return pd.Series(micros.view("datetime64[us]")).dt.tz_localize(UTC)
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
