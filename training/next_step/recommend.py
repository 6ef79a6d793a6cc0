"""Recommendations: the valid, off-cool-down actions ranked by their estimated lift for a deal.

An action is a candidate at a snapshot when the catalogue allows it at the deal's buyer step,
its cool-down since it was last taken has passed, and the effect model does not abstain (enough
history of it in situations like this one).  Candidates are ranked by the estimated reduction of
P(no decision) (the lift); those expected to lower it by at least ``min_lift`` are recommended,
best first, with the interval and a plain-words reason grounded in the training data.  When none
is, the answer is "keep going, nothing here is expected to help".

Example:
    >>> from features.actions import ActionCatalogue
    >>> cat = ActionCatalogue.default()
    >>> lift = np.zeros((1, len(cat.names))); lift[0, 1] = 0.03
    >>> ok = candidates(cat, np.array(["problem_shared"]), np.full((1, 7), np.inf),
    ...                 np.zeros((1, 7), bool))
    >>> pick(lift, ok, min_lift=0.005).tolist()
    [1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.actions import ActionCatalogue

KEEP_GOING = "Keep going: nothing here is expected to help this deal now."


def candidates(catalogue: ActionCatalogue, steps: np.ndarray, days_since: np.ndarray,
               abstain: np.ndarray) -> np.ndarray:
    """(m, A) True where an action may be recommended (valid step, off cool-down, overlap)."""
    names = catalogue.names
    valid = catalogue.valid_mask([str(s) for s in steps], names) if len(steps) else np.zeros(
        (0, len(names)), bool)
    cooled = days_since >= catalogue.cooldown_days()[None, :]
    return valid & cooled & ~abstain


def pick(lift: np.ndarray, ok: np.ndarray, min_lift: float) -> np.ndarray:
    """The best candidate per row when its lift reaches ``min_lift``; -1 otherwise."""
    masked = np.where(ok & np.isfinite(lift), lift, -np.inf)
    best = masked.argmax(axis=1) if masked.shape[1] else np.zeros(len(lift), np.int64)
    top = masked[np.arange(len(lift)), best] if len(lift) else np.zeros(0)
    return np.where(top >= min_lift, best, -1)


@dataclass
class StepEvidence:
    """What the training data says per (buyer step, action): deals that took it, mean lift."""

    steps: list[str]
    actions: list[str]
    deals: np.ndarray  # (S, A) deals that took the action at the step within the window
    mean_lift: np.ndarray  # (S, A) mean estimated no-decision reduction at the step

    @classmethod
    def from_training(cls, steps: np.ndarray, deal_ids: np.ndarray, logged: np.ndarray,
                      lift_steps: np.ndarray, lift: np.ndarray, step_names: Sequence[str],
                      actions: Sequence[str]) -> StepEvidence:
        """Deals per (step, action) and the mean estimated lift per step.

        Deals are counted over training snapshots (``steps``, ``deal_ids``, ``logged`` codes);
        the lift is averaged over the rows ``lift_steps`` / ``lift``.
        """
        s_names, a_names = list(step_names), list(actions)
        deals = np.zeros((len(s_names), len(a_names)))
        mean = np.full((len(s_names), len(a_names)), np.nan)
        code = pd.Index(s_names).get_indexer(np.asarray(steps).astype(str))
        lift_code = pd.Index(s_names).get_indexer(np.asarray(lift_steps).astype(str))
        took = logged >= 0
        pairs = pd.DataFrame({"s": code[took], "a": logged[took], "d": deal_ids[took]})
        for (s, a), n in pairs[pairs["s"] >= 0].groupby(["s", "a"])["d"].nunique().items():
            deals[int(s), int(a)] = n
        for s in range(len(s_names)):
            here = lift_code == s
            if here.any():
                finite = np.where(np.isfinite(lift[here]), lift[here], np.nan)
                counted = np.isfinite(finite).any(axis=0)
                mean[s, counted] = np.nanmean(finite[:, counted], axis=0)
        return cls(s_names, a_names, deals, mean)

    def reason(self, step: str, action: str, window_days: int) -> str:
        """The plain-words ground for recommending ``action`` at ``step``.

        Example:
            >>> ev = StepEvidence(["decision"], ["run_evaluation"], np.array([[40.0]]),
            ...                   np.array([[0.031]]))
            >>> print(ev.reason("decision", "run_evaluation", 7))
            at this step 40 deals took it within 7 days; estimated: no decision -3.1 points
        """
        if step not in self.steps or action not in self.actions:
            return "no history of this action at this step"
        s, a = self.steps.index(step), self.actions.index(action)
        mean = self.mean_lift[s, a]
        avg = (f"; estimated: no decision {-100 * mean:+.1f} points"
               if np.isfinite(mean) else "")
        return f"at this step {int(self.deals[s, a])} deals took it within {window_days} days{avg}"


@dataclass
class Recommendation:
    """One recommended next step for a deal."""

    action: str
    description: str
    lift: float  # estimated reduction of P(no decision), probability points / 100
    lift_low: float
    lift_high: float
    win_gain: float | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in self.__dict__.items()}


@dataclass
class DealRecommendations:
    """The next steps for one deal (best first), or why there are none."""

    steps: list[Recommendation] = field(default_factory=list)
    note: str = ""

    @property
    def headline(self) -> str:
        """One line for a table: the best step with its lift, or the note.

        Example:
            >>> DealRecommendations([], KEEP_GOING).headline[:10]
            'Keep going'
        """
        if not self.steps:
            return self.note
        top = self.steps[0]
        interval = (f", 95% CI {-100 * top.lift_high:+.1f} to {-100 * top.lift_low:+.1f}"
                    if np.isfinite(top.lift_low) and np.isfinite(top.lift_high) else "")
        return f"{top.description} (no decision {-100 * top.lift:+.1f} pts{interval})"
