"""The time split: gap >= H, each deal on one side, no test snapshot before train labels end."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from training.split import SPLITS, time_split


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    start = pd.Timestamp("2023-01-01", tz="UTC")
    for i in range(600):
        created = start + pd.Timedelta(days=int(rng.integers(0, 600)))
        n = int(rng.integers(1, 20))
        as_of = created + pd.to_timedelta(7 * np.arange(1, n + 1), unit="D")
        closed = as_of[-1] + pd.Timedelta(days=int(rng.integers(1, 7)))
        frames.append(pd.DataFrame({
            "deal_id": f"d{i}", "as_of": as_of, "label_stall": rng.integers(0, 2, n) * 1.0,
            "label_no_decision": float(rng.integers(0, 2)),
            "labels_known_at": closed}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("horizon", [14, 30, 60])
def test_gap_and_one_side(rows: pd.DataFrame, horizon: int) -> None:
    split = time_split(rows, horizon_days=horizon)
    parts = split.parts()
    assert all(len(parts[s]) for s in SPLITS)
    gap = pd.Timedelta(days=horizon)
    for a, b in pairwise(SPLITS):
        assert parts[a]["as_of"].max() + gap <= parts[b]["as_of"].min()
        # no snapshot of a later window before the earlier window's labels are known
        assert parts[a]["labels_known_at"].max() <= parts[b]["as_of"].min()
    seen: set[str] = set()
    for s in SPLITS:
        deals = set(parts[s]["deal_id"])
        assert not deals & seen
        seen |= deals
    assert split.dropped_rows + sum(len(p) for p in parts.values()) == len(rows)


def test_evaluation_windows_keep_their_share(rows: pd.DataFrame) -> None:
    split = time_split(rows, horizon_days=30)
    share = len(split.test) / len(rows)
    assert 0.1 < share <= 0.21


def test_unlabelled_rows_are_dropped_and_bad_fractions_rejected(rows: pd.DataFrame) -> None:
    unlabelled = rows.assign(label_stall=np.nan, label_no_decision=np.nan)
    split = time_split(unlabelled, horizon_days=30)
    assert sum(len(p) for p in split.parts().values()) == 0
    with pytest.raises(ValueError, match="fractions"):
        time_split(rows, horizon_days=30, fractions=(1.0, 0.0, 0.0))  # type: ignore[arg-type]


@pytest.mark.parametrize("horizon", [14, 30])
def test_first_assignment_for_horizon_labels(rows: pd.DataFrame, horizon: int) -> None:
    split = time_split(rows, horizon_days=horizon, label_columns=("label_stall",),
                       assign="first")
    parts = split.parts()
    assert all(len(parts[s]) for s in SPLITS)
    gap = pd.Timedelta(days=horizon)
    for a, b in pairwise(SPLITS):
        # every stall label of an earlier window is known before the next window starts
        assert parts[a]["as_of"].max() + gap <= parts[b]["as_of"].min()
    owners = {}
    for name, part in parts.items():
        for deal in part["deal_id"].unique():
            assert owners.setdefault(deal, name) == name  # each deal on one side
    # a deal sits in the window of its first labelled snapshot: its earlier rows were dropped
    # only when they fell in no window (a gap), never because the deal ended later
    first_seen = rows.groupby("deal_id")["as_of"].min()
    test_deals = parts["test"]["deal_id"].unique()
    assert (first_seen.reindex(test_deals) >= parts["calib"]["as_of"].max()).all()
