"""Vectorised parsing of CRM text fields: timestamps, dates, amounts and booleans.

Timestamp rule (stated once, applied everywhere):
- a date-time must be ISO 8601 with its UTC offset (``2024-03-05T14:07:00.000Z``,
  ``2024-03-05 14:07:00+01:00``); it is converted to UTC;
- a date-time without an offset is rejected as ``timestamp_without_timezone`` unless the journey
  config names the zone it is in (``timestamps.naive_timezone``); a local time the clocks pass
  twice is the later instant, one they skip is moved past the gap;
- a date alone (``2024-03-05``) is that UTC calendar day: 00:00 for a date such as an expected
  close date, but the end of the day (23:59:59.999) for the time of an *event* (a deal created,
  closed or entering a stage, an activity, a change): the date says only that it happened some
  time that day, so it is known once the day is over (``date_at="end"``);
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

import re
from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.journey import NumberFormat

UTC_DTYPE = "datetime64[us, UTC]"
_HAS_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
#: A local time the clocks pass twice (when they go back) is the later of the two instants, so
#: an event is never placed before it happened; one they skip is moved past the gap.
LATER_INSTANT = False
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def is_in(values: pd.Series, allowed: Iterable[object]) -> pd.Series:
    """Boolean mask of ``values`` found in ``allowed``, by an Arrow hash lookup.

    (pandas' ``isin`` on Arrow strings loops in Python.)

    Example:
        >>> is_in(pd.Series(["a", "b", None]), ["b"]).tolist()
        [False, True, False]
    """
    pool = allowed if isinstance(allowed, pd.Index | pd.Series | np.ndarray) else list(allowed)
    found = pc.is_in(pa.array(values.astype("str")),
                     value_set=pa.array(pd.Series(pool, dtype=object).astype("str")))
    return pd.Series(found.fill_null(False).to_numpy(zero_copy_only=False), index=values.index,
                     dtype=bool)


def map_distinct(values: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """``values.map(fn)`` working out each distinct value once.

    CRM columns repeat a handful of stage names, roles and reasons over millions of rows.

    Example:
        >>> map_distinct(pd.Series(["a", "b", "a"]), str.upper).tolist()
        ['A', 'B', 'A']
    """
    codes, uniques = pd.factorize(values)
    missing = codes < 0
    table = np.empty(len(uniques) + 1, dtype=object)  # element by element: no array coercion
    for i, u in enumerate(uniques):
        table[i] = fn(u)
    table[-1] = fn(values[missing].iloc[0]) if missing.any() else None  # code -1: missing
    return pd.Series(table[codes], index=values.index, dtype=object)


def blank(text: pd.Series) -> pd.Series:
    """Boolean mask of missing or whitespace-only text."""
    return text.isna() | (text.astype("str").str.strip() == "")


def parse_timestamps(
    text: pd.Series, naive_timezone: str | None = None, date_at: Literal["start", "end"] = "start"
) -> tuple[pd.Series, pd.Series]:
    """Parse ISO 8601 text to UTC timestamps.

    Returns ``(parsed, problem)``: ``parsed`` is ``datetime64[us, UTC]`` with NaT where empty or
    invalid; ``problem`` holds ``None`` or the rejection reason for each row.  ``date_at`` says
    whether a date alone is the start or the end of its day (see the module docstring).

    Example:
        >>> parse_timestamps(pd.Series(["2024-03-05"]), date_at="end")[0].tolist()
        [Timestamp('2024-03-05 23:59:59.999000+0000', tz='UTC')]
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
        if date_at == "end":
            dates = dates + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
        parsed[date_only] = dates.dt.tz_localize("UTC").astype(UTC_DTYPE)
    if naive.any():
        if naive_timezone is None:
            ok = pd.to_datetime(text[naive], format="ISO8601", errors="coerce").notna()
            problem[naive] = np.where(ok, "timestamp_without_timezone", "bad_timestamp")
        else:
            local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            parsed[naive] = (
                local.dt.tz_localize(naive_timezone, ambiguous=LATER_INSTANT,
                                     nonexistent="shift_forward")
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


def parse_amounts(text: pd.Series, numbers: NumberFormat | None = None
                  ) -> tuple[pd.Series, pd.Series]:
    """Parse non-negative amounts; returns ``(values, bad)``; empty text is not bad.

    Thousands separators and a currency code or symbol before or after the number are allowed
    (see :class:`~features.journey.NumberFormat`); use :func:`amount_currencies` for the
    currency an amount names.

    Example:
        >>> vals, bad = parse_amounts(pd.Series(["10.5", "-3", "abc", "", "USD 1,234.50"]))
        >>> vals.tolist()[:1], vals.tolist()[-1], bad.tolist()
        ([10.5], 1234.5, [False, True, True, False, False])
        >>> from features.journey import NumberFormat
        >>> parse_amounts(pd.Series(["1.234,5 €"]), NumberFormat(decimal=",", thousands="."))[0][0]
        np.float64(1234.5)
    """
    numbers = numbers or NumberFormat()
    text = text.astype("str").str.strip()
    empty = blank(text)
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    if numbers.decimal == ".":  # plain numbers need no pattern work (most exports)
        values = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
    rest = ~empty & values.isna()
    if rest.any():
        values[rest] = _parse_formatted(text[rest], numbers)
    bad = ~empty & (values.isna() | (values < 0) | ~np.isfinite(values.fillna(0.0)))
    return values.where(~bad), bad


def _parse_formatted(text: pd.Series, numbers: NumberFormat) -> pd.Series:
    number = _strip_currency(_clean_spaces(text), numbers)[0]
    shape = number.str.fullmatch(_number_pattern(numbers)).fillna(False).astype(bool)
    if numbers.thousands:
        number = number.str.replace(numbers.thousands, "", regex=False)
    number = number.str.replace(numbers.decimal, ".", regex=False)
    return pd.to_numeric(number.where(shape), errors="coerce").astype("float64")


def amount_currencies(text: pd.Series, numbers: NumberFormat | None = None) -> pd.Series:
    """The ISO currency each amount names by code or symbol (missing when none).

    Example:
        >>> amount_currencies(pd.Series(["USD 10", "10 €", "$5", "7"])).tolist()
        ['USD', 'EUR', 'USD', nan]
    """
    text = text.astype("str")
    out = pd.Series(np.nan, index=text.index, dtype=object)
    rest = pd.to_numeric(text, errors="coerce").isna() & ~blank(text)  # plain numbers name none
    if rest.any():
        out[rest] = _strip_currency(_clean_spaces(text[rest]), numbers or NumberFormat())[1]
    return out


def _clean_spaces(text: pd.Series) -> pd.Series:
    return text.astype("str").str.replace(r"[\u00a0\u202f]", " ", regex=True).str.strip()


def _strip_currency(text: pd.Series, numbers: NumberFormat) -> tuple[pd.Series, pd.Series]:
    """(the number part, the currency it names) of amount text."""
    symbols = "|".join(re.escape(s) for s in sorted(numbers.currency_symbols, key=len,
                                                     reverse=True))
    mark = rf"(?P<mark>[A-Z]{{3}}{'|' + symbols if symbols else ''})"
    parts = text.str.extract(rf"^(?:{mark}\s*)?(?P<number>.*?)(?:\s*(?P<after>[A-Z]{{3}}"
                             rf"{'|' + symbols if symbols else ''}))?$")
    found = parts["mark"].where(parts["mark"].notna(), parts["after"])
    currency = found.map(lambda m: numbers.currency_symbols.get(m, m) if isinstance(m, str)
                         else np.nan)
    return parts["number"].fillna(""), currency


def _number_pattern(numbers: NumberFormat) -> str:
    dec = re.escape(numbers.decimal)
    plain = rf"\d+(?:{dec}\d*)?(?:[eE][+-]?\d+)?|{dec}\d+"
    if not numbers.thousands:
        return rf"-?(?:{plain})"
    sep = re.escape(numbers.thousands)
    return rf"-?(?:{plain}|\d{{1,3}}(?:{sep}\d{{3}})+(?:{dec}\d*)?)"


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
