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

from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.histories import DealHistories
from features.profile import PipelineProfile
from features.schema import ACTIVITY_TYPES, CONTEXT_CATEGORIES, ROLES
from features.timeline import MS_PER_DAY, NEVER_MS, Clock, Timeline

#: Buyer steps in journey order; a closed-lost stage is step -1 and "customer" the last one.
STEPS: tuple[str, ...] = ("curious", "problem_shared", "solution_visualised", "evaluation_plan",
                          "decision", "customer")
OUTCOME_CODES = {"won": 0, "lost": 1, "no_decision": 2}
#: Activity-type codes that are meetings with the buyer (a meeting or a demo).
MEETING_TYPES: tuple[int, ...] = (ACTIVITY_TYPES.index("meeting"), ACTIVITY_TYPES.index("demo"))
ALL_ROLES: tuple[str, ...] = (*ROLES, "user", "executive_sponsor", "influencer", "blocker",
                              "other")


@dataclass
class HistoryArrays:
    """Canonical histories as flat numpy arrays; deal references are positions in ``deal_ids``.

    Times are int64 ms (:data:`NEVER_MS` when missing), codes index :data:`STEPS`,
    :data:`~features.schema.ACTIVITY_TYPES` and :data:`ALL_ROLES` (-1 when unmapped; stage code
    -1 is closed-lost), contact codes are any integers identifying a contact (-1 = none).
    """

    deal_ids: np.ndarray
    created_ms: np.ndarray
    closed_ms: np.ndarray
    owner: np.ndarray
    account: np.ndarray
    amount_latest: np.ndarray
    close_date_latest_ms: np.ndarray
    context: dict[str, np.ndarray]
    stage_deal: np.ndarray
    stage_ms: np.ndarray
    stage_code: np.ndarray
    act_deal: np.ndarray
    act_occurred_ms: np.ndarray
    act_recorded_ms: np.ndarray
    act_type: np.ndarray
    act_buyer: np.ndarray
    act_action: np.ndarray
    act_contact: np.ndarray
    member_deal: np.ndarray
    member_contact: np.ndarray
    member_role: np.ndarray
    member_ms: np.ndarray
    change_deal: np.ndarray
    change_ms: np.ndarray
    change_is_close: np.ndarray
    change_is_amount: np.ndarray
    change_old_close_ms: np.ndarray
    change_new_close_ms: np.ndarray
    change_old_amount: np.ndarray
    change_new_amount: np.ndarray
    custom: dict[str, np.ndarray] = field(default_factory=dict)
    profile: PipelineProfile = field(default_factory=PipelineProfile)

    def for_deals(self, lo: int, hi: int) -> HistoryArrays:
        """The deals at positions ``lo..hi-1`` with their rows, renumbered from 0."""
        out: dict[str, object] = {}
        masks = {prefix: (getattr(self, f"{prefix}_deal") >= lo)
                 & (getattr(self, f"{prefix}_deal") < hi)
                 for prefix in ("stage", "act", "member", "change")}
        for f in fields(self):
            value = getattr(self, f.name)
            prefix = f.name.split("_", 1)[0]
            if f.name in ("context", "custom"):
                out[f.name] = {c: v[lo:hi] for c, v in value.items()}
            elif f.name == "profile":
                out[f.name] = value
            elif prefix in masks:
                picked = value[masks[prefix]]
                out[f.name] = picked - lo if f.name == f"{prefix}_deal" else picked
            else:
                out[f.name] = value[lo:hi]
        return HistoryArrays(**out)  # type: ignore[arg-type]


@dataclass
class EncodedHistories:
    """Timelines over one set of deals, ready for point-in-time reads."""

    deal_ids: np.ndarray
    created_ms: np.ndarray
    closed_ms: np.ndarray
    owner: np.ndarray
    account: np.ndarray
    amount_latest: np.ndarray
    close_date_latest_ms: np.ndarray
    context: dict[str, np.ndarray]
    clock: Clock
    rank: np.ndarray
    stints: Timeline
    activities: Timeline
    buyer_activities: Timeline
    seller_activities: Timeline
    meetings: Timeline
    bookings: Timeline
    first_engaged: Timeline
    committee: Timeline
    role_first_ms: np.ndarray
    close_changes: Timeline
    close_pushes: Timeline
    amount_changes: Timeline
    custom: dict[str, np.ndarray] = field(default_factory=dict)
    profile: PipelineProfile = field(default_factory=PipelineProfile)
    cache: dict[object, object] = field(default_factory=dict, repr=False)

    @property
    def n_deals(self) -> int:
        """Number of deals encoded."""
        return len(self.deal_ids)

    @cached_property
    def deal_ids_arrow(self) -> pa.Array:
        """Deal ids as an Arrow string array (fast ``take`` for output columns)."""
        return pa.array(self.deal_ids.astype(str), type=pa.string())

    @cached_property
    def context_categories(self) -> dict[str, pd.Categorical]:
        """Each categorical context column (standard and custom) over all encoded deals."""
        return context_categoricals(self.context, self.custom, self.profile)


def context_categoricals(context: dict[str, np.ndarray], custom: dict[str, np.ndarray],
                         profile: PipelineProfile) -> dict[str, pd.Categorical]:
    """The standard context columns and the profile's custom categories as categoricals."""
    out = {c: pd.Categorical(values) for c, values in context.items()}
    for ctx in profile.context:
        if ctx.kind == "category":
            out[ctx.name] = pd.Categorical(custom[ctx.name])
    return out


def to_ms(series: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 milliseconds; missing values become :data:`NEVER_MS`."""
    values = series.astype("datetime64[ms, UTC]").array
    ms = np.asarray(values.asi8, dtype=np.int64).copy()
    ms[np.asarray(series.isna())] = NEVER_MS
    return ms


def encode(h: DealHistories) -> EncodedHistories:
    """Encode canonical, validated tables for :func:`features.build.build_features`."""
    return encode_arrays(arrays_from_tables(h))


def arrays_from_tables(h: DealHistories) -> HistoryArrays:
    """Flatten canonical tables into :class:`HistoryArrays` (vectorised)."""
    deals = h.deals
    index = pd.Index(deals["deal_id"].astype("str"))

    positions = {}
    tables = {}
    for name in ("stage_history", "activities", "contacts", "field_history"):
        frame = getattr(h, name)
        found = codes(frame["deal_id"], index)
        # rows of deals missing from the deals table cannot inform any feature row: drop them
        if (found < 0).any():
            frame, found = frame[found >= 0], found[found >= 0]
        tables[name], positions[name] = frame, found
    stages, acts, members, changes = tables.values()
    status = stages["status"].astype("str").to_numpy(dtype=object)
    stage_code = np.where(status == "won", len(STEPS) - 1,
                          np.where(status == "lost", -1, codes(stages["step"], STEPS)))
    contact_text = pd.concat([acts["contact_id"], members["contact_id"]]).astype("str")
    contact_codes, _ = pd.factorize(contact_text.where(contact_text != ""))
    act_contact = contact_codes[: len(acts)].astype(np.int32)
    changed = changes["field"].astype("str")
    return HistoryArrays(
        deal_ids=index.to_numpy(dtype=object),
        created_ms=to_ms(deals["created_at"]),
        closed_ms=to_ms(deals["closed_at"]),
        owner=deals["owner_id"].astype("str").to_numpy(dtype=object),
        account=deals["account_id"].astype("str").to_numpy(dtype=object),
        amount_latest=deals["amount"].to_numpy(dtype=np.float64, na_value=np.nan),
        close_date_latest_ms=_ms_or_nan(deals["expected_close_date"]),
        context={c: deals[c].astype("str").to_numpy(dtype=object) for c in CONTEXT_CATEGORIES},
        stage_deal=positions["stage_history"], stage_ms=to_ms(stages["entered_at"]),
        stage_code=stage_code.astype(np.int64),
        act_deal=positions["activities"], act_occurred_ms=to_ms(acts["occurred_at"]),
        act_recorded_ms=to_ms(acts["recorded_at"]),
        act_type=codes(acts["type"], ACTIVITY_TYPES).astype(np.int8),
        act_buyer=(acts["direction"].astype("str") == "buyer").to_numpy(dtype=bool),
        act_action=acts["action"].notna().to_numpy(dtype=bool),
        act_contact=act_contact,
        member_deal=positions["contacts"],
        member_contact=contact_codes[len(acts):].astype(np.int32),
        member_role=codes(members["role"], ALL_ROLES), member_ms=to_ms(members["added_at"]),
        change_deal=positions["field_history"], change_ms=to_ms(changes["changed_at"]),
        change_is_close=(changed == "close_date").to_numpy(dtype=bool),
        change_is_amount=(changed == "amount").to_numpy(dtype=bool),
        change_old_close_ms=_ms_or_nan(changes["old_close_date"]),
        change_new_close_ms=_ms_or_nan(changes["new_close_date"]),
        change_old_amount=_floats(changes["old_amount"]),
        change_new_amount=_floats(changes["new_amount"]),
        custom={c.name: (_floats(deals[c.name]) if c.kind == "number"
                         else deals[c.name].astype("str").to_numpy(dtype=object))
                for c in h.profile.context},
        profile=h.profile,
    )


def encode_arrays(a: HistoryArrays) -> EncodedHistories:
    """Build the timelines (the one encoding used by training and live scoring alike).

    A committee member whose joining time is unknown (:data:`NEVER_MS`, e.g. a HubSpot contact)
    joins at its first activity on the deal, and is never known if it has none.
    """
    times = np.concatenate([a.created_ms, a.closed_ms, a.stage_ms, a.act_occurred_ms,
                            a.act_recorded_ms, a.member_ms, a.change_ms])
    times = times[times < NEVER_MS]
    lo, hi = (int(times.min()), int(times.max())) if len(times) else (0, MS_PER_DAY)
    clock = Clock.covering(lo, hi + 400 * MS_PER_DAY, len(a.deal_ids))
    recorded = np.where(a.act_recorded_ms >= NEVER_MS, a.act_occurred_ms, a.act_recorded_ms)
    known = np.maximum(a.act_occurred_ms, recorded)
    with_contact = a.act_contact >= 0
    e_deal, e_contact, e_ms = _first_per_pair(a.act_deal[with_contact],
                                              a.act_contact[with_contact], known[with_contact])
    member_ms = _join_times(a.member_deal, a.member_contact, a.member_ms,
                            (e_deal, e_contact, e_ms))
    m_deal, _, m_ms = _first_per_pair(a.member_deal, a.member_contact, member_ms)
    role_first = np.full((len(a.deal_ids), len(ALL_ROLES)), NEVER_MS, dtype=np.int64)
    mapped = a.member_role >= 0
    np.minimum.at(role_first, (a.member_deal[mapped], a.member_role[mapped]),
                  member_ms[mapped])
    close, amount = a.change_is_close, a.change_is_amount
    n = len(a.deal_ids)
    acts = Timeline.build(clock, a.act_deal, known, type=a.act_type, buyer=a.act_buyer,
                          action=a.act_action)
    buyer = acts.columns["buyer"]
    acts.add_prefix("buyer", buyer).add_prefix("seller", ~buyer)
    acts.add_prefix("action", acts.columns.pop("action"))
    for i, kind in enumerate(ACTIVITY_TYPES):
        acts.add_prefix(kind, acts.columns["type"] == i)
    close_changes = Timeline.build(
        clock, a.change_deal[close], a.change_ms[close], old=a.change_old_close_ms[close],
        new=a.change_new_close_ms[close])
    slip = (close_changes.columns["new"] - close_changes.columns["old"]) / MS_PER_DAY
    slip = np.nan_to_num(slip, nan=0.0)
    close_changes.add_prefix("push", slip > 0).add_prefix("slip", np.maximum(slip, 0.0))
    rank = deal_rank(a.deal_ids)
    return EncodedHistories(
        deal_ids=a.deal_ids, created_ms=a.created_ms, closed_ms=a.closed_ms, owner=a.owner,
        account=a.account, amount_latest=a.amount_latest,
        close_date_latest_ms=a.close_date_latest_ms, context=a.context, clock=clock, rank=rank,
        stints=_stints(clock, a.stage_deal, a.stage_ms, a.stage_code).index_deals(n),
        activities=acts.index_deals(n),
        buyer_activities=acts.subset(buyer).index_deals(n),
        seller_activities=acts.subset(~buyer).index_deals(n),
        meetings=acts.subset(np.isin(acts.columns["type"], MEETING_TYPES)).index_deals(n),
        bookings=Timeline.build(clock, a.act_deal, recorded).index_deals(n),
        first_engaged=Timeline.build(clock, e_deal, e_ms).index_deals(n),
        committee=Timeline.build(clock, m_deal, m_ms).index_deals(n),
        role_first_ms=role_first,
        close_changes=close_changes.index_deals(n),
        close_pushes=close_changes.subset(slip > 0).index_deals(n),
        amount_changes=_amount_changes(clock, a, amount).index_deals(n),
        custom=a.custom, profile=a.profile,
    )


def _amount_changes(clock: Clock, a: HistoryArrays, amount: np.ndarray) -> Timeline:
    """Amount changes, with a prefix count of the real ones.

    A recorded starting value (old == new) is not a change.
    """
    tl = Timeline.build(clock, a.change_deal[amount], a.change_ms[amount],
                        old=a.change_old_amount[amount], new=a.change_new_amount[amount])
    return tl.add_prefix("changed", tl.columns["old"] != tl.columns["new"])


def deal_rank(deal_ids: np.ndarray) -> np.ndarray:
    """Each deal's position in deal-id order (output rows are ordered by deal id).

    Example:
        >>> deal_rank(np.array(["b", "a", "c"], dtype=object)).tolist()
        [1, 0, 2]
    """
    if len(deal_ids) < 2:  # live scoring: one deal
        return np.zeros(len(deal_ids), dtype=np.int64)
    ids = pd.Index(deal_ids.astype(str), dtype="str")
    if ids.is_monotonic_increasing:  # canonical tables come sorted by deal id
        return np.arange(len(ids), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(deal_ids.astype(str), kind="stable")] = np.arange(len(ids))
    return rank


def query_order(rank: np.ndarray, as_of_ms: np.ndarray) -> np.ndarray | None:
    """The permutation putting query rows in (deal rank, as_of) order; None if already so.

    Example:
        >>> query_order(np.array([1, 0]), np.array([5, 9])).tolist()
        [1, 0]
        >>> query_order(np.array([0, 0]), np.array([5, 9])) is None
        True
    """
    if len(rank) < 2:
        return None
    low = int(as_of_ms.min())
    time_bits = int(as_of_ms.max() - low + 1).bit_length()
    if time_bits + int(rank.max() + 1).bit_length() > 62:
        return np.lexsort((as_of_ms, rank))
    key = (rank.astype(np.int64) << time_bits) | (as_of_ms - low)
    if bool(np.all(key[1:] >= key[:-1])):
        return None
    return np.argsort(key, kind="stable")


def codes(series: pd.Series, vocab: pd.Index | tuple[str, ...]) -> np.ndarray:
    """Position of each value in ``vocab`` (-1 when missing or absent), by Arrow hash lookup.

    Example:
        >>> codes(pd.Series(["b", None, "z"]), ("a", "b")).tolist()
        [1, -1, -1]
    """
    values = pa.array(series.astype("str"))
    known = vocab.astype("str") if isinstance(vocab, pd.Index) else pd.Index(list(vocab),
                                                                            dtype="str")
    found = pc.index_in(values, value_set=pa.array(known))
    return np.asarray(found.fill_null(-1).to_numpy(), dtype=np.int64)


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _ms_or_nan(series: pd.Series) -> np.ndarray:
    ms = to_ms(series).astype(np.float64)
    ms[ms >= NEVER_MS] = np.nan
    return ms


def _first_per_pair(deal: np.ndarray, code: np.ndarray, t: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earliest time of each distinct (deal, code) pair: (deal, code, first time) arrays."""
    if len(deal) < 20_000:  # small (live scoring): a sort beats pandas' groupby set-up
        order = np.lexsort((t, code, deal))
        d, c = deal[order], code[order]
        first = np.r_[True, (d[1:] != d[:-1]) | (c[1:] != c[:-1])] if len(d) else d > 0
        return (d[first].astype(np.int64), c[first].astype(np.int64),
                t[order][first].astype(np.int64))
    width = int(code.max()) + 1
    first = pd.Series(t, copy=False).groupby(deal.astype(np.int64) * width + code,
                                             sort=False).min()
    keys = first.index.to_numpy()
    return ((keys // width).astype(np.int64), (keys % width).astype(np.int64),
            first.to_numpy(dtype=np.int64))


def _join_times(deal: np.ndarray, contact: np.ndarray, joined_ms: np.ndarray,
                first_activity: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Members' joining times, the first activity with them where the joining time is unknown.

    Example:
        >>> _join_times(np.array([0, 0]), np.array([1, 2]), np.array([5, NEVER_MS]),
        ...             (np.array([0]), np.array([2]), np.array([9]))).tolist()
        [5, 9]
    """
    unknown = joined_ms >= NEVER_MS
    if not unknown.any():
        return joined_ms
    e_deal, e_contact, e_ms = first_activity
    width = int(max(contact.max(initial=0), e_contact.max(initial=0))) + 1
    keys = e_deal.astype(np.int64) * width + e_contact
    order = np.argsort(keys, kind="stable")
    keys, e_ms = keys[order], e_ms[order]
    wanted = deal[unknown].astype(np.int64) * width + contact[unknown]
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (contact[unknown] >= 0) & (len(keys) > 0)
    found &= keys[at] == wanted if len(keys) else False
    out = joined_ms.copy()
    out[unknown] = np.where(found, e_ms[at] if len(keys) else NEVER_MS, NEVER_MS)
    return out


def _stints(clock: Clock, deal: np.ndarray, t_ms: np.ndarray, code: np.ndarray) -> Timeline:
    tl = Timeline.build(clock, deal, t_ms, step=code)
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
        forwards=_running_sum(forward.astype(np.int64), group_start),
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
