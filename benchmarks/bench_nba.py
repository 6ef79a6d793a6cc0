"""Benchmark next-best-action against the simulator's ground truth and from logged data alone.

On a simulated pipeline (default 20k deals, seed 1):

1. ``train_pipeline`` as ``dealrisk train`` runs it: the risk model, then the next-step effect
   model (econml ForestDRLearner on LightGBM nuisances) and its off-policy value on the test
   window (IPS, SNIPS, DM, DR) from the logs alone.
2. Ground truth on every test snapshot whose hidden state is known (occupancy as it comes): the
   TRUE no-decision reduction and win gain of what each policy picks (recommender, historic,
   random valid, fixed playbook, imitate-the-winners, step oracle, observable oracle, full
   oracle), each difference to the recommender with a deal-bootstrap 95 % interval, the top
   action agreement where the best action is material (at least 1 point; also the step and
   observable oracles': what policies that learnt from the true effects, but see no deal's
   hidden state, reach), and the simulator's NBA difficulty (what a (step, engaged) lookup
   and the two-rule playbook of TRUE effects recover of the full oracle's gain).
3. The off-policy DR estimate of the recommender's P(no decision) against its true value on the
   same final-outcome test rows: the logged rate minus the true effect difference between the
   recommended and the logged actions.
4. A forward replay of whole deals (:mod:`training.next_step.forward_replay`): the test deals
   open at the test window's start are re-simulated while the seller follows, at weekly reviews,
   the recommender (scoring the CRM export the replay writes that morning), a random valid
   action or the oracle, against the historic seller: no-decision rate, win rate and median
   days to decision, differences with deal-bootstrap 95 % intervals.

Prints figures and, last, one JSON line.

    .venv/bin/python benchmarks/bench_nba.py                       # 20k deals, seed 1
    .venv/bin/python benchmarks/bench_nba.py --deals 5000 --seeds 1,2,3   # quicker sweep
    .venv/bin/python benchmarks/bench_nba.py --historic-policy randomised --replay-weeks 0
        # the same pipeline logged as a randomised trial: what is left without confounding
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def run(n_deals: int, seed: int, workdir: Path, trees: int, replay_weeks: int = 26,
        replay_deals: int = 3000, historic_policy: str = "confounded") -> dict[str, object]:
    from bench_models import load_truth, simulate_canonical
    from lightgbm import LGBMRegressor

    from features.histories import DealHistories
    from training.model import TrainConfig
    from training.next_step.evaluation import (
        LoggedTest,
        off_policy_metrics,
        policy_choice,
        policy_codes,
    )
    from training.next_step.ground_truth import (
        MATERIAL,
        baseline_policies,
        one_hot,
        paired_difference,
        top_action_agreement,
        true_gains,
        value,
    )
    from training.next_step.treatments import next_action
    from training.pipeline import labelled_rows, split_per_target, train_pipeline
    from training.simulator.nba_difficulty import nba_difficulty
    from training.simulator.params import STEPS, SimParams

    out, known_until = simulate_canonical(n_deals, seed, workdir, historic_policy)
    histories = DealHistories.read_parquet(out / "canonical")
    truth = load_truth(out / "export")
    params = SimParams.load(out / "export" / "truth")
    cfg = TrainConfig(seed=seed, next_step_trees=trees)
    started = time.perf_counter()
    result = train_pipeline(histories, config=cfg, known_until=known_until, n_boot=100,
                            progress=lambda s: print(f"   [{time.perf_counter() - started:6.0f}s]"
                                                     f" {s}", flush=True))
    model = result.model
    nsm = model.next_steps
    if nsm is None:
        raise SystemExit(f"no next-step model: {model.next_steps_note}")
    m = result.metrics
    names = nsm.catalogue.names
    n_actions = len(names)
    window = cfg.next_step_window_days

    print("   ground truth ...", flush=True)
    rows = labelled_rows(histories, config=cfg, known_until=known_until)
    split = split_per_target(rows, cfg)
    test, train = (_one_row_per_snapshot(split.test), _one_row_per_snapshot(split.train))
    rng = np.random.default_rng(seed)
    train = train.iloc[np.sort(rng.choice(len(train), min(len(train), 60_000), replace=False))
                       ].reset_index(drop=True)
    g_test = true_gains(params, test, truth, names)
    g_train = true_gains(params, train, truth, names)
    test, train = test[g_test.known].reset_index(drop=True), train[g_train.known].reset_index(
        drop=True)
    gt = {k: getattr(g_test, k)[g_test.known] for k in ("nd", "won", "step", "dark")}
    gtr = {k: getattr(g_train, k)[g_train.known] for k in ("nd", "won", "step", "dark")}
    x_test = model._matrix(test[model.feature_names_])
    x_train = model._matrix(train[model.feature_names_])
    choice = policy_choice(nsm, test, x_test, histories.activities)
    rec_codes = choice.codes
    shown = rec_codes >= 0  # what a seller is told the recommended action will do, and does
    est_shown = float(choice.lift[shown, rec_codes[shown]].mean()) if shown.any() else 0.0
    true_shown = float(gt["nd"][shown, rec_codes[shown]].mean()) if shown.any() else 0.0
    steps = list(model.categories_.get("current_step", [])) or sorted(
        set(test["current_step"].astype(str)))
    step_test = pd.Index(steps).get_indexer(test["current_step"].astype(str))
    step_train = pd.Index(steps).get_indexer(train["current_step"].astype(str))
    valid_test = nsm.catalogue.valid_mask(test["current_step"].astype(str).tolist())
    valid_train = nsm.catalogue.valid_mask(train["current_step"].astype(str).tolist())
    logged_test = next_action(histories.activities, test, names, window)
    logged_train = next_action(histories.activities, train, names, window)
    won_deals = set(histories.deals.loc[histories.deals["outcome"] == "won", "deal_id"]
                    .astype(str))
    obs_scores = np.column_stack([
        LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=50,
                      verbose=-1, random_state=seed, n_jobs=2)
        .fit(np.nan_to_num(x_train, nan=-1e6), gtr["nd"][:, a])
        .predict(np.nan_to_num(x_test, nan=-1e6)) for a in range(n_actions)])
    policies = {"recommender": one_hot(rec_codes, n_actions), **baseline_policies(
        n_actions=n_actions, valid=valid_test, step=step_test, logged=logged_test,
        train_step=step_train, train_logged=logged_train,
        train_nd=train["label_no_decision"].to_numpy(np.float64, na_value=np.nan),
        train_won_deal=train["deal_id"].astype(str).isin(won_deals).to_numpy(),
        train_gain=gtr["nd"], train_valid=valid_train, observable_scores=obs_scores,
        test_gain=gt["nd"])}
    deals = test["deal_id"].astype(str).to_numpy()
    per_row = {k: (p[:, 1:] * gt["nd"]).sum(axis=1) for k, p in policies.items()}
    nd_value = {k: float(value(p, gt["nd"])) for k, p in policies.items()}
    won_value = {k: float(value(p, gt["won"])) for k, p in policies.items()}
    full = nd_value["full_oracle"]
    diffs = {k: paired_difference(per_row["recommender"], per_row[k], deals, seed=seed)
             for k in policies if k != "recommender"}
    non_oracle = ("historic", "random_valid", "fixed_playbook", "imitate_winners")
    agreement, n_material = top_action_agreement(policies["recommender"], gt["nd"], valid_test)
    # how often the oracles that see no deal's hidden state agree, for comparison
    agreement_of = {k: top_action_agreement(policies[k], gt["nd"], valid_test)[0]
                    for k in ("step_oracle", "observable_oracle")}
    hidden_valid = nsm.catalogue.valid_mask([STEPS[s] for s in gt["step"]])
    uniq, pos = np.unique(deals, return_inverse=True)
    effects = np.zeros((len(uniq), 10, n_actions, 3))
    effects[pos, 2 * gt["step"] + gt["dark"], :, 2] = -gt["nd"]
    difficulty = nba_difficulty(effects, pos, gt["step"], gt["dark"], hidden_valid)

    # off-policy values from the logs of the final-outcome test rows vs the truth on them
    labelled = test["label_no_decision"].notna().to_numpy()
    y = test["label_no_decision"].to_numpy(np.float64, na_value=np.nan)[labelled]
    true_value = float(y.mean() - (per_row["recommender"][labelled]
                                   - per_row["historic"][labelled]).mean())
    _, shares = policy_codes(nsm, test[labelled], x_test[labelled], histories.activities)
    logs = LoggedTest(test[labelled].reset_index(drop=True), x_test[labelled],
                      logged_test[labelled], y, shares, rec_codes[labelled])
    ope = off_policy_metrics(logs, n_actions, seed=seed)
    m = {**m, **ope}
    dr = ope["next_step.ope.dr"]
    replay = _forward_replay(model, params, split.test, replay_weeks, replay_deals, seed,
                             started)
    covers = ope["next_step.ope.dr.ci_low"] <= true_value <= ope["next_step.ope.dr.ci_high"]
    return {
        "n_deals": n_deals, "seed": seed, "historic_policy": historic_policy,
        "test_snapshots": len(test),
        "effect_fit_s": m.get("next_step.fit_seconds"), "effect_fit_rows": m.get(
            "next_step.fit_rows"),
        "true_nd_reduction": nd_value, "true_win_gain": won_value,
        "oracle_gain_recovered": nd_value["recommender"] / full if full > 0 else float("nan"),
        "observable_oracle_gain_recovered": (nd_value["recommender"]
                                             / nd_value["observable_oracle"]),
        "observable_oracle_share_of_oracle": nd_value["observable_oracle"] / full,
        "lookup_share_of_oracle": difficulty["lookup_share_of_oracle"],
        "playbook_share_of_oracle": difficulty["playbook_share_of_oracle"],
        "diff_vs": {k: {"diff": d[0], "ci_low": d[1], "ci_high": d[2]} for k, d in diffs.items()},
        "beats_all_baselines": all(diffs[k][1] > 0 for k in non_oracle),
        "beats_step_oracle": diffs["step_oracle"][1] > 0,
        "top_action_agreement": agreement, "material_threshold": MATERIAL,
        "step_oracle_top_action_agreement": agreement_of["step_oracle"],
        "observable_oracle_top_action_agreement": agreement_of["observable_oracle"],
        "material_snapshots": n_material,
        "recommend_share": float((rec_codes >= 0).mean()),
        "ope": {k: m.get(f"next_step.ope.{k}") for k in ("ips", "snips", "dm", "dr")},
        "ope_dr_ci": [m.get("next_step.ope.dr.ci_low"), m.get("next_step.ope.dr.ci_high")],
        "ope_true_value": true_value, "ope_dr_error": dr - true_value,
        "ope_dr_ci_covers_truth": bool(covers),
        "risk_nd_auc": m.get("test.no_decision.roc_auc"),
        "recommended_estimated_lift": est_shown, "recommended_true_lift": true_shown,
        "lift_calibration": {k: m.get(f"next_step.lift_calibration.{k}") for k in (
            "slope", "slope.ci_low", "slope.ci_high", "mean_estimated", "mean_realised")},
        "forward_replay": replay,
        "train_s": time.perf_counter() - started,
    }


def _forward_replay(model, params, test: pd.DataFrame, weeks: int, max_deals: int, seed: int,
                    started: float) -> dict[str, object]:
    """Weekly reviews from the test window's start on up to ``max_deals`` of its deals.

    None when ``weeks`` is 0.
    """
    if weeks <= 0:
        return {"weeks": 0}
    from training.next_step.forward_replay import forward_replay, summarise

    start = pd.Timestamp(test["as_of"].min())
    ids = np.array(sorted(set(test["deal_id"].astype(str))), dtype=object)
    rng = np.random.default_rng(seed)
    ids = ids[np.sort(rng.choice(len(ids), min(len(ids), max_deals), replace=False))]
    t0 = time.perf_counter()
    outcomes = forward_replay(model, params, ids.tolist(), start, weeks=weeks, seed=seed,
                              progress=lambda s: print(f"   [{time.perf_counter() - started:6.0f}"
                                                       f"s] replay {s}", flush=True))
    return {"start": start.isoformat(), "weeks": weeks, "seconds": time.perf_counter() - t0,
            **summarise(outcomes, seed=seed)}


def _one_row_per_snapshot(part: pd.DataFrame) -> pd.DataFrame:
    """One row per (deal, as_of), the copy with the final-outcome label.

    A window holds a snapshot once per split it came from; the stall copy has it empty.
    """
    ordered = part.sort_values("label_no_decision", na_position="last", kind="stable")
    return ordered.drop_duplicates(["deal_id", "as_of"]).sort_values(
        ["deal_id", "as_of"]).reset_index(drop=True)


def show(r: dict[str, object]) -> None:
    print(f"\n== {r['n_deals']:,} deals, seed {r['seed']}, {r['historic_policy']} historic "
          f"policy: {r['test_snapshots']:,} test "
          f"snapshots; effect model fit {r['effect_fit_s']:.0f} s on {r['effect_fit_rows']:,.0f} "
          "rows")
    print(f"   {'policy':20s} {'no-decision reduction':>22s} {'win gain':>10s} "
          f"{'recommender minus it (95% CI)':>34s}")
    for k, v in r["true_nd_reduction"].items():
        d = r["diff_vs"].get(k)
        ci = f"{100 * d['diff']:+.2f} [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]" if d \
            else ""
        print(f"   {k:20s} {100 * v:20.2f} pt {100 * r['true_win_gain'][k]:8.2f} pt {ci:>34s}")
    print(f"   recovered of the full oracle {r['oracle_gain_recovered']:.3f}, of the observable "
          f"oracle {r['observable_oracle_gain_recovered']:.3f} (observable oracle = "
          f"{r['observable_oracle_share_of_oracle']:.3f} of the full oracle)")
    print(f"   NBA difficulty: (step, engaged) lookup of TRUE effects recovers "
          f"{r['lookup_share_of_oracle']:.3f}, the two-rule playbook "
          f"{r['playbook_share_of_oracle']:.3f}")
    print(f"   top action = full oracle's in {r['top_action_agreement']:.3f} of "
          f"{r['material_snapshots']:,} snapshots with a material (>= 1 pt) best effect "
          f"(step oracle {r['step_oracle_top_action_agreement']:.3f}, observable oracle "
          f"{r['observable_oracle_top_action_agreement']:.3f})")
    print("   off-policy P(no decision) under the recommender: " + ", ".join(
        f"{k} {v:.4f}" for k, v in r["ope"].items()) + f"; DR 95% CI "
        f"[{r['ope_dr_ci'][0]:.4f}, {r['ope_dr_ci'][1]:.4f}], true {r['ope_true_value']:.4f}, "
        f"error {r['ope_dr_error']:+.4f}, covers: {r['ope_dr_ci_covers_truth']}")
    print(f"   the recommended action's lift as shown {100 * r['recommended_estimated_lift']:.2f}"
          f" pt, truly {100 * r['recommended_true_lift']:.2f} pt; lift calibration slope on the "
          f"test logs {r['lift_calibration']['slope']:.2f}")
    fr = r["forward_replay"]
    if not fr["weeks"]:
        print("   forward replay: not run (--replay-weeks 0)")
        return
    print(f"   forward replay: {fr['historic']['deals']:,.0f} deals open on {fr['start'][:10]}, "
          f"{fr['weeks']} weekly reviews, then run to their decision ({fr['seconds']:.0f} s)")
    print(f"   {'policy':14s} {'no decision':>12s} {'minus historic (95% CI)':>26s} "
          f"{'won':>8s} {'minus historic (95% CI)':>26s} {'median days':>12s}")
    for k in ("historic", "recommender", "random_valid", "oracle"):
        v = fr[k]

        def ci(key: str, v: dict = v) -> str:
            if f"{key}_diff" not in v:
                return ""
            return (f"{100 * v[key + '_diff']:+.1f} [{100 * v[key + '_diff_ci_low']:+.1f}, "
                    f"{100 * v[key + '_diff_ci_high']:+.1f}]")

        print(f"   {k:14s} {100 * v['no_decision_rate']:10.1f} % {ci('no_decision_rate'):>26s} "
              f"{100 * v['win_rate']:6.1f} % {ci('win_rate'):>26s} "
              f"{v['median_days_to_decision']:12.0f}")


def main() -> None:
    from training.simulator.params import HISTORIC_POLICIES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deals", type=int, default=20_000)
    ap.add_argument("--seeds", default="1", help="comma-separated seeds (first = headline)")
    ap.add_argument("--trees", type=int, default=100, help="causal-forest trees per action")
    ap.add_argument("--replay-weeks", type=int, default=26,
                    help="forward replay: weekly reviews (0: no forward replay)")
    ap.add_argument("--replay-deals", type=int, default=3000,
                    help="forward replay: test deals sampled (those open at the start replay)")
    ap.add_argument("--historic-policy", choices=HISTORIC_POLICIES, default="confounded",
                    help="how the simulated sellers chose actions: the confounded historic "
                         "sellers, or a randomised trial (tells sampling noise from confounding)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/dealrisk-bench"))
    args = ap.parse_args()
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run(args.deals, seed, args.workdir, args.trees, args.replay_weeks, args.replay_deals,
                args.historic_policy)
        show(r)
        runs.append(r)
    head = dict(runs[0])
    if len(runs) > 1:
        head["sweep"] = [{k: r[k] for k in ("seed", "oracle_gain_recovered",
                                            "observable_oracle_gain_recovered",
                                            "beats_all_baselines", "beats_step_oracle",
                                            "top_action_agreement", "ope_dr_error",
                                            "ope_dr_ci_covers_truth")}
                         | {"replay_nd_diff": r["forward_replay"].get("recommender", {}).get(
                             "no_decision_rate_diff")} for r in runs]
    print(json.dumps(head, default=float))


if __name__ == "__main__":
    main()
