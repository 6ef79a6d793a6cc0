"""Difficulty figures of a simulated pipeline: weekly-snapshot AUCs of the oracle and a rule.

PRODUCT.md asks that, at weekly snapshots, the oracle's ROC AUC for "no decision" sit
in about 0.75–0.90 and a stage-age rule score at least 0.05 below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.simulator.journey import Journeys
from training.simulator.params import N_STEPS
from training.simulator.truth import StateTables


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank (Mann–Whitney) formula, ties counted as one half.

    Example:
        >>> import numpy as np
        >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based rank of each tie group's first member
    avg_rank = first + (counts + 1) / 2.0
    r = avg_rank[inv]
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass
class SnapshotCollector:
    """Collects weekly snapshots of closed deals across chunks and scores them at the end."""

    every_days: int = 7
    max_deal_index: int = 100_000
    parts: dict[str, list[np.ndarray]] = field(default_factory=lambda: {
        k: [] for k in ("label", "oracle", "stage", "age")})
    won_spells: list[np.ndarray] = field(default_factory=list)
    won_spell_stage: list[np.ndarray] = field(default_factory=list)

    def add(self, journeys: Journeys, tables: StateTables) -> None:
        """Add the snapshots of one simulated chunk (deals below ``max_deal_index`` only)."""
        keep = (journeys.deals.index < self.max_deal_index) & (journeys.outcome > 0)
        dl = journeys.daily
        sel = keep[dl["row"]] & (dl["day"] % self.every_days == 0)
        rows, days = dl["row"][sel], dl["day"][sel]
        st, dk = dl["step"][sel], dl["dark"][sel].astype(np.int64)
        self.parts["label"].append(journeys.outcome[rows] == 3)
        self.parts["oracle"].append(tables.p_no_decision[rows, 2 * st + dk])
        # days in the current stage, from the stage history known at the snapshot
        sg = journeys.stage
        key_ev = sg["row"].astype(np.int64) * 100_000 + sg["day"]
        pos = np.searchsorted(key_ev, rows.astype(np.int64) * 100_000 + days, side="right") - 1
        self.parts["stage"].append(st)
        self.parts["age"].append(days - sg["day"][pos])
        # stage spell lengths among won deals (the rule's reference)
        won = journeys.outcome[sg["row"]] == 1
        nxt_same = np.r_[sg["row"][1:] == sg["row"][:-1], False]
        spell = won & nxt_same & (sg["stage"] < N_STEPS)
        nxt_day = np.r_[sg["day"][1:], 0]
        self.won_spells.append((nxt_day - sg["day"])[spell])
        self.won_spell_stage.append(sg["stage"][spell])

    def result(self) -> dict[str, float]:
        """AUCs of the oracle ``p_no_decision`` and of the stage-age rule, and the sample size.

        Example:
            >>> # SnapshotCollector().result()["oracle_nd_auc"]
        """
        if not self.parts["label"]:
            return {"oracle_nd_auc": float("nan"), "stage_age_nd_auc": float("nan"),
                    "n_snapshots": 0}
        cat = {k: np.concatenate(v) for k, v in self.parts.items()}
        spells = np.concatenate(self.won_spells)
        spell_stage = np.concatenate(self.won_spell_stage)
        med = np.ones(N_STEPS)
        for s in range(N_STEPS):
            if (spell_stage == s).any():
                med[s] = max(float(np.median(spells[spell_stage == s])), 1.0)
        rule = cat["age"] / med[cat["stage"]]
        return {
            "oracle_nd_auc": roc_auc(cat["label"], cat["oracle"]),
            "stage_age_nd_auc": roc_auc(cat["label"], rule),
            "n_snapshots": len(cat["label"]),
        }
