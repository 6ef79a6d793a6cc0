"""How hard next-best-action is on a simulation: what simple policies of TRUE effects recover.

For a set of snapshots (deal, hidden step, engaged/dark), each with the deal's true effect of
every action on the final no-decision probability (:func:`training.simulator.truth.
deal_action_effects`), the *full oracle* takes the truly best valid action for that deal and
state (or none when nothing helps).  Two simple policies are scored against it, with their true
effects:

- the **(step, engaged) lookup**: per buyer step and engagement, the action whose true effect is
  best on average over the same snapshots (in-sample, so its best case);
- the **two-rule playbook**: dark -> re-engage, else confirm the problem.

The share of the oracle's mean no-decision reduction each recovers is the simulator's NBA
difficulty: a high lookup share means a table, not a model of the deal, is all a recommender
needs.  Snapshots weigh as they come (occupancy).

Example:
    >>> import numpy as np
    >>> eff = np.zeros((2, 10, 7, 3)); eff[0, 0, 0, 2] = -0.02; eff[1, 0, 5, 2] = -0.02
    >>> d = nba_difficulty(eff, np.array([0, 1]), np.array([0, 0]), np.array([False, False]),
    ...                    np.ones((5, 7), bool))
    >>> d["lookup_share_of_oracle"], d["oracle_mean_nd_reduction"]
    (0.5, 0.02)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.simulator.params import ACTIONS, N_ACTIONS, N_STEPS

_ND = 2  # index of the no-decision probability in the effect tensor's last axis


def snapshot_effects(effects: np.ndarray, rows: np.ndarray, step: np.ndarray,
                     dark: np.ndarray) -> np.ndarray:
    """True no-decision *reduction* of each action per snapshot, shape (m, N_ACTIONS).

    Example:
        >>> eff = np.zeros((1, 10, 7, 3)); eff[0, 3, 6, 2] = -0.05
        >>> snapshot_effects(eff, np.array([0]), np.array([1]), np.array([True]))[0, 6]
        np.float64(0.05)
    """
    x = 2 * np.asarray(step, np.int64) + np.asarray(dark, np.int64)
    return -effects[np.asarray(rows, np.int64), x, :, _ND]


def nba_difficulty(effects: np.ndarray, rows: np.ndarray, step: np.ndarray, dark: np.ndarray,
                   valid: np.ndarray) -> dict[str, float]:
    """Oracle, lookup and playbook mean no-decision reductions, and the lookup / playbook shares.

    ``effects`` (n, 10, N_ACTIONS, 3) per deal; ``rows``, ``step``, ``dark`` one element per
    snapshot; ``valid`` (N_STEPS, N_ACTIONS) says which actions the catalogue allows per step.
    """
    gain = snapshot_effects(effects, rows, step, dark)
    step = np.asarray(step, np.int64)
    dark = np.asarray(dark, bool)
    allowed = np.asarray(valid, bool)[step]
    masked = np.where(allowed, gain, -np.inf)
    oracle = np.maximum(masked.max(axis=1), 0.0)
    cell = 2 * step + dark
    lookup = np.zeros(len(gain))
    for c in np.unique(cell):
        sel = cell == c
        mean = np.where(allowed[sel][0], gain[sel].mean(axis=0), -np.inf)
        best = int(np.argmax(mean))
        lookup[sel] = gain[sel, best] if mean[best] > 0 else 0.0
    rule = np.where(dark, ACTIONS.index("reengage_dark_buyer"), ACTIONS.index("confirm_problem"))
    playbook = np.where(allowed[np.arange(len(gain)), rule], gain[np.arange(len(gain)), rule], 0.0)
    total = float(oracle.mean()) if len(oracle) else 0.0
    return {
        "oracle_mean_nd_reduction": total,
        "lookup_mean_nd_reduction": float(lookup.mean()) if len(lookup) else 0.0,
        "playbook_mean_nd_reduction": float(playbook.mean()) if len(playbook) else 0.0,
        "lookup_share_of_oracle": float(lookup.mean() / total) if total > 0 else float("nan"),
        "playbook_share_of_oracle": float(playbook.mean() / total) if total > 0 else float("nan"),
        "snapshots": float(len(gain)),
    }


def all_valid() -> np.ndarray:
    """Every action valid at every step (the mask when no catalogue is given).

    Example:
        >>> all_valid().shape
        (5, 7)
    """
    return np.ones((N_STEPS, N_ACTIONS), bool)


def difficulty_of_export(truth_dir: Path, every_days: int = 7) -> dict[str, float]:
    """:func:`nba_difficulty` of a written simulation: weekly open days, default catalogue.

    ``truth_dir`` is the export's ``truth/`` folder (``params.json``, ``daily.parquet``).
    """
    import pandas as pd

    from features.actions import ActionCatalogue
    from training.simulator.latent import draw_deals
    from training.simulator.params import STEPS, SimParams
    from training.simulator.sf_export import deal_index_from_id
    from training.simulator.truth import deal_action_effects

    params = SimParams.load(Path(truth_dir))
    daily = pd.read_parquet(Path(truth_dir) / "daily.parquet",
                            columns=["deal_id", "day", "step", "engaged"])
    daily = daily[daily["day"] % every_days == 0]
    uniq, rows = np.unique(deal_index_from_id(daily["deal_id"].astype(str).tolist()),
                           return_inverse=True)
    effects = deal_action_effects(params, draw_deals(params, uniq))
    valid = ActionCatalogue.default().valid_mask(STEPS, ACTIONS)
    return nba_difficulty(effects, rows, daily["step"].to_numpy(), ~daily["engaged"].to_numpy(),
                          valid)
