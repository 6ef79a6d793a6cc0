"""``dealrisk serve`` and ``dealrisk bento``: run the scoring service, or package it as a bento.

Both start from the registry, as ranking does: the pipeline's champion by default, or a pinned
``--model``.  The service itself lives in ``serving/`` and is started by name
(``bentoml serve serving.service:DealRisk``), so the command line imports none of it.

Example::

    $ export DEALRISK_API_KEYS=$(openssl rand -hex 24)
    $ dealrisk serve --pipeline demo --canonical demo/canonical      # http://127.0.0.1:3000
    $ dealrisk bento --pipeline demo    # bentoml build; then `bentoml containerize dealrisk:<v>`
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from training.cli_options import CliError, bold, reported_errors

console = Console()

SERVICE = "serving.service:DealRisk"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEYS_HINT = ("set DEALRISK_API_KEYS (comma-separated keys) or DEALRISK_API_KEY_FILE (one key "
             "per line); e.g. `export DEALRISK_API_KEYS=$(openssl rand -hex 24)`")

Pipeline = Annotated[str, typer.Option(help="The pipeline whose champion is served.")]
Model = Annotated[str | None, typer.Option(
    help="A pinned registered model instead (models:/dealrisk-<pipeline>/<version>).")]


def serve(
    pipeline: Pipeline = "demo",
    model: Model = None,
    canonical: Annotated[Path | None, typer.Option(
        help="Canonical tables (`dealrisk ingest` output) the dashboard ranks.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one model each).")] = 2,
) -> None:
    """Serve calibrated risks over HTTP (BentoML): /score, /score_batch, /rank, /dashboard."""
    with reported_errors():
        env = service_env(pipeline, model, canonical, workers)
        label = check_model(env)
        console.print(f"serving {bold(label)} on {bold(f'http://{host}:{port}')} "
                      f"(dashboard: /dashboard, API: /docs.json)", soft_wrap=True)
        command = [str(Path(sys.executable).with_name("bentoml")), "serve", SERVICE,
                   "--host", host, "--port", str(port)]
        sys.stdout.flush()
        os.chdir(PROJECT_ROOT)  # this process becomes the server: signals reach it directly
        os.execve(command[0], command, env)


def bento(
    pipeline: Pipeline = "demo",
    model: Model = None,
) -> None:
    """Package the service with the registered model as a bento (`bentoml build`)."""
    import bentoml
    from bentoml._internal.bento.build_config import BentoEnvSchema  # the build's env type

    with reported_errors():
        env = service_env(pipeline, model, None, 2, need_keys=False)
        check_model(env)
        uri = env["DEALRISK_MODEL_URI"]
        name = uri.removeprefix("models:/").split("@")[0].split("/")[0]
        from training.tracking import version_of

        version = version_of(uri, None)
        with console.status(f"importing {uri} into the BentoML model store"):
            tag = f"{name}:v{version}"
            try:
                stored = bentoml.models.get(tag)
            except bentoml.exceptions.NotFound:
                stored = bentoml.mlflow.import_model(tag, uri, labels={"pipeline": pipeline})
        with console.status("bentoml build"), contextlib.chdir(PROJECT_ROOT):
            built = bentoml.bentos.build(
                SERVICE, name="dealrisk", build_ctx=str(PROJECT_ROOT),
                include=["features/**/*.py", "features/**/*.yaml", "training/**/*.py",
                         "serving/**/*.py", "serving/dashboard/static/*", "pyproject.toml"],
                exclude=["tests", "mlruns", "demo", "out", ".venv"],
                models=[str(stored.tag)],
                envs=[BentoEnvSchema(name=k, value=v) for k, v in (
                    ("DEALRISK_MODEL_URI", f"bento:{stored.tag}"),
                    ("BENTOML_DO_NOT_TRACK", "true"), ("MLFLOW_DISABLE_TELEMETRY", "true"))],
                python={"requirements_txt": "requirements.lock"},
                docker={"python_version": "3.11", "system_packages": ["libgomp1"]},
                labels={"pipeline": pipeline, "model": uri})
        console.print(f"built bento {bold(str(built.tag))} with model {bold(str(stored.tag))}")
        console.print(f"containerize: {bold(f'bentoml containerize {built.tag}')} (needs "
                      "Docker); run it with -e DEALRISK_API_KEYS=... -p 3000:3000",
                      soft_wrap=True)


def service_env(pipeline: str, model: str | None, canonical: Path | None, workers: int, *,
                need_keys: bool = True) -> dict[str, str]:
    """The environment the service starts with (keys checked, never printed)."""
    from training.tracking import champion_uri, default_tracking_uri

    env = dict(os.environ)
    if need_keys and not (env.get("DEALRISK_API_KEYS", "").strip(", ")
                          or env.get("DEALRISK_API_KEY_FILE")):
        raise CliError(f"no API key: {KEYS_HINT}")
    env["DEALRISK_MODEL_URI"] = model or champion_uri(pipeline)
    env["DEALRISK_PIPELINE"] = pipeline
    env["DEALRISK_WORKERS"] = str(workers)
    env["MLFLOW_TRACKING_URI"] = default_tracking_uri()
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if canonical is not None:
        if not canonical.is_dir():
            raise CliError(f"--canonical {canonical} is not a directory; run `dealrisk ingest` "
                           "first")
        env["DEALRISK_CANONICAL"] = str(canonical.absolute())
    return env


def check_model(env: dict[str, str]) -> str:
    """Load the model once before starting workers: a clear error instead of a crash loop."""
    from mlflow.exceptions import MlflowException

    from training.tracking import load_model, setup_tracking

    uri = env["DEALRISK_MODEL_URI"]
    setup_tracking()
    try:
        with console.status(f"loading {uri}"):
            loaded = load_model(uri)
    except MlflowException as exc:
        raise CliError(f"cannot load {uri} ({exc.message}); train one with `dealrisk train` "
                       "or pass --model") from None
    if loaded.peer_stats is None:
        raise CliError(f"{uri} (version {loaded.version}) carries no frozen peer references "
                       "(trained before they existed); retrain it with `dealrisk train`")
    return f"{uri} (version {loaded.version})"

