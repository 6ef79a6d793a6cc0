"""``dealrisk serve``, ``bento`` and ``rank --peers model``, run as a user types them."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from serving_requests import (
    AUTH,
    free_port,
    hand_written_history,
    history_from_tables,
    server_env,
    start_server,
    stop_server,
)

BINARY = Path(sys.executable).with_name("dealrisk")


def _run(args, env, cwd, timeout=300):
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, check=False)


def test_rank_with_frozen_peers_matches_score(client, served, service_env, tmp_path):
    """The row `dealrisk rank --peers model` writes is what /score answers for the deal."""
    out = tmp_path / "report"
    proc = _run(["rank", served["canonical"], "--model", served["model_uri"], "--peers", "model",
                 "--out", out], service_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "ranking.csv") as handle:
        rows = list(csv.DictReader(handle))[:10]
    histories, export_time = served["histories"], served["export_time"]
    for row in rows:
        body = client.post("/score", headers=AUTH, json=history_from_tables(
            histories, row["deal_id"], export_time)).json()
        for key in ("stall_risk", "no_decision_risk", "win_probability"):
            assert f"{body[key]:.3f}" == f"{float(row[key]):.3f}", (row["deal_id"], key)
        assert round(body["revenue_at_risk"], 2) == pytest.approx(float(row["revenue_at_risk"]))
        assert body["buyer_step"] == row["buyer_step"] and body["owner"] == row["owner"]
        assert " | ".join(body["reasons"]) == row["reasons"]


def test_rank_refuses_an_unknown_peers_choice(service_env, served, tmp_path):
    proc = _run(["rank", served["canonical"], "--peers", "nearby"], service_env, tmp_path)
    assert proc.returncode == 2 and "--peers 'nearby' must be 'export' or 'model'" in proc.stderr


def test_serve_refuses_to_start_without_a_key(service_env, tmp_path):
    env = {k: v for k, v in service_env.items() if not k.startswith("DEALRISK_API_KEY")}
    proc = _run(["serve", "--model", "models:/x/1"], env, tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "no API key: set DEALRISK_API_KEYS" in proc.stderr


@pytest.mark.slow
def test_serve_starts_the_service_on_the_pinned_model(service_env, served, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = start_server(
            [str(BINARY), "serve", "--model", served["model_uri"], "--port", str(port),
             "--workers", "1", "--canonical", served["canonical"]],
            server_env(service_env, tmp_path / "bentoml"), tmp_path, out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", headers=AUTH, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        ready = httpx.get(f"{base}/readyz", headers=AUTH).json()
        assert ready["model"]["version"] == served["version"]
        answer = httpx.post(f"{base}/score", headers=AUTH, json=hand_written_history())
        assert answer.status_code == 200 and answer.json()["model"]["source"] == "pinned"
        assert httpx.get(f"{base}/dashboard/ranking", headers=AUTH).json()["rows"]
        # `dealrisk serve` became the server: a SIGTERM to it (as a supervisor sends) stops
        # the workers too, none is left behind
        process.terminate()
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]  # a clean shutdown
        deadline = time.monotonic() + 30
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(process.pid), "bentoml workers outlived `dealrisk serve`"
    finally:
        stop_server(process)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_uri_naming_the_champion_alias_is_served_as_the_champion(service_env, served):
    import mlflow

    from serving.model_source import ModelUnavailable, champion_uri, load_served_model
    from serving.settings import Settings

    client = mlflow.MlflowClient(str(served["tracking_uri"]))
    client.set_registered_model_alias(served["name"], "champion", served["version"])
    env = {**service_env, "DEALRISK_MODEL_URI": f"models:/{served['name']}@champion",
           "DEALRISK_PIPELINE": served["model"].profile.name}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        info = load_served_model(Settings.from_env()).info
    assert (info.source, info.version, info.uri) == ("champion", served["version"],
                                                    env["DEALRISK_MODEL_URI"])
    pinned = {**env, "DEALRISK_MODEL_URI": served["model_uri"]}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in pinned.items():
            patch.setenv(key, value)
        assert load_served_model(Settings.from_env()).info.source == "pinned"
    assert champion_uri(served["model"].profile.name) == env["DEALRISK_MODEL_URI"]
    other = {**env, "DEALRISK_MODEL_URI": "models:/dealrisk-other-pipeline@champion"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in other.items():
            patch.setenv(key, value)
        with pytest.raises(ModelUnavailable, match="check DEALRISK_MODEL_URI"):
            load_served_model(Settings.from_env())  # another pipeline's champion: pinned


@pytest.mark.slow
def test_bento_packages_the_registered_model(service_env, served, tmp_path):
    env = {**service_env, "BENTOML_HOME": str(tmp_path / "bentoml")}
    proc = _run(["bento", "--model", served["model_uri"]], env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built bento dealrisk:" in proc.stdout
    manifests = list((tmp_path / "bentoml" / "bentos" / "dealrisk").glob("*/bento.yaml"))
    assert len(manifests) == 1
    manifest = yaml.safe_load(manifests[0].read_text())
    tag = f"{served['name']}:v{served['version']}"
    assert [m["tag"] for m in manifest["models"]] == [tag]
    assert {"name": "DEALRISK_MODEL_URI", "value": f"bento:{tag}", "stage": "all"} in manifest[
        "envs"]
    src = manifests[0].parent / "src"
    assert (src / "serving" / "service.py").is_file()
    assert (src / "serving" / "dashboard" / "static" / "index.html").is_file()
    assert not (src / "tests").exists()
