"""When each catalogue action was last taken on a deal, as known at a time (for cool-downs).

An action counts from the moment it both happened and was in the CRM (``max(occurred_at,
recorded_at)``); a booked future meeting is not yet taken.  The same function serves the
training snapshots and live scoring.

Example:
    >>> import pandas as pd
    >>> acts = pd.DataFrame({"deal_id": ["d", "d"], "action": ["confirm_problem", None],
    ...     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
    ...     "recorded_at": pd.NaT})
    >>> days_since_actions(acts, ["d", "e"], pd.to_datetime(["2024-01-11"] * 2, utc=True),
    ...                    ["confirm_problem", "run_evaluation"]).tolist()
    [[10.0, inf], [inf, inf]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MS_PER_DAY = 86_400_000


def _ms(values: object) -> np.ndarray:
    """Times (a datetime column, Timestamps or ISO 8601 texts) as UTC int64 milliseconds."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, utc=True, format="ISO8601")  # mixed precision texts
    elif series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    return np.asarray(series.astype("datetime64[ms, UTC]").array.asi8, dtype=np.int64)


def action_times(activities: pd.DataFrame, actions: Sequence[str]) -> pd.DataFrame:
    """The catalogue actions among ``activities``: deal_id, code (index in ``actions``), ms.

    ``ms`` is the time the action was taken and known (``max(occurred_at, recorded_at)``);
    rows are sorted by deal and time.
    """
    acts = activities[activities["action"].isin(list(actions))]
    occurred = _ms(acts["occurred_at"].to_numpy())
    if "recorded_at" in acts:
        raw = pd.Series(acts["recorded_at"].to_numpy())
        rec = pd.to_datetime(raw, utc=True, format=None if pd.api.types.is_datetime64_any_dtype(
            raw) else "ISO8601")
        recorded = np.where(rec.isna(), occurred, _ms(rec.fillna(pd.Timestamp(0, tz="UTC"))))
    else:
        recorded = occurred
    out = pd.DataFrame({
        "deal_id": acts["deal_id"].astype("str").to_numpy(),
        "code": pd.Index(list(actions)).get_indexer(acts["action"].to_numpy()),
        "ms": np.maximum(occurred, recorded),
        "occurred_ms": occurred,
    })
    return out.sort_values(["deal_id", "ms"], kind="stable").reset_index(drop=True)


def days_since_actions(activities: pd.DataFrame, deal_ids: Sequence[str] | np.ndarray,
                       as_of: Sequence[pd.Timestamp] | pd.DatetimeIndex | np.ndarray,
                       actions: Sequence[str]) -> np.ndarray:
    """Days since each action was last taken on each (deal, as_of); ``inf`` when never.

    Shape (len(deal_ids), len(actions)).  The table form of :func:`days_since_codes`.
    """
    ids = np.asarray(deal_ids, dtype=object).astype(str)
    if not len(ids) or activities is None or not len(activities):
        return np.full((len(ids), len(actions)), np.inf)
    code = pd.Index(list(actions)).get_indexer(activities["action"].to_numpy(dtype=object))
    keep = code >= 0
    acts = activities[keep]
    occurred = _ms(acts["occurred_at"]) if keep.any() else np.zeros(0, np.int64)
    recorded = (_ms_or_missing(acts["recorded_at"]) if "recorded_at" in acts
                else np.full(len(acts), MISSING_MS))
    return days_since_codes(acts["deal_id"].astype("str").to_numpy(), code[keep], occurred,
                            recorded, ids, _ms(as_of), len(actions))


#: A missing time in the millisecond arrays (``recorded_at`` not given).
MISSING_MS = np.iinfo(np.int64).min


def _ms_or_missing(values: pd.Series) -> np.ndarray:
    missing = pd.isna(values).to_numpy()
    out = np.full(len(values), MISSING_MS, np.int64)
    if (~missing).any():
        out[~missing] = _ms(values[~missing])
    return out


def days_since_codes(deal: np.ndarray, code: np.ndarray, occurred_ms: np.ndarray,
                     recorded_ms: np.ndarray, ids: np.ndarray, at_ms: np.ndarray,
                     n_actions: int) -> np.ndarray:
    """Days since each action code was last taken on each (deal id, time in ms); ``inf`` if never.

    An action counts once it happened and was in the CRM (``max(occurred, recorded)``; a
    missing ``recorded`` is :data:`MISSING_MS`), and counts from when it happened (a late log
    counts from its event time once known).  Numpy only, for one deal or millions.

    Example:
        >>> d = np.array(["a", "a"]); c = np.array([0, 0]); day = 86_400_000
        >>> occ = np.array([0, 5 * day]); rec = np.array([MISSING_MS, 9 * day])  # logged late
        >>> days_since_codes(d, c, occ, rec, np.array(["a", "a"]), np.array([6 * day, 10 * day]),
        ...                  2).tolist()
        [[6.0, inf], [5.0, inf]]
    """
    out = np.full((len(ids), n_actions), np.inf)
    keep = code >= 0
    if not len(ids) or not keep.any():
        return out
    deal, code = np.asarray(deal).astype(str)[keep], np.asarray(code)[keep]
    occurred = np.asarray(occurred_ms, np.int64)[keep]
    known = np.maximum(occurred, np.asarray(recorded_ms, np.int64)[keep])
    ids = np.asarray(ids).astype(str)
    at = np.asarray(at_ms, np.int64)
    order = np.lexsort((known, code, deal))  # by deal, action, known time
    deal, code, occurred, known = deal[order], code[order], occurred[order], known[order]
    for a in np.unique(code).tolist():
        one = code == a
        d, happened = deal[one], _running_max_per_deal(deal[one], occurred[one])
        pos, hit = nearest_event(d, known[one], ids, at)
        out[:, a] = np.where(hit, (at - happened[np.maximum(pos, 0)]) / MS_PER_DAY, np.inf)
    return out


def _running_max_per_deal(deal: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` within each run of equal ``deal`` (deals contiguous)."""
    if len(values) < 2:
        return values.copy()
    levels, rank = np.unique(values, return_inverse=True)
    start = np.r_[True, deal[1:] != deal[:-1]]
    group = np.cumsum(start) - 1
    width = len(levels)
    return levels[np.maximum.accumulate(group * width + rank) - group * width]


def nearest_event(deal: np.ndarray, ms: np.ndarray, ids: np.ndarray, at: np.ndarray, *,
                  after: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per query (deal id, time): the same deal's nearest event, and whether there is one.

    Nearest is the latest at or before ``at`` (``after=True``: the first strictly after); the
    position of a miss means nothing.  One sorted composite key (deal code, time), so a
    million queries are one searchsorted.

    Example:
        >>> deal, ms = np.array(["d", "d", "e"]), np.array([10, 20, 5])
        >>> pos, hit = nearest_event(deal, ms, np.array(["d", "d", "f"]), np.array([15, 20, 0]))
        >>> pos[hit].tolist(), hit.tolist()
        ([0, 1], [True, True, False])
        >>> nearest_event(deal, ms, np.array(["d", "d"]), np.array([15, 20]), after=True)[1]
        array([ True, False])
    """
    names = np.unique(np.concatenate([deal, ids]))
    base = min(int(ms.min()), int(at.min()))
    span = max(int(ms.max()), int(at.max())) - base + 1
    shift = 1 << span.bit_length()
    if len(names) * shift >= 1 << 62:
        raise ValueError("too many deals over too long a time span for one action lookup")
    keys = np.searchsorted(names, deal).astype(np.int64) * shift + (ms - base)
    order = np.argsort(keys, kind="stable")
    query_code = np.searchsorted(names, ids).astype(np.int64)
    k = np.searchsorted(keys[order], query_code * shift + (at - base), side="right")
    k = k if after else k - 1
    inside = (k >= 0) & (k < len(keys))
    at_k = np.clip(k, 0, len(keys) - 1)
    hit = inside & (keys[order][at_k] // shift == query_code)
    return order[at_k], hit
