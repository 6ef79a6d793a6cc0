"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.evaluate import (
    binary_metrics,
    bootstrap_auc,
    brier,
    ece,
    lift_top_decile,
    metrics_by_step,
    roc_auc,
)


def test_ece_equal_width_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.85, 0.95])
    # |sum y - sum p| per equal-width bin: [0, .1): |0 - .05| = .05; [.1, .2): |1 - .30| = .70;
    # [.8, .9): |1 - .85| = .15; [.9, 1]: |1 - .95| = .05  -> (.05 + .70 + .15 + .05) / 5 = .19
    assert ece(y, p) == pytest.approx(0.19)


def test_ece_quantile_bins_and_perfect_calibration() -> None:
    y = np.array([0, 1] * 50)
    assert ece(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert ece(y, np.full(100, 0.5), strategy="quantile") == pytest.approx(0.0)
    assert ece(np.array([1, 1]), np.array([0.0, 0.0])) == pytest.approx(1.0)


def test_lift_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 20)
    # top 10% = 2 rows, both positive: rate 1.0; overall 3/20 -> lift 20/3
    assert lift_top_decile(y, p) == pytest.approx(20 / 3)
    assert math.isnan(lift_top_decile(np.zeros(5), np.ones(5)))


def test_auc_brier_and_undefined_cases() -> None:
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.8, 0.3])) == pytest.approx(0.75)
    assert brier(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.25)
    m = binary_metrics(np.ones(4), np.linspace(0, 1, 4))
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    m = binary_metrics(np.array([np.nan, 1, 0]), np.array([0.3, 0.8, 0.2]))
    assert m["n"] == 2 and m["roc_auc"] == 1.0


def test_per_step_and_bootstrap() -> None:
    y = np.array([0, 1] * 40)
    p = np.where(y == 1, 0.8, 0.2)
    step = np.array(["curious"] * 40 + ["decision"] * 40)
    m = metrics_by_step(y, p, step)
    assert m["roc_auc.step.curious"] == 1.0 and m["roc_auc.step.decision"] == 1.0
    low, high = bootstrap_auc(y, p, np.repeat(np.arange(40), 2), n_boot=20)
    assert low == high == 1.0
