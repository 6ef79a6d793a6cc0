"""Canonical rows as plain tuples, for exact comparison with hand-written expectations."""

import pandas as pd


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Rows as tuples with missing values as None and times as ISO text."""
    return [tuple(None if pd.isna(v) else (v.isoformat() if isinstance(v, pd.Timestamp) else v)
                  for v in row)
            for row in frame[columns].itertuples(index=False)]
