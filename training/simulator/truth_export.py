"""Ground-truth tables for one chunk: per-deal latent and outcome, per-day oracle probabilities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.simulator.journey import Journeys
from training.simulator.params import OUTCOMES, SEGMENTS, STEPS
from training.simulator.sf_export import opportunity_ids
from training.simulator.truth import StateTables


def _ts(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = np.asarray(seconds, np.int64).astype("datetime64[s]")
    mask = None if valid is None else ~np.asarray(valid, bool)
    return pa.array(arr, type=pa.timestamp("s", tz="UTC"), mask=mask)


def deals_table(j: Journeys) -> pa.Table:
    """``truth/deals.parquet`` rows: ids, every latent value, final outcome, closed_at.

    Example:
        >>> # deals_table(journeys).column_names[:2]  -> ['deal_id', 'deal_index']
    """
    d = j.deals
    return pa.table({
        "deal_id": opportunity_ids(d.index),
        "deal_index": pa.array(d.index),
        "owner_index": pa.array(d.owner),
        "rep_skill": pa.array(d.rep_skill),
        "intent": pa.array(d.intent),
        "perceived_intent": pa.array(d.perceived_intent),
        "urgency": pa.array(d.urgency),
        "budget": pa.array(d.budget),
        "champion": pa.array(d.champion),
        "speed": pa.array(d.speed),
        "committee_size": pa.array(d.committee_size),
        "segment": pc.take(pa.array(list(SEGMENTS)), pa.array(d.segment)),
        "initial_step": pc.take(pa.array(list(STEPS)), pa.array(d.initial_step)),
        "created_at": _ts(d.created_ts),
        "outcome": pc.take(pa.array(list(OUTCOMES)), pa.array(j.outcome.astype(np.int64))),
        "closed_at": _ts(np.maximum(j.close_ts, 0), j.outcome > 0),
        "days_open": pa.array(np.where(j.outcome > 0, j.close_day, d.last_day)),
        "final_step": pc.take(pa.array(list(STEPS)), pa.array(j.final_step)),
        "final_engaged": pa.array(~j.final_dark),
        "n_actions": pa.array(j.n_actions),
    })


def daily_table(j: Journeys, tables: StateTables) -> pa.Table:
    """``truth/daily.parquet`` rows: one per deal and day it is open, with exact oracle odds.

    The state is the hidden state at the end of that day; probabilities are the final
    outcome and stall probabilities from it under the historic policy.

    Example:
        >>> # daily_table(journeys, state_tables(params, deals)[0])
    """
    dl = j.daily
    rows = dl["row"]
    x = 2 * dl["step"].astype(np.int64) + dl["dark"].astype(np.int64)
    deal_ids = opportunity_ids(j.deals.index)
    dates = (j.deals.created_day[rows] + dl["day"]).astype(np.int32)
    return pa.table({
        "deal_id": pc.take(deal_ids, pa.array(rows)),
        "date": pa.array(dates, type=pa.date32()),
        "day": pa.array(dl["day"].astype(np.int32)),
        "step": pa.array(dl["step"].astype(np.int8)),
        "engaged": pa.array(~dl["dark"].astype(bool)),
        "p_stall": pa.array(tables.p_stall[rows, x]),
        "p_won": pa.array(tables.p_won[rows, x]),
        "p_lost": pa.array(tables.p_lost[rows, x]),
        "p_no_decision": pa.array(tables.p_no_decision[rows, x]),
    })
