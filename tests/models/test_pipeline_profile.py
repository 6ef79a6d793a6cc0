"""A model trained on a pipeline whose export records less: the left-out features stay out at
predict whatever the rows hold, the pipeline's own context fields are features with reasons,
and the model card and MLflow signature say so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from features.profile import ContextField, PipelineProfile
from training.model import TrainConfig
from training.model_card import model_card
from training.pipeline import train_pipeline
from training.reasons import describe
from training.tracking import input_example, signature

FAST = TrainConfig(n_estimators=300, early_stopping_rounds=30, learning_rate=0.1,
                   min_child_samples=50, next_steps=False)

PROFILE = PipelineProfile(name="crm", source="generic", tracked_fields=("amount",),
                          context=(ContextField("seats", "number", phrase="licensed seats"),
                                   ContextField("plan", "category")))


@pytest.fixture(scope="module")
def result(sim):
    rng = np.random.default_rng(3)
    deals = sim.histories.deals
    deals = deals.assign(seats=rng.integers(1, 500, len(deals)).astype(float),
                         plan=rng.choice(["free", "pro", "enterprise"], len(deals)))
    histories = replace(sim.histories, deals=deals, profile=PROFILE).conformed()
    return train_pipeline(histories, config=FAST, known_until=sim.known_until, n_boot=20)


def test_the_model_carries_the_profile_and_its_schema(result):
    model = result.model
    assert model.profile == PROFILE
    assert model.feature_names_[-2:] == ["seats", "plan"]
    assert set(model.left_out) == {"close_date_pushes", "days_slipped", "days_to_close_date",
                                   "days_since_close_push", "planned_cycle_days"}
    importance = model.feature_importance("split")
    assert (importance.loc[list(model.left_out)] == 0).all().all()
    # the model sees the context fields' values (seats as numbers, plan as category codes)
    x = model._matrix(result.holdout.head(50))
    seats = x[:, model.feature_names_.index("seats")]
    np.testing.assert_array_equal(seats, result.holdout["seats"].head(50).to_numpy(np.float32))
    assert set(np.unique(x[:, model.feature_names_.index("plan")])) <= {0.0, 1.0, 2.0}


def test_left_out_features_stay_out_at_predict_whatever_the_rows_hold(result):
    rows = result.holdout.head(200).copy()
    before = result.model.predict(rows)
    rows["days_to_close_date"] = -500.0  # a value the export could not have known
    rows["close_date_pushes"] = 9.0
    pd_after = result.model.predict(rows)
    np.testing.assert_array_equal(before.to_numpy(), pd_after.to_numpy())


def test_context_fields_speak_in_reasons_and_signature(result):
    assert describe("seats", 12.0, 40.0, result.model.schema).startswith("Licensed seats: 12")
    assert describe("plan", "free", None, result.model.schema) == "Plan: free"
    inputs = signature(result.model.schema).inputs.input_names()
    assert inputs[-2:] == ["seats", "plan"]
    example = input_example(result.holdout, schema=result.model.schema)
    assert list(example.columns)[-2:] == ["seats", "plan"]


def test_the_model_card_names_what_was_left_out_and_why(result):
    card = model_card(result)
    assert "pipeline `crm`" in card
    assert "no close-date history" in card and "`days_to_close_date`" in card
    assert "`seats` (number)" in card
    assert "| stall |" in card
