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
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.contract import PANDAS_DTYPES, TABLES_BY_NAME
from features.profile import PipelineProfile

#: The table names, in contract order.
TABLE_NAMES: tuple[str, ...] = tuple(TABLES_BY_NAME)
PROFILE_FILE = "pipeline.json"


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
            frame = pd.DataFrame(list(rows)) if rows else spec.empty()
            for column in spec.columns:
                if column.kind == "datetime" and column.name in frame:
                    frame[column.name] = pd.to_datetime(frame[column.name], utc=True,
                                                        format="ISO8601")
            tables[name] = frame
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
