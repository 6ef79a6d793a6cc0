"""What an export cannot tell, the feature function leaves out, in training and live scoring
alike; a contact whose joining time is unknown counts from its first activity; an empty
contact id is no contact, in batch and live; custom context fields become features.

Hand-made histories (tests/pipeline/test_hand_made.py) with hand-computed values.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from builders import T, act, contact, deal, histories, stage
from test_hand_made import AS_OF, _h
from test_parity import assert_same_row, records

from features.build import build_features
from features.dask_build import build_features_dask
from features.live import live_features
from features.peers import PeerStats
from features.profile import (
    NEEDS_FIELD_HISTORY,
    NEEDS_FULL_STAGE_PATH,
    ContextField,
    PipelineProfile,
)

HUBSPOT_LIKE = PipelineProfile(tracked_fields=(), stage_entries="latest",
                               contact_join_times="first_activity")
CONTEXT = PipelineProfile(context=(ContextField("seats", "number"),
                                   ContextField("plan", "category")))


def _with(profile: PipelineProfile, h=None):
    return replace(h if h is not None else _h(), profile=profile).conformed()


def test_left_out_features_are_empty_in_batch_and_live():
    h = _with(HUBSPOT_LIKE)
    peers = PeerStats.from_histories(h)
    batch = build_features(h, AS_OF, peers=peers).set_index("deal_id")
    names = [n for names in NEEDS_FIELD_HISTORY.values() for n in names]
    names += list(NEEDS_FULL_STAGE_PATH)
    assert batch.loc["d1", names].isna().all()
    full = build_features(_h(), AS_OF).set_index("deal_id")
    assert full.loc["d1", names].notna().sum() >= 8  # the same deal has them with history
    # everything else is as with the full profile
    rest = [c for c in full.columns if c not in names]
    pd.testing.assert_frame_equal(batch[rest], full[rest])
    live = live_features(*records(h, "d1"), as_of=AS_OF, peers=peers, profile=HUBSPOT_LIKE)
    assert_same_row(live, batch.loc["d1"])


def test_no_activities_leaves_out_engagement_but_not_stage_features():
    h = _with(PipelineProfile(has_activities=False, has_contacts=False))
    row = build_features(h, AS_OF).set_index("deal_id").loc["d1"]
    assert math.isnan(row["buyer_activities_30d"]) and math.isnan(row["open_next_step"])
    assert math.isnan(row["contacts_on_deal"]) and math.isnan(row["has_champion"])
    assert row["days_in_step"] == pytest.approx(5.5) and row["regressions"] == 1


def test_a_contact_with_no_joining_time_counts_from_its_first_activity():
    """HubSpot exports no association time: the economic buyer who first appears on Feb 10
    must not be on the deal on Feb 1 (dating it at the deal's creation read the future)."""
    h = histories(
        deals=[deal("d1", "2024-01-01")],
        stages=[stage("d1", "2024-01-01", "curious")],
        activities=[act("a1", "d1", "2024-01-05", contact="c1"),
                    act("a2", "d1", "2024-02-10", "meeting", "seller", contact="c2")],
        contacts=[{**contact("d1", "c1", "champion", "2024-01-01"), "added_at": None},
                  {**contact("d1", "c2", "economic_buyer", "2024-01-01"), "added_at": None},
                  {**contact("d1", "c9", "legal", "2024-01-01"), "added_at": None}])
    h = _with(HUBSPOT_LIKE, h)
    peers = PeerStats.from_histories(h)
    times = [T("2024-01-04"), T("2024-01-05"), T("2024-02-01"), T("2024-02-10"), T("2024-05-01")]
    pairs = pd.DataFrame({"deal_id": ["d1"] * len(times), "as_of": times})
    rows = build_features(h, pairs, peers=peers)
    assert rows["has_champion"].tolist() == [0, 1, 1, 1, 1]
    assert rows["has_economic_buyer"].tolist() == [0, 0, 0, 1, 1]
    assert rows["has_legal"].tolist() == [0] * 5           # never active: never on the deal
    assert rows["contacts_on_deal"].tolist() == [0, 1, 1, 2, 2]
    for t, (_, batch) in zip(times, rows.iterrows(), strict=True):
        live = live_features(*records(h, "d1"), as_of=t, peers=peers, profile=HUBSPOT_LIKE)
        assert_same_row(live, batch)


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_contact_id_is_no_contact_in_batch_and_live(empty):
    h = histories(
        deals=[deal("d1", "2024-01-01")],
        activities=[act("a1", "d1", "2024-01-05", contact="c1"),
                    act("a2", "d1", "2024-01-06", contact=empty),
                    act("a3", "d1", "2024-01-07", "call", "seller", contact=empty)])
    peers = PeerStats.from_histories(h)
    batch = build_features(h, T("2024-01-10"), peers=peers).set_index("deal_id").loc["d1"]
    assert batch["contacts_engaged"] == 1 and batch["single_threaded"] == 1
    live = live_features(*records(h, "d1"), as_of=T("2024-01-10"), peers=peers)
    assert_same_row(live, batch)


def test_custom_context_fields_are_features_in_batch_live_and_dask():
    h = _h()
    deals = h.deals.assign(seats=[120.0, 5.0, np.nan, 40.0], plan=["pro", "free", None, "pro"])
    h = _with(CONTEXT, replace(h, deals=deals))
    peers = PeerStats.from_histories(h)
    batch = build_features(h, AS_OF, peers=peers).set_index("deal_id")
    assert list(batch.columns[-2:]) == ["seats", "plan"]
    assert batch.loc["d1", "seats"] == 120.0 and batch.loc["d1", "plan"] == "pro"
    assert batch["plan"].dtype == "category" and batch["seats"].dtype == "float32"
    live = live_features(*records(h, "d1"), as_of=AS_OF, peers=peers, profile=CONTEXT)
    assert list(live)[-2:] == ["seats", "plan"]
    assert_same_row(live, batch.loc["d1"], CONTEXT.schema())
    dask = build_features_dask(h, AS_OF, npartitions=2, peers=peers).set_index("deal_id")
    pd.testing.assert_frame_equal(dask, batch.loc[dask.index], check_categorical=False)


def test_the_profile_travels_with_the_canonical_tables(tmp_path):
    h = _with(replace(HUBSPOT_LIKE, name="crm", context=CONTEXT.context),
              replace(_h(), deals=_h().deals.assign(seats=1.0, plan="pro")))
    h.to_parquet(tmp_path)
    again = type(h).read_parquet(tmp_path)
    assert again.profile == h.profile
    pd.testing.assert_frame_equal(again.deals, h.deals)
