"""The next-step part of a training run: fit on the training window, value it on the test window.

:func:`train_next_steps` fits the effect model on the training snapshots, attaches it to the
risk model (one registered artifact) and values the recommender on the test window from the
logged data alone (:mod:`training.next_step.off_policy`): the expected no-decision rate had the
sellers followed it, by IPS, self-normalised IPS, the direct method and doubly robust, against
the logged (historic) rate.  That is how a user without ground truth judges it.

Metric keys: ``next_step.fit_seconds``, ``next_step.fit_rows``,
``next_step.recommend_share`` (test snapshots with a recommendation),
``next_step.logged_no_decision`` and ``next_step.ope.<ips|snips|dm|dr>[.ci_low|.ci_high]``
(P(no decision) under the recommender), ``next_step.ope.dr_lift`` (logged minus DR value),
``next_step.ope.dr_vs_logged[.ci_low|.ci_high]`` (the paired DR difference, recommender minus
the sellers' own policy; next steps are withheld when its whole interval is above 0:
:func:`harm_note`, ``next_step.withheld``),
``next_step.lift_calibration.<slope|slope.ci_low|slope.ci_high|mean_estimated|mean_realised|
error>`` (:mod:`training.next_step.lift_checks`), ``next_step.calibration.<target>.<alpha|beta|
pairs>`` (:func:`calibrate_lifts`) and, on a simulated pipeline with its truth,
``next_step.truth.<snapshot_corr|cell_corr|recommended_nd_reduction|oracle_nd_reduction|
snapshots>``.  Figures: ``next_steps_lift_calibration.png`` and, with the truth,
``next_steps_true_vs_estimated.png``.  :func:`recommendation_difference` is what the
champion/challenger rule compares.

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
from training.next_step.off_policy import dr_difference, evaluate_policy
from training.next_step.recommend import candidates, pick
from training.next_step.treatments import next_action

OPE_NAMES = ("ips", "snips", "dm", "dr")


@dataclass
class LoggedTest:
    """Test snapshots with a final outcome: features, logged action, outcome, propensities.

    ``lift`` / ``usable`` (m, A): the recommender's estimated no-decision reductions and where
    it could recommend (valid, off cool-down, not abstained); ``days_since`` (m, A): days since
    each action (its cool-down input); ``q_hat`` (m, 1 + A): cross-fitted outcome model.
    """

    rows: pd.DataFrame
    x: np.ndarray
    logged: np.ndarray  # codes, -1 = none
    outcome: np.ndarray  # 1 = ended in no decision
    propensity: np.ndarray  # (m, 1 + A)
    recommended: np.ndarray  # codes, -1 = keep going
    lift: np.ndarray | None = None
    usable: np.ndarray | None = None
    days_since: np.ndarray | None = None
    q_hat: np.ndarray | None = None


@dataclass
class PolicyChoice:
    """What the recommender picks per row, and what it saw.

    Codes (-1 = keep going), shares, estimated lifts, where it could recommend and the days
    since each action.
    """

    codes: np.ndarray
    propensity: np.ndarray
    lift: np.ndarray
    usable: np.ndarray
    days_since: np.ndarray


def choose(model: NextStepModel, rows: pd.DataFrame, x: np.ndarray,
           days_since: np.ndarray) -> PolicyChoice:
    """The recommender's top action per row given the days since each catalogue action."""
    est = model.effects.estimate(x, intervals=False)
    lift = model.lift(est)[0]
    ok = candidates(model.catalogue, rows["current_step"].astype("str").to_numpy(), days_since,
                    est.abstain)
    return PolicyChoice(pick(lift, ok, model.min_lift), est.propensity, lift, ok, days_since)


def policy_choice(model: NextStepModel, rows: pd.DataFrame, x: np.ndarray,
                  activities: pd.DataFrame | None) -> PolicyChoice:
    """:func:`choose`, with the days since each action read from ``activities``.

    Days count as of each row's ``as_of``.
    """
    from features.action_history import days_since_actions

    days = days_since_actions(activities if activities is not None else pd.DataFrame(),
                              rows["deal_id"].astype("str").to_numpy(),
                              rows["as_of"].to_numpy(), model.catalogue.names)
    return choose(model, rows, x, days)


def policy_codes(model: NextStepModel, rows: pd.DataFrame, x: np.ndarray,
                 activities: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The recommender's top action per row (-1 = keep going) and the shares (m, 1 + A)."""
    choice = policy_choice(model, rows, x, activities)
    return choice.codes, choice.propensity


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


@dataclass
class NextStepRun:
    """The next-step part of a run: metrics, figures, and the test logs it was valued on."""

    metrics: dict[str, float]
    figures: dict[str, object]
    logs: LoggedTest | None
    warnings: tuple[str, ...] = ()


def train_next_steps(risk_model: object, histories: DealHistories, train: pd.DataFrame,
                     test: pd.DataFrame, *, window_days: int, trees: int,
                     max_rows: int = EffectConfig.max_rows, seed: int = 0,
                     truth: tuple[object, pd.DataFrame] | None = None,
                     held_out: pd.DataFrame | None = None,
                     progress: Callable[[str], None] | None = None) -> NextStepRun:
    """Fit, attach (``risk_model.next_steps``) and value the next-step model.

    The forests' effects are put on the scale the logs show (:func:`calibrate_lifts`) on the
    ``held_out`` snapshots (the windows between training and test), then the model is valued
    off-policy on the test window, the calibration of its lifts checked there, and,
    with ``truth`` = (simulation parameters, ``truth/daily.parquet``), compares its estimated
    effects with the true ones per action and buyer step.
    """
    from training.next_step.lift_checks import (
        dr_pseudo_lift,
        lift_calibration,
        lift_calibration_figure,
    )

    say = progress or (lambda _stage: None)
    cfg = EffectConfig(window_days=window_days, n_estimators=4 * max(1, trees // 4),
                       max_rows=max_rows, seed=seed)  # econml grows trees in fours
    x_train = risk_model._matrix(train[risk_model.feature_names_])
    model, why = fit_next_steps(histories, train, x_train, config=cfg, progress=say)
    risk_model.next_steps = model
    if model is None:
        risk_model.next_steps_note = why
        return NextStepRun({}, {}, None)
    metrics = {"next_step.fit_seconds": model.effects.fit_seconds,
               "next_step.fit_rows": float(model.effects.fit_rows)}
    if held_out is not None:
        say("next steps: calibrating the lifts")
        metrics.update(calibrate_lifts(model, histories, held_out, risk_model, cfg, seed))
    say("next steps off-policy value")
    logs = logged_test_rows(model, histories, test, risk_model, cfg)
    if logs is None:
        return NextStepRun(metrics, {}, None)
    n_actions = len(model.catalogue.names)
    logs.q_hat = _cross_fitted_q(logs, n_actions, seed)
    metrics.update(off_policy_metrics(logs, n_actions, seed, q_hat=logs.q_hat))
    pseudo = dr_pseudo_lift(logs.logged, logs.outcome, logs.propensity, logs.q_hat)
    table, calib = lift_calibration(logs.lift, pseudo, logs.usable,
                                    logs.rows["deal_id"].astype("str").to_numpy(), seed=seed)
    metrics.update({f"next_step.lift_calibration.{k}": v for k, v in calib.items()})
    figures: dict[str, object] = {
        "next_steps_lift_calibration.png": lift_calibration_figure(table, calib)}
    if truth is not None:
        metrics_t, figure = truth_check(model, logs, *truth)
        metrics.update(metrics_t)
        if figure is not None:
            figures["next_steps_true_vs_estimated.png"] = figure
    return NextStepRun(metrics, figures, logs, withhold_if_harmful(risk_model, metrics))


def withhold_if_harmful(risk_model: object, metrics: dict[str, float]) -> tuple[str, ...]:
    """Detach the next steps when :func:`harm_note` says so; the run's warnings.

    Sets ``next_step.withheld`` (1 or 0) in ``metrics``; a withheld model's
    ``next_steps_note`` says why, so every ranking and ``/score`` answer does too.
    """
    harm = harm_note(metrics)
    metrics["next_step.withheld"] = float(bool(harm))
    if not harm:
        return ()
    risk_model.next_steps, risk_model.next_steps_note = None, harm
    return (f"next steps {harm}",)


def harm_note(metrics: dict[str, float]) -> str:
    """Why the next steps are withheld, or "" when the test logs do not say they do harm.

    They are withheld when following them would have raised the no-decision rate against
    what the sellers did, by the whole 95 % interval of the paired doubly robust difference
    (``next_step.ope.dr_vs_logged``, :func:`off_policy_metrics`): a recommender its own
    evaluation finds harmful is not shown.

    Example:
        >>> harm_note({"next_step.ope.dr_vs_logged": 0.12,
        ...            "next_step.ope.dr_vs_logged.ci_low": 0.04,
        ...            "next_step.ope.dr_vs_logged.ci_high": 0.2}).split("would have ")[1][:40]
        'raised the no-decision rate by 12.0 poin'
        >>> harm_note({"next_step.ope.dr_vs_logged": 0.01,
        ...            "next_step.ope.dr_vs_logged.ci_low": -0.02,
        ...            "next_step.ope.dr_vs_logged.ci_high": 0.04})
        ''
    """
    low = metrics.get("next_step.ope.dr_vs_logged.ci_low", float("nan"))
    if not low > 0:
        return ""
    diff, high = metrics["next_step.ope.dr_vs_logged"], metrics[
        "next_step.ope.dr_vs_logged.ci_high"]
    return (f"withheld: on the test window, following them would have raised the no-decision "
            f"rate by {100 * diff:.1f} points against what the sellers did (doubly robust, "
            f"95% CI {100 * low:.1f} to {100 * high:.1f}); nothing is recommended")


def calibrate_lifts(model: NextStepModel, histories: DealHistories, held_out: pd.DataFrame,
                    risk_model: object, cfg: EffectConfig, seed: int = 0) -> dict[str, float]:
    """Fit each target's ``alpha + beta * estimate`` on held-out logs and set it on ``model``.

    The forests' effects are noisy and, picked as the best of several actions, overstated; the
    doubly robust readings of the held-out snapshots (cross-fitted outcome model, the effect
    model's propensities) say how much of an estimate is real (:func:`~training.next_step.
    lift_checks.fit_linear_lift`).  Metrics ``next_step.calibration.<target>.<alpha|beta|
    pairs>``.
    """
    from training.next_step.lift_checks import dr_pseudo_lift, fit_linear_lift

    held_out = _some_deals(held_out, CALIBRATION_ROWS, seed)
    logs = logged_test_rows(model, histories, held_out, risk_model, cfg)
    if logs is None:
        return {}
    n_actions = len(model.catalogue.names)
    raw = model.effects.estimate(logs.x, intervals=False).effect
    out = {}
    for target in model.effects.targets:
        label = f"label_{target}"
        if label not in logs.rows:
            continue
        y = logs.rows[label].to_numpy(np.float64, na_value=np.nan)
        keep = ~np.isnan(y)
        if keep.sum() < 50:
            continue
        part = LoggedTest(logs.rows[keep].reset_index(drop=True), logs.x[keep],
                          logs.logged[keep], y[keep], logs.propensity[keep],
                          logs.recommended[keep])
        q_hat = _cross_fitted_q(part, n_actions, seed)
        reading = dr_pseudo_lift(part.logged, part.outcome, part.propensity, q_hat)
        estimate = -raw[target][keep]  # both on the "reduction" scale
        if target == "won":
            reading, estimate = -reading, -estimate  # a gain in P(won)
        alpha, beta, pairs = fit_linear_lift(estimate, reading, logs.usable[keep])
        model.calibrate(target, alpha, beta)
        out.update({f"next_step.calibration.{target}.alpha": alpha,
                    f"next_step.calibration.{target}.beta": beta,
                    f"next_step.calibration.{target}.pairs": float(pairs)})
    return out


#: Held-out snapshots the lift calibration reads at most (whole deals, drawn at random).
CALIBRATION_ROWS = 20_000


def _some_deals(rows: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """``rows`` of randomly drawn whole deals, about ``limit`` rows (all when fewer)."""
    if len(rows) <= limit:
        return rows
    deals = rows["deal_id"].astype("str")
    uniq = deals.unique()
    keep = np.random.default_rng(seed).permutation(len(uniq))[:max(1, int(
        len(uniq) * limit / len(rows)))]
    return rows[deals.isin(uniq[keep])].reset_index(drop=True)


def truth_check(model: NextStepModel, logs: LoggedTest, params: object,
                truth_daily: pd.DataFrame) -> tuple[dict[str, float], object | None]:
    """True vs estimated lifts on the logged test snapshots whose hidden state is known."""
    from training.next_step.ground_truth import one_hot, true_gains, value
    from training.next_step.lift_checks import truth_cells, truth_figure

    gains = true_gains(params, logs.rows, truth_daily, model.catalogue.names)
    known = gains.known
    if known.sum() < 50:
        return {}, None
    steps = logs.rows["current_step"].astype("str").to_numpy()[known]
    valid = model.catalogue.valid_mask(steps.tolist())
    cells = truth_cells(logs.lift[known], gains.nd[known], steps, valid, model.catalogue.names)
    est, true = logs.lift[known][valid], gains.nd[known][valid]
    n_actions = len(model.catalogue.names)
    best = np.where(valid, gains.nd[known], -np.inf)
    oracle = np.where(best.max(axis=1) > 0, best.argmax(axis=1), -1)
    metrics = {
        "next_step.truth.snapshot_corr": float(np.corrcoef(est, true)[0, 1]),
        "next_step.truth.cell_corr": float(np.corrcoef(cells["estimated"], cells["true"])[0, 1])
        if len(cells) > 2 else float("nan"),
        "next_step.truth.recommended_nd_reduction": float(value(
            one_hot(logs.recommended[known], n_actions), gains.nd[known])),
        "next_step.truth.oracle_nd_reduction": float(value(one_hot(oracle, n_actions),
                                                           gains.nd[known])),
        "next_step.truth.snapshots": float(known.sum()),
    }
    return metrics, truth_figure(cells)


def logged_test_rows(model: NextStepModel, histories: DealHistories, test: pd.DataFrame,
                     risk_model: object, cfg: EffectConfig) -> LoggedTest | None:
    """The test window's final-outcome snapshots with everything the estimators need."""
    rows = test[test["label_no_decision"].notna()].reset_index(drop=True) if (
        "label_no_decision" in test) else test.iloc[:0]
    if len(rows) < 50:
        return None
    rows = rows.drop_duplicates(["deal_id", "as_of"]).reset_index(drop=True)
    names = model.catalogue.names
    x = risk_model._matrix(rows[risk_model.feature_names_])
    logged = next_action(histories.activities, rows, names, cfg.window_days)
    choice = policy_choice(model, rows, x, histories.activities)
    return LoggedTest(rows, x, logged, rows["label_no_decision"].to_numpy(np.float64),
                      choice.propensity, choice.codes, choice.lift, choice.usable,
                      choice.days_since)


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
    versus = dr_difference(logs.logged + 1, p, logs.outcome, target, logs.propensity, q_hat,
                           groups=logs.rows["deal_id"].astype("str").to_numpy(), seed=seed)
    out["next_step.ope.dr_vs_logged"] = versus.estimate
    out["next_step.ope.dr_vs_logged.ci_low"] = versus.ci_low
    out["next_step.ope.dr_vs_logged.ci_high"] = versus.ci_high
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


def recommendation_difference(challenger: object, champion: object, logs: LoggedTest,
                              seed: int = 0) -> tuple[object | None, str]:
    """DR difference in P(no decision): ``challenger``'s next steps followed minus ``champion``'s.

    On the challenger's test logs; negative = the challenger's are better.

    Both risk models' recommenders pick on the same rows with the same cool-downs; the value
    uses the logs' propensities and outcome model for both, so the interval is paired.  Returns
    (:class:`~training.next_step.off_policy.PolicyValue`, "") or (None, why not compared).
    """
    ours, theirs = challenger.next_steps, getattr(champion, "next_steps", None)
    if ours is None or logs.q_hat is None:
        return None, "this version makes no recommendations"
    if theirs is None:
        return None, "the champion makes no recommendations"
    if list(theirs.catalogue.names) != list(ours.catalogue.names):
        return None, "the champion's catalogue of next steps differs"
    missing = [f for f in champion.feature_names_ if f not in logs.rows.columns]
    if missing:
        return None, f"the champion needs features this export lacks ({', '.join(missing[:3])})"
    x = champion._matrix(logs.rows[champion.feature_names_])
    their_codes = choose(theirs, logs.rows, x, logs.days_since).codes
    k = len(ours.catalogue.names) + 1
    m = len(logs.outcome)
    p = np.clip(logs.propensity[np.arange(m), logs.logged + 1], 1e-3, 1.0)
    diff = dr_difference(logs.logged + 1, p, logs.outcome, np.eye(k)[logs.recommended + 1],
                         np.eye(k)[their_codes + 1], logs.q_hat,
                         groups=logs.rows["deal_id"].astype("str").to_numpy(), seed=seed)
    return diff, ""
