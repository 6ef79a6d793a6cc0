"""Checks of the estimated lifts: calibrated against the logs, and against the truth when known.

**From the logs alone** (every run).  For a test snapshot ``i`` and action ``a`` the doubly
robust pseudo-outcome of its no-decision reduction is

    G_ia = -[(q_a - q_0) + 1[A_i = a] (Y_i - q_a) / p_a - 1[A_i = none] (Y_i - q_0) / p_0]

(``q`` the cross-fitted outcome model, ``p`` the propensities, ``Y_i`` = ended in no decision):
an unbiased but noisy reading of that deal's true lift.  Binned by the estimated lift, the mean
of ``G`` in each bin is the lift the bin really had (:func:`lift_calibration`); the slope of
``G`` on the estimate over all pairs (the best-linear-predictor test of heterogeneous effects)
is 1 for calibrated estimates and 0 for estimates that rank deals no better than chance.

**Against the truth** (simulated pipelines, whose hidden state is known): mean estimated vs true
lift per (buyer step, action) cell (:func:`truth_cells`).

Example:
    >>> est = np.array([[0.01, 0.03], [0.02, 0.0]]); g = np.array([[0.0, 0.05], [0.03, -0.01]])
    >>> table, m = lift_calibration(est, g, np.ones((2, 2), bool), np.array(["a", "b"]), bins=2)
    >>> table["n"].tolist(), round(m["slope"], 3)
    ([2, 2], 2.1)
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Propensities are floored here in the pseudo-outcomes (as the effect model floors them).
MIN_PROPENSITY = 0.01


def dr_pseudo_lift(logged: np.ndarray, outcome: np.ndarray, propensity: np.ndarray,
                   q_hat: np.ndarray) -> np.ndarray:
    """(m, A) doubly robust pseudo-outcomes of each action's no-decision reduction.

    ``logged``: codes (-1 = none); ``propensity`` and ``q_hat``: (m, 1 + A), column 0 = none.

    Example:
        >>> q = np.array([[0.5, 0.4]]); p = np.array([[0.5, 0.5]])
        >>> dr_pseudo_lift(np.array([0]), np.array([0.0]), p, q)  # -(−0.1 + (0 − 0.4) / 0.5)
        array([[0.9]])
    """
    m, k = q_hat.shape
    rows = np.arange(m)
    p = np.clip(propensity, MIN_PROPENSITY, 1.0)
    took = np.eye(k)[logged + 1]  # (m, 1 + A)
    resid = outcome[:, None] - q_hat
    correction = took * resid / p
    effect = (q_hat[:, 1:] - q_hat[:, :1]) + correction[:, 1:] - correction[rows, 0][:, None]
    return -effect


def lift_calibration(estimated: np.ndarray, pseudo: np.ndarray, usable: np.ndarray,
                     deals: np.ndarray, *, bins: int = 10, n_boot: int = 200, seed: int = 0
                     ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Estimated vs DR-realised lift per quantile bin of the estimate, and summary figures.

    Pairs (snapshot, action) where ``usable``.  Returns the bin table (mean_estimated,
    mean_realised, ci_low, ci_high, n) and ``slope`` (with ``slope.ci_low``/``.ci_high``
    from a deal bootstrap), ``mean_estimated``, ``mean_realised`` and ``error`` (pair-weighted
    mean absolute gap between the bins' estimated and realised lifts).
    """
    rows, cols = np.nonzero(usable)
    est, g = estimated[rows, cols], pseudo[rows, cols]
    ok = np.isfinite(est) & np.isfinite(g)
    est, g, groups = est[ok], g[ok], np.asarray(deals)[rows[ok]]
    if len(est) < 2 * bins:
        return pd.DataFrame(columns=["mean_estimated", "mean_realised", "ci_low", "ci_high",
                                     "n"]), {}
    edges = np.unique(np.quantile(est, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, est, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": which, "e": est, "g": g})
    agg = frame.groupby("bin").agg(mean_estimated=("e", "mean"), mean_realised=("g", "mean"),
                                   sd=("g", "std"), n=("g", "size"))
    half = 1.96 * agg["sd"].fillna(0.0) / np.sqrt(agg["n"])
    table = agg.assign(ci_low=agg["mean_realised"] - half, ci_high=agg["mean_realised"] + half
                       )[["mean_estimated", "mean_realised", "ci_low", "ci_high", "n"]]
    table = table.reset_index(drop=True)
    _, codes = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_boot):
        pick = rng.integers(0, codes.max() + 1, codes.max() + 1)
        weight = np.bincount(pick, minlength=codes.max() + 1)[codes]
        slopes.append(_slope(est, g, weight))
    low, high = np.nanquantile(slopes, [0.025, 0.975]) if slopes else (np.nan, np.nan)
    metrics = {"slope": _slope(est, g, np.ones_like(est)), "slope.ci_low": float(low),
               "slope.ci_high": float(high), "mean_estimated": float(est.mean()),
               "mean_realised": float(g.mean()),
               "error": float(np.average(np.abs(table["mean_realised"]
                                                - table["mean_estimated"]),
                                         weights=table["n"]))}
    return table, metrics


def _slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted least-squares slope of ``y`` on ``x`` (NaN when ``x`` does not vary)."""
    if w.sum() <= 0:
        return float("nan")
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    var = np.average((x - mx) ** 2, weights=w)
    return float(np.average((x - mx) * (y - my), weights=w) / var) if var > 0 else float("nan")


def lift_calibration_figure(table: pd.DataFrame, metrics: dict[str, float]) -> Figure:
    """Estimated lift per bin (x) against the lift the logs show it had (y, 95 % bars)."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    if len(table):
        x, y = 100 * table["mean_estimated"], 100 * table["mean_realised"]
        ax.errorbar(x, y, yerr=[y - 100 * table["ci_low"], 100 * table["ci_high"] - y],
                    fmt="o", capsize=3, label="test snapshots, binned by estimate")
        lo, hi = min(x.min(), y.min(), 0), max(x.max(), y.max(), 0)
        ax.plot([lo, hi], [lo, hi], ls=":", color="grey", label="calibrated")
        ax.set_title(f"Next-step lift calibration (slope {metrics.get('slope', np.nan):.2f})")
        ax.legend(fontsize=8)
    else:
        ax.set_title("Next-step lift calibration: too few test snapshots")
    ax.set(xlabel="estimated no-decision reduction (points)",
           ylabel="doubly robust reading from the logs (points)")
    fig.tight_layout()
    return fig


def truth_cells(estimated: np.ndarray, true: np.ndarray, steps: np.ndarray,
                valid: np.ndarray, actions: Sequence[str], *, min_rows: int = 20
                ) -> pd.DataFrame:
    """Mean estimated and true lift per (buyer step, action) over valid snapshots.

    Example:
        >>> e = np.array([[0.01], [0.03]]); t = np.array([[0.02], [0.02]])
        >>> truth_cells(e, t, np.array(["s", "s"]), np.ones((2, 1), bool), ["a"], min_rows=1)
          step action  estimated  true  n
        0    s      a       0.02  0.02  2
    """
    out = []
    for step in sorted(set(map(str, steps))):
        at = np.asarray(steps).astype(str) == step
        for a, name in enumerate(actions):
            keep = at & valid[:, a] & np.isfinite(estimated[:, a])
            if keep.sum() >= min_rows:
                out.append({"step": step, "action": name,
                            "estimated": float(estimated[keep, a].mean()),
                            "true": float(true[keep, a].mean()), "n": int(keep.sum())})
    return pd.DataFrame(out, columns=["step", "action", "estimated", "true", "n"])


def truth_figure(cells: pd.DataFrame) -> Figure:
    """Mean true vs estimated lift, one point per (buyer step, action), coloured by action."""
    fig = Figure(figsize=(7, 5.5))
    ax = fig.subplots()
    for name, part in cells.groupby("action"):
        ax.scatter(100 * part["estimated"], 100 * part["true"], s=20 + part["n"] / 50,
                   label=name, alpha=0.8)
        for row in part.itertuples():
            ax.annotate(row.step, (100 * row.estimated, 100 * row.true), fontsize=6,
                        xytext=(2, 2), textcoords="offset points")
    if len(cells):
        both = 100 * np.concatenate([cells["estimated"], cells["true"], [0.0]])
        ax.plot([both.min(), both.max()], [both.min(), both.max()], ls=":", color="grey")
        ax.legend(fontsize=7, loc="best")
    ax.set(xlabel="estimated no-decision reduction (points)",
           ylabel="TRUE no-decision reduction (points, simulator)",
           title="Next steps: true vs estimated effect per action and buyer step")
    fig.tight_layout()
    return fig


#: The calibration slope is kept in [MIN_SLOPE, 1]: never steeper than the forests (their noise
#: is not signal) and never flat, so the forests' ordering of actions survives.
MIN_SLOPE = 0.05
#: Fewer (snapshot, action) pairs than this leave the lifts as the forests give them.
MIN_PAIRS = 500


def fit_linear_lift(estimated: np.ndarray, pseudo: np.ndarray, usable: np.ndarray
                    ) -> tuple[float, float, int]:
    """(alpha, beta, pairs) with ``alpha + beta * estimate`` the best linear reading of the lift.

    Least squares of the doubly robust readings on the estimates over the ``usable`` pairs of
    held-out snapshots; ``beta`` clipped to ``[MIN_SLOPE, 1]``.  With too few pairs: (0, 1, n).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> est = rng.normal(0.05, 0.05, (2000, 1)); truth = 0.01 + 0.2 * (est - 0.05)
        >>> a, b, n = fit_linear_lift(est, truth + rng.normal(0, 0.01, est.shape),
        ...                           np.ones_like(est, bool))
        >>> round(a, 3), round(b, 2), n
        (0.0, 0.2, 2000)
    """
    rows, cols = np.nonzero(usable)
    e, g = estimated[rows, cols], pseudo[rows, cols]
    ok = np.isfinite(e) & np.isfinite(g)
    e, g = e[ok], g[ok]
    if len(e) < MIN_PAIRS:
        return 0.0, 1.0, len(e)
    slope = _slope(e, g, np.ones_like(e))
    beta = float(np.clip(slope if np.isfinite(slope) else 1.0, MIN_SLOPE, 1.0))
    return float(g.mean() - beta * e.mean()), beta, len(e)
