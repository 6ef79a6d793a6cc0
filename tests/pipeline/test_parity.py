"""Training/serving parity: the live single-deal path equals the training snapshot row."""

import math

import pandas as pd
import pytest
from test_hand_made import AS_OF, _h

from features.build import build_features
from features.live import live_features
from features.peers import PeerStats
from features.schema import FEATURES


def records(h, deal_id, iso=False):
    def rows(frame):
        out = frame[frame.deal_id == deal_id].to_dict("records")
        clean = []
        for r in out:
            r = {k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
            if iso:
                r = {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}
            clean.append(r)
        return clean

    return (rows(h.deals)[0], rows(h.stage_history), rows(h.activities), rows(h.contacts),
            rows(h.field_history))


def assert_same_row(live: dict, batch: pd.Series, schema=FEATURES) -> None:
    assert list(live) == schema.names
    for f in schema.names:
        a, b = live[f], batch[f]
        if isinstance(a, str) or isinstance(b, str) or (pd.isna(b) and not isinstance(a, float)):
            assert str(a) == str(b) or (pd.isna(a) and pd.isna(b)), f
        elif math.isnan(a):
            assert pd.isna(b), f
        else:
            assert a == float(b), (f, a, b)  # exactly equal: same code, same float32


@pytest.mark.parametrize("iso", [False, True])
@pytest.mark.parametrize("as_of", [AS_OF, pd.Timestamp("2024-01-20T06:00:00Z"),
                                   pd.Timestamp("2024-02-19T23:59:59.999Z")])
def test_live_equals_training_snapshot(as_of, iso):
    h = _h()
    peers = PeerStats.from_histories(h)
    pairs = pd.DataFrame({"deal_id": ["d1", "d4"], "as_of": [as_of, as_of]})
    batch = build_features(h, pairs, peers=peers).set_index("deal_id")
    for deal_id in batch.index:
        live = live_features(*records(h, deal_id, iso), as_of=as_of, peers=peers)
        assert_same_row(live, batch.loc[deal_id])


def test_live_requires_timezone_aware_times():
    h = _h()
    deal, *rest = records(h, "d1")
    with pytest.raises(ValueError, match="timezone-aware"):
        live_features(deal, *rest, as_of="2024-02-15T12:00:00", peers=PeerStats.from_histories(h))
