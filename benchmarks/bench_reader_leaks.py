"""Benchmark whether each CRM reader leaks the future, by what a model trained on it scores.

One simulated pipeline is exported in every CRM shape of ``training/simulator/crm_shapes.py``
(Salesforce; Salesforce without ``OpportunityFieldHistory``; Salesforce with no history at all;
HubSpot's UI export; a few-stage spreadsheet read through ``examples/crm_pipeline/mapping.yaml``)
and each export is ingested by its reader.  The labelled snapshot rows -- weekly (deal, as_of)
pairs with stall and final-outcome labels -- always come from the TRUE full history (the
Salesforce export as is, labels as ``training.pipeline.labelled_rows`` makes them); only the
features of those same rows come from each shape.  The product's own model is then fitted on
each shape's time split and scored on its test window.

A shape that records less should score at most what the full Salesforce shape scores; one that
scores above it is reading something it could not have known at ``as_of``.  A control measures
what such a leak is worth: the no-history shape with a profile that claims close-date and amount
history, so today's close date and amount stand for every earlier time (what the readers did
before features were left out).

Prints one row per shape (left-out features, rows, stall and no-decision ROC AUC on the test
window, the stall AUC difference to the full Salesforce shape with a paired deal-bootstrap 95 %
interval), a short reading and, last, one JSON line.

    .venv/bin/python benchmarks/bench_reader_leaks.py                 # 10k deals, seed 1
    .venv/bin/python benchmarks/bench_reader_leaks.py --deals 1500    # quick
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features
from features.contract import TRACKED_FIELDS
from features.histories import DealHistories
from features.ingest import IngestResult, ingest, read_export_time
from features.journey import JourneyConfig
from training.baselines import oracle_scores
from training.labels import KNOWN_AT, LABELS
from training.model import DealRiskModel, TrainConfig
from training.pipeline import evaluate_model, labelled_rows, score_metrics, split_per_target
from training.simulator import simulate_frames
from training.simulator.crm_shapes import (
    read_tables,
    record_number,
    to_few_stage,
    to_hubspot,
    without_field_history,
    write_tables,
)

Tables = dict[str, pd.DataFrame]
ZONE = "Europe/Amsterdam"
MAPPING = Path(__file__).resolve().parents[1] / "examples" / "crm_pipeline" / "mapping.yaml"
SHAPES: dict[str, Callable[[Tables], Tables]] = {
    "salesforce": lambda t: t,
    "salesforce_no_field_history": without_field_history,
    "salesforce_no_history": lambda t: without_field_history(t, keep_stage_values=False),
    "hubspot": to_hubspot,
    "few_stage": to_few_stage,
}
PRETEND = "pretend_history"
REFERENCE = "salesforce"


@dataclass
class ShapeScore:
    """One shape's model on the test window."""

    shape: str
    left_out: int
    rows: int
    dropped_rows: int  # true labelled rows the shape has no deal (or no creation yet) for
    rejected: int  # input rows the reader rejected (any file)
    stall_auc: float
    nd_auc: float
    test: pd.DataFrame  # the test window's ids, step, labels and stall_risk
    importance: pd.Series  # stall gain share per feature


# ----------------------------------------------------------------------------- data
def simulated_export(n_deals: int, seed: int, workdir: Path
                     ) -> tuple[Tables, pd.Timestamp, pd.DataFrame]:
    """The simulated Salesforce tables (text), export time and daily truth (cached).

    Cached in ``workdir``: the tables as CSV with ``export.json`` (written last, so its
    presence means complete), the truth as ``daily.parquet`` beside them.
    """
    folder = workdir / f"sim{n_deals}_s{seed}" / "simulated"
    if not ((folder / "export.json").is_file() and (folder / "daily.parquet").is_file()):
        pipe = simulate_frames(n_deals, seed)
        folder.mkdir(parents=True, exist_ok=True)
        pipe.truth["daily"].to_parquet(folder / "daily.parquet")
        write_tables(pipe.tables, folder, pd.Timestamp(pipe.summary.exported_at))
    export = read_export_time(folder)
    if export is None:
        raise SystemExit(f"{folder}: no export time; delete the folder to simulate again")
    truth = pd.read_parquet(folder / "daily.parquet")
    truth.attrs["seed"] = seed
    return read_tables(folder), export, truth


def ingest_shape(shape: str, tables: Tables, export: pd.Timestamp, folder: Path
                 ) -> IngestResult:
    """Write ``tables`` as ``shape`` exports them into ``folder`` and read it back."""
    shutil.rmtree(folder, ignore_errors=True)
    write_tables(SHAPES[shape](tables), folder, export)
    if shape == "few_stage":
        shutil.copy(MAPPING, folder / "mapping.yaml")
        return ingest(folder, mapping=folder / "mapping.yaml")
    config = JourneyConfig.default()
    if shape == "hubspot":
        config = config.model_copy(update={"timestamps": config.timestamps.model_copy(
            update={"naive_timezone": ZONE})})
    return ingest(folder, kind="hubspot" if shape == "hubspot" else "salesforce",
                  config=config)


def true_pairs(true_histories: DealHistories, export: pd.Timestamp,
               cfg: TrainConfig) -> pd.DataFrame:
    """Weekly (deal_id, as_of) rows with their labels, all from the true full history."""
    rows = labelled_rows(true_histories, config=cfg, known_until=export)
    return rows[["deal_id", "as_of", *LABELS, KNOWN_AT]].reset_index(drop=True)


def shape_rows(histories: DealHistories, pairs: pd.DataFrame, *, numbered: bool
               ) -> pd.DataFrame:
    """The features of ``pairs`` from one shape's histories, keyed by the Salesforce ids.

    ``numbered``: the shape's deal ids are the Salesforce ids' running numbers (HubSpot's
    Record IDs).  Pairs of deals the shape does not hold (rejected) drop out.
    """
    if not numbered:
        return build_features(histories, pairs)
    sf_ids = pd.Series(pairs["deal_id"].astype("str").unique())
    numbers = record_number(sf_ids)
    rows = build_features(histories, pairs.assign(
        deal_id=pairs["deal_id"].map(dict(zip(sf_ids, numbers, strict=True)))))
    return rows.assign(deal_id=rows["deal_id"].map(dict(zip(numbers, sf_ids, strict=True))))


def pretend_history(histories: DealHistories) -> DealHistories:
    """The histories with a profile that claims close-date and amount history it lacks."""
    return replace(histories, profile=replace(histories.profile, tracked_fields=TRACKED_FIELDS))


# ----------------------------------------------------------------------------- model
def score_shape(shape: str, histories: DealHistories, rows: pd.DataFrame, n_pairs: int,
                rejected: int, cfg: TrainConfig) -> ShapeScore:
    """Fit the product's model on the shape's time split; score its test window."""
    split = split_per_target(rows, cfg)
    model = DealRiskModel(cfg, profile=histories.profile).fit(split.train, split.valid,
                                                              split.calib)
    metrics = evaluate_model(model, split.test)
    test = split.test[["deal_id", "as_of", "current_step", *LABELS]].assign(
        stall_risk=model.predict(split.test)["stall_risk"].to_numpy())
    gain = model.feature_importance("gain")["stall"].sort_values(ascending=False)
    return ShapeScore(
        shape=shape, left_out=len(histories.profile.left_out()), rows=len(rows),
        dropped_rows=n_pairs - len(rows), rejected=rejected,
        stall_auc=metrics["test.stall.roc_auc"], nd_auc=metrics["test.no_decision.roc_auc"],
        test=test, importance=gain / max(gain.sum(), 1e-12))


def oracle_aucs(truth_daily: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """Stall and no-decision ROC AUC of the simulator's true probabilities on ``test``."""
    p = oracle_scores(truth_daily, test)
    m = score_metrics("oracle", test, {t: p[f"p_{t}"].to_numpy() for t in DealRiskModel.targets})
    return m["oracle.stall.roc_auc"], m["oracle.no_decision.roc_auc"]


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 200, seed: int = 0
                      ) -> tuple[float, float, float]:
    """Stall AUC of ``a`` minus ``b`` on their common test rows, with a 95 % interval.

    The interval resamples deals (all of a deal's rows together), the same deals for both.
    """
    keys = ["deal_id", "as_of", "label_stall", "stall_risk"]
    both = a[keys].dropna().merge(b[keys].dropna(), on=keys[:3], suffixes=("_a", "_b"))
    y = both["label_stall"].to_numpy(dtype=np.int8)
    pa, pb = both["stall_risk_a"].to_numpy(), both["stall_risk_b"].to_numpy()
    if len(np.unique(y)) < 2:
        return math.nan, math.nan, math.nan
    codes, deals = pd.factorize(both["deal_id"])
    members = pd.Series(np.arange(len(y))).groupby(codes).agg(list).to_list()
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(deals), len(deals))])
        if len(np.unique(y[idx])) == 2:
            diffs.append(roc_auc_score(y[idx], pa[idx]) - roc_auc_score(y[idx], pb[idx]))
    point = roc_auc_score(y, pa) - roc_auc_score(y, pb)
    low, high = np.quantile(diffs, [0.025, 0.975]) if diffs else (math.nan, math.nan)
    return float(point), float(low), float(high)


# ----------------------------------------------------------------------------- report
def print_table(scores: list[ShapeScore], diffs: dict[str, tuple[float, float, float]],
                oracle: tuple[float, float]) -> None:
    print(f"\n{'shape':28s}{'left out':>9s}{'rejected':>9s}{'rows':>9s}{'dropped':>8s}"
          f"{'stall AUC':>10s}{'nd AUC':>8s}   stall AUC - {REFERENCE} [95% CI]")
    for s in scores:
        d, low, high = diffs[s.shape]
        diff = "" if s.shape == REFERENCE else f"{d:+.4f} [{low:+.4f}, {high:+.4f}]"
        print(f"{s.shape:28s}{s.left_out:9d}{s.rejected:9,d}{s.rows:9,d}{s.dropped_rows:8,d}"
              f"{s.stall_auc:10.4f}{s.nd_auc:8.4f}   {diff}")
    print(f"{'oracle (simulator truth)':63s}{oracle[0]:10.4f}{oracle[1]:8.4f}   "
          f"on the {REFERENCE} test window")
    print("(left out: features the export cannot give point-in-time; rejected: input rows the "
          "reader rejected; dropped: true labelled rows without a deal in the shape)")


def print_importance(scores: list[ShapeScore], top: int) -> None:
    print(f"\nstall gain share, top {top} features per shape")
    for s in scores:
        best = s.importance.head(top)
        print(f"  {s.shape:28s} " + ", ".join(f"{k} {v:.2f}" for k, v in best.items()))


def reading(scores: dict[str, ShapeScore], diffs: dict[str, tuple[float, float, float]],
            leak: tuple[float, float, float], oracle: tuple[float, float]) -> list[str]:
    """A few plain sentences on the table (``leak``: pretend minus honest no-history)."""
    honest = [s for s in scores if s not in (REFERENCE, PRETEND)]
    above = [s for s in honest if diffs[s][1] > 0]
    ref = scores[REFERENCE].stall_auc
    lines = [f"The full {REFERENCE} shape scores stall AUC {ref:.4f}, "
             f"{'below' if ref <= oracle[0] else 'ABOVE'} the simulator's oracle "
             f"({oracle[0]:.4f}); the honest shapes that record less score "
             + ", ".join(f"{s} {diffs[s][0]:+.4f}" for s in honest) + "."]
    if above:
        lines.append("ABOVE the full shape beyond the interval (a remaining leak?): "
                     + ", ".join(above) + ".")
    else:
        lines.append("No honest shape scores above the full shape beyond its 95% interval: "
                     "no reader is seen to leak the future.")
    lines.append(f"Pretending the no-history export had close-date and amount history scores "
                 f"{scores[PRETEND].stall_auc:.4f}, {leak[0]:+.4f} [{leak[1]:+.4f}, "
                 f"{leak[2]:+.4f}] over the honest no-history shape: that is what reading "
                 "today's values as history is worth.")
    return lines


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def summary_json(scores: dict[str, ShapeScore], oracle: tuple[float, float],
                 args: argparse.Namespace, seconds: float) -> dict[str, object]:
    out: dict[str, object] = {"oracle_stall_auc": _finite(oracle[0]),
                              "oracle_nd_auc": _finite(oracle[1])}
    for name, s in scores.items():
        out[f"{name}_stall_auc"] = _finite(s.stall_auc)
        out[f"{name}_nd_auc"] = _finite(s.nd_auc)
        out[f"{name}_rows"] = s.rows
        out[f"{name}_dropped_rows"] = s.dropped_rows
        out[f"{name}_left_out"] = s.left_out
    out["pretend_leak_worth"] = _finite(
        scores[PRETEND].stall_auc - scores["salesforce_no_history"].stall_auc)
    out.update(deals=args.deals, seed=args.seed, seconds=round(seconds, 1),
               peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return out


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dealrisk-bench-leaks"))
    parser.add_argument("--top", type=int, default=5, help="top stall features to print")
    args = parser.parse_args()
    started = time.perf_counter()
    cfg = TrainConfig()
    tables, export, truth = simulated_export(args.deals, args.seed, args.workdir)
    root = args.workdir / f"sim{args.deals}_s{args.seed}"
    results = {shape: ingest_shape(shape, tables, export, root / shape) for shape in SHAPES}
    histories = {shape: r.histories for shape, r in results.items()}
    histories[PRETEND] = pretend_history(histories["salesforce_no_history"])
    rejected = {shape: len(r.rejections) for shape, r in results.items()}
    rejected[PRETEND] = rejected["salesforce_no_history"]
    pairs = true_pairs(histories[REFERENCE], export, cfg)
    print(f"{args.deals:,} deals, seed {args.seed}, export {export.isoformat()}: "
          f"{len(pairs):,} labelled weekly rows from the true history "
          f"({time.perf_counter() - started:.0f} s)")
    scores: dict[str, ShapeScore] = {}
    for shape, h in histories.items():
        rows = shape_rows(h, pairs, numbered=shape == "hubspot")
        scores[shape] = score_shape(shape, h, rows, len(pairs), rejected[shape], cfg)
        print(f"  {shape}: fitted ({time.perf_counter() - started:.0f} s)")
    diffs = {s: paired_difference(scores[s].test, scores[REFERENCE].test) for s in scores}
    leak = paired_difference(scores[PRETEND].test, scores["salesforce_no_history"].test)
    oracle = oracle_aucs(truth, scores[REFERENCE].test)
    print_table(list(scores.values()), diffs, oracle)
    print_importance(list(scores.values()), args.top)
    print()
    for line in reading(scores, diffs, leak, oracle):
        print(line)
    seconds = time.perf_counter() - started
    print(f"\nrun time {seconds:.0f} s, peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(json.dumps(summary_json(scores, oracle, args, seconds)))


if __name__ == "__main__":
    main()
