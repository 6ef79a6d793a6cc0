"""Benchmark the risk models against the simulator's oracle, the baselines, and the clock.

1. A 20k-deal simulated pipeline (seed 1): the full training pipeline with the oracle from the
   ground truth; prints model / oracle / baselines per target (test window).
2. Small data: 40 won + 40 lost/no-decision closed deals (every other deal removed): trains,
   evaluates, prints the warnings and the AUC intervals.
3. Speed: ~1M weekly snapshot rows from a 100k-deal simulation; times ``DealRiskModel.fit`` on
   them: every target (stall, no decision, won), model selection among the candidates and
   calibration.
4. ``--sweep``: 3 seeds x 10k, 20k and 30k deals; per run and target, the shipped model's paired
   test AUC difference to the logistic-regression baseline with its deal-bootstrap 95 %
   interval, and the mean difference per target.

The oracle (simulator truth) is printed beside every figure as the ceiling: it sees hidden buyer
traits no CRM history reveals, so the gap to it is reported, not targeted.
Prints figures and, last, one JSON line.

    .venv/bin/python benchmarks/bench_models.py                 # everything (~10 min first run)
    .venv/bin/python benchmarks/bench_models.py --skip-1m       # quicker
    .venv/bin/python benchmarks/bench_models.py --skip-1m --sweep   # + the 9-run logreg sweep
    .venv/bin/python benchmarks/bench_models.py --skip-1m --sweep-seeds 1,2,3,4,5   # + seed spread
    .venv/bin/python benchmarks/bench_models.py --skip-1m --no-next-steps --sweep-seeds 1,2,3,4,5
    .venv/bin/python benchmarks/bench_models.py --skip-1m --sweep-seeds 1,2,3,4,5 \
        --split-fractions 0.6,0.1,0.1,0.2                          # another window layout
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from training.model import TrainConfig


def simulate_canonical(n_deals: int, seed: int, workdir: Path,
                       historic_policy: str = "confounded") -> tuple[Path, pd.Timestamp]:
    """Simulate + ingest once into ``workdir`` (cached); returns (directory, export time).

    ``historic_policy`` is :attr:`~training.simulator.params.SimParams.historic_policy`
    (another than the default gets its own cache directory).
    """
    from features.ingest import ingest
    from training.simulator import simulate_to_dir
    from training.simulator.params import SimParams

    params = SimParams(historic_policy=historic_policy)
    suffix = "" if historic_policy == "confounded" else f"_{historic_policy}"
    out = workdir / f"sim{n_deals}_s{seed}{suffix}"
    done = out / "canonical" / "ingest_report.json"
    if not done.is_file():
        simulate_to_dir(n_deals, seed, out / "export", fmt="parquet", params=params)
        result = ingest(out / "export")
        result.histories.to_parquet(out / "canonical")
        done.write_text(json.dumps({"export_time": result.export_time.isoformat()}))
    return out, pd.Timestamp(json.loads(done.read_text())["export_time"])


def load_truth(export_dir: Path) -> pd.DataFrame:
    """``truth/daily.parquet`` with ``attrs["seed"]`` from ``truth/params.json``."""
    truth = pd.read_parquet(export_dir / "truth" / "daily.parquet")
    truth.attrs["seed"] = json.loads((export_dir / "truth" / "params.json").read_text())["seed"]
    return truth


def headline(result, label: str) -> None:
    m = result.metrics
    print(f"\n== {label}")
    print("   rows: " + ", ".join(f"{s} {result.data[f'{s}.rows']:,}"
                                   for s in ("train", "valid", "calib", "test")))
    cols = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile")
    for target in ("stall", "no_decision", "won"):
        if f"test.{target}.roc_auc" not in m:
            print(f"   {target}: not trained or not evaluated")
            continue
        print(f"   {target:12s} {'':22s}" + "".join(f"{c:>16s}" for c in cols))
        for who in ("test", "oracle", "baseline_rule", "baseline_logreg"):
            if f"{who}.{target}.roc_auc" in m:
                print(f"   {'':12s} {who:22s}" + "".join(
                    f"{m[f'{who}.{target}.{c}']:16.4f}" for c in cols))
        print(f"   {'':12s} AUC 95% CI (deal bootstrap) [{m[f'test.{target}.roc_auc.ci_low']:.3f}, "
              f"{m[f'test.{target}.roc_auc.ci_high']:.3f}]; scorer: "
              f"{result.model.fit_info_[target]['scorer']}")
        diff = f"vs_baseline_logreg.{target}.roc_auc_diff"
        if diff in m:
            print(f"   {'':12s} vs logistic regression: {m[diff]:+.4f} paired 95% CI "
                  f"[{m[diff + '.ci_low']:+.4f}, {m[diff + '.ci_high']:+.4f}]")
        if f"oracle.{target}.roc_auc" in m:
            print(f"   {'':12s} gap to the oracle (ceiling): "
                  f"{m[f'oracle.{target}.roc_auc'] - m[f'test.{target}.roc_auc']:.4f}")
    for w in result.warnings:
        print(f"   warning: {w}")


def small_histories(histories, won: int = 40, lost: int = 40, seed: int = 0):
    """``won`` won and ``lost`` lost/no-decision closed deals (random, fixed seed)."""
    from features.histories import DealHistories

    deals = histories.deals
    rng = np.random.default_rng(seed)
    outcome = deals["outcome"].astype("str")
    pick_won = rng.choice(np.flatnonzero(outcome == "won"), won, replace=False)
    pick_lost = rng.choice(np.flatnonzero(outcome.isin(["lost", "no_decision"])), lost,
                           replace=False)
    ids = set(deals["deal_id"].iloc[np.r_[pick_won, pick_lost]])
    return DealHistories(**{n: f[f["deal_id"].isin(ids)].reset_index(drop=True)
                            for n, f in histories.tables().items()})


def time_1m(workdir: Path, target_rows: int = 1_000_000) -> dict[str, float]:
    """Time DealRiskModel.fit on ~1M snapshot rows from a 100k-deal simulation."""
    from features.build import build_features
    from features.histories import DealHistories
    from features.snapshots import sample_snapshots
    from training.labels import horizon_complete, make_labels
    from training.model import DealRiskModel, TrainConfig

    out, until = simulate_canonical(100_000, 1, workdir)
    from features.schema import FEATURES

    schema_tag = hashlib.sha1("|".join(FEATURES.names).encode()).hexdigest()[:10]
    cache = out / f"rows-{schema_tag}.parquet"  # rebuilt whenever the feature schema changes
    if not cache.is_file():
        h = DealHistories.read_parquet(out / "canonical")
        snaps = make_labels(h, sample_snapshots(h.deals, until=until), known_until=until)
        build_features(h, snaps).to_parquet(cache)
    rows = pd.read_parquet(cache)
    rows.loc[~horizon_complete(rows["as_of"], known_until=until, horizon_days=30),
             "label_stall"] = np.nan
    rows = rows.sort_values("as_of", kind="stable").iloc[-target_rows:]
    # speed only: all 1M rows go into fit, deals split 80/10/10 by a hash of their id (so
    # early stopping sees unseen deals, as in the real split, which would keep only ~half)
    n = len(rows)
    bucket = pd.util.hash_pandas_object(rows["deal_id"], index=False).to_numpy() % 10
    train, valid, calib = rows[bucket < 8], rows[bucket == 8], rows[bucket == 9]
    started = time.perf_counter()
    model = DealRiskModel(TrainConfig()).fit(train, valid, calib)
    seconds = time.perf_counter() - started
    print(f"\n== speed: {n:,} snapshot rows into DealRiskModel.fit (train {len(train):,}, valid "
          f"{len(valid):,}, calib {len(calib):,}): fit + calibration {seconds:.1f} s on "
          f"{os.cpu_count()} cores; best iterations {model.best_iteration_}")
    return {"rows": float(n), "seconds": seconds}


def seed_sweep(seeds: list[int], n_deals: int, workdir: Path, config: TrainConfig,
               done: dict[int, dict[str, float]]) -> dict[str, float]:
    """Model vs oracle per seed (one line each) and the means: how much a figure moves by seed.

    ``done`` holds the metrics of seeds already run with ``config`` (not run again).
    """
    from features.histories import DealHistories
    from training.pipeline import train_pipeline

    keys = [(t, k) for t in TARGETS for k in ("auc", "oracle", "gap", "ece")]
    print(f"\n== seed sweep, {n_deals:,} deals each (test window)")
    print("   seed" + "".join(f"{t[:5] + '.' + k:>14s}" for t, k in keys))
    table = []
    for seed in seeds:
        m = done.get(seed)
        if m is None:
            out, until = simulate_canonical(n_deals, seed, workdir)
            m = train_pipeline(DealHistories.read_parquet(out / "canonical"), config=config,
                               known_until=until, truth_daily=load_truth(out / "export"),
                               n_boot=20).metrics
        row = {}
        for t in TARGETS:
            row[(t, "auc")] = m[f"test.{t}.roc_auc"]
            row[(t, "oracle")] = m[f"oracle.{t}.roc_auc"]
            row[(t, "gap")] = row[(t, "oracle")] - row[(t, "auc")]
            row[(t, "ece")] = m[f"test.{t}.ece"]
        table.append(row)
        print(f"   {seed:4d}" + "".join(f"{row[k]:14.4f}" for k in keys))
    mean = {k: float(np.mean([r[k] for r in table])) for k in keys}
    print("   mean" + "".join(f"{mean[k]:14.4f}" for k in keys))
    return {f"sweep_mean_{t}_{k}": v for (t, k), v in mean.items()}


TARGETS = ("stall", "no_decision", "won")


def logreg_sweep(seeds: list[int], sizes: list[int], workdir: Path, config: TrainConfig,
                 done: dict[tuple[int, int], dict[str, float]]) -> dict[str, object]:
    """Paired test AUC difference to logistic regression, per run and target, and the means.

    A run "holds" for a target when its difference's paired 95 % interval reaches 0 or above
    (the model is not significantly below logistic regression there).
    """
    from features.histories import DealHistories
    from training.pipeline import train_pipeline

    print(f"\n== logistic-regression sweep: seeds {seeds} x deals {sizes} (test window, "
          "model AUC - logreg AUC, paired deal-bootstrap 95% CI)")
    print("   deals seed" + "".join(f"{t:>30s}" for t in TARGETS))
    diffs: dict[str, list[float]] = {t: [] for t in TARGETS}
    worst_ok = {t: True for t in TARGETS}
    for n in sizes:
        for seed in seeds:
            m = done.get((n, seed))
            if m is None:
                out, until = simulate_canonical(n, seed, workdir)
                m = train_pipeline(DealHistories.read_parquet(out / "canonical"), config=config,
                                   known_until=until, truth_daily=load_truth(out / "export"),
                                   n_boot=200).metrics
            cells = []
            for t in TARGETS:
                key = f"vs_baseline_logreg.{t}.roc_auc_diff"
                d, low, high = m.get(key, np.nan), m.get(key + ".ci_low", np.nan), m.get(
                    key + ".ci_high", np.nan)
                diffs[t].append(d)
                worst_ok[t] &= bool(high >= 0)
                cells.append(f"{d:+.4f} [{low:+.4f},{high:+.4f}]")
            print(f"   {n:5d} {seed:4d}" + "".join(f"{c:>30s}" for c in cells))
    mean = {t: float(np.nanmean(diffs[t])) for t in TARGETS}
    print("   mean      " + "".join(f"{mean[t]:+30.4f}" for t in TARGETS))
    print("   every run's interval reaches 0: " + ", ".join(
        f"{t} {'yes' if worst_ok[t] else 'NO'}" for t in TARGETS))
    return {**{f"sweep_logreg_mean_diff_{t}": mean[t] for t in TARGETS},
            **{f"sweep_logreg_all_runs_hold_{t}": worst_ok[t] for t in TARGETS},
            "sweep_runs": len(sizes) * len(seeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dealrisk-bench-models"))
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--sweep-seeds", default="",
                        help="comma-separated seeds to rerun the pipeline on (e.g. 1,2,3,4,5)")
    parser.add_argument("--sweep", action="store_true",
                        help="3 seeds x 10k/20k/30k deals: paired AUC difference to logreg")
    parser.add_argument("--split-fractions", default="",
                        help="train,valid,calib,test shares (default: TrainConfig's)")
    parser.add_argument("--no-next-steps", action="store_true",
                        help="risk models only (the next-step effect model is most of a run)")
    args = parser.parse_args()

    from features.histories import DealHistories
    from training.model import TrainConfig
    from training.pipeline import train_pipeline

    config = TrainConfig(next_steps=not args.no_next_steps)
    if args.split_fractions:
        config = replace(config, split_fractions=tuple(  # type: ignore[arg-type]
            float(x) for x in args.split_fractions.split(",")))
    args.workdir.mkdir(parents=True, exist_ok=True)
    out, until = simulate_canonical(args.deals, args.seed, args.workdir)
    histories = DealHistories.read_parquet(out / "canonical")
    truth = load_truth(out / "export")
    started = time.perf_counter()
    result = train_pipeline(histories, config=config, known_until=until, truth_daily=truth)
    print(f"pipeline on {args.deals:,} deals: {time.perf_counter() - started:.1f} s")
    headline(result, f"{args.deals:,}-deal simulation, seed {args.seed} (test window)")

    small = small_histories(histories)
    small_result = train_pipeline(small, config=config, known_until=until, truth_daily=truth)
    headline(small_result, "40 won + 40 lost/no-decision closed deals")

    sweep: dict[str, float] = {}
    if args.sweep_seeds:
        sweep = seed_sweep([int(x) for x in args.sweep_seeds.split(",")], args.deals,
                           args.workdir, config, done={args.seed: result.metrics})

    logreg: dict[str, object] = {}
    if args.sweep:
        logreg = logreg_sweep([1, 2, 3], [10_000, 20_000, 30_000], args.workdir, config,
                              done={(args.deals, args.seed): result.metrics})

    speed: dict[str, float | None] = {"seconds": None, "rows": 0.0}  # null in the JSON
    if not args.skip_1m:
        speed = time_1m(args.workdir)

    m = result.metrics
    nan = float("nan")
    print(json.dumps({
        "no_decision_auc": m.get("test.no_decision.roc_auc", nan),
        "no_decision_oracle_auc": m.get("oracle.no_decision.roc_auc", nan),
        "stall_auc": m.get("test.stall.roc_auc", nan),
        "stall_oracle_auc": m.get("oracle.stall.roc_auc", nan),
        "won_auc": m.get("test.won.roc_auc", nan),
        "won_oracle_auc": m.get("oracle.won.roc_auc", nan),
        "ece": max(m.get(f"test.{t}.ece", nan) for t in TARGETS),
        "ece_stall": m.get("test.stall.ece", nan),
        "ece_no_decision": m.get("test.no_decision.ece", nan),
        "ece_won": m.get("test.won.ece", nan),
        "baseline_rule_auc": m.get("baseline_rule.stall.roc_auc", nan),
        "baseline_logreg_auc": m.get("baseline_logreg.stall.roc_auc", nan),
        "baseline_rule_no_decision_auc": m.get("baseline_rule.no_decision.roc_auc", nan),
        "baseline_logreg_no_decision_auc": m.get("baseline_logreg.no_decision.roc_auc", nan),
        "baseline_rule_won_auc": m.get("baseline_rule.won.roc_auc", nan),
        "baseline_logreg_won_auc": m.get("baseline_logreg.won.roc_auc", nan),
        "scorers": {t: result.model.fit_info_[t]["scorer"] for t in result.model.targets},
        "small_data_warnings": len(small_result.warnings),
        "small_stall_auc": small_result.metrics.get("test.stall.roc_auc", nan),
        "train_1m_rows_s": speed["seconds"], "train_1m_rows": speed["rows"],
        "split_fractions": ",".join(map(str, config.split_fractions)), **sweep, **logreg,
    }))


if __name__ == "__main__":
    main()
