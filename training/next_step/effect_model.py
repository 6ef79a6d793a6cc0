"""The effect model: what taking action a in the next k days would change for THIS deal.

For every catalogue action, the change in P(no decision) and P(won) (and in P(stall within H)
when fitted) if the seller takes it within ``window_days`` of the snapshot, versus taking none
of the catalogue actions in that window, from the deal's point-in-time feature row.

Estimator: econml's :class:`~econml.dr.ForestDRLearner`, a doubly robust learner with
cross-fitted LightGBM nuisance models (a multi-class propensity model of which action the seller
took and an outcome model per action) and an honest causal forest on the doubly robust
pseudo-outcomes, one per action, which gives each estimate a 95 % interval (bootstrap of little
bags).  It is chosen over a hand-written learner (the field's library, tested), over
``LinearDRLearner`` (effects that switch on deal state are not linear in the features) and over
CausalML (about 1 GB more and warnings that fail a warnings-as-errors suite).

Serving: a forest's effect and interval cost tens of milliseconds per call through econml, so
after fitting, each target's per-action effects and interval half-widths are distilled into two
small LightGBM boosters over (features, action) (fitted on a sample of training rows, their
fidelity ``distill_r2`` measured on held-out rows); :meth:`EffectModel.estimate` uses them, one
numpy predict per quantity, and ``exact=True`` asks the forests themselves.

Overlap: a separate LightGBM propensity model says how often each action was taken in a
situation like this one; where that is below ``min_share`` (almost never) or above
``max_share`` (almost always), the model **abstains** for that action: there is not enough
history of this action at this step to compare with.

Assumptions a user should know: no unmeasured confounding (the seller chose actions from what
the CRM shows, not from what only the seller knew), and the logged action is the first catalogue
action of the window.  The simulator's ground truth (``benchmarks/bench_nba.py``) shows how far
these hold there.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(3000, 3)).astype(np.float32)
    >>> t = rng.integers(-1, 2, size=3000)
    >>> y = {"no_decision": (rng.random(3000) < 0.4 - 0.2 * (t == 1)).astype(float)}
    >>> m = EffectModel(["a", "b"], EffectConfig(n_estimators=40, nuisance_rounds=30))
    >>> est = m.fit(x, t, y).estimate(x[:200])
    >>> bool(est.effect["no_decision"][:, 1].mean() < -0.1 < est.effect["no_decision"][:, 0].mean())
    True
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from training.booster_predict import predict
from training.next_step.treatments import NO_ACTION

#: An action taken in fewer training snapshots than this gets no effect estimate (abstains).
MIN_TAKEN = 30
#: Missing feature values become this sentinel (econml's forests take finite inputs only).
MISSING = -1.0e6


@dataclass(frozen=True)
class EffectConfig:
    """Settings of the effect model (``dealrisk train`` logs them)."""

    #: The action counts as taken when it happens within this many days after the snapshot.
    window_days: int = 7
    #: Training snapshots used at most (a random subset of deals' rows beyond it).
    max_rows: int = 40_000
    #: econml's propensity floor in the doubly robust pseudo-outcomes.
    min_propensity: float = 0.01
    #: Abstain for an action whose estimated share among similar snapshots is outside this.
    min_share: float = 0.02
    max_share: float = 0.95
    n_estimators: int = 100  # per action (a multiple of 4: econml's sub-forest size)
    min_samples_leaf: int = 100
    max_depth: int = 8
    nuisance_rounds: int = 150
    nuisance_leaves: int = 15
    cv: int = 2
    seed: int = 0
    #: Training rows the serving boosters learn the forests' effects (and half-widths) from.
    distill_rows: int = 20_000
    distill_interval_rows: int = 400


@dataclass
class EffectEstimates:
    """Per row and action: effect on each target with its 95 % interval, and the overlap."""

    actions: list[str]
    #: target -> (m, A) estimated change in the target's probability (negative = lower).
    effect: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    #: (m, A + 1) estimated share of each choice (column 0: no action) in this situation.
    propensity: np.ndarray
    #: (m, A) True where the model abstains (no overlap).
    abstain: np.ndarray


@dataclass
class EffectModel:
    """Doubly robust effect of each catalogue action on each target (module docstring)."""

    actions: list[str]
    config: EffectConfig = field(default_factory=EffectConfig)
    targets: tuple[str, ...] = ()
    fit_seconds: float = 0.0
    fit_rows: int = 0
    learners_: dict = field(default_factory=dict, repr=False)
    propensity_: object = field(default=None, repr=False)
    #: target -> (effect booster, half-width booster) over (features, action one-hot).
    fast_: dict = field(default_factory=dict, repr=False)
    #: target -> R² of the distilled effect against the forest's on held-out training rows.
    distill_r2: dict = field(default_factory=dict)
    #: target -> why it has no effect model (too few labelled rows or actions).
    skipped: dict = field(default_factory=dict)

    def fit(self, x: np.ndarray, treatment: np.ndarray, outcomes: dict[str, np.ndarray],
            progress: Callable[[str], None] | None = None) -> EffectModel:
        """Fit on feature rows ``x``, logged treatment codes (-1 = none) and 0/1 outcomes.

        Rows whose outcome is NaN are left out of that target's fit.
        """
        from econml.dr import ForestDRLearner
        from lightgbm import LGBMClassifier, LGBMRegressor

        say = progress or (lambda _stage: None)
        cfg = self.config
        started = time.perf_counter()
        x = _finite(x)
        t = np.asarray(treatment, np.int64)
        if len(t) != len(x):
            raise ValueError(f"treatment has {len(t)} rows, features {len(x)}")
        self.targets, self.skipped = (), {}
        if len(np.unique(t)) < 2:
            self.skipped = dict.fromkeys(outcomes, f"{len(t)} snapshots, one choice only")
            self.fit_seconds = time.perf_counter() - started
            return self
        rng = np.random.default_rng(cfg.seed)
        labels = self._labels(t)
        nuisance = dict(n_estimators=cfg.nuisance_rounds, learning_rate=0.05,
                        num_leaves=cfg.nuisance_leaves, min_child_samples=100, verbose=-1,
                        random_state=cfg.seed, n_jobs=1)
        say("next-step propensity")
        self.propensity_ = LGBMClassifier(**nuisance).fit(x, t + 1)
        for target, y in outcomes.items():
            y = np.asarray(y, np.float64)
            keep = np.flatnonzero(~np.isnan(y))
            if len(keep) > cfg.max_rows:
                keep = np.sort(rng.choice(keep, cfg.max_rows, replace=False))
            names, counts = np.unique(labels[keep], return_counts=True)
            rare = set(names[counts < MIN_TAKEN]) - {"none"}  # too few to cross-fit: abstain
            keep = keep[~np.isin(labels[keep], list(rare))]
            present = set(labels[keep])
            if len(keep) < 200 or len(present) < 2 or "none" not in present:
                self.skipped[target] = (f"{len(keep)} labelled snapshots, actions taken: "
                                        f"{sorted(present - {'none'}) or 'none'}")
                continue
            say(f"next-step effects on {target}")
            taken = [a for a in self.actions if a in present]  # never taken: no effect, abstain
            learner = ForestDRLearner(
                model_propensity=LGBMClassifier(**nuisance),
                model_regression=LGBMRegressor(**nuisance),
                min_propensity=cfg.min_propensity, categories=["none", *taken],
                cv=cfg.cv, n_estimators=cfg.n_estimators, min_samples_leaf=cfg.min_samples_leaf,
                max_depth=cfg.max_depth, random_state=cfg.seed, n_jobs=1)
            try:
                with warnings.catch_warnings():
                    # econml warns when an action is rare in a fold
                    warnings.simplefilter("ignore", UserWarning)
                    learner.fit(y[keep], labels[keep], X=x[keep])
            except ValueError as exc:  # e.g. a fold without one of the choices
                self.skipped[target] = f"econml could not fit it: {exc}"
                continue
            self.learners_[target] = (learner, taken)
            self.targets = (*self.targets, target)
            self.fit_rows = max(self.fit_rows, len(keep))
        if self.targets:
            say("next-step serving boosters")
            self._distill(x, rng)
        self.fit_seconds = time.perf_counter() - started
        return self

    def _distill(self, x: np.ndarray, rng: np.random.Generator) -> None:
        """Fit the serving boosters on the forests' effects and half-widths of sample rows."""
        from lightgbm import LGBMRegressor

        cfg = self.config
        rows = np.sort(rng.choice(len(x), min(len(x), cfg.distill_rows), replace=False))
        held = rows[: max(1, len(rows) // 5)]
        fit_rows = rows[len(held):] if len(rows) > len(held) else rows
        small = fit_rows[: cfg.distill_interval_rows]
        exact = self.estimate(x[fit_rows], intervals=False, exact=True)
        bounds = self.estimate(x[small], intervals=True, exact=True)
        check = self.estimate(x[held], intervals=False, exact=True)
        params = dict(n_estimators=200, learning_rate=0.08, num_leaves=31, min_child_samples=20,
                      verbose=-1, random_state=cfg.seed, n_jobs=1)
        for target in self.targets:
            e, ok = exact.effect[target], ~np.isnan(exact.effect[target])
            half = (bounds.high[target] - bounds.low[target]) / 2.0
            effect_model = LGBMRegressor(**params).fit(*self._stacked(x[fit_rows], e, ok)).booster_
            half_ok = ~np.isnan(half)
            half_model = LGBMRegressor(**params).fit(*self._stacked(x[small], half, half_ok)
                                                     ).booster_
            self.fast_[target] = (effect_model, half_model)
            want = check.effect[target]
            got = self._fast_predict(effect_model, x[held])
            mask = ~np.isnan(want)
            resid = ((got - want)[mask] ** 2).sum()
            total = ((want[mask] - want[mask].mean()) ** 2).sum()
            self.distill_r2[target] = float(1 - resid / total) if total > 0 else float("nan")

    def _stacked(self, x: np.ndarray, values: np.ndarray, ok: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        rows, actions = np.nonzero(ok)
        return self._design(x[rows], actions), values[rows, actions]

    def _design(self, x: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.column_stack([x, np.eye(len(self.actions))[actions]])

    def _fast_predict(self, booster: object, x: np.ndarray) -> np.ndarray:
        n_actions = len(self.actions)
        design = self._design(np.repeat(x, n_actions, axis=0), np.tile(np.arange(n_actions),
                                                                        len(x)))
        return predict(booster, design).reshape(len(x), n_actions)

    def _labels(self, t: np.ndarray) -> np.ndarray:
        names = np.asarray(["none", *self.actions], dtype=object)
        if (t < NO_ACTION).any() or (t >= len(self.actions)).any():
            raise ValueError(f"treatment codes must be -1..{len(self.actions) - 1}")
        return names[t + 1].astype(str)

    def estimate(self, x: np.ndarray, intervals: bool = True, exact: bool = False
                 ) -> EffectEstimates:
        """Effects, 95 % intervals, shares and abstentions for feature rows ``x``.

        By default from the distilled serving boosters; ``exact=True`` asks the forests
        (``intervals=False`` then leaves the intervals NaN: they are most of the cost).
        """
        x = _finite(x)
        m, n_actions = len(x), len(self.actions)
        prop = np.zeros((m, n_actions + 1))
        if m and self.propensity_ is not None:
            classes = np.asarray(self.propensity_.classes_, np.int64)
            raw = predict(self.propensity_.booster_, x)
            prop[:, classes] = raw.reshape(m, -1) if len(classes) > 2 else np.column_stack(
                [1 - raw, raw])
        share = prop[:, 1:]
        abstain = (share < self.config.min_share) | (share > self.config.max_share)
        effect, low, high = {}, {}, {}
        if not exact and self.fast_:
            for target, (effect_model, half_model) in self.fast_.items():
                fitted = [self.actions.index(a) for a in self.learners_[target][1]]
                e = np.full((m, n_actions), np.nan)
                half = np.full((m, n_actions), np.nan)
                if m:
                    e[:, fitted] = self._fast_predict(effect_model, x)[:, fitted]
                    half[:, fitted] = np.maximum(self._fast_predict(half_model, x)[:, fitted],
                                                 0.0)
                effect[target], low[target], high[target] = e, e - half, e + half
            not_fitted = np.isnan(next(iter(effect.values()))).all(axis=0) if m else np.zeros(
                n_actions, bool)
            return EffectEstimates(self.actions, effect, low, high, prop,
                                   abstain | not_fitted[None, :])
        for target, (learner, fitted) in self.learners_.items():
            e, lo, hi = (np.full((m, n_actions), np.nan) for _ in range(3))
            cols = [self.actions.index(name) for name in fitted]  # econml's treatment order
            if m and cols:
                e[:, cols] = learner.const_marginal_effect(x).reshape(m, len(cols))
                if intervals:
                    low_all, high_all = learner.const_marginal_effect_interval(x, alpha=0.05)
                    lo[:, cols] = low_all.reshape(m, len(cols))
                    hi[:, cols] = high_all.reshape(m, len(cols))
            effect[target], low[target], high[target] = e, lo, hi
        not_fitted = np.zeros(n_actions, bool)
        if effect:
            not_fitted = np.isnan(next(iter(effect.values()))).all(axis=0) if m else not_fitted
        return EffectEstimates(self.actions, effect, low, high, prop,
                               abstain | not_fitted[None, :])


def _finite(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(x, np.float64), nan=MISSING, posinf=-MISSING,
                         neginf=MISSING)


def treatment_labels(codes: Sequence[int], actions: Sequence[str]) -> list[str]:
    """Names of treatment codes (-1 -> ``none``).

    Example:
        >>> treatment_labels([-1, 1], ["a", "b"])
        ['none', 'b']
    """
    return ["none" if c < 0 else actions[c] for c in codes]
