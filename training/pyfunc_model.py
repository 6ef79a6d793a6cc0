"""MLflow "model from code": the pyfunc wrapper around a pickled :class:`DealRiskModel`.

MLflow logs this file as the model's code; the trained model travels as the artifact
``dealrisk_model`` (one pickle holding the pipeline's profile and feature schema, the chosen
scorer of each target, calibrators, peer references and reason texts).  ``predict`` takes
feature rows (the columns of the training pipeline's schema: :data:`features.schema.FEATURES`
and its context fields; the features its export could not give are emptied) and returns
calibrated risks and plain-words reasons.

Example (what MLflow does when it loads the model)::

    model = mlflow.pyfunc.load_model("models:/dealrisk-<pipeline>@champion")
    model.predict(feature_rows)        # stall_risk, no_decision_risk, won_risk, reasons
    model.unwrap_python_model().model           # the DealRiskModel itself
"""

from __future__ import annotations

import pickle

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

ARTIFACT_KEY = "dealrisk_model"


class DealRiskPyfunc(PythonModel):
    """Loads the pickled model once per process; scores feature rows."""

    def load_context(self, context: PythonModelContext) -> None:
        """Unpickle the model artifact (once, when MLflow loads the model)."""
        with open(context.artifacts[ARTIFACT_KEY], "rb") as handle:
            self.model = pickle.load(handle)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, str] | None = None) -> pd.DataFrame:
        """Calibrated probabilities of each fitted target plus the top reasons per feature row."""
        risks = self.model.predict(model_input)
        reasons = self.model.explain(model_input, top_k=3)
        risks["reasons"] = [" | ".join(r) for r in reasons]
        return risks


mlflow.models.set_model(DealRiskPyfunc())
