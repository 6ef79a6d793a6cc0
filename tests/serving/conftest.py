"""A model registered once per session in its own MLflow store, and the service around it.

``served`` trains a small simulated pipeline and registers it; ``service_env`` points the
service at it (API key, pinned model, dashboard export, Prometheus directory) for in-process
tests through the service's ASGI app (``client``) and for real ``bentoml serve`` processes.
The requests themselves are written by hand in the tests, not by the simulator.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_requests import API_KEY, AUTH, free_port, server_env, start_server, stop_server

from features.ingest import ingest
from training.model import TrainConfig
from training.pipeline import train_pipeline
from training.simulator import simulate_to_dir


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> dict[str, object]:
    """Simulate, ingest, train and register a small model; its URI, store and export."""
    import mlflow

    from training.tracking import log_training, setup_tracking

    root = tmp_path_factory.mktemp("served")
    simulate_to_dir(2000, 7, root / "export")
    result = ingest(root / "export", name="servetest")
    result.write(root / "canonical")
    trained = train_pipeline(result.histories,
                             config=TrainConfig(n_estimators=150, next_step_trees=20),
                             known_until=result.export_time, n_boot=20)
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        setup_tracking(root)
        tracked = log_training(trained, run_name="served")
        mlflow.set_tracking_uri(uri)
    return {"tracking_uri": uri, "model_uri": f"models:/{tracked.model_name}/{tracked.version}",
            "version": tracked.version, "name": tracked.model_name, "run_id": tracked.run_id,
            "canonical": root / "canonical", "histories": result.histories,
            "export_time": result.export_time, "model": trained.model, "root": root}


@pytest.fixture(scope="session")
def service_env(served, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment a service needs to serve ``served`` (also set in this process)."""
    prometheus = tmp_path_factory.mktemp("prometheus")
    env = {"DEALRISK_API_KEYS": f"{API_KEY},second-key-abcdef",
           "MLFLOW_TRACKING_URI": str(served["tracking_uri"]),
           "DEALRISK_MODEL_URI": str(served["model_uri"]),
           "DEALRISK_CANONICAL": str(served["canonical"]),
           "PROMETHEUS_MULTIPROC_DIR": str(prometheus),
           "DEALRISK_MAX_BATCH": "1000", "DEALRISK_MAX_EVENTS": "500",
           "DEALRISK_MAX_BODY_MB": "4"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield {**os.environ, **env}


@pytest.fixture(scope="session")
def client(service_env) -> Iterator[object]:
    """A Starlette test client on the whole service app (BentoML's routes and middleware).

    One per session: BentoML registers its Prometheus metrics when it builds the app, and a
    second build in the same process would register them twice.
    """
    from starlette.testclient import TestClient

    from serving.service import DealRisk

    with TestClient(app=DealRisk.to_asgi()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_service(service_env, tmp_path_factory) -> Iterator[str]:
    """A real ``bentoml serve`` process on 127.0.0.1 (2 workers); its base URL."""
    import sys
    import time

    import httpx

    port = free_port()
    home = tmp_path_factory.mktemp("live")
    log = home / "serve.log"
    bentoml = Path(sys.executable).with_name("bentoml")
    with open(log, "wb") as out:
        process = start_server(
            [str(bentoml), "serve", "serving.service:DealRisk", "--host", "127.0.0.1",
             "--port", str(port)], server_env(service_env, home / "bentoml"),
            Path(__file__).resolve().parents[2], out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited: {log.read_text()[-3000:]}")
            try:
                ready = httpx.get(f"{base}/readyz", headers=AUTH, timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready in 120 s: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        stop_server(process)
