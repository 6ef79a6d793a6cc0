"""The scoring API's request and response models, generated from the data contract.

Request models come from :mod:`features.contract` (one model per table, its columns with their
kinds, required flags and allowed values) plus the loaded pipeline's own context fields
(:class:`features.profile.PipelineProfile`), so the API names exactly the canonical columns.
They are strict: ``false`` is no number, ``"3"`` is no float, unknown fields are refused; times
are ISO 8601 text with a UTC offset (a time without one is refused).  Child rows need no
``deal_id`` (the deal's is used; a different one is refused).

Example:
    >>> models = RequestModels.for_profile(PipelineProfile(), max_events=10)
    >>> body = {"deal": {"deal_id": "d1", "account_id": "a", "owner_id": "o",
    ...                  "amount": 1000.0, "created_at": "2024-01-01T00:00:00Z"}}
    >>> models.history.model_validate(body).deal.deal_id
    'd1'
    >>> from pydantic import ValidationError
    >>> try:
    ...     models.history.model_validate({"deal": {**body["deal"], "amount": False}})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["loc"], exc.errors()[0]["type"])
    ('deal', 'amount') float_type
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)

from features.contract import (
    ACTIVITIES,
    CONTACTS,
    DEALS,
    FIELD_HISTORY,
    STAGE_HISTORY,
    Column,
    TableSpec,
)
from features.encode import STEPS
from features.profile import PipelineProfile

#: Longest text accepted in any field.
MAX_TEXT = 1_000
STRICT = ConfigDict(strict=True, extra="forbid")


#: Times outside these years are refused (no CRM history is older; pandas ends in 2262).
YEARS = (1900, 2200)
#: Largest magnitude of any number (amounts, context fields): beyond it float32 overflows.
MAX_NUMBER = 1e15


def _time_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if value[:4].isdigit() and value[4:5] == "-":  # starts as an ISO date: quick path
            return value
        try:
            float(value)  # pydantic would read "1725148800" as an epoch
        except ValueError:
            return value
    raise ValueError("must be ISO 8601 text with a UTC offset, e.g. 2024-05-01T09:30:00Z")


def _time_range(value: datetime) -> datetime:
    year = value.year
    if not YEARS[0] < year < YEARS[1] - 1:  # an offset moves the UTC year only at the ends
        # (converting every time costs more than the rest of the validation); the
        # conversion overflows e.g. for 0001-01-01T00:00+01:00, before year 1 in UTC
        with contextlib.suppress(OverflowError):
            year = value.astimezone(UTC).year
    if not YEARS[0] <= year < YEARS[1]:
        raise ValueError(f"must be in the years {YEARS[0]} to {YEARS[1] - 1}")
    return value


#: A timezone-aware time given as ISO 8601 text (numbers are refused, not read as epochs).
Time = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_time_text),
                 AfterValidator(_time_range)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Amount = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
Number = Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]

_EXAMPLE_DEAL = {"deal_id": "006A000001", "account_id": "001A0001", "owner_id": "005A01",
                 "amount": 48000.0, "currency": "EUR", "created_at": "2024-03-04T09:00:00Z",
                 "expected_close_date": "2024-07-31T00:00:00Z", "name": "Acme renewal",
                 "segment": "Mid-Market"}


_EXAMPLE_SCORE = {
    "deal": _EXAMPLE_DEAL, "as_of": "2024-05-01T00:00:00Z",
    "stage_history": [{"entered_at": "2024-03-04T09:00:00Z", "crm_stage": "Qualify",
                       "step": "problem_shared", "status": "open"}],
    "activities": [{"activity_id": "00T1", "occurred_at": "2024-04-20T10:00:00Z",
                    "type": "meeting", "direction": "buyer", "contact_id": "003A1"}],
    "contacts": [{"contact_id": "003A1", "role": "champion",
                  "added_at": "2024-03-05T00:00:00Z"}],
}


def _column_type(table: TableSpec, column: Column) -> Any:
    if column.allowed is not None:
        return Literal[column.allowed]
    if table is STAGE_HISTORY and column.name == "step":
        return Literal[STEPS]
    if column.kind == "datetime":
        return Time
    if column.kind == "float":
        return Amount if column.name in ("amount", "old_amount", "new_amount") else Number
    if column.kind == "bool":
        return bool
    return Text


def table_model(table: TableSpec, name: str, *, extra: dict[str, Any] | None = None,
                child: bool = True, example: dict[str, Any] | None = None) -> type[BaseModel]:
    """A strict pydantic model of one canonical table's row (``child``: deal_id optional)."""
    fields: dict[str, Any] = {}
    for column in table.columns:
        kind = _column_type(table, column)
        required = column.required and not (child and column.name == "deal_id")
        description = column.meaning
        fields[column.name] = ((kind, Field(description=description)) if required else
                               (kind | None, Field(None, description=description)))
    fields.update(extra or {})
    config = ConfigDict(**STRICT, json_schema_extra={"examples": [example]}) if example else STRICT
    return create_model(name, __config__=config, __doc__=table.meaning, **fields)


@dataclass(frozen=True)
class RequestModels:
    """The request models of one loaded pipeline (its context fields are deal fields)."""

    deal: type[BaseModel]
    history: type[BaseModel]
    batch: type[BaseModel]
    rank: type[BaseModel]
    #: One deal of a batch or ranking (``history`` without ``as_of``: the envelope's applies).
    item: type[BaseModel]

    @classmethod
    def for_profile(cls, profile: PipelineProfile, *, max_events: int = 5_000,
                    max_batch: int = 1_000) -> RequestModels:
        """Build the models; each history list holds at most ``max_events`` rows."""
        context = {c.name: ((Number if c.kind == "number" else Text) | None,
                            Field(None, description=f"context field of pipeline "
                                  f"{profile.name or 'unnamed'!r}"))
                   for c in profile.context}
        deal = table_model(DEALS, "Deal", extra=context, child=False, example=_EXAMPLE_DEAL)
        rows = {"stage_history": table_model(STAGE_HISTORY, "StageEntry"),
                "activities": table_model(ACTIVITIES, "Activity"),
                "contacts": table_model(CONTACTS, "Contact"),
                "field_history": table_model(FIELD_HISTORY, "FieldChange")}
        lists = {key: (list[model], Field(default_factory=list, max_length=max_events,
                                          description=f"at most {max_events:,} rows"))
                 for key, model in rows.items()}
        history = create_model(
            "DealHistory", __config__=STRICT,
            __doc__="One deal's history: the deal and its rows of the other canonical tables.",
            deal=(deal, ...), **lists)
        as_of = (Time | None, Field(None, description="Score as known at this time; default: "
                                    "now (taken once when the request arrives)."))
        score = create_model(
            "ScoreRequest", __config__=ConfigDict(**STRICT, json_schema_extra={
                "examples": [_EXAMPLE_SCORE]}),
            __doc__="One open deal's history to score.", deal=(deal, ...), **lists,
            as_of=as_of)
        deals = (list[history], Field(min_length=1, max_length=max_batch,
                                      description=f"1 to {max_batch:,} deal histories"))
        batch = create_model("BatchRequest", __config__=STRICT,
                             __doc__="Deal histories scored one by one at one as_of.",
                             deals=deals, as_of=as_of)
        rank = create_model("RankRequest", __config__=STRICT,
                            __doc__="Open deals to rank by revenue at risk.",
                            deals=deals, as_of=as_of,
                            top=(int | None, Field(None, ge=1, description="rows returned "
                                                   "(default: all)")))
        return cls(deal=deal, history=score, batch=batch, rank=rank, item=history)


# ------------------------------------------------------------------------------ responses
class Problem(BaseModel):
    """One thing wrong with a request: where, what kind, in plain words."""

    field: str = Field(description="dotted path of the offending field, e.g. "
                                   "body.activities[3].occurred_at")
    kind: str = Field(description="machine-readable kind, e.g. float_type, "
                                  "timezone_aware, after_as_of")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx / 5xx answer of the service."""

    error: str = Field(description="unauthorized, malformed_json, invalid_request, "
                                   "too_large, not_found, method_not_allowed, "
                                   "unsupported_media_type, not_ready or internal")
    message: str
    problems: list[Problem] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """Which registered model answered."""

    name: str
    version: str
    run_id: str
    uri: str
    source: Literal["champion", "pinned", "bento"] = Field(
        description="champion: the pipeline's champion alias; pinned: DEALRISK_MODEL_URI; "
                    "bento: the model packaged in the bento")
    pipeline: str
    peers_known_until: str | None


class NextAction(BaseModel):
    """A recommended buyer step with its estimated effect on this deal."""

    action: str = Field(description="the catalogue action")
    description: str = Field(description="the action in plain words")
    lift: float | None = Field(description="estimated reduction of P(no decision) if taken "
                                           "within the model's window (0.03 = 3 points)")
    lift_low: float | None = Field(description="95 % interval, low end")
    lift_high: float | None = Field(description="95 % interval, high end")
    win_gain: float | None = Field(default=None, description="estimated change in P(won)")
    reason: str = Field(description="what the training data says about it at this step")


class DealRisks(BaseModel):
    """What a deal's score and its ranking row share: who, how much, the risks and reasons."""

    deal_id: str
    name: str | None
    owner: str | None
    account: str | None
    amount: float | None
    currency: str | None
    buyer_step: str
    days_in_step: float | None
    stall_risk: float | None = Field(description="P(no buyer-step progress within the "
                                                 "horizon)")
    no_decision_risk: float | None = Field(description="P(the deal ends in no decision)")
    win_probability: float | None = Field(description="P(the deal ends won)")
    risk_change: float | None = Field(description="ranking risk now minus a week before")
    revenue_at_risk: float | None
    reasons: list[str]


class DealScore(DealRisks):
    """One deal's calibrated risks, reasons and next steps (a ranking row without rank)."""

    revenue_at_risk: float
    risk_band: Literal["high", "medium", "low"] | None
    next_best_actions: list[NextAction]
    next_best_actions_note: str
    warnings: list[str]


class ScoreResponse(DealScore):
    """The answer of ``POST /score``."""

    as_of: str
    model: ModelInfo


class BatchItem(BaseModel):
    """One deal of a batch: its score or its own errors."""

    index: int
    deal_id: str | None
    ok: bool
    score: DealScore | None = None
    errors: list[Problem] = Field(default_factory=list)


class BatchResponse(BaseModel):
    """The answer of ``POST /score_batch``: every deal, in the order sent."""

    as_of: str
    scored: int
    failed: int
    results: list[BatchItem]
    model: ModelInfo


class RankRow(DealRisks):
    """One row of the manager ranking."""

    rank: int
    next_step: str
    next_best_actions: list[NextAction] = Field(default_factory=list)


class RankBasis(BaseModel):
    """What the ranking's risk means."""

    risk: str
    risk_label: str
    revenue_label: str
    horizon_days: int
    notes: list[str]
    warnings: list[str]
    definitions: dict[str, str]


class RankResponse(BaseModel):
    """The answer of ``POST /rank`` and ``GET /dashboard/ranking``."""

    as_of: str
    basis: RankBasis
    rows: list[RankRow]
    not_ranked: list[BatchItem]
    model: ModelInfo


class Readiness(BaseModel):
    """The answer of ``GET /readyz``."""

    ready: bool
    model: ModelInfo | None
