"""What one pipeline's export can tell: the histories it records and its own context fields.

CRM exports differ in what they keep.  HubSpot has no close-date or amount history and keeps only
the latest entry into each stage; a Salesforce export without ``OpportunityFieldHistory`` and
``OpportunityHistory`` has no amount history; a spreadsheet pipeline may have no activities at
all.  A feature whose as-of value such an export cannot give (the close date known three months
ago, when only today's is exported) would read the future if computed from what is there, so it
is **left out** for that pipeline: empty (NaN) in training snapshots and at scoring alike, and
named in the model card.  The profile is decided at ingest, stored beside the canonical tables
(``pipeline.json``) and travels inside the trained model, so live scoring leaves out the same
features as training did.

One limit is stated rather than left out: where only the latest entry into each stage is kept,
a deal that enters again a stage it had been in shows that stage's latest entry only, so its
step at an earlier time (and the days in it) comes from the entries that remain; the features
that need the whole path are left out.

Custom context fields (a mapping's typed deal or account attributes, e.g. account revenue)
extend the feature schema for the pipeline: :meth:`PipelineProfile.schema`.

Example:
    >>> profile = PipelineProfile(tracked_fields=("amount",), stage_entries="latest")
    >>> sorted(profile.left_out())[:3]
    ['close_date_pushes', 'days_since_close_push', 'days_since_forward_move']
    >>> profile.left_out()["regressions"]
    'the export keeps only the latest entry into each stage, so earlier visits are unknown'
    >>> PipelineProfile.from_dict(profile.to_dict()) == profile
    True
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from features.actions import ActionCatalogue
from features.contract import DEALS, TRACKED_FIELDS
from features.schema import FEATURES, ROLES, Feature, FeatureSchema

ContextKind = Literal["number", "category"]

#: Features whose as-of value needs each tracked field's change history.
NEEDS_FIELD_HISTORY: dict[str, tuple[str, ...]] = {
    "close_date": ("close_date_pushes", "days_slipped", "days_to_close_date",
                   "days_since_close_push", "planned_cycle_days"),
    "amount": ("amount", "amount_changes", "amount_vs_initial"),
}
#: Features that need every stage entry (not only the latest entry into each stage).
NEEDS_FULL_STAGE_PATH: tuple[str, ...] = ("step_changes", "regressions", "forward_moves_per_30d",
                                          "days_since_forward_move")
#: Features that need a stage history at all.
NEEDS_STAGES: tuple[str, ...] = ("days_in_step", "days_in_step_vs_won", *NEEDS_FULL_STAGE_PATH)
#: Features read from the buying committee (contact roles).
NEEDS_CONTACTS: tuple[str, ...] = ("contacts_on_deal", "roles_covered",
                                   *(f"has_{r}" for r in ROLES))
#: Features read from activities: every engagement feature but the committee ones, and the
#: booked next step.
NEEDS_ACTIVITIES: tuple[str, ...] = tuple(
    f.name for f in FEATURES
    if (f.family == "engagement" and f.name not in NEEDS_CONTACTS) or f.name == "open_next_step")

_WHY_FIELD = {"close_date": "the export has no close-date history, so the close date known at an "
                            "earlier time is unknown",
              "amount": "the export has no amount history, so the amount known at an earlier "
                        "time is unknown"}
_WHY_PATH = "the export keeps only the latest entry into each stage, so earlier visits are unknown"
_WHY_STAGES = "the export has no stage history"
_WHY_ACTIVITIES = "the export has no activities"
_WHY_CONTACTS = "the export has no contact roles with a known joining time"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = frozenset(FEATURES.names) | frozenset(DEALS.names)
#: Prefix of every pipeline's registered model: ``dealrisk-<pipeline>``.
MODEL_PREFIX = "dealrisk"


def registered_name(pipeline: str) -> str:
    """The registered model of a pipeline: ``dealrisk-<name>`` (lower case, safe characters).

    Training registers under it, ranking and serving load its ``champion``.

    Example:
        >>> registered_name("Acme EMEA"), registered_name("")
        ('dealrisk-acme-emea', 'dealrisk')
    """
    slug = re.sub(r"[^a-z0-9_.]+", "-", pipeline.strip().lower()).strip("-.")
    return f"{MODEL_PREFIX}-{slug}" if slug else MODEL_PREFIX


@dataclass(frozen=True)
class ContextField:
    """A pipeline's own deal attribute used as a model feature (number or category).

    Its value is the one in the export: use attributes that do not change as the deal moves on
    (account size, product line), not outcomes (the close value of a lost deal is 0).

    Example:
        >>> ContextField("account_revenue", "number").label
        'account revenue'
    """

    name: str
    kind: ContextKind
    meaning: str = ""
    phrase: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"context field name {self.name!r} must be lower-case letters, "
                             "digits and underscores, starting with a letter")
        if self.name in _RESERVED:
            raise ValueError(f"context field name {self.name!r} is already a dealrisk column")
        if self.kind not in ("number", "category"):
            raise ValueError(f"context field {self.name!r}: kind must be number or category")

    @property
    def label(self) -> str:
        """The plain-words name (``phrase`` or the name with spaces)."""
        return self.phrase or self.name.replace("_", " ")

    def feature(self) -> Feature:
        """The field as a model feature of the ``context`` family."""
        return Feature(self.name, "float32" if self.kind == "number" else "category", "context",
                       self.meaning or f"Deal attribute {self.label} (as exported).", self.label)


@dataclass(frozen=True)
class PipelineProfile:
    """What a pipeline's export records (see the module docstring); the default records all."""

    name: str = ""
    source: str = ""
    #: Fields whose change history the export holds (``close_date``, ``amount``).
    tracked_fields: tuple[str, ...] = TRACKED_FIELDS
    #: ``all``: every stage entry; ``latest``: only the latest entry into each stage (HubSpot);
    #: ``none``: no stage history.
    stage_entries: Literal["all", "latest", "none"] = "all"
    has_activities: bool = True
    has_contacts: bool = True
    #: ``recorded``: contact roles carry their joining time; ``first_activity``: the export has
    #: none, so a contact is known from its first activity on the deal.
    contact_join_times: Literal["recorded", "first_activity"] = "recorded"
    #: The currency every amount is in after conversion (None: as exported, maybe mixed).
    reporting_currency: str | None = None
    context: tuple[ContextField, ...] = field(default_factory=tuple)
    #: The catalogue of next steps of the pipeline's journey as ``ActionCatalogue.to_dict``
    #: items, ``(name, json)``; empty: the default catalogue.
    next_steps: tuple[tuple[str, str], ...] = ()

    def left_out(self) -> dict[str, str]:
        """Features this export cannot give point-in-time, each with the reason."""
        out: dict[str, str] = {}
        for tracked, names in NEEDS_FIELD_HISTORY.items():
            if tracked not in self.tracked_fields:
                out.update(dict.fromkeys(names, _WHY_FIELD[tracked]))
        if self.stage_entries == "latest":
            out.update(dict.fromkeys(NEEDS_FULL_STAGE_PATH, _WHY_PATH))
        elif self.stage_entries == "none":
            out.update(dict.fromkeys(NEEDS_STAGES, _WHY_STAGES))
        if not self.has_activities:
            out.update(dict.fromkeys(NEEDS_ACTIVITIES, _WHY_ACTIVITIES))
        if not self.has_contacts or (not self.has_activities
                                     and self.contact_join_times == "first_activity"):
            out.update(dict.fromkeys(NEEDS_CONTACTS, _WHY_CONTACTS))
        return out

    def schema(self) -> FeatureSchema:
        """The feature schema of this pipeline: the standard features, then its context fields.

        Example:
            >>> PipelineProfile(context=(ContextField("seats", "number"),)).schema().names[-1]
            'seats'
        """
        if not self.context:
            return FEATURES
        return FeatureSchema((*FEATURES, *(c.feature() for c in self.context)))

    def catalogue(self) -> ActionCatalogue:
        """The pipeline's catalogue of next steps (the default when ingest stored none).

        Example:
            >>> PipelineProfile().catalogue().names[0]
            'confirm_problem'
        """
        return ActionCatalogue.from_dict({k: json.loads(v) for k, v in self.next_steps})

    def with_catalogue(self, catalogue: ActionCatalogue) -> PipelineProfile:
        """The same profile, carrying ``catalogue``.

        Example:
            >>> p = PipelineProfile().with_catalogue(ActionCatalogue.default())
            >>> p.catalogue() == ActionCatalogue.default()
            True
        """
        items = tuple((k, json.dumps(v, sort_keys=True)) for k, v in catalogue.to_dict().items())
        return replace(self, next_steps=items)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_dict`` reads it back)."""
        out = asdict(self)
        out["tracked_fields"] = list(self.tracked_fields)
        out["context"] = [asdict(c) for c in self.context]
        out["next_steps"] = {k: json.loads(v) for k, v in self.next_steps}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineProfile:
        """Read :meth:`to_dict` output (unknown keys are an error, missing ones default)."""
        data = dict(data)
        context = tuple(ContextField(**c) for c in data.pop("context", []))
        tracked = tuple(data.pop("tracked_fields", TRACKED_FIELDS))
        steps = tuple((k, json.dumps(v, sort_keys=True))
                      for k, v in (data.pop("next_steps", None) or {}).items())
        return cls(**data, tracked_fields=tracked, context=context, next_steps=steps)
