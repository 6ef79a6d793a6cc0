"""The day-by-day simulation of a batch of deals: hidden journey, seller actions, emissions.

Each day, for every open deal: the rep picks an action (historic policy, or the policy
under test after ``from_day``), buyer and seller activities are emitted from the state
the deal is in that day, then the hidden state moves. All draws are keyed by
(seed, deal, day, stream), so a deal's path does not depend on which other deals are
simulated with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.simulator.dynamics import day_probs, historic_actions
from training.simulator.latent import Deals
from training.simulator.params import (
    DRK,
    FWD,
    LST,
    NDC,
    REG,
    RET,
    WIN,
    SimParams,
)
from training.simulator.rng import Stream, uniform

# activity kinds: 0 buyer-initiated, 1 seller ordinary, 2 proposal, 3 + a = seller action a
KIND_BUYER, KIND_SELLER, KIND_PROPOSAL, KIND_ACTION = 0, 1, 2, 3
FIELD_CLOSE_DATE, FIELD_AMOUNT = 0, 1


@dataclass
class PolicyContext:
    """What a policy sees for the deal-days it decides (arrays of equal length m)."""

    params: SimParams
    deals: Deals
    rows: np.ndarray  # positions in ``deals``
    deal_index: np.ndarray  # global deal numbers
    day: np.ndarray  # days since creation
    step: np.ndarray
    dark: np.ndarray
    u: np.ndarray  # the historic policy's uniform for this deal-day
    historic: np.ndarray  # what the historic policy would do (-1 = none)


Policy = Callable[[PolicyContext], np.ndarray]


@dataclass
class Journeys:
    """Everything that happened to a batch of deals (positions ``row`` index into ``deals``)."""

    deals: Deals
    outcome: np.ndarray  # 0 open, 1 won, 2 lost, 3 no decision
    close_day: np.ndarray  # days since creation, -1 if open
    close_ts: np.ndarray  # seconds since epoch, -1 if open
    loss_reason: np.ndarray  # -1, 0..2 lost reasons, 3..6 no-decision reasons
    amount_cents: np.ndarray  # final amount
    close_offset: np.ndarray  # final close date, days after creation
    final_step: np.ndarray
    final_dark: np.ndarray
    stage: dict[str, np.ndarray]  # row, day, ts, stage, amount, close_offset
    field: dict[str, np.ndarray]  # row, day, ts, field, old, new
    activity: dict[str, np.ndarray]  # row, day, kind, step, dark
    daily: dict[str, np.ndarray]  # row, day, step, dark (state at the end of the day)
    n_actions: np.ndarray  # actions taken per deal


class _Log:
    """Append-only columnar log, concatenated once at the end."""

    def __init__(self, *cols: str) -> None:
        self.cols = cols
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}

    def add(self, **kw: np.ndarray) -> None:
        for c in self.cols:
            self.parts[c].append(np.array(kw[c], copy=True))

    def result(self) -> dict[str, np.ndarray]:
        out = {c: np.concatenate(v) if v else np.zeros(0, np.int64) for c, v in self.parts.items()}
        order = np.argsort(out["row"], kind="stable")
        return {c: v[order] for c, v in out.items()}


def buyer_rate(params: SimParams, deals: Deals, rows: np.ndarray, step: np.ndarray,
               dark: np.ndarray) -> np.ndarray:
    """Daily probability of a buyer-initiated activity (≈0 while the buyer is dark).

    Keener (intent), more urgent, better-championed and faster-moving (speed) buyers reach out
    more often, so the pace of buyer engagement is a noisy trace of those traits.

    Example:
        >>> # buyer_rate(params, deals, rows, step, dark)
    """
    p = params
    lift = np.exp(p.buyer_intent * deals.intent[rows] + p.buyer_champion * deals.champion[rows]
                  + p.buyer_urgency * deals.urgency[rows]
                  + p.buyer_speed * np.log(deals.speed[rows])) * (1 + 0.12 * step)
    return np.where(dark, params.buyer_rate_dark, np.minimum(params.buyer_rate * lift, 0.8))


def simulate_journeys(
    params: SimParams,
    deals: Deals,
    policy: Policy | None = None,
    from_day: np.ndarray | int = 0,
    record: bool = True,
    max_day: int | None = None,
) -> Journeys:
    """Simulate the deals from creation to their close or the export time.

    The historic policy decides actions on days ``<= from_day``; ``policy`` (if given)
    decides from ``from_day + 1`` on, with the same random draws for everything else.
    ``max_day`` overrides the last simulable day (e.g. to run past the export).

    Example:
        >>> import numpy as np
        >>> from training.simulator.latent import draw_deals
        >>> p = SimParams(seed=1, n_deals=50)
        >>> j = simulate_journeys(p, draw_deals(p, np.arange(50)))
        >>> set(np.unique(j.outcome)) <= {0, 1, 2, 3}
        True
    """
    n = len(deals)
    seed = params.seed
    last_day = deals.last_day if max_day is None else np.full(n, max_day, np.int64)
    from_day = np.broadcast_to(np.asarray(from_day, dtype=np.int64), (n,))
    step = deals.initial_step.copy()
    dark = np.zeros(n, bool)
    outcome = np.zeros(n, np.int8)
    close_day = np.full(n, -1, np.int64)
    close_ts = np.full(n, -1, np.int64)
    loss_reason = np.full(n, -1, np.int64)
    amount = deals.amount_cents.copy()
    close_off = deals.close_plan.copy()
    n_actions = np.zeros(n, np.int64)
    all_rows = np.arange(n)
    stage_log = _Log("row", "day", "ts", "stage", "amount", "close_offset")
    field_log = _Log("row", "day", "ts", "field", "old", "new")
    act_log = _Log("row", "day", "kind", "step", "dark")
    daily_log = _Log("row", "day", "step", "dark")
    if record:
        stage_log.add(row=all_rows, day=np.zeros(n, np.int64), ts=deals.created_ts, stage=step,
                      amount=amount, close_offset=close_off)
        daily_log.add(row=all_rows, day=np.zeros(n, np.int64), step=step, dark=dark)
    active = all_rows[last_day >= 1]
    d = 0
    while len(active):
        d += 1
        active = active[(outcome[active] == 0) & (last_day[active] >= d)]
        if not len(active):
            break
        r = active
        g = deals.index[r]
        st, dk = step[r], dark[r]
        u_act = uniform(seed, g, d, Stream.ACTION)
        act = historic_actions(params, deals, r, st, dk, u_act)
        if policy is not None:
            switch = d > from_day[r]
            if switch.any():
                ctx = PolicyContext(params, deals, r[switch], g[switch],
                                    np.full(int(switch.sum()), d), st[switch], dk[switch],
                                    u_act[switch], act[switch])
                act = act.copy()
                act[switch] = np.asarray(policy(ctx), dtype=np.int64)
        n_actions[r] += act >= 0
        day_ts = (deals.created_day[r] + d) * 86400
        if record:
            buyer = uniform(seed, g, d, Stream.BUYER) < buyer_rate(params, deals, r, st, dk)
            seller = uniform(seed, g, d, Stream.SELLER) < np.where(
                dk, params.seller_rate_dark, params.seller_rate)
            u_prop = uniform(seed, g, d, Stream.PROPOSAL)
            proposal = (st >= 3) & ~dk & (u_prop < params.proposal_rate)
            emitted = ((buyer, KIND_BUYER), (seller, KIND_SELLER), (proposal, KIND_PROPOSAL),
                       (act >= 0, KIND_ACTION + act))
            for mask, kind in emitted:
                if np.any(mask):
                    k = np.broadcast_to(kind, mask.shape)[mask]
                    act_log.add(row=r[mask], day=np.full(int(mask.sum()), d), kind=k,
                                step=st[mask], dark=dk[mask])
        probs = day_probs(params, deals, r, st, dk, act)
        u_tr = uniform(seed, g, d, Stream.TRANSITION)
        cat = (u_tr[:, None] >= np.cumsum(probs, axis=1)).sum(axis=1)
        new_step = st + (cat == FWD) - (cat == REG)
        new_dark = np.where(cat == DRK, True, np.where(cat == RET, False, dk))
        new_out = np.select([cat == WIN, cat == LST, cat == NDC], [1, 2, 3], 0).astype(np.int8)
        t_change = day_ts + 16 * 3600 + (uniform(seed, g, d, Stream.CHANGE_TIME) * 7000).astype(
            np.int64) + 120
        # amount changes when the deal advances into the later steps
        amt_chg = (cat == FWD) & (new_step >= 3) & (uniform(seed, g, d, Stream.AMOUNT_CHANGE) < 0.3)
        old_amt = amount[r]
        factor = np.exp(0.25 * (uniform(seed, g, d, Stream.AMOUNT_FACTOR) - 0.55))
        new_amt = np.where(amt_chg, np.round(old_amt * factor / 10_000) * 10_000, old_amt)
        new_amt = np.maximum(new_amt, 100_000).astype(np.int64)
        amt_chg &= new_amt != old_amt
        # close date pushed when it passes, or (often) when the buyer goes dark
        old_close = close_off[r]
        passed = (d > old_close) & (new_out == 0)
        u_push = uniform(seed, g, d, Stream.PUSH)
        went_dark = (cat == DRK) & (u_push < 0.5) & (old_close < d + 30)
        push_days = (uniform(seed, g, d, Stream.PUSH_DAYS) * 46).astype(np.int64)
        new_close = np.where(passed, d + 14 + push_days,
                             np.where(went_dark, old_close + 30 + push_days, old_close))
        closing = new_out > 0
        new_close = np.where(closing, d, new_close)
        close_chg = new_close != old_close
        step[r], dark[r], outcome[r], amount[r], close_off[r] = (
            new_step, new_dark, new_out, new_amt, new_close)
        if closing.any():
            rc = r[closing]
            close_day[rc] = d
            close_ts[rc] = t_change[closing]
            u_lr = uniform(seed, g[closing], d, Stream.LOSS_REASON)
            lost_r = np.searchsorted([0.5, 0.8], u_lr, side="right")
            nd_w = np.where(dk[closing], 1, 0)
            nd_r = 3 + np.where(nd_w == 1, np.searchsorted([0.25, 0.35, 0.85], u_lr, side="right"),
                                np.searchsorted([0.4, 0.7, 0.8], u_lr, side="right"))
            loss_reason[rc] = np.where(new_out[closing] == 2, lost_r,
                                       np.where(new_out[closing] == 3, nd_r, -1))
        if record:
            changes = ((amt_chg, FIELD_AMOUNT, old_amt, new_amt, 90),
                       (close_chg, FIELD_CLOSE_DATE, old_close, new_close, 60))
            for mask, field, old, new, dt in changes:
                if mask.any():
                    m = int(mask.sum())
                    field_log.add(row=r[mask], day=np.full(m, d), ts=t_change[mask] - dt,
                                  field=np.full(m, field), old=old[mask], new=new[mask])
            moved = (new_step != st) | closing
            if moved.any():
                stage_code = np.where(new_out == 1, 5, np.where(new_out >= 2, 6, new_step))
                stage_log.add(row=r[moved], day=np.full(int(moved.sum()), d), ts=t_change[moved],
                              stage=stage_code[moved], amount=new_amt[moved],
                              close_offset=new_close[moved])
            still = ~closing
            daily_log.add(row=r[still], day=np.full(int(still.sum()), d), step=new_step[still],
                          dark=new_dark[still])
    return Journeys(
        deals=deals,
        outcome=outcome,
        close_day=close_day,
        close_ts=close_ts,
        loss_reason=loss_reason,
        amount_cents=amount,
        close_offset=close_off,
        final_step=step,
        final_dark=dark,
        stage=stage_log.result(),
        field=field_log.result(),
        activity=act_log.result(),
        daily=daily_log.result(),
        n_actions=n_actions,
    )
