"""Metrics of risk scores against binary labels: ROC AUC, PR AUC, Brier, ECE, top-decile lift.

Conventions:

- **ECE** (expected calibration error) uses ``n_bins`` (default 10) **equal-width** bins of the
  predicted probability over [0, 1]: ``sum_b |mean(y in b) - mean(p in b)| * n_b / n``
  (``strategy="quantile"`` gives equal-frequency bins instead).
- **Lift in the top decile**: the positive rate among the ``ceil(10 %)`` highest-scored rows
  (ties broken by row order, stable) divided by the overall positive rate.
- A metric that is undefined on the rows given (one class only, no rows) is NaN, never an error.
- Per buyer step: the same metrics on the rows of each step, named ``<metric>.step.<step>``.
- Bootstrap CIs resample **deals** (all snapshots of a deal together), since snapshots of one deal
  are correlated.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
    >>> round(binary_metrics(y, p)["roc_auc"], 3), round(brier(y, p), 4)
    (0.75, 0.1581)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile")
MIN_STEP_ROWS = 30


def _clean(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(p))
    return y[ok].astype(np.int8), p[ok]


def _two_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and 0 < int(y.sum()) < len(y)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (NaN unless both classes are present).

    Example:
        >>> roc_auc(np.array([0, 1]), np.array([0.2, 0.9]))
        1.0
    """
    y, p = _clean(y, p)
    return float(roc_auc_score(y, p)) if _two_classes(y) else math.nan


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision; NaN unless both classes).

    Example:
        >>> pr_auc(np.array([0, 1, 1]), np.array([0.1, 0.9, 0.8]))
        1.0
    """
    y, p = _clean(y, p)
    return float(average_precision_score(y, p)) if _two_classes(y) else math.nan


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of probabilities (NaN without rows).

    Example:
        >>> brier(np.array([0, 1]), np.array([0.0, 0.5]))
        0.125
    """
    y, p = _clean(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10,
        strategy: Literal["uniform", "quantile"] = "uniform") -> float:
    """Expected calibration error over ``n_bins`` equal-width (or equal-frequency) bins.

    Example:
        >>> # bin [0.0, 0.1): p=0.05, y=0 -> gap 0.05; bin [0.9, 1.0]: p=0.95,0.95, y=1,0 -> 0.45
        >>> round(ece(np.array([0, 1, 0]), np.array([0.05, 0.95, 0.95])), 4)
        0.3167
    """
    y, p = _clean(y, p)
    if not len(y):
        return math.nan
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
        b = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_bins - 1)
    else:
        b = np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=n_bins)
                 - np.bincount(b, weights=p, minlength=n_bins))
    return float(gap.sum() / count.sum())


def lift_top_decile(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate in the top ``fraction`` of scores over the overall rate (NaN if no positives).

    Example:
        >>> y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        >>> p = np.linspace(1, 0, 10)   # the first row scores highest
        >>> lift_top_decile(y, p)       # top 1 row: rate 1.0; overall 0.2
        5.0
    """
    y, p = _clean(y, p)
    if not len(y) or y.sum() == 0:
        return math.nan
    k = max(1, math.ceil(fraction * len(y)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All of :data:`METRICS` plus ``n`` and ``positive_rate`` for one score vector.

    Example:
        >>> sorted(binary_metrics(np.array([0, 1]), np.array([0.3, 0.6])))[:3]
        ['brier', 'ece', 'lift_top_decile']
    """
    y, p = _clean(y, p)
    return {"roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p), "brier": brier(y, p),
            "ece": ece(y, p), "lift_top_decile": lift_top_decile(y, p), "n": float(len(y)),
            "positive_rate": float(y.mean()) if len(y) else math.nan}


def metrics_by_step(y: np.ndarray, p: np.ndarray, step: np.ndarray,
                    min_rows: int = MIN_STEP_ROWS) -> dict[str, float]:
    """Metrics per buyer step (steps with fewer than ``min_rows`` labelled rows are skipped).

    Keys look like ``roc_auc.step.decision``.

    Example:
        >>> m = metrics_by_step(np.array([0, 1] * 20), np.array([0.2, 0.7] * 20),
        ...                     np.array(["curious"] * 40))
        >>> m["roc_auc.step.curious"]
        1.0
    """
    out: dict[str, float] = {}
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    step = np.asarray(step, dtype=object)
    labelled = ~np.isnan(y)
    for s in pd.unique(step[labelled]):
        rows = labelled & (step == s)
        if rows.sum() < min_rows:
            continue
        for name, value in binary_metrics(y[rows], p[rows]).items():
            out[f"{name}.step.{s}"] = value
    return out


def bootstrap_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_boot: int = 200,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Deal-clustered bootstrap CI of the ROC AUC: (low, high); NaNs when undefined.

    Example:
        >>> y = np.array([0, 1] * 50); p = y * 0.5 + np.linspace(0, 0.4, 100)
        >>> low, high = bootstrap_auc(y, p, np.arange(100), n_boot=50)
        >>> 0.5 < low <= high <= 1.0
        True
    """
    y, p, g = _clean_groups(y, p, groups)
    if not _two_classes(y):
        return math.nan, math.nan
    aucs = [roc_auc_score(y[idx], p[idx]) for idx in group_resamples(g, n_boot, seed)
            if _two_classes(y[idx])]
    if not aucs:
        return math.nan, math.nan
    tail = (1 - level) / 2
    return float(np.quantile(aucs, tail)), float(np.quantile(aucs, 1 - tail))


def paired_bootstrap_auc_diff(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray,
                              groups: np.ndarray, n_boot: int = 200, seed: int = 0,
                              level: float = 0.95) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same rows, with its deal-clustered paired bootstrap CI.

    Both scorers are evaluated on the same resampled deals in every replicate, so the interval
    is that of the difference (much narrower than two separate intervals).  Returns
    (difference, low, high); NaNs when undefined.

    Example:
        >>> y = np.array([0, 1] * 50); good = y * 0.5 + np.linspace(0, 0.4, 100)
        >>> diff, low, high = paired_bootstrap_auc_diff(y, good, np.linspace(0, 1, 100),
        ...                                             np.arange(100), n_boot=50)
        >>> bool(diff > 0 and low <= diff <= high)
        True
    """
    y = np.asarray(y, dtype=np.float64)
    a, b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(a) | np.isnan(b))
    y, a, b, g = y[ok].astype(np.int8), a[ok], b[ok], np.asarray(groups)[ok]
    if not _two_classes(y):
        return math.nan, math.nan, math.nan
    diff = float(roc_auc_score(y, a) - roc_auc_score(y, b))
    diffs = [roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx])
             for idx in group_resamples(g, n_boot, seed) if _two_classes(y[idx])]
    if not diffs:
        return diff, math.nan, math.nan
    tail = (1 - level) / 2
    return diff, float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))


def group_resamples(groups: np.ndarray, n_boot: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Row indices of ``n_boot`` cluster-bootstrap replicates (each group brings all its rows).

    Groups are drawn with replacement, as many as there are; every deal-clustered interval
    resamples through this one function, so they all resample alike.

    Example:
        >>> [idx.tolist() for idx in group_resamples(np.array(["a", "a", "b"]), 2, seed=1)]
        [[0, 1, 2], [2, 2]]
    """
    codes, uniq = pd.factorize(np.asarray(groups))
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniq)))
    sizes = np.diff(np.r_[starts, len(codes)])
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        yield order[np.repeat(starts[pick], sizes[pick]) + _ranges(sizes[pick])]


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s)`` for each size."""
    total = int(sizes.sum())
    return np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _clean_groups(y: np.ndarray, p: np.ndarray, groups: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(p))
    return y[ok].astype(np.int8), p[ok], np.asarray(groups)[ok]


def flatten(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """Prefix metric names: ``flatten("test.stall", {"ece": 0.01})`` -> ``{"test.stall.ece": ...}``.

    Example:
        >>> flatten("test.stall", {"ece": 0.01})
        {'test.stall.ece': 0.01}
    """
    return {f"{prefix}.{k}": float(v) for k, v in metrics.items()}
