"""Per-deal reasons in plain words, from LightGBM's per-feature contributions.

A reason names one feature that pushes **this** deal's ranking risk up by a material amount and
says what the deal's value means.  The rules (issue #11, point 6):

1. **Material**: the feature's contribution ``c`` (log-odds towards the ranking risk) moves the
   deal's probability by at least :data:`MATERIAL_POINTS`:
   ``sigmoid(margin) - sigmoid(margin - c) >= MATERIAL_POINTS``.  A 5%-risk deal rarely has
   one (it takes ``c >= 0.53`` to add 2 points at 5%), and an empty list is a fine answer.
2. **A comparison that means something**: a numeric feature with a known direction
   (:attr:`features.schema.Feature.higher_is_riskier`) is compared with the median among
   training snapshots of deals that went on to win **at the same buyer step**
   (:func:`peer_reference`), and only when that step has such a median ("at this step" is never
   said of an all-steps median).  A value that prints the same as the reference, or sits on its
   safe side, is no reason.  Without a step-level median the value is stated alone where it
   speaks for itself (23 days without buyer contact; no buyer activity at all) and dropped
   otherwise.  Owner / account track records, deal size and age, and every feature without a
   known direction are never compared with won peers (a median over won-deal snapshots is no
   like-for-like reference for them); those without a direction are not reasons at all.
3. **A category says what it does**: a categorical feature (buyer step, segment, region,
   industry, deal type, lead source, a pipeline's own context categories) is a reason only with
   the share of past deals in that category that went on to the risk, when it is materially
   above the overall share (:func:`category_reference`).  Blank, missing or unknown categories
   never appear.

Example:
    >>> print(describe("days_since_buyer_activity", 23.0, 7.5))  # doctest: +NORMALIZE_WHITESPACE
    No buyer-initiated contact for 23 days,
    3.1x the median of 7.5 days for deals at this step that went on to win
    >>> describe("has_economic_buyer", 0.0, None)
    'No economic buyer on the deal'
    >>> ref = {ALL_STEPS: {"buyer_activities_30d": 6.0}, "decision": {"buyer_activities_30d": 6.0}}
    >>> reason_for("buyer_activities_30d", 6.0, "decision", ref) is None  # same as won peers
    True
    >>> print(reason_for("buyer_activities_30d", 2.0, "decision", ref))
    ... # doctest: +NORMALIZE_WHITESPACE
    Buyer-initiated activities in the last 30 days: 2,
    against a median of 6 for deals at this step that went on to win
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.schema import FEATURES, Feature, FeatureSchema

#: Key of the all-steps peer reference.
ALL_STEPS = "*"
#: Won-deal snapshots (with a value) a buyer step needs for its own median of a feature.
MIN_PEER_ROWS = 20
#: Smallest change of the deal's probability (0.02 = 2 percentage points) that makes a feature
#: a reason.  Below it the push is smaller than the models' own calibration error (held-out
#: ECE 0.015-0.02 on the simulations, see ``training/model.py``) and than the whole-percent
#: rounding of every report, so a manager could not see it in the risk they are shown.
MATERIAL_POINTS = 0.02
#: Training snapshots a category needs before its rate is used.
MIN_CATEGORY_ROWS = 50
#: A category's rate must exceed the overall rate by this much (5 percentage points) ...
CATEGORY_GAP_POINTS = 0.05
#: ... and by this many binomial standard errors of the overall rate over the category's deals,
#: so that a small category's noise is not read as a risk.
CATEGORY_Z = 2.0
#: A higher-is-riskier value at least this multiple of its reference is said as "N.Nx".
RATIO_SHOWN = 1.5
#: What "the risk" is, by ranking risk (:attr:`training.ranking.RankingBasis.risk`, or the
#: model's target: the risk of a ``won`` target is not winning).
OUTCOMES: dict[str, str] = {"no_decision": "end in no decision",
                            "not_won": "end without a win", "won": "end without a win",
                            "stall": "stall (no step forward within the horizon)"}
#: Features whose won-peer median is no like-for-like reference (track records, size, age).
NO_PEER_COMPARISON: frozenset[str] = frozenset({
    "owner_closed_deals", "account_closed_deals", "deal_age_days", "amount",
    "owner_win_rate", "owner_no_decision_rate", "account_win_rate"})
#: Features that are themselves a comparison, with the reference value they compare with.
SELF_REFERENCED: dict[str, float] = {"days_in_step_vs_won": 1.0, "buyer_pace_vs_usual": 1.0}
#: Category values that say nothing (compared lower-case, stripped).
UNKNOWN_CATEGORIES: frozenset[str] = frozenset({
    "", "nan", "none", "null", "<na>", "na", "n/a", "unknown", "not known", "unspecified",
    "-", "?"})

PeerReference = dict[str, dict[str, float]]

_BINARY = {"single_threaded": "Single-threaded: at most one contact engaged",
           "open_next_step": "No next step is booked"}
_HEADS = {
    "days_in_step": "In this buyer step for {v}",
    "days_since_forward_move": "No move to a later buyer step for {v}",
    "days_since_buyer_activity": "No buyer-initiated contact for {v}",
    "days_since_meeting": "No meeting with the buyer for {v}",
    "days_slipped": "Expected close date slipped {v} in total",
    "days_since_close_push": "Expected close date pushed back {v} ago",
}
_SELF = {"days_in_step_vs_won": "In this buyer step {v} as long as the median deal that went on "
                                "to win",
         "buyer_pace_vs_usual": "Buyer engagement in the last 30 days at {v} the deal's own "
                                "usual pace"}
_WINDOW = re.compile(r"_\d+d$")
#: Features that say the same thing as another one (its family): only the stronger speaks.
#: "In this buyer step for 30 days, 28x the median" and "in this buyer step 249x as long as
#: the median deal that went on to win" are one reason (seen together on BPIC 2012).
_SAME_AS = {"days_in_step_vs_won": "days_in_step"}


def reason_family(name: str) -> str:
    """The family of a feature among reasons: windows of one count, and :data:`_SAME_AS`.

    Example:
        >>> reason_family("buyer_activities_30d"), reason_family("days_in_step_vs_won")
        ('buyer_activities', 'days_in_step')
    """
    return _SAME_AS.get(name, _WINDOW.sub("", name))


# ------------------------------------------------------------------------ peer references
def peer_reference(rows: pd.DataFrame, won: np.ndarray, step_column: str = "current_step",
                   min_rows: int = MIN_PEER_ROWS, schema: FeatureSchema = FEATURES
                   ) -> PeerReference:
    """Median of each numeric feature among ``rows[won]``, per buyer step and overall.

    A step keeps a feature's median only when at least ``min_rows`` won snapshots at that step
    have a value for it (the all-steps median needs one).

    Example:
        >>> rows = pd.DataFrame({"current_step": ["a"] * 3, "days_in_step": [1.0, 3.0, 9.0]})
        >>> peer_reference(rows, np.array([True, True, False]), min_rows=1)["a"]["days_in_step"]
        2.0
        >>> peer_reference(rows, np.array([True, True, False]), min_rows=3)
        {'*': {'days_in_step': 2.0}}
    """
    numeric = [f.name for f in schema if f.dtype != "category" and f.name in rows.columns]
    winners = rows.loc[np.asarray(won, dtype=bool), [step_column, *numeric]]
    out: PeerReference = {ALL_STEPS: _medians(winners[numeric], 1)}
    for step, group in winners.groupby(winners[step_column].astype("str"), sort=True,
                                       observed=True):
        medians = _medians(group[numeric], min_rows)
        if medians:
            out[str(step)] = medians
    return out


def _medians(frame: pd.DataFrame, min_rows: int) -> dict[str, float]:
    if not len(frame):
        return {}
    counts = frame.notna().sum()
    med = frame.median(numeric_only=True)
    return {str(k): float(v) for k, v in med.items() if pd.notna(v) and counts[k] >= min_rows}


def peer_value(reference: PeerReference, step: object, name: str, *,
               fallback: bool = True) -> float | None:
    """The peer median of ``name`` at ``step``; the all-steps one when the step has none.

    With ``fallback=False`` only the step's own median counts (what a reason may call "at this
    step").

    Example:
        >>> ref = {"*": {"x": 2.0}, "s": {"x": 5.0}}
        >>> peer_value(ref, "s", "x"), peer_value(ref, "t", "x"), peer_value({"*": {}}, "s", "x")
        (5.0, 2.0, None)
        >>> peer_value(ref, "t", "x", fallback=False) is None
        True
    """
    for key in (str(step), ALL_STEPS) if fallback else (str(step),):
        value = reference.get(key, {}).get(name)
        if value is not None and not math.isnan(value):
            return value
    return None


# -------------------------------------------------------------------- category references
@dataclass(frozen=True)
class CategoryRate:
    """How often past deals in one category went on to the risk."""

    rate: float
    rows: int
    deals: int


@dataclass(frozen=True)
class CategoryReference:
    """Per categorical feature and category, the rate of the risk in the training rows.

    ``overall`` is the rate over all rows; ``unit`` says what a rate counts (``"deals"`` when the
    rows carry ``deal_id``: each deal counts once per category it was in, else
    ``"deal snapshots"``); ``outcome`` says what the risk is in plain words.
    """

    overall: float
    rates: dict[str, dict[str, CategoryRate]] = field(default_factory=dict)
    outcome: str = OUTCOMES["no_decision"]
    unit: str = "deals"
    deals: int = 0

    def elevated(self, name: str, value: object) -> CategoryRate | None:
        """The rate of ``value`` of ``name`` when it is materially above the overall rate.

        Materially: at least :data:`CATEGORY_GAP_POINTS` and :data:`CATEGORY_Z` standard errors
        (of the overall rate over the category's deals) above it.

        Example:
            >>> ref = CategoryReference(0.2, {"industry": {
            ...     "Retail": CategoryRate(0.4, 500, 100), "Oil": CategoryRate(0.22, 500, 100)}})
            >>> ref.elevated("industry", "Retail").rate, ref.elevated("industry", "Oil")
            (0.4, None)
        """
        if is_unknown(value):
            return None
        rate = self.rates.get(name, {}).get(_category_key(value))
        if rate is None or math.isnan(self.overall):
            return None
        p = min(max(self.overall, 1e-6), 1 - 1e-6)
        noise = CATEGORY_Z * math.sqrt(p * (1 - p) / max(rate.deals, 1))
        return rate if rate.rate - self.overall >= max(CATEGORY_GAP_POINTS, noise) else None


def is_unknown(value: object) -> bool:
    """True for a blank, missing or "unknown" category value.

    Example:
        >>> [is_unknown(v) for v in ("", " ", None, float("nan"), "Unknown", "SMB")]
        [True, True, True, True, True, False]
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return True
    except (TypeError, ValueError):
        pass
    return str(value).strip().lower() in UNKNOWN_CATEGORIES


def _category_key(value: object) -> str:
    return str(value).strip()


def category_reference(rows: pd.DataFrame, y: np.ndarray, schema: FeatureSchema = FEATURES,
                       min_rows: int = MIN_CATEGORY_ROWS, *, risk: str = "no_decision"
                       ) -> CategoryReference:
    """Rates of the risk per category of every categorical feature, from training rows.

    ``y`` is 1 where the risk happened (0 otherwise; NaN rows are ignored), aligned with
    ``rows``.  A category keeps a rate when at least ``min_rows`` rows have it; blank or unknown
    categories get none.  With a ``deal_id`` column each deal weighs once per category (its
    snapshots' mean), so a long-lived deal does not count more than a quick one.  ``risk`` is
    the ranking risk (a key of :data:`OUTCOMES`, or the outcome in plain words).

    Example:
        >>> rows = pd.DataFrame({"deal_id": list("abcdef"),
        ...                      "industry": ["Retail"] * 3 + ["Oil"] * 3})
        >>> ref = category_reference(rows, np.array([1, 1, 0, 0, 0, 0]), min_rows=3)
        >>> round(ref.overall, 3), round(ref.rates["industry"]["Retail"].rate, 3)
        (0.333, 0.667)
        >>> ref.outcome
        'end in no decision'
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(rows):
        raise ValueError(f"y has {len(y)} labels for {len(rows)} rows")
    keep = ~np.isnan(y)
    rows, y = rows.loc[keep], y[keep]
    by_deal = "deal_id" in rows.columns
    deal = (rows["deal_id"].astype("str").to_numpy() if by_deal
            else np.arange(len(rows)).astype("str"))
    labels = pd.Series(y, index=rows.index)
    overall = float(labels.groupby(deal).mean().mean()) if len(y) else math.nan
    rates: dict[str, dict[str, CategoryRate]] = {}
    for name in schema.categorical:
        if name not in rows.columns:
            continue
        codes, uniques = pd.factorize(rows[name].astype("object"), use_na_sentinel=True)
        keys = np.array([_category_key(u) for u in uniques], dtype=object)
        usable = np.array([not is_unknown(u) for u in uniques], dtype=bool)
        known = (codes >= 0) & usable[np.maximum(codes, 0)] if len(uniques) else codes >= 0
        if not known.any():
            continue
        frame = pd.DataFrame({"category": keys[codes[known]], "deal": deal[known],
                              "y": y[known]})
        per_deal = frame.groupby(["category", "deal"], sort=False)["y"].mean()
        grouped = per_deal.groupby(level="category", sort=True)
        counts = frame.groupby("category")["y"].size()
        rates[name] = {str(c): CategoryRate(float(r), int(counts[c]), int(n))
                       for (c, r), n in zip(grouped.mean().items(), grouped.size(), strict=True)
                       if counts[c] >= min_rows}
    return CategoryReference(overall, rates, OUTCOMES.get(risk, risk),
                             "deals" if by_deal else "deal snapshots",
                             len(np.unique(deal)))


# ------------------------------------------------------------------------------ wording
def _fmt(name: str, v: float) -> str:
    if name.endswith(("_rate", "_ratio")) or "share" in name:
        return f"{100 * v:.0f}%"
    if abs(v - round(v)) < 1e-6 or abs(v) >= 10:
        return f"{v:,.0f}"
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


def _with_unit(text: str, unit: str) -> str:
    if not unit or unit == "x":
        return text
    if unit == "days" and text in ("1", "-1"):
        return f"{text} day"
    return f"{text} {unit}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _category_text(feature: Feature, value: object, rate: CategoryRate,
                   categories: CategoryReference) -> str:
    shown = str(value).strip()
    where = f"with this {feature.phrase}"
    if feature.name == "current_step":
        shown, where = shown.replace("_", " "), "at this buyer step"
    return (f"{_cap(feature.phrase)} {shown}: {100 * rate.rate:.0f}% of past {categories.unit} "
            f"{where} went on to {categories.outcome}, vs {100 * categories.overall:.0f}% "
            "overall")


def _head(feature: Feature, v: float) -> str:
    name = feature.name
    if name in _SELF:
        return _SELF[name].format(v=f"{v:.1f}x")
    if name.startswith("has_"):
        role = name[4:].replace("_", " ")
        return f"No {role} on the deal" if v < 0.5 else f"A {role} is on the deal"
    if name in _BINARY:
        on = v >= 0.5
        if name == "open_next_step":
            return "A next step is booked" if on else _BINARY[name]
        return _BINARY[name] if on else "More than one contact engaged"
    text = _with_unit(_fmt(name, v), feature.unit)
    if name in _HEADS:
        return _HEADS[name].format(v=text)
    return f"{_cap(feature.phrase)}: {text}"


def _compared(feature: Feature, v: float, peer: float) -> str:
    name, unit = feature.name, feature.unit
    head = _head(feature, v)
    ref = _with_unit(_fmt(name, peer), unit)
    percent = _fmt(name, peer).endswith("%")
    if feature.higher_is_riskier and peer > 0 and not percent and v / peer >= RATIO_SHOWN:
        return (f"{head}, {v / peer:.1f}x the median of {ref} for deals at this step that "
                "went on to win")
    return f"{head}, against a median of {ref} for deals at this step that went on to win"


def describe(name: str, value: object, peer: float | None,
             schema: FeatureSchema = FEATURES, *,
             categories: CategoryReference | None = None) -> str:
    """One plain-words statement of feature ``name`` at ``value`` (no filtering).

    ``peer`` is the won-peer median **at the deal's buyer step** (None: the value alone).
    A category is said with its rate when ``categories`` shows it raises the risk, else as
    the bare fact.  :func:`reason_for` decides whether a statement is a reason.

    Example:
        >>> print(describe("days_in_step", 40.0, 20.0))  # doctest: +NORMALIZE_WHITESPACE
        In this buyer step for 40 days,
        2.0x the median of 20 days for deals at this step that went on to win
        >>> describe("segment", "SMB", None)
        'Segment: SMB'
        >>> ref = CategoryReference(0.22, {"industry": {"Manufacturing": CategoryRate(0.34, 900,
        ...                                                                           120)}})
        >>> print(describe("industry", "Manufacturing", None, categories=ref))
        ... # doctest: +NORMALIZE_WHITESPACE
        Industry Manufacturing: 34% of past deals with this industry went on to end in no
        decision, vs 22% overall
    """
    feature = schema.get(name)
    if feature.dtype == "category":
        rate = categories.elevated(name, value) if categories is not None else None
        if rate is not None and categories is not None:
            return _category_text(feature, value, rate, categories)
        shown = "not known" if is_unknown(value) else str(value)
        return f"{_cap(feature.phrase)}: {shown}"
    v = _number(value)
    if math.isnan(v):
        return f"{_cap(feature.phrase)}: not known"
    if peer is None or name in SELF_REFERENCED or name in NO_PEER_COMPARISON \
            or name.startswith("has_") or name in _BINARY:
        return _head(feature, v)
    return _compared(feature, v, peer)


def _number(value: object) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def reason_for(name: str, value: object, step: object, reference: PeerReference,
               schema: FeatureSchema = FEATURES, *,
               categories: CategoryReference | None = None) -> str | None:
    """The reason feature ``name`` at ``value`` gives, or None when it gives none.

    Applies rules 2 and 3 of the module docstring (rule 1, materiality, is
    :func:`top_reasons`'s).  ``step`` is the deal's buyer step.

    Example:
        >>> ref = {ALL_STEPS: {"days_in_step": 10.0}, "decision": {"days_in_step": 12.0}}
        >>> print(reason_for("days_in_step", 30.0, "decision", ref))
        ... # doctest: +NORMALIZE_WHITESPACE
        In this buyer step for 30 days,
        2.5x the median of 12 days for deals at this step that went on to win
        >>> reason_for("days_in_step", 30.0, "curious", ref)  # no median at this step
        'In this buyer step for 30 days'
        >>> reason_for("days_in_step", 12.2, "decision", ref) is None  # prints as 12 too
        True
        >>> reason_for("owner_closed_deals", 361.0, "decision", ref) is None  # no direction
        True
        >>> reason_for("segment", "", "decision", ref) is None
        True
    """
    feature = schema.get(name)
    if feature.dtype == "category":
        if categories is None:
            return None
        rate = categories.elevated(name, value)
        return None if rate is None else _category_text(feature, value, rate, categories)
    v = _number(value)
    if math.isnan(v):
        return None
    if name == "days_to_close_date":  # no direction, but an overdue date says what it does
        return (f"Expected close date passed {_with_unit(_fmt(name, -v), 'days')} ago"
                if -v >= 1 else None)
    higher = feature.higher_is_riskier
    if higher is None:
        return None
    if name in SELF_REFERENCED:
        base = SELF_REFERENCED[name]
        if not _risky(v, base, higher) or f"{v:.1f}" == f"{base:.1f}":
            return None
    at_step = peer_value(reference, step, name, fallback=False)
    check = at_step if at_step is not None else peer_value(reference, step, name)
    if check is not None and (not _risky(v, check, higher) or _fmt(name, v) == _fmt(name, check)):
        return None
    if name.startswith("has_") or name in _BINARY:
        v = float(v >= 0.5)
        if v != (1.0 if higher else 0.0):
            return None
    if name in SELF_REFERENCED or name in NO_PEER_COMPARISON or name.startswith("has_") \
            or name in _BINARY:
        return _head(feature, v)
    if at_step is not None:
        return _compared(feature, v, at_step)
    # no step-level median: only a value that speaks for itself is said alone
    alone = v > 0 if higher else v <= 0
    return _head(feature, v) if alone else None


def _risky(v: float, reference: float, higher: bool) -> bool:
    return v > reference if higher else v < reference


# ----------------------------------------------------------------------------- top reasons
def probability_change(contribution: np.ndarray, margin: np.ndarray | None) -> np.ndarray:
    """How much each contribution raises its row's probability: ``sigmoid(m) - sigmoid(m - c)``.

    ``margin`` (per row, broadcast over a contributions matrix's columns) is the row's raw
    log-odds.  Without it the largest change the contribution could make (at ``m = c / 2``,
    ``tanh(c / 4)``) is used, which never drops a reason the margin would keep.

    Example:
        >>> probability_change(np.array([[0.5]]), np.array([-2.944])).round(3).tolist()
        [[0.019]]
        >>> probability_change(np.array([[0.5]]), None).round(3).tolist()
        [[0.124]]
    """
    c = np.asarray(contribution, dtype=np.float64)
    if margin is None:
        return np.tanh(c / 4.0)
    m = np.asarray(margin, dtype=np.float64)
    if c.ndim == 2:
        m = m.reshape(-1, 1)
    return _sigmoid(m) - _sigmoid(m - c)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _value_columns(rows: pd.DataFrame | Sequence[Mapping[str, object]], names: list[str]
                   ) -> dict[str, np.ndarray]:
    """The raw values of the columns ``names`` that ``rows`` (a frame or dicts) has."""
    if isinstance(rows, pd.DataFrame):
        return {n: rows[n].to_numpy(dtype=object) for n in names if n in rows.columns}
    present = set(rows[0]) if len(rows) else set()
    return {n: np.array([r[n] for r in rows], dtype=object) for n in names if n in present}


def top_reasons(contributions: np.ndarray,
                rows: pd.DataFrame | Sequence[Mapping[str, object]], feature_names: list[str],
                reference: PeerReference, top_k: int = 3,
                schema: FeatureSchema = FEATURES, *, margin: np.ndarray | None = None,
                categories: CategoryReference | None = None) -> list[list[str]]:
    """Reasons for each row, strongest first: at most ``top_k``, possibly none.

    ``contributions`` is ``(n_rows, n_features)`` log-odds contributions towards the ranking
    risk (positive raises it; bias column removed), in ``feature_names`` order; ``rows`` holds
    the raw feature values (same row order; a frame, or dicts as the live path has them);
    ``margin`` each row's total raw log-odds of that
    risk (bias + contributions); ``categories`` the :func:`category_reference` of the training
    rows.  A feature is a reason when it raises the probability by at least
    :data:`MATERIAL_POINTS` and :func:`reason_for` has something meaningful to say; of one
    :func:`reason_family` (the windows of one count, ``buyer_activities_7d``, ``_30d``, ...;
    the days in the step, alone or against won deals) only the strongest speaks.

    Example:
        >>> rows = pd.DataFrame({"current_step": ["decision"] * 2, "days_in_step": [30.0] * 2})
        >>> ref = {"*": {"days_in_step": 10.0}, "decision": {"days_in_step": 10.0}}
        >>> out = top_reasons(np.array([[-0.2, 0.5], [-0.2, 0.5]]), rows,
        ...                   ["current_step", "days_in_step"], ref, margin=np.array([0.0, -3.0]))
        >>> print(*out[0])  # doctest: +NORMALIZE_WHITESPACE
        In this buyer step for 30 days,
        3.0x the median of 10 days for deals at this step that went on to win
        >>> out[1]  # a 5% deal: the same push adds under 2 points
        []
    """
    n = len(rows)
    if top_k <= 0 or not n:
        return [[] for _ in range(n)]
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.shape != (n, len(feature_names)):
        raise ValueError(f"contributions have shape {contributions.shape}, expected "
                         f"({n}, {len(feature_names)})")
    material = (contributions > 0) & (probability_change(contributions, margin)
                                      >= MATERIAL_POINTS)
    order = np.argsort(-contributions, axis=1, kind="stable")
    known = set(schema.names)
    columns = _value_columns(rows, [*feature_names, "current_step"])
    steps = columns.get("current_step", np.full(n, ALL_STEPS, dtype=object))
    values = {name: columns[name] for name in feature_names if name in columns and name in known}
    groups = [reason_family(name) for name in feature_names]
    out: list[list[str]] = []
    for i in range(n):
        reasons: list[str] = []
        said: set[str] = set()
        for j in order[i]:
            if not material[i, j] or len(reasons) >= top_k:
                break
            name = feature_names[j]
            if groups[j] in said or name not in values:
                continue
            text = reason_for(name, values[name][i], steps[i], reference, schema,
                              categories=categories)
            if text is not None and text not in reasons:
                reasons.append(text)
                said.add(groups[j])
        out.append(reasons)
    return out
