"""Shared test settings: telemetry off, paths to fixtures, the retraining notebook's runner."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

for _var in ("BENTOML_DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "retrain.ipynb"


@pytest.fixture
def run_retrain_notebook(tmp_path: Path) -> Callable[[float], str]:
    """Run notebooks/retrain.ipynb top to bottom in ``tmp_path``; returns its printed text."""
    def run(timeout: float = 600) -> str:
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                       for o in c.get("outputs", []))

    return run
