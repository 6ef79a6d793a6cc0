"""The next-step part of a training run: fit on the training window, value it on the test window.

:func:`train_next_steps` fits the effect model on the training snapshots, attaches it to the
risk model (one registered artifact) and values the recommender on the test window from the
logged data alone (:mod:`training.next_step.off_policy`): the expected no-decision rate had the
sellers followed it, by IPS, self-normalised IPS, the direct method and doubly robust, against
the logged (historic) rate.  That is how a user without ground truth judges it.

Metric keys: ``next_step.fit_seconds``, ``next_step.fit_rows``,
``next_step.recommend_share`` (test snapshots with a recommendation),
``next_step.logged_no_decision`` and ``next_step.ope.<ips|snips|dm|dr>[.ci_low|.ci_high]``
(P(no decision) under the recommender), ``next_step.ope.dr_lift`` (logged minus DR value).

Example:
    >>> sorted(OPE_NAMES)
    ['dm', 'dr', 'ips', 'snips']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.histories import DealHistories
from training.next_step.effect_model import EffectConfig, _finite
from training.next_step.next_step_model import NextStepModel, fit_next_steps
from training.next_step.off_policy import evaluate_policy
from training.next_step.recommend import candidates, pick
from training.next_step.treatments import next_action

OPE_NAMES = ("ips", "snips", "dm", "dr")


@dataclass
class LoggedTest:
    """Test snapshots with a final outcome: features, logged action, outcome, propensities."""

    rows: pd.DataFrame
    x: np.ndarray
    logged: np.ndarray  # codes, -1 = none
    outcome: np.ndarray  # 1 = ended in no decision
    propensity: np.ndarray  # (m, 1 + A)
    recommended: np.ndarray  # codes, -1 = keep going


def policy_codes(model: NextStepModel, rows: pd.DataFrame, x: np.ndarray,
                 activities: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The recommender's top action per row (-1 = keep going) and the shares (m, 1 + A)."""
    from features.action_history import days_since_actions

    est = model.effects.estimate(x, intervals=False)
    lift = model.lift(est)[0]
    days = days_since_actions(activities if activities is not None else pd.DataFrame(),
                              rows["deal_id"].astype("str").to_numpy(),
                              rows["as_of"].to_numpy(), model.catalogue.names)
    ok = candidates(model.catalogue, rows["current_step"].astype("str").to_numpy(), days,
                    est.abstain)
    return pick(lift, ok, model.min_lift), est.propensity


def outcome_model(x: np.ndarray, logged: np.ndarray, y: np.ndarray, n_actions: int,
                  seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A LightGBM model of P(outcome | features, action); returns q_hat(x) -> (m, 1 + A)."""
    from lightgbm import LGBMRegressor

    def design(features: np.ndarray, codes: np.ndarray) -> np.ndarray:
        return np.column_stack([_finite(features), np.eye(n_actions + 1)[codes + 1]])

    keep = ~np.isnan(y)
    reg = LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=15,
                        min_child_samples=100, verbose=-1, random_state=seed, n_jobs=1)
    reg.fit(design(x[keep], logged[keep]), y[keep])

    def q_hat(features: np.ndarray) -> np.ndarray:
        out = np.empty((len(features), n_actions + 1))
        for a in range(-1, n_actions):
            out[:, a + 1] = reg.predict(design(features, np.full(len(features), a)))
        return np.clip(out, 0.0, 1.0)

    return q_hat


def train_next_steps(risk_model: object, histories: DealHistories, train: pd.DataFrame,
                     test: pd.DataFrame, *, window_days: int, trees: int,
                     max_rows: int = EffectConfig.max_rows, seed: int = 0,
                     progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Fit, attach (``risk_model.next_steps``) and value the next-step model; its metrics."""
    say = progress or (lambda _stage: None)
    cfg = EffectConfig(window_days=window_days, n_estimators=trees, max_rows=max_rows,
                       seed=seed)
    x_train = risk_model._matrix(train[risk_model.feature_names_])
    model, why = fit_next_steps(histories, train, x_train, config=cfg, progress=say)
    risk_model.next_steps = model
    if model is None:
        risk_model.next_steps_note = why
        return {}
    metrics = {"next_step.fit_seconds": model.effects.fit_seconds,
               "next_step.fit_rows": float(model.effects.fit_rows)}
    say("next steps off-policy value")
    logged_test = logged_test_rows(model, histories, train, x_train, test, risk_model, cfg)
    if logged_test is None:
        return metrics
    metrics.update(off_policy_metrics(logged_test, len(model.catalogue.names), seed))
    return metrics


def logged_test_rows(model: NextStepModel, histories: DealHistories, train: pd.DataFrame,
                     x_train: np.ndarray, test: pd.DataFrame, risk_model: object,
                     cfg: EffectConfig) -> LoggedTest | None:
    """The test window's final-outcome snapshots with everything the estimators need."""
    rows = test[test["label_no_decision"].notna()].reset_index(drop=True) if (
        "label_no_decision" in test) else test.iloc[:0]
    if len(rows) < 50:
        return None
    names = model.catalogue.names
    x = risk_model._matrix(rows[risk_model.feature_names_])
    logged = next_action(histories.activities, rows, names, cfg.window_days)
    recommended, propensity = policy_codes(model, rows, x, histories.activities)
    return LoggedTest(rows, x, logged, rows["label_no_decision"].to_numpy(np.float64),
                      propensity, recommended)


def off_policy_metrics(logs: LoggedTest, n_actions: int, seed: int = 0,
                       q_hat: np.ndarray | None = None,
                       train: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                       ) -> dict[str, float]:
    """IPS / SNIPS / DM / DR values of the recommender on logged test rows, as metrics.

    ``q_hat`` (m, 1 + A): outcome-model predictions; by default a LightGBM outcome model is
    fitted on ``train`` = (x, logged, outcome) or, without it, cross-fitted on the test rows
    by deal halves.
    """
    m = len(logs.outcome)
    if q_hat is None:
        q_hat = _cross_fitted_q(logs, n_actions, seed) if train is None else outcome_model(
            *train, n_actions=n_actions, seed=seed)(logs.x)
    p = np.clip(logs.propensity[np.arange(m), logs.logged + 1], 1e-3, 1.0)
    target = np.eye(n_actions + 1)[logs.recommended + 1]
    values = evaluate_policy(logs.logged + 1, p, logs.outcome, target, q_hat,
                             groups=logs.rows["deal_id"].astype("str").to_numpy(), seed=seed)
    out = {"next_step.recommend_share": float((logs.recommended >= 0).mean()),
           "next_step.logged_no_decision": float(logs.outcome.mean())}
    for name, v in values.items():
        out[f"next_step.ope.{name}"] = v.estimate
        out[f"next_step.ope.{name}.ci_low"] = v.ci_low
        out[f"next_step.ope.{name}.ci_high"] = v.ci_high
    out["next_step.ope.dr_lift"] = out["next_step.logged_no_decision"] - values["dr"].estimate
    return out


def _cross_fitted_q(logs: LoggedTest, n_actions: int, seed: int) -> np.ndarray:
    """Outcome-model predictions for each test row from a model fitted on the other deals."""
    deals = logs.rows["deal_id"].astype("str").to_numpy()
    uniq, inverse = np.unique(deals, return_inverse=True)
    half = np.random.default_rng(seed).integers(0, 2, len(uniq))[inverse].astype(bool)
    out = np.empty((len(deals), n_actions + 1))
    for fold in (False, True):
        fit, use = half != fold, half == fold
        if fit.sum() < 20 or not use.any():
            out[use] = np.nanmean(logs.outcome)
            continue
        q = outcome_model(logs.x[fit], logs.logged[fit], logs.outcome[fit], n_actions, seed)
        out[use] = q(logs.x[use])
    return out
