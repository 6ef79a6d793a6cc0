"""Daily transition law of the hidden buyer journey, seller action effects, historic policy.

Hidden state of an open deal: buyer step 0..4 and engaged/dark. Each day one of the
categories in :data:`~training.simulator.params.CATEGORIES` happens (or nothing).
The probabilities depend only on the deal's constants, its state and the day's
action, so the chain is time-homogeneous per deal and its absorption / stall
probabilities can be computed exactly (see :mod:`training.simulator.truth`).
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from training.simulator.latent import Deals
from training.simulator.params import (
    ACTIONS,
    DRK,
    FWD,
    LST,
    N_ACTIONS,
    N_STEPS,
    NDC,
    REG,
    RET,
    WIN,
    SimParams,
)

# Historic policy weights, [action, step, dark]: what any rep does (generic playbook) ...
_W_GENERIC = np.zeros((N_ACTIONS, N_STEPS, 2))
_W_GENERIC[:, :, 0] = np.array([2, 1, 1, 2, 2, 3, 0], dtype=float)[:, None]
_W_GENERIC[:, :, 1] = np.array([0, 0, 0, 1, 0, 1, 4], dtype=float)[:, None]
# ... and what a skilled rep does (the step-appropriate help).
_W_FIT = np.zeros((N_ACTIONS, N_STEPS, 2))
for _s, _w in enumerate(
    (
        [5, 0, 0, 0, 0, 1, 0],
        [2, 4, 0, 0, 0, 1, 0],
        [0, 2, 1, 0, 3, 1, 0],
        [0, 0, 5, 0, 2, 0, 0],
        [0, 0, 0, 5, 0, 1, 0],
    )
):
    _W_FIT[:, _s, 0] = _w
    _W_FIT[:, _s, 1] = [0, 0, 0, 0, 0, 1, 5]


def gather(deals: Deals, rows: np.ndarray, name: str) -> np.ndarray:
    """Return ``deals.<name>[rows]``.

    Example:
        >>> # gather(deals, np.array([0, 0, 1]), "intent")
    """
    return np.asarray(getattr(deals, name))[rows]


@lru_cache(maxsize=8)
def _log_multipliers(effects_json: str) -> np.ndarray:
    """Log action multipliers, shape (1 + N_ACTIONS, N_STEPS, 2, 7); row 0 = no action."""
    effects = json.loads(effects_json)
    logm = np.zeros((1 + N_ACTIONS, N_STEPS, 2, 7))
    for a, name in enumerate(ACTIONS):
        for s, dark, cat, m in effects.get(name, []):
            logm[1 + a, int(s), int(dark), int(cat)] = np.log(m)
    return logm


def log_multipliers(params: SimParams) -> np.ndarray:
    """Log multipliers of every action on every category, by step and dark flag.

    Example:
        >>> log_multipliers(SimParams()).shape
        (8, 5, 2, 7)
    """
    return _log_multipliers(json.dumps(params.effects, sort_keys=True))


def effect_gates(params: SimParams, deals: Deals, rows: np.ndarray, step: np.ndarray,
                 action: np.ndarray) -> np.ndarray:
    """Factor on each taken action's log multipliers from the deal's state (``effect_gates``).

    Example:
        >>> import numpy as np
        >>> from training.simulator.latent import draw_deals
        >>> p = SimParams(seed=1, n_deals=4)
        >>> g = effect_gates(p, draw_deals(p, np.arange(4)), np.arange(4), np.zeros(4, int),
        ...                  np.zeros(4, int))
        >>> bool(((g > 0) & (g < 2)).all())
        True
    """
    out = np.ones(len(rows))
    for a, name in enumerate(ACTIONS):
        sel = action == a
        if not sel.any():
            continue
        for kind, arg, value, *shift in params.effect_gates.get(name, []):
            if kind == "latent":
                x = float(value) * gather(deals, rows[sel], str(arg))
                out[sel] *= 2.0 / (1.0 + np.exp(-x)) + (float(shift[0]) if shift else 0.0)
            elif kind == "role_missing":
                present = deals.engaged_at(int(arg), rows[sel], step[sel])
                out[sel] *= np.where(present, float(value), 1.0)
            else:
                raise ValueError(f"unknown effect gate {kind!r} for action {name!r}")
    return out


def day_probs(
    params: SimParams,
    deals: Deals,
    rows: np.ndarray,
    step: np.ndarray,
    dark: np.ndarray,
    action: np.ndarray,
) -> np.ndarray:
    """Probabilities of the 7 transition categories for one day, shape (m, 7).

    ``rows`` index into ``deals``; ``step``, ``dark`` and ``action`` (-1 = none) are
    arrays of the same length m. The remainder ``1 - sum`` is the probability of no change.

    Example:
        >>> import numpy as np
        >>> from training.simulator.latent import draw_deals
        >>> p = SimParams(seed=1, n_deals=5)
        >>> d = draw_deals(p, np.arange(5))
        >>> z = np.zeros(5, np.int64)
        >>> pr = day_probs(p, d, np.arange(5), z, z.astype(bool), z - 1)
        >>> bool((pr.sum(axis=1) < 1).all())
        True
    """
    step = np.asarray(step, dtype=np.int64)
    dk = np.asarray(dark, dtype=bool)
    eng = ~dk
    intent = gather(deals, rows, "intent")
    urgency = gather(deals, rows, "urgency")
    budget = gather(deals, rows, "budget")
    champ = gather(deals, rows, "champion")
    speed = gather(deals, rows, "speed")
    p = params
    m = len(step)
    out = np.zeros((m, 7))
    fwd_base = np.asarray(p.fwd_base)[step]
    lift = np.exp(
        p.fwd_intent * intent + p.fwd_urgency * urgency + p.fwd_champion * champ * (step >= 2)
    )
    out[:, FWD] = eng * fwd_base * speed * lift
    out[:, WIN] = eng * (step == N_STEPS - 1) * p.won_base * speed * lift
    out[:, REG] = eng * np.asarray(p.reg_base)[step] * np.exp(p.regress_champion * champ)
    out[:, DRK] = eng * np.asarray(p.dark_base)[step] * np.exp(
        p.dark_intent * intent + p.dark_urgency * urgency
    )
    out[:, RET] = dk * p.return_base * np.exp(p.return_intent * intent + p.return_champion * champ)
    out[:, LST] = np.where(eng, np.asarray(p.lost_base)[step], p.lost_dark_base) * np.exp(
        p.lost_budget * budget
    )
    out[:, NDC] = np.where(eng, np.asarray(p.nd_engaged_base)[step], p.nd_dark_base) * np.exp(
        p.nd_urgency * urgency + p.nd_budget * budget
    )
    action = np.asarray(action, dtype=np.int64)
    acted = action >= 0
    if acted.any():
        logm = log_multipliers(params)[action[acted] + 1, step[acted], dk[acted].astype(np.int64)]
        mod = effect_gates(params, deals, rows[acted], step[acted], action[acted])
        out[acted] *= np.exp(params.effect_strength * logm * mod[:, None])
    total = out.sum(axis=1)
    over = total > 0.9
    if over.any():
        out[over] *= (0.9 / total[over])[:, None]
    return out


def action_rate(params: SimParams, deals: Deals, rows: np.ndarray) -> np.ndarray:
    """Daily probability that the rep takes one of the actions on this deal (historic).

    Example:
        >>> # action_rate(params, deals, np.arange(len(deals)))
    """
    z = params.action_skill * gather(deals, rows, "rep_skill") + params.action_perceived_intent * (
        gather(deals, rows, "perceived_intent")
    )
    return np.minimum(params.action_rate * np.exp(z), 0.5)


def policy_probs(
    params: SimParams, deals: Deals, rows: np.ndarray, step: np.ndarray, dark: np.ndarray
) -> np.ndarray:
    """Historic policy π(action | step, dark, deal): shape (m, 1 + N_ACTIONS), column 0 = none.

    Skilled reps pick the step-appropriate help more often and also own better deals,
    and reps act more on deals they perceive as promising: the confounding a naive
    with-vs-without comparison falls into.  Under ``params.historic_policy == "randomised"``
    every row gets the same probabilities (``action_rate``, shared alike by the actions).

    Example:
        >>> # policy_probs(params, deals, rows, step, dark).sum(axis=1) == 1
    """
    step = np.asarray(step, dtype=np.int64)
    if params.historic_policy == "randomised":
        row = np.r_[1 - params.action_rate, np.full(N_ACTIONS, params.action_rate / N_ACTIONS)]
        return np.tile(row, (len(step), 1))
    dk = np.asarray(dark, dtype=np.int64)
    fit = 1.0 / (1.0 + np.exp(-params.action_fit_skill * gather(deals, rows, "rep_skill")))
    w = (1 - fit)[:, None] * _W_GENERIC[:, step, dk].T + fit[:, None] * _W_FIT[:, step, dk].T
    w = w / w.sum(axis=1, keepdims=True)
    rate = action_rate(params, deals, rows)
    return np.concatenate([(1 - rate)[:, None], rate[:, None] * w], axis=1)


def historic_actions(
    params: SimParams, deals: Deals, rows: np.ndarray, step: np.ndarray, dark: np.ndarray,
    u: np.ndarray,
) -> np.ndarray:
    """Sample the historic policy's action (-1 = none) from uniforms ``u`` (inverse CDF).

    Example:
        >>> # historic_actions(params, deals, rows, step, dark, u)
    """
    probs = policy_probs(params, deals, rows, step, dark)
    cdf = np.cumsum(probs, axis=1)
    k = (u[:, None] >= cdf[:, :-1]).sum(axis=1)
    return k.astype(np.int64) - 1
