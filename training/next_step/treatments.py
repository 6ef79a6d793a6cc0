"""The logged treatment of a snapshot: the first catalogue action the seller took next.

For a snapshot (deal, as_of) the treatment is the first catalogue action that happened in
``(as_of, as_of + window]``, or none.  It looks ahead, so it is a label (like the outcome
labels), never a feature.

Example:
    >>> import pandas as pd
    >>> acts = pd.DataFrame({"deal_id": ["d", "d"],
    ...     "action": ["run_evaluation", "confirm_problem"],
    ...     "occurred_at": pd.to_datetime(["2024-01-05", "2024-01-09"], utc=True)})
    >>> snaps = pd.DataFrame({"deal_id": ["d", "d", "e"],
    ...     "as_of": pd.to_datetime(["2024-01-01", "2024-01-06", "2024-01-01"], utc=True)})
    >>> next_action(acts, snaps, ["confirm_problem", "run_evaluation"], 7).tolist()
    [1, 0, -1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.action_history import MS_PER_DAY, action_times, nearest_event

NO_ACTION = -1


def next_action(activities: pd.DataFrame, snapshots: pd.DataFrame, actions: Sequence[str],
                window_days: float) -> np.ndarray:
    """Code (index in ``actions``) of the first action in the window after each snapshot; -1.

    ``snapshots`` needs ``deal_id`` and ``as_of``.
    """
    out = np.full(len(snapshots), NO_ACTION, np.int64)
    taken = action_times(activities, actions)
    if not len(taken) or not len(snapshots):
        return out
    ids = snapshots["deal_id"].astype("str").to_numpy()
    at = snapshots["as_of"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    occurred = taken["occurred_ms"].to_numpy()
    pos, hit = nearest_event(taken["deal_id"].to_numpy(), occurred, ids, at, after=True)
    hit &= occurred[pos] <= at + window_days * MS_PER_DAY
    out[hit] = taken["code"].to_numpy()[pos][hit]
    return out
