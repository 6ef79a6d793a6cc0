"""The signal families, computed for query rows (deal position, as_of) from encoded histories.

Each function returns a dict of feature name -> float array (one value per query row); every
history read goes through :meth:`features.timeline.Timeline.upto` (time <= as_of).

Example:
    >>> import numpy as np
    >>> from features.histories import DealHistories
    >>> from features.encode import encode
    >>> enc = encode(DealHistories.empty())
    >>> sorted(engagement_signals(enc, np.zeros(0, int), np.zeros(0, int)))[:2]
    ['buyer_activities_14d', 'buyer_activities_30d']
"""

from __future__ import annotations

import numpy as np

from features.encode import ALL_ROLES, EncodedHistories
from features.peers import PeerStats
from features.schema import ACTIVITY_TYPES, ROLES, TYPE_WINDOWS_DAYS, WINDOWS_DAYS
from features.timeline import MS_PER_DAY, NEVER_MS, Timeline

Signals = dict[str, np.ndarray]


def _days(ms: np.ndarray) -> np.ndarray:
    return ms / MS_PER_DAY


def stage_signals(enc: EncodedHistories, deal: np.ndarray, as_of: np.ndarray,
                  peers: PeerStats) -> tuple[Signals, np.ndarray]:
    """Stage-age signals; also returns the current step code (-2 when no stage is known)."""
    st = enc.stints
    pos = st.upto(deal, as_of)
    has = pos > st.start(deal)
    last = np.maximum(pos - 1, 0)
    created = enc.created_ms[deal]
    step = np.where(has, st.columns["step"][last] if len(st) else -2, -2)
    entered = np.where(has, st.t_ms[last] if len(st) else created, created)
    forward = np.where(has, st.columns["forward_ms"][last] if len(st) else -1, -1)
    forward = np.where(forward >= 0, forward, created)
    days_in_step = _days(as_of - entered)
    median = peers.won_step_median(step, as_of)
    forwards = np.where(has, st.columns["forwards"][last] if len(st) else 0, 0)
    age = _days(as_of - created)
    return {
        "days_in_step": days_in_step,
        "days_in_step_vs_won": days_in_step / np.where(median > 0, median, np.nan),
        "deal_age_days": age,
        "step_changes": np.where(has, st.columns["changes"][last] if len(st) else 0, 0),
        "regressions": np.where(has, st.columns["regressions"][last] if len(st) else 0, 0),
        "days_since_forward_move": _days(as_of - forward),
        "forward_moves_per_30d": forwards * 30.0 / np.maximum(age, 7.0),
    }, step


def engagement_signals(enc: EncodedHistories, deal: np.ndarray, as_of: np.ndarray) -> Signals:
    """Activity counts, recency, response ratio, trend, breadth and committee coverage."""
    acts = enc.activities
    start, now = acts.start(deal), acts.upto(deal, as_of)
    prefixes = acts.prefixes
    out: Signals = {}
    lower: dict[int, np.ndarray] = {}
    for w in sorted({*WINDOWS_DAYS, *TYPE_WINDOWS_DAYS, 28}):
        lower[w] = np.maximum(acts.upto(deal, as_of - w * MS_PER_DAY), start)

    def window(name: str, w: int) -> np.ndarray:
        p = prefixes[name]
        return p[now] - p[lower[w]]

    for w in WINDOWS_DAYS:
        out[f"buyer_activities_{w}d"] = window("buyer", w)
        out[f"seller_activities_{w}d"] = window("seller", w)
    for w in TYPE_WINDOWS_DAYS:
        for t in ACTIVITY_TYPES:
            out[f"{t}_activities_{w}d"] = window(t, w)
    created = enc.created_ms[deal]
    total = prefixes["buyer"][now] - prefixes["buyer"][start]
    age_days = _days(as_of - created)
    out["buyer_activities_total"] = total
    out["buyer_rate_per_week"] = total / (np.maximum(age_days, 1.0) / 7.0)
    pace_30d = window("buyer", 30) / (np.clip(age_days, 1.0, 30.0) / 7.0)
    out["buyer_pace_vs_usual"] = pace_30d / np.where(total > 0, out["buyer_rate_per_week"],
                                                     np.nan)
    out["seller_actions_total"] = prefixes["action"][now] - prefixes["action"][start]
    out["seller_actions_30d"] = window("action", 30)
    last_buyer = _last_time(enc.buyer_activities, deal, as_of, created)
    out["days_since_buyer_activity"] = _days(as_of - last_buyer)
    out["days_since_seller_touch"] = _days(
        as_of - _last_time(enc.seller_activities, deal, as_of, created))
    out["days_since_meeting"] = _days(as_of - _last_time(enc.meetings, deal, as_of, created))
    since_buyer = np.maximum(acts.upto(deal, last_buyer), start)
    out["unanswered_seller_touches"] = prefixes["seller"][now] - prefixes["seller"][since_buyer]
    b30, s30 = out["buyer_activities_30d"], out["seller_activities_30d"]
    out["buyer_response_ratio"] = np.where(b30 + s30 > 0, b30 / np.maximum(b30 + s30, 1), np.nan)
    recent = out["buyer_activities_14d"]
    before = window("buyer", 28) - recent
    out["buyer_trend"] = np.where(recent + before > 0,
                                  (recent - before) / np.maximum(recent + before, 1), 0.0)
    engaged = enc.first_engaged.count(deal, as_of).astype(np.float64)
    out["contacts_engaged"] = engaged
    out["contacts_on_deal"] = enc.committee.count(deal, as_of).astype(np.float64)
    role_known = enc.role_first_ms[deal] <= as_of[:, None] if len(deal) else np.zeros(
        (0, len(ALL_ROLES)), dtype=bool)
    out["roles_covered"] = role_known.sum(axis=1).astype(np.float64)
    for role in ROLES:
        out[f"has_{role}"] = role_known[:, ALL_ROLES.index(role)].astype(np.float64)
    out["single_threaded"] = (engaged <= 1).astype(np.float64)
    meetings = window("meeting", 90) + window("demo", 90)
    emails = window("email", 90)
    out["meeting_share_90d"] = np.where(meetings + emails > 0,
                                        meetings / np.maximum(meetings + emails, 1), np.nan)
    return out


def _last_time(events: Timeline, deal: np.ndarray, as_of: np.ndarray,
               fallback: np.ndarray) -> np.ndarray:
    """Time of each deal's last known event (``fallback`` when none)."""
    hi = events.upto(deal, as_of)
    has = hi > events.start(deal)
    out = fallback.astype(np.int64).copy()
    out[has] = events.t_ms[hi[has] - 1]
    return out


def commitment_signals(enc: EncodedHistories, deal: np.ndarray, as_of: np.ndarray
                       ) -> tuple[Signals, np.ndarray]:
    """Close-date pushes and slip, days to close date, amount changes, booked next step.

    Also returns the amount known at as_of (for the context family).
    """
    cc, ac = enc.close_changes, enc.amount_changes
    c_lo, c_hi = cc.start(deal), cc.upto(deal, as_of)
    pushes, slips = cc.prefixes["push"], cc.prefixes["slip"]
    close_at = _value_at(cc, deal, as_of, enc.close_date_latest_ms[deal])
    amount = _value_at(ac, deal, as_of, enc.amount_latest[deal])
    changed = ac.prefixes["changed"]
    n_amount = (changed[ac.upto(deal, as_of)] - changed[ac.start(deal)]).astype(np.float64)
    first_amount = enc.amount_latest[deal].astype(np.float64).copy()
    a_lo = ac.start(deal)
    any_change = ac.end(deal) > a_lo
    first_amount[any_change] = ac.columns["old"][a_lo[any_change]]
    booked = enc.bookings.count(deal, as_of) - enc.activities.count(deal, as_of)
    created = enc.created_ms[deal]
    last_push = _last_time(enc.close_pushes, deal, as_of, np.full(len(deal), NEVER_MS))
    first_close = _value_at(cc, deal, created, enc.close_date_latest_ms[deal])
    return {
        "close_date_pushes": pushes[c_hi] - pushes[c_lo],
        "days_slipped": slips[c_hi] - slips[c_lo],
        "days_to_close_date": _days(close_at - as_of),
        "days_since_close_push": np.where(last_push < NEVER_MS, _days(as_of - last_push), np.nan),
        "planned_cycle_days": _days(first_close - created),
        "amount_changes": n_amount,
        "amount_vs_initial": np.where(first_amount > 0, amount / np.where(first_amount > 0,
                                                                           first_amount, 1),
                                      np.nan),
        "open_next_step": (booked > 0).astype(np.float64),
    }, amount


def _value_at(changes, deal: np.ndarray, as_of: np.ndarray,
              latest: np.ndarray) -> np.ndarray:
    """A tracked field's value at as_of.

    The last known change's new value, else the first change's old value (the value before any
    change), else the latest value on the deal.
    """
    lo, hi, end = changes.start(deal), changes.upto(deal, as_of), changes.end(deal)
    out = latest.astype(np.float64).copy()
    known = hi > lo
    out[known] = changes.columns["new"][hi[known] - 1]
    before_first = ~known & (end > lo)
    out[before_first] = changes.columns["old"][lo[before_first]]
    return out


def context_signals(enc: EncodedHistories, deal: np.ndarray, as_of: np.ndarray,
                    peers: PeerStats, amount: np.ndarray) -> Signals:
    """Amount known at as_of, and the owner's and account's closed-deal track records."""
    key = ("entity_codes", id(peers))
    if key not in enc.cache:  # one dictionary lookup per deal, reused by every block
        enc.cache[key] = (peers.owners.code_of(enc.owner), peers.accounts.code_of(enc.account))
    owners, accounts = enc.cache[key]
    n_o, win_o, nd_o = peers.rates(peers.owners, owners[deal], as_of)
    n_a, win_a, _ = peers.rates(peers.accounts, accounts[deal], as_of)
    return {
        "amount": amount,
        "owner_closed_deals": n_o,
        "owner_win_rate": win_o,
        "owner_no_decision_rate": nd_o,
        "account_closed_deals": n_a,
        "account_win_rate": win_a,
    }
