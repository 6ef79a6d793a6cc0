"""Counterfactual replay with common random numbers, and per-deal true action effects.

Every draw is keyed by (seed, deal, day, stream), so re-running a deal under another
policy reuses the exact draws for everything the policy does not change; replaying
under the historic policy reproduces the recorded history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from training.simulator.journey import Policy, PolicyContext, simulate_journeys
from training.simulator.latent import draw_deals
from training.simulator.params import ACTIONS, N_STEPS, OUTCOMES, STEPS, SimParams
from training.simulator.sf_export import deal_index_from_id, opportunity_ids
from training.simulator.truth import deal_action_effects, effects_frame

Source = SimParams | Path | str


def _params(source: Source | object) -> SimParams:
    if isinstance(source, SimParams):
        return source
    if isinstance(source, str | Path):
        return SimParams.load(Path(source))
    params = getattr(source, "params", None)  # a SimulatedPipeline
    if isinstance(params, SimParams):
        return params
    raise TypeError(f"cannot get simulation parameters from {type(source).__name__}")


def _indices(deal_ids: Sequence[str] | Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(deal_ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return deal_index_from_id([str(x) for x in arr])


def historic_policy(ctx: PolicyContext) -> np.ndarray:
    """The policy that generated the data (same draws, so same actions).

    Example:
        >>> # replay(params, ids, 0, historic_policy)
    """
    return ctx.historic


def no_action(ctx: PolicyContext) -> np.ndarray:
    """Never take any of the recommendable actions.

    Example:
        >>> # replay(params, ids, 30, no_action)
    """
    return np.full(len(ctx.rows), -1, np.int64)


def always(action: str, steps: Sequence[int] | None = None, dark: bool | None = None) -> Policy:
    """Policy: take ``action`` every day in the given steps / engagement (else historic).

    Example:
        >>> pol = always("agree_evaluation_plan", steps=[3], dark=False)
    """
    a = ACTIONS.index(action)
    step_ok = np.zeros(N_STEPS, bool)
    step_ok[list(range(N_STEPS)) if steps is None else list(steps)] = True

    def policy(ctx: PolicyContext) -> np.ndarray:
        hit = step_ok[ctx.step]
        if dark is not None:
            hit &= ctx.dark == dark
        return np.where(hit, a, ctx.historic)

    return policy


def replay(
    source: Source | object,
    deal_ids: Sequence[str] | Sequence[int] | np.ndarray,
    from_day: int | Sequence[int] | np.ndarray | date | datetime | str = 0,
    policy: Policy | None = None,
    run_past_export: bool = False,
) -> pd.DataFrame:
    """Re-simulate deals from ``from_day`` on under ``policy`` with common random numbers.

    ``source`` is a :class:`SimParams`, a ``SimulatedPipeline`` or the path of an
    output / truth directory (its ``params.json``). ``from_day`` is days since each
    deal's creation (scalar or per deal) or a calendar date; history through that day
    is kept and ``policy`` decides actions from the next day (``None`` = historic). With
    ``run_past_export`` deals run until they close instead of stopping at the export.

    Returns one row per deal: deal_id, from_day, step and engaged at from_day (the
    hidden state, NaN if closed by then), outcome, won, close_day, closed_at, n_actions.

    Example:
        >>> p = SimParams(seed=1, n_deals=50)
        >>> r = replay(p, [0, 1], 0, no_action)
        >>> list(r.columns)[:2]
        ['deal_id', 'from_day']
    """
    params = _params(source)
    idx = _indices(deal_ids)
    deals = draw_deals(params, idx)
    if isinstance(from_day, date | datetime | str):
        day = np.datetime64(pd.Timestamp(from_day).date(), "D").astype(np.int64)
        start = np.maximum(day - deals.created_day, 0)
    else:
        start = np.broadcast_to(np.asarray(from_day, dtype=np.int64), (len(idx),)).copy()
    max_day = 5 * 365 + int(deals.last_day.max(initial=0)) if run_past_export else None
    j = simulate_journeys(params, deals, policy=policy, from_day=start, max_day=max_day)
    dl = j.daily
    at = dl["day"] == start[dl["row"]]
    step = np.full(len(idx), -1, np.int64)
    engaged = np.zeros(len(idx), float) * np.nan
    step[dl["row"][at]] = dl["step"][at]
    engaged[dl["row"][at]] = ~dl["dark"][at].astype(bool)
    closed_at = pd.to_datetime(np.where(j.outcome > 0, j.close_ts, 0), unit="s", utc=True)
    return pd.DataFrame({
        "deal_id": np.asarray(opportunity_ids(idx).to_pylist(), dtype=object),
        "from_day": start,
        "step_at_from": pd.array([STEPS[s] if s >= 0 else None for s in step], dtype="object"),
        "engaged_at_from": engaged,
        "outcome": np.asarray(OUTCOMES)[j.outcome],
        "won": j.outcome == 1,
        "close_day": j.close_day,
        "closed_at": closed_at.where(j.outcome > 0),
        "n_actions": j.n_actions,
    })


def true_action_effects(
    source: Source | object, deal_ids: Sequence[str] | Sequence[int] | np.ndarray
) -> pd.DataFrame:
    """True per-deal, per-state effect of each action on final won / lost / no-decision odds.

    Effect = taking the action on a day spent in that state instead of no action,
    historic policy afterwards (exact, from the transition matrices).

    Example:
        >>> p = SimParams(seed=1, n_deals=10)
        >>> len(true_action_effects(p, [0]))  # 10 states x 7 actions
        70
    """
    params = _params(source)
    idx = _indices(deal_ids)
    deals = draw_deals(params, idx)
    return effects_frame(deal_action_effects(params, deals), opportunity_ids(idx).to_pylist())
