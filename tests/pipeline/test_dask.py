"""The Dask path returns exactly what pandas returns, on a 2-process LocalCluster."""

import numpy as np
import pandas as pd
import pytest
from test_hand_made import AS_OF, _h

from features.build import build_features
from features.dask_build import build_features_dask
from features.snapshots import sample_snapshots


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _many_deals(n=60):
    from builders import histories
    from naive import STEPS

    rng = np.random.default_rng(7)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    deals, stages, acts = [], [], []
    for i in range(n):
        created = base + pd.Timedelta(days=int(rng.integers(0, 60)))
        closed = created + pd.Timedelta(days=int(rng.integers(10, 120))) if i % 3 else None
        deals.append({"deal_id": f"d{i:03d}", "account_id": f"a{i % 7}", "owner_id": f"o{i % 4}",
                      "created_at": created, "amount": float(rng.integers(1, 100)),
                      "closed_at": closed,
                      "outcome": ["won", "lost", "no_decision"][i % 3] if closed else None,
                      "segment": ["SMB", "ENT", None][i % 3]})
        for k in range(int(rng.integers(1, 5))):
            stages.append({"deal_id": f"d{i:03d}", "crm_stage": "x", "status": "open",
                           "entered_at": created + pd.Timedelta(days=7 * k),
                           "step": STEPS[int(rng.integers(0, 5))]})
        for k in range(int(rng.integers(0, 20))):
            acts.append({"activity_id": f"d{i}a{k}", "deal_id": f"d{i:03d}",
                         "occurred_at": created + pd.Timedelta(hours=int(rng.integers(0, 2000))),
                         "type": "email", "direction": ["buyer", "seller"][k % 2],
                         "contact_id": f"c{k % 3}"})
    return histories(deals, stages, acts)


def test_dask_equals_pandas_for_a_timestamp(client):
    h = _many_deals()
    at = pd.Timestamp("2024-03-01", tz="UTC")
    pd.testing.assert_frame_equal(build_features_dask(h, at, npartitions=4, client=client),
                                  build_features(h, at))


def test_dask_equals_pandas_for_snapshot_pairs(client):
    h = _many_deals()
    pairs = sample_snapshots(h.deals, until=pd.Timestamp("2024-06-01", tz="UTC"),
                             extra=h.deals[["deal_id", "amount"]].rename(
                                 columns={"amount": "label"}))
    assert len(pairs) > 100
    pd.testing.assert_frame_equal(build_features_dask(h, pairs, npartitions=3, client=client),
                                  build_features(h, pairs))


def test_dask_on_hand_made_history(client):
    pd.testing.assert_frame_equal(build_features_dask(_h(), AS_OF, npartitions=2, client=client),
                                  build_features(_h(), AS_OF))
