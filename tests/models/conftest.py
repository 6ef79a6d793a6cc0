"""Shared fixtures: one small simulated pipeline and one trained pipeline result per session."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from features.histories import DealHistories
from features.ingest import ingest
from training.model import TrainConfig
from training.pipeline import TrainResult, train_pipeline
from training.simulator import simulate_to_dir

FAST = TrainConfig(n_estimators=300, early_stopping_rounds=30, learning_rate=0.1,
                   min_child_samples=50, next_step_trees=40)


@dataclass
class Sim:
    histories: DealHistories
    known_until: pd.Timestamp
    truth: pd.DataFrame


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(3000, seed=7, out_dir=out, fmt="parquet")
    result = ingest(out)
    truth = pd.read_parquet(out / "truth" / "daily.parquet")
    truth.attrs["params"] = json.loads((out / "truth" / "params.json").read_text())
    truth.attrs["seed"] = truth.attrs["params"]["seed"]
    return Sim(result.histories, result.export_time, truth)


@pytest.fixture(scope="session")
def trained(sim: Sim) -> TrainResult:
    return train_pipeline(sim.histories, config=FAST, known_until=sim.known_until,
                          truth_daily=sim.truth, n_boot=30)
