"""A small simulated pipeline, ingested and cached once per test session, and isolated MLflow."""

import json
from pathlib import Path

import pandas as pd
import pytest

from features.histories import DealHistories
from features.ingest import ingest
from training.model import TrainConfig
from training.pipeline import TrainResult, train_pipeline
from training.simulator import simulate_to_dir


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory) -> tuple[DealHistories, pd.Timestamp, pd.DataFrame, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    simulate_to_dir(2500, 21, root / "export")
    result = ingest(root / "export")
    result.write(root / "canonical")
    truth = pd.read_parquet(root / "export" / "truth" / "daily.parquet")
    truth.attrs["params"] = json.loads((root / "export" / "truth" / "params.json").read_text())
    truth.attrs["seed"] = truth.attrs["params"]["seed"]
    return result.histories, result.export_time, truth, root


WEAK = TrainConfig(n_estimators=2, num_leaves=2, learning_rate=0.01, min_child_samples=400,
                   candidates=("lightgbm",),  # no blend: the logistic regression would rescue it
                   next_steps=False)
STRONG = TrainConfig(n_estimators=300, next_step_trees=20)  # its artifact carries next steps


@pytest.fixture(scope="session")
def trained(small_pipeline) -> dict[str, TrainResult]:
    """A weak and a strong model on the same data (trained once per session)."""
    histories, export_time, truth, _ = small_pipeline
    return {name: train_pipeline(histories, config=config, known_until=export_time,
                                 truth_daily=truth)
            for name, config in (("weak", WEAK), ("strong", STRONG))}


@pytest.fixture
def isolated_mlflow(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
