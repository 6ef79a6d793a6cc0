"""The feature schema: one object describing every model feature.

Each :class:`Feature` has a name, dtype, meaning (with its window), the plain-words phrase used
when it is a reason, and — when known — whether a higher value means riskier.  The schema fixes
LightGBM's column order and categoricals, the MLflow signature and the API types downstream.

Example:
    >>> f = FEATURES.get("days_since_buyer_activity")
    >>> f.dtype, f.higher_is_riskier
    ('float32', True)
    >>> FEATURES.categorical[:2]
    ['current_step', 'segment']
    >>> len(FEATURES.names) == len(set(FEATURES.names))
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Dtype = Literal["float32", "category"]
WINDOWS_DAYS: tuple[int, ...] = (7, 14, 30, 90)
TYPE_WINDOWS_DAYS: tuple[int, ...] = (30, 90)
ACTIVITY_TYPES: tuple[str, ...] = ("email", "call", "meeting", "demo", "proposal")
ROLES: tuple[str, ...] = ("champion", "economic_buyer", "technical", "procurement", "legal")
CONTEXT_CATEGORIES: tuple[str, ...] = ("segment", "region", "industry", "deal_type", "lead_source")


@dataclass(frozen=True)
class Feature:
    """One model feature: what it is, how to say it, and which way is risky (None if unknown)."""

    name: str
    dtype: Dtype
    family: Literal["stage", "engagement", "commitment", "context"]
    meaning: str
    phrase: str
    higher_is_riskier: bool | None = None
    unit: str = ""


@dataclass(frozen=True)
class FeatureSchema:
    """An ordered collection of features."""

    features: tuple[Feature, ...]

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def get(self, name: str) -> Feature:
        """The feature called ``name`` (KeyError if none)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """Feature names in model column order."""
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical features."""
        return [f.name for f in self.features if f.dtype == "category"]

    def to_frame(self) -> pd.DataFrame:
        """The schema as a table (for docs, MLflow artifacts and reviews)."""
        return pd.DataFrame([f.__dict__ for f in self.features])


def _f(name: str, family: str, meaning: str, phrase: str, risky: bool | None = None,
       unit: str = "", dtype: Dtype = "float32") -> Feature:
    return Feature(name, dtype, family, meaning, phrase, risky, unit)  # type: ignore[arg-type]


def _build() -> tuple[Feature, ...]:
    out = [
        _f("current_step", "stage", "Buyer step the deal is in at as_of.", "buyer step",
           dtype="category"),
        _f("days_in_step", "stage", "Days since the deal entered its current buyer step.",
           "days in the current buyer step", True, "days"),
        _f("days_in_step_vs_won", "stage",
           "Days in step divided by the median days in this step of deals that went on to win "
           "(only deals closed by as_of).",
           "time in this step compared with deals that went on to win", True, "x"),
        _f("deal_age_days", "stage", "Days since the deal was created.", "deal age", None,
           "days"),
        _f("step_changes", "stage", "Number of buyer-step changes so far.",
           "number of step changes"),
        _f("regressions", "stage", "Number of moves back to an earlier buyer step.",
           "moves back to an earlier step", True),
        _f("days_since_forward_move", "stage",
           "Days since the last move to a later buyer step (since creation if none).",
           "days since the deal last moved forward", True, "days"),
        _f("forward_moves_per_30d", "stage",
           "Moves to a later buyer step per 30 days of the deal's life (life counted as at "
           "least 7 days).",
           "buyer steps taken per month", False, "per 30 days"),
    ]
    for w in WINDOWS_DAYS:
        out.append(_f(f"buyer_activities_{w}d", "engagement",
                      f"Buyer-initiated activities in the last {w} days.",
                      f"buyer-initiated activities in the last {w} days", False))
        out.append(_f(f"seller_activities_{w}d", "engagement",
                      f"Seller-initiated activities in the last {w} days.",
                      f"seller touches in the last {w} days"))
    for w in TYPE_WINDOWS_DAYS:
        for t in ACTIVITY_TYPES:
            out.append(_f(f"{t}_activities_{w}d", "engagement",
                          f"Activities of type {t} (either direction) in the last {w} days.",
                          f"{t}s in the last {w} days"))
    out += [
        _f("days_since_buyer_activity", "engagement",
           "Days since the last buyer-initiated activity (since creation if none).",
           "days without buyer-initiated contact", True, "days"),
        _f("days_since_seller_touch", "engagement",
           "Days since the last seller-initiated activity (since creation if none).",
           "days since the last seller touch", None, "days"),
        _f("days_since_meeting", "engagement",
           "Days since the last meeting or demo with the buyer (since creation if none).",
           "days since the last meeting with the buyer", True, "days"),
        _f("unanswered_seller_touches", "engagement",
           "Seller-initiated activities since the last buyer-initiated one (since creation if "
           "none).",
           "seller touches without a buyer response", True),
        _f("buyer_response_ratio", "engagement",
           "Buyer-initiated over all activities in the last 30 days (empty if none).",
           "share of activity started by the buyer", False),
        _f("buyer_trend", "engagement",
           "Buyer activities in the last 14 days minus the 14 before, over their sum "
           "(-1 falling to +1 rising; 0 if none).",
           "trend of buyer engagement", False),
        _f("buyer_activities_total", "engagement", "Buyer-initiated activities so far.",
           "buyer-initiated activities so far", False),
        _f("buyer_rate_per_week", "engagement",
           "Buyer-initiated activities per week of the deal's life so far.",
           "buyer-initiated activities per week", False, "per week"),
        _f("buyer_pace_vs_usual", "engagement",
           "Weekly pace of buyer-initiated activity in the last 30 days over the deal's own "
           "pace so far (below 1 = slowing down; empty when the buyer never engaged).",
           "buyer engagement compared with the deal's usual pace", False, "x"),
        _f("seller_actions_total", "engagement",
           "Recommendable buyer-step actions the seller has taken so far.",
           "buyer-step actions taken"),
        _f("seller_actions_30d", "engagement",
           "Recommendable buyer-step actions taken in the last 30 days.",
           "buyer-step actions in the last 30 days"),
        _f("contacts_engaged", "engagement", "Distinct contacts in activities so far.",
           "contacts engaged", False),
        _f("contacts_on_deal", "engagement", "Contacts on the buying committee so far.",
           "people on the buying committee", False),
        _f("roles_covered", "engagement", "Distinct committee roles so far.",
           "committee roles covered", False),
    ]
    for role in ROLES:
        out.append(_f(f"has_{role}", "engagement", f"A {role.replace('_', ' ')} is on the deal.",
                      f"{role.replace('_', ' ')} on the deal", False))
    out += [
        _f("single_threaded", "engagement", "1 when at most one contact has been engaged.",
           "single-threaded (one contact)", True),
        _f("meeting_share_90d", "engagement",
           "Meetings and demos over meetings, demos and emails in the last 90 days.",
           "share of meetings versus emails", False),
        _f("close_date_pushes", "commitment", "Times the expected close date moved later.",
           "close-date pushes", True),
        _f("days_slipped", "commitment", "Total days the expected close date moved later.",
           "days the close date slipped", True, "days"),
        _f("days_to_close_date", "commitment",
           "Days from as_of to the expected close date known at as_of (negative = overdue).",
           "days to the expected close date", None, "days"),
        _f("days_since_close_push", "commitment",
           "Days since the expected close date last moved later (empty if it never did).",
           "days since the close date was last pushed", False, "days"),
        _f("planned_cycle_days", "commitment",
           "Days from creation to the expected close date first entered (the buyer's stated "
           "timeline).",
           "length of the buyer's stated timeline", None, "days"),
        _f("amount_changes", "commitment",
           "Number of amount changes so far (a recorded value equal to the one before is not a "
           "change).",
           "amount changes"),
        _f("amount_vs_initial", "commitment", "Amount at as_of over the first known amount.",
           "amount compared with the first quote"),
        _f("open_next_step", "commitment",
           "1 when an activity is booked for after as_of (known by as_of).",
           "a next step is booked", False),
        _f("amount", "context", "Deal amount known at as_of.", "deal size", None),
        _f("owner_closed_deals", "context", "Deals the owner closed before as_of.",
           "owner's closed deals"),
        _f("owner_win_rate", "context",
           "Owner's won share of deals closed before as_of (smoothed towards the overall rate).",
           "owner's win rate", False),
        _f("owner_no_decision_rate", "context",
           "Owner's no-decision share of deals closed before as_of (smoothed).",
           "owner's no-decision rate", True),
        _f("account_closed_deals", "context", "Deals of this account closed before as_of.",
           "account's earlier deals"),
        _f("account_win_rate", "context",
           "Account's won share of deals closed before as_of (smoothed).",
           "account's win rate", False),
    ]
    out += [_f(c, "context", f"Deal {c.replace('_', ' ')}.", c.replace("_", " "),
               dtype="category") for c in CONTEXT_CATEGORIES]
    return tuple(out)


FEATURES = FeatureSchema(_build())
