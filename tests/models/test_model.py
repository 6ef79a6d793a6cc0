"""DealRiskModel: schema checks at predict, calibrated output, directional and invariance tests."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.schema import FEATURES
from training.model import DealRiskModel
from training.pipeline import TrainResult


@pytest.fixture(scope="module")
def model(trained: TrainResult) -> DealRiskModel:
    return trained.model


@pytest.fixture(scope="module")
def rows(trained: TrainResult) -> pd.DataFrame:
    return trained.holdout.iloc[:500]


def test_probabilities_are_calibrated_floats_in_unit_interval(model, rows) -> None:
    out = model.predict(rows)
    assert list(out.columns) == ["stall_risk", "no_decision_risk", "won_risk"]
    assert out.index.equals(rows.index)
    assert out.dtypes.eq(np.float64).all()
    assert ((out >= 0) & (out <= 1)).all().all()
    assert set(model.calibrators_) == {"stall", "no_decision", "won"}


def test_missing_column_is_a_clear_error(model, rows) -> None:
    with pytest.raises(ValueError, match=r"lack 1 feature column.*days_in_step"):
        model.predict(rows.drop(columns=["days_in_step"]))


def test_wrong_column_order_is_an_error(model, rows) -> None:
    names = FEATURES.names
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(ValueError, match="out of order"):
        model.predict(rows[["deal_id", *swapped]])


def test_non_numeric_feature_is_an_error(model, rows) -> None:
    bad = rows.copy()
    bad["amount"] = bad["amount"].astype(str)
    with pytest.raises(ValueError, match="must be numeric"):
        model.predict(bad)
    with pytest.raises(TypeError):
        model.predict(rows[FEATURES.names].to_numpy())  # type: ignore[arg-type]


def test_extra_columns_are_ignored_and_unseen_categories_are_missing(model, rows) -> None:
    base = model.predict(rows)
    extra = rows.assign(something_else=1.0)
    pd.testing.assert_frame_equal(model.predict(extra), base)
    odd = rows.copy()
    odd["segment"] = "a segment never seen"
    assert model.predict(odd).notna().all().all()


def test_pickle_round_trip(model, rows) -> None:
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(again.predict(rows), model.predict(rows))


def test_longer_buyer_silence_never_lowers_risk(model, rows) -> None:
    """Directional: vary days_since_buyer_activity on real rows, everything else fixed."""
    grid = [0.0, 3.0, 10.0, 30.0, 60.0, 120.0]
    risks = []
    for days in grid:
        varied = rows.copy()
        varied["days_since_buyer_activity"] = np.float32(days)
        risk = model.predict(varied)
        risk["won_risk"] = 1 - risk["won_risk"]  # the risk of not winning
        risks.append(risk.to_numpy())
    steps = np.diff(np.stack(risks), axis=0)
    assert (steps >= -1e-12).all()
    assert (risks[-1] - risks[0]).mean() > 0  # and it matters


def test_renaming_an_account_never_changes_a_score(sim, model) -> None:
    """Invariance through the feature function + model: account ids are names, not features."""
    h = sim.histories
    as_of = sim.known_until - pd.Timedelta(days=60)
    before = build_features(h, as_of)
    renamed_deals = h.deals.copy()
    mapping = {a: f"renamed-{i}" for i, a in enumerate(pd.unique(renamed_deals["account_id"]))}
    renamed_deals["account_id"] = renamed_deals["account_id"].map(mapping)
    renamed = type(h)(**{**h.tables(), "deals": renamed_deals})
    after = build_features(renamed, as_of)
    pd.testing.assert_frame_equal(model.predict(after), model.predict(before))


def test_explain_gives_plain_words_pushing_risk_up(model, rows) -> None:
    reasons = model.explain(rows.iloc[:50], top_k=3)
    assert len(reasons) == 50
    assert all(len(r) <= 3 for r in reasons)
    assert sum(len(r) for r in reasons) > 0
    contrib = model.contributions(rows.iloc[:50]).drop(columns="bias")
    for i, r in enumerate(reasons):
        assert len(r) <= int((contrib.iloc[i] > 0).sum())
        assert all(isinstance(s, str) and s and s[0].isupper() for s in r)


def test_score_returns_open_deals_with_reasons(sim, model) -> None:
    as_of = sim.known_until - pd.Timedelta(days=10)
    scored = model.score(sim.histories, as_of)
    assert len(scored) > 0
    assert {"deal_id", "as_of", "stall_risk", "no_decision_risk", "reasons"} <= set(scored)
    assert scored["reasons"].map(lambda r: isinstance(r, list)).all()


def test_unfitted_model_says_so() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        DealRiskModel().predict(pd.DataFrame())


def test_an_extended_schema_trains_on_its_extra_column(trained) -> None:
    """A research benchmark adds columns through ``schema``; the shipped model never sees them."""
    from features.schema import Feature, FeatureSchema
    from training.model import TrainConfig

    rows = trained.holdout.copy()
    stalled = rows["label_stall"].fillna(0).to_numpy()
    rows["hint"] = stalled + np.random.default_rng(0).normal(0, 0.5, len(rows))
    schema = FeatureSchema((*FEATURES, Feature("hint", "float", "engagement", "a hint", "hint")))
    bucket = pd.util.hash_pandas_object(rows["deal_id"], index=False).to_numpy() % 4
    columns = ["deal_id", "label_stall", "label_no_decision", "label_won", *schema.names]
    parts = [rows.loc[bucket == b, columns] for b in range(3)]
    extended = DealRiskModel(TrainConfig(n_estimators=60, min_child_samples=20), schema=schema)
    extended.fit(*parts)
    assert extended.feature_names_ == schema.names
    assert len(extended.monotone_constraints("stall")) == len(schema)
    assert extended.feature_importance().index[0] == "hint"
    shipped = DealRiskModel(TrainConfig(n_estimators=60, min_child_samples=20)).fit(
        *(p.drop(columns="hint") for p in parts))
    assert shipped.feature_names_ == FEATURES.names


def test_no_early_stopping_gives_every_round(trained: TrainResult) -> None:
    """early_stopping_rounds=0 fits exactly n_estimators rounds; otherwise the window stops it."""
    from training.model import TrainConfig

    rows = trained.holdout.dropna(subset=["label_no_decision"])
    half = len(rows) // 2
    fixed = TrainConfig(targets=("no_decision",), candidates=("lightgbm",), monotone="none",
                        n_estimators=23, early_stopping_rounds=0, learning_rate=0.3)
    model = DealRiskModel(fixed).fit(rows.iloc[:half], rows.iloc[half:], rows.iloc[half:])
    assert model.best_iteration_["no_decision"] == 23
    stopped = TrainConfig(targets=("no_decision",), candidates=("lightgbm",), monotone="none",
                          n_estimators=2000, early_stopping_rounds=5, learning_rate=0.3)
    model = DealRiskModel(stopped).fit(rows.iloc[:half], rows.iloc[half:], rows.iloc[half:])
    assert model.best_iteration_["no_decision"] < 2000
