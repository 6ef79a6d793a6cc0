"""notebooks/retrain.ipynb runs top to bottom."""

import pytest

pytestmark = pytest.mark.slow


def test_retrain_notebook_runs(monkeypatch, isolated_mlflow, run_retrain_notebook):
    monkeypatch.setenv("DEALRISK_NOTEBOOK_DEALS", "1500")
    monkeypatch.setenv("DEALRISK_NOTEBOOK_ROUNDS", "80")
    monkeypatch.setenv("DEALRISK_NOTEBOOK_NEXT_STEP_TREES", "20")
    outputs = run_retrain_notebook()
    assert "-> champion" in outputs
    assert "effect model on" in outputs and "next_step.ope.dr" in outputs
    assert "serving and ranking follow models:/dealrisk-export@champion" in outputs
