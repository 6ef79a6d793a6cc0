"""MLflow tracking and registry: log a training run, register the model, move the aliases.

Store: ``MLFLOW_TRACKING_URI`` when set (e.g. a tracking server); otherwise SQLite at
``<root>/mlruns/mlflow.db`` with artifacts under ``<root>/mlruns/artifacts``.  Nothing happens at
import: :func:`setup_tracking` is called at the edge (CLI, notebook, tests).

Promotion rule: the new version becomes ``champion`` only if it beats the current champion on
the new run's own holdout (mean ROC AUC over stall and no decision, both models scored on the
same rows); otherwise it gets ``challenger``.  Serving follows an alias, never "latest".

Example:
    >>> from pathlib import Path
    >>> import os
    >>> os.environ.pop("MLFLOW_TRACKING_URI", None) and None
    >>> default_tracking_uri(Path("/srv/dealrisk"))
    'sqlite:////srv/dealrisk/mlruns/mlflow.db'
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from features.profile import PipelineProfile
from features.schema import FEATURES, FeatureSchema
from training.model_card import model_card
from training.pyfunc_model import ARTIFACT_KEY

if TYPE_CHECKING:
    from training.model import DealRiskModel
    from training.pipeline import TrainResult

MODEL_NAME = "dealrisk"
EXPERIMENT = "dealrisk"
PRIMARY_METRICS = ("test.stall.roc_auc", "test.no_decision.roc_auc")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_tracking_uri(root: Path = PROJECT_ROOT) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the SQLite store inside ``<root>/mlruns``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.absolute()}/mlruns/mlflow.db"


def setup_tracking(root: Path = PROJECT_ROOT, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the store and experiment (creating them); returns the tracking URI.

    With a SQLite store, artifacts go to ``artifacts/`` beside the database file; with a
    tracking server, the server decides.
    """
    uri = default_tracking_uri(root)
    location = None
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        location = (db.parent / "artifacts").absolute().as_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return uri


@dataclass
class TrackedRun:
    """What a logged training run produced."""

    run_id: str
    version: str
    alias: str
    mean_auc: float
    champion_mean_auc: float | None
    #: Why the new version was not compared with the champion ("" when it was, or was first).
    note: str = ""


def git_revision(root: Path = PROJECT_ROOT) -> str:
    """The repository's HEAD commit (with ``-dirty`` when there are local changes)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def signature(schema: FeatureSchema = FEATURES) -> ModelSignature:
    """The model signature, generated from the (pipeline's) feature schema."""
    inputs = Schema([ColSpec("string" if f.dtype == "category" else "double", f.name,
                             required=False) for f in schema])
    outputs = Schema([ColSpec("double", "stall_risk"), ColSpec("double", "no_decision_risk"),
                      ColSpec("string", "reasons")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(rows: pd.DataFrame, n: int = 3, schema: FeatureSchema = FEATURES
                  ) -> pd.DataFrame:
    """A few feature rows in signature types (categoricals as text)."""
    example = rows[schema.names].head(n).copy()
    for f in schema:
        if f.dtype == "category":
            example[f.name] = example[f.name].astype("object").where(
                example[f.name].notna(), None)
        else:
            example[f.name] = example[f.name].astype("float64")
    return example


def log_training(result: TrainResult, *, run_name: str | None = None,
                 register: bool = True, source: str | None = None) -> TrackedRun:
    """Log a training run to MLflow, register its model and set its alias.

    Logs params, metrics, plots, the data snapshot, the git revision and the model (signature,
    input example); the alias is champion or challenger after comparing with the champion.
    """
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tag("mlflow.source.git.commit", git_revision())
        mlflow.log_params({k: _param(v) for k, v in result.params.items()})
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if _finite(v)})
        for name, figure in result.figures.items():
            mlflow.log_figure(figure, f"plots/{name}")
        _log_data_snapshot(result.data, source)
        if result.warnings:
            mlflow.log_text("\n".join(result.warnings) + "\n", "warnings.txt")
            mlflow.set_tag("warnings", " | ".join(result.warnings)[:4000])
        card = model_card(result)
        mlflow.log_text(card, "model_card.md")
        left_out = result.model.left_out
        mlflow.set_tag("features.left_out", ", ".join(left_out) or "none")
        info = _log_model(result.model, result.holdout, register)
        version = str(info.registered_model_version) if register else ""
        if register:
            mlflow.MlflowClient().update_model_version(MODEL_NAME, version, description=card)
        alias, mean_auc, champion_auc, note = "", _mean_auc(result.metrics), None, ""
        if register:
            alias, champion_auc, note = promote(version, result.holdout, mean_auc,
                                                result.model.profile)
            mlflow.set_tag("alias", alias)
            if note:
                mlflow.set_tag("alias.note", note)
            if champion_auc is not None:
                mlflow.log_metric("champion_on_holdout.mean_auc", champion_auc)
            mlflow.log_metric("mean_auc", mean_auc)
    return TrackedRun(run.info.run_id, version, alias, mean_auc, champion_auc, note)


def promote(version: str, holdout: pd.DataFrame, mean_auc: float,
            profile: PipelineProfile | None = None) -> tuple[str, float | None, str]:
    """Give ``version`` the champion alias if it beats the champion on ``holdout``.

    Otherwise it gets ``challenger``.  A champion that cannot score the new version's pipeline
    (``profile``: other context fields, features its export cannot give) is not compared: the
    new version is ``challenger``.  Returns (alias, the champion's mean AUC on the holdout or
    None when there was no champion or no comparison, why there was no comparison or "").
    """
    from training.pipeline import evaluate_model

    client = mlflow.MlflowClient()
    try:
        current = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        current = None
    if current is None or current.version == version:
        client.set_registered_model_alias(MODEL_NAME, "champion", version)
        return "champion", None, ""
    champion = load_model(f"models:/{MODEL_NAME}/{current.version}")
    problems = champion.mismatch(profile) if profile is not None else []
    if problems:
        client.set_registered_model_alias(MODEL_NAME, "challenger", version)
        return "challenger", None, (f"the champion (version {current.version}) cannot score "
                                    f"this pipeline ({'; '.join(problems)}): not compared")
    champion_auc = _mean_auc(evaluate_model(champion, holdout))
    alias = "champion" if mean_auc > champion_auc else "challenger"
    client.set_registered_model_alias(MODEL_NAME, alias, version)
    return alias, champion_auc, ""


def load_model(uri: str = f"models:/{MODEL_NAME}@champion") -> DealRiskModel:
    """The :class:`DealRiskModel` inside a registered pyfunc (an alias or a pinned version)."""
    pyfunc = mlflow.pyfunc.load_model(uri)
    model = pyfunc.unwrap_python_model().model
    info = pyfunc.metadata
    model.version = _version_of(uri, info.run_id)
    return model


def _version_of(uri: str, run_id: str | None) -> str:
    client = mlflow.MlflowClient()
    if "@" in uri:
        alias = uri.rsplit("@", 1)[1]
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    if uri.startswith("models:/"):
        return uri.rstrip("/").rsplit("/", 1)[1]
    return run_id or "unregistered"


def _log_model(model: DealRiskModel, holdout: pd.DataFrame, register: bool):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dealrisk_model.pkl"
        with open(path, "wb") as handle:
            pickle.dump(model, handle)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={ARTIFACT_KEY: str(path)},
            code_paths=[str(PROJECT_ROOT / "features"), str(PROJECT_ROOT / "training")],
            signature=signature(model.schema),
            input_example=input_example(holdout, schema=model.schema),
            registered_model_name=MODEL_NAME if register else None,
        )


def data_digest(data: dict[str, object]) -> str:
    """One SHA-256 over the per-table content digests of the training data."""
    tables = data.get("sha256", {})
    text = "|".join(f"{k}:{v}" for k, v in sorted(tables.items())) if isinstance(
        tables, dict) else str(tables)
    return hashlib.sha256(text.encode()).hexdigest()


def _log_data_snapshot(data: dict[str, object], source: str | None) -> None:
    """The data lineage: a JSON artifact, searchable tags and an MLflow dataset input."""
    digest = data_digest(data)
    mlflow.log_dict({**data, "digest": digest, "source": source}, "data/snapshot.json")
    mlflow.set_tags({"data.sha256": digest, "data.source": str(source),
                     "data.snapshot_rows": str(data.get("snapshot_rows")),
                     "data.n_deals": str(data.get("n_deals")),
                     "data.window": f"{data.get('train.start')} .. {data.get('test.end')}"})
    with warnings.catch_warnings():  # MLflow registers its local-file source class twice
        warnings.filterwarnings("ignore", message="The specified dataset source can be "
                                "interpreted in multiple ways")
        origin = (resolve_dataset_source(source) if source is not None
                  else CodeDatasetSource(tags={"origin": "in-memory deal histories"}))
    mlflow.log_input(MetaDataset(source=origin, name="deal_histories", digest=digest[:36]),
                     context="training")


def _mean_auc(metrics: dict[str, float]) -> float:
    return float(sum(metrics[m] for m in PRIMARY_METRICS) / len(PRIMARY_METRICS))


def _finite(value: object) -> bool:
    try:
        return float(value) == float(value) and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


def _param(value: object) -> object:
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value
