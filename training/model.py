"""The deal-risk model: one calibrated LightGBM classifier per target, plus plain-words reasons.

- Column order and categoricals come from :data:`features.schema.FEATURES` (or the schema given
  to :class:`DealRiskModel`: the pipeline's, with its custom context fields, or one extended by a
  research benchmark); categories seen in training are re-applied at predict (unseen values
  become missing).
- The pipeline's :class:`~features.profile.PipelineProfile` travels with the model: the
  features it leaves out (the export cannot give them point-in-time) are empty at training and
  are emptied again at every predict, whatever the rows hold, so scoring never sees what
  training could not.  The feature columns of the
  rows given to :meth:`DealRiskModel.predict` must be exactly the training ones, in the same
  order (other columns such as ``deal_id`` are ignored); anything else is a ``ValueError``.
- Monotone constraints from each feature's ``higher_is_riskier`` (risk can only rise with a
  longer buyer silence, etc.); by default (``monotone="timing"``) on the timing features of
  :data:`TIMING_FEATURES`, with ``"schema"`` on every feature with a known direction.
- Targets: stall within the horizon, no decision and won (final outcomes); a target whose
  windows cannot carry it (one class, fewer than :data:`MIN_CLASS_ROWS` of a class) is skipped
  with the reason in :attr:`DealRiskModel.skipped`, never fitted to a constant.
- Model selection per target on the validation window, among :data:`CANDIDATES`: LightGBM as
  configured, LightGBM with ``linear_tree``, and a blend of the better tree with a logistic
  regression on the same matrix (:class:`~training.linear.LinearScorer`; tree weights
  :data:`BLEND_WEIGHTS`, 0 = the logistic regression alone).  The chosen one is the target's
  :class:`TargetScorer`: one predict path, a raw log-odds margin.
- Early stopping on the validation window; probability calibration (isotonic or Platt) on the
  validation and calibration windows together, fitted on the chosen scorer's raw margin.

Example:
    >>> cfg = TrainConfig(horizon_days=14)
    >>> cfg.to_params()["horizon_days"], cfg.to_params()["split_fractions"]
    (14, '0.5,0.1,0.2,0.2')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.histories import DealHistories
from features.peers import PeerStats
from features.profile import PipelineProfile
from features.schema import FEATURES, FeatureSchema
from training.linear import LinearScorer
from training.reasons import (
    CategoryReference,
    PeerReference,
    category_reference,
    peer_reference,
    top_reasons,
)
from training.scorer import TargetScorer, select_scorer
from training.split import DEFAULT_FRACTIONS

TARGETS: tuple[str, ...] = ("stall", "no_decision", "won")
#: Candidate scorers per target, chosen on the validation window (see :func:`select_scorer`).
CANDIDATES: tuple[str, ...] = ("lightgbm", "lightgbm_linear_tree", "blend")
#: Tree weights tried for the blend with the logistic regression (0: the linear model alone).
BLEND_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
#: Training rows the linear-tree candidate is screened on for monotone violations.
SCREEN_ROWS = 200_000
#: Rows of each class the calibration rows need before the map is isotonic (else Platt).
ISOTONIC_MIN_CLASS = 1_000
#: A target trains only with at least this many rows of each class in its training window.
MIN_CLASS_ROWS = 20
#: Features constrained under ``monotone="timing"``: time stuck, buyer silence, close-date slip.
#: (``"schema"`` also constrains the engagement and committee features; on the 20k simulation,
#: seeds 1-5, it scores within 0.001 stall AUC of ``"timing"`` with a slightly worse
#: no-decision ECE, 0.017 vs 0.015.)
TIMING_FEATURES: frozenset[str] = frozenset({
    "days_in_step", "days_in_step_vs_won", "days_since_forward_move",
    "days_since_buyer_activity", "close_date_pushes", "days_slipped"})
Record = Mapping[str, object]
#: One deal's raw history: (deal, stages, activities, contacts, changes).
DealRecordTuple = tuple[Record, Sequence[Record], Sequence[Record], Sequence[Record],
                        Sequence[Record]]
_SIGNS = {"stall": 1, "no_decision": 1, "won": -1}  # +1: the target is "risk"


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (every field is logged to MLflow)."""

    horizon_days: int = 30
    cadence: str = "7D"
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    n_estimators: int = 2000
    #: Rounds without improvement on the validation window before stopping; 0: no early
    #: stopping, every tree scorer gets ``n_estimators`` rounds (chosen elsewhere, e.g. by CV).
    early_stopping_rounds: int = 100
    early_stopping_min_delta: float = 1e-4
    feature_fraction: float = 0.9
    seed: int = 0
    #: train / valid / calib / test shares of the labelled rows.  The calibration window is as
    #: long as the test window: final-outcome rows only exist for deals that closed inside their
    #: window, so a shorter window over-represents fast closers and calibrates no decision for
    #: the wrong mix (on the 20k simulation, seeds 1-5, 0.2 instead of 0.1 takes the mean
    #: no-decision ECE from 0.021 to 0.015 and moves the mean AUCs by at most 0.001; see
    #: ``benchmarks/bench_models.py --sweep-seeds 1,2,3,4,5 --split-fractions ...``).
    split_fractions: tuple[float, float, float, float] = DEFAULT_FRACTIONS
    monotone: Literal["timing", "schema", "none"] = "timing"
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    max_bin: int = 255
    lambda_l2: float = 1.0
    num_threads: int = 0
    #: Targets to train (each is skipped, with the reason, when its data cannot carry it).
    targets: tuple[str, ...] = TARGETS
    #: Candidate scorers to choose from on the validation window, per target.
    candidates: tuple[str, ...] = CANDIDATES
    #: Features left out on purpose (e.g. a likely leak the guard reported).
    drop_features: tuple[str, ...] = ()
    #: Fit the next-step (effect) model too, when the export records catalogue actions.
    next_steps: bool = True
    #: An action counts as taken when it happens within this many days after a snapshot.
    next_step_window_days: int = 7
    #: Trees per action of the effect model's causal forests (a multiple of 4).
    next_step_trees: int = 100
    #: Training snapshots the effect model uses at most (a random subset beyond).
    next_step_max_rows: int = 40_000

    def to_params(self) -> dict[str, object]:
        """Flat, MLflow-friendly parameters (tuples joined by commas)."""
        return {k: ",".join(map(str, v)) if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}


class Calibrator:
    """Maps a booster's raw score (log-odds) to a calibrated probability.

    ``method``: ``"isotonic"`` (interpolating, monotone), ``"sigmoid"`` (Platt) or
    ``"identity"`` (the booster's own sigmoid; used when the calibration rows have one class).

    Example:
        >>> c = Calibrator("sigmoid").fit(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
        >>> bool(c.predict(np.array([3.0]))[0] > 0.5)
        True
    """

    def __init__(self, method: Literal["isotonic", "sigmoid", "identity"] = "sigmoid") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on raw scores and 0/1 labels; returns self."""
        y = np.asarray(y, dtype=np.float64)
        self.method_ = self.method if len(y) and 0 < y.sum() < len(y) else "identity"
        if self.method_ == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self.model_.fit(margin, y)
        elif self.method_ == "sigmoid":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000)
            self.model_.fit(margin.reshape(-1, 1), y)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities in [0, 1].

        Computed in numpy from the fitted map's own thresholds and coefficients, so one deal
        costs microseconds rather than scikit-learn's input checks.
        """
        margin = np.asarray(margin, dtype=np.float64)
        if self.method_ == "isotonic":
            iso = self.model_
            p = np.interp(np.clip(margin, iso.X_min_, iso.X_max_), iso.X_thresholds_,
                          iso.y_thresholds_)
        elif self.method_ == "sigmoid":
            z = self.model_.coef_[0, 0] * margin + self.model_.intercept_[0]
            p = 1.0 / (1.0 + np.exp(-z))
        else:
            p = 1.0 / (1.0 + np.exp(-margin))
        return np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)


def booster_params(cfg: TrainConfig, n_rows: int) -> dict[str, object]:
    """The LightGBM parameters of a tree scorer fitted on ``n_rows`` rows under ``cfg``.

    Example:
        >>> booster_params(TrainConfig(num_leaves=7), 200)["min_child_samples"]
        10
    """
    return {
        "objective": "binary", "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": int(min(cfg.min_child_samples, max(5, n_rows // 20))),
        "feature_fraction": cfg.feature_fraction, "lambda_l2": cfg.lambda_l2,
        "max_bin": cfg.max_bin, "seed": cfg.seed, "deterministic": True,
        "num_threads": cfg.num_threads, "verbosity": -1, "metric": "binary_logloss",
    }


def feature_matrix(rows: pd.DataFrame, feature_names: list[str],
                   categories: dict[str, list[str]]) -> np.ndarray:
    """Check and convert feature rows to the float32 matrix the boosters were trained on.

    Categorical columns become codes of the training categories (unseen or missing -> NaN).

    Example:
        >>> rows = pd.DataFrame({"deal_id": ["d"], "a": [1.5], "c": ["y"]})
        >>> feature_matrix(rows, ["a", "c"], {"c": ["x", "y"]}).tolist()
        [[1.5, 1.0]]
        >>> feature_matrix(rows[["c", "a"]], ["a", "c"], {"c": ["x", "y"]})
        Traceback (most recent call last):
        ...
        ValueError: feature columns are out of order: expected ['a', 'c'], got ['c', 'a']
    """
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"feature rows must be a pandas DataFrame, not {type(rows).__name__}")
    wanted = set(feature_names)
    missing = [c for c in feature_names if c not in rows.columns]
    if missing:
        raise ValueError(f"feature rows lack {len(missing)} feature column(s): {missing}")
    present = [c for c in rows.columns if c in wanted]
    if present != feature_names:
        raise ValueError(f"feature columns are out of order: expected {feature_names}, "
                         f"got {present}")
    out = np.empty((len(rows), len(feature_names)), dtype=np.float32)
    for j, name in enumerate(feature_names):
        col = rows[name]
        if name in categories:
            codes = pd.Index(categories[name], dtype="object").get_indexer(
                col.astype("object").to_numpy())
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        else:
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                raise ValueError(f"feature column {name!r} must be numeric, got {col.dtype}")
            out[:, j] = col.to_numpy(dtype=np.float32, na_value=np.nan)
    return out


class DealRiskModel:
    """Calibrated stall, no-decision and win probabilities from feature rows (module docstring).

    Example:
        >>> m = DealRiskModel(TrainConfig(n_estimators=50))
        >>> m.targets, m.version
        (('stall', 'no_decision', 'won'), None)
    """

    #: The fitted targets (before fit: the configured ones; skipped targets are left out).
    targets: tuple[str, ...] = TARGETS
    #: Columns the model learns from (class default, so models pickled before it existed load).
    schema: FeatureSchema = FEATURES
    #: What the training pipeline's export records (class default: everything).
    profile: PipelineProfile = PipelineProfile()
    #: Targets the training data could not carry, with the reason.
    skipped: ClassVar[dict[str, str]] = {}
    #: Warnings of the training run (set by the pipeline; shown wherever the model is used).
    warnings: tuple[str, ...] = ()
    #: Peer references (won-step medians, owner and account track records) frozen at the
    #: training data's end, so one deal's history can be scored alone (:meth:`freeze_peers`).
    peer_stats: PeerStats | None = None
    #: The time the frozen peer references are valid for (the training export time).
    peers_known_until: pd.Timestamp | None = None
    #: The next-step model (``training.next_step.next_step_model.NextStepModel``), or None
    #: with :attr:`next_steps_note` saying why there is none.
    next_steps: object | None = None
    next_steps_note: str = ("no next-step model: this model was trained before next-step "
                            "recommendations existed; retrain it")

    def __init__(self, config: TrainConfig | None = None,
                 schema: FeatureSchema | None = None,
                 profile: PipelineProfile | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        self.targets = tuple(self.config.targets)
        self.skipped = {}
        self.version: str | None = None
        if profile is not None:
            self.profile = profile
        if schema is not None:
            self.schema = schema
        elif profile is not None:
            self.schema = profile.schema()

    @property
    def left_out(self) -> dict[str, str]:
        """Features left out (the export cannot give them point-in-time, or dropped), why."""
        out = self.profile.left_out()
        for name in getattr(self.config, "drop_features", ()):
            out.setdefault(name, "dropped at training (--drop-feature)")
        return out

    @property
    def risk_target(self) -> str:
        """The target the ranking and the reasons are about: no decision, else won, else stall.

        Example:
            >>> m = DealRiskModel()
            >>> m.targets = ("stall", "won")
            >>> m.risk_target
            'won'
        """
        for target in ("no_decision", "won", "stall"):
            if target in self.targets:
                return target
        return self.targets[0] if self.targets else "stall"

    def mismatch(self, profile: PipelineProfile) -> list[str]:
        """Why this model cannot score a pipeline with ``profile`` ([] when it can).

        It cannot when the pipeline lacks a context field the model learned from, or leaves
        out a feature the model uses (its export cannot give it point-in-time).

        Example:
            >>> DealRiskModel().mismatch(PipelineProfile(tracked_fields=("amount",)))[0][:60]
            'the pipeline cannot give 5 features the model learned from ('
        """
        problems = []
        missing = [n for n in self.schema.names if n not in profile.schema().names]
        if missing:
            problems.append(f"the pipeline has no {', '.join(missing)} (context fields the "
                            "model learned from)")
        used = [n for n in profile.left_out() if n not in self.left_out
                and n in self.schema.names]
        if used:
            problems.append(f"the pipeline cannot give {len(used)} features the model learned "
                            f"from ({', '.join(used)})")
        return problems

    def freeze_peers(self, peers: PeerStats, known_until: pd.Timestamp) -> DealRiskModel:
        """Keep the training histories' peer references, valid up to ``known_until``; self.

        They travel inside the registered artifact, so a service scores one raw deal history
        (:meth:`score_deal`) with the references ``dealrisk rank --peers model`` uses.
        """
        self.peer_stats = peers
        self.peers_known_until = pd.Timestamp(known_until)
        return self

    def _matrix(self, rows: pd.DataFrame) -> np.ndarray:
        """The checked feature matrix with the left-out features emptied."""
        x = feature_matrix(rows, self.feature_names_, self.categories_)
        return self._empty_left_out(x)

    def _empty_left_out(self, x: np.ndarray) -> np.ndarray:
        for name in self.left_out:
            if name in self.feature_names_:
                x[:, self.feature_names_.index(name)] = np.nan
        return x

    def record_matrix(self, rows: Sequence[Record]) -> np.ndarray:
        """The float32 matrix of feature rows given as dicts (the live path, no pandas).

        Equals :func:`feature_matrix` of the same rows as a DataFrame: categoricals become
        codes of the training categories (unseen or missing -> NaN), the left-out features are
        emptied.  A row lacking a feature column is a ``ValueError``.
        """
        self._check_fitted()
        codes = self.__dict__.get("_category_codes")
        if codes is None:
            codes = {c: {v: float(i) for i, v in enumerate(values)}
                     for c, values in self.categories_.items()}
            self.__dict__["_category_codes"] = codes
        x = np.empty((len(rows), len(self.feature_names_)), dtype=np.float32)
        for i, row in enumerate(rows):
            missing = [n for n in self.feature_names_ if n not in row]
            if missing:
                raise ValueError(f"feature row {i} lacks {len(missing)} feature(s): {missing}")
            x[i] = [codes[n].get(str(row[n]), np.nan) if n in codes else
                    (np.nan if row[n] is None else row[n]) for n in self.feature_names_]
        return self._empty_left_out(x)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_category_codes", None)  # a cache, rebuilt on first use
        return state

    # ----------------------------------------------------------------------------- fitting
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame,
            calib: pd.DataFrame | None = None,
            progress: Callable[[str], None] | None = None) -> DealRiskModel:
        """Fit, choose and calibrate a scorer per target; returns self.

        Candidates learn ``label_<target>`` on ``train``, boosters early-stopped on ``valid``;
        the one with the best ``valid`` ROC AUC is kept and calibrated on ``valid`` + ``calib``
        (:func:`calibration_method`): isotonically under ``calibration="auto"`` when those rows
        hold at least :data:`ISOTONIC_MIN_CLASS` of each class, else with a two-parameter Platt
        map.  Two windows rather than the calibration window alone, because a map fitted on
        one window also learns that window's swing in the base rate: on BPIC 2012's daily
        snapshots the stall rate is 0.847 / 0.840 / 0.828 in the valid / calib / test windows
        and the calibration window alone took the test stall ECE to 0.034 (both windows:
        0.023); on the 20k simulation, seeds 1-5 (``benchmarks/bench_models.py --skip-1m
        --no-next-steps --sweep-seeds 1,2,3,4,5``), both windows give a mean test ECE of 0.012
        / 0.016 / 0.016 for stall / no decision / won against 0.013 / 0.018 / 0.014 from the
        calibration window alone, and the same AUCs.  A target whose windows cannot carry it
        is skipped (:attr:`skipped`).
        """
        cfg = self.config
        self.feature_names_ = list(self.schema.names)
        self.categories_ = {
            c: sorted(str(v) for v in pd.unique(train[c].dropna().astype("object")))
            for c in self.schema.categorical}
        self.categorical_indices_ = [self.feature_names_.index(c) for c in self.categories_]
        x_train = self._matrix(train)
        x_valid = self._matrix(valid)
        calib = calib if calib is not None else valid.iloc[:0]
        both = pd.concat([valid, calib]) if len(calib) else valid
        x_both = self._matrix(both)
        won = train["label_won"].to_numpy(dtype=np.float64) == 1 if "label_won" in train \
            else np.zeros(len(train), dtype=bool)
        self.peer_reference_: PeerReference = peer_reference(train, won, schema=self.schema)
        self.scorers_: dict[str, TargetScorer] = {}
        self.calibrators_: dict[str, Calibrator] = {}
        self.best_iteration_: dict[str, int] = {}
        self.fit_info_: dict[str, dict[str, object]] = {}
        self.rejected_candidates_: dict[str, dict[str, str]] = {}
        self.skipped = {}
        fitted = []
        for target in cfg.targets:
            column = f"label_{target}"
            y_tr, keep_tr = _labels(train, column)
            y_va, keep_va = _labels(valid, column)
            y_ca, keep_ca = _labels(both, column)
            method = calibration_method(y_ca, cfg.calibration)
            why = untrainable(target, {"training": y_tr, "validation": y_va,
                                       "calibration": y_ca})
            if why:
                self.skipped[target] = why
                continue
            if progress is not None:
                progress(f"train {target}")
            scorer, aucs = self._fit_scorer(target, x_train[keep_tr], y_tr, x_valid[keep_va],
                                            y_va)
            self.scorers_[target] = scorer
            margin = scorer.margin(x_both[keep_ca])
            self.calibrators_[target] = Calibrator(method).fit(margin, y_ca)
            self.fit_info_[target] = {
                "train_rows": len(y_tr), "valid_rows": len(y_va),
                "calib_rows": len(y_ca), "best_iteration": self.best_iteration_[target],
                "calibration": self.calibrators_[target].method_,
                "scorer": scorer.describe(), "valid_auc": aucs,
                "rejected": self.rejected_candidates_.get(target, {})}
            fitted.append(target)
        self.targets = tuple(fitted)
        self.category_reference_ = self._category_reference(train)
        return self

    def _category_reference(self, train: pd.DataFrame) -> CategoryReference:
        """Per-category rates of the ranking risk among training rows (for the reasons)."""
        target = self.risk_target
        y, keep = _labels(train, f"label_{target}")
        if _SIGNS.get(target, 1) < 0:
            y = 1.0 - y
        return category_reference(train[keep], y, self.schema,
                                  risk="not_won" if target == "won" else target)

    def _fit_scorer(self, target: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
                    yv: np.ndarray) -> tuple[TargetScorer, dict[str, float]]:
        """Fit the candidates and keep the best on the validation window."""
        candidates = self.config.candidates
        boosters = {"lightgbm": self._fit_booster(target, x, y, xv, yv)}
        best_iteration = {"lightgbm": self.best_iteration_[target]}
        rejected: dict[str, str] = {}
        if "lightgbm_linear_tree" in candidates:
            booster, why = self._fit_linear_tree(target, x, y, xv, yv)
            if why:
                rejected["lightgbm_linear_tree"] = why
            else:
                boosters["lightgbm_linear_tree"] = booster
                best_iteration["lightgbm_linear_tree"] = self.best_iteration_[target]
        scorers = {name: TargetScorer(name, b, explainer=boosters["lightgbm"])
                   for name, b in boosters.items()}
        margins = {name: s.margin(xv) for name, s in scorers.items()}
        if "blend" in candidates:
            tree, _ = select_scorer(margins, yv)
            monotone = (self.monotone_constraints(target) if self.config.monotone != "none"
                        else None)
            linear = LinearScorer(self.categorical_indices_, seed=self.config.seed,
                                  monotone=monotone).fit(x, y)
            for w in BLEND_WEIGHTS:
                name = f"{tree}+logreg@{w:g}"
                scorers[name] = TargetScorer(tree, boosters[tree], linear=linear, weight=w,
                                             explainer=boosters["lightgbm"])
                margins[name] = scorers[name].margin(xv)
        allowed = {k: v for k, v in margins.items()
                   if ("blend" if "+" in k else k) in candidates} or margins
        chosen, aucs = select_scorer(allowed, yv)
        self.best_iteration_[target] = best_iteration.get(chosen.split("+")[0], 0)
        self.rejected_candidates_[target] = rejected
        return scorers[chosen], aucs

    def _fit_linear_tree(self, target: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
                         yv: np.ndarray) -> tuple[lgb.Booster | None, str]:
        """The linear-tree candidate, or why it cannot be used.

        LightGBM's leaf models ignore monotone constraints, so under constraints it is first
        screened on at most :data:`SCREEN_ROWS` training rows (a seeded sample) and rejected
        when its margin moves against a constraint; only a candidate that passes is fitted on
        every row (a linear-tree fit costs about as much as the plain one).
        """
        if self.config.monotone != "none":
            pick = np.arange(len(y))
            if len(y) > SCREEN_ROWS:
                pick = np.sort(np.random.default_rng(self.config.seed).choice(
                    len(y), SCREEN_ROWS, replace=False))
            screen = self._fit_booster(target, x[pick], y[pick], xv, yv, linear_tree=True)
            broken = monotone_violations(TargetScorer("lightgbm_linear_tree", screen), xv,
                                         self.monotone_constraints(target), x)
            if broken:
                names = ", ".join(self.feature_names_[j] for j in broken)
                return None, f"breaks the monotone constraints on {names}"
            if len(pick) == len(y):
                return screen, ""
        return self._fit_booster(target, x, y, xv, yv, linear_tree=True), ""

    def monotone_constraints(self, target: str) -> list[int]:
        """Per-feature monotone constraint for ``target`` (+1 riskier when higher, 0 unknown).

        Example:
            >>> c = DealRiskModel().monotone_constraints("stall")
            >>> c[FEATURES.names.index("days_since_buyer_activity")]
            1
        """
        sign = _SIGNS.get(target, 1)
        mode = self.config.monotone
        return [0 if f.higher_is_riskier is None or f.dtype == "category" or mode == "none"
                or (mode == "timing" and f.name not in TIMING_FEATURES)
                else sign * (1 if f.higher_is_riskier else -1) for f in self.schema]

    def _fit_booster(self, target: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
                     yv: np.ndarray, linear_tree: bool = False) -> lgb.Booster:
        cfg = self.config
        params = booster_params(cfg, len(y))
        if linear_tree:
            params.update(linear_tree=True, linear_lambda=1.0)
        if cfg.monotone != "none":
            params["monotone_constraints"] = self.monotone_constraints(target)
            params["monotone_constraints_method"] = "intermediate"
        data_params = {"max_bin": cfg.max_bin, "verbosity": -1, "linear_tree": linear_tree}
        train_set = lgb.Dataset(x, y, categorical_feature=self.categorical_indices_,
                                feature_name=self.feature_names_, free_raw_data=True,
                                params=data_params)
        rounds = cfg.n_estimators
        callbacks = []
        valid_sets = []
        if len(yv) and cfg.early_stopping_rounds > 0:
            valid_sets = [lgb.Dataset(xv, yv, reference=train_set, params=data_params)]
            callbacks.append(lgb.early_stopping(cfg.early_stopping_rounds, verbose=False,
                                                min_delta=cfg.early_stopping_min_delta))
        elif not len(yv):  # no validation window: a short, fixed number of rounds
            rounds = min(rounds, 100)
        booster = lgb.train(params, train_set, num_boost_round=rounds, valid_sets=valid_sets,
                            callbacks=callbacks)
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        self.best_iteration_[target] = int(best)
        # keep only the trees up to the best iteration (predict and contrib use all of them)
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))

    # --------------------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "scorers_"):
            raise RuntimeError("DealRiskModel is not fitted; call fit() first")

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Calibrated probabilities: ``<target>_risk`` per fitted target, aligned to ``rows``.

        (``won_risk`` is the win probability.)
        """
        self._check_fitted()
        x = self._matrix(rows)
        return pd.DataFrame({f"{t}_risk": self.predict_matrix(x, t) for t in self.targets},
                            index=rows.index)

    def predict_matrix(self, x: np.ndarray, target: str) -> np.ndarray:
        """Calibrated probability of ``target`` for an already checked float32 matrix."""
        if not len(x):
            return np.zeros(0)
        return self.calibrators_[target].predict(self.scorers_[target].margin(x))

    def contributions(self, rows: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
        """Per-feature contributions (log-odds) towards the risk of ``target``.

        ``target`` defaults to :attr:`risk_target`; for ``won`` the signs are flipped (the risk
        of not winning).  The column ``bias`` holds the expected value.
        """
        self._check_fitted()
        target = target or self.risk_target
        x = self._matrix(rows)
        out = np.zeros((len(rows), len(self.feature_names_) + 1))
        if target in self.scorers_:
            out = _SIGNS.get(target, 1) * self.scorers_[target].contributions(x)
        return pd.DataFrame(out, columns=[*self.feature_names_, "bias"], index=rows.index)

    def explain(self, rows: pd.DataFrame, top_k: int = 3, target: str | None = None
                ) -> list[list[str]]:
        """Plain-words reasons per row, strongest first, for the risk of ``target``.

        Only features that raise this deal's risk by a material amount count (see
        :func:`training.reasons.top_reasons`); each says the deal's value and, where one
        exists, its like-for-like reference.
        """
        return self.explain_matrix(self._matrix(rows), rows, top_k, target)

    def explain_matrix(self, x: np.ndarray, rows: pd.DataFrame | Sequence[Record],
                       top_k: int = 3, target: str | None = None) -> list[list[str]]:
        """:meth:`explain` for an already checked matrix ``x`` of ``rows`` (frame or dicts)."""
        self._check_fitted()
        target = target or self.risk_target
        contrib = np.zeros((len(x), len(self.feature_names_) + 1))
        if target in self.scorers_:
            contrib = _SIGNS.get(target, 1) * self.scorers_[target].contributions(x)
        return top_reasons(contrib[:, :-1], rows, self.feature_names_, self.peer_reference_,
                           top_k, schema=self.schema, margin=contrib.sum(axis=1),
                           categories=getattr(self, "category_reference_", None))

    def score_deal(self, deal: Record, stages: Sequence[Record] = (),
                   activities: Sequence[Record] = (), contacts: Sequence[Record] = (),
                   changes: Sequence[Record] = (), *, as_of: pd.Timestamp,
                   compare_days: int = 7, top_k: int = 3) -> dict[str, object]:
        """One open deal's ranking row from its raw history alone, with the frozen peers.

        The fields of a :func:`training.ranking.rank_open_deals` row (without ``rank``) plus
        ``warnings``; see :func:`training.live_scoring.score_deal`.
        """
        from training.live_scoring import score_deal

        return score_deal(self, deal, stages, activities, contacts, changes, as_of=as_of,
                          compare_days=compare_days, top_k=top_k)

    def rank(self, histories: DealHistories, as_of: pd.Timestamp, *, compare_days: int = 7,
             frozen_peers: bool = True) -> pd.DataFrame:
        """The manager ranking of the deals open at ``as_of``, as ``dealrisk rank`` makes it.

        ``frozen_peers``: with the peer references frozen in the model (the service's), else
        with references rebuilt from ``histories``.
        """
        from training.ranking import rank_open_deals

        return rank_open_deals(self, histories, as_of, compare_days=compare_days,
                               peers=self.peer_stats if frozen_peers else None)

    def score(self, histories: DealHistories, as_of: pd.Timestamp, top_k: int = 3, *,
              peers: PeerStats | None = None, explain: bool = True) -> pd.DataFrame:
        """Score every deal open at ``as_of``: deal_id, as_of, features, risks and reasons.

        Features are built with ``peers``, by default peer references from ``histories``
        itself (:meth:`features.peers.PeerStats.from_histories`, as-of correct), so pass the
        full histories known at ``as_of``; :attr:`peer_stats` are the frozen training ones.
        ``explain=False`` leaves out the reasons (their contributions are most of the cost).
        """
        from features.build import build_features

        rows = build_features(histories, as_of, peers=peers)
        risks = self.predict(rows)
        out = pd.concat([rows, risks], axis=1)
        if explain:
            out["reasons"] = self.explain(rows, top_k) if len(rows) else []
        return out

    def score_deals(self, deals: Sequence[DealRecordTuple], *, as_of: pd.Timestamp,
                    compare_days: int = 7) -> list[dict[str, object] | ValueError]:
        """:meth:`score_deal` for many deals at one ``as_of`` in one vectorised pass.

        Each item of ``deals`` is (deal, stages, activities, contacts, changes); each result
        is that deal's row or the error saying why it cannot be scored, in order; see
        :func:`training.live_scoring.score_deals`.
        """
        from training.live_scoring import score_deals

        return score_deals(self, deals, as_of=as_of, compare_days=compare_days)

    def recommend(self, rows: pd.DataFrame, activities: pd.DataFrame | None,
                  x: np.ndarray | None = None) -> list:
        """Next steps for scored feature rows (deal_id, as_of, current_step, features).

        One :class:`~training.next_step.recommend.DealRecommendations` per row; without a
        next-step model each says why (:attr:`next_steps_note`).  ``x``: the rows' feature
        matrix when the caller has it.
        """
        from training.next_step.recommend import DealRecommendations

        if self.next_steps is None:
            return [DealRecommendations([], self.next_steps_note) for _ in range(len(rows))]
        if not len(rows):
            return []
        matrix = self._matrix(rows[self.feature_names_]) if x is None else x
        return self.next_steps.recommend_rows(rows, matrix, activities)

    def feature_importance(self, kind: Literal["gain", "split"] = "gain") -> pd.DataFrame:
        """Importance per feature (rows) and target (columns), sorted by their sum."""
        self._check_fitted()
        frame = pd.DataFrame({t: s.feature_importance(kind) for t, s in self.scorers_.items()},
                             index=self.feature_names_)
        return frame.loc[frame.sum(axis=1).sort_values(ascending=False).index]


def monotone_violations(scorer: TargetScorer, x: np.ndarray, constraints: list[int],
                        reference: np.ndarray, rows: int = 300, points: int = 6) -> list[int]:
    """The constrained features along which ``scorer``'s margin moves the wrong way.

    Each constrained feature is set, on up to ``rows`` rows of ``x``, to ``points`` quantiles
    of its values in ``reference`` (everything else fixed), as the directional tests do.
    """
    sample = x[:rows]
    broken = []
    for j, sign in enumerate(constraints):
        values = reference[:, j][~np.isnan(reference[:, j])]
        if sign == 0 or not len(values) or not len(sample):
            continue
        grid = np.unique(np.quantile(values, np.linspace(0, 1, points)))
        margins = []
        for value in grid:
            varied = sample.copy()
            varied[:, j] = value
            margins.append(scorer.margin(varied))
        if (sign * np.diff(np.stack(margins), axis=0) < -1e-9).any():
            broken.append(j)
    return broken


def calibration_method(y: np.ndarray, method: str) -> str:
    """How a target is calibrated on its calibration rows' 0/1 labels ``y``.

    ``"auto"``: isotonic when ``y`` holds at least :data:`ISOTONIC_MIN_CLASS` rows of each
    class, else Platt (``"sigmoid"``), whose two parameters few rows can carry; any other
    ``method`` is kept.

    Example:
        >>> calibration_method(np.array([0.0, 1.0, 0.0, 1.0]), "auto")
        'sigmoid'
        >>> calibration_method(np.r_[np.zeros(1000), np.ones(1000)], "auto")
        'isotonic'
        >>> calibration_method(np.r_[np.zeros(1000), np.ones(1000)], "sigmoid")
        'sigmoid'
    """
    if method != "auto":
        return method
    enough = len(y) and min(y.sum(), len(y) - y.sum()) >= ISOTONIC_MIN_CLASS
    return "isotonic" if enough else "sigmoid"


def untrainable(target: str, windows: dict[str, np.ndarray],
                min_class_rows: int = MIN_CLASS_ROWS) -> str:
    """Why ``target`` cannot be trained from its windows' 0/1 labels ("" when it can).

    Example:
        >>> untrainable("no_decision", {"training": np.zeros(500), "validation": np.zeros(9)})
        'no_decision: skipped, no training row has the outcome (500 rows, all negative)'
        >>> untrainable("won", {"training": np.r_[np.ones(30), np.zeros(30)],
        ...                     "validation": np.r_[1.0, 0.0]})
        ''
    """
    y = windows["training"]
    positives = int(y.sum())
    if positives == 0:
        return (f"{target}: skipped, no training row has the outcome "
                f"({len(y):,} rows, all negative)")
    if positives < min_class_rows or len(y) - positives < min_class_rows:
        return (f"{target}: skipped, too few training rows of a class ({positives:,} "
                f"positive, {len(y) - positives:,} negative; at least {min_class_rows} of each "
                "are needed)")
    for name, labels in windows.items():
        if name != "training" and (not len(labels) or labels.min() == labels.max()):
            return (f"{target}: skipped, the {name} window has "
                    f"{'one class only' if len(labels) else 'no labelled rows'}")
    return ""


def _labels(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    if column not in rows:
        return np.zeros(0), np.zeros(len(rows), dtype=bool)
    y = rows[column].to_numpy(dtype=np.float64, na_value=math.nan)
    keep = ~np.isnan(y)
    return y[keep], keep
