"""bench_serving's report: figures in, target lines and one JSON line out (no servers run)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_serving",
                                                      ROOT / "benchmarks" / "bench_serving.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_serving"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_serving", None)
        sys.path.remove(str(ROOT / "benchmarks"))


def _levels(bench, p50: float, rps: float) -> dict:
    return {c: bench.Level(c, 100, p50 * c, 3 * p50 * c, rps, 0, {"200": 100}, [1.0, 0.5])
            for c in bench.LEVELS}


def test_report_prints_each_target_and_a_json_line_with_the_issue_keys(bench, capsys) -> None:
    args = argparse.Namespace(model_uri="models:/m/1", deals=10, requests=100,
                              mlflow_requests=50, seed=7, batch_reps=2)
    results = {"score": _levels(bench, 3.0, 400.0), "bare": _levels(bench, 2.0, 700.0),
               "mlflow": _levels(bench, 60.0, 30.0)}
    samples = {"score": bench.Sample(200, {"stall_risk": 0.5}, "200 {}"),
               "mlflow": bench.Sample(200, {"predictions": [{"stall_risk": 0.5}]}, "200 {}")}
    memory = {"score": bench.Memory(1000.0, 800.0, 3)}
    stages = {"score_stages_ms": {"features": 1.0, "endpoint": 2.5},
              "batch_stages_ms": {"total": 500.0, "deals_per_s": 2000.0}}
    bench.report(args, results, samples, memory, [1500.0, 1700.0, 1600.0], 0, 0,
                 "models:/m/1", 1.0, 10.0, 0.5, stages)
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    for key in ("score_p50_ms_c1", "bare_p50_ms_c1", "score_p50_ms_c8", "score_p99_ms_c8",
                "bare_p99_ms_c8", "rps_c8", "bare_rps_c8", "mlflow_rps_c8",
                "batch_deals_per_s", "rss_mb"):
        assert figures[key] is not None, key
    assert figures["batch_deals_per_s"] == 1600.0
    assert figures["score_p50_c1_within_1_5ms_of_bare"] is True  # 3.0 - 2.0 <= 1.5
    assert figures["rps_c8_at_least_half_bare"] is True  # 400 >= 350
    assert figures["batch_at_least_5000"] is False
    assert figures["mlflow_same_risks_as_score"] is True
    assert figures["score_stages_ms"]["endpoint"] == 2.5
    assert "MISS batch_at_least_5000: 1,600 deals/s" in out
    assert "/score       features 1.000, endpoint 2.500" in out
