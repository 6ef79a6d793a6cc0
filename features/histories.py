"""``DealHistories``: the five canonical tables held together, with Parquet round-trip.

Example:
    >>> h = DealHistories.empty()
    >>> h.row_counts()
    {'deals': 0, 'stage_history': 0, 'activities': 0, 'contacts': 0, 'field_history': 0}

"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.contract import TABLES_BY_NAME


@dataclass
class DealHistories:
    """Canonical deal histories: one DataFrame per table of :mod:`features.contract`."""

    deals: pd.DataFrame
    stage_history: pd.DataFrame
    activities: pd.DataFrame
    contacts: pd.DataFrame
    field_history: pd.DataFrame

    @classmethod
    def empty(cls) -> DealHistories:
        """Histories with no rows (every table with its columns and dtypes)."""
        return cls(**{f.name: TABLES_BY_NAME[f.name].empty() for f in fields(cls)})

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by canonical name, in contract order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def row_counts(self) -> dict[str, int]:
        """Number of rows in each table."""
        return {name: len(frame) for name, frame in self.tables().items()}

    def conformed(self) -> DealHistories:
        """A copy with every table cast to exactly the contract's columns and dtypes."""
        return DealHistories(
            **{name: TABLES_BY_NAME[name].conform(frame) for name, frame in self.tables().items()}
        )

    def to_parquet(self, directory: Path) -> dict[str, Path]:
        """Write each table as ``<directory>/<table>.parquet``; return the written paths."""
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, frame in self.tables().items():
            path = directory / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            written[name] = path
        return written

    @classmethod
    def read_parquet(cls, directory: Path) -> DealHistories:
        """Read tables written by :meth:`to_parquet` (a missing file is a clear error)."""
        tables = {}
        for name, spec in TABLES_BY_NAME.items():
            path = directory / f"{name}.parquet"
            if not path.is_file():
                raise FileNotFoundError(f"canonical table {name!r} not found: {path}")
            tables[name] = spec.conform(pd.read_parquet(path))
        pa.default_memory_pool().release_unused()  # hand Parquet decode buffers back to the OS
        return cls(**tables)
