"""Can a simulated pipeline's logs even tell each buyer step's best action?  Sampling noise.

``bench_nba.py`` asks the recommender to beat the step oracle (the truly best action per buyer
step) and to reach 90 % of the observable oracle (fitted on TRUE effects).  Both need effects
estimated from outcomes more precisely than the logs allow.  This script measures that
precision where it is easiest, on the pipeline's training snapshots:

- per (buyer step, valid action): the snapshots that took it within the effect model's window,
  the with-minus-without reduction in final no decision, its deal-bootstrap standard error,
  and the TRUE mean reduction (``true_gains`` at each snapshot's hidden state);
- per step: the true gap between the best and the second-best action, and how often a deal
  bootstrap of the logs ranks the truly best action first;
- the expected true loss against the step oracle, in points of no decision on the test
  snapshots, of choosing each step's action by these logs;
- the deals a pipeline would need for the median gap to be found at 5 % significance with
  80 % power (the standard error shrinks with the square root of the deals):
  ``deals * (2.8 * median SE / median gap) ** 2``.

On a randomised trial's log (``--historic-policy randomised``) the with-minus-without
difference is unbiased, so what is left is noise alone; under the confounded historic
sellers (the default) it is biased as well.  Prints a table and, last, one JSON line::

    .venv/bin/python benchmarks/nba_step_noise.py --historic-policy randomised   # 20k deals
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.histories import DealHistories

sys.path.insert(0, str(Path(__file__).resolve().parent))

BOOTSTRAPS = 300


def _snapshots(split_part: pd.DataFrame, params: object, truth: pd.DataFrame,
               histories: DealHistories, names: list[str], window: int
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, true gains, final no-decision labels, logged action codes) of known states."""
    from bench_nba import _one_row_per_snapshot

    from training.next_step.ground_truth import true_gains
    from training.next_step.treatments import next_action

    rows = _one_row_per_snapshot(split_part)
    gains = true_gains(params, rows, truth, names)
    rows = rows[gains.known].reset_index(drop=True)
    label = rows["label_no_decision"].to_numpy(np.float64, na_value=np.nan)
    return rows, gains.nd[gains.known], label, next_action(histories.activities, rows, names,
                                                           window)


def _lifts(weight: np.ndarray, y: np.ndarray, logged: np.ndarray, actions: np.ndarray
           ) -> np.ndarray:
    """Weighted P(no decision | none) - P(no decision | took a), per action; (B, actions)."""
    def rate(mask: np.ndarray) -> np.ndarray:
        w = weight[:, mask]
        return (w * y[mask]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)

    base = rate(logged < 0)
    return np.column_stack([base - rate(logged == a) for a in actions])


def measure(n_deals: int, seed: int, workdir: Path, historic_policy: str) -> dict[str, object]:
    """The figures of the module docstring for one simulated pipeline."""
    from bench_models import load_truth, simulate_canonical

    from features.histories import DealHistories
    from training.model import TrainConfig
    from training.pipeline import labelled_rows, split_per_target
    from training.simulator.params import SimParams

    out, known_until = simulate_canonical(n_deals, seed, workdir, historic_policy)
    histories = DealHistories.read_parquet(out / "canonical")
    truth, params = load_truth(out / "export"), SimParams.load(out / "export" / "truth")
    cfg = TrainConfig(seed=seed)
    catalogue = histories.profile.catalogue()
    names = catalogue.names
    split = split_per_target(labelled_rows(histories, config=cfg, known_until=known_until), cfg)
    window = cfg.next_step_window_days
    train, gain, y, logged = _snapshots(split.train, params, truth, histories, names, window)
    test, test_gain, _, _ = _snapshots(split.test, params, truth, histories, names, window)
    labelled = ~np.isnan(y)
    train, gain, y, logged = train[labelled], gain[labelled], y[labelled], logged[labelled]
    deals = train["deal_id"].astype(str).to_numpy()
    uniq, pos = np.unique(deals, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=BOOTSTRAPS)
    step, test_step = (d["current_step"].astype(str).to_numpy() for d in (train, test))
    steps, loss, oracle, picked_best = {}, 0.0, 0.0, 0.0
    for s in sorted(set(test_step)):
        here, share = step == s, float((test_step == s).mean())
        actions = np.flatnonzero(catalogue.valid_mask([s])[0])
        if not here.any() or len(actions) < 2:
            continue
        weight = draws[:, pos[here]].astype(np.float64)
        once = _lifts(np.ones((1, here.sum())), y[here], logged[here], actions)[0]
        boot = _lifts(weight, y[here], logged[here], actions)
        true_train = gain[here].mean(axis=0)[actions]
        true_test = test_gain[test_step == s].mean(axis=0)[actions]
        best = int(np.argmax(true_train))
        picks = np.argmax(boot, axis=1)
        top2 = np.sort(true_train)[-2:]
        steps[s] = {
            "test_share": share, "true_best": names[actions[best]],
            "true_gap_to_second_pts": 100 * float(top2[1] - top2[0]),
            "p_logs_pick_true_best": float(np.mean(picks == best)),
            "actions": {names[a]: {"took": int((logged[here] == a).sum()),
                                   "logged_lift_pts": 100 * float(once[i]),
                                   "se_pts": 100 * float(boot[:, i].std()),
                                   "true_lift_pts": 100 * float(true_train[i])}
                        for i, a in enumerate(actions)}}
        loss += share * float(np.mean(true_test[best] - true_test[picks]))
        oracle += share * float(true_test[best])
        picked_best += share * steps[s]["p_logs_pick_true_best"]
    ses = [a["se_pts"] for v in steps.values() for a in v["actions"].values()]
    gaps = [v["true_gap_to_second_pts"] for v in steps.values()]
    return {"n_deals": n_deals, "seed": seed, "historic_policy": historic_policy,
            "train_snapshots": len(train), "deals": len(uniq), "steps": steps,
            "median_se_pts": float(np.median(ses)), "median_true_gap_pts": float(np.median(gaps)),
            "p_logs_pick_true_best": picked_best,
            "step_oracle_gain_pts": 100 * oracle,
            "deals_to_rank_median_gap": n_deals * (2.8 * float(np.median(ses))
                                                   / float(np.median(gaps))) ** 2,
            "expected_loss_vs_step_oracle_pts": 100 * loss}


def show(r: dict[str, object]) -> None:
    """The table on stdout."""
    print(f"== {r['n_deals']:,} deals, seed {r['seed']}, {r['historic_policy']} historic policy: "
          f"{r['train_snapshots']:,} labelled training snapshots of {r['deals']:,} deals")
    print(f"   {'step / action':34s} {'took':>6s} {'logged lift':>12s} {'SE':>6s} "
          f"{'true lift':>10s}   (points of final no decision)")
    for s, v in r["steps"].items():
        print(f"   {s} (test share {v['test_share']:.2f}): truly best {v['true_best']}, "
              f"{v['true_gap_to_second_pts']:.2f} pt ahead; the logs rank it first in "
              f"{v['p_logs_pick_true_best']:.0%} of {BOOTSTRAPS} deal bootstraps")
        for name, a in v["actions"].items():
            print(f"     {name:32s} {a['took']:6,d} {a['logged_lift_pts']:+10.2f} "
                  f"{a['se_pts']:6.2f} {a['true_lift_pts']:+10.2f}")
    print(f"   median SE {r['median_se_pts']:.2f} pt against a median best-to-second gap of "
          f"{r['median_true_gap_pts']:.2f} pt; the logs pick each step's true best in "
          f"{r['p_logs_pick_true_best']:.0%} (test-weighted); choosing by them loses "
          f"{r['expected_loss_vs_step_oracle_pts']:.2f} of the step oracle's "
          f"{r['step_oracle_gain_pts']:.2f} pt; telling the median gap at 80 % power would "
          f"take about {r['deals_to_rank_median_gap']:,.0f} deals")


def main() -> None:
    from training.simulator.params import HISTORIC_POLICIES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deals", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--historic-policy", choices=HISTORIC_POLICIES, default="randomised")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/dealrisk-bench"))
    args = ap.parse_args()
    r = measure(args.deals, args.seed, args.workdir, args.historic_policy)
    show(r)
    print(json.dumps(r, default=float))


if __name__ == "__main__":
    main()
