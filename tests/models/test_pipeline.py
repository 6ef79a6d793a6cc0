"""Training pipeline: metrics with baselines and oracle, figures, lineage, small-data warning."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from features.histories import DealHistories
from training.model import TrainConfig
from training.pipeline import HOLDOUT_COLUMNS, evaluate_model, train_pipeline

FAST = TrainConfig(n_estimators=300, early_stopping_rounds=30, learning_rate=0.1,
                   next_steps=False)  # next steps: tests/models/test_next_steps.py


def test_metrics_include_model_baselines_and_oracle(trained) -> None:
    m = trained.metrics
    for who in ("test", "baseline_rule", "baseline_logreg", "oracle"):
        for target in ("stall", "no_decision"):
            for metric in ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile"):
                assert f"{who}.{target}.{metric}" in m
    assert any(k.startswith("test.stall.roc_auc.step.") for k in m)
    assert 0.5 < m["test.no_decision.roc_auc"] <= 1.0
    assert m["oracle.no_decision.roc_auc"] > m["baseline_rule.no_decision.roc_auc"]
    assert m["test.stall.roc_auc.ci_low"] <= m["test.stall.roc_auc"] <= m[
        "test.stall.roc_auc.ci_high"]


def test_figures_params_data_and_holdout(trained) -> None:
    assert {"roc_stall.png", "roc_no_decision.png", "reliability_stall.png",
            "feature_importance.png", "risk_distribution_no_decision.png"} <= set(trained.figures)
    assert all(isinstance(f, Figure) for f in trained.figures.values())
    assert trained.params["horizon_days"] == 30
    assert len(trained.data["sha256"]["deals"]) == 64
    assert trained.data["test.rows"] == len(trained.holdout)
    assert list(trained.holdout.columns) == HOLDOUT_COLUMNS


def test_evaluate_model_reproduces_test_metrics(trained) -> None:
    again = evaluate_model(trained.model, trained.holdout)
    for key, value in again.items():
        assert value == pytest.approx(trained.metrics[key], nan_ok=True)


def _subset(h: DealHistories, won: int, lost: int) -> DealHistories:
    outcome = h.deals["outcome"].astype("str")
    ids = set(h.deals.loc[outcome == "won", "deal_id"].iloc[:won]) | set(
        h.deals.loc[outcome.isin(["lost", "no_decision"]), "deal_id"].iloc[:lost])
    return DealHistories(**{n: f[f["deal_id"].isin(ids)].reset_index(drop=True)
                            for n, f in h.tables().items()})


def test_forty_plus_forty_trains_evaluates_and_warns(sim) -> None:
    small = _subset(sim.histories, 40, 40)
    stages: list[str] = []
    result = train_pipeline(small, config=FAST, known_until=sim.known_until, progress=stages.append,
                            n_boot=30)
    assert "features" in stages and "labels" in stages and "split" in stages
    assert any("40 won and 40" in w and "200+200" in w for w in result.warnings)
    assert set(result.model.scorers_) | set(result.model.skipped) == {
        "stall", "no_decision", "won"}
    for target in result.model.targets:
        if f"test.{target}.roc_auc" not in result.metrics:  # test window lacks a class
            assert any(w.startswith(f"{target}: the test window lacks") for w in result.warnings)
            continue
        low = result.metrics[f"test.{target}.roc_auc.ci_low"]
        high = result.metrics[f"test.{target}.roc_auc.ci_high"]
        assert 0 <= low <= high <= 1 and high - low > 0.05
    risk = result.model.predict(result.holdout)
    assert ((risk >= 0) & (risk <= 1)).all().all()


def test_no_closed_deals_skips_every_target_without_a_nan(sim) -> None:
    h = sim.histories
    young = h.deals["created_at"] > sim.known_until - pd.Timedelta(days=70)
    ids = set(h.deals.loc[young & h.deals["closed_at"].isna(), "deal_id"].iloc[:30])
    tiny = DealHistories(**{n: f[f["deal_id"].isin(ids)].reset_index(drop=True)
                            for n, f in h.tables().items()})
    result = train_pipeline(tiny, config=FAST, known_until=sim.known_until, n_boot=10)
    assert result.warnings
    assert result.model.targets == () and set(result.model.skipped) == {
        "stall", "no_decision", "won"}
    assert all(v == v for v in result.metrics.values())  # never a NaN figure


def test_oracle_scores_aligns_any_truth_column(sim, trained) -> None:
    from training.baselines import oracle_scores

    rows = trained.holdout
    truth = sim.truth.assign(engaged=sim.truth["engaged"].astype(float))
    default = oracle_scores(truth, rows)
    picked = oracle_scores(truth, rows, columns=("engaged", "p_stall"))
    assert list(picked.columns) == ["engaged", "p_stall"]
    assert picked["p_stall"].equals(default["p_stall"])
    assert set(picked["engaged"].dropna().unique()) == {0.0, 1.0}
    dark = picked["engaged"] == 0
    assert default.loc[dark, "p_stall"].mean() > default.loc[~dark, "p_stall"].mean() + 0.2
