"""Latent traits show only as noisy traces in what the buyer says and does (PRODUCT.md)."""

from __future__ import annotations

import numpy as np

from training.simulator.activities import IS_EVENT, activity_rows
from training.simulator.journey import simulate_journeys
from training.simulator.latent import draw_deals
from training.simulator.params import SimParams

PARAMS = SimParams(seed=1, n_deals=3000)


def test_urgent_buyers_state_nearer_timelines_but_not_exactly() -> None:
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    plan = np.log(deals.close_plan)
    for segment in range(3):
        sel = deals.segment == segment
        r = np.corrcoef(deals.urgency[sel], plan[sel])[0, 1]
        assert -0.95 < r < -0.5  # a clear trace, still noisy


def test_nobody_meets_a_buyer_who_went_dark() -> None:
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    journeys = simulate_journeys(PARAMS, deals)
    rows = activity_rows(PARAMS, journeys)
    # activity_rows orders by (deal, time); the dark flag is constant within a deal-day
    order = np.lexsort((journeys.activity["day"], journeys.activity["row"]))
    dark = journeys.activity["dark"][order].astype(bool)
    assert dark.sum() > 100  # dark spells do produce seller outreach
    # the historic policy never runs an evaluation (an event-only action) with a dark buyer
    assert not (IS_EVENT[rows["subject"]] & dark).any()
    assert (IS_EVENT[rows["subject"]] & ~dark).any()
