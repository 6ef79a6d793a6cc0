"""The YAML mapping of a process event log onto deal histories: its schema and its checks.

A process log (XES, or a CSV with one row per event) knows cases, activities, timestamps,
resources and lifecycle transitions, not deals.  The mapping says which activities are stage
changes (to which buyer step), which are seller or buyer activities (and which catalogue action
they are), which end a case with which outcome, which lifecycle transitions count, and where the
deal's fields come from.  A complete example: ``examples/bpic2012/mapping.yaml``::

    name: bpic2012
    log: {case_id: concept:name, activity: concept:name, timestamp: time:timestamp,
          lifecycle: lifecycle:transition, resource: org:resource}
    lifecycle: {values: [SCHEDULE, START, COMPLETE], use: [COMPLETE]}
    deal:                       # canonical deal column: case attribute (or a constant)
      created_at: REG_DATE      # default: the case's first event
      amount: AMOUNT_REQ
      currency: {value: EUR}
    stages: {A_SUBMITTED: curious, O_SENT: decision}
    outcomes: {A_APPROVED: won, A_DECLINED: lost, A_CANCELLED: no_decision}
    activities:
      W_Nabellen offertes: {type: call, action: confirm_decision_date}
      O_SENT_BACK: {type: proposal, direction: buyer}

Two derived case attributes are always there: ``first_event_time`` and ``first_resource``
(the resource of the case's first event that names one, the default owner).  Every problem is
a :class:`~features.ingest.raw.SourceError` naming the mapping file and the YAML key.

Example:
    >>> EventLogMapping.model_validate({"stages": {"A": "curious"},
    ...                                 "outcomes": {"B": "won"}}).role("B")
    'outcome'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.ingest.mapping import (
    ColumnSpec,
    ContextSpec,
    read_yaml_mapping,
    validation_problems,
)
from features.ingest.raw import RAW_COLUMNS, SourceError
from features.journey import NumberFormat, TimestampRule

#: Case attributes every log has, whatever its format.
DERIVED_CASE_ATTRIBUTES = ("first_event_time", "first_resource")


class LogFields(BaseModel):
    """Where a log keeps each event's case, activity, time, resource and lifecycle."""

    model_config = ConfigDict(extra="forbid")
    case_id: str = "concept:name"
    activity: str = "concept:name"
    timestamp: str = "time:timestamp"
    lifecycle: str | None = "lifecycle:transition"
    resource: str | None = "org:resource"


class Lifecycle(BaseModel):
    """Which lifecycle transitions a log may hold and which of them count as events."""

    model_config = ConfigDict(extra="forbid")
    #: Every value the log may hold (others are rejected as ``unknown_lifecycle``); empty: any.
    values: list[str] = Field(default_factory=list)
    #: The values whose events are used; the others are skipped (default: ``complete``).
    use: list[str] = Field(default_factory=lambda: ["complete"])

    @model_validator(mode="after")
    def _check(self) -> Lifecycle:
        unknown = [u for u in self.use if self.values and _fold(u) not in
                   {_fold(v) for v in self.values}]
        if unknown:
            raise ValueError(f"use lists {unknown[0]!r}, which is not among values")
        return self

    def known(self, value: str) -> bool:
        """Whether ``value`` is a lifecycle value the log may hold (case-insensitive)."""
        return not self.values or _fold(value) in {_fold(v) for v in self.values}

    def used(self, value: str) -> bool:
        """Whether events with this lifecycle value are used."""
        return _fold(value) in {_fold(u) for u in self.use}


class ActivitySpec(BaseModel):
    """An activity of the log recorded as a deal activity."""

    model_config = ConfigDict(extra="forbid")
    type: str = "other"
    direction: Literal["buyer", "seller"] = "seller"
    #: The catalogue action (``activity.actions`` of the journey) it represents, if any.
    action: str | None = None


class EventLogMapping(BaseModel):
    """A whole event-log mapping file."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    format: Literal["xes", "csv"] | None = None
    timestamps: TimestampRule | None = None
    numbers: NumberFormat | None = None
    #: Journey config overrides (e.g. buyer step names); the stage map is made from ``stages``
    #: and ``outcomes``.
    journey: dict[str, Any] | None = None
    log: LogFields = Field(default_factory=LogFields)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    #: Canonical deal column -> case attribute or constant.
    deal: dict[str, ColumnSpec] = Field(default_factory=dict)
    context: dict[str, ContextSpec] = Field(default_factory=dict)
    #: Activity -> the buyer step the case enters.
    stages: dict[str, str] = Field(default_factory=dict)
    #: Activity -> the outcome it ends the case with.
    outcomes: dict[str, Literal["won", "lost", "no_decision"]] = Field(default_factory=dict)
    #: Activity -> the deal activity it is.
    activities: dict[str, ActivitySpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_role_each(self) -> EventLogMapping:
        seen: dict[str, str] = {}
        for role in ("stages", "outcomes", "activities"):
            for activity in getattr(self, role):
                if activity in seen:
                    raise ValueError(f"activity {activity!r} is in both {seen[activity]} and "
                                     f"{role}; an event goes to one table")
                seen[activity] = role
        return self

    def role(self, activity: str) -> str | None:
        """``stage``, ``outcome``, ``activity`` or None (the mapping does not use it)."""
        if activity in self.stages:
            return "stage"
        if activity in self.outcomes:
            return "outcome"
        if activity in self.activities:
            return "activity"
        return None

    def journey_override(self) -> dict[str, Any]:
        """The journey override: the mapping's own plus a stage map of its activities."""
        stages = {a: {"step": s} for a, s in self.stages.items()}
        stages.update({a: {"status": "won" if o == "won" else "lost"}
                       for a, o in self.outcomes.items()})
        override = dict(self.journey or {})
        override["stages"] = {**override.get("stages", {}), **stages}
        return override


def load_eventlog_mapping(path: Path) -> EventLogMapping:
    """Load and check a mapping file; :class:`SourceError` names the file and the YAML key."""
    data = read_yaml_mapping(path, "a YAML mapping (stages, outcomes, activities)")
    if "tables" in data:
        raise SourceError(f"{path}: this is a generic export mapping (it has `tables`); use "
                          "--source generic, or write an event-log mapping (stages, outcomes, "
                          "activities)")
    try:
        mapping = EventLogMapping.model_validate(data)
    except ValidationError as exc:
        raise SourceError(f"{path}: invalid event-log mapping: {validation_problems(exc, set())}"
                          ) from None
    allowed = set(RAW_COLUMNS["deals"]) - {"crm_stage", "is_closed", "outcome", "closed_at"}
    for column, spec in mapping.deal.items():
        if column not in allowed:
            raise SourceError(f"{path}: deal.{column}: not a deal column the log can give "
                              f"(allowed: {', '.join(sorted(allowed))})")
        if spec.format is not None and column not in ("created_at", "expected_close_date"):
            raise SourceError(f"{path}: deal.{column}.format: only time columns take a format")
    if not mapping.outcomes:
        raise SourceError(f"{path}: outcomes: name at least one activity that ends a case")
    return mapping


def _fold(text: str) -> str:
    return text.strip().casefold()
