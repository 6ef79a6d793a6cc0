"""The simulator's verdict on next-step policies: the TRUE effect of what each one recommends.

For test snapshots of a simulated pipeline, the hidden state at ``as_of`` (from
``truth/daily.parquet``) and the deal's exact action effects (:func:`training.simulator.truth.
deal_action_effects`) give, for every catalogue action, its true reduction of the final
no-decision probability and its true gain in win probability.  A *policy* is a row-stochastic
matrix (m, 1 + A) over {no action, action 1..A} (deterministic ones are one-hot); its value is
the mean true effect of what it picks, averaged over the snapshots as they come (occupancy).

Policies compared (:func:`baseline_policies`): the historic one (what the seller did), a random
valid action, a fixed playbook (per buyer step, the action whose deals did best in training, as
seen in the data), imitate-the-winners (per step, what won deals did most), the step oracle
(per step, the truly best action on average, knowing no deal's hidden state), the observable
oracle (per action, a LightGBM fitted on the TRUE effects from training snapshots' features:
the best a feature-based policy can do) and the full oracle (the truly best valid action for
that deal and state, or none when nothing helps).

Example:
    >>> gain = np.array([[0.02, 0.0], [0.0, 0.03]])
    >>> value(one_hot(np.array([0, 0]), 2), gain)
    np.float64(0.01)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: An effect counts as material when the best action truly moves no decision this much.
MATERIAL = 0.01


@dataclass
class TrueGains:
    """Per snapshot and action: true no-decision reduction and win gain; the hidden state."""

    nd: np.ndarray  # (m, A), positive = fewer no decisions
    won: np.ndarray  # (m, A)
    step: np.ndarray  # hidden step index, -1 where unknown
    dark: np.ndarray
    known: np.ndarray  # True where the hidden state at as_of was found


def true_gains(params: object, rows: pd.DataFrame, truth_daily: pd.DataFrame,
               actions: Sequence[str]) -> TrueGains:
    """True effects of ``actions`` (simulator names) at each row's hidden state at ``as_of``.

    ``params`` is the simulation's :class:`~training.simulator.params.SimParams`.
    """
    from training.baselines import oracle_scores
    from training.simulator.latent import draw_deals
    from training.simulator.params import ACTIONS
    from training.simulator.sf_export import deal_index_from_id
    from training.simulator.truth import deal_action_effects

    state = oracle_scores(truth_daily, rows, columns=("step", "engaged"))
    known = state["step"].notna().to_numpy()
    step = np.where(known, state["step"].fillna(-1).to_numpy(), -1).astype(np.int64)
    dark = ~(state["engaged"].fillna(1.0).to_numpy() > 0.5)
    m = len(rows)
    nd = np.zeros((m, len(actions)))
    won = np.zeros((m, len(actions)))
    if known.any():
        idx = deal_index_from_id(rows["deal_id"].astype(str).to_numpy()[known].tolist())
        uniq, pos = np.unique(idx, return_inverse=True)
        eff = deal_action_effects(params, draw_deals(params, uniq))  # (n, 10, 7, 3)
        x = 2 * step[known] + dark[known]
        cols = [ACTIONS.index(a) for a in actions]
        nd[known] = -eff[pos, x][:, cols, 2]
        won[known] = eff[pos, x][:, cols, 0]
    return TrueGains(nd, won, step, dark, known)


def one_hot(codes: np.ndarray, n_actions: int) -> np.ndarray:
    """Policy matrix (m, 1 + A) of action codes (-1 = no action).

    Example:
        >>> one_hot(np.array([-1, 1]), 2).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    out = np.zeros((len(codes), n_actions + 1))
    out[np.arange(len(codes)), np.asarray(codes, np.int64) + 1] = 1.0
    return out


def value(policy: np.ndarray, gain: np.ndarray) -> np.float64:
    """Mean true effect of a policy matrix (no action = 0)."""
    return np.float64(np.mean((policy[:, 1:] * gain).sum(axis=1))) if len(gain) else np.nan


def best_codes(score: np.ndarray, valid: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per row, the valid action with the highest score above ``floor``; -1 when none.

    Example:
        >>> best_codes(np.array([[0.1, 0.3], [-0.1, 0.2]]), np.array([[1, 0], [1, 1]], bool))
        array([0, 1])
    """
    masked = np.where(valid, score, -np.inf)
    best = masked.argmax(axis=1) if masked.shape[1] else np.zeros(len(score), np.int64)
    top = masked[np.arange(len(score)), best] if len(score) else np.zeros(0)
    return np.where(top > floor, best, -1)


def per_step_codes(step: np.ndarray, choice: dict[int, int]) -> np.ndarray:
    """The action ``choice[step]`` per row (-1 for steps without one)."""
    return np.array([choice.get(int(s), -1) for s in step], dtype=np.int64)


def baseline_policies(*, n_actions: int, valid: np.ndarray, step: np.ndarray,
                      logged: np.ndarray, train_step: np.ndarray, train_logged: np.ndarray,
                      train_nd: np.ndarray, train_won_deal: np.ndarray,
                      train_gain: np.ndarray, train_valid: np.ndarray,
                      observable_scores: np.ndarray, test_gain: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Every comparison policy as a (m, 1 + A) matrix (see the module docstring).

    ``step``/``train_step`` are the observed buyer step codes; ``logged`` the logged action
    codes; ``train_nd`` the final no-decision labels of training rows (NaN if open);
    ``train_won_deal`` whether each training row's deal was won; ``train_gain`` the true
    no-decision reductions of training rows; ``observable_scores`` the observable oracle's
    predicted reductions on the test rows.
    """
    m = len(step)
    random = np.zeros((m, n_actions + 1))
    count = valid.sum(axis=1)
    random[:, 1:] = np.where(count[:, None] > 0, valid / np.maximum(count, 1)[:, None], 0.0)
    random[count == 0, 0] = 1.0
    playbook, winners, step_oracle = {}, {}, {}
    for s in np.unique(train_step[train_step >= 0]):
        here = train_step == s
        ok = train_valid[here][0] if here.any() else np.zeros(n_actions, bool)
        labelled = here & ~np.isnan(train_nd)
        base = np.nanmean(train_nd[labelled & (train_logged < 0)]) if labelled.any() else np.nan
        lifts = np.full(n_actions, -np.inf)
        for a in np.flatnonzero(ok):
            took = labelled & (train_logged == a)
            if took.sum() >= 20:
                lifts[a] = base - train_nd[took].mean()
        if np.isfinite(lifts).any():
            playbook[int(s)] = int(np.argmax(lifts))
        counts = np.bincount(train_logged[here & train_won_deal & (train_logged >= 0)],
                             minlength=n_actions).astype(float)
        counts[~ok] = -1
        if counts.max() > 0:
            winners[int(s)] = int(np.argmax(counts))
        mean_gain = np.where(ok, train_gain[here].mean(axis=0), -np.inf)
        step_oracle[int(s)] = int(np.argmax(mean_gain))
    return {
        "historic": one_hot(logged, n_actions),
        "random_valid": random,
        "fixed_playbook": one_hot(per_step_codes(step, playbook), n_actions),
        "imitate_winners": one_hot(per_step_codes(step, winners), n_actions),
        "step_oracle": one_hot(per_step_codes(step, step_oracle), n_actions),
        "observable_oracle": one_hot(best_codes(observable_scores, valid), n_actions),
        "full_oracle": one_hot(best_codes(test_gain, valid), n_actions),
    }


def paired_difference(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int = 500,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` per row with a group (deal) bootstrap 95 % interval.

    Example:
        >>> d, lo, hi = paired_difference(np.ones(50), np.zeros(50), np.arange(50) // 5)
        >>> (d, lo, hi)
        (1.0, 1.0, 1.0)
    """
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.bincount(inverse, weights=diff, minlength=len(codes))
    counts = np.bincount(inverse, minlength=len(codes)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(codes), size=(n_boot, len(codes)))
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(diff.mean()), float(low), float(high)


def top_action_agreement(policy: np.ndarray, gain: np.ndarray, valid: np.ndarray,
                         material: float = MATERIAL) -> tuple[float, int]:
    """Share of rows with a material best effect where the policy picks the oracle's action.

    Example:
        >>> g = np.array([[0.02, 0.0], [0.0, 0.03], [0.001, 0.0]])
        >>> top_action_agreement(one_hot(np.array([0, 0, 1]), 2), g, np.ones((3, 2), bool))
        (0.5, 2)
    """
    oracle = best_codes(gain, valid)
    best = np.where(valid, gain, -np.inf).max(axis=1) if gain.shape[1] else np.zeros(len(gain))
    mat = (oracle >= 0) & (best >= material)
    picked = policy.argmax(axis=1) - 1
    return (float((picked[mat] == oracle[mat]).mean()) if mat.any() else float("nan"),
            int(mat.sum()))
