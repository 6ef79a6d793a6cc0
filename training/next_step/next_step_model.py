"""The next-step part of the registered model: catalogue, effect model, evidence; fit and use.

:func:`fit_next_steps` runs inside ``dealrisk train`` after the risk model: the logged treatment
of every training snapshot (:mod:`training.next_step.treatments`), the effect model on the risk
model's feature matrix (:mod:`training.next_step.effect_model`), and the per-step evidence the
reasons quote.  :meth:`NextStepModel.recommend` turns feature rows plus the days since each
action (cool-downs) into :class:`~training.next_step.recommend.DealRecommendations`.

Example:
    >>> NextStepModel.__dataclass_fields__.keys() >= {"catalogue", "effects", "evidence"}
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.action_history import days_since_actions
from features.actions import ActionCatalogue
from features.histories import DealHistories
from training.next_step.effect_model import EffectConfig, EffectEstimates, EffectModel
from training.next_step.recommend import (
    KEEP_GOING,
    DealRecommendations,
    Recommendation,
    StepEvidence,
    candidates,
)
from training.next_step.treatments import next_action

NO_VALID = "no catalogue action is valid at this buyer step"
NO_ACTIONS_LOGGED = ("no next-step model: the training export records none of the catalogue's "
                     "actions, so there is no history to learn their effects from")


@dataclass
class NextStepModel:
    """What ``dealrisk rank`` and ``/score`` need to recommend next steps."""

    catalogue: ActionCatalogue
    effects: EffectModel
    evidence: StepEvidence
    #: Recommend an action only when it is expected to lower P(no decision) this much.
    min_lift: float = 0.005
    top_k: int = 3
    #: target -> (alpha, beta): shown effect = alpha + beta * the forests' estimate, fitted on
    #: held-out snapshots (:meth:`calibrate`); None = the forests' estimates as they are.
    calibration: dict[str, tuple[float, float]] | None = None

    def scaled(self, target: str, values: np.ndarray) -> np.ndarray:
        """``values`` (this target's lift or gain, or an interval end) on the calibrated scale.

        Example:
            >>> m = NextStepModel(None, None, None, calibration={"won": (0.01, 0.5)})
            >>> m.scaled("won", np.array([0.1])), m.scaled("no_decision", np.array([0.1]))
            (array([0.06]), array([0.1]))
        """
        alpha, beta = (self.calibration or {}).get(target, (0.0, 1.0))
        return alpha + beta * values

    def calibrate(self, target: str, alpha: float, beta: float) -> None:
        """Show ``target``'s effects as ``alpha + beta * estimate`` from now on.

        ``beta`` > 0 keeps the order of actions; the per-step evidence of the lift target
        follows.
        """
        self.calibration = {**(self.calibration or {}), target: (float(alpha), float(beta))}
        if target == self.target and self.evidence is not None:
            self.evidence.mean_lift = alpha + beta * self.evidence.mean_lift

    @property
    def target(self) -> str:
        """The outcome whose reduction is the lift (no decision, else won)."""
        return "no_decision" if "no_decision" in self.effects.targets else "won"

    def lift(self, est: EffectEstimates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lift, low, high) per row and action, with the lift's 95 % interval.

        The lift is the estimated no-decision reduction (the win gain when only a win model
        was fitted).
        """
        t = self.target
        raw = ((-est.effect[t], -est.high[t], -est.low[t]) if t == "no_decision"
               else (est.effect[t], est.low[t], est.high[t]))
        lift, low, high = (self.scaled(t, v) for v in raw)
        return lift, low, high

    def win_gain(self, est: EffectEstimates) -> np.ndarray | None:
        """The estimated change in P(won) per row and action (calibrated), if fitted."""
        won = est.effect.get("won")
        return None if won is None else self.scaled("won", won)

    def recommend(self, x: np.ndarray, steps: np.ndarray, days_since: np.ndarray
                  ) -> list[DealRecommendations]:
        """Recommendations per feature row (risk model matrix), buyer step and cool-down days."""
        est = self.effects.estimate(x)
        lift, low, high = self.lift(est)
        won = self.win_gain(est)
        ok = candidates(self.catalogue, np.asarray(steps), days_since, est.abstain)
        valid_any = self.catalogue.valid_mask([str(s) for s in steps]).any(axis=1) if len(
            steps) else np.zeros(0, bool)
        out = []
        window = self.effects.config.window_days
        for i in range(len(x)):
            order = [a for a in np.argsort(-np.where(ok[i], lift[i], -np.inf))
                     if ok[i, a] and np.isfinite(lift[i, a]) and lift[i, a] >= self.min_lift]
            recs = [Recommendation(
                action=name, description=self.catalogue.actions[name].description,
                lift=float(lift[i, a]), lift_low=float(low[i, a]), lift_high=float(high[i, a]),
                win_gain=None if won is None else float(won[i, a]),
                reason=self.evidence.reason(str(steps[i]), name, window))
                for a in order[:self.top_k] for name in [self.catalogue.names[a]]]
            note = "" if recs else (KEEP_GOING if valid_any[i] else NO_VALID)
            out.append(DealRecommendations(recs, note))
        return out

    def recommend_rows(self, rows: pd.DataFrame, x: np.ndarray, activities: pd.DataFrame | None
                       ) -> list[DealRecommendations]:
        """:meth:`recommend` for feature rows (deal_id, as_of, current_step) of ``activities``."""
        days = days_since_actions(activities if activities is not None else pd.DataFrame(),
                                  rows["deal_id"].astype("str").to_numpy(),
                                  rows["as_of"].to_numpy(), self.catalogue.names)
        return self.recommend(x, rows["current_step"].astype("str").to_numpy(), days)


def fit_next_steps(histories: DealHistories, train: pd.DataFrame, x: np.ndarray, *,
                   config: EffectConfig | None = None,
                   progress: Callable[[str], None] | None = None
                   ) -> tuple[NextStepModel | None, str]:
    """Fit the next-step model on training snapshot rows (and their feature matrix ``x``).

    Returns the model, or ``None`` with the reason when the export records no catalogue action.
    Outcomes: the final no-decision and won labels of the rows (NaN while open).
    """
    cfg = config or EffectConfig()
    catalogue = histories.profile.catalogue()
    acts = histories.activities
    if acts is None or not len(acts) or not acts["action"].isin(catalogue.names).any():
        return None, NO_ACTIONS_LOGGED
    logged = next_action(acts, train, catalogue.names, cfg.window_days)
    outcomes = {t: train[f"label_{t}"].to_numpy(dtype=np.float64, na_value=np.nan)
                for t in ("no_decision", "won") if f"label_{t}" in train}
    if len(train) < 200:
        return None, f"no next-step model: {len(train)} training snapshots (needs 200)"
    effects = EffectModel(catalogue.names, cfg).fit(x, logged, outcomes, progress=progress)
    if not effects.targets:
        why = "; ".join(f"{t}: {w}" for t, w in effects.skipped.items())
        return None, ("no next-step model: too few labelled snapshots with and without "
                      f"actions ({why})")
    sample = np.sort(np.random.default_rng(cfg.seed).choice(
        len(x), min(len(x), 20_000), replace=False))
    model = NextStepModel(catalogue, effects, StepEvidence([], [], np.zeros((0, 0)),
                                                           np.zeros((0, 0))))
    lift = model.lift(effects.estimate(x[sample], intervals=False))[0]
    steps = train["current_step"].astype("str").to_numpy()
    model.evidence = StepEvidence.from_training(
        steps, train["deal_id"].astype("str").to_numpy(), logged, steps[sample], lift,
        sorted(set(steps)), catalogue.names)
    return model, ""
