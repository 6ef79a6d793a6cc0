"""The service's answers: a deal's score, a batch, a ranking (NaN becomes null, bands added).

Example:
    >>> risk_band(0.62), risk_band(0.31), risk_band(0.1), risk_band(float("nan"))
    ('high', 'medium', 'low', None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.histories import DealHistories
from features.ingest.result import REPORT_FILE
from serving.requests import HISTORY_LISTS, DealRecords
from serving.schemas import DealScore, NextAction, RankBasis, RankRow
from training.model import DealRiskModel

#: Ranking-risk thresholds of the bands: at least HIGH is "high", at least MEDIUM "medium".
HIGH, MEDIUM = 0.5, 0.3


def risk_band(risk: float) -> str | None:
    """The band of a ranking risk (P(no decision), else 1 - P(won)); None when unknown."""
    if risk != risk:
        return None
    return "high" if risk >= HIGH else "medium" if risk >= MEDIUM else "low"


def deal_score(row: dict[str, Any], model: DealRiskModel) -> DealScore:
    """The API form of :meth:`DealRiskModel.score_deal`'s row."""
    risk = row["no_decision_risk"] if "no_decision" in model.targets else (
        1.0 - row["win_probability"])
    clean = {k: _finite(v) for k, v in row.items()
             if k not in ("next_step", "next_best_actions")}
    actions = [NextAction(**{k: _finite(v) for k, v in a.items()})
               for a in row.get("next_best_actions") or []]
    note = "" if actions else str(row.get("next_step", ""))
    return DealScore(**clean, risk_band=risk_band(risk), next_best_actions=actions,
                     next_best_actions_note=note)


def rank_rows(ranking: pd.DataFrame, top: int | None = None) -> list[RankRow]:
    """Rows of a :meth:`DealRiskModel.rank` frame (the first ``top``)."""
    frame = ranking if top is None else ranking.head(top)
    return [RankRow(**{k: _finite(v) for k, v in record.items()})
            for record in frame.to_dict("records")]


def rank_basis(ranking: pd.DataFrame) -> RankBasis:
    """The ranking's basis (``attrs["basis"]``) in API form."""
    basis = ranking.attrs["basis"]
    return RankBasis(risk=basis.risk, risk_label=basis.risk_label,
                     revenue_label=basis.revenue_label, horizon_days=basis.horizon_days,
                     notes=list(basis.notes), warnings=list(basis.warnings),
                     definitions=basis.definitions())


def histories_of(deals: Sequence[DealRecords], model: DealRiskModel) -> DealHistories:
    """Canonical histories of many checked deals (for the ranking)."""
    records = {"deals": [d.deal for d in deals]}
    for name in HISTORY_LISTS:
        records[name] = [row for d in deals for row in getattr(d, name)]
    return DealHistories.from_records(records, model.profile)


def read_canonical(directory: Path) -> tuple[DealHistories, pd.Timestamp]:
    """The tables ``dealrisk ingest`` wrote and their export time (for the dashboard)."""
    histories = DealHistories.read_parquet(directory)
    report = json.loads((directory / REPORT_FILE).read_text())
    return histories, pd.Timestamp(report["export_time"])


def export_stamp(directory: Path) -> float:
    """When ``dealrisk ingest`` last wrote ``directory`` (its report's mtime; 0: none yet)."""
    try:
        return (directory / REPORT_FILE).stat().st_mtime
    except OSError:
        return 0.0


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
