"""MLflow tracking and the registry: what a run logs, and the champion / challenger rule."""

import json

import mlflow

from training.tracking import (
    MODEL_NAME,
    input_example,
    load_model,
    log_training,
    setup_tracking,
)


def aliases() -> dict[str, str]:
    model = mlflow.MlflowClient().get_registered_model(MODEL_NAME)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_champion_moves_only_when_the_new_model_wins(trained, isolated_mlflow):
    setup_tracking()
    weak = log_training(trained["weak"])
    assert (weak.alias, weak.champion_mean_auc) == ("champion", None)  # first model

    strong = log_training(trained["strong"])
    assert strong.alias == "champion"
    assert strong.mean_auc > strong.champion_mean_auc  # compared on the strong run's holdout
    assert aliases()["champion"] == strong.version

    weak_again = log_training(trained["weak"])
    assert weak_again.alias == "challenger"
    assert weak_again.mean_auc < weak_again.champion_mean_auc
    assert aliases() == {"champion": strong.version, "challenger": weak_again.version}
    assert load_model(f"models:/{MODEL_NAME}@champion").version == strong.version


def test_run_logs_everything_needed(trained, isolated_mlflow):
    setup_tracking()
    tracked = log_training(trained["strong"], run_name="audit")
    run = mlflow.get_run(tracked.run_id)
    assert run.data.params["horizon_days"] == "30"
    assert run.data.metrics["test.no_decision.roc_auc"] > 0.5
    assert "baseline_rule.stall.roc_auc" in run.data.metrics
    assert "baseline_logreg.stall.roc_auc" in run.data.metrics
    assert "oracle.stall.roc_auc" in run.data.metrics
    assert run.data.tags["mlflow.source.git.commit"]
    assert run.data.tags["data.sha256"]
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.digest
    client = mlflow.MlflowClient()
    plots = {a.path for a in client.list_artifacts(tracked.run_id, "plots")}
    assert any("roc" in p for p in plots) and any("reliab" in p for p in plots)
    snapshot = json.loads(mlflow.artifacts.load_text(
        f"runs:/{tracked.run_id}/data/snapshot.json"))
    assert snapshot["digest"] == run.data.tags["data.sha256"]
    assert set(snapshot["sha256"]) == {"deals", "stage_history", "activities", "contacts",
                                       "field_history"}

    # one artifact scores feature rows end to end, with the schema as its signature
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{tracked.version}")
    names = [c.name for c in pyfunc.metadata.get_input_schema().inputs]
    holdout = trained["strong"].holdout
    assert names == [c for c in holdout.columns if c in names]
    scored = pyfunc.predict(input_example(holdout, n=20))  # plain text / float columns
    assert list(scored.columns[:2]) == ["stall_risk", "no_decision_risk"]
    assert scored["no_decision_risk"].between(0, 1).all()
    assert scored["reasons"].str.len().gt(0).any()
