"""Logistic regression on the model's float32 feature matrix, predicted in numpy.

The linear part of a blended :class:`~training.model.DealRiskModel` target.  It reads the same
checked matrix as the boosters (categoricals as codes of the training categories, missing as
NaN), so the model keeps one predict path, and per-request scoring is a matrix product:

- numeric columns: missing values imputed with the training median plus a missing indicator
  (for columns with missing values in training), ``sign(x) * log1p(|x|)``, standardised;
- categorical columns: one indicator per training category seen at least ``min_frequency``
  times (rarer, unseen and missing categories: all indicators 0);
- monotone constraints (``monotone``, per input feature as in LightGBM: +1 the log-odds may only
  rise with the value, -1 only fall): a constrained column whose coefficient comes out with the
  forbidden sign is left out and the model refitted, so the blend keeps the trees' directions;
- fitted by scikit-learn's ``LogisticRegression`` (L2, ``C``) on at most ``max_rows`` training
  rows (a seeded sample: a hundred or so coefficients gain nothing from more rows, and the 1M-row
  fit stays fast).

:meth:`LinearScorer.contributions` splits the log-odds per input feature, relative to the
training mean (the ``bias``), so reasons can explain a blend exactly.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)).astype(np.float32)
    >>> x[:, 1] = rng.integers(0, 3, 400)
    >>> y = (x[:, 0] + (x[:, 1] == 2) + rng.normal(scale=0.5, size=400) > 0.5).astype(float)
    >>> s = LinearScorer(categorical=[1]).fit(x, y)
    >>> bool(np.allclose(s.contributions(x[:5]).sum(1) + s.bias_, s.decision(x[:5])))
    True
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


class LinearScorer:
    """Logistic regression on a float32 feature matrix (see the module docstring)."""

    def __init__(self, categorical: list[int] | None = None, *, C: float = 1.0,
                 max_iter: int = 300, max_rows: int = 200_000, min_frequency: int = 20,
                 seed: int = 0, monotone: list[int] | None = None) -> None:
        self.categorical = list(categorical or [])
        self.monotone = list(monotone or [])
        self.C = C
        self.max_iter = max_iter
        self.max_rows = max_rows
        self.min_frequency = min_frequency
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearScorer:
        """Fit on a float32 matrix and 0/1 labels (both classes present); returns self."""
        if len(y) > self.max_rows:
            pick = np.sort(np.random.default_rng(self.seed).choice(len(y), self.max_rows,
                                                                   replace=False))
            x, y = x[pick], y[pick]
        n_features = x.shape[1]
        cats = set(self.categorical)
        self.numeric_ = [j for j in range(n_features) if j not in cats]
        num = x[:, self.numeric_].astype(np.float64)
        missing = np.isnan(num)
        with np.errstate(all="ignore"):
            median = np.nanmedian(np.where(missing.all(0), 0.0, num), axis=0)
        self.median_ = np.where(np.isnan(median), 0.0, median)
        self.indicators_ = [k for k in range(len(self.numeric_)) if missing[:, k].any()]
        self.levels_: list[tuple[int, np.ndarray]] = []
        for j in self.categorical:
            codes, counts = np.unique(x[:, j][~np.isnan(x[:, j])], return_counts=True)
            self.levels_.append((j, codes[counts >= self.min_frequency]))
        self.__dict__.pop("_columns_cache", None)
        raw = self._raw(x)
        self.mean_ = raw.mean(0)
        std = raw.std(0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.owner_ = self._owners(n_features)
        z = (raw - self.mean_) / self.scale_
        # monotone constraints: a value column whose coefficient has the forbidden sign is
        # left out and the model refitted (at most once per constrained column)
        sign = np.zeros(z.shape[1])
        for k, j in enumerate(self.numeric_):
            if j < len(self.monotone):
                sign[k] = self.monotone[j]
        active = np.ones(z.shape[1], dtype=bool)
        while True:
            clf = LogisticRegression(C=self.C, max_iter=self.max_iter)
            clf.fit(z[:, active], y)
            w = np.zeros(z.shape[1])
            w[active] = clf.coef_[0]
            wrong = active & (sign * w < 0)
            if not wrong.any():
                break
            active &= ~wrong
        self.coef_ = w / self.scale_
        self.intercept_ = float(clf.intercept_[0]) - float(self.coef_ @ self.mean_)
        self.bias_ = float(self.intercept_ + self.coef_ @ self.mean_)
        self.n_features_ = n_features
        return self

    def _raw(self, x: np.ndarray) -> np.ndarray:
        """The unscaled design matrix: log-compressed numeric, indicators, one-hot."""
        numeric, indicators, level_columns, level_codes = self._columns()
        num = x[:, numeric].astype(np.float64)
        missing = np.isnan(num)
        filled = np.where(missing, self.median_, num)
        out = np.empty((len(x), len(numeric) + len(indicators) + len(level_columns)))
        return np.concatenate([np.sign(filled) * np.log1p(np.abs(filled)),  # row-major, as
                               missing[:, indicators],  # the sums over its rows expect
                               x[:, level_columns] == level_codes], axis=1, out=out)

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Index arrays of the design: numeric columns, indicators, each one-hot's column, code.

        Made once, so a request's few rows cost a few numpy calls, not one per level.
        """
        cached = self.__dict__.get("_columns_cache")
        if cached is None:
            levels = [(j, codes) for j, codes in self.levels_ if len(codes)]
            cached = (np.asarray(self.numeric_, dtype=np.int64),
                      np.asarray(self.indicators_, dtype=np.int64),
                      np.asarray([j for j, codes in levels for _ in codes], dtype=np.int64),
                      np.concatenate([codes for _, codes in levels]) if levels
                      else np.zeros(0))
            self.__dict__["_columns_cache"] = cached
        return cached

    def _owners(self, n_features: int) -> np.ndarray:
        """For each design column, the input feature it comes from."""
        owners = list(self.numeric_)
        owners += [self.numeric_[k] for k in self.indicators_]
        for j, codes in self.levels_:
            owners += [j] * len(codes)
        return np.asarray(owners, dtype=np.int64)

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of the label for each row."""
        return self._raw(x) @ self.coef_ + self.intercept_

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per input feature log-odds contributions, relative to the training mean.

        ``contributions(x).sum(1) + bias_ == decision(x)``.
        """
        parts = (self._raw(x) - self.mean_) * self.coef_
        out = np.zeros((len(x), self.n_features_))
        np.add.at(out.T, self.owner_, parts.T)
        return out
