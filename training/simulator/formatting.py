"""Fast vectorised text formatting (Salesforce ids, datetimes, dates, money) with pyarrow.

``pyarrow.compute.strftime`` takes seconds per million values; building the text from
small vocabularies with ``take`` and joining is an order of magnitude faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@lru_cache(maxsize=1)
def _time_vocab() -> pa.Array:
    """'HH:MM:SS.000Z' for every second of a day."""
    s = np.arange(86400)
    return pa.array([f"T{h:02d}:{m:02d}:{x:02d}.000Z" for h, m, x in
                     zip(s // 3600, s // 60 % 60, s % 60, strict=True)])


def _day_vocab(days: np.ndarray) -> tuple[pa.Array, int]:
    lo, hi = (int(days.min()), int(days.max())) if len(days) else (0, 0)
    vocab = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]"))
    return pa.array(vocab.tolist()), lo


def ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """18-character Salesforce-like ids: ``prefix`` + zero-padded ``numbers``.

    Example:
        >>> import numpy as np
        >>> ids("006", np.array([1])).to_pylist()
        ['006000000000000001']
    """
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()),
                          18 - len(prefix), "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def dates(days: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' text for day numbers since the Unix epoch.

    Example:
        >>> import numpy as np
        >>> dates(np.array([19787])).to_pylist()
        ['2024-03-05']
    """
    days = np.asarray(days, np.int64)
    vocab, lo = _day_vocab(days)
    return pc.take(vocab, pa.array(days - lo))


def datetimes(ts: np.ndarray) -> pa.Array:
    """'YYYY-MM-DDTHH:MM:SS.000Z' text for seconds since the Unix epoch (UTC).

    Example:
        >>> import numpy as np
        >>> datetimes(np.array([19787 * 86400 + 14 * 3600 + 7 * 60])).to_pylist()
        ['2024-03-05T14:07:00.000Z']
    """
    ts = np.asarray(ts, np.int64)
    return pc.binary_join_element_wise(dates(ts // 86400),
                                       pc.take(_time_vocab(), pa.array(ts % 86400)), "")


def money(cents: np.ndarray) -> pa.Array:
    """Plain decimal text with two decimals from integer cents.

    Example:
        >>> import numpy as np
        >>> money(np.array([1234505, 7])).to_pylist()
        ['12345.05', '0.07']
    """
    cents = np.asarray(cents, np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def pick(vocab: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Text of ``vocab[code]`` for each code.

    Example:
        >>> import numpy as np
        >>> pick(["a", "b"], np.array([1, 0])).to_pylist()
        ['b', 'a']
    """
    return pc.take(pa.array(list(vocab), pa.string()), pa.array(np.asarray(codes, np.int64)))


def booleans(values: np.ndarray) -> pa.Array:
    """'true' / 'false' text.

    Example:
        >>> import numpy as np
        >>> booleans(np.array([True, False])).to_pylist()
        ['true', 'false']
    """
    return pick(["false", "true"], np.asarray(values, bool).astype(np.int64))


def integers(values: np.ndarray) -> pa.Array:
    """Decimal text of integers.

    Example:
        >>> import numpy as np
        >>> integers(np.array([10, 0])).to_pylist()
        ['10', '0']
    """
    return pc.cast(pa.array(np.asarray(values, np.int64)), pa.string())
