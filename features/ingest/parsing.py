"""Vectorised parsing of CRM text fields: timestamps, dates, amounts and booleans.

Timestamp rule (stated once, applied everywhere):
- a date-time must be ISO 8601 with its UTC offset (``2024-03-05T14:07:00.000Z``,
  ``2024-03-05 14:07:00+01:00``); it is converted to UTC;
- a date-time without an offset is rejected as ``timestamp_without_timezone`` unless the journey
  config names the zone it is in (``timestamps.naive_timezone``);
- a date alone (``2024-03-05``) is that calendar day at 00:00 UTC;
- empty text is a missing value (the caller decides whether the field is required).

Example:
    >>> import pandas as pd
    >>> text = pd.Series(["2024-03-05T14:07:00.000Z", "2024-03-05", "2024-03-05 14:07", "junk", ""])
    >>> parsed, problem = parse_timestamps(text)
    >>> [str(v) for v in parsed]
    ['2024-03-05 14:07:00+00:00', '2024-03-05 00:00:00+00:00', 'NaT', 'NaT', 'NaT']
    >>> problem.fillna("").tolist()
    ['', '', 'timestamp_without_timezone', 'bad_timestamp', '']

"""

from __future__ import annotations

import numpy as np
import pandas as pd

UTC_DTYPE = "datetime64[us, UTC]"
_HAS_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def blank(text: pd.Series) -> pd.Series:
    """Boolean mask of missing or whitespace-only text."""
    return text.isna() | (text.astype("str").str.strip() == "")


def parse_timestamps(
    text: pd.Series, naive_timezone: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Parse ISO 8601 text to UTC timestamps.

    Returns ``(parsed, problem)``: ``parsed`` is ``datetime64[us, UTC]`` with NaT where empty or
    invalid; ``problem`` holds ``None`` or the rejection reason for each row.
    """
    text = text.astype("str").str.strip()
    empty = blank(text)
    parsed = pd.Series(pd.NaT, index=text.index, dtype=UTC_DTYPE)
    problem = pd.Series(None, index=text.index, dtype=object)

    has_offset = text.str.contains(_HAS_OFFSET, regex=True).fillna(False) & ~empty
    date_only = text.str.match(_DATE_ONLY).fillna(False) & ~empty
    naive = ~empty & ~has_offset & ~date_only

    if has_offset.any():
        parsed[has_offset] = _to_utc(text[has_offset], utc=True)
    if date_only.any():
        dates = pd.to_datetime(text[date_only], format="%Y-%m-%d", errors="coerce")
        parsed[date_only] = dates.dt.tz_localize("UTC").astype(UTC_DTYPE)
    if naive.any():
        if naive_timezone is None:
            ok = pd.to_datetime(text[naive], format="ISO8601", errors="coerce").notna()
            problem[naive] = np.where(ok, "timestamp_without_timezone", "bad_timestamp")
        else:
            local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            parsed[naive] = (
                local.dt.tz_localize(naive_timezone, ambiguous="NaT", nonexistent="NaT")
                .dt.tz_convert("UTC")
                .astype(UTC_DTYPE)
            )
    failed = ~empty & parsed.isna() & problem.isna()
    problem[failed] = "bad_timestamp"
    return parsed, problem


def _to_utc(text: pd.Series, *, utc: bool) -> pd.Series:
    try:
        out = pd.to_datetime(text, format="ISO8601", utc=utc, errors="coerce")
    except (ValueError, OverflowError):  # pragma: no cover - pandas coerces nearly everything
        out = pd.Series(pd.NaT, index=text.index)
    return out.astype(UTC_DTYPE)


def parse_amounts(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse non-negative decimal amounts; returns ``(values, bad)``; empty text is not bad.

    Example:
        >>> vals, bad = parse_amounts(pd.Series(["10.5", "-3", "abc", ""]))
        >>> vals.tolist()[:1], bad.tolist()
        ([10.5], [False, True, True, False])

    """
    text = text.astype("str").str.strip()
    empty = blank(text)
    values = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
    bad = ~empty & (values.isna() | (values < 0) | ~np.isfinite(values.fillna(0.0)))
    return values.where(~bad), bad


def parse_bools(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse true/false text (true, false, 1, 0, yes, no); returns ``(values, bad)``.

    Example:
        >>> vals, bad = parse_bools(pd.Series(["true", "FALSE", "", "maybe"]))
        >>> vals.tolist(), bad.tolist()
        ([True, False, <NA>, <NA>], [False, False, False, True])

    """
    folded = text.astype("str").str.strip().str.lower()
    empty = blank(text)
    is_true = folded.isin(_TRUE)
    is_false = folded.isin(_FALSE)
    values = pd.Series(pd.NA, index=text.index, dtype="boolean")
    values[is_true] = True
    values[is_false] = False
    bad = ~empty & ~is_true & ~is_false
    return values, bad
