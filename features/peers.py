"""Peer references known at any time: won-deal step durations, owner and account track records.

Everything here is computed only from deals **closed at or before** the query time, through the
same time filter as all other history reads.  ``PeerStats`` is built once from the full
histories (training) and reused unchanged for live scoring, so both paths see the same peers.

Example:
    >>> from features.histories import DealHistories
    >>> peers = PeerStats.from_histories(DealHistories.empty())
    >>> import numpy as np
    >>> peers.won_step_median(np.array([0]), np.array([10**12])).tolist()
    [nan]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.encode import STEPS, to_ms
from features.histories import DealHistories
from features.timeline import MS_PER_DAY, NEVER_MS, Clock, Timeline

#: Pseudo-count pulling an owner's or account's rates towards the overall rate.
SMOOTHING = 5.0


@dataclass
class TrackRecord:
    """Closed deals per entity (owner or account) over time, with won / no-decision counts."""

    names: pd.Index
    timeline: Timeline
    won_prefix: np.ndarray
    nd_prefix: np.ndarray

    @classmethod
    def build(cls, clock: Clock, entity: pd.Series, closed_ms: np.ndarray,
              outcome: pd.Series) -> TrackRecord:
        """Index closed deals by entity code and close time (deals without one are left out)."""
        code, names = pd.factorize(entity.astype("str"))
        known = code >= 0
        tl = Timeline.build(clock, code[known].astype(np.int64), closed_ms[known],
                            won=(outcome == "won").to_numpy(bool)[known],
                            nd=(outcome == "no_decision").to_numpy(bool)[known])
        tl.index_deals(len(names) + 1)
        return cls(pd.Index(names, dtype="str"), tl, tl.prefix(tl.columns["won"]),
                   tl.prefix(tl.columns["nd"]))

    def code_of(self, entity: np.ndarray) -> np.ndarray:
        """Codes of entity names (one past the last code for entities never seen closing)."""
        if len(entity) <= 32:  # live scoring: a few hash lookups beat building an Index
            return np.array([self._code(str(e)) for e in entity], dtype=np.int64)
        found = self.names.get_indexer(pd.Index(np.asarray(entity).astype(str), dtype="str"))
        return np.where(found >= 0, found, len(self.names)).astype(np.int64)

    def _code(self, name: str) -> int:
        try:
            return int(self.names.get_loc(name))
        except KeyError:
            return len(self.names)

    def query(self, code: np.ndarray, as_of_ms: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(closed, won, no_decision) counts per entity code for deals closed by as_of."""
        hi, lo = self.timeline.upto(code, as_of_ms), self.timeline.start(code)
        return ((hi - lo).astype(np.float64), self.won_prefix[hi] - self.won_prefix[lo],
                self.nd_prefix[hi] - self.nd_prefix[lo])


@dataclass
class PeerStats:
    """As-of peer references, built once from full histories."""

    step_closed_ms: list[np.ndarray]
    step_median_days: list[np.ndarray]
    closed_sorted_ms: np.ndarray
    won_prefix: np.ndarray
    nd_prefix: np.ndarray
    owners: TrackRecord
    accounts: TrackRecord

    @classmethod
    def from_histories(cls, h: DealHistories, steps: tuple[str, ...] = STEPS) -> PeerStats:
        """Build the peer references from canonical histories (all deals, all times)."""
        deals = h.deals
        closed_ms = to_ms(deals["closed_at"])
        is_closed = closed_ms < NEVER_MS
        outcome = deals["outcome"].astype("str")
        lo = int(closed_ms[is_closed].min()) if is_closed.any() else 0
        hi = int(closed_ms[is_closed].max()) if is_closed.any() else MS_PER_DAY
        n_entities = max(deals["owner_id"].nunique(), deals["account_id"].nunique(), 1)
        clock = Clock.covering(lo, hi + 400 * MS_PER_DAY, n_entities + 1)
        closed = deals[is_closed]
        order = np.argsort(closed_ms[is_closed], kind="stable")
        c_ms = closed_ms[is_closed][order]
        c_out = outcome[is_closed].to_numpy(dtype=object)[order]
        step_closed, step_median = _won_step_medians(h, closed_ms, steps)
        return cls(
            step_closed_ms=step_closed,
            step_median_days=step_median,
            closed_sorted_ms=c_ms,
            won_prefix=np.r_[0.0, np.cumsum(c_out == "won")],
            nd_prefix=np.r_[0.0, np.cumsum(c_out == "no_decision")],
            owners=TrackRecord.build(clock, closed["owner_id"], closed_ms[is_closed],
                                     outcome[is_closed]),
            accounts=TrackRecord.build(clock, closed["account_id"], closed_ms[is_closed],
                                       outcome[is_closed]),
        )

    def won_step_median(self, step: np.ndarray, as_of_ms: np.ndarray) -> np.ndarray:
        """Median days spent in ``step`` by won deals closed at or before as_of (NaN if none)."""
        out = np.full(len(step), np.nan)
        for s, (closed, medians) in enumerate(zip(self.step_closed_ms, self.step_median_days,
                                                  strict=True)):
            rows = np.flatnonzero(step == s)
            if len(rows):
                out[rows] = medians[np.searchsorted(closed, as_of_ms[rows], side="right")]
        return out

    def rates(self, record: TrackRecord, entity: np.ndarray, as_of_ms: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(closed count, smoothed win rate, smoothed no-decision rate) known at as_of.

        ``entity`` holds names, or codes from ``record.code_of`` (int arrays).
        """
        code = entity if entity.dtype.kind == "i" else record.code_of(entity)
        n, won, nd = record.query(code, as_of_ms)
        k = np.searchsorted(self.closed_sorted_ms, as_of_ms, side="right")
        total = np.maximum(k, 1).astype(np.float64)
        prior_won = np.where(k > 0, self.won_prefix[k] / total, np.nan)
        prior_nd = np.where(k > 0, self.nd_prefix[k] / total, np.nan)
        return (n, (won + SMOOTHING * prior_won) / (n + SMOOTHING),
                (nd + SMOOTHING * prior_nd) / (n + SMOOTHING))


def _won_step_medians(h: DealHistories, closed_ms: np.ndarray, steps: tuple[str, ...]
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per step: close times of won deals (sorted) and the running median of their step days."""
    from features.encode import codes

    won = (h.deals["outcome"].astype("str") == "won").to_numpy(bool)
    stages = h.stage_history
    deal = codes(stages["deal_id"], pd.Index(h.deals["deal_id"].astype("str")))
    keep = deal >= 0
    keep[keep] = won[deal[keep]]
    deal, t = deal[keep], to_ms(stages["entered_at"])[keep]
    step = codes(stages["step"][keep], steps)
    order = np.lexsort((t, deal))
    deal, t, step = deal[order], t[order], step[order]
    has_next = np.r_[deal[1:] == deal[:-1], False] if len(deal) else np.zeros(0, bool)
    days = (np.r_[t[1:], 0] - t)[: len(t)] / MS_PER_DAY
    valid = has_next & (step >= 0)
    key = step[valid].astype(np.int64) * (len(won) + 1) + deal[valid]
    pairs, inverse = np.unique(key, return_inverse=True)
    totals = np.bincount(inverse, weights=days[valid], minlength=len(pairs))
    pair_step, pair_deal = pairs // (len(won) + 1), pairs % (len(won) + 1)
    closed_list, median_list = [], []
    for s in range(len(steps)):
        rows = pair_step == s
        closed = closed_ms[pair_deal[rows]]
        order = np.argsort(closed, kind="stable")
        closed_list.append(closed[order])
        median_list.append(_running_medians(totals[rows][order]))
    return closed_list, median_list


def _running_medians(values: np.ndarray) -> np.ndarray:
    """``out[k]`` = median of ``values[:k]`` (``out[0]`` is NaN), via two heaps."""
    out = np.full(len(values) + 1, np.nan)
    low: list[float] = []   # max-heap (negated)
    high: list[float] = []  # min-heap
    for i, v in enumerate(values.tolist()):
        if low and v > -low[0]:
            heapq.heappush(high, v)
        else:
            heapq.heappush(low, -v)
        if len(low) > len(high) + 1:
            heapq.heappush(high, -heapq.heappop(low))
        elif len(high) > len(low):
            heapq.heappush(low, -heapq.heappop(high))
        out[i + 1] = -low[0] if len(low) > len(high) else (-low[0] + high[0]) / 2.0
    return out
