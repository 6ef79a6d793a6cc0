"""Snapshot sampler for training: (deal_id, as_of) pairs across each deal's open life.

A deal is snapshotted at ``created_at + k * cadence`` for k = 1, 2, ... while it is still open
(``as_of < closed_at``) and not later than ``until`` (the export time).  Extra per-deal columns
(e.g. labels) ride along unchanged.

Example:
    >>> import pandas as pd
    >>> deals = pd.DataFrame({
    ...     "deal_id": ["a", "b"],
    ...     "created_at": pd.to_datetime(["2024-01-01", "2024-01-10"], utc=True),
    ...     "closed_at": pd.to_datetime(["2024-01-20", None], utc=True)})
    >>> snaps = sample_snapshots(deals, until=pd.Timestamp("2024-01-25", tz="UTC"))
    >>> [(r.deal_id, str(r.as_of.date())) for r in snaps.itertuples()]
    [('a', '2024-01-08'), ('a', '2024-01-15'), ('b', '2024-01-17'), ('b', '2024-01-24')]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.encode import to_ms
from features.timeline import NEVER_MS


def sample_snapshots(deals: pd.DataFrame, *, until: pd.Timestamp,
                     cadence: pd.Timedelta | str = "7D",
                     extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Snapshot pairs for every deal in ``deals`` (needs deal_id, created_at, closed_at).

    ``extra`` (keyed by ``deal_id``) adds per-deal columns, copied unchanged to each snapshot.
    """
    step_ms = int(pd.Timedelta(cadence).total_seconds() * 1000)
    if step_ms <= 0:
        raise ValueError("cadence must be positive")
    until_ms = int(pd.Timestamp(until).tz_convert("UTC").value // 1_000_000)
    created = to_ms(deals["created_at"])
    closed = to_ms(deals["closed_at"])
    # last allowed snapshot time: strictly before the close, and not after `until`
    last = np.minimum(np.where(closed < NEVER_MS, closed - 1, NEVER_MS), until_ms)
    n = np.maximum((last - created) // step_ms, 0)
    n[created >= NEVER_MS] = 0
    row = np.repeat(np.arange(len(deals)), n)
    k = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n) + 1
    out = pd.DataFrame({
        "deal_id": deals["deal_id"].astype("str").to_numpy()[row],
        "as_of": pd.Series(pd.to_datetime(created[row] + k * step_ms, unit="ms", utc=True),
                           dtype="datetime64[ms, UTC]"),
    })
    if extra is not None:
        per_deal = extra.drop_duplicates("deal_id").astype({"deal_id": "str"})
        out = out.join(per_deal.set_index("deal_id"), on="deal_id")
    return out
