"""Append-only table files (CSV or Parquet) written chunk by chunk with bounded memory.

Parquet row groups have a fixed number of rows (not one per chunk), so the bytes of
a file do not depend on the simulation's chunk size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

Format = Literal["csv", "parquet"]


class TableFile:
    """One output table; call :meth:`write` per chunk and :meth:`close` once.

    Example:
        >>> import pyarrow as pa, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "T.csv"
        >>> f = TableFile(p, "csv")
        >>> f.write(pa.table({"a": ["x"]})); f.close()
        >>> p.read_text().splitlines()
        ['"a"', '"x"']
    """

    def __init__(self, path: Path, fmt: Format, row_group_rows: int = 131_072) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._writer: pcsv.CSVWriter | pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._schema: pa.Schema | None = None

    def _open(self, schema: pa.Schema) -> None:
        self._schema = schema
        if self.fmt == "csv":
            self._writer = pcsv.CSVWriter(str(self.path), schema)
        else:
            self._writer = pq.ParquetWriter(str(self.path), schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        """Append rows (the first call fixes the schema)."""
        if self._writer is None:
            self._open(table.schema)
        self.rows += table.num_rows
        if self.fmt == "csv":
            if table.num_rows:
                self._writer.write_table(table)  # type: ignore[union-attr]
            return
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= self.row_group_rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._buffer:
            return
        data = pa.concat_tables(self._buffer).combine_chunks()
        start = 0
        while data.num_rows - start >= self.row_group_rows or (final and start < data.num_rows):
            part = data.slice(start, self.row_group_rows)
            self._writer.write_table(part, row_group_size=self.row_group_rows)  # type: ignore[union-attr]
            start += part.num_rows
        rest = data.slice(start)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def close(self, schema: pa.Schema | None = None) -> None:
        """Flush and close; ``schema`` creates an empty file if nothing was written."""
        if self._writer is None:
            if schema is None:
                return
            self._open(schema)
        if self.fmt == "parquet":
            self._flush(final=True)
        self._writer.close()  # type: ignore[union-attr]
