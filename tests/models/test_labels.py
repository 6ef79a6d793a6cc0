"""Labels on hand-made histories with hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.histories import DealHistories
from training.labels import forward_moves, make_labels


def t(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def histories(deals: list[dict], stages: list[tuple]) -> DealHistories:
    h = DealHistories.empty()
    base = {"account_id": "acc", "owner_id": "own", "amount": 1.0}
    frame = pd.DataFrame([{**base, **d} for d in deals])
    for col in ("created_at", "closed_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    h.deals = frame
    stage_rows = pd.DataFrame(stages, columns=["deal_id", "entered_at", "step", "status"])
    h.stage_history = stage_rows.assign(crm_stage=stage_rows["step"].fillna("Closed Lost"))
    return h.conformed()


def label(h: DealHistories, deal: str, as_of: str, until: str = "2024-12-31",
          horizon: int = 30) -> dict[str, float]:
    snaps = pd.DataFrame({"deal_id": [deal], "as_of": [t(as_of)]})
    row = make_labels(h, snaps, known_until=t(until), horizon_days=horizon).iloc[0]
    return {k: row[f"label_{k}"] for k in ("stall", "no_decision", "won")}


OPEN = {"closed_at": None, "outcome": None}


def test_forward_move_exactly_at_horizon_end_is_inside() -> None:
    h = histories([{"deal_id": "a", "created_at": t("2024-01-01"), **OPEN}],
                  [("a", t("2024-01-01"), "curious", "open"),
                   ("a", t("2024-02-10"), "problem_shared", "open")])
    assert label(h, "a", "2024-01-11")["stall"] == 0.0  # 2024-01-11 + 30 d = 2024-02-10
    # one millisecond later the move is outside the window (as_of + H < move): a stall
    snaps = pd.DataFrame({"deal_id": ["a"], "as_of": [t("2024-01-11") - pd.Timedelta("1ms")]})
    out = make_labels(h, snaps, known_until=t("2024-12-31"), horizon_days=30)
    assert out["label_stall"].iloc[0] == 1.0


def test_move_exactly_at_as_of_is_history_not_future() -> None:
    h = histories([{"deal_id": "a", "created_at": t("2024-01-01"), **OPEN}],
                  [("a", t("2024-01-01"), "curious", "open"),
                   ("a", t("2024-01-15"), "problem_shared", "open")])
    assert label(h, "a", "2024-01-15")["stall"] == 1.0
    assert label(h, "a", "2024-01-14")["stall"] == 0.0


def test_won_inside_horizon_is_not_a_stall_and_labels_outcome() -> None:
    h = histories([{"deal_id": "w", "created_at": t("2024-01-01"), "closed_at": t("2024-01-20"),
                    "outcome": "won"}],
                  [("w", t("2024-01-01"), "decision", "open")])
    assert label(h, "w", "2024-01-08") == {"stall": 0.0, "no_decision": 0.0, "won": 1.0}


def test_lost_or_no_decision_inside_horizon_is_a_stall_even_near_the_end() -> None:
    h = histories([{"deal_id": "n", "created_at": t("2024-01-01"), "closed_at": t("2024-03-05"),
                    "outcome": "no_decision"}],
                  [("n", t("2024-01-01"), "curious", "open"),
                   ("n", t("2024-03-05"), None, "lost")])
    # horizon ends 2024-03-31, after the data's end 2024-03-10, but the deal closed inside it
    assert label(h, "n", "2024-03-01", until="2024-03-10") == {
        "stall": 1.0, "no_decision": 1.0, "won": 0.0}


def test_regression_then_forward_move_counts_as_moving() -> None:
    h = histories([{"deal_id": "r", "created_at": t("2024-01-01"), **OPEN}],
                  [("r", t("2024-01-01"), "problem_shared", "open"),
                   ("r", t("2024-01-12"), "curious", "open"),
                   ("r", t("2024-01-20"), "problem_shared", "open")])
    assert label(h, "r", "2024-01-10")["stall"] == 0.0   # back up on 01-20 is a forward move
    assert label(h, "r", "2024-01-21")["stall"] == 1.0   # nothing after
    assert [str(x.date()) for x in forward_moves(h.stage_history)["moved_at"]] == ["2024-01-20"]


def test_open_deal_near_the_data_end_is_unlabelled() -> None:
    h = histories([{"deal_id": "o", "created_at": t("2024-01-01"), **OPEN}],
                  [("o", t("2024-01-01"), "curious", "open")])
    out = label(h, "o", "2024-12-15", until="2024-12-31")
    assert np.isnan(out["stall"]) and np.isnan(out["no_decision"]) and np.isnan(out["won"])
    # a horizon ending exactly at the data's end is complete
    assert label(h, "o", "2024-12-01", until="2024-12-31")["stall"] == 1.0


def test_moves_after_the_data_end_are_not_seen() -> None:
    h = histories([{"deal_id": "a", "created_at": t("2024-01-01"), **OPEN}],
                  [("a", t("2024-01-01"), "curious", "open"),
                   ("a", t("2024-02-20"), "problem_shared", "open")])
    assert np.isnan(label(h, "a", "2024-02-01", until="2024-02-15")["stall"])


def test_labels_known_at_is_the_last_label_time() -> None:
    h = histories([{"deal_id": "w", "created_at": t("2024-01-01"), "closed_at": t("2024-05-01"),
                    "outcome": "won"}],
                  [("w", t("2024-01-01"), "curious", "open")])
    snaps = pd.DataFrame({"deal_id": ["w"], "as_of": [t("2024-01-08")]})
    out = make_labels(h, snaps, known_until=t("2024-12-31"), horizon_days=30)
    assert out["labels_known_at"].iloc[0] == t("2024-05-01")
