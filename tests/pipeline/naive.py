"""A deliberately naive, obviously-correct feature implementation: one Python loop per query row.

It reads the canonical tables directly, filtering every table with ``time <= as_of`` itself, and
shares nothing with the vectorised code except the feature names and vocabularies.
"""

from __future__ import annotations

import math
from itertools import pairwise
from statistics import median

import pandas as pd

from features.encode import ALL_ROLES, STEPS
from features.peers import SMOOTHING
from features.schema import ACTIVITY_TYPES, ROLES, TYPE_WINDOWS_DAYS, WINDOWS_DAYS

DAY = pd.Timedelta(days=1)
NAN = float("nan")


def _step_code(status: str, step: object) -> int:
    if status == "won":
        return len(STEPS) - 1
    if status == "lost":
        return -1
    return STEPS.index(step)


def _days(delta: pd.Timedelta) -> float:
    return delta / DAY


def naive_row(h, deal_id: str, a: pd.Timestamp) -> dict[str, float | str]:
    deals = h.deals.set_index("deal_id")
    d = deals.loc[deal_id]
    created = d["created_at"]
    out: dict[str, float | str] = {}

    # ---- stage
    rows = h.stage_history[(h.stage_history.deal_id == deal_id) & (h.stage_history.entered_at <= a)]
    rows = rows.sort_values("entered_at", kind="stable")
    stints: list[tuple[pd.Timestamp, int]] = []
    for r in rows.itertuples():
        code = _step_code(r.status, r.step)
        if not stints or stints[-1][1] != code:
            stints.append((r.entered_at, code))
    if stints:
        step, entered = stints[-1][1], stints[-1][0]
        changes = len(stints) - 1
        regressions = sum(1 for (_, p), (_, c) in pairwise(stints) if p >= 0 and c >= 0
                          and c < p)
        forwards = [t for (_, p), (t, c) in pairwise(stints) if c > p]
        forward = forwards[-1] if forwards else created
    else:
        step, entered, changes, regressions, forward = -2, created, 0, 0, created
    out["current_step"] = STEPS[step] if step >= 0 else ("lost" if step == -1 else "unknown")
    out["days_in_step"] = _days(a - entered)
    med = _won_median(h, step, a)
    out["days_in_step_vs_won"] = out["days_in_step"] / med if med and med > 0 else NAN
    out["deal_age_days"] = _days(a - created)
    out["step_changes"] = changes
    out["regressions"] = regressions
    out["days_since_forward_move"] = _days(a - forward)
    n_forward = len(forwards) if stints else 0
    out["forward_moves_per_30d"] = n_forward * 30.0 / max(_days(a - created), 7.0)

    # ---- engagement
    acts = h.activities[h.activities.deal_id == deal_id].copy()
    rec = acts["recorded_at"].fillna(acts["occurred_at"])
    acts["known"] = pd.concat([acts["occurred_at"], rec], axis=1).max(axis=1)
    acts["rec"] = rec
    known = acts[acts["known"] <= a]

    def count(frame, w):
        return float(((frame["known"] > a - w * DAY) & (frame["known"] <= a)).sum())

    buyer, seller = known[known.direction == "buyer"], known[known.direction == "seller"]
    for w in WINDOWS_DAYS:
        out[f"buyer_activities_{w}d"] = count(buyer, w)
        out[f"seller_activities_{w}d"] = count(seller, w)
    for w in TYPE_WINDOWS_DAYS:
        for t in ACTIVITY_TYPES:
            out[f"{t}_activities_{w}d"] = count(known[known["type"] == t], w)
    age = _days(a - created)
    total = float(len(buyer))
    out["buyer_activities_total"] = total
    out["buyer_rate_per_week"] = total / (max(age, 1.0) / 7)
    pace_30d = out["buyer_activities_30d"] / (max(min(age, 30.0), 1.0) / 7)
    out["buyer_pace_vs_usual"] = pace_30d / out["buyer_rate_per_week"] if total else NAN
    actions = known[known["action"].notna() & (known["action"] != "")]
    out["seller_actions_total"] = float(len(actions))
    out["seller_actions_30d"] = count(actions, 30)
    last_buyer = buyer["known"].max() if len(buyer) else created
    out["days_since_buyer_activity"] = _days(a - last_buyer)
    out["days_since_seller_touch"] = _days(a - (seller["known"].max() if len(seller)
                                                else created))
    met = known[known["type"].isin(["meeting", "demo"])]
    out["days_since_meeting"] = _days(a - (met["known"].max() if len(met) else created))
    out["unanswered_seller_touches"] = float((seller["known"] > last_buyer).sum())
    b30, s30 = out["buyer_activities_30d"], out["seller_activities_30d"]
    out["buyer_response_ratio"] = b30 / (b30 + s30) if b30 + s30 else NAN
    recent = out["buyer_activities_14d"]
    before = float(((buyer["known"] > a - 28 * DAY) & (buyer["known"] <= a - 14 * DAY)).sum())
    out["buyer_trend"] = (recent - before) / (recent + before) if recent + before else 0.0
    engaged = known["contact_id"].dropna().nunique()
    out["contacts_engaged"] = engaged
    committee = h.contacts[(h.contacts.deal_id == deal_id) & (h.contacts.added_at <= a)]
    out["contacts_on_deal"] = committee["contact_id"].nunique()
    roles = set(committee["role"]) & set(ALL_ROLES)
    out["roles_covered"] = len(roles)
    for role in ROLES:
        out[f"has_{role}"] = float(role in roles)
    out["single_threaded"] = float(engaged <= 1)
    meetings = out["meeting_activities_90d"] + out["demo_activities_90d"]
    emails = out["email_activities_90d"]
    out["meeting_share_90d"] = meetings / (meetings + emails) if meetings + emails else NAN

    # ---- commitment
    fh = h.field_history[h.field_history.deal_id == deal_id].sort_values("changed_at",
                                                                        kind="stable")
    close = fh[fh.field == "close_date"]
    close_known = close[close.changed_at <= a]
    pairs = zip(close_known.old_close_date, close_known.new_close_date, strict=True)
    slips = [_days(n - o) for o, n in pairs if pd.notna(o) and pd.notna(n)]
    out["close_date_pushes"] = float(sum(s > 0 for s in slips))
    out["days_slipped"] = float(sum(max(s, 0.0) for s in slips))
    close_at = _value_at(close_known, close, "old_close_date", "new_close_date",
                         d["expected_close_date"])
    out["days_to_close_date"] = _days(close_at - a) if pd.notna(close_at) else NAN
    pushed = [t for t, o, n in zip(close_known.changed_at, close_known.old_close_date,
                                   close_known.new_close_date, strict=True)
              if pd.notna(o) and pd.notna(n) and n > o]
    out["days_since_close_push"] = _days(a - max(pushed)) if pushed else NAN
    first_close = _value_at(close[close.changed_at <= created], close, "old_close_date",
                            "new_close_date", d["expected_close_date"])
    out["planned_cycle_days"] = _days(first_close - created) if pd.notna(first_close) else NAN
    amount = fh[fh.field == "amount"]
    amount_known = amount[amount.changed_at <= a]
    # a recorded value equal to the one before (a starting value) is not a change
    out["amount_changes"] = float(sum(1 for o, n in zip(amount_known.old_amount,
                                                        amount_known.new_amount, strict=True)
                                      if o != n))
    amount_at = _value_at(amount_known, amount, "old_amount", "new_amount", d["amount"])
    first = amount["old_amount"].iloc[0] if len(amount) else d["amount"]
    out["amount_vs_initial"] = amount_at / first if pd.notna(first) and first > 0 else NAN
    out["open_next_step"] = float(((acts["rec"] <= a) & (acts["known"] > a)).sum() > 0)

    # ---- context
    out["amount"] = amount_at
    closed = h.deals[h.deals.closed_at <= a]
    prior_won = (closed.outcome == "won").mean() if len(closed) else NAN
    prior_nd = (closed.outcome == "no_decision").mean() if len(closed) else NAN
    own = closed[closed.owner_id == d["owner_id"]]
    n = len(own)
    out["owner_closed_deals"] = n
    out["owner_win_rate"] = ((own.outcome == "won").sum() + SMOOTHING * prior_won) / (n + SMOOTHING)
    out["owner_no_decision_rate"] = (((own.outcome == "no_decision").sum() + SMOOTHING * prior_nd)
                                     / (n + SMOOTHING))
    acc = closed[closed.account_id == d["account_id"]]
    out["account_closed_deals"] = len(acc)
    out["account_win_rate"] = (((acc.outcome == "won").sum() + SMOOTHING * prior_won)
                               / (len(acc) + SMOOTHING))
    for c in ("segment", "region", "industry", "deal_type", "lead_source"):
        out[c] = d[c]
    return out


def _value_at(known, every, old_col, new_col, latest):
    if len(known):
        return known[new_col].iloc[-1]
    if len(every):
        return every[old_col].iloc[0]
    return latest


def _won_median(h, step: int, a: pd.Timestamp) -> float | None:
    if step < 0:
        return None
    won = h.deals[(h.deals.outcome == "won") & (h.deals.closed_at <= a)]
    totals = []
    for deal_id in won.deal_id:
        rows = h.stage_history[h.stage_history.deal_id == deal_id].sort_values(
            "entered_at", kind="stable")
        total, seen = 0.0, False
        times, steps = list(rows.entered_at), list(rows.step)
        for i in range(len(rows) - 1):
            if steps[i] == STEPS[step] and not (isinstance(steps[i], float)
                                                and math.isnan(steps[i])):
                total += _days(times[i + 1] - times[i])
                seen = True
        if seen:
            totals.append(total)
    return median(totals) if totals else None
