"""Time-based split of labelled snapshots into train / valid / calib / test windows.

Rules (PRODUCT.md, "honest evaluation"):

1. Windows are laid out **from the end**: test holds the last ``fractions[3]`` of the labelled
   rows (by ``as_of``), calib the ``fractions[2]`` before it, valid the ``fractions[1]`` before
   that, each window ending at least ``H`` days before the next one starts (the gap); train gets
   what is left before valid.  So the evaluation windows keep their share and the gaps are paid
   for by the training window.
2. Every deal is on one side: it belongs to the window of its **last** labelled snapshot
   (``assign="last"``, for final-outcome labels) or of its **first** one (``assign="first"``,
   for horizon labels such as stall), and its snapshots outside that window are dropped.
3. A window also starts no earlier than the moment the last label of any earlier window's kept
   row became known (``labels_known_at``), so no evaluation snapshot precedes the end of the
   training labels.

Example:
    >>> import pandas as pd
    >>> days = pd.to_timedelta(range(0, 400, 7), unit="D")
    >>> rows = pd.DataFrame({"deal_id": [f"d{i // 4}" for i in range(len(days))],
    ...                      "as_of": pd.Timestamp("2024-01-01", tz="UTC") + days,
    ...                      "label_stall": 1.0})
    >>> rows["labels_known_at"] = rows["as_of"] + pd.Timedelta(days=30)
    >>> s = time_split(rows, horizon_days=30)
    >>> s.train["as_of"].max() + pd.Timedelta(days=30) <= s.valid["as_of"].min()
    True
    >>> set(s.train["deal_id"]) & set(s.test["deal_id"])
    set()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from training.labels import KNOWN_AT, LABELS

SPLITS: tuple[str, ...] = ("train", "valid", "calib", "test")
#: Default train / valid / calib / test shares (the reason for a calib window as long as the
#: test window is given at :attr:`training.model.TrainConfig.split_fractions`).
DEFAULT_FRACTIONS: tuple[float, float, float, float] = (0.5, 0.1, 0.2, 0.2)


@dataclass
class TimeSplit:
    """The four windows (row frames) and where they start and end (inclusive as_of bounds)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    calib: pd.DataFrame
    test: pd.DataFrame
    windows: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] = field(
        default_factory=dict)
    dropped_rows: int = 0

    def parts(self) -> dict[str, pd.DataFrame]:
        """The windows by name, in time order."""
        return {name: getattr(self, name) for name in SPLITS}


def time_split(rows: pd.DataFrame, *, horizon_days: int,
               fractions: tuple[float, float, float, float] = DEFAULT_FRACTIONS,
               label_columns: tuple[str, ...] = LABELS,
               assign: Literal["last", "first"] = "last") -> TimeSplit:
    """Split labelled feature rows by time (see the module docstring).

    ``rows`` needs ``deal_id``, ``as_of`` and at least one of ``label_columns``; a
    ``labels_known_at`` column (from :func:`training.labels.make_labels`) tightens the gap.
    Rows without any label are dropped.

    ``assign="first"`` is for horizon labels (stall): a deal belongs to the window of its
    *first* labelled snapshot (deals taken in the order they started, as in the published
    benchmark protocol), and a label is known at ``as_of + horizon`` — which the gaps between
    windows already respect.  Unlike ``"last"``, it does not select deals by when they end, so
    the calibration window looks like the test window.
    """
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or sum(fractions) <= 0:
        raise ValueError(f"fractions must be 4 non-negative numbers, got {fractions}")
    present = [c for c in label_columns if c in rows.columns]
    if not present:
        raise ValueError(f"rows carry none of the label columns {list(label_columns)}")
    labelled = rows[rows[present].notna().any(axis=1).to_numpy()]
    gap = pd.Timedelta(days=int(horizon_days))
    if labelled.empty:
        empty = labelled.iloc[:0]
        return TimeSplit(empty, empty, empty, empty, {s: (None, None) for s in SPLITS},
                         len(rows))
    t = labelled["as_of"].astype("datetime64[ms, UTC]")
    ms = t.astype("int64").to_numpy()
    starts, ends = _layout(np.sort(ms), fractions, int(gap / pd.Timedelta(milliseconds=1)))
    window = np.full(len(ms), -1)
    for k in range(len(SPLITS)):
        window[(ms >= starts[k]) & (ms < ends[k])] = k
    deal = labelled["deal_id"].astype("str").to_numpy()
    if assign == "first":
        home = pd.Series(np.where(window >= 0, window, len(SPLITS))).groupby(deal).min()
    else:
        home = pd.Series(np.where(ms >= starts[0], window, -1)).groupby(deal).max()
    keep = (window >= 0) & (window == home.reindex(deal).to_numpy())
    known_at = (labelled[KNOWN_AT].astype("datetime64[ms, UTC]")
                if KNOWN_AT in labelled and assign == "last" else t + gap)
    parts: dict[str, pd.DataFrame] = {}
    windows: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] = {}
    labels_end: pd.Timestamp | None = None
    for k, name in enumerate(SPLITS):
        mask = keep & (window == k)
        if labels_end is not None:
            mask &= (t >= labels_end).to_numpy()
        parts[name] = labelled[mask]
        windows[name] = (t[mask].min(), t[mask].max()) if mask.any() else (None, None)
        if mask.any():
            end_k = known_at[mask].max()
            if pd.notna(end_k) and (labels_end is None or end_k > labels_end):
                labels_end = end_k
    kept = sum(len(p) for p in parts.values())
    return TimeSplit(**parts, windows=windows, dropped_rows=len(rows) - kept)


def _layout(sorted_ms: np.ndarray, fractions: tuple[float, ...], gap_ms: int
            ) -> tuple[list[int], list[int]]:
    """Window [start, end) times in ms, laid out backwards from the last row (see rule 1)."""
    n = len(sorted_ms)
    total = float(sum(fractions))
    starts = [0] * len(fractions)
    ends = [0] * len(fractions)
    end = int(sorted_ms[-1]) + 1
    hi = n  # rows before index hi are still available
    for k in range(len(fractions) - 1, 0, -1):
        take = round(n * fractions[k] / total)
        lo = max(hi - take, 0)
        start = int(sorted_ms[lo]) if lo < n and take > 0 else end
        starts[k], ends[k] = start, end
        end = start - gap_ms
        hi = int(np.searchsorted(sorted_ms, end, side="left"))
    starts[0], ends[0] = int(sorted_ms[0]), max(end, int(sorted_ms[0]))
    return starts, ends
