"""Confounded historic policy, common-random-number replay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.simulator import (
    ACTIONS,
    STEPS,
    SimulatedPipeline,
    always,
    historic_policy,
    no_action,
    replay,
    true_action_effects,
)


def test_naive_comparison_gets_a_sign_wrong(pipe: SimulatedPipeline) -> None:
    t = pipe.tables
    acts = pd.concat([t["Task"][["WhatId", "Subject"]], t["Event"][["WhatId", "Subject"]]])
    acts["action"] = acts["Subject"].str.extract(r"\[(\w+)\]$")[0]
    d = pipe.truth["deals"].set_index("deal_id")
    closed = d[d["outcome"] != "open"]
    won = closed["outcome"] == "won"
    eff = pipe.truth["action_effects"]
    wrong = []
    for a in ACTIONS:
        used = closed.index.isin(acts.loc[acts["action"] == a, "WhatId"])
        naive = won[used].mean() - won[~used].mean()
        rows = eff[eff["action"] == a]
        true = np.average(rows["visit_weighted_effect_p_won"], weights=rows["open_days_in_state"])
        if np.sign(naive) != np.sign(true):
            wrong.append(a)
    assert "reengage_dark_buyer" in wrong


def test_replay_under_historic_policy_reproduces_history(pipe: SimulatedPipeline) -> None:
    d = pipe.truth["deals"]
    ids = d["deal_id"].to_numpy()[:1500]
    for pol in (None, historic_policy):
        r = replay(pipe, ids, from_day=0, policy=pol)
        truth = d.set_index("deal_id").loc[ids]
        assert (r["outcome"].to_numpy() == truth["outcome"].to_numpy()).all()
        same_close = r["closed_at"].fillna(pd.Timestamp(0, tz="UTC")).to_numpy() == truth[
            "closed_at"].fillna(pd.Timestamp(0, tz="UTC")).to_numpy()
        assert same_close.all()
        assert (r["n_actions"].to_numpy() == truth["n_actions"].to_numpy()).all()
    # from a calendar date, with the policy switched on later: still the same history
    r = replay(pipe, ids[:200], from_day="2024-06-01", policy=historic_policy)
    assert (r["outcome"].to_numpy() == d.set_index("deal_id").loc[ids[:200], "outcome"]).all()


def test_replay_changes_only_affected_deals(pipe: SimulatedPipeline) -> None:
    d = pipe.truth["deals"].set_index("deal_id")
    ids = d.index.to_numpy()[:3000]
    policy = always("agree_evaluation_plan", steps=[3], dark=False)
    r = replay(pipe, ids, from_day=0, policy=policy).set_index("deal_id")
    dl = pipe.truth["daily"]
    # a deal can only be affected if it was ever engaged at step 3 before its close
    reached = set(dl.loc[(dl["step"] == 3) & dl["engaged"], "deal_id"])
    untouched = [i for i in ids if i not in reached]
    assert (r.loc[untouched, "outcome"] == d.loc[untouched, "outcome"]).all()
    assert (r.loc[untouched, "closed_at"].isna() == d.loc[untouched, "closed_at"].isna()).all()
    changed = r["outcome"] != d.loc[ids, "outcome"]
    assert changed.sum() > 0
    assert set(changed[changed].index) <= reached
    # more won than under the historic policy (the action helps at that step)
    assert r["won"].mean() > (d.loc[ids, "outcome"] == "won").mean()


def test_no_action_policy_and_from_day(pipe: SimulatedPipeline) -> None:
    d = pipe.truth["deals"].set_index("deal_id")
    ids = d.index.to_numpy()[:2000]
    r = replay(pipe, ids, from_day=30, policy=no_action).set_index("deal_id")
    early = d.loc[ids, "days_open"] <= 30
    closed_early = early & (d.loc[ids, "outcome"] != "open")
    assert (r.loc[closed_early, "outcome"] == d.loc[ids][closed_early]["outcome"]).all()
    assert (r["n_actions"] <= d.loc[ids, "n_actions"]).all()
    pdays = r.loc[~early, "step_at_from"].notna()
    assert pdays.all()


def test_true_action_effects_per_deal(pipe: SimulatedPipeline) -> None:
    ids = pipe.truth["deals"]["deal_id"].to_numpy()[:300]
    e = true_action_effects(pipe, ids)
    assert len(e) == 300 * 70
    agg = e.groupby(["action", "step", "engaged"])["effect_p_won"].mean()
    assert agg["reengage_dark_buyer", "decision", False] > 0
    # effects vary across deals (latent modulation)
    spread = e.groupby(["action", "step", "engaged"])["effect_p_won"].std()
    assert spread["agree_evaluation_plan", "evaluation_plan", True] > 0


def test_effects_depend_on_the_deal_state_not_only_on_its_step(pipe: SimulatedPipeline) -> None:
    """Reaching the economic buyer helps only while none takes part; stories move low intent."""
    from training.simulator.latent import draw_deals
    from training.simulator.params import ECONOMIC_BUYER
    from training.simulator.truth import deal_action_effects

    idx = np.arange(2000)
    deals = draw_deals(pipe.params, idx)
    eff = deal_action_effects(pipe.params, deals)  # (n, 10, 7, 3)
    step = 2  # solution_visualised, engaged: x = 4
    eb_in = deals.engaged_at(ECONOMIC_BUYER, idx, np.full(len(idx), step))
    reach = -eff[:, 2 * step, ACTIONS.index("reach_economic_buyer"), 2]
    assert reach[~eb_in].mean() > 4 * max(reach[eb_in].mean(), 1e-4)
    stories = -eff[:, 2 * 1 + 1, ACTIONS.index("share_customer_stories"), 2]  # dark, step 1
    low = deals.intent < np.quantile(deals.intent, 0.25)
    high = deals.intent > np.quantile(deals.intent, 0.75)
    assert stories[low].mean() > 0 > stories[high].mean()


def test_simulator_nba_difficulty_lookup_recovers_at_most_three_quarters(
        pipe: SimulatedPipeline) -> None:
    """A (step, engaged) table of TRUE effects recovers at most 75% of the full oracle's gain."""
    from features.actions import ActionCatalogue
    from training.simulator.latent import draw_deals
    from training.simulator.nba_difficulty import nba_difficulty
    from training.simulator.sf_export import deal_index_from_id
    from training.simulator.truth import deal_action_effects

    daily = pipe.truth["daily"]
    weekly = daily[daily["day"] % 7 == 0]
    uniq, rows = np.unique(deal_index_from_id(weekly["deal_id"].astype(str).tolist()),
                           return_inverse=True)
    eff = deal_action_effects(pipe.params, draw_deals(pipe.params, uniq))
    valid = ActionCatalogue.default().valid_mask(STEPS, ACTIONS)
    d = nba_difficulty(eff, rows, weekly["step"].to_numpy(), ~weekly["engaged"].to_numpy(), valid)
    assert d["lookup_share_of_oracle"] <= 0.75
    assert d["playbook_share_of_oracle"] < d["lookup_share_of_oracle"]
    assert 0 < d["oracle_mean_nd_reduction"] < 0.05  # small effects
