"""Salesforce record ids: the 15-character form and the 18-character form with its checksum.

Salesforce ids are case-sensitive 15-character strings; the API and most exports add a
3-character checksum that encodes the case of the 15 (for tools that compare text without
case).  Reports and older tools write 15 characters, so one export can hold both forms of the
same id (``Opportunity.Id`` 15, ``Task.WhatId`` 18).  Readers bring every 15-character id to the
18-character form and keep 18-character ones as written; other text is left as it is.

Example:
    >>> to_18("0065g00000AbCdE")
    '0065g00000AbCdEAAV'
    >>> to_18("0065g00000AbCdEAAV"), to_18("006A"), to_18("")
    ('0065g00000AbCdEAAV', '006A', '')
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")


def checksum(id15: str) -> str:
    """The 3 checksum characters of a 15-character id (one per 5 characters: which are capitals).

    Example:
        >>> checksum("001000000000000")
        'AAA'
    """
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_ALPHABET[bits])
    return "".join(out)


def to_18(value: str) -> str:
    """The 18-character form of a Salesforce id; other text unchanged.

    An 18-character value is kept as written (its checksum is not checked: ids written by
    other systems in the same shape must still match themselves).
    """
    text = value.strip()
    if _ID15.match(text):
        return text + checksum(text)
    return value


def normalise_ids(values: pd.Series) -> pd.Series:
    """:func:`to_18` over a text column (each distinct value worked out once).

    Example:
        >>> normalise_ids(pd.Series(["0065g00000AbCdE", "x"])).tolist()
        ['0065g00000AbCdEAAV', 'x']
    """
    text = values.astype("str").fillna("")
    is15 = (text.str.len() == 15) & text.str.fullmatch(r"[a-zA-Z0-9]{15}").fillna(False)
    if not is15.any():
        return text
    ids = text[is15].to_numpy(dtype="U15")
    chars = np.frombuffer(ids.astype("S15").tobytes(), dtype=np.uint8).reshape(-1, 3, 5)
    capitals = (chars >= ord("A")) & (chars <= ord("Z"))
    bits = (capitals * (1 << np.arange(5))).sum(axis=2)
    suffix = np.asarray(list(_ALPHABET))[bits]
    full = np.char.add(np.char.add(np.char.add(ids, suffix[:, 0]), suffix[:, 1]), suffix[:, 2])
    out = text.copy()
    out[is15] = full
    return out
