"""The published prefix protocol (training.prefix_protocol) on hand-made logs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.prefix_protocol import PrefixScore, labelling_cases, prefix_table, temporal_split


def _log(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["case", "activity", "time"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


LOG = _log([
    ("a", "A_SUBMITTED", "2012-01-01"), ("a", "O_SENT", "2012-01-02"),
    ("a", "O_CANCELLED", "2012-01-03"), ("a", "A_CANCELLED", "2012-01-03"),
    ("b", "A_SUBMITTED", "2012-01-02"), ("b", "O_SENT", "2012-01-04"),
    ("b", "O_ACCEPTED", "2012-01-05"), ("b", "A_APPROVED", "2012-01-06"),
    ("c", "A_SUBMITTED", "2012-01-03"), ("c", "O_SENT", "2012-01-04"),
    ("c", "O_DECLINED", "2012-01-07"),
    ("d", "A_SUBMITTED", "2012-01-04"), ("d", "O_SENT", "2012-01-05"),  # last O_: O_SENT
    ("e", "A_SUBMITTED", "2012-01-05"), ("e", "A_DECLINED", "2012-01-05"),  # no O_ event
])


@pytest.mark.parametrize(("labelling", "expected"), [
    ("cancelled", {"a": 1, "b": 0, "c": 0}), ("accepted", {"a": 0, "b": 1, "c": 0}),
    ("declined", {"a": 0, "b": 0, "c": 1})])
def test_labels_come_from_the_last_offer_event(labelling: str, expected: dict[str, int]):
    """Only cases whose last O_ event ends an offer are kept; one-vs-rest labels."""
    assert labelling_cases(LOG, labelling).to_dict() == expected


def test_last_offer_event_decides_even_after_an_earlier_cancel():
    """A cancelled offer replaced by an accepted one is an accepted case."""
    log = _log([("x", "O_CANCELLED", "2012-01-01"), ("x", "O_SENT", "2012-01-02"),
                ("x", "O_ACCEPTED", "2012-01-03")])
    assert labelling_cases(log, "cancelled").to_dict() == {"x": 0}
    assert labelling_cases(log, "accepted").to_dict() == {"x": 1}


def test_split_is_by_case_start_and_cuts_at_the_first_test_event():
    """80/20 by first event; the cut is the earliest event of a test case."""
    cases = pd.Index(["a", "b", "c", "d", "e"])
    train, test, cut = temporal_split(LOG, cases)
    assert list(train) == ["a", "b", "c", "d"] and list(test) == ["e"]
    assert cut == pd.Timestamp("2012-01-05", tz="UTC")
    kept = prefix_table(LOG[LOG["case"].isin(train)], before=cut)
    # b loses its -05 and -06 events, c its -07 one, d its -05 one; a keeps all four
    assert kept.groupby("case")["k"].max().to_dict() == {"a": 4, "b": 2, "c": 2, "d": 1}


def test_prefixes_are_the_first_k_events_with_the_kth_time():
    """Lengths 1..max from cases at least that long; as_of is the k-th event's time."""
    table = prefix_table(LOG[LOG["case"] == "a"], max_len=3)
    assert table["k"].tolist() == [1, 2, 3]
    assert table["as_of"].dt.day.tolist() == [1, 2, 3]
    # the 3rd event (O_CANCELLED) shares its timestamp with the 4th (A_CANCELLED)
    assert table["tied"].tolist() == [False, False, True]


def test_leak_free_prefixes_end_before_the_deciding_event():
    """Cut before the first outcome-deciding event, in order and in time."""
    table = prefix_table(LOG, leak_free=True)
    assert table.groupby("case")["k"].max().to_dict() == {"a": 2, "b": 2, "c": 2, "d": 2}
    # e's deciding event (A_DECLINED) shares the first event's time: no prefix is leak-free
    assert "e" not in set(table["case"])


def test_weighted_auc_weights_each_length_by_its_test_cases():
    """AUC 1.0 on 4 cases of length 1 and 0.0 on 2 of length 2: (4*1 + 2*0) / 6."""
    k = np.array([1, 1, 1, 1, 2, 2, 3])
    y = np.array([0, 1, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.9, 0.1, 0.5])
    score = PrefixScore.of(k, y, p)
    assert score.by_length["cases"].tolist() == [4, 2, 1]
    assert score.by_length["auc"].iloc[:2].tolist() == [1.0, 0.0]
    assert np.isnan(score.by_length["auc"].iloc[2])  # one class only: no AUC, no weight
    assert score.weighted_auc == pytest.approx(4 / 6)
    # pooled over all 7 prefixes: 7 of the 12 positive-negative pairs (ties count half)
    assert score.pooled_auc == pytest.approx(7 / 12)
