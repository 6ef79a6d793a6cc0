"""From a request body to checked deal records, or the list of what is wrong with it.

Two layers, each naming every offending field with a dotted path (``body.deal.amount``,
``body.deals[2].activities[0].occurred_at``):

1. the strict pydantic models of :mod:`serving.schemas` (types, required fields, allowed values,
   timezones, list sizes);
2. point-in-time checks against ``as_of``: a history sent for scoring holds only what was known
   then (no deal created later, no stage entered, activity recorded, contact added or field
   changed after it) and belongs to an open deal (no ``closed_at``).

Example:
    >>> from datetime import UTC, datetime
    >>> from features.profile import PipelineProfile
    >>> from serving.schemas import RequestModels
    >>> models = RequestModels.for_profile(PipelineProfile())
    >>> body = {"deal": {"deal_id": "d1", "account_id": "a", "owner_id": "o", "amount": 10.0,
    ...                  "created_at": "2024-02-01T00:00:00Z"}}
    >>> history = models.history.model_validate(body)
    >>> [p.field for p in time_problems(history, datetime(2024, 1, 1, tzinfo=UTC))]
    ['body.deal.created_at']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from serving.schemas import Problem

HISTORY_LISTS: tuple[str, ...] = ("stage_history", "activities", "contacts", "field_history")
#: Per history list: the time column saying when a row became known.
_KNOWN_AT: dict[str, str] = {"stage_history": "entered_at", "contacts": "added_at",
                             "field_history": "changed_at"}


@dataclass
class DealRecords:
    """One deal's checked history as plain records (canonical column names)."""

    deal: dict[str, Any]
    stage_history: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    field_history: list[dict[str, Any]]

    def as_args(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]],
                               list[dict[str, Any]], list[dict[str, Any]]]:
        """(deal, stages, activities, contacts, changes), the live feature path's order."""
        return (self.deal, self.stage_history, self.activities, self.contacts,
                self.field_history)


def validation_problems(exc: ValidationError, prefix: str = "body") -> list[Problem]:
    """Every error of a pydantic validation, as :class:`Problem` rows with dotted paths.

    Example:
        >>> from pydantic import BaseModel
        >>> class M(BaseModel):
        ...     xs: list[int]
        >>> try:
        ...     M.model_validate({"xs": [1, "a"]})
        ... except ValidationError as exc:
        ...     print(validation_problems(exc)[0].field)
        body.xs[1]
    """
    out = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        out.append(Problem(field=dotted(prefix, error["loc"]), kind=error["type"],
                           message=error["msg"]))
    return out


def dotted(prefix: str, loc: tuple[int | str, ...]) -> str:
    """``("deals", 2, "deal", "amount")`` -> ``body.deals[2].deal.amount``.

    Example:
        >>> dotted("body", ("deals", 2, "deal"))
        'body.deals[2].deal'
    """
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def time_problems(history: BaseModel, as_of: datetime, prefix: str = "body") -> list[Problem]:
    """What in a validated history was not known at ``as_of``, or makes it unscorable."""
    out = []
    deal = history.deal
    if deal.created_at > as_of:
        out.append(Problem(field=f"{prefix}.deal.created_at", kind="after_as_of",
                           message=f"the deal was created at {deal.created_at.isoformat()}, "
                                   f"after as_of {as_of.isoformat()}"))
    if deal.closed_at is not None:
        kind, message = (("after_as_of", "the deal closes after as_of: a history sent for "
                          "scoring holds only what was known at as_of")
                         if deal.closed_at > as_of else
                         ("deal_closed", "the deal closed before as_of; only open deals are "
                          "scored"))
        out.append(Problem(field=f"{prefix}.deal.closed_at", kind=kind, message=message))
    for name in HISTORY_LISTS:
        for i, row in enumerate(getattr(history, name)):
            where = f"{prefix}.{name}[{i}]"
            if row.deal_id is not None and row.deal_id != deal.deal_id:
                out.append(Problem(field=f"{where}.deal_id", kind="other_deal",
                                   message=f"belongs to deal {row.deal_id!r}, not "
                                           f"{deal.deal_id!r}"))
            column, known = _known_at(name, row)
            if known is not None and known > as_of:
                out.append(Problem(field=f"{where}.{column}", kind="after_as_of",
                                   message=f"{known.isoformat()} is after as_of "
                                           f"{as_of.isoformat()}: a history sent for scoring "
                                           "holds only what was known at as_of"))
    return out


def _known_at(name: str, row: BaseModel) -> tuple[str, datetime | None]:
    if name == "activities":  # known from when it was logged (a booked meeting: booked)
        if row.recorded_at is not None:
            return "recorded_at", row.recorded_at
        return "occurred_at", row.occurred_at
    column = _KNOWN_AT[name]
    return column, getattr(row, column)


def records_of(history: BaseModel) -> DealRecords:
    """The validated history as plain dicts (times stay timezone-aware datetimes).

    The request models are flat (no nested models, aliases or serializers), so a row's
    ``model_dump()`` is a copy of its ``__dict__``, which this takes at a fraction of the cost
    (``tests/serving/test_score.py`` checks the two agree).
    """
    deal = dict(history.deal.__dict__)
    deal_id = deal["deal_id"]
    rows = {name: [{**r.__dict__, "deal_id": deal_id} for r in getattr(history, name)]
            for name in HISTORY_LISTS}
    return DealRecords(deal, **rows)
