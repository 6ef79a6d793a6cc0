"""Next steps in the trained model: fitted in the run, valued off-policy, shown in the ranking,
and checked against the simulator's ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.action_history import days_since_actions
from training.next_step.evaluation import policy_codes
from training.next_step.ground_truth import one_hot, true_gains, value
from training.pipeline import labelled_rows, split_per_target
from training.simulator.params import SimParams


def test_the_run_fits_the_effect_model_and_logs_its_off_policy_value(trained) -> None:
    model = trained.model
    assert model.next_steps is not None, model.next_steps_note
    assert set(model.next_steps.effects.targets) == {"no_decision", "won"}
    m = trained.metrics
    for name in ("ips", "snips", "dm", "dr"):
        v, lo, hi = (m[f"next_step.ope.{name}{s}"] for s in ("", ".ci_low", ".ci_high"))
        assert 0.0 <= lo <= v <= hi <= 1.0, name
    assert m["next_step.fit_seconds"] > 0 and m["next_step.fit_rows"] > 1000
    assert 0 < m["next_step.recommend_share"] <= 1


def test_every_ranked_deal_gets_a_valid_next_step_or_says_why(trained, sim) -> None:
    model = trained.model
    ranking = model.rank(sim.histories, sim.known_until)
    catalogue = model.next_steps.catalogue
    days = days_since_actions(sim.histories.activities, ranking["deal_id"].to_numpy(),
                              [sim.known_until] * len(ranking), catalogue.names)
    cooldown = catalogue.cooldown_days()
    shown = 0
    for i, row in enumerate(ranking.to_dict("records")):
        assert row["next_step"]
        for step in row["next_best_actions"]:
            a = catalogue.names.index(step["action"])
            assert catalogue.valid(step["action"], row["buyer_step"])
            assert days[i, a] >= cooldown[a]  # never inside its cool-down
            assert step["lift_low"] <= step["lift"] <= step["lift_high"]
        if row["next_best_actions"]:
            assert row["next_step"].startswith(row["next_best_actions"][0]["description"])
            shown += 1
    assert shown > len(ranking) // 2


def test_what_it_recommends_truly_helps_more_than_a_random_valid_action(trained, sim) -> None:
    """The simulator's verdict on the test window (hidden state at each snapshot)."""
    model, nsm = trained.model, trained.model.next_steps
    rows = labelled_rows(sim.histories, config=model.config, known_until=sim.known_until)
    test = split_per_target(rows, model.config).test.drop_duplicates(["deal_id", "as_of"])
    params = SimParams(seed=int(sim.truth.attrs["seed"]), n_deals=3000)
    gains = true_gains(params, test, sim.truth, nsm.catalogue.names)
    test = test[gains.known].reset_index(drop=True)
    nd = gains.nd[gains.known]
    codes, _ = policy_codes(nsm, test, model._matrix(test[model.feature_names_]),
                            sim.histories.activities)
    valid = nsm.catalogue.valid_mask(test["current_step"].astype(str).tolist())
    random = np.where(valid, nd, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    recommended = value(one_hot(codes, len(nsm.catalogue.names)), nd)
    assert recommended > random.mean() > 0


def test_the_replayed_export_under_the_sellers_own_policy_is_the_recorded_one(trained, sim,
                                                                            tmp_path) -> None:
    """What the forward replay scores each week is what the CRM would really have exported."""
    from features.build import build_features
    from training.next_step.forward_replay import crm_export_at
    from training.simulator.latent import draw_deals

    model = trained.model
    params = SimParams(seed=int(sim.truth.attrs["seed"]), n_deals=3000)
    deals = draw_deals(params, np.arange(0, 3000, 7))
    replayed = crm_export_at(params, deals, sim.known_until, None, tmp_path)
    ids = set(replayed.deals["deal_id"].astype(str))
    assert len(ids) == len(deals.index)
    recorded = sim.histories.for_deals(sorted(ids))
    ours = build_features(replayed, sim.known_until, peers=model.peer_stats)
    theirs = build_features(recorded, sim.known_until, peers=model.peer_stats)
    assert len(ours) > 50
    cols = model.feature_names_
    pd.testing.assert_frame_equal(ours.sort_values("deal_id")[["deal_id", *cols]]
                                  .reset_index(drop=True),
                                  theirs.sort_values("deal_id")[["deal_id", *cols]]
                                  .reset_index(drop=True))


def test_following_the_reviews_changes_outcomes_only_where_a_policy_acts(trained, sim) -> None:
    """Forward replay: same deals under each policy; the oracle truly cuts no decisions."""
    from training.next_step.forward_replay import POLICIES, ReviewPlan, forward_replay, summarise
    from training.simulator.journey import simulate_journeys
    from training.simulator.latent import draw_deals

    model = trained.model
    params = SimParams(seed=int(sim.truth.attrs["seed"]), n_deals=3000)
    start = sim.known_until - pd.Timedelta(days=120)
    ids = sim.histories.deals["deal_id"].astype(str).tolist()
    outcomes = forward_replay(model, params, ids, start, weeks=4, seed=1)
    per_policy = outcomes.groupby("policy")["deal_id"].apply(lambda s: sorted(s))
    assert set(per_policy.index) == set(POLICIES)
    assert all(v == per_policy["historic"] for v in per_policy)  # every deal under each policy
    assert len(per_policy["historic"]) > 200
    summary = summarise(outcomes, n_boot=200)
    assert summary["oracle"]["no_decision_rate_diff_ci_high"] < 0
    assert summary["oracle"]["no_decision_rate"] < summary["random_valid"]["no_decision_rate"]
    # an empty plan is the seller's own policy, draw for draw
    deals = draw_deals(params, np.arange(200))
    plain = simulate_journeys(params, deals, record=False, max_day=2000)
    planned = simulate_journeys(params, deals, policy=ReviewPlan(deals.created_day).policy(),
                                record=False, max_day=2000)
    np.testing.assert_array_equal(plain.outcome, planned.outcome)
    np.testing.assert_array_equal(plain.close_day, planned.close_day)


def test_shown_lifts_are_on_the_scale_the_held_out_logs_show(trained) -> None:
    """Calibrated on the windows between training and test; the order of actions is kept."""
    from training.next_step.lift_checks import MIN_SLOPE

    nsm, m = trained.model.next_steps, trained.metrics
    assert set(nsm.calibration) == {"no_decision", "won"}
    for target, (alpha, beta) in nsm.calibration.items():
        assert MIN_SLOPE <= beta <= 1.0
        assert m[f"next_step.calibration.{target}.alpha"] == alpha
        assert m[f"next_step.calibration.{target}.pairs"] >= 500
    holdout = trained.holdout.head(300)
    est = nsm.effects.estimate(trained.model._matrix(holdout[trained.model.feature_names_]),
                               intervals=False)
    alpha, beta = nsm.calibration["no_decision"]
    lift = nsm.lift(est)[0]
    np.testing.assert_allclose(lift, alpha + beta * -est.effect["no_decision"])
    np.testing.assert_array_equal(lift.argmax(axis=1), (-est.effect["no_decision"]).argmax(axis=1))
    won_alpha, won_beta = nsm.calibration["won"]
    np.testing.assert_allclose(nsm.win_gain(est), won_alpha + won_beta * est.effect["won"])
