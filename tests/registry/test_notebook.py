"""notebooks/retrain.ipynb runs top to bottom."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "retrain.ipynb"


def test_retrain_notebook_runs(tmp_path, monkeypatch, isolated_mlflow):
    monkeypatch.setenv("DEALRISK_NOTEBOOK_DEALS", "1500")
    monkeypatch.setenv("DEALRISK_NOTEBOOK_ROUNDS", "80")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "-> champion" in outputs
    assert "serving and ranking follow models:/dealrisk-export@champion" in outputs
