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
    series = pd.Series(values)
    fmt = None if pd.api.types.is_datetime64_any_dtype(series) else "ISO8601"  # mixed texts
    return (pd.to_datetime(series, utc=True, format=fmt).astype("datetime64[ms, UTC]")
            .astype("int64").to_numpy())


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

    Shape (len(deal_ids), len(actions)).
    """
    ids = np.asarray(deal_ids, dtype=object).astype(str)
    at = _ms(as_of) if len(ids) else np.zeros(0, np.int64)
    out = np.full((len(ids), len(actions)), np.inf)
    if not len(ids) or activities is None or not len(activities):
        return out
    taken = action_times(activities, actions)
    for code in range(len(actions)):
        one = taken[taken["code"] == code]  # sorted by deal and known time
        if not len(one):
            continue
        # latest time it happened among the times known by then (a late log counts from when
        # it happened, once it is in the CRM)
        happened = one.groupby("deal_id", sort=False)["occurred_ms"].cummax().to_numpy()
        pos, hit = nearest_event(one["deal_id"].to_numpy(), one["ms"].to_numpy(), ids, at)
        out[:, code] = np.where(hit, (at - happened[np.maximum(pos, 0)]) / MS_PER_DAY, np.inf)
    return out


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
