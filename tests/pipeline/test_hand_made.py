"""Hand-made histories with hand-computed values for every signal family and the boundaries."""

import math

import pandas as pd
import pytest
from builders import T, act, amount_change, close_change, contact, deal, histories, stage

from features.build import build_features

AS_OF = T("2024-02-15 12:00")


def _h(d4_outcome="no_decision"):
    return histories(
        deals=[
            deal("d1", "2024-01-01", amount=1000.0, close_date="2024-04-30"),
            deal("d2", "2024-02-20"),  # created after as_of
            deal("d3", "2024-01-01", account="a2", closed="2024-02-14", outcome="won"),
            deal("d4", "2024-01-10", closed="2024-02-20", outcome=d4_outcome),
        ],
        stages=[
            stage("d1", "2024-01-01", "curious"),
            stage("d1", "2024-01-11", "problem_shared"),
            stage("d1", "2024-01-21", "solution_visualised"),
            stage("d1", "2024-01-31", "problem_shared"),       # regression
            stage("d1", "2024-02-10", "solution_visualised"),  # forward again
            stage("d3", "2024-01-01", "curious"),
            stage("d3", "2024-01-05", "problem_shared"),
            stage("d3", "2024-01-25", "solution_visualised"),  # 10 days here
            stage("d3", "2024-02-04", "decision"),
            stage("d3", "2024-02-14", None, "won"),
            stage("d4", "2024-01-10", "curious"),
            stage("d4", "2024-02-20", None, "lost"),
        ],
        activities=[
            act("b1", "d1", "2024-01-05", "email", "buyer", "c1"),
            act("s1", "d1", "2024-01-06", "email", "seller", "c1"),
            act("b2", "d1", "2024-02-01", "meeting", "buyer", "c2"),
            act("s2", "d1", "2024-02-05", "call", "seller", "c1", action="confirm_problem"),
            act("b3", "d1", "2024-02-15 12:00", "email", "buyer", "c1"),  # exactly at as_of
            act("s3", "d1", "2024-02-20", "meeting", "seller", "c3", recorded="2024-02-14"),
        ],
        contacts=[
            contact("d1", "c1", "champion", "2024-01-01"),
            contact("d1", "c2", "economic_buyer", "2024-01-20"),
            contact("d1", "c3", "procurement", "2024-03-01"),  # after as_of
        ],
        changes=[
            close_change("f1", "d1", "2024-01-20", "2024-03-31", "2024-04-15"),
            close_change("f2", "d1", "2024-03-01", "2024-04-15", "2024-04-30"),  # later edit
            amount_change("f3", "d1", "2024-02-01", 800.0, 900.0),
            amount_change("f4", "d1", "2024-03-05", 900.0, 1000.0),  # later edit
        ],
    )


@pytest.fixture(scope="module")
def rows():
    return build_features(_h(), AS_OF).set_index("deal_id")


def test_only_deals_open_at_as_of_get_a_row(rows):
    assert sorted(rows.index) == ["d1", "d4"]  # d2 not yet created, d3 already closed


EXPECTED_D1 = {
    # stage
    "current_step": "solution_visualised", "days_in_step": 5.5, "days_in_step_vs_won": 0.55,
    "deal_age_days": 45.5, "step_changes": 4, "regressions": 1, "days_since_forward_move": 5.5,
    "forward_moves_per_30d": 3 * 30 / 45.5,
    # engagement (b3 sits exactly at as_of and counts; s3 is only booked)
    "buyer_activities_7d": 1, "seller_activities_7d": 0, "buyer_activities_14d": 1,
    "seller_activities_14d": 1, "buyer_activities_30d": 2, "seller_activities_30d": 1,
    "buyer_activities_90d": 3, "seller_activities_90d": 2, "email_activities_90d": 3,
    "meeting_activities_90d": 1, "call_activities_30d": 1,
    "days_since_buyer_activity": 0.0, "days_since_seller_touch": 10.5,
    "days_since_meeting": 14.5, "unanswered_seller_touches": 0,
    "buyer_response_ratio": 2 / 3, "buyer_trend": 0.0, "contacts_engaged": 2,
    "buyer_activities_total": 3, "buyer_rate_per_week": 3 / (45.5 / 7),
    "buyer_pace_vs_usual": (2 / (30 / 7)) / (3 / (45.5 / 7)),
    "seller_actions_total": 1, "seller_actions_30d": 1,
    "contacts_on_deal": 2, "roles_covered": 2, "has_champion": 1, "has_economic_buyer": 1,
    "has_procurement": 0, "single_threaded": 0, "meeting_share_90d": 0.25,
    # commitment (the March edits are not known yet)
    "close_date_pushes": 1, "days_slipped": 15, "days_to_close_date": 59.5,
    "days_since_close_push": 26.5, "planned_cycle_days": 90.0,
    "amount_changes": 1, "amount_vs_initial": 900 / 800, "open_next_step": 1,
    # context: o1 closed d3 (won) before as_of; d4's close is still in the future
    "amount": 900.0, "owner_closed_deals": 1, "owner_win_rate": 1.0,
    "owner_no_decision_rate": 0.0, "account_closed_deals": 0, "account_win_rate": 1.0,
    "segment": "SMB",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_D1))
def test_hand_computed_values(rows, name):
    got, want = rows.loc["d1", name], EXPECTED_D1[name]
    if isinstance(want, str):
        assert got == want
    else:
        assert math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-6), (got, want)


def test_before_the_buyers_last_email_one_seller_touch_is_unanswered():
    row = build_features(_h(), T("2024-02-14")).set_index("deal_id").loc["d1"]
    assert row["unanswered_seller_touches"] == 1  # s2 (Feb 5) after b2 (Feb 1)
    assert row["days_since_meeting"] == 13.0
    assert row["days_since_close_push"] == 25.0
    d4 = build_features(_h(), AS_OF).set_index("deal_id").loc["d4"]
    assert math.isnan(d4["days_since_close_push"]) and math.isnan(d4["planned_cycle_days"])


def test_event_exactly_at_as_of_counts_and_one_ms_earlier_does_not():
    before = build_features(_h(), AS_OF - pd.Timedelta(milliseconds=1)).set_index("deal_id")
    assert before.loc["d1", "buyer_activities_7d"] == 0
    assert before.loc["d1", "days_since_buyer_activity"] > 0


def test_outcome_is_invisible_before_the_close():
    a = build_features(_h("no_decision"), AS_OF)
    b = build_features(_h("won"), AS_OF)
    pd.testing.assert_frame_equal(a, b)


def test_after_the_close_peers_see_the_outcome():
    later = build_features(_h(), T("2024-02-21")).set_index("deal_id")
    assert later.loc["d1", "owner_closed_deals"] == 2
    assert later.loc["d1", "owner_no_decision_rate"] > 0


def test_pairs_pass_extra_columns_through_and_skip_uncreated_deals():
    pairs = pd.DataFrame({"deal_id": ["d1", "d2", "d1"],
                          "as_of": [AS_OF, AS_OF, T("2024-01-02")],
                          "label": [1, 0, 7]})
    out = build_features(_h(), pairs)
    assert out[["deal_id", "label"]].values.tolist() == [["d1", 7], ["d1", 1]]
    assert list(out.columns[:3]) == ["deal_id", "as_of", "label"]


def test_no_code_under_features_reads_the_clock():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "features"
    pattern = re.compile(r"\b(now|today|utcnow|time\.time|datetime\.now)\s*\(")
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
