"""Evaluation plots as matplotlib ``Figure`` objects (Agg backend; nothing is shown or saved).

- :func:`roc_pr_figure` — ROC and precision-recall curves, model vs baselines (and the oracle).
- :func:`reliability_figure` — predicted vs observed rate in 10 equal-width bins.
- :func:`importance_figure` — LightGBM gain importance per target.
- :func:`risk_distribution_figure` — histogram of predicted risk by label.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 0, 1]); p = np.array([0.2, 0.8, 0.4, 0.6])
    >>> fig = roc_pr_figure(y, {"model": p}, title="stall")
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from training.evaluate import pr_auc, roc_auc


def _clean(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(p))
    return y[ok].astype(int), p[ok]


def _legend(ax, loc: str = "best") -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=loc, fontsize=8)


def roc_pr_figure(y: np.ndarray, scores: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """ROC (left) and PR (right) curves for each named score vector."""
    fig = Figure(figsize=(10, 4.5))
    ax_roc, ax_pr = fig.subplots(1, 2)
    for name, p in scores.items():
        yy, pp = _clean(y, p)
        if len(yy) and 0 < yy.sum() < len(yy):
            fpr, tpr, _ = roc_curve(yy, pp)
            ax_roc.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(yy, pp):.3f})")
            prec, rec, _ = precision_recall_curve(yy, pp)
            ax_pr.plot(rec, prec, label=f"{name} (AP {pr_auc(yy, pp):.3f})")
    ax_roc.plot([0, 1], [0, 1], ls=":", color="grey")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {title}")
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"Precision-recall {title}")
    for ax in (ax_roc, ax_pr):
        _legend(ax)
    fig.tight_layout()
    return fig


def reliability_figure(y: np.ndarray, probs: Mapping[str, np.ndarray], n_bins: int = 10,
                       title: str = "") -> Figure:
    """Observed positive rate against mean predicted probability, equal-width bins."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect")
    for name, p in probs.items():
        yy, pp = _clean(y, p)
        if not len(yy):
            continue
        b = np.clip((pp * n_bins).astype(int), 0, n_bins - 1)
        frame = pd.DataFrame({"b": b, "y": yy, "p": pp}).groupby("b").mean()
        ax.plot(frame["p"], frame["y"], marker="o", label=name)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", xlim=(0, 1),
           ylim=(0, 1), title=f"Reliability {title} ({n_bins} equal-width bins)")
    _legend(ax)
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.DataFrame, top: int = 20) -> Figure:
    """Horizontal bars of gain importance (rows: features, columns: targets)."""
    data = importance.head(top).iloc[::-1]
    fig = Figure(figsize=(8, 0.3 * len(data) + 1.5))
    ax = fig.subplots()
    height = 0.8 / max(len(data.columns), 1)
    for i, col in enumerate(data.columns):
        ax.barh(np.arange(len(data)) + i * height, data[col], height=height, label=col)
    ax.set_yticks(np.arange(len(data)) + 0.4 - height / 2, labels=list(data.index), fontsize=8)
    ax.set(xlabel="total gain", title="Feature importance (gain)")
    _legend(ax, "lower right")
    fig.tight_layout()
    return fig


def risk_distribution_figure(y: np.ndarray, p: np.ndarray, title: str = "") -> Figure:
    """Histograms of predicted risk for positives and negatives."""
    yy, pp = _clean(y, p)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    for value, name in ((0, "negative"), (1, "positive")):
        if not (yy == value).any():
            continue
        ax.hist(pp[yy == value], bins=bins, alpha=0.6, label=name, density=True)
    ax.set(xlabel="predicted risk", ylabel="density", title=f"Risk distribution {title}")
    _legend(ax)
    fig.tight_layout()
    return fig
