"""Per-deal reasons in plain words, from LightGBM's per-feature contributions.

Each reason names one feature that pushes the deal's risk **up**, with the deal's own value and
a peer reference computed at training time: the median of that feature among training snapshots
of deals that went on to win, at the same buyer step (overall median when the step has too few).

Example:
    >>> print(describe("days_since_buyer_activity", 23.0, 7.5))
    No buyer-initiated contact for 23 days, 3.1x longer than deals that went on to win at this step
    >>> describe("has_economic_buyer", 0.0, 1.0)
    'No economic buyer on the deal'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.schema import FEATURES, FeatureSchema

#: Key of the all-steps peer reference.
ALL_STEPS = "*"
MIN_PEER_ROWS = 20
PeerReference = dict[str, dict[str, float]]
_BINARY_TRUE = {"single_threaded": "Single-threaded: at most one contact engaged",
                "open_next_step": "A next step is booked"}
_BINARY_FALSE = {"open_next_step": "No next step is booked",
                 "single_threaded": "More than one contact engaged"}


def peer_reference(rows: pd.DataFrame, won: np.ndarray, step_column: str = "current_step",
                   min_rows: int = MIN_PEER_ROWS, schema: FeatureSchema = FEATURES
                   ) -> PeerReference:
    """Median of each numeric feature among ``rows[won]``, per buyer step and overall.

    Example:
        >>> rows = pd.DataFrame({"current_step": ["a"] * 3, "days_in_step": [1.0, 3.0, 9.0]})
        >>> peer_reference(rows, np.array([True, True, False]), min_rows=1)["a"]["days_in_step"]
        2.0
    """
    numeric = [f.name for f in schema if f.dtype != "category" and f.name in rows.columns]
    winners = rows.loc[np.asarray(won, dtype=bool), [step_column, *numeric]]
    out: PeerReference = {ALL_STEPS: _medians(winners[numeric])}
    for step, group in winners.groupby(winners[step_column].astype("str"), sort=True,
                                       observed=True):
        if len(group) >= min_rows:
            out[str(step)] = _medians(group[numeric])
    return out


def _medians(frame: pd.DataFrame) -> dict[str, float]:
    med = frame.median(numeric_only=True) if len(frame) else pd.Series(dtype=float)
    return {k: float(v) for k, v in med.items() if pd.notna(v)}


def peer_value(reference: PeerReference, step: object, name: str) -> float | None:
    """The peer median of ``name`` at ``step`` (overall when the step has none).

    Example:
        >>> ref = {"*": {"x": 2.0}, "s": {"x": 5.0}}
        >>> peer_value(ref, "s", "x"), peer_value(ref, "t", "x"), peer_value({"*": {}}, "s", "x")
        (5.0, 2.0, None)
    """
    for key in (str(step), ALL_STEPS):
        value = reference.get(key, {}).get(name)
        if value is not None and not math.isnan(value):
            return value
    return None


def _fmt(name: str, v: float) -> str:
    if name.endswith(("_rate", "_ratio")) or "share" in name:
        return f"{100 * v:.0f}%"
    if abs(v - round(v)) < 1e-6 or abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe(name: str, value: object, peer: float | None,
             schema: FeatureSchema = FEATURES) -> str:
    """One plain-words reason for feature ``name`` at ``value`` given its peer reference.

    Example:
        >>> print(describe("days_in_step", 40.0, 20.0))  # doctest: +NORMALIZE_WHITESPACE
        Days in the current buyer step: 40 days,
        2.0x the 20 days of deals that went on to win at this step
        >>> describe("segment", "SMB", None)
        'Segment: SMB'
    """
    feature = schema.get(name)
    phrase = feature.phrase
    if feature.dtype == "category":
        return f"{_cap(phrase)}: {value}"
    v = float(value) if value is not None else math.nan  # type: ignore[arg-type]
    if math.isnan(v):
        return f"{_cap(phrase)}: not known"
    if name.startswith("has_"):
        role = name[4:].replace("_", " ")
        return f"No {role} on the deal" if v < 0.5 else f"A {role} is on the deal"
    if name in _BINARY_TRUE:
        return _BINARY_TRUE[name] if v >= 0.5 else _BINARY_FALSE[name]
    ratio = v / peer if peer and peer > 0 else None
    if name == "days_since_buyer_activity":
        head = f"No buyer-initiated contact for {_fmt(name, v)} days"
        if ratio is not None and ratio >= 1.2:
            return f"{head}, {ratio:.1f}x longer than deals that went on to win at this step"
        return head + _peer_clause(name, peer, " days")
    if feature.unit == "x":
        return f"{_cap(phrase)}: {v:.1f}x the median of deals that went on to win"
    unit = f" {feature.unit}" if feature.unit else ""
    head = f"{_cap(phrase)}: {_fmt(name, v)}{unit}"
    if ratio is not None and ratio >= 1.2 and feature.higher_is_riskier:
        return (f"{head}, {ratio:.1f}x the {_fmt(name, peer)}{unit} of deals that went on to win "  # type: ignore[arg-type]
                "at this step")
    return head + _peer_clause(name, peer, unit)


def _peer_clause(name: str, peer: float | None, unit: str) -> str:
    if peer is None:
        return ""
    return f" (deals that went on to win at this step: {_fmt(name, peer)}{unit})"


def top_reasons(contributions: np.ndarray, rows: pd.DataFrame, feature_names: list[str],
                reference: PeerReference, top_k: int = 3,
                schema: FeatureSchema = FEATURES) -> list[list[str]]:
    """Reasons for each row: the ``top_k`` features with the largest **positive** contribution.

    ``contributions`` has one column per feature (the bias column already removed), in
    ``feature_names`` order; ``rows`` holds the raw feature values (same row order).

    Example:
        >>> rows = pd.DataFrame({"current_step": ["decision"], "days_in_step": [30.0]})
        >>> out = top_reasons(np.array([[-0.2, 0.5]]), rows, ["current_step", "days_in_step"],
        ...                   {"*": {"days_in_step": 10.0}})
        >>> len(out[0]), out[0][0][:40]
        (1, 'Days in the current buyer step: 30 days,')
    """
    if top_k <= 0:
        return [[] for _ in range(len(rows))]
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top_k]
    steps = (rows["current_step"].astype("object").to_numpy() if "current_step" in rows
             else np.full(len(rows), ALL_STEPS, dtype=object))
    values = {name: rows[name].to_numpy(dtype=object) for name in feature_names}
    out: list[list[str]] = []
    for i in range(len(rows)):
        reasons = []
        for j in order[i]:
            if contributions[i, j] <= 0:
                break
            name = feature_names[j]
            reasons.append(describe(name, values[name][i], peer_value(reference, steps[i], name),
                                    schema))
        out.append(reasons)
    return out
