"""Off-policy values of a target policy from logged bandit data: IPS, SNIPS, DM and DR.

The logs hold, for row ``i``, the context ``x_i`` (not passed: it enters only through the
arrays below), the action the seller took ``a_i`` (an integer code in ``0..K-1``; which code,
if any, means "no action" is the caller's business), the logging propensity
``p_i = pi_0(a_i | x_i)`` (estimated elsewhere, taken as given), and the outcome ``y_i`` (for
example 1 when the deal ended in no decision).  The target policy is given as its action
probabilities ``pi(. | x_i)``, an ``(n, K)`` array (a deterministic policy is one-hot), and the
outcome model as its predictions ``q_hat(x_i, a)``, also ``(n, K)``.  Each estimator returns
the expected outcome had the target policy chosen the actions, ``V(pi) = E_x sum_a pi(a|x)
E[y | x, a]`` (with "no decision" as the outcome, lower is better):

- **IPS** (inverse propensity scoring): ``mean_i w_i y_i`` with ``w_i = pi(a_i|x_i) / p_i``.
  Unbiased when the propensities are right; high variance when weights are large.
- **SNIPS** (self-normalised IPS): ``sum_i w_i y_i / sum_i w_i``.  Slightly biased (a ratio)
  but consistent, invariant to adding a constant to ``y``, and usually far less variable.
- **DM** (direct method): ``mean_i sum_a pi(a|x_i) q_hat(x_i, a)``.  Uses no propensities;
  low variance, but as biased as the outcome model (its confidence interval covers only the
  sampling noise of the contexts, never the model's error).
- **DR** (doubly robust): ``mean_i [sum_a pi(a|x_i) q_hat(x_i, a) + w_i (y_i - q_hat(x_i,
  a_i))]``.  Consistent when either the propensities or the outcome model is right; the DM
  term carries the mean and the weighted residuals correct its bias.

Assumptions, which no estimator here can check from the logs:

- **Positivity (overlap)**: ``pi_0(a|x) > 0`` wherever ``pi(a|x) > 0``.  An action the target
  takes but the logger never does leaves no logged rows to weight, so IPS and SNIPS silently
  miss it and DR falls back on the outcome model there.  Propensities must lie in ``(0, 1]``.
- **No unmeasured confounding**: given the context used for the propensities and the outcome
  model, the logged action is independent of the potential outcomes (what made the seller act
  is in ``x``).
- Correct propensities (for IPS/SNIPS; for DR, them or the outcome model), and rows that do not
  interfere with one another beyond their group (rows of one deal share a ``groups`` label).

Weights can be capped with ``clip``: ``w_i = min(pi(a_i|x_i) / p_i, clip)``.  Clipping lowers
the variance and biases the estimate (towards 0 for non-negative outcomes in IPS and in DR's
correction term); with ``clip=None`` (the default) nothing is capped.

Intervals are 95%.  With ``groups`` (e.g. the deal id of each row) they come from a cluster
bootstrap: groups are drawn with replacement, each bringing all its rows (``n_boot``
replicates, percentile interval, fixed ``seed``; the same draws as
``training.evaluate.group_resamples`` for the same seed).  Without ``groups`` they are the
normal approximation ``estimate +/- 1.96 se`` from the per-row terms (for SNIPS, the
delta-method terms ``w_i (y_i - V) / mean(w)``).  Neither interval includes the uncertainty of
the estimated propensities or of the outcome model: both are held fixed.

Example:
    >>> import numpy as np
    >>> a = np.array([0, 1, 1, 0]); p = np.full(4, 0.5); y = np.array([1.0, 0.0, 1.0, 0.0])
    >>> always_1 = np.tile([0.0, 1.0], (4, 1))
    >>> q = np.tile([0.5, 0.5], (4, 1))
    >>> {k: v.estimate for k, v in evaluate_policy(a, p, y, always_1, q).items()}
    {'ips': 0.5, 'snips': 0.5, 'dm': 0.5, 'dr': 0.5}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "PolicyValue",
    "direct_method",
    "doubly_robust",
    "dr_difference",
    "evaluate_policy",
    "ips",
    "snips",
]

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile
ROW_SUM_TOL = 1e-6


@dataclass(frozen=True)
class PolicyValue:
    """An off-policy value estimate with its 95% confidence interval.

    ``n`` is the number of logged rows; ``estimator`` is ``"ips"``, ``"snips"``, ``"dm"`` or
    ``"dr"``.  The interval is NaN when it is undefined (a single row without groups).
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    estimator: str


def ips(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike, target: ArrayLike,
        *, clip: float | None = None, groups: ArrayLike | None = None, n_boot: int = 500,
        seed: int = 0) -> PolicyValue:
    """Inverse propensity scoring: ``mean_i w_i y_i``, ``w_i = pi(a_i|x_i) / p_i``.

    Args:
        actions: logged action codes ``a_i`` in ``0..K-1``, shape ``(n,)``.
        propensities: ``pi_0(a_i | x_i)`` in ``(0, 1]``, shape ``(n,)``.
        outcomes: ``y_i``, finite, shape ``(n,)``.
        target: the target policy's ``pi(a | x_i)``, shape ``(n, K)``, rows summing to 1.
        clip: cap on the weights (``None``: no cap).
        groups: a label per row (e.g. deal id); when given, the interval is a cluster bootstrap.
        n_boot: bootstrap replicates (with ``groups`` only; must then be a positive integer).
        seed: the bootstrap's seed.

    Example:
        >>> a = np.array([0, 1, 1, 0]); p = np.full(4, 0.5); y = np.array([1.0, 0.0, 1.0, 0.0])
        >>> v = ips(a, p, y, np.tile([0.0, 1.0], (4, 1)))  # w = [0, 2, 2, 0]; wy = [0, 0, 2, 0]
        >>> v.estimate, v.n, v.estimator
        (0.5, 4, 'ips')
    """
    a, p, y, pi = _logs(actions, propensities, outcomes, target)
    w = _weights(a, p, pi, clip)
    return _value(w * y, np.ones_like(w), "ips", groups, n_boot, seed)


def snips(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike, target: ArrayLike,
          *, clip: float | None = None, groups: ArrayLike | None = None, n_boot: int = 500,
          seed: int = 0) -> PolicyValue:
    """Self-normalised IPS: ``sum_i w_i y_i / sum_i w_i``.

    Arguments as for :func:`ips`.  Without ``groups`` the interval uses the delta-method terms
    ``w_i (y_i - V) / mean(w)``.  Raises ``ValueError`` when every weight is 0 (the target
    never takes a logged action), where the ratio is undefined.

    Example:
        >>> a = np.array([0, 1, 1, 0]); p = np.array([0.5, 0.5, 0.25, 0.5])
        >>> y = np.array([1.0, 0.0, 1.0, 0.0])
        >>> snips(a, p, y, np.tile([0.0, 1.0], (4, 1))).estimate  # w = [0, 2, 4, 0]: 4 / 6
        0.6666666666666666
    """
    a, p, y, pi = _logs(actions, propensities, outcomes, target)
    w = _weights(a, p, pi, clip)
    if not w.sum() > 0:
        raise ValueError("target gives probability 0 to every logged action (all weights are 0)"
                         "; SNIPS is undefined")
    return _value(w * y, w, "snips", groups, n_boot, seed)


def direct_method(target: ArrayLike, q_hat: ArrayLike, *, groups: ArrayLike | None = None,
                  n_boot: int = 500, seed: int = 0) -> PolicyValue:
    """Direct method: ``mean_i sum_a pi(a|x_i) q_hat(x_i, a)``.

    Args:
        target: the target policy's ``pi(a | x_i)``, shape ``(n, K)``, rows summing to 1.
        q_hat: the outcome model's ``q_hat(x_i, a)``, shape ``(n, K)``, finite.
        groups: a label per row; when given, the interval is a cluster bootstrap.
        n_boot: bootstrap replicates (with ``groups`` only).
        seed: the bootstrap's seed.

    The interval reflects only the spread of the contexts, not the outcome model's bias.

    Example:
        >>> pi = np.array([[1.0, 0.0], [0.5, 0.5]]); q = np.array([[0.2, 0.6], [0.4, 0.8]])
        >>> round(direct_method(pi, q).estimate, 10)  # (0.2 + (0.2 + 0.4)) / 2
        0.4
    """
    pi = _policy(target, None)
    q = _outcome_model(q_hat, pi.shape)
    dm = (pi * q).sum(axis=1)
    return _value(dm, np.ones_like(dm), "dm", groups, n_boot, seed)


def doubly_robust(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike,
                  target: ArrayLike, q_hat: ArrayLike, *, clip: float | None = None,
                  groups: ArrayLike | None = None, n_boot: int = 500,
                  seed: int = 0) -> PolicyValue:
    """Doubly robust: ``mean_i [sum_a pi(a|x_i) q_hat(x_i,a) + w_i (y_i - q_hat(x_i,a_i))]``.

    Arguments as for :func:`ips` and :func:`direct_method`; ``clip`` caps the weights of the
    correction term.

    Example:
        >>> a = np.array([0, 1]); p = np.array([0.5, 0.5]); y = np.array([1.0, 1.0])
        >>> pi = np.tile([0.0, 1.0], (2, 1)); q = np.tile([0.5, 0.25], (2, 1))
        >>> # DM terms 0.25, 0.25; corrections 0 (w = 0) and 2 * (1 - 0.25) = 1.5
        >>> doubly_robust(a, p, y, pi, q).estimate
        1.0
    """
    a, p, y, pi = _logs(actions, propensities, outcomes, target)
    q = _outcome_model(q_hat, pi.shape)
    w = _weights(a, p, pi, clip)
    rows = np.arange(len(a))
    terms = (pi * q).sum(axis=1) + w * (y - q[rows, a])
    return _value(terms, np.ones_like(terms), "dr", groups, n_boot, seed)


def dr_difference(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike,
                  target: ArrayLike, baseline: ArrayLike, q_hat: ArrayLike, *,
                  clip: float | None = None, groups: ArrayLike | None = None,
                  n_boot: int = 500, seed: int = 0) -> PolicyValue:
    """Doubly robust ``V(target) - V(baseline)`` on the same logs, with a paired interval.

    The DR value is linear in the policy, so the difference is the mean of the per-row
    differences of the two DR terms; resampling those rows (or groups) together gives an
    interval for the difference itself, far narrower than two separate intervals.

    Example:
        >>> a = np.array([0, 1]); p = np.array([0.5, 0.5]); y = np.array([1.0, 0.0])
        >>> q = np.tile([0.5, 0.25], (2, 1))
        >>> always_1, always_0 = np.tile([0.0, 1.0], (2, 1)), np.tile([1.0, 0.0], (2, 1))
        >>> d = dr_difference(a, p, y, always_1, always_0, q)
        >>> d.estimate  # DR values 0.0 (terms 0.25, -0.25) and 1.0 (terms 1.5, 0.5)
        -1.0
    """
    a, p, y, pi = _logs(actions, propensities, outcomes, target)
    pi_b = _policy(baseline, len(a))
    if pi_b.shape != pi.shape:
        raise ValueError(f"baseline has shape {pi_b.shape}, expected {pi.shape} (as target)")
    q = _outcome_model(q_hat, pi.shape)
    rows = np.arange(len(a))
    residual = y - q[rows, a]
    terms = ((pi - pi_b) * q).sum(axis=1) + (
        _weights(a, p, pi, clip) - _weights(a, p, pi_b, clip)) * residual
    return _value(terms, np.ones_like(terms), "dr_difference", groups, n_boot, seed)


def evaluate_policy(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike,
                    target: ArrayLike, q_hat: ArrayLike, *, clip: float | None = None,
                    groups: ArrayLike | None = None, n_boot: int = 500,
                    seed: int = 0) -> dict[str, PolicyValue]:
    """All four estimates of the target policy's value: ``{"ips", "snips", "dm", "dr"}``.

    Arguments as for :func:`doubly_robust`.  With ``groups``, every estimator is bootstrapped
    over the same resampled groups (same ``seed``).

    Example:
        >>> a = np.array([0, 1, 1, 0]); p = np.full(4, 0.5); y = np.array([1.0, 0.0, 1.0, 0.0])
        >>> out = evaluate_policy(a, p, y, np.tile([0.5, 0.5], (4, 1)), np.zeros((4, 2)))
        >>> sorted(out), out["ips"].estimate, out["dm"].estimate
        (['dm', 'dr', 'ips', 'snips'], 0.5, 0.0)
    """
    kw = {"groups": groups, "n_boot": n_boot, "seed": seed}
    return {
        "ips": ips(actions, propensities, outcomes, target, clip=clip, **kw),
        "snips": snips(actions, propensities, outcomes, target, clip=clip, **kw),
        "dm": direct_method(target, q_hat, **kw),
        "dr": doubly_robust(actions, propensities, outcomes, target, q_hat, clip=clip, **kw),
    }


# ---------------------------------------------------------------------------------------------
# validation


def _logs(actions: ArrayLike, propensities: ArrayLike, outcomes: ArrayLike,
          target: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The logged arrays, checked: (actions, propensities, outcomes, target)."""
    a = np.asarray(actions)
    if a.ndim != 1:
        raise ValueError(f"actions must be 1-D (one code per row), got shape {a.shape}")
    if not len(a):
        raise ValueError("actions is empty: no logged rows")
    if a.dtype.kind not in "iu":
        raise ValueError(f"actions must be integer action codes, got dtype {a.dtype}")
    n = len(a)
    p = _column(propensities, "propensities", n)
    bad = ~((p > 0) & (p <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"propensities must lie in (0, 1]; {int(bad.sum())} do not "
                         f"(first: row {i}, {p[i]!r})")
    y = _column(outcomes, "outcomes", n)
    if np.isnan(y).any():
        raise ValueError(f"outcomes has NaN at rows {np.flatnonzero(np.isnan(y))[:5].tolist()}"
                         " (first five at most)")
    if not np.isfinite(y).all():
        raise ValueError("outcomes must be finite (found inf)")
    pi = _policy(target, n)
    k = pi.shape[1]
    out_of_range = (a < 0) | (a >= k)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(f"actions must be codes in 0..{k - 1} (target has {k} columns); "
                         f"row {i} has {int(a[i])}")
    return a.astype(np.int64), p, y, pi


def _column(values: ArrayLike, name: str, n: int) -> np.ndarray:
    """``values`` as a float column of length ``n``, or a ValueError naming it."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {v.shape}, expected ({n},) (one per row of actions)")
    return v


def _policy(target: ArrayLike, n: int | None) -> np.ndarray:
    """The target policy's ``(n, K)`` probabilities, checked (``n=None``: any number of rows)."""
    pi = np.asarray(target, dtype=np.float64)
    if pi.ndim != 2 or pi.shape[1] < 1:
        raise ValueError(f"target must be 2-D (rows, actions), got shape {pi.shape}")
    if n is not None and pi.shape[0] != n:
        raise ValueError(f"target has {pi.shape[0]} rows, expected {n} (one per row of actions)")
    if not pi.shape[0]:
        raise ValueError("target is empty: no rows")
    if not ((pi >= 0) & (pi <= 1)).all():
        raise ValueError("target must hold probabilities in [0, 1] (found values outside, or NaN)")
    off = np.abs(pi.sum(axis=1) - 1.0)
    if (off > ROW_SUM_TOL).any():
        i = int(np.argmax(off))
        raise ValueError(f"target rows must sum to 1 within {ROW_SUM_TOL:g}; row {i} sums to "
                         f"{pi[i].sum()!r}")
    return pi


def _outcome_model(q_hat: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """The outcome model's ``(n, K)`` predictions, checked against the target's shape."""
    q = np.asarray(q_hat, dtype=np.float64)
    if q.shape != shape:
        raise ValueError(f"q_hat has shape {q.shape}, expected {shape} (the shape of target)")
    if np.isnan(q).any():
        raise ValueError("q_hat has NaN")
    if not np.isfinite(q).all():
        raise ValueError("q_hat must be finite (found inf)")
    return q


def _weights(a: np.ndarray, p: np.ndarray, pi: np.ndarray, clip: float | None) -> np.ndarray:
    """``pi(a_i|x_i) / p_i``, capped at ``clip`` when given."""
    w = pi[np.arange(len(a)), a] / p
    if clip is not None:
        if not (isinstance(clip, int | float) and clip > 0 and math.isfinite(clip)):
            raise ValueError(f"clip must be a positive number or None, got {clip!r}")
        w = np.minimum(w, float(clip))
    return w


# ---------------------------------------------------------------------------------------------
# estimate and interval


def _value(num: np.ndarray, den: np.ndarray, name: str, groups: ArrayLike | None, n_boot: int,
           seed: int) -> PolicyValue:
    """``sum num / sum den`` with its interval (``den`` is all ones for the plain means)."""
    n = len(num)
    estimate = float(num.sum() / den.sum())
    if groups is not None:
        low, high = _cluster_bootstrap(num, den, _group_codes(groups, n), n_boot, seed)
    elif n < 2:
        low = high = math.nan
    else:
        # linearised terms of a ratio; for a mean (den = 1) these are the centred terms
        infl = (num - estimate * den) / den.mean()
        se = math.sqrt(float(np.sum(infl**2)) / (n - 1) / n)
        low, high = estimate - Z_95 * se, estimate + Z_95 * se
    return PolicyValue(estimate, float(low), float(high), n, name)


def _group_codes(groups: ArrayLike, n: int) -> np.ndarray:
    """Group codes ``0..G-1`` in order of first appearance (as ``pandas.factorize`` codes)."""
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups has shape {g.shape}, expected ({n},) (one label per row)")
    try:
        _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    except TypeError as err:
        raise ValueError(f"groups labels must be comparable: {err}") from None
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    codes = rank[inverse.reshape(-1)]
    if len(first) < 2:
        raise ValueError("groups has a single group; the cluster bootstrap needs at least 2")
    return codes


def _cluster_bootstrap(num: np.ndarray, den: np.ndarray, codes: np.ndarray, n_boot: int,
                       seed: int) -> tuple[float, float]:
    """95% percentile interval of ``sum num / sum den`` over resampled groups."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    n_groups = int(codes.max()) + 1
    g_num = np.bincount(codes, weights=num, minlength=n_groups)
    g_den = np.bincount(codes, weights=den, minlength=n_groups)
    rng = np.random.default_rng(seed)
    stats = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        pick = rng.integers(0, n_groups, n_groups)
        d = g_den[pick].sum()
        stats[b] = g_num[pick].sum() / d if d > 0 else math.nan
    stats = stats[~np.isnan(stats)]  # SNIPS replicates whose weights are all 0 are undefined
    if not len(stats):
        return math.nan, math.nan
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)
