"""Next steps in the trained model: fitted in the run, valued off-policy, shown in the ranking,
and checked against the simulator's ground truth."""

from __future__ import annotations

import numpy as np

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
