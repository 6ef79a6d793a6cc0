"""Encode canonical deal histories into numpy timelines, once, for fast point-in-time reads.

Deals are numbered by their position in the deals table; every child table becomes a
:class:`~features.timeline.Timeline` keyed by (deal position, time).  Stage history is reduced to
*stints* (consecutive rows with the same buyer step are merged) with running counts of step
changes and regressions, so the stage-age signals at any time are read from the last known stint.

Example:
    >>> from features.histories import DealHistories
    >>> enc = encode(DealHistories.empty())
    >>> enc.n_deals, len(enc.activities)
    (0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.histories import DealHistories
from features.schema import ACTIVITY_TYPES, ROLES
from features.timeline import MS_PER_DAY, NEVER_MS, Clock, Timeline

#: Buyer steps in journey order; a closed-lost stage is step -1 and "customer" the last one.
STEPS: tuple[str, ...] = ("curious", "problem_shared", "solution_visualised", "evaluation_plan",
                          "decision", "customer")
OUTCOME_CODES = {"won": 0, "lost": 1, "no_decision": 2}
ALL_ROLES: tuple[str, ...] = (*ROLES, "user", "executive_sponsor", "influencer", "blocker",
                              "other")


@dataclass
class EncodedHistories:
    """Numpy view of canonical histories for one set of deals."""

    deal_ids: np.ndarray
    created_ms: np.ndarray
    closed_ms: np.ndarray
    owner: np.ndarray
    account: np.ndarray
    amount_latest: np.ndarray
    close_date_latest_ms: np.ndarray
    context: dict[str, np.ndarray]
    clock: Clock
    stints: Timeline
    activities: Timeline
    bookings: Timeline
    first_engaged: Timeline
    committee: Timeline
    role_first_ms: np.ndarray
    close_changes: Timeline
    amount_changes: Timeline

    @property
    def n_deals(self) -> int:
        """Number of deals encoded."""
        return len(self.deal_ids)


def to_ms(series: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 milliseconds; missing values become :data:`NEVER_MS`."""
    values = series.astype("datetime64[ms, UTC]").array
    ms = np.asarray(values.asi8, dtype=np.int64).copy()
    ms[np.asarray(series.isna())] = NEVER_MS
    return ms


def encode(h: DealHistories, steps: tuple[str, ...] = STEPS) -> EncodedHistories:
    """Encode ``h`` (canonical, validated tables) for :func:`features.build.build_features`."""
    deals = h.deals
    index = pd.Index(deals["deal_id"].astype("str"))
    created = to_ms(deals["created_at"])
    closed = to_ms(deals["closed_at"])
    times = [created[created < NEVER_MS], closed[closed < NEVER_MS]]
    for frame, col in ((h.stage_history, "entered_at"), (h.activities, "occurred_at"),
                       (h.activities, "recorded_at"), (h.contacts, "added_at"),
                       (h.field_history, "changed_at")):
        t = to_ms(frame[col])
        times.append(t[t < NEVER_MS])
    all_t = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
    lo, hi = (int(all_t.min()), int(all_t.max())) if len(all_t) else (0, MS_PER_DAY)
    clock = Clock.covering(lo, hi + 400 * MS_PER_DAY, len(index))

    def pos(frame: pd.DataFrame) -> np.ndarray:
        return index.get_indexer(frame["deal_id"].astype("str"))

    return EncodedHistories(
        deal_ids=index.to_numpy(dtype=object),
        created_ms=created,
        closed_ms=closed,
        owner=deals["owner_id"].astype("str").to_numpy(dtype=object),
        account=deals["account_id"].astype("str").to_numpy(dtype=object),
        amount_latest=deals["amount"].to_numpy(dtype=np.float64, na_value=np.nan),
        close_date_latest_ms=_ms_or_nan(deals["expected_close_date"]),
        context={c: deals[c].astype("str").to_numpy(dtype=object)
                 for c in ("segment", "region", "industry", "deal_type", "lead_source")},
        clock=clock,
        stints=_stints(clock, h.stage_history, pos(h.stage_history), steps),
        **_activity_timelines(clock, h.activities, pos(h.activities)),
        **_committee_timelines(clock, h.contacts, pos(h.contacts), len(index)),
        **_change_timelines(clock, h.field_history, pos(h.field_history)),
    )


def _ms_or_nan(series: pd.Series) -> np.ndarray:
    ms = to_ms(series).astype(np.float64)
    ms[ms >= NEVER_MS] = np.nan
    return ms


def _stints(clock: Clock, stages: pd.DataFrame, deal: np.ndarray,
            steps: tuple[str, ...]) -> Timeline:
    step_code = {s: i for i, s in enumerate(steps)}
    status = stages["status"].astype("str").to_numpy(dtype=object)
    step = stages["step"].astype("str").map(step_code).to_numpy(dtype=np.float64, na_value=-1)
    step = np.where(status == "won", len(steps) - 1, np.where(status == "lost", -1, step))
    tl = Timeline.build(clock, deal, to_ms(stages["entered_at"]), step=step.astype(np.int64))
    d, s = tl.deal, tl.columns["step"]
    new_deal = np.r_[True, d[1:] != d[:-1]] if len(d) else np.zeros(0, dtype=bool)
    changed = new_deal | np.r_[True, s[1:] != s[:-1]][: len(d)]
    d, t, s, first = d[changed], tl.t_ms[changed], s[changed], new_deal[changed]
    prev = np.r_[-2, s[:-1]][: len(s)]
    open_move = (s >= 0) & (prev >= 0) & ~first
    forward = ~first & (s > prev)
    regression = open_move & (s < prev)
    move = (~first).astype(np.int64)
    group_start = np.flatnonzero(first)
    return Timeline.build(
        clock, d, t, step=s,
        changes=_running_sum(move, group_start),
        regressions=_running_sum(regression.astype(np.int64), group_start),
        forward_ms=_running_last(np.where(forward, t, -1), group_start),
    )


def _running_sum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each group start."""
    total = np.cumsum(values)
    if not len(values):
        return total
    base = np.repeat(total[group_start] - values[group_start],
                     np.diff(np.r_[group_start, len(values)]))
    return total - base


def _running_last(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Most recent non-negative value within each group (-1 when none yet)."""
    if not len(values):
        return values
    idx = np.where(values >= 0, np.arange(len(values)), -1)
    starts = np.zeros(len(values), dtype=bool)
    starts[group_start] = True
    # forward-fill the last valid index, not crossing group starts
    group_id = np.cumsum(starts) - 1
    last = np.maximum.accumulate(np.where(idx >= 0, idx, -1))
    valid = (last >= 0) & (group_id[np.maximum(last, 0)] == group_id)
    return np.where(valid, values[np.maximum(last, 0)], -1)


def _activity_timelines(clock: Clock, acts: pd.DataFrame, deal: np.ndarray
                        ) -> dict[str, Timeline]:
    occurred = to_ms(acts["occurred_at"])
    recorded = to_ms(acts["recorded_at"])
    recorded = np.where(recorded >= NEVER_MS, occurred, recorded)
    known = np.maximum(occurred, recorded)
    type_code = acts["type"].astype("str").map({t: i for i, t in enumerate(ACTIVITY_TYPES)})
    type_code = type_code.to_numpy(dtype=np.float64, na_value=-1).astype(np.int64)
    buyer = (acts["direction"].astype("str") == "buyer").to_numpy(dtype=bool)
    contact = acts["contact_id"].astype("str")
    has_contact = contact.notna().to_numpy(dtype=bool)
    pairs = pd.DataFrame({"deal": deal[has_contact], "contact": contact[has_contact].to_numpy(),
                          "t": known[has_contact]})
    first = pairs.groupby(["deal", "contact"], sort=False)["t"].min()
    return {
        "activities": Timeline.build(clock, deal, known, type=type_code, buyer=buyer),
        "bookings": Timeline.build(clock, deal, recorded),
        "first_engaged": Timeline.build(
            clock, first.index.get_level_values("deal").to_numpy(dtype=np.int64),
            first.to_numpy(dtype=np.int64)),
    }


def _committee_timelines(clock: Clock, contacts: pd.DataFrame, deal: np.ndarray, n_deals: int
                         ) -> dict[str, object]:
    added = to_ms(contacts["added_at"])
    frame = pd.DataFrame({"deal": deal, "contact": contacts["contact_id"].astype("str"),
                          "role": contacts["role"].astype("str"), "t": added})
    first_contact = frame.groupby(["deal", "contact"], sort=False)["t"].min()
    first_role = frame.groupby(["deal", "role"], sort=False)["t"].min()
    role_code = {r: i for i, r in enumerate(ALL_ROLES)}
    role_first = np.full((n_deals, len(ALL_ROLES)), NEVER_MS, dtype=np.int64)
    codes = np.asarray([role_code.get(r, -1) for r in
                        first_role.index.get_level_values("role")], dtype=np.int64)
    rows = first_role.index.get_level_values("deal").to_numpy(dtype=np.int64)
    keep = codes >= 0
    role_first[rows[keep], codes[keep]] = first_role.to_numpy(dtype=np.int64)[keep]
    return {
        "committee": Timeline.build(
            clock, first_contact.index.get_level_values("deal").to_numpy(dtype=np.int64),
            first_contact.to_numpy(dtype=np.int64)),
        "role_first_ms": role_first,
    }


def _change_timelines(clock: Clock, changes: pd.DataFrame, deal: np.ndarray
                      ) -> dict[str, Timeline]:
    t = to_ms(changes["changed_at"])
    is_close = (changes["field"].astype("str") == "close_date").to_numpy(dtype=bool)
    old_c, new_c = _ms_or_nan(changes["old_close_date"]), _ms_or_nan(changes["new_close_date"])
    slip_days = np.nan_to_num((new_c - old_c) / MS_PER_DAY, nan=0.0)
    is_amount = (changes["field"].astype("str") == "amount").to_numpy(dtype=bool)
    old_a = changes["old_amount"].to_numpy(dtype=np.float64, na_value=np.nan)
    new_a = changes["new_amount"].to_numpy(dtype=np.float64, na_value=np.nan)
    return {
        "close_changes": Timeline.build(
            clock, deal[is_close], t[is_close], old=old_c[is_close], new=new_c[is_close],
            push=(slip_days[is_close] > 0).astype(np.float64),
            slip=np.maximum(slip_days[is_close], 0.0)),
        "amount_changes": Timeline.build(clock, deal[is_amount], t[is_amount],
                                         old=old_a[is_amount], new=new_a[is_amount]),
    }
