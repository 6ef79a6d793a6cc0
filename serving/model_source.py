"""Which model a worker serves, loaded once: the pipeline's champion, a pinned URI or a bento's.

- default: ``models:/dealrisk-<pipeline>@champion`` from the MLflow registry (also when
  ``DEALRISK_MODEL_URI`` names exactly that alias, as ``dealrisk serve`` sets it);
- ``DEALRISK_MODEL_URI=models:/...`` / ``runs:/...``: that model, pinned;
- ``DEALRISK_MODEL_URI=bento:<tag>``: the MLflow model imported into the BentoML model store
  (``dealrisk bento`` does it and packages it, so a built bento needs no registry: inside a
  bento the packaged model is the default).

The artifact is the registered pyfunc; the :class:`~training.model.DealRiskModel` it holds
carries everything one deal needs (schema, scorers, calibrators, reason texts and the peer
references frozen at the training data's end).

Example:
    >>> champion_uri("Acme EMEA")
    'models:/dealrisk-acme-emea@champion'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mlflow
import yaml

from features.profile import registered_name
from serving.schemas import ModelInfo
from serving.settings import Settings
from training.model import DealRiskModel

BENTO_SCHEME = "bento:"
#: Where a built bento keeps ``bento.yaml`` (this file is ``<bento>/src/serving/...``).
BENTO_ROOT = Path(__file__).resolve().parents[2]


class ModelUnavailable(RuntimeError):
    """The configured model cannot be loaded (the message says which and why)."""


def champion_uri(pipeline: str) -> str:
    """The registry URI of a pipeline's champion."""
    return f"models:/{registered_name(pipeline)}@champion"


@dataclass
class LoadedModel:
    """The model a worker serves and what every answer says about it."""

    model: DealRiskModel
    info: ModelInfo


def packaged_model(bento_root: Path = BENTO_ROOT) -> str | None:
    """``bento:<tag>`` of the model a built bento packages (None outside a bento).

    A bento keeps its ``bento.yaml`` beside ``src/``; ``dealrisk bento`` packages exactly one
    model, imported from the registry.
    """
    manifest = bento_root / "bento.yaml"
    if not manifest.is_file():
        return None
    models = (yaml.safe_load(manifest.read_text()) or {}).get("models") or []
    tags = [m.get("tag") for m in models if isinstance(m, dict) and m.get("tag")]
    return f"{BENTO_SCHEME}{tags[0]}" if len(tags) == 1 else None


def load_served_model(settings: Settings) -> LoadedModel:
    """Load the configured model (see the module docstring); :class:`ModelUnavailable`."""
    pinned = settings.model_uri or packaged_model()
    uri = pinned or champion_uri(settings.pipeline)
    source: Literal["champion", "pinned", "bento"] = (
        "champion" if pinned is None or pinned == champion_uri(settings.pipeline) else
        "bento" if uri.startswith(BENTO_SCHEME) else "pinned")
    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        if source == "bento":
            import bentoml

            pyfunc = bentoml.mlflow.load_model(uri.removeprefix(BENTO_SCHEME))
        else:
            pyfunc = mlflow.pyfunc.load_model(uri)
        model = pyfunc.unwrap_python_model().model
        run_id = pyfunc.metadata.run_id or ""
        version = _version(uri, source, run_id)
    except Exception as exc:  # MLflow and BentoML raise many kinds; all mean "cannot load"
        hint = ("train one with `dealrisk train` (it registers the pipeline's champion)"
                if source == "champion" else "check DEALRISK_MODEL_URI")
        raise ModelUnavailable(f"cannot load {uri}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}; {hint}"
                               ) from None
    if not isinstance(model, DealRiskModel):
        raise ModelUnavailable(f"{uri} holds a {type(model).__name__}, not a dealrisk model")
    if model.peer_stats is None:
        raise ModelUnavailable(f"{uri} (version {version}) carries no frozen peer references "
                               "(trained before they existed); retrain with `dealrisk train`")
    model.version = version
    until = model.peers_known_until
    info = ModelInfo(name=registered_name(model.profile.name), version=version, run_id=run_id,
                     uri=uri, source=source, pipeline=model.profile.name,
                     peers_known_until=until.isoformat() if until is not None else None)
    return LoadedModel(model, info)


def _version(uri: str, source: str, run_id: str) -> str:
    if source == "bento":
        return uri.removeprefix(BENTO_SCHEME).rsplit(":", 1)[-1].removeprefix("v")
    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri.removeprefix("models:/").rsplit("@", 1)
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    if uri.startswith("models:/"):
        return uri.rstrip("/").rsplit("/", 1)[1]
    return run_id or "unregistered"
