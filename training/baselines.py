"""Baselines logged beside every model: the stage-age rule, logistic regression, the oracle.

- :class:`StageAgeRule` — the CRM-style risk flag: days in the current step over the median
  days won deals spent in that step (the feature ``days_in_step_vs_won``); probabilities from a
  monotone logistic map of ``log1p(ratio)`` fitted on the training rows (ranking unchanged).
- :class:`LogRegBaseline` — logistic regression on the same features: numeric columns imputed
  (median, plus missing indicators), ``log1p``-compressed when non-negative, and scaled;
  categoricals one-hot (unknown categories ignored).  Fitted on the training split only.
- :func:`oracle_scores` — on simulator data, the ground-truth probabilities of the hidden state
  each snapshot was in (``truth/daily.parquet``).

Example:
    >>> import numpy as np, pandas as pd
    >>> rows = pd.DataFrame({"days_in_step_vs_won": [0.5, 1.0, 3.0, 4.0],
    ...                      "label_stall": [0.0, 0.0, 1.0, 1.0]})
    >>> rule = StageAgeRule().fit(rows, "label_stall")
    >>> bool(np.all(np.diff(rule.predict_proba(rows)) > 0))
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from features.schema import FEATURES, FeatureSchema

RULE_FEATURE = "days_in_step_vs_won"
MS_PER_DAY = 86_400_000
#: Simulator: a day's hidden transitions happen at 16:00 + 120 s + U * 7000 s (see journey.py).
_TRANSITION_START_S = 16 * 3600 + 120
_TRANSITION_SPREAD_S = 7000


def _labels(rows: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    y = rows[label].to_numpy(dtype=np.float64, na_value=np.nan)
    keep = ~np.isnan(y)
    return y[keep].astype(np.int8), keep


class StageAgeRule:
    """Risk = days in step over the won-deal median for that step (missing -> 1, typical).

    Example:
        >>> StageAgeRule().score(pd.DataFrame({"days_in_step_vs_won": [2.0, np.nan]})).tolist()
        [2.0, 1.0]
    """

    def __init__(self, feature: str = RULE_FEATURE) -> None:
        self.feature = feature

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        """The rule's raw risk score (the ratio)."""
        ratio = rows[self.feature].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(ratio), 1.0, np.maximum(ratio, 0.0))

    def fit(self, rows: pd.DataFrame, label: str) -> StageAgeRule:
        """Fit the score -> probability map on labelled training rows; returns self."""
        y, keep = _labels(rows, label)
        x = np.log1p(self.score(rows)[keep]).reshape(-1, 1)
        self.two_classes_ = bool(len(y) and 0 < y.sum() < len(y))
        self.base_rate_ = float(y.mean()) if len(y) else 0.5
        if self.two_classes_:
            self.map_ = LogisticRegression(max_iter=1000).fit(x, y)
        return self

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Probability of the label (increasing in the score)."""
        x = np.log1p(self.score(rows)).reshape(-1, 1)
        if not self.two_classes_ or not len(x):
            return np.full(len(x), self.base_rate_) + 1e-9 * x[:, 0]
        return self.map_.predict_proba(x)[:, 1]


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class LogRegBaseline:
    """Logistic regression on the schema's features (see the module docstring).

    Example:
        >>> LogRegBaseline(C=0.5).C
        0.5
    """

    def __init__(self, C: float = 1.0, max_iter: int = 300,
                 schema: FeatureSchema = FEATURES) -> None:
        self.C = C
        self.max_iter = max_iter
        self.schema = schema

    def _pipeline(self) -> Pipeline:
        numeric = [f.name for f in self.schema if f.dtype != "category"]
        categorical = self.schema.categorical
        num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                          keep_empty_features=True),
                            FunctionTransformer(_signed_log), StandardScaler())
        cat = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                            OneHotEncoder(handle_unknown="ignore", min_frequency=20))
        prep = ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)])
        return Pipeline([("prep", prep),
                         ("clf", LogisticRegression(C=self.C, max_iter=self.max_iter))])

    def _frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        frame = rows[self.schema.names].copy()
        for c in self.schema.categorical:
            frame[c] = frame[c].astype("object").where(frame[c].notna(), "missing")
        return frame

    def fit(self, rows: pd.DataFrame, label: str) -> LogRegBaseline:
        """Fit on labelled training rows; returns self."""
        y, keep = _labels(rows, label)
        self.base_rate_ = float(y.mean()) if len(y) else 0.5
        self.two_classes_ = bool(len(y) and 0 < y.sum() < len(y))
        if self.two_classes_:
            self.pipeline_ = self._pipeline().fit(self._frame(rows[keep]), y)
        return self

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Probability of the label."""
        if not self.two_classes_ or not len(rows):
            return np.full(len(rows), self.base_rate_)
        return self.pipeline_.predict_proba(self._frame(rows))[:, 1]


def oracle_scores(truth_daily: pd.DataFrame, rows: pd.DataFrame, *,
                  seed: int | None = None,
                  columns: tuple[str, ...] = ("p_stall", "p_no_decision", "p_won"),
                  ) -> pd.DataFrame:
    """Ground-truth probabilities (``p_stall``, ``p_no_decision``, ``p_won``) per snapshot row.

    ``columns`` picks other per-day truth columns instead (e.g. ``engaged``, the hidden state),
    aligned the same way.

    A ``truth/daily.parquet`` row (deal_id, date) is the hidden state at the **end** of that
    UTC calendar day.  The simulator moves a deal's hidden state once a day, at
    ``16:00:00 + 120 s + U * 7000 s`` UTC with ``U = uniform(seed, deal index, day,
    Stream.CHANGE_TIME)``.  So the state at ``as_of`` is the row of ``as_of``'s date when
    ``as_of`` is at or after that day's transition, else the row of the day before.  With
    ``seed`` the transition time is recomputed exactly; without it, snapshots between 16:02 and
    17:59 (where the transition may or may not have happened) use the day before (never a state
    the features could not yet have seen).  ``seed`` defaults to ``truth_daily.attrs["seed"]``.

    Example:
        >>> import datetime as dt
        >>> truth = pd.DataFrame({"deal_id": ["d", "d"], "date": [dt.date(2024, 1, 7),
        ...     dt.date(2024, 1, 8)], "day": [6, 7], "p_stall": [0.1, 0.2],
        ...     "p_no_decision": [0.3, 0.4], "p_won": [0.5, 0.6]})
        >>> rows = pd.DataFrame({"deal_id": ["d"],
        ...                      "as_of": [pd.Timestamp("2024-01-08 09:00", tz="UTC")]})
        >>> oracle_scores(truth, rows)["p_no_decision"].tolist()   # 09:00: before the move
        [0.3]
    """
    seed = seed if seed is not None else truth_daily.attrs.get("seed")
    as_of = rows["as_of"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    day_num = as_of // MS_PER_DAY
    second = (as_of % MS_PER_DAY) / 1000.0
    truth_day = (pd.to_datetime(truth_daily["date"]).astype("datetime64[s]")
                 .astype("int64").to_numpy() // 86_400)
    deal_ids = rows["deal_id"].astype("str").to_numpy()
    if seed is not None:
        from training.simulator.rng import Stream, uniform
        from training.simulator.sf_export import deal_index_from_id

        created_day = (pd.Series(truth_day - truth_daily["day"].to_numpy(), copy=False)
                       .groupby(truth_daily["deal_id"].astype("str").to_numpy()).first())
        offset = day_num - created_day.reindex(deal_ids).to_numpy(dtype=np.float64, na_value=-1)
        g = deal_index_from_id(deal_ids)
        u = uniform(int(seed), g, np.maximum(offset, 0).astype(np.int64), Stream.CHANGE_TIME)
        moved = second >= _TRANSITION_START_S + np.floor(u * _TRANSITION_SPREAD_S)
    else:
        moved = second >= _TRANSITION_START_S + _TRANSITION_SPREAD_S
    state_day = day_num - (~moved).astype(np.int64)
    key_truth = pd.MultiIndex.from_arrays([truth_daily["deal_id"].astype("str").to_numpy(),
                                           truth_day])
    pos = key_truth.get_indexer(pd.MultiIndex.from_arrays([deal_ids, state_day]))
    out = pd.DataFrame(index=rows.index)
    for col in columns:
        values = truth_daily[col].to_numpy(dtype=np.float64)
        out[col] = np.where(pos >= 0, values[np.maximum(pos, 0)], np.nan)
    return out
