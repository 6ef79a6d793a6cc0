"""The published protocol of outcome-oriented predictive process monitoring, on our features.

Teinemaa et al.'s benchmark ("Outcome-Oriented Predictive Process Monitoring: Review and
Benchmark", TKDD 2019) scores *prefixes*: the first k events of a case, for k = 1..40.  Its
rules, as :doc:`PRODUCT.md` states them for BPIC 2012:

- a labelling picks the cases and their label from each case's **last offer (``O_``) event**:
  cases whose last ``O_`` event is ``O_ACCEPTED``, ``O_DECLINED`` or ``O_CANCELLED`` (4,685);
  ``bpic2012_cancelled`` is positive for ``O_CANCELLED`` (one-vs-rest, so for the other two);
- cases sorted by their first event, the first 80% train and the last 20% test; training events
  at or after the first test event are dropped (the cases stay, shorter);
- prefixes of length 1..40 from cases at least that long; an AUC per prefix length, averaged
  weighted by the number of test cases of that length (and a pooled AUC over all prefixes).

Here a prefix of length k is scored by the product's own point-in-time feature row at the time
of its k-th event (``as_of`` = that event's timestamp), so it sees exactly what was known then.
Two caveats, measured and reported: events sharing the k-th event's timestamp are known at that
instant too (``tied_prefix_share``); and the published prefixes may hold the outcome-deciding
event itself, so :func:`prefix_table` can also cut every prefix before it (``leak_free``).

Example:
    >>> events = pd.DataFrame({"case": ["a", "a", "a", "b", "b"],
    ...     "activity": ["A_SUBMITTED", "O_SENT", "O_CANCELLED", "A_SUBMITTED", "O_ACCEPTED"],
    ...     "time": pd.to_datetime(["2012-01-01", "2012-01-02", "2012-01-03", "2012-01-05",
    ...                             "2012-01-06"], utc=True)})
    >>> labelling_cases(events, "cancelled").to_dict()
    {'a': 1, 'b': 0}
    >>> prefix_table(events, max_len=2)[["case", "k"]].values.tolist()
    [['a', 1], ['a', 2], ['b', 1], ['b', 2]]
    >>> prefix_table(events, max_len=3, leak_free=True)[["case", "k"]].values.tolist()
    [['a', 1], ['a', 2], ['b', 1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

#: The labelling's positive last-offer event, per published labelling name.
LABELLINGS: dict[str, str] = {"cancelled": "O_CANCELLED", "accepted": "O_ACCEPTED",
                              "declined": "O_DECLINED"}
OFFER_ENDS = tuple(LABELLINGS.values())
#: Events that decide an application's outcome (its end), besides the labelling's own event.
DECIDING = ("A_APPROVED", "A_REGISTERED", "A_ACTIVATED", "A_DECLINED", "A_CANCELLED",
            *OFFER_ENDS)
MAX_PREFIX = 40
TRAIN_SHARE = 0.8


def labelling_cases(events: pd.DataFrame, labelling: str) -> pd.Series:
    """Per kept case, 1 when its last ``O_`` event is the labelling's, else 0.

    ``events`` has ``case``, ``activity`` and ``time``, in each case's event order.
    """
    offers = events[events["activity"].str.startswith("O_")]
    last = offers.groupby("case", sort=True)["activity"].last()
    kept = last[last.isin(OFFER_ENDS)]
    return (kept == LABELLINGS[labelling]).astype("int64")


def temporal_split(events: pd.DataFrame, cases: pd.Index, train_share: float = TRAIN_SHARE
                   ) -> tuple[pd.Index, pd.Index, pd.Timestamp]:
    """Train and test cases by start time, and the first test event's time (the cut)."""
    starts = events[events["case"].isin(cases)].groupby("case")["time"].min()
    order = starts.sort_values(kind="stable").index
    n_train = round(train_share * len(order))
    train, test = order[:n_train], order[n_train:]
    cut = events.loc[events["case"].isin(test), "time"].min()
    return train, test, cut


def prefix_table(events: pd.DataFrame, *, max_len: int = MAX_PREFIX, leak_free: bool = False,
                 before: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per (case, k): the prefix of a case's first k events, ``as_of`` its k-th time.

    ``before`` drops events at or after that time first (the training cut).  ``leak_free``
    keeps only prefixes that end strictly before the case's first outcome-deciding event
    (:data:`DECIDING`), in order and in time.  Columns: ``case``, ``k``, ``as_of``,
    ``tied`` (a later event of the case shares the k-th event's timestamp).
    """
    ev = events if before is None else events[events["time"] < before]
    ev = ev.reset_index(drop=True)
    position = ev.groupby("case", sort=False).cumcount().to_numpy() + 1
    nxt_same = (ev["case"].shift(-1) == ev["case"]) & (ev["time"].shift(-1) == ev["time"])
    out = pd.DataFrame({"case": ev["case"].to_numpy(), "k": position,
                        "as_of": ev["time"].to_numpy(), "tied": nxt_same.to_numpy()})
    keep = out["k"] <= max_len
    if leak_free:
        deciding = ev["activity"].isin(DECIDING)
        first_k = pd.Series(np.where(deciding, position, np.iinfo(np.int64).max)).groupby(
            ev["case"].to_numpy()).transform("min").to_numpy()
        first_t = ev["time"].where(deciding).groupby(ev["case"]).transform("min")
        keep &= (out["k"] < first_k) & (first_t.isna() | (ev["time"] < first_t)).to_numpy()
    return out[keep].sort_values(["case", "k"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class PrefixScore:
    """AUC per prefix length, their test-case-weighted mean and the pooled AUC."""

    by_length: pd.DataFrame  # k, cases, auc
    weighted_auc: float
    pooled_auc: float

    @classmethod
    def of(cls, k: np.ndarray, y: np.ndarray, p: np.ndarray) -> PrefixScore:
        """Score predictions ``p`` of labels ``y`` for prefixes of lengths ``k``.

        A length whose test prefixes hold one class only has no AUC and no weight.

        Example:
            >>> s = PrefixScore.of(np.array([1, 1, 2, 2]), np.array([0, 1, 0, 1]),
            ...                    np.array([0.2, 0.8, 0.9, 0.1]))
            >>> s.by_length["auc"].tolist(), s.weighted_auc
            ([1.0, 0.0], 0.5)
        """
        frame = pd.DataFrame({"k": k, "y": y, "p": p})
        rows = []
        for length, part in frame.groupby("k", sort=True):
            auc = (roc_auc_score(part["y"], part["p"]) if part["y"].nunique() == 2
                   else float("nan"))
            rows.append({"k": int(length), "cases": len(part), "auc": auc})
        table = pd.DataFrame(rows, columns=["k", "cases", "auc"])
        scored = table.dropna(subset=["auc"])
        weighted = float(np.average(scored["auc"], weights=scored["cases"])) if len(scored) \
            else float("nan")
        pooled = roc_auc_score(y, p) if len(np.unique(y)) == 2 else float("nan")
        return cls(table, weighted, float(pooled))
