"""Reasons a manager can act on: material, meaningful comparisons, categories with their rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.schema import FEATURES
from training.reasons import (
    ALL_STEPS,
    MATERIAL_POINTS,
    CategoryRate,
    CategoryReference,
    category_reference,
    describe,
    peer_reference,
    probability_change,
    reason_for,
    top_reasons,
)

DIRECTED = [f.name for f in FEATURES if f.dtype != "category" and f.higher_is_riskier is not None]
STEP = "evaluation_plan"


def _one(name: str, value: object, reference: dict, *, step: str = STEP, margin: float = 0.0,
         contribution: float = 1.0, categories: CategoryReference | None = None) -> list[str]:
    """Reasons of a one-row, one-feature deal whose feature pushes the risk up."""
    rows = pd.DataFrame({"current_step": [step], name: [value]})
    names = ["current_step", name] if name != "current_step" else ["current_step"]
    contrib = np.array([[0.0, contribution]]) if len(names) == 2 else np.array([[contribution]])
    return top_reasons(contrib, rows, names, reference, 3, margin=np.array([margin]),
                       categories=categories)[0]


@pytest.mark.parametrize("name", DIRECTED)
@pytest.mark.parametrize("value", [0.0, 1.0, 3.0, 12.0, 0.25, 45.5])
def test_a_value_equal_to_its_won_peer_median_is_never_a_reason(name, value):
    reference = {ALL_STEPS: {name: value}, STEP: {name: value}}
    assert _one(name, value, reference) == []


@pytest.mark.parametrize("value, peer", [(12.2, 12.0), (0.0, 0.004), (0.3333, 0.3334)])
def test_values_that_print_the_same_are_never_compared(value, peer):
    for name in ("days_in_step", "regressions", "buyer_response_ratio", "forward_moves_per_30d"):
        reference = {ALL_STEPS: {name: peer}, STEP: {name: peer}}
        for reason in _one(name, value, reference):
            text = reason.replace("per 30 days", "").replace(",", " ")
            numbers = [part for part in text.split() if part[:1].isdigit()]
            assert len(set(numbers)) == len(numbers), reason


def test_the_reported_zero_vs_zero_comparison_is_gone():
    reference = {ALL_STEPS: {"forward_moves_per_30d": 0.0},
                 STEP: {"forward_moves_per_30d": 0.0}}
    assert _one("forward_moves_per_30d", 0.0, reference) == []


@pytest.mark.parametrize("name, value, peer", [
    ("buyer_activities_30d", 10.0, 6.0),        # lower is riskier: more than won peers is safe
    ("days_since_buyer_activity", 3.0, 9.0),    # higher is riskier: less than won peers is safe
    ("contacts_engaged", 4.0, 2.0),
    ("close_date_pushes", 1.0, 2.0),
])
def test_a_value_on_the_safe_side_of_won_peers_is_no_reason(name, value, peer):
    assert _one(name, value, {ALL_STEPS: {name: peer}, STEP: {name: peer}}) == []
    assert _one(name, value, {ALL_STEPS: {name: peer}}) == []  # nor without a step median


def test_a_risky_value_is_compared_with_the_step_median():
    reference = {ALL_STEPS: {"buyer_activities_30d": 4.0}, STEP: {"buyer_activities_30d": 9.0}}
    (reason,) = _one("buyer_activities_30d", 2.0, reference)
    assert reason.startswith("Buyer-initiated activities in the last 30 days: 2")
    assert "median of 9 for deals at this step that went on to win" in reason


def test_without_a_step_median_no_reason_says_at_this_step():
    reference = {ALL_STEPS: {"days_in_step": 10.0, "days_since_buyer_activity": 5.0,
                             "buyer_activities_30d": 9.0}}
    reasons = (_one("days_in_step", 40.0, reference)
               + _one("days_since_buyer_activity", 30.0, reference)
               + _one("buyer_activities_30d", 2.0, reference))
    assert reasons == ["In this buyer step for 40 days", "No buyer-initiated contact for 30 days"]
    # a count only says something against a reference; zero says it alone
    assert _one("buyer_activities_30d", 0.0, reference) == [
        "Buyer-initiated activities in the last 30 days: 0"]


def test_a_step_with_too_few_won_values_has_no_step_median():
    rows = pd.DataFrame({"current_step": ["decision"] * 30 + ["curious"] * 30,
                         "days_in_step": [5.0] * 30 + [8.0] * 30,
                         "days_slipped": [3.0] * 5 + [np.nan] * 55})
    reference = peer_reference(rows, np.ones(60, dtype=bool), min_rows=20)
    assert reference["decision"] == {"days_in_step": 5.0}
    assert "days_slipped" not in reference["curious"]
    assert reference[ALL_STEPS]["days_slipped"] == 3.0
    assert _one("days_slipped", 20.0, reference, step="decision") == [
        "Expected close date slipped 20 days in total"]


@pytest.mark.parametrize("value", [0.0, 3.0, 33.0, 361.0, 5000.0])
def test_owner_closed_deals_is_never_compared_with_won_peers(value):
    for name in ("owner_closed_deals", "account_closed_deals", "deal_age_days", "amount"):
        reference = {ALL_STEPS: {name: 33.0}, STEP: {name: 33.0}}
        assert reason_for(name, value, STEP, reference) is None
        assert "win" not in describe(name, value, 33.0)
        assert _one(name, value, reference, contribution=3.0) == []


def test_track_record_rates_are_stated_alone():
    reference = {ALL_STEPS: {"owner_win_rate": 0.4}, STEP: {"owner_win_rate": 0.4}}
    assert _one("owner_win_rate", 0.15, reference) == ["Owner's win rate: 15%"]
    assert _one("owner_win_rate", 0.55, reference) == []  # better than won peers' owners


@pytest.mark.parametrize("name", [f.name for f in FEATURES
                                  if f.dtype != "category" and f.higher_is_riskier is None
                                  and f.name != "days_to_close_date"])
def test_features_without_a_direction_are_no_reason(name):
    reference = {ALL_STEPS: {name: 1.0}, STEP: {name: 1.0}}
    for value in (0.0, 0.5, 2.0, 40.0):
        assert _one(name, value, reference, contribution=3.0) == []


def test_an_overdue_close_date_says_what_it_does():
    assert _one("days_to_close_date", -12.0, {ALL_STEPS: {}}) == [
        "Expected close date passed 12 days ago"]
    assert _one("days_to_close_date", 20.0, {ALL_STEPS: {}}) == []


def test_binary_features_only_on_their_risky_side():
    reference = {ALL_STEPS: {"has_champion": 1.0}, STEP: {"has_champion": 1.0}}
    assert _one("has_champion", 0.0, reference) == ["No champion on the deal"]
    assert _one("has_champion", 1.0, reference) == []
    # most won deals at this step had none either: not a reason
    assert _one("has_champion", 0.0, {STEP: {"has_champion": 0.0}}) == []
    assert _one("open_next_step", 1.0, {ALL_STEPS: {}}) == []
    assert _one("open_next_step", 0.0, {ALL_STEPS: {}}) == ["No next step is booked"]


def test_missing_values_are_no_reason():
    assert _one("days_in_step", math.nan, {STEP: {"days_in_step": 3.0}}) == []


# ------------------------------------------------------------------------- materiality
def test_a_push_under_two_points_is_no_reason():
    reference = {STEP: {"days_in_step": 10.0}}
    # at a 5% risk (margin -2.944) a contribution of 0.5 adds 1.9 points: no reason
    low = _one("days_in_step", 40.0, reference, margin=-2.944, contribution=0.5)
    assert low == []
    assert probability_change(np.array([0.5]), np.array([-2.944]))[0] < MATERIAL_POINTS
    # the same push on a 50% deal adds 12 points
    assert _one("days_in_step", 40.0, reference, margin=0.0, contribution=0.5) != []
    # and a push just past two points at 5% is enough
    assert _one("days_in_step", 40.0, reference, margin=-2.944, contribution=0.56) != []


def test_a_low_risk_ranking_lists_no_reasons():
    rng = np.random.default_rng(1)
    n, names = 400, ["days_in_step", "days_since_buyer_activity", "close_date_pushes"]
    rows = pd.DataFrame({"current_step": STEP, "days_in_step": rng.uniform(20, 90, n),
                         "days_since_buyer_activity": rng.uniform(20, 90, n),
                         "close_date_pushes": rng.integers(1, 5, n).astype(float)})
    reference = {STEP: dict.fromkeys(names, 0.5)}
    contrib = rng.uniform(0.0, 0.5, (n, 3))
    margin = rng.uniform(-6.0, -2.95, n)  # risks under 5%
    assert (probability_change(contrib, margin) < MATERIAL_POINTS).all()
    assert top_reasons(contrib, rows, names, reference, 3, margin=margin) == [[]] * n
    # the same pushes on deals at 30-70% give reasons
    middle = top_reasons(contrib, rows, names, reference, 3, margin=rng.uniform(-0.8, 0.8, n))
    assert sum(map(bool, middle)) > 0.8 * n


def test_reasons_are_strongest_first_and_one_per_window_family():
    names = ["buyer_activities_7d", "buyer_activities_30d", "days_in_step"]
    rows = pd.DataFrame({"current_step": [STEP], "buyer_activities_7d": [0.0],
                         "buyer_activities_30d": [1.0], "days_in_step": [50.0]})
    reference = {STEP: {"buyer_activities_7d": 2.0, "buyer_activities_30d": 6.0,
                        "days_in_step": 10.0}}
    (out,) = top_reasons(np.array([[0.9, 0.8, 0.7]]), rows, names, reference, 3,
                         margin=np.array([0.0]))
    assert len(out) == 2
    assert out[0].startswith("Buyer-initiated activities in the last 7 days: 0")
    assert out[1].startswith("In this buyer step for 50 days")


def test_days_in_step_is_said_once_alone_or_against_won_deals():
    names = ["days_in_step_vs_won", "days_in_step", "days_since_buyer_activity"]
    rows = pd.DataFrame({"current_step": [STEP], "days_in_step_vs_won": [5.0],
                         "days_in_step": [50.0], "days_since_buyer_activity": [40.0]})
    reference = {STEP: {"days_in_step": 10.0, "days_since_buyer_activity": 5.0}}
    for contrib in ([[0.9, 0.8, 0.7]], [[0.8, 0.9, 0.7]]):
        out = top_reasons(np.array(contrib), rows, names, reference, 3,
                          margin=np.array([0.0]))[0]
        assert len(out) == 2, out
        assert sum(r.startswith("In this buyer step") for r in out) == 1
        assert out[1].startswith("No buyer-initiated contact for 40 days")
    strongest_alone = top_reasons(np.array([[0.8, 0.9, 0.7]]), rows, names, reference, 3,
                                  margin=np.array([0.0]))[0][0]
    assert strongest_alone.startswith("In this buyer step for 50 days")


def test_negative_contributions_are_never_reasons():
    rows = pd.DataFrame({"current_step": [STEP], "days_in_step": [50.0]})
    assert top_reasons(np.array([[-1.5]]), rows, ["days_in_step"],
                       {STEP: {"days_in_step": 10.0}}, margin=np.array([2.0])) == [[]]


# -------------------------------------------------------------------------- categories
def _categories(rate: float, overall: float = 0.22, deals: int = 300) -> CategoryReference:
    return CategoryReference(overall, {"industry": {"Manufacturing": CategoryRate(
        rate, 4 * deals, deals)}})


def test_a_category_is_a_reason_only_with_a_rate_gap():
    assert _one("industry", "Manufacturing", {}, categories=_categories(0.34)) == [
        "Industry Manufacturing: 34% of past deals with this industry went on to end in no "
        "decision, vs 22% overall"]
    assert _one("industry", "Manufacturing", {}, categories=_categories(0.25)) == []
    assert _one("industry", "Manufacturing", {}, categories=_categories(0.10)) == []
    # a big gap over few deals is noise
    assert _one("industry", "Manufacturing", {}, categories=_categories(0.40, deals=12)) == []


def test_a_category_without_a_reference_never_appears():
    assert _one("industry", "Manufacturing", {}) == []
    assert _one("segment", "SMB", {}, categories=_categories(0.5)) == []


@pytest.mark.parametrize("blank", ["", "  ", None, np.nan, "nan", "None", "Unknown", "<NA>"])
def test_a_blank_category_never_appears(blank):
    n = 400
    rows = pd.DataFrame({"deal_id": [f"d{i}" for i in range(n)],
                         "segment": pd.Series([blank] * 200 + ["SMB"] * 200, dtype=object)})
    y = np.r_[np.ones(200), np.zeros(200)]  # every blank-segment deal ended in no decision
    reference = category_reference(rows, y, min_rows=10)
    assert set(reference.rates["segment"]) == {"SMB"}
    assert _one("segment", blank, {}, categories=reference) == []
    assert "Segment" not in " ".join(_one("segment", blank, {}, categories=reference))


def test_category_reference_rates_per_deal_and_ignores_unlabelled_rows():
    rows = pd.DataFrame({"deal_id": ["a"] * 10 + ["b", "c", "d"] + ["e", "f", "g", "h"],
                         "region": ["EMEA"] * 13 + ["APAC"] * 4})
    y = np.r_[np.ones(10), np.zeros(3), [1.0, 0.0, np.nan, np.nan]]
    reference = category_reference(rows, y, min_rows=2, risk="not_won")
    emea = reference.rates["region"]["EMEA"]
    assert (emea.rows, emea.deals, emea.rate) == (13, 4, 0.25)  # deal a counts once
    assert reference.rates["region"]["APAC"].deals == 2
    assert reference.overall == pytest.approx(2 / 6)
    assert reference.outcome == "end without a win"
    assert category_reference(rows, y, min_rows=5).rates["region"].keys() == {"EMEA"}


def test_a_buyer_step_is_said_with_its_rate():
    categories = CategoryReference(0.2, {"current_step": {"curious": CategoryRate(0.45, 800,
                                                                                  200)}})
    reasons = _one("current_step", "curious", {}, categories=categories)
    assert reasons == ["Buyer step curious: 45% of past deals at this buyer step went on to end "
                       "in no decision, vs 20% overall"]
