"""MLflow tracking and registry: log a training run, register the model, move the aliases.

Store: ``MLFLOW_TRACKING_URI`` when set (e.g. a tracking server); otherwise SQLite at
``<root>/mlruns/mlflow.db`` with artifacts under ``<root>/mlruns/artifacts``.  Nothing happens at
import: :func:`setup_tracking` is called at the edge (CLI, notebook, tests).

One registered model per pipeline: ``dealrisk-<pipeline name>`` (:func:`registered_name`; the
name is set at ingest and kept in the canonical tables' ``pipeline.json``), so each pipeline
has its own ``champion`` and a model of one pipeline never scores another by default.

Promotion rule: the new version becomes ``champion`` only if it beats the pipeline's current
champion on the new run's own holdout: mean ROC AUC over the targets both models could
evaluate there (both scored on the same rows; the run records which); otherwise it gets
``challenger``.  Serving follows an alias, never "latest".

Example:
    >>> from pathlib import Path
    >>> import os
    >>> os.environ.pop("MLFLOW_TRACKING_URI", None) and None
    >>> default_tracking_uri(Path("/srv/dealrisk"))
    'sqlite:////srv/dealrisk/mlruns/mlflow.db'
    >>> registered_name("Acme EMEA"), champion_uri("crm_pipeline")
    ('dealrisk-acme-emea', 'models:/dealrisk-crm_pipeline@champion')
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
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

from features.profile import MODEL_PREFIX, registered_name
from features.schema import FEATURES, FeatureSchema
from training.model import TARGETS
from training.model_card import model_card
from training.pyfunc_model import ARTIFACT_KEY

if TYPE_CHECKING:
    from training.model import DealRiskModel
    from training.pipeline import TrainResult

MODEL_NAME = MODEL_PREFIX
EXPERIMENT = "dealrisk"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def champion_uri(pipeline: str) -> str:
    """The URI serving and ranking follow for a pipeline: its registered model's champion."""
    return f"models:/{registered_name(pipeline)}@champion"


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
    #: The registered model (one per pipeline).
    model_name: str = MODEL_NAME
    #: The targets the comparison with the champion averaged over (empty: no comparison).
    compared_on: tuple[str, ...] = ()


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
    outputs = Schema([ColSpec("double", f"{t}_risk", required=False) for t in TARGETS]
                     + [ColSpec("string", "reasons")])
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

    Logs params, metrics (finite ones only), plots, the data snapshot, the leak scan, the git
    revision and the model (signature, input example) under the pipeline's registered model;
    the alias is champion or challenger after comparing with that pipeline's champion.
    """
    model = result.model
    name = registered_name(model.profile.name)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tag("mlflow.source.git.commit", git_revision())
        mlflow.set_tags({"pipeline": model.profile.name or "unnamed", "registered_model": name,
                         "targets": ", ".join(model.targets),
                         "targets.skipped": " | ".join(model.skipped.values()) or "none"})
        for target in model.targets:
            mlflow.set_tag(f"scorer.{target}", model.fit_info_[target]["scorer"])
        mlflow.log_params({k: _param(v) for k, v in result.params.items()})
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if _finite(v)})
        for figure_name, figure in result.figures.items():
            mlflow.log_figure(figure, f"plots/{figure_name}")
        _log_data_snapshot(result.data, source)
        mlflow.log_dict({"leaks": [leak.to_dict() for leak in result.leaks]},
                        "leak_scan.json")
        mlflow.set_tag("leaks", ", ".join(sorted({f.feature for f in result.leaks})) or "none")
        if result.warnings:
            mlflow.log_text("\n".join(result.warnings) + "\n", "warnings.txt")
            mlflow.set_tag("warnings", " | ".join(result.warnings)[:4000])
        card = model_card(result)
        mlflow.log_text(card, "model_card.md")
        mlflow.set_tag("features.left_out", ", ".join(model.left_out) or "none")
        info = _log_model(model, result.holdout, name if register else None)
        version = str(info.registered_model_version) if register else ""
        if register:
            mlflow.MlflowClient().update_model_version(name, version, description=card)
        mean_auc = mean_test_auc(result.metrics, model.targets)
        decision = Promotion("", None, "", ())
        if register:
            decision = promote(version, result.holdout, result.metrics, model,
                               result.next_step_logs)
            mlflow.set_tag("alias", decision.alias)
            mlflow.set_tag("alias.compared_on", ", ".join(decision.compared_on) or "none")
            if decision.note:
                mlflow.set_tag("alias.note", decision.note)
            if decision.champion_auc is not None:
                mlflow.log_metric("champion_on_holdout.mean_auc", decision.champion_auc)
            mlflow.log_metrics({k: v for k, v in decision.metrics.items() if _finite(v)})
        if _finite(mean_auc):
            mlflow.log_metric("mean_auc", mean_auc)
    return TrackedRun(run.info.run_id, version, decision.alias, mean_auc, decision.champion_auc,
                      decision.note, name, decision.compared_on)


@dataclass(frozen=True)
class Promotion:
    """The alias a new version got, the champion's figure and what the comparison covered."""

    alias: str
    champion_auc: float | None
    note: str
    compared_on: tuple[str, ...]
    #: ``next_step.dr_vs_champion[.ci_low|.ci_high]`` when the recommendations were compared.
    metrics: dict[str, float] = field(default_factory=dict)


def mean_test_auc(metrics: dict[str, float], targets: tuple[str, ...]) -> float:
    """Mean test ROC AUC over ``targets`` that have a finite one (NaN when none has).

    Example:
        >>> mean_test_auc({"test.stall.roc_auc": 0.7, "test.won.roc_auc": 0.8}, ("stall", "won"))
        0.75
    """
    values = [metrics.get(f"test.{t}.roc_auc", math.nan) for t in targets]
    values = [v for v in values if _finite(v)]
    return round(sum(values) / len(values), 12) if values else math.nan


def promote(version: str, holdout: pd.DataFrame, metrics: dict[str, float],
            model: DealRiskModel, next_step_logs: object | None = None) -> Promotion:
    """Give ``version`` its pipeline's champion alias if it beats the champion on ``holdout``.

    Both are scored on the same holdout rows, on the targets both have and both could evaluate
    there (``compared_on``).  Otherwise the version gets ``challenger``; also when the champion
    cannot score the new version's pipeline (other context fields, features its export cannot
    give) or shares no evaluable target: then it is not compared, and ``note`` says why.

    The recommendations are compared too, on the run's logged test window
    (``next_step_logs``, :func:`training.next_step.evaluation.recommendation_difference`): a
    version with the better risk AUC stays challenger when following its next steps would give
    significantly more no decisions than following the champion's (the DR difference's 95 %
    interval above zero).
    """
    from training.pipeline import evaluate_model

    name = registered_name(model.profile.name)
    client = mlflow.MlflowClient()
    try:
        current = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        current = None
    if current is None or current.version == version:
        client.set_registered_model_alias(name, "champion", version)
        return Promotion("champion", None, "", ())
    champion = load_model(f"models:/{name}/{current.version}")
    problems = champion.mismatch(model.profile)
    if problems:
        client.set_registered_model_alias(name, "challenger", version)
        return Promotion("challenger", None, f"the champion (version {current.version}) cannot "
                         f"score this pipeline ({'; '.join(problems)}): not compared", ())
    theirs = evaluate_model(champion, holdout)
    common = tuple(t for t in model.targets if t in champion.targets
                   and _finite(metrics.get(f"test.{t}.roc_auc"))
                   and _finite(theirs.get(f"test.{t}.roc_auc")))
    if not common:
        client.set_registered_model_alias(name, "challenger", version)
        return Promotion("challenger", None, f"the champion (version {current.version}) and "
                         "this version share no target both could evaluate: not compared", ())
    ours, champion_auc = mean_test_auc(metrics, common), mean_test_auc(theirs, common)
    skipped = [t for t in model.targets if t not in common]
    notes = [f"compared on {', '.join(common)} only ({', '.join(skipped)}: not evaluable by "
             "both)"] if skipped else []
    worse_steps, rec_metrics, rec_note = _compare_recommendations(model, champion,
                                                                  next_step_logs)
    notes += [rec_note] if rec_note else []
    alias = "champion" if ours > champion_auc and not worse_steps else "challenger"
    client.set_registered_model_alias(name, alias, version)
    return Promotion(alias, champion_auc, "; ".join(notes), common, rec_metrics)


def _compare_recommendations(model: DealRiskModel, champion: DealRiskModel,
                             logs: object | None) -> tuple[bool, dict[str, float], str]:
    """Whether the new version's next steps are significantly worse; metrics; a note."""
    from training.next_step.evaluation import recommendation_difference

    if logs is None:
        return False, {}, ("next steps not compared: this run has no logged test window"
                           if model.next_steps is not None else "")
    diff, why = recommendation_difference(model, champion, logs, seed=model.config.seed)
    if diff is None:
        return False, {}, f"next steps not compared: {why}"
    metrics = {"next_step.dr_vs_champion": diff.estimate,
               "next_step.dr_vs_champion.ci_low": diff.ci_low,
               "next_step.dr_vs_champion.ci_high": diff.ci_high}
    span = (f"P(no decision) {100 * diff.estimate:+.1f} points [{100 * diff.ci_low:+.1f}, "
            f"{100 * diff.ci_high:+.1f}] against the champion's")
    if diff.ci_low > 0:
        return True, metrics, f"kept challenger: following its next steps gives {span}"
    return False, metrics, f"next steps: {span}"


def load_model(uri: str) -> DealRiskModel:
    """The :class:`DealRiskModel` inside a registered pyfunc (an alias or a pinned version)."""
    pyfunc = mlflow.pyfunc.load_model(uri)
    model = pyfunc.unwrap_python_model().model
    info = pyfunc.metadata
    model.version = version_of(uri, info.run_id)
    return model


def version_of(uri: str, run_id: str | None) -> str:
    """The registry version behind a ``models:/name@alias`` or ``models:/name/3`` URI.

    Another URI (a run's) has no version: its run id, or ``"unregistered"``.
    """
    client = mlflow.MlflowClient()
    if "@" in uri and uri.startswith("models:/"):
        name, alias = uri.removeprefix("models:/").rsplit("@", 1)
        return str(client.get_model_version_by_alias(name, alias).version)
    if uri.startswith("models:/"):
        return uri.rstrip("/").rsplit("/", 1)[1]
    return run_id or "unregistered"


def _log_model(model: DealRiskModel, holdout: pd.DataFrame, registered: str | None):
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
            registered_model_name=registered,
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


def _finite(value: object) -> bool:
    try:
        return float(value) == float(value) and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


def _param(value: object) -> object:
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value
