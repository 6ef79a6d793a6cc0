"""The forked multi-core path returns exactly what one process returns."""

import pandas as pd
import pytest

from features import parallel
from features.build import build_features
from features.ingest import ingest
from features.snapshots import sample_snapshots
from training.simulator import simulate_to_dir


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "export"
    simulate_to_dir(600, 4, out)
    result = ingest(out)
    return result.histories, result.export_time


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ROWS_PER_WORKER", 10)
    monkeypatch.setattr(parallel, "DEALS_PER_PART", 70)  # several parts per worker


def test_forked_equals_single_process_for_pairs(simulated, small_threshold):
    h, until = simulated
    pairs = sample_snapshots(h.deals, until=until, extra=h.deals[["deal_id", "amount"]].rename(
        columns={"amount": "label"}))
    assert len(pairs) > 3000
    expected = build_features(h, pairs)
    pd.testing.assert_frame_equal(build_features(h, pairs, workers=2), expected)
    pd.testing.assert_frame_equal(build_features(h, pairs, workers=3), expected)


def test_forked_equals_single_process_for_a_timestamp(simulated, small_threshold):
    h, until = simulated
    at = until - pd.Timedelta(days=90)
    pd.testing.assert_frame_equal(build_features(h, at, workers=2), build_features(h, at))


def test_a_failing_worker_is_an_error(simulated, small_threshold, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("worker exploded")

    monkeypatch.setattr(parallel, "fill_signals", boom)
    h, until = simulated
    with pytest.raises(RuntimeError, match="feature worker"):
        build_features(h, sample_snapshots(h.deals, until=until), workers=2)
