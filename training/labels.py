"""Labels of training snapshots, relative to each snapshot's ``as_of`` and a horizon ``H``.

For a snapshot (deal, as_of) and the data's end ``known_until`` (the export time):

- ``label_stall`` = 1 when, within ``(as_of, as_of + H]``, the deal made **no forward buyer-step
  move** and was **not won**; 0 otherwise.  A forward move is a stage-history row whose buyer
  step is later than the step the deal was in just before it (so a regression followed by a move
  back up counts as forward).  Closing lost or no decision inside the horizon is a stall (unless
  the deal moved forward first).  The label is known when the horizon has passed
  (``as_of + H <= known_until``) or the deal closed inside it (``closed_at <= as_of + H`` and
  ``closed_at <= known_until``); otherwise it is missing (NaN).
- ``label_no_decision`` / ``label_won`` = the deal's final outcome is no decision / won; known
  only for deals closed by ``known_until`` (NaN otherwise).

The window is half-open on the left: a move exactly at ``as_of`` is already history (the
features see it), one exactly at ``as_of + H`` is inside the horizon.

Example:
    >>> import pandas as pd
    >>> from features.histories import DealHistories
    >>> t = lambda s: pd.Timestamp(s, tz="UTC")
    >>> h = DealHistories.empty()
    >>> h.deals = pd.DataFrame({"deal_id": ["a"], "created_at": [t("2024-01-01")],
    ...                         "closed_at": [t("2024-03-01")], "outcome": ["no_decision"]})
    >>> h.stage_history = pd.DataFrame({"deal_id": ["a", "a"],
    ...     "entered_at": [t("2024-01-01"), t("2024-01-20")],
    ...     "step": ["curious", "problem_shared"], "status": ["open", "open"]})
    >>> snaps = pd.DataFrame({"deal_id": ["a", "a"],
    ...                       "as_of": [t("2024-01-08"), t("2024-02-15")]})
    >>> make_labels(h, snaps, known_until=t("2024-06-01"))[
    ...     ["label_stall", "label_no_decision", "label_won"]].to_numpy().tolist()
    [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]

The first snapshot moved forward on 2024-01-20 (inside its horizon); the second closed in no
decision on 2024-03-01 (inside its horizon) without moving: a stall.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.encode import STEPS, to_ms
from features.histories import DealHistories
from features.timeline import MS_PER_DAY, NEVER_MS

LABELS: tuple[str, ...] = ("label_stall", "label_no_decision", "label_won")
#: Column saying when the last of a row's labels became known (NaT when it has none).
KNOWN_AT = "labels_known_at"
_STEP_CODE = {s: i for i, s in enumerate(STEPS)}


def forward_moves(stage_history: pd.DataFrame, known_until: pd.Timestamp | None = None
                  ) -> pd.DataFrame:
    """Every forward buyer-step move: one row per (deal_id, moved_at).

    Rows whose step is unmapped (open status, no known step) carry no information and are
    skipped; a closed-won row is the last step, a closed-lost row is below every step.

    Example:
        >>> import pandas as pd
        >>> t = lambda s: pd.Timestamp(s, tz="UTC")
        >>> sh = pd.DataFrame({"deal_id": ["a"] * 4,
        ...     "entered_at": [t("2024-01-01"), t("2024-01-05"), t("2024-01-09"), t("2024-01-12")],
        ...     "step": ["problem_shared", "curious", "problem_shared", "problem_shared"],
        ...     "status": ["open"] * 4})
        >>> [str(x.date()) for x in forward_moves(sh)["moved_at"]]
        ['2024-01-09']
    """
    status = stage_history["status"].astype("str").to_numpy(dtype=object)
    step = stage_history["step"].astype("str").map(_STEP_CODE).to_numpy(dtype=np.float64)
    code = np.where(status == "won", len(STEPS) - 1, np.where(status == "lost", -1.0, step))
    frame = pd.DataFrame({"deal_id": stage_history["deal_id"].astype("str").to_numpy(),
                          "t": to_ms(stage_history["entered_at"]), "code": code})
    frame = frame[~np.isnan(frame["code"].to_numpy())]
    if known_until is not None:
        frame = frame[frame["t"] <= _ms(known_until)]
    frame = frame.sort_values(["deal_id", "t"], kind="stable")
    same_deal = frame["deal_id"].eq(frame["deal_id"].shift())
    forward = same_deal & (frame["code"] > frame["code"].shift())
    moves = frame[forward.to_numpy()]
    return pd.DataFrame({"deal_id": moves["deal_id"].to_numpy(),
                         "moved_at": pd.to_datetime(moves["t"].to_numpy(), unit="ms", utc=True)})


def make_labels(histories: DealHistories, snapshots: pd.DataFrame, *,
                known_until: pd.Timestamp, horizon_days: int = 30) -> pd.DataFrame:
    """Label snapshot rows (deal_id, as_of, ...) relative to their as_of and the horizon.

    Adds ``label_stall``, ``label_no_decision`` and ``label_won`` (float: 1, 0 or NaN when not
    yet known; see the module docstring) and
    ``labels_known_at`` (when the last known label of the row became known; used by the split).
    """
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    until = _ms(known_until)
    h_ms = int(horizon_days) * MS_PER_DAY
    deals = histories.deals
    index = pd.Index(deals["deal_id"].astype("str"))
    pos = index.get_indexer(snapshots["deal_id"].astype("str"))
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} snapshot(s) name deals not in the deals table")
    as_of = to_ms(snapshots["as_of"])
    end = as_of + h_ms
    closed = to_ms(deals["closed_at"])
    closed = np.where(closed <= until, closed, NEVER_MS)[pos]
    outcome = deals["outcome"].astype("str").to_numpy(dtype=object)[pos]
    is_closed = closed < NEVER_MS
    won_inside = is_closed & (outcome == "won") & (closed > as_of) & (closed <= end)
    moved = _any_move_inside(forward_moves(histories.stage_history, known_until), index,
                             pos, as_of, end)
    known = (end <= until) | (is_closed & (closed <= end))
    stall = np.where(known, (~moved & ~won_inside).astype(np.float64), np.nan)
    out = snapshots.copy()
    out["label_stall"] = stall
    out["label_no_decision"] = np.where(is_closed, (outcome == "no_decision").astype(float),
                                        np.nan)
    out["label_won"] = np.where(is_closed, (outcome == "won").astype(float), np.nan)
    stall_known = np.where(known, np.minimum(end, closed), -1)
    known_at = np.maximum(stall_known, np.where(is_closed, closed, -1))
    out[KNOWN_AT] = pd.Series(pd.to_datetime(np.where(known_at >= 0, known_at, as_of), unit="ms",
                                             utc=True), index=out.index)
    out.loc[known_at < 0, KNOWN_AT] = pd.NaT
    return out


def horizon_complete(as_of: pd.Series, *, known_until: pd.Timestamp,
                     horizon_days: int) -> np.ndarray:
    """True where ``as_of + H <= known_until`` (the stall window ended inside the data).

    Example:
        >>> import pandas as pd
        >>> s = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-20"], utc=True))
        >>> horizon_complete(s, known_until=pd.Timestamp("2024-02-01", tz="UTC"),
        ...                  horizon_days=30).tolist()
        [True, False]
    """
    return to_ms(as_of) + int(horizon_days) * MS_PER_DAY <= _ms(known_until)


def _any_move_inside(moves: pd.DataFrame, index: pd.Index, pos: np.ndarray,
                     lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each query (deal position, (lo, hi]) contains a forward move."""
    if not len(moves) or not len(pos):
        return np.zeros(len(pos), dtype=bool)
    deal = index.get_indexer(moves["deal_id"])
    t = to_ms(moves["moved_at"])
    keep = deal >= 0
    deal, t = deal[keep].astype(np.int64), t[keep]
    base = int(min(t.min(), lo.min()))
    shift = np.int64(1) << 42  # ms offsets below 2**42 (~139 years)
    key = np.sort(deal * shift + (t - base))
    q = pos.astype(np.int64) * shift
    first_after = np.searchsorted(key, q + (lo - base), side="right")
    upto_hi = np.searchsorted(key, q + (hi - base), side="right")
    return upto_hi > first_after


def _ms(stamp: pd.Timestamp) -> int:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is None:
        raise ValueError("known_until must be timezone-aware (UTC)")
    return int(stamp.tz_convert("UTC").value // 1_000_000)
