"""Latent traits show only as noisy traces in what the buyer says and does (PRODUCT.md)."""

from __future__ import annotations

import numpy as np

from training.simulator.activities import IS_EVENT, activity_rows, committee_roles
from training.simulator.journey import simulate_journeys
from training.simulator.latent import draw_deals
from training.simulator.params import MAX_COMMITTEE, SimParams

PARAMS = SimParams(seed=1, n_deals=3000)


def test_urgent_buyers_state_nearer_timelines_but_not_exactly() -> None:
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    plan = np.log(deals.close_plan)
    for segment in range(3):
        sel = deals.segment == segment
        r = np.corrcoef(deals.urgency[sel], plan[sel])[0, 1]
        assert -0.95 < r < -0.5  # a clear trace, still noisy


def test_fast_buying_processes_state_shorter_timelines_but_not_exactly() -> None:
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    plan = np.log(deals.close_plan)
    for segment in range(3):
        sel = deals.segment == segment
        r = np.corrcoef(np.log(deals.speed[sel]), plan[sel])[0, 1]
        assert -0.7 < r < -0.2


def test_contact_roles_appear_when_the_person_first_shows_up() -> None:
    """A role dated before its contact's first activity would tell the future (leak)."""
    deals = draw_deals(PARAMS, np.arange(PARAMS.n_deals))
    journeys = simulate_journeys(PARAMS, deals)
    rows = activity_rows(PARAMS, journeys)
    role_row, slot, created = committee_roles(journeys, rows)
    key = rows["row"] * MAX_COMMITTEE + rows["contact_slot"]
    seen = np.minimum(rows["start_ts"], rows["created_ts"])
    first = np.full(len(deals.index) * MAX_COMMITTEE, np.iinfo(np.int64).max)
    np.minimum.at(first, key, seen)
    first_of_role = first[role_row * MAX_COMMITTEE + slot]
    primary = slot == 0
    assert (created[primary] == deals.created_ts[role_row[primary]] + 60).all()
    others = ~primary
    assert others.sum() > 1000
    engaged = first_of_role[others] < np.iinfo(np.int64).max
    assert engaged.all()  # nobody the seller never met is on the deal
    gap = first_of_role[others] - created[others]
    assert ((gap >= 0) & (gap <= 600)).all()  # added just before their first activity
    assert (slot < deals.committee_size[role_row]).all()


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
