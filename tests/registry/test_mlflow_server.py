"""Training against a real `mlflow server` on localhost (MLFLOW_TRACKING_URI honoured)."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pytest

from training.tracking import load_model, log_training, setup_tracking

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch):
    port = _free_port()
    exe = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 90 s")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield url, tmp_path / "server-artifacts"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_train_and_register_on_a_tracking_server(trained, mlflow_server):
    url, artifacts = mlflow_server
    assert setup_tracking() == url
    tracked = log_training(trained["strong"])
    assert tracked.alias == "champion"
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias(tracked.model_name, "champion")
    assert champion.version == tracked.version
    assert any(artifacts.rglob("dealrisk_model.pkl"))  # stored by the server, not locally
    model = load_model(f"models:/{tracked.model_name}@champion")
    assert model.version == tracked.version
