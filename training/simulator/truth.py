"""Exact ground truth from the per-deal transition matrices (no Monte Carlo).

Under the historic policy each deal's hidden state follows a time-homogeneous Markov
chain with 10 transient states (step × engaged/dark) and 3 absorbing ones (won, lost,
no decision). Final-outcome probabilities solve ``(I - Q) B = R``; the stall
probability over a horizon is a short power iteration on the non-forward part of Q;
an action's effect is the one-day change of the kernel pushed through ``B``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.simulator.dynamics import day_probs, policy_probs
from training.simulator.latent import Deals
from training.simulator.params import (
    ACTIONS,
    DRK,
    FWD,
    LOST,
    LST,
    N_ACTIONS,
    N_STATES,
    N_TRANSIENT,
    NDC,
    NO_DECISION,
    REG,
    RET,
    STEPS,
    WIN,
    WON,
    SimParams,
)

_X = np.arange(N_TRANSIENT)
_STEP_OF = _X // 2
_DARK_OF = _X % 2
# y may follow x without a forward move: same or earlier step
_NON_FORWARD = _STEP_OF[None, :] <= _STEP_OF[:, None]


@dataclass
class StateTables:
    """Per-deal, per-hidden-state truth (x = 2 * step + dark), shape (n, 10) each."""

    p_won: np.ndarray
    p_lost: np.ndarray
    p_no_decision: np.ndarray
    p_stall: np.ndarray


def kernel(params: SimParams, deals: Deals, action: int | None) -> np.ndarray:
    """One-day transition matrices (n, 10, 13) when ``action`` is taken (None = historic mix).

    ``action = -1`` means "no action that day".

    Example:
        >>> # kernel(params, deals, None)[:, :, :].sum(axis=2) == 1
    """
    n = len(deals)
    rows = np.repeat(np.arange(n), N_TRANSIENT)
    st = np.tile(_STEP_OF, n)
    dk = np.tile(_DARK_OF, n).astype(bool)
    if action is None:
        pol = policy_probs(params, deals, rows, st, dk)
        out = np.zeros((n * N_TRANSIENT, N_STATES))
        for a in range(-1, N_ACTIONS):
            out += pol[:, a + 1, None] * _to_dest(day_probs(params, deals, rows, st, dk,
                                                            np.full(len(rows), a)), st, dk)
    else:
        out = _to_dest(day_probs(params, deals, rows, st, dk, np.full(len(rows), action)), st, dk)
    return out.reshape(n, N_TRANSIENT, N_STATES)


def _to_dest(cat: np.ndarray, step: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Map category probabilities (m, 7) to destination-state probabilities (m, 13)."""
    m = len(step)
    x = 2 * step + dark
    out = np.zeros((m, N_STATES))
    ar = np.arange(m)
    out[ar, x] = 1.0 - cat.sum(axis=1)
    np.add.at(out, (ar, np.minimum(2 * (step + 1), N_TRANSIENT - 2)), cat[:, FWD])
    np.add.at(out, (ar, 2 * np.maximum(step - 1, 0)), cat[:, REG])
    np.add.at(out, (ar, 2 * step + 1), cat[:, DRK])
    np.add.at(out, (ar, 2 * step), cat[:, RET])
    out[:, WON] += cat[:, WIN]
    out[:, LOST] += cat[:, LST]
    out[:, NO_DECISION] += cat[:, NDC]
    return out


def absorption(p_bar: np.ndarray) -> np.ndarray:
    """Final-outcome probabilities B (n, 10, 3) = (I - Q)^-1 R for kernels (n, 10, 13).

    Example:
        >>> import numpy as np
        >>> k = np.zeros((1, 10, 13)); k[0, :, 10] = 1.0
        >>> absorption(k)[0, 0].tolist()
        [1.0, 0.0, 0.0]
    """
    q = p_bar[:, :, :N_TRANSIENT]
    r = p_bar[:, :, N_TRANSIENT:]
    eye = np.eye(N_TRANSIENT)[None]
    return np.linalg.solve(eye - q, r)


def stall_probability(p_bar: np.ndarray, horizon: int) -> np.ndarray:
    """P(no forward step and not won within ``horizon`` days | state), shape (n, 10).

    Closing lost or no decision inside the horizon counts as stalled.

    Example:
        >>> import numpy as np
        >>> k = np.zeros((1, 10, 13)); k[0, :, 11] = 1.0
        >>> stall_probability(k, 30)[0, 0]
        np.float64(1.0)
    """
    qs = p_bar[:, :, :N_TRANSIENT] * _NON_FORWARD[None]
    c = p_bar[:, :, LOST] + p_bar[:, :, NO_DECISION]
    v = np.ones(p_bar.shape[:2])
    for _ in range(horizon):
        v = np.einsum("nxy,ny->nx", qs, v) + c
    return v


def state_tables(params: SimParams, deals: Deals) -> tuple[StateTables, np.ndarray, np.ndarray]:
    """Exact truth per deal and hidden state, plus the historic kernel and B (with absorbing rows).

    Example:
        >>> # tables, p_bar, b_full = state_tables(params, deals)
    """
    p_bar = kernel(params, deals, None)
    b = absorption(p_bar)
    n = len(deals)
    b_full = np.zeros((n, N_STATES, 3))
    b_full[:, :N_TRANSIENT] = b
    b_full[:, N_TRANSIENT:] = np.eye(3)[None]
    tables = StateTables(
        p_won=b[:, :, 0],
        p_lost=b[:, :, 1],
        p_no_decision=b[:, :, 2],
        p_stall=stall_probability(p_bar, params.horizon_days),
    )
    return tables, p_bar, b_full


def deal_action_effects(params: SimParams, deals: Deals, b_full: np.ndarray | None = None
                        ) -> np.ndarray:
    """True effect of each action, per deal and state, shape (n, 10, 7, 3).

    Effect = change in final (won, lost, no decision) probability from taking the action
    on the next day instead of no action, following the historic policy afterwards.

    Example:
        >>> # eff = deal_action_effects(params, deals); eff[:, 6, 2, 0]  # agree plan, step 3
    """
    if b_full is None:
        b_full = state_tables(params, deals)[2]
    base = np.einsum("nxy,nyk->nxk", kernel(params, deals, -1), b_full)
    out = np.empty((len(deals), N_TRANSIENT, N_ACTIONS, 3))
    for a in range(N_ACTIONS):
        out[:, :, a] = np.einsum("nxy,nyk->nxk", kernel(params, deals, a), b_full) - base
    return out


def effects_frame(effects: np.ndarray, deal_ids: np.ndarray) -> pd.DataFrame:
    """Long table of per-deal effects: deal_id, step, engaged, action, effect_p_*.

    Example:
        >>> # effects_frame(deal_action_effects(params, deals), ids)
    """
    n = effects.shape[0]
    grid = np.indices((n, N_TRANSIENT, N_ACTIONS)).reshape(3, -1)
    flat = effects.reshape(-1, 3)
    return pd.DataFrame({
        "deal_id": np.asarray(deal_ids)[grid[0]],
        "step": np.asarray(STEPS)[_STEP_OF[grid[1]]],
        "engaged": _DARK_OF[grid[1]] == 0,
        "action": np.asarray(ACTIONS)[grid[2]],
        "effect_p_won": flat[:, 0],
        "effect_p_lost": flat[:, 1],
        "effect_p_no_decision": flat[:, 2],
    })


class EffectAccumulator:
    """Running sums for ``action_effects.parquet`` (deal-averaged and visit-weighted)."""

    # Sums are kept in fixed point (int64, 1e-9 units) so they do not depend on how the
    # deals were split into chunks: the output file is byte-identical for any chunk size.
    SCALE = 1e9

    def __init__(self) -> None:
        self.sum = np.zeros((N_TRANSIENT, N_ACTIONS, 3), np.int64)
        self.n = 0
        self.wsum = np.zeros((N_TRANSIENT, N_ACTIONS, 3), np.int64)
        self.visits = np.zeros(N_TRANSIENT, np.int64)

    def add(self, effects: np.ndarray, visits: np.ndarray) -> None:
        """Add a chunk: effects (n, 10, 7, 3) and open days per deal and state (n, 10)."""
        fixed = np.round(effects * self.SCALE).astype(np.int64)
        self.sum += fixed.sum(axis=0)
        self.n += effects.shape[0]
        self.wsum += np.einsum("nx,nxak->xak", visits.astype(np.int64), fixed)
        self.visits += visits.astype(np.int64).sum(axis=0)

    def frame(self) -> pd.DataFrame:
        """The aggregated effect table, one row per (action, step, engaged)."""
        recs = []
        for x in range(N_TRANSIENT):
            for a in range(N_ACTIONS):
                mean = self.sum[x, a] / self.SCALE / max(self.n, 1)
                wmean = self.wsum[x, a] / self.SCALE / max(int(self.visits[x]), 1)
                recs.append({
                    "action": ACTIONS[a], "step": STEPS[x // 2], "step_index": x // 2,
                    "engaged": x % 2 == 0,
                    "effect_p_won": mean[0], "effect_p_lost": mean[1],
                    "effect_p_no_decision": mean[2],
                    "visit_weighted_effect_p_won": wmean[0],
                    "visit_weighted_effect_p_no_decision": wmean[2],
                    "n_deals": self.n, "open_days_in_state": int(self.visits[x]),
                })
        return pd.DataFrame(recs)


def state_visits(rows: np.ndarray, step: np.ndarray, dark: np.ndarray, n: int) -> np.ndarray:
    """Count open days per deal and hidden state from daily rows, shape (n, 10).

    Example:
        >>> import numpy as np
        >>> state_visits(np.array([0, 0]), np.array([1, 1]), np.array([0, 1]), 1)[0, 2:4].tolist()
        [1.0, 1.0]
    """
    x = 2 * np.asarray(step, np.int64) + np.asarray(dark, np.int64)
    return np.bincount(np.asarray(rows) * N_TRANSIENT + x, minlength=n * N_TRANSIENT).reshape(
        n, N_TRANSIENT).astype(np.float64)
