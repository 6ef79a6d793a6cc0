"""The simulated CRM never records the future: what it holds at time T is the same whether or
not the deals went on after T (so features built as of T cannot see past T through the data).

Meetings are booked at most 5 days ahead, so the comparison stops 5 days before the cut.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from training.simulator.activities import activity_rows, committee_roles
from training.simulator.journey import Journeys, simulate_journeys
from training.simulator.latent import Deals, draw_deals
from training.simulator.params import SimParams

PARAMS = SimParams(seed=3, n_deals=3000)
BOOKING_DAYS = 5


def _records(deals: Deals, until_ts: int) -> dict[str, set[tuple[int, ...]]]:
    """Every record the CRM holds at ``until_ts``, as comparable tuples per table."""
    j: Journeys = simulate_journeys(PARAMS, deals)
    acts = activity_rows(PARAMS, j)
    row, slot, joined = committee_roles(j, acts)
    seen = acts["created_ts"] <= until_ts
    return {
        "stage": {tuple(map(int, t)) for t in zip(j.stage["row"], j.stage["ts"], j.stage["stage"],
                                                  j.stage["close_offset"], strict=True)
                  if t[1] <= until_ts},
        "field": {tuple(map(int, t)) for t in zip(j.field["row"], j.field["ts"], j.field["field"],
                                                  j.field["new"], strict=True)
                  if t[1] <= until_ts},
        "activity": set(zip(*(acts[k][seen].tolist() for k in (
            "row", "start_ts", "created_ts", "subject", "contact_slot")), strict=True)),
        "contact_role": {(int(r), int(s)) for r, s, t in zip(row, slot, joined, strict=True)
                         if t <= until_ts},
    }


def test_what_the_crm_holds_at_t_does_not_depend_on_what_happens_after_t() -> None:
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    cut_day = int(np.median(deals.created_day)) + 60
    cut = dataclasses.replace(deals, last_day=np.minimum(deals.last_day,
                                                         cut_day - deals.created_day))
    until_ts = (cut_day - BOOKING_DAYS) * 86400
    full, stopped = _records(deals, until_ts), _records(cut, until_ts)
    for table, rows in full.items():
        assert len(rows) > 500, table
        assert rows == stopped[table], f"{table}: {len(rows ^ stopped[table])} records differ"
