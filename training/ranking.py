"""The manager ranking: open deals by revenue at risk, with why and how the risk moved.

Revenue at risk = no-decision risk x amount (the money most likely to end in "no decision").
The amount is the one known at ``as_of``; a pipeline whose export has no amount history (the
feature is left out) shows the deal's current amount.
Each row also carries the stall risk, the change of the no-decision risk since the previous
weekly snapshot, the deal's buyer step and days in it, and the top reasons in plain words.

Example:
    >>> RANK_COLUMNS[:4]
    ['rank', 'deal_id', 'name', 'owner_id']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from features.histories import DealHistories

if TYPE_CHECKING:
    from training.model import DealRiskModel

RANK_COLUMNS = ["rank", "deal_id", "name", "owner_id", "amount", "currency", "buyer_step",
                "days_in_step", "stall_risk", "no_decision_risk", "risk_change",
                "revenue_at_risk", "reasons", "next_step"]
NO_NEXT_STEP = "n/a (no next-step model yet)"


def rank_open_deals(model: DealRiskModel, histories: DealHistories, as_of: pd.Timestamp, *,
                    compare_days: int = 7) -> pd.DataFrame:
    """Score every deal open at ``as_of`` and rank by revenue at risk (highest first).

    ``risk_change`` is the no-decision risk now minus at ``as_of - compare_days`` (empty for deals
    created since).  Columns: :data:`RANK_COLUMNS`.
    """
    now = model.score(histories, as_of)
    before = model.score(histories, as_of - pd.Timedelta(days=compare_days))
    previous = before.set_index("deal_id")["no_decision_risk"]
    deals = histories.deals.set_index("deal_id")
    ids = now["deal_id"]
    out = pd.DataFrame({
        "deal_id": ids.to_numpy(),
        "name": deals["name"].reindex(ids).to_numpy(),
        "owner_id": deals["owner_id"].reindex(ids).to_numpy(),
        "amount": now["amount"].astype("float64").fillna(
            deals["amount"].reindex(ids).reset_index(drop=True)).to_numpy(),
        "currency": deals["currency"].reindex(ids).to_numpy(),
        "buyer_step": now["current_step"].astype("str").to_numpy(),
        "days_in_step": now["days_in_step"].astype("float64").round(1).to_numpy(),
        "stall_risk": now["stall_risk"].to_numpy(),
        "no_decision_risk": now["no_decision_risk"].to_numpy(),
        "risk_change": (now["no_decision_risk"].to_numpy()
                        - previous.reindex(ids).to_numpy()),
        "reasons": list(now["reasons"]),
        "next_step": NO_NEXT_STEP,
    })
    out["revenue_at_risk"] = out["no_decision_risk"] * out["amount"].fillna(0.0)
    out = out.sort_values(["revenue_at_risk", "deal_id"], ascending=[False, True],
                          kind="stable").reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out[RANK_COLUMNS]
