"""Score one open deal from its raw history alone: the ranking row a service answers with.

The deal's records (canonical column names, see :mod:`features.contract`) become feature rows
at ``as_of`` and ``as_of - compare_days`` in one pass (:func:`features.live.live_feature_rows`),
with the peer references frozen in the model (:attr:`DealRiskModel.peer_stats`); the rows are
scored in numpy (:meth:`DealRiskModel.record_matrix`, calibrated margins) and explained by the
same reason rules as the batch ranking.  So for the same deal, ``as_of`` and peer references
the result equals the row :func:`training.ranking.rank_open_deals` gives, field for field
(``rank`` aside); ``warnings`` add what the history lacks.

Example:
    >>> data_warnings({"amount": None}, stages=[], activities=[], contacts=[])[:2]
    ['no amount: revenue at risk is 0', 'no stage history: the buyer step is unknown']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.action_history import MISSING_MS, days_since_codes
from features.encode import ALL_ROLES
from features.histories import DealHistories
from features.live import live_feature_rows, to_ms
from features.schema import ACTIVITY_TYPES
from features.timeline import NEVER_MS
from training.ranking import (
    model_basis,
    rank_open_deals,
    ranking_risk,
    reported_amount,
)

if TYPE_CHECKING:
    from training.model import DealRecordTuple, DealRiskModel

Record = Mapping[str, object]
#: Frozen peer references older than this (days before ``as_of``) get a warning.
STALE_PEERS_DAYS = 90


class NotScorable(ValueError):
    """The deal cannot be scored at ``as_of`` (not open then, or no frozen peers)."""


def score_deal(model: DealRiskModel, deal: Record, stages: Sequence[Record] = (),
               activities: Sequence[Record] = (), contacts: Sequence[Record] = (),
               changes: Sequence[Record] = (), *, as_of: pd.Timestamp, compare_days: int = 7,
               top_k: int = 3) -> dict[str, object]:
    """The ranking row of one deal open at ``as_of`` (see the module docstring).

    Raises :class:`NotScorable` when the deal is not open at ``as_of`` or the model carries
    no frozen peer references (trained before they existed: retrain it).
    """
    if model.peer_stats is None:
        raise NotScorable("the model carries no frozen peer references (it was trained "
                          "before they existed); retrain it to score single deals")
    as_of = pd.Timestamp(as_of)
    created, closed = _time(deal.get("created_at")), _time(deal.get("closed_at"))
    if created is None or created > as_of:
        raise NotScorable(f"the deal was created at {created}, after as_of {as_of}")
    if closed is not None and closed <= as_of:
        raise NotScorable(f"the deal closed at {closed}, before as_of {as_of}; only open "
                          "deals are scored")
    before = as_of - pd.Timedelta(days=compare_days)
    rows = live_feature_rows(deal, stages, activities, contacts, changes,
                             as_of=[as_of.to_pydatetime(), before.to_pydatetime()],
                             peers=model.peer_stats, profile=model.profile)
    x = model.record_matrix(rows)
    probs = {f"{t}_risk": model.predict_matrix(x, t) for t in model.targets}
    basis = model_basis(model, compare_days)
    risk = ranking_risk(probs, basis)
    was_open = created <= before
    known = rows[0].get("amount")
    amount = float(reported_amount(np.array([np.nan if known is None else known], np.float64),
                                   np.array([_number(deal.get("amount"))]))[0])
    revenue = float(risk[0] * (0.0 if amount != amount else amount))
    return {
        "deal_id": str(deal["deal_id"]),
        "name": _text(deal.get("name")),
        "owner": _text(deal.get("owner_name")) or _text(deal.get("owner_id")),
        "account": _text(deal.get("account_name")) or _text(deal.get("account_id")),
        "amount": amount,
        "currency": _text(deal.get("currency")),
        "buyer_step": str(rows[0]["current_step"]),
        "days_in_step": round(float(rows[0]["days_in_step"]), 1),
        "stall_risk": _prob(probs, "stall_risk"),
        "no_decision_risk": _prob(probs, "no_decision_risk"),
        "win_probability": _prob(probs, "won_risk"),
        "risk_change": float(risk[0] - risk[1]) if was_open else float("nan"),
        "revenue_at_risk": revenue,
        "reasons": model.explain_matrix(x[:1], rows[:1], top_k)[0],
        **next_step_fields(model, deal, rows[0], x[:1], activities, as_of),
        "warnings": data_warnings(deal, stages, activities, contacts,
                                  peers_known_until=model.peers_known_until, as_of=as_of),
    }


def next_step_fields(model: DealRiskModel, deal: Record, row: Record, x: np.ndarray,
                     activities: Sequence[Record], as_of: pd.Timestamp) -> dict[str, object]:
    """``next_step`` (one line) and ``next_best_actions`` (details) of one scored deal.

    The cool-downs come from the deal's own activity records, in numpy
    (:func:`features.action_history.days_since_codes`, as in training).
    """
    from training.next_step.recommend import DealRecommendations

    nsm = model.next_steps
    if nsm is None:
        recs = DealRecommendations([], model.next_steps_note)
    else:
        code_of = {name: i for i, name in enumerate(nsm.catalogue.names)}
        taken = [a for a in activities if a.get("action") in code_of]
        recorded = np.array([to_ms(a.get("recorded_at")) for a in taken], dtype=np.int64)
        days = days_since_codes(
            np.full(len(taken), str(deal["deal_id"]), dtype=object),
            np.array([code_of[a["action"]] for a in taken], dtype=np.int64),
            np.array([to_ms(a.get("occurred_at")) for a in taken], dtype=np.int64),
            np.where(recorded == NEVER_MS, MISSING_MS, recorded),
            np.array([str(deal["deal_id"])], dtype=object), np.array([to_ms(as_of)]),
            len(code_of))
        recs = nsm.recommend(x, np.array([str(row["current_step"])], dtype=object), days)[0]
    return {"next_step": recs.headline,
            "next_best_actions": [step.to_dict() for step in recs.steps]}


def score_deals(model: DealRiskModel, deals: Sequence[DealRecordTuple], *,
                as_of: pd.Timestamp, compare_days: int = 7
                ) -> list[dict[str, object] | NotScorable]:
    """:func:`score_deal` of many deals at one ``as_of``, vectorised; results in order.

    The first history of each deal id becomes one :class:`~features.histories.DealHistories`
    ranked by :func:`training.ranking.rank_open_deals` with the frozen peers: one feature
    pass, one prediction and one explanation for all.  A repeated id is scored on its own
    history by :func:`score_deal`.  Each row equals :func:`score_deal`'s for the deal (floats
    within 1e-9: LightGBM sums a batch and a single row in another order).
    """
    if model.peer_stats is None:
        return [NotScorable("the model carries no frozen peer references (it was trained "
                            "before they existed); retrain it to score single deals")] * len(
            deals)
    as_of = pd.Timestamp(as_of)
    first = _first_of_each([str(d[0]["deal_id"]) for d in deals])
    histories = DealHistories.from_records({
        "deals": [deals[i][0] for i in first],
        "stage_history": [r for i in first for r in deals[i][1]],
        "activities": [r for i in first for r in deals[i][2]],
        "contacts": [r for i in first for r in deals[i][3]],
        "field_history": [r for i in first for r in deals[i][4]]}, model.profile)
    ranking = rank_open_deals(model, histories, as_of, compare_days=compare_days,
                              peers=model.peer_stats)
    rows = {r["deal_id"]: r for r in ranking.drop(columns="rank").to_dict("records")}
    out: list[dict[str, object] | NotScorable] = []
    for index, (deal, stages, activities, contacts, changes) in enumerate(deals):
        if index not in first:
            try:
                out.append(score_deal(model, deal, stages, activities, contacts, changes,
                                      as_of=as_of, compare_days=compare_days))
            except NotScorable as exc:
                out.append(exc)
            continue
        row = rows.get(str(deal["deal_id"]))
        if row is None:
            out.append(NotScorable(f"the deal is not open at as_of {as_of}"))
            continue
        row["name"], row["currency"] = _text(row["name"]), _text(row["currency"])  # as alone
        row["warnings"] = data_warnings(deal, stages, activities, contacts,
                                        peers_known_until=model.peers_known_until, as_of=as_of)
        out.append(row)
    return out


def _first_of_each(ids: Sequence[str]) -> dict[int, None]:
    """The index of each id's first occurrence (an ordered set).

    Example:
        >>> list(_first_of_each(["a", "b", "a", "c", "a"]))
        [0, 1, 3]
    """
    seen: dict[str, int] = {}
    for index, deal_id in enumerate(ids):
        seen.setdefault(deal_id, index)
    return dict.fromkeys(seen.values())


def data_warnings(deal: Record, stages: Sequence[Record], activities: Sequence[Record],
                  contacts: Sequence[Record], *, peers_known_until: pd.Timestamp | None = None,
                  as_of: pd.Timestamp | None = None) -> list[str]:
    """What one deal's history lacks that its scores should be read with (plain words)."""
    out = []
    if _number(deal.get("amount")) != _number(deal.get("amount")):
        out.append("no amount: revenue at risk is 0")
    if not stages:
        out.append("no stage history: the buyer step is unknown")
    if not activities:
        out.append("no activities: engagement reads as none")
    types = sorted({str(a.get("type")) for a in activities} - set(ACTIVITY_TYPES))
    if types:
        out.append(f"activity types without their own features: {', '.join(types)} "
                   "(counted in the totals only)")
    roles = sorted({str(c.get("role")) for c in contacts} - set(ALL_ROLES))
    if roles:
        out.append(f"contact roles the model does not know: {', '.join(roles)}")
    if peers_known_until is not None and as_of is not None:
        age = (as_of - peers_known_until).days
        if age > STALE_PEERS_DAYS:
            out.append(f"peer references (won-step medians, owner and account track records) "
                       f"are from {peers_known_until:%Y-%m-%d}, {age} days before as_of; "
                       "retrain for current ones")
    return out


def _prob(probs: dict[str, np.ndarray], key: str) -> float:
    return float(probs[key][0]) if key in probs else float("nan")


def _time(value: object) -> pd.Timestamp | None:
    if value is None or value == "" or value != value:
        return None
    return pd.Timestamp(value)


def _number(value: object) -> float:
    try:
        return float("nan") if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")


def _text(value: object) -> str | None:
    if value is None or value is pd.NA or value != value or value == "":
        return None
    return str(value)
