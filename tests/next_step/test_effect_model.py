"""The effect model finds planted effects, abstains without overlap, and recommends validly."""

from __future__ import annotations

import numpy as np
import pytest

from features.actions import ActionCatalogue
from training.next_step.effect_model import EffectConfig, EffectModel
from training.next_step.ground_truth import (
    baseline_policies,
    best_codes,
    one_hot,
    paired_difference,
    top_action_agreement,
    value,
)
from training.next_step.next_step_model import NO_VALID, NextStepModel
from training.next_step.recommend import KEEP_GOING, StepEvidence

SMALL = EffectConfig(n_estimators=40, nuisance_rounds=100, min_samples_leaf=40, cv=2)


@pytest.fixture(scope="module")
def planted() -> tuple[EffectModel, np.ndarray, np.ndarray]:
    """Action 0 lowers no decision by 20 points where x0 > 0 only; action 1 never helps;
    the seller takes action 1 more where x1 is high (confounded by x1, which also raises the
    outcome); action 2 is never taken where x2 > 1 (no overlap there)."""
    rng = np.random.default_rng(3)
    n = 6000
    x = rng.normal(size=(n, 3))
    p1 = 0.15 + 0.2 * (x[:, 1] > 0)
    u = rng.random(n)
    t = np.where(u < 0.2, 0, np.where(u < 0.2 + p1, 1, -1))
    t = np.where((x[:, 2] > 1) & (t == 0), -1, t)
    t[(rng.random(n) < 0.1) & (x[:, 2] <= 1)] = 2
    base = 0.45 + 0.15 * (x[:, 1] > 0)
    p = base - 0.2 * ((t == 0) & (x[:, 0] > 0))
    y = (rng.random(n) < p).astype(float)
    model = EffectModel(["a", "b", "c"], SMALL).fit(x, t, {"no_decision": y})
    return model, x, t


def test_the_planted_effect_is_found_where_it_is_and_not_elsewhere(planted) -> None:
    model, x, _ = planted
    est = model.estimate(x[:1500])
    e = est.effect["no_decision"]
    helps = x[:1500, 0] > 0
    assert e[helps, 0].mean() < -0.1 < e[~helps, 0].mean()
    assert abs(e[:, 1].mean()) < 0.06  # confounded by x1, adjusted
    lo, hi = est.low["no_decision"], est.high["no_decision"]
    assert (lo <= e + 1e-12).all() and (e <= hi + 1e-12).all()
    assert model.fit_seconds > 0 and model.fit_rows == len(x)


def test_it_abstains_where_the_action_was_never_taken(planted) -> None:
    model, x, _ = planted
    est = model.estimate(x, intervals=False)
    no_overlap = x[:, 2] > 1.5
    assert est.abstain[no_overlap, 0].mean() > 0.8
    assert est.abstain[x[:, 2] < 0, 0].mean() < 0.05
    exact = model.estimate(x[:300], intervals=False, exact=True)
    assert np.isnan(exact.low["no_decision"]).all()  # the forests' intervals left out
    assert np.isfinite(est.low["no_decision"]).all()  # the serving boosters always give them
    np.testing.assert_allclose(est.propensity.sum(axis=1), 1.0, atol=1e-9)


def test_recommendations_respect_step_cooldown_and_abstention(planted) -> None:
    model, x, _ = planted
    cat = ActionCatalogue.model_validate({"actions": {
        "a": {"description": "Do a", "steps": ["s1", "s2"], "cooldown_days": 14},
        "b": {"description": "Do b", "steps": ["s1"], "cooldown_days": 0},
        "c": {"description": "Do c", "steps": ["s2"], "cooldown_days": 0}}})
    evidence = StepEvidence(["s1", "s2"], ["a", "b", "c"], np.full((2, 3), 12.0),
                            np.full((2, 3), 0.05))
    nsm = NextStepModel(cat, model, evidence, min_lift=0.05)
    i = int(np.flatnonzero((x[:, 0] > 1) & (np.abs(x[:, 2]) < 0.5))[0])
    rows = x[[i, i, i, i]]
    recs = nsm.recommend(rows, np.array(["s1", "s1", "s3", "s2"]),
                         np.array([[np.inf] * 3, [3.0, np.inf, np.inf], [np.inf] * 3,
                                   [np.inf] * 3]))
    assert recs[0].steps[0].action == "a"
    assert recs[0].steps[0].lift >= 0.05 and recs[0].steps[0].reason.startswith("at this step")
    assert "a" not in [r.action for r in recs[1].steps]  # inside its 14-day cool-down
    assert recs[2].steps == [] and recs[2].note == NO_VALID  # no action valid at s3
    assert all(r.action in ("a", "c") for r in recs[3].steps)  # b is not valid at s2
    none_help = NextStepModel(cat, model, evidence, min_lift=0.9).recommend(
        rows[:1], np.array(["s1"]), np.full((1, 3), np.inf))
    assert none_help[0].steps == [] and none_help[0].note == KEEP_GOING
    assert "no decision" in recs[0].headline and "95% CI" in recs[0].headline


def test_policy_values_and_baselines_on_hand_made_truth() -> None:
    gain = np.array([[0.03, 0.01], [0.00, 0.02], [0.01, 0.00], [0.0, 0.0]])
    valid = np.array([[1, 1], [1, 1], [1, 0], [1, 1]], bool)
    assert best_codes(gain, valid).tolist() == [0, 1, 0, -1]
    oracle = one_hot(best_codes(gain, valid), 2)
    assert value(oracle, gain) == pytest.approx(0.06 / 4)
    agree, n = top_action_agreement(one_hot(np.array([0, 0, 0, -1]), 2), gain, valid,
                                    material=0.01)
    assert (agree, n) == (2 / 3, 3)
    step = np.array([0, 0, 1, 1])
    pols = baseline_policies(
        n_actions=2, valid=valid, step=step, logged=np.array([-1, 1, 0, -1]),
        train_step=np.repeat([0, 1], 400), train_logged=np.tile([-1, 0, 1, -1], 200),
        train_nd=np.tile([1.0, 0.0, 1.0, 1.0], 200),
        train_won_deal=np.tile([0, 0, 1, 0], 200) > 0,
        train_gain=np.tile([[0.01, 0.03]], (800, 1)), train_valid=np.ones((800, 2), bool),
        observable_scores=gain, test_gain=gain)
    assert pols["fixed_playbook"].argmax(axis=1).tolist() == [1, 1, 1, 1]  # action 0 did best
    assert pols["imitate_winners"].argmax(axis=1).tolist() == [2, 2, 2, 2]  # won deals took 1
    assert pols["step_oracle"].argmax(axis=1).tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(pols["random_valid"][2], [0, 1, 0])
    np.testing.assert_array_equal(pols["full_oracle"], oracle)
    d, lo, hi = paired_difference(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4),
                                  np.array([0, 0, 1, 1]), n_boot=200)
    assert d == 2.5 and 1.5 <= lo <= hi <= 3.5


def test_the_serving_boosters_follow_the_forests(planted) -> None:
    """/score uses the distilled boosters: they must say what the causal forests say."""
    model, x, _ = planted
    assert model.distill_r2["no_decision"] > 0.8
    fast = model.estimate(x[:400])
    exact = model.estimate(x[:400], exact=True)
    e_fast, e_exact = fast.effect["no_decision"], exact.effect["no_decision"]
    assert np.corrcoef(e_fast[:, 0], e_exact[:, 0])[0, 1] > 0.9
    assert np.abs(e_fast - e_exact).mean() < 0.03
    half_fast = (fast.high["no_decision"] - fast.low["no_decision"]) / 2
    half_exact = (exact.high["no_decision"] - exact.low["no_decision"]) / 2
    assert abs(half_fast.mean() - half_exact.mean()) < 0.2 * half_exact.mean()
