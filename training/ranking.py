"""The manager ranking: open deals by revenue at risk, with why and how the risk moved.

Revenue at risk = the ranking risk x amount.  The ranking risk is the no-decision risk (the
money most likely to end in "no decision") when the model has a no-decision model; a pipeline
whose history holds no no-decision outcome has none, and the ranking risk is then the risk of
not winning, 1 - P(won), said so in :class:`RankingBasis` (and by every report).
The amount is the one known at ``as_of``; a pipeline whose export has no amount history (the
feature is left out) shows the deal's current amount.
Each row also carries the stall, no-decision and win probabilities (empty where the model has no
such target), the change of the ranking risk since ``compare_days`` before, the deal's buyer
step and days in it, owner and account (names where the export has them, else ids) and the top
reasons in plain words.

Example:
    >>> RANK_COLUMNS[:5]
    ['rank', 'deal_id', 'name', 'owner', 'account']
    >>> basis_for(("stall", "won"), horizon_days=30).risk
    'not_won'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.histories import DealHistories
from features.peers import PeerStats
from training.reasons import MATERIAL_POINTS

if TYPE_CHECKING:
    from training.model import DealRiskModel

RANK_COLUMNS = ["rank", "deal_id", "name", "owner", "account", "amount", "currency",
                "buyer_step", "days_in_step", "stall_risk", "no_decision_risk",
                "win_probability", "risk_change", "revenue_at_risk", "reasons", "next_step",
                "next_best_actions"]
NO_ND_CLASS = ("no deal in this pipeline's history ended in no decision, so there is no "
               "no-decision model")


@dataclass(frozen=True)
class RankingBasis:
    """What a ranking's risk and columns mean (shown by the terminal, CSV and HTML reports).

    ``risk`` is ``"no_decision"`` (revenue at risk = P(no decision) x amount) or ``"not_won"``
    (the fallback, 1 - P(won)) x amount).  ``notes`` say why a column is empty or a fallback is
    used; ``warnings`` are the model's training warnings.
    """

    risk: str
    risk_label: str
    revenue_label: str
    horizon_days: int
    compare_days: int = 7
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    pipeline: str = ""

    def definitions(self) -> dict[str, str]:
        """Each ranking column, defined in plain words (for report legends).

        Example:
            >>> basis_for(("stall", "no_decision"), horizon_days=30).definitions()["stall_risk"]
            'probability that the deal makes no buyer-step progress in the next 30 days'
        """
        return {
            "amount": "deal amount known at the as-of time, in the deal's currency",
            "buyer_step": "the buyer's step in the journey at the as-of time",
            "days_in_step": "days since the deal entered its current buyer step",
            "stall_risk": "probability that the deal makes no buyer-step progress in the next "
                          f"{self.horizon_days} days",
            "no_decision_risk": "probability that the deal ends with the buyer deciding "
                                "nothing (no decision), whenever it closes",
            "win_probability": "probability that the deal ends won, whenever it closes",
            "risk_change": f"change of the {self.risk_label} since {self.compare_days} days "
                           "before the as-of time, in percentage points",
            "revenue_at_risk": self.revenue_label,
            "reasons": f"features of this deal that raise its {self.risk_label} by at least "
                       f"{100 * MATERIAL_POINTS:.0f} points, each with a like-for-like "
                       "reference where one exists",
            "next_step": "the buyer step to help the customer take next",
        }


def basis_for(targets: tuple[str, ...], *, horizon_days: int, compare_days: int = 7,
              warnings: tuple[str, ...] = (), pipeline: str = "") -> RankingBasis:
    """The ranking basis of a model that has ``targets``.

    Example:
        >>> basis_for(("stall", "won"), horizon_days=14).notes[0][:40]
        "no deal in this pipeline's history ended"
    """
    if "no_decision" in targets:
        return RankingBasis("no_decision", "no-decision risk",
                            "no-decision risk x amount: the money most likely to end in no "
                            "decision", horizon_days, compare_days, (), warnings, pipeline)
    notes = (f"{NO_ND_CLASS}: revenue at risk falls back to (1 - P(won)) x amount",)
    if "won" not in targets:
        notes = (f"{NO_ND_CLASS}, nor a win model: revenue at risk is empty",)
    return RankingBasis("not_won", "risk of not winning (1 - P(won))",
                        "(1 - P(won)) x amount: the money most likely not to be won "
                        "(no no-decision model for this pipeline)", horizon_days, compare_days,
                        notes, warnings, pipeline)


def ranking_risk(scored: pd.DataFrame | Mapping[str, np.ndarray], basis: RankingBasis
                 ) -> np.ndarray:
    """The ranking risk of scored rows (``<target>_risk`` columns of a frame or a dict).

    Example:
        >>> basis = basis_for(("stall", "won"), horizon_days=30)
        >>> ranking_risk({"won_risk": np.array([0.25])}, basis).tolist()
        [0.75]
    """
    if basis.risk == "no_decision":
        return np.asarray(scored["no_decision_risk"], dtype=np.float64)
    if "won_risk" in scored:
        return 1.0 - np.asarray(scored["won_risk"], dtype=np.float64)
    return np.full(len(next(iter(scored.values())) if isinstance(scored, Mapping)
                       else scored), np.nan)


def reported_amount(known: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """The amount a ranking shows: the one known at as_of, in the deal's own precision.

    Features hold the amount known at as_of in float32; where it is the deal's recorded
    amount rounded, the recorded one is shown (1234567.89, not 1234567.875); where the amount
    changed after as_of, the known one; where none is known, the recorded one.

    Example:
        >>> reported_amount(np.array([1234567.875, 500.0, np.nan]),
        ...                 np.array([1234567.89, 900.0, 7.5])).tolist()
        [1234567.89, 500.0, 7.5]
    """
    same = np.float32(recorded) == np.float32(known)
    return np.where(same | np.isnan(known), recorded, known)


def _column(scored: pd.DataFrame, name: str) -> np.ndarray:
    return (scored[name].to_numpy(dtype=np.float64) if name in scored
            else np.full(len(scored), np.nan))


def _named(deals: pd.DataFrame, ids: pd.Series, name_col: str, id_col: str) -> np.ndarray:
    ids_col = deals[id_col].reindex(ids)
    if name_col not in deals:
        return ids_col.to_numpy(dtype=object)
    names = deals[name_col].reindex(ids)
    return names.where(names.notna() & (names.astype("str") != ""), ids_col).to_numpy(
        dtype=object)


def model_basis(model: DealRiskModel, compare_days: int = 7) -> RankingBasis:
    """The ranking basis of a fitted model (its targets, horizon, warnings and pipeline)."""
    return basis_for(tuple(model.targets), horizon_days=int(model.config.horizon_days),
                     compare_days=compare_days, warnings=tuple(model.warnings),
                     pipeline=model.profile.name)


def rank_open_deals(model: DealRiskModel, histories: DealHistories, as_of: pd.Timestamp, *,
                    compare_days: int = 7, peers: PeerStats | None = None) -> pd.DataFrame:
    """Score every deal open at ``as_of`` and rank by revenue at risk (highest first).

    ``risk_change`` is the ranking risk now minus at ``as_of - compare_days`` (empty for deals
    created since).  ``peers``: the peer references the features use (default: rebuilt from
    ``histories``; the model's frozen ones are what the scoring service uses).  Columns:
    :data:`RANK_COLUMNS`; ``attrs["basis"]`` is the :class:`RankingBasis`.
    """
    basis = model_basis(model, compare_days)
    now = model.score(histories, as_of, peers=peers)
    before = model.score(histories, as_of - pd.Timedelta(days=compare_days), peers=peers,
                         explain=False)
    previous = pd.Series(ranking_risk(before, basis), index=before["deal_id"].to_numpy())
    deals = histories.deals.set_index("deal_id")
    ids = now["deal_id"]
    risk = ranking_risk(now, basis)
    out = pd.DataFrame({
        "deal_id": ids.to_numpy(),
        "name": deals["name"].reindex(ids).to_numpy(),
        "owner": _named(deals, ids, "owner_name", "owner_id"),
        "account": _named(deals, ids, "account_name", "account_id"),
        "amount": reported_amount(now["amount"].to_numpy(dtype=np.float64, na_value=np.nan),
                                  deals["amount"].reindex(ids).to_numpy(dtype=np.float64,
                                                                        na_value=np.nan)),
        "currency": deals["currency"].reindex(ids).to_numpy(),
        "buyer_step": now["current_step"].astype("str").to_numpy(),
        "days_in_step": now["days_in_step"].astype("float64").round(1).to_numpy(),
        "stall_risk": _column(now, "stall_risk"),
        "no_decision_risk": _column(now, "no_decision_risk"),
        "win_probability": _column(now, "won_risk"),
        "risk_change": risk - previous.reindex(ids.to_numpy()).to_numpy(dtype=np.float64),
        "reasons": list(now["reasons"]),
    })
    recs = model.recommend(now, histories.activities)
    out["next_step"] = [r.headline for r in recs]
    out["next_best_actions"] = [[step.to_dict() for step in r.steps] for r in recs]
    out["revenue_at_risk"] = risk * out["amount"].fillna(0.0).to_numpy()
    out = out.sort_values(["revenue_at_risk", "deal_id"], ascending=[False, True],
                          kind="stable", na_position="last").reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    out = out[RANK_COLUMNS]
    out.attrs["basis"] = basis
    return out
