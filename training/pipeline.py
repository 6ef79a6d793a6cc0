"""The training pipeline, in one call.

Snapshots -> labels -> features -> time split -> model, baselines, metrics, plots, data
lineage and warnings.

Stall labels are used only where their horizon ended inside the data (``as_of + H <=
known_until``), so the last windows hold no outcome-selected rows; final-outcome labels need a
closed deal.  Metric names are flat: ``<who>.<target>.<metric>[.step.<step>]`` with ``who`` in
``test`` (the model), ``baseline_rule``, ``baseline_logreg`` and ``oracle`` (simulator truth);
``vs_baseline_<name>.<target>.roc_auc_diff[.ci_low|.ci_high]`` is the model's paired AUC
difference to a baseline on the same test rows, with its deal-bootstrap 95 % interval.
ECE uses 10 equal-width bins; AUC CIs are 95 % deal-clustered bootstrap intervals.

Figures (keys): ``roc_<target>.png`` (ROC and PR curves, model vs baselines),
``reliability_<target>.png``, ``risk_distribution_<target>.png``, ``feature_importance.png``.

Example:
    >>> TrainResult.__dataclass_fields__.keys() >= {"model", "metrics", "warnings"}
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.build import build_features
from features.encode import encode
from features.histories import DealHistories
from features.peers import PeerStats
from features.schema import FEATURES, FeatureSchema
from features.snapshots import sample_snapshots
from training.baselines import LogRegBaseline, StageAgeRule, oracle_scores
from training.evaluate import (
    binary_metrics,
    bootstrap_auc,
    flatten,
    metrics_by_step,
    paired_bootstrap_auc_diff,
)
from training.labels import LABELS, horizon_complete, make_labels
from training.model import DealRiskModel, TrainConfig
from training.run_warnings import (
    calibration_warnings,
    closed_deal_warnings,
    data_shape_warnings,
    interval_warnings,
    positives_warnings,
)
from training.split import SPLITS, TimeSplit, time_split

if TYPE_CHECKING:
    from matplotlib.figure import Figure

def holdout_columns(schema: FeatureSchema = FEATURES) -> list[str]:
    """The columns kept from the test window: ids, labels and the pipeline's features.

    Example:
        >>> holdout_columns()[:3]
        ['deal_id', 'as_of', 'label_stall']
    """
    return ["deal_id", "as_of", *LABELS, *schema.names]


HOLDOUT_COLUMNS: list[str] = holdout_columns()


@dataclass
class TrainResult:
    """Everything one training run produced (the tracking code logs it)."""

    model: DealRiskModel
    metrics: dict[str, float]
    figures: dict[str, Figure]
    params: dict[str, object]
    data: dict[str, object]
    holdout: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    #: What the leak guard found in the training window (``training.leakage.LeakFinding``).
    leaks: list = field(default_factory=list)
    #: The test window's logs the next steps were valued on (``LoggedTest``; None without).
    next_step_logs: object | None = None


def evaluate_model(model: DealRiskModel, holdout: pd.DataFrame) -> dict[str, float]:
    """``test.<target>.<metric>`` (and per buyer step) of ``model`` on labelled ``holdout`` rows.

    Example:
        >>> # evaluate_model(champion, challenger_result.holdout)["test.stall.roc_auc"]
    """
    preds = model.predict(holdout)
    return score_metrics("test", holdout, {t: preds[f"{t}_risk"].to_numpy()
                                           for t in model.targets})


def score_metrics(who: str, rows: pd.DataFrame, probs: dict[str, np.ndarray]
                  ) -> dict[str, float]:
    """Flat metrics ``<who>.<target>.<metric>`` (+ per step) of probabilities on ``rows``.

    Example:
        >>> rows = pd.DataFrame({"label_stall": [0.0, 1.0], "current_step": ["decision"] * 2})
        >>> score_metrics("test", rows, {"stall": np.array([0.2, 0.9])})["test.stall.roc_auc"]
        1.0
    """
    out: dict[str, float] = {}
    step = rows["current_step"].astype("object").to_numpy()
    for target, p in probs.items():
        y = rows[f"label_{target}"].to_numpy(dtype=np.float64, na_value=np.nan)
        out.update(flatten(f"{who}.{target}", binary_metrics(y, p)))
        out.update(flatten(f"{who}.{target}", metrics_by_step(y, p, step)))
    return out


def train_pipeline(histories: DealHistories, *, config: TrainConfig | None = None,
                   known_until: pd.Timestamp, truth_daily: pd.DataFrame | None = None,
                   progress: Callable[[str], None] | None = None,
                   n_boot: int = 200) -> TrainResult:
    """Train, evaluate and explain a :class:`DealRiskModel` on ``histories``.

    ``known_until`` is the export time (labels need their horizon to end before it);
    ``truth_daily`` (simulator ``truth/daily.parquet``, ``attrs["seed"]`` = the simulation seed
    for exact state matching, ``attrs["params"]`` = its ``params.json``) adds oracle metrics and,
    with the parameters, the next steps' true vs estimated effects; ``progress`` receives stage
    names.  Before training, the leak guard scans the training window
    (:func:`training.leakage.find_leaks`).
    Targets the data cannot carry are skipped with a warning; a target whose test window lacks
    a class gets no test figures (never a NaN metric).
    """
    from training.leakage import find_leaks

    cfg = config if config is not None else TrainConfig()
    say = progress or (lambda _stage: None)
    known_until = pd.Timestamp(known_until)
    rows = labelled_rows(histories, config=cfg, known_until=known_until, progress=say)
    say("split")
    split = split_per_target(rows, cfg)
    parts = split.parts()
    warnings = closed_deal_warnings(histories, known_until)
    warnings += data_shape_warnings(histories, rows, known_until=known_until,
                                    horizon_days=cfg.horizon_days, windows=split.windows)
    say("leak guard")
    schema = histories.profile.schema()
    leaks = [leak for leak in find_leaks(split.train, histories.deals, schema=schema,
                                         profile=histories.profile, targets=cfg.targets,
                                         known_until=known_until)
             if leak.feature not in cfg.drop_features]
    warnings += [f"likely leak: {leak.message}" for leak in leaks]
    model = DealRiskModel(cfg, profile=histories.profile).fit(
        split.train, split.valid, split.calib, progress=say)
    warnings += list(model.skipped.values())
    warnings += positives_warnings(parts, model.targets)
    say("evaluate")
    test = split.test
    preds = model.predict(test)
    metrics: dict[str, float] = {}
    evaluated = []
    for target in model.targets:
        y = test[f"label_{target}"].to_numpy(dtype=np.float64, na_value=np.nan)
        low, high = bootstrap_auc(y, preds[f"{target}_risk"].to_numpy(), test["deal_id"],
                                  n_boot=n_boot, seed=cfg.seed)
        warnings += interval_warnings(target, low, high)
        if math.isnan(low):
            continue
        evaluated.append(target)
        metrics.update(score_metrics("test", test, {target: preds[f"{target}_risk"].to_numpy()}))
        metrics[f"test.{target}.roc_auc.ci_low"] = low
        metrics[f"test.{target}.roc_auc.ci_high"] = high
    warnings += calibration_warnings(metrics)
    say("baselines")
    scores: dict[str, dict[str, np.ndarray]] = {t: {"model": preds[f"{t}_risk"].to_numpy()}
                                               for t in evaluated}
    for target in evaluated:
        label = f"label_{target}"
        rule = StageAgeRule().fit(split.train, label).predict_proba(test)
        logreg = LogRegBaseline(schema=model.schema).fit(split.train, label).predict_proba(test)
        metrics.update(score_metrics("baseline_rule", test, {target: rule}))
        metrics.update(score_metrics("baseline_logreg", test, {target: logreg}))
        scores[target].update({"stage-age rule": rule, "logistic regression": logreg})
        y = test[label].to_numpy(dtype=np.float64, na_value=np.nan)
        for who, p in (("baseline_logreg", logreg), ("baseline_rule", rule)):
            diff, low, high = paired_bootstrap_auc_diff(y, scores[target]["model"], p,
                                                        test["deal_id"], n_boot=n_boot,
                                                        seed=cfg.seed)
            metrics[f"vs_{who}.{target}.roc_auc_diff"] = diff
            metrics[f"vs_{who}.{target}.roc_auc_diff.ci_low"] = low
            metrics[f"vs_{who}.{target}.roc_auc_diff.ci_high"] = high
    if truth_daily is not None:
        say("oracle")
        oracle = oracle_scores(truth_daily, test)
        for target in evaluated:
            p = oracle[f"p_{target}"].to_numpy()
            metrics.update(score_metrics("oracle", test, {target: p}))
            scores[target]["oracle"] = p
    next_steps = None
    if cfg.next_steps:
        from training.next_step.evaluation import train_next_steps

        say("next steps")
        next_steps = train_next_steps(model, histories, split.train, test,
                                      window_days=cfg.next_step_window_days,
                                      trees=cfg.next_step_trees,
                                      max_rows=cfg.next_step_max_rows, seed=cfg.seed,
                                      truth=_simulation_truth(truth_daily),
                                      held_out=pd.concat([split.valid, split.calib],
                                                         ignore_index=True),
                                      progress=say)
        metrics.update(next_steps.metrics)
        warnings += list(next_steps.warnings)
    say("plots")
    figures = _figures(model, test, scores)
    if next_steps is not None:
        figures.update(next_steps.figures)
    holdout = test[holdout_columns(model.schema)].reset_index(drop=True)
    data = _lineage(histories, known_until, rows, parts, split.windows, split.dropped_rows)
    model.warnings = tuple(warnings)
    model.freeze_peers(PeerStats.from_histories(histories), known_until)
    return TrainResult(model=model, metrics=metrics, figures=figures, params=cfg.to_params(),
                       data=data, holdout=holdout, warnings=warnings, leaks=leaks,
                       next_step_logs=None if next_steps is None else next_steps.logs)


def _simulation_truth(truth_daily: pd.DataFrame | None) -> tuple[object, pd.DataFrame] | None:
    """(simulation parameters, daily truth) when the truth carries its ``params.json``."""
    if truth_daily is None or not isinstance(truth_daily.attrs.get("params"), dict):
        return None
    from training.simulator.params import SimParams

    return SimParams.from_dict(truth_daily.attrs["params"]), truth_daily


def labelled_rows(histories: DealHistories, *, config: TrainConfig, known_until: pd.Timestamp,
                  progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Snapshots of every deal every ``config.cadence`` (weekly) with labels and features.

    Stall labels whose horizon passes ``known_until`` are blanked (NaN): their outcome is not
    known yet.  Progress receives the stage names ``snapshots``, ``labels``, ``features``.

    Example:
        >>> # rows = labelled_rows(histories, config=TrainConfig(), known_until=export_time)
        >>> # split_per_target(rows, TrainConfig()).test
    """
    say = progress or (lambda _stage: None)
    say("snapshots")
    snaps = sample_snapshots(histories.deals, until=known_until, cadence=config.cadence)
    say("labels")
    snaps = make_labels(histories, snaps, known_until=known_until,
                        horizon_days=config.horizon_days)
    incomplete = ~horizon_complete(snaps["as_of"], known_until=known_until,
                                   horizon_days=config.horizon_days)
    snaps.loc[incomplete, "label_stall"] = np.nan
    say("features")
    return build_features(histories, snaps, peers=PeerStats.from_histories(histories),
                          encoded=encode(histories))


def split_per_target(rows: pd.DataFrame, cfg: TrainConfig) -> TimeSplit:
    """Stall rows split by deal start (horizon label), final-outcome rows by last label.

    The final-outcome split lays its windows out over every labelled row, the stall split over
    stall-labelled rows only.

    A window's frame holds both; each row carries only the labels of the split it came from
    (others NaN), so every target trains, calibrates and is evaluated on its own split.
    """
    stall = time_split(rows, horizon_days=cfg.horizon_days, fractions=cfg.split_fractions,
                       label_columns=("label_stall",), assign="first")
    final = time_split(rows, horizon_days=cfg.horizon_days, fractions=cfg.split_fractions)
    frames, windows = {}, {}
    for name in SPLITS:
        a = getattr(stall, name).assign(label_no_decision=np.nan, label_won=np.nan)
        b = getattr(final, name).assign(label_stall=np.nan)
        frames[name] = pd.concat([a, b], ignore_index=True)
        bounds = [w for w in (stall.windows[name], final.windows[name]) if w[0] is not None]
        windows[name] = ((min(w[0] for w in bounds), max(w[1] for w in bounds)) if bounds
                         else (None, None))
    used = sum(len(f) for f in frames.values())
    return TimeSplit(**frames, windows=windows, dropped_rows=max(2 * len(rows) - used, 0))


def _figures(model: DealRiskModel, test: pd.DataFrame,
             scores: dict[str, dict[str, np.ndarray]]) -> dict[str, Figure]:
    from training.plots import (
        importance_figure,
        reliability_figure,
        risk_distribution_figure,
        roc_pr_figure,
    )

    figures: dict[str, Figure] = {}
    for target, named in scores.items():
        y = test[f"label_{target}"].to_numpy(dtype=np.float64, na_value=np.nan)
        figures[f"roc_{target}.png"] = roc_pr_figure(y, named, title=target)
        calibrated = {k: v for k, v in named.items() if k != "stage-age rule"}
        figures[f"reliability_{target}.png"] = reliability_figure(y, calibrated, title=target)
        figures[f"risk_distribution_{target}.png"] = risk_distribution_figure(
            y, named["model"], title=target)
    figures["feature_importance.png"] = importance_figure(model.feature_importance("gain"))
    return figures


def table_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's content (column names, dtypes and values; not the index).

    Example:
        >>> table_sha256(pd.DataFrame({"a": [1]})) == table_sha256(pd.DataFrame({"a": [1]}))
        True
    """
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _lineage(histories: DealHistories, known_until: pd.Timestamp, rows: pd.DataFrame,
             parts: dict[str, pd.DataFrame], windows: dict, dropped: int) -> dict[str, object]:
    def iso(t: object) -> str | None:
        return None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat()

    data: dict[str, object] = {
        "known_until": iso(known_until), "n_deals": len(histories.deals),
        "snapshot_rows": len(rows), "split_dropped_rows": dropped,
        "sha256": {name: table_sha256(f) for name, f in histories.tables().items()},
    }
    for name, part in parts.items():
        data[f"{name}.rows"] = len(part)
        data[f"{name}.deals"] = int(part["deal_id"].nunique())
        data[f"{name}.start"], data[f"{name}.end"] = (iso(t) for t in windows[name])
        for label in LABELS:
            data[f"{name}.{label}.rate"] = float(part[label].mean()) if len(part) else None
    return data
