"""MLflow tracking and the registry: what a run logs, and the champion / challenger rule."""

import copy
import json
from dataclasses import replace

import mlflow

from training.tracking import (
    champion_uri,
    input_example,
    load_model,
    log_training,
    registered_name,
    setup_tracking,
)


def aliases(name: str) -> dict[str, str]:
    model = mlflow.MlflowClient().get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_champion_moves_only_when_the_new_model_wins(trained, isolated_mlflow):
    setup_tracking()
    weak = log_training(trained["weak"])
    assert (weak.alias, weak.champion_mean_auc) == ("champion", None)  # first model
    pipeline = trained["weak"].model.profile.name
    assert weak.model_name == registered_name(pipeline) == f"dealrisk-{pipeline}"

    strong = log_training(trained["strong"])
    assert strong.alias == "champion"
    assert strong.mean_auc > strong.champion_mean_auc  # compared on the strong run's holdout
    assert strong.compared_on == ("stall", "no_decision", "won")
    assert aliases(weak.model_name)["champion"] == strong.version

    weak_again = log_training(trained["weak"])
    assert weak_again.alias == "challenger"
    assert weak_again.mean_auc < weak_again.champion_mean_auc
    assert aliases(weak.model_name) == {"champion": strong.version,
                                        "challenger": weak_again.version}
    assert load_model(champion_uri(pipeline)).version == strong.version


def test_each_pipeline_has_its_own_champion(trained, isolated_mlflow):
    setup_tracking()
    here = log_training(trained["strong"])
    other = copy.copy(trained["weak"])
    other.model = copy.copy(other.model)
    other.model.profile = replace(other.model.profile, name="emea")
    there = log_training(other)
    assert (here.alias, there.alias) == ("champion", "champion")  # never compared
    assert there.model_name == "dealrisk-emea" != here.model_name
    assert load_model(champion_uri("emea")).profile.name == "emea"


def test_promotion_compares_only_targets_both_can_evaluate(trained, isolated_mlflow):
    setup_tracking()
    partial = copy.copy(trained["weak"])
    partial.model = copy.copy(partial.model)
    partial.model.targets = ("stall", "won")  # as if no deal had ended in no decision
    partial.metrics = {k: v for k, v in partial.metrics.items() if ".no_decision." not in k}
    first = log_training(partial)
    assert not any(".no_decision." in k for k in mlflow.get_run(first.run_id).data.metrics)
    second = log_training(trained["strong"])
    assert first.model_name == second.model_name
    assert second.compared_on == ("stall", "won")
    assert second.note.startswith(
        "compared on stall, won only (no_decision: not evaluable by both)")
    assert second.alias == "champion" and second.champion_mean_auc is not None
    run = mlflow.get_run(second.run_id)
    assert run.data.tags["alias.compared_on"] == "stall, won"


def test_run_logs_everything_needed(trained, isolated_mlflow):
    setup_tracking()
    tracked = log_training(trained["strong"], run_name="audit")
    run = mlflow.get_run(tracked.run_id)
    assert run.data.params["horizon_days"] == "30"
    assert run.data.metrics["test.no_decision.roc_auc"] > 0.5
    assert "baseline_rule.stall.roc_auc" in run.data.metrics
    assert "baseline_logreg.stall.roc_auc" in run.data.metrics
    assert "oracle.stall.roc_auc" in run.data.metrics
    assert "vs_baseline_logreg.won.roc_auc_diff.ci_low" in run.data.metrics
    assert run.data.tags["pipeline"] and run.data.tags["registered_model"] == tracked.model_name
    assert all(run.data.tags[f"scorer.{t}"] for t in ("stall", "no_decision", "won"))
    leaks = json.loads(mlflow.artifacts.load_text(f"runs:/{tracked.run_id}/leak_scan.json"))
    assert leaks == {"leaks": []} and run.data.tags["leaks"] == "none"  # quiet on the simulator
    card = mlflow.artifacts.load_text(f"runs:/{tracked.run_id}/model_card.md")
    assert "## Targets and chosen scorers" in card and "`won`" in card
    assert run.data.tags["mlflow.source.git.commit"]
    assert run.data.tags["data.sha256"]
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.digest
    client = mlflow.MlflowClient()
    plots = {a.path for a in client.list_artifacts(tracked.run_id, "plots")}
    assert any("roc" in p for p in plots) and any("reliab" in p for p in plots)
    assert {"plots/next_steps_lift_calibration.png",
            "plots/next_steps_true_vs_estimated.png"} <= plots  # the simulator's truth is known
    m = run.data.metrics
    assert -1.0 <= m["next_step.truth.snapshot_corr"] <= 1.0
    assert m["next_step.truth.oracle_nd_reduction"] >= m["next_step.truth.recommended_nd_reduction"]
    assert m["next_step.truth.recommended_nd_reduction"] > 0  # its picks truly help on average
    assert m["next_step.lift_calibration.slope.ci_low"] <= m["next_step.lift_calibration.slope"]
    snapshot = json.loads(mlflow.artifacts.load_text(
        f"runs:/{tracked.run_id}/data/snapshot.json"))
    assert snapshot["digest"] == run.data.tags["data.sha256"]
    assert set(snapshot["sha256"]) == {"deals", "stage_history", "activities", "contacts",
                                       "field_history"}

    # one artifact scores feature rows end to end, with the schema as its signature
    pyfunc = mlflow.pyfunc.load_model(f"models:/{tracked.model_name}/{tracked.version}")
    names = [c.name for c in pyfunc.metadata.get_input_schema().inputs]
    holdout = trained["strong"].holdout
    assert names == [c for c in holdout.columns if c in names]
    scored = pyfunc.predict(input_example(holdout, n=20))  # plain text / float columns
    assert list(scored.columns[:3]) == ["stall_risk", "no_decision_risk", "won_risk"]
    assert scored["no_decision_risk"].between(0, 1).all()
    assert scored["reasons"].str.len().gt(0).any()


def test_a_better_risk_model_with_worse_next_steps_stays_challenger(trained, isolated_mlflow):
    """The champion/challenger rule compares recommendation value too (off-policy, paired)."""
    import numpy as np

    setup_tracking()
    strong = trained["strong"]
    nsm = strong.model.next_steps
    # the champion: the weak risk model carrying next steps ranked by their win gain instead
    by_wins = copy.copy(nsm)
    by_wins.effects = copy.copy(nsm.effects)
    by_wins.effects.targets = ("won",)
    champion = copy.copy(trained["weak"])
    champion.model = copy.copy(champion.model)
    champion.model.next_steps = by_wins
    first = log_training(champion)
    assert first.alias == "champion"

    # logs in which exactly the strong model's own picks end in no decision
    logs = copy.copy(strong.next_step_logs)
    k = len(nsm.catalogue.names) + 1
    logs.q_hat = np.eye(k)[logs.recommended + 1]
    logs.outcome = logs.q_hat[np.arange(len(logs.outcome)), logs.logged + 1]
    doctored = copy.copy(strong)
    doctored.next_step_logs = logs
    second = log_training(doctored)
    assert second.mean_auc > second.champion_mean_auc  # the better risk model ...
    assert second.alias == "challenger"  # ... kept out by its next steps
    assert "kept challenger: following its next steps gives P(no decision) +" in second.note
    metrics = mlflow.get_run(second.run_id).data.metrics
    assert metrics["next_step.dr_vs_champion.ci_low"] > 0

    # the real logs: the difference is measured and logged, whatever its sign
    third = log_training(strong)
    metrics = mlflow.get_run(third.run_id).data.metrics
    low, mid, high = (metrics[f"next_step.dr_vs_champion{s}"] for s in (".ci_low", "", ".ci_high"))
    assert low <= mid <= high
    assert third.alias == ("challenger" if low > 0 else "champion")


def test_next_steps_that_raise_no_decision_are_withheld(trained):
    """Off-policy, paired against the sellers' own policy: harmful next steps are not shown."""
    import numpy as np

    from training.next_step.evaluation import off_policy_metrics, withhold_if_harmful

    strong = trained["strong"]
    nsm = strong.model.next_steps
    k = len(nsm.catalogue.names) + 1
    real = off_policy_metrics(strong.next_step_logs, k - 1, q_hat=strong.next_step_logs.q_hat)
    low, mid, high = (real[f"next_step.ope.dr_vs_logged{s}"] for s in (".ci_low", "", ".ci_high"))
    assert low <= mid <= high
    assert strong.metrics["next_step.withheld"] == float(low > 0)

    # logs in which exactly the model's own picks end in no decision
    logs = copy.copy(strong.next_step_logs)
    logs.q_hat = np.eye(k)[logs.recommended + 1]
    logs.outcome = logs.q_hat[np.arange(len(logs.outcome)), logs.logged + 1]
    harmful = off_policy_metrics(logs, k - 1, q_hat=logs.q_hat)
    assert harmful["next_step.ope.dr_vs_logged.ci_low"] > 0
    model = copy.copy(strong.model)
    warnings = withhold_if_harmful(model, harmful)
    assert model.next_steps is None and harmful["next_step.withheld"] == 1.0
    assert model.next_steps_note.startswith("withheld: on the test window, following them")
    assert warnings == (f"next steps {model.next_steps_note}",)
    assert strong.model.next_steps is nsm  # the original keeps its own
