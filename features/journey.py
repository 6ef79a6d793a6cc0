"""Journey configuration: how a CRM's stages, reasons, activities and roles map onto buyer steps.

The default ships as ``features/default_journey.yaml``; a user YAML file overrides any part of it
(mappings are merged key by key, lists and scalars replaced).  The config is inert data: loading
it reads only the files you name.

Example:
    >>> cfg = JourneyConfig.default()
    >>> cfg.stage("Perception Analysis")
    StageMapping(step='evaluation_plan', status='open')
    >>> cfg.outcome_for_loss_reason("  no BUDGET ")
    'no_decision'
    >>> cfg.classify_subject("Meeting requested by customer: scope")["direction"]
    'buyer'
    >>> cfg.classify_subject("Call: agree the evaluation plan")["action"]
    'agree_evaluation_plan'

"""

from __future__ import annotations

import re
import zoneinfo
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.actions import ActionCatalogue

DEFAULT_CONFIG_RESOURCE = "default_journey.yaml"


class StageMapping(BaseModel):
    """Where one CRM stage sits: an open buyer step, or a closed status."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    step: str | None = None
    status: Literal["open", "won", "lost"] = "open"

    @model_validator(mode="before")
    @classmethod
    def _open_needs_step(cls, data: Any) -> Any:
        if isinstance(data, dict) and "step" in data and "status" not in data:
            data = {**data, "status": "open"}
        return data

    @model_validator(mode="after")
    def _check(self) -> StageMapping:
        if self.status == "open" and not self.step:
            raise ValueError("an open stage needs a `step`")
        return self


class LossReasons(BaseModel):
    """Close reasons that mean no decision vs lost, and the default for unlisted reasons."""

    model_config = ConfigDict(extra="forbid")
    no_decision: list[str] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)
    default: Literal["lost", "no_decision"] = "lost"


class SubjectRule(BaseModel):
    """A regex on the activity subject setting its direction, type and/or action."""

    model_config = ConfigDict(extra="forbid")
    pattern: str
    direction: Literal["buyer", "seller"] | None = None
    type: str | None = None
    action: str | None = None


class ActivityMapping(BaseModel):
    """How CRM activity records become canonical (type, direction, action)."""

    model_config = ConfigDict(extra="forbid")
    types: dict[str, str] = Field(default_factory=dict)
    call_directions: dict[str, Literal["buyer", "seller"]] = Field(default_factory=dict)
    subject_rules: list[SubjectRule] = Field(default_factory=list)
    buyer_types: list[str] = Field(default_factory=list)
    default_direction: Literal["buyer", "seller"] = "seller"
    actions: dict[str, str] = Field(default_factory=dict)


class TimestampRule(BaseModel):
    """How to read timestamps without a UTC offset (``None`` = reject them)."""

    model_config = ConfigDict(extra="forbid")
    naive_timezone: str | None = None

    @model_validator(mode="after")
    def _known_zone(self) -> TimestampRule:
        if self.naive_timezone is not None:
            check_zone(self.naive_timezone)
        return self


def check_zone(zone: str) -> str:
    """``zone`` if it names an IANA time zone, else ``ValueError`` naming it.

    Example:
        >>> check_zone("Europe/Amsterdam")
        'Europe/Amsterdam'
    """
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return zone


class NumberFormat(BaseModel):
    """How amounts are written: decimal and thousands separators, currency symbols.

    Amounts may carry a currency code or symbol before or after the number (``USD 1,234.50``,
    ``1.234,50 €``); a deal without a currency takes it from its amount.
    """

    model_config = ConfigDict(extra="forbid")
    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'", ""] = ","
    currency_symbols: dict[str, str] = Field(default_factory=lambda: {
        "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"})

    @model_validator(mode="after")
    def _distinct(self) -> NumberFormat:
        if self.decimal == self.thousands:
            raise ValueError("the decimal and thousands separators must differ")
        return self


class JourneyConfig(BaseModel):
    """The whole mapping from one CRM onto dealrisk's buyer journey."""

    model_config = ConfigDict(extra="forbid")
    buyer_steps: dict[str, str]
    stages: dict[str, StageMapping]
    loss_reasons: LossReasons = Field(default_factory=LossReasons)
    activities: ActivityMapping = Field(default_factory=ActivityMapping)
    roles: dict[str, str] = Field(default_factory=dict)
    timestamps: TimestampRule = Field(default_factory=TimestampRule)
    numbers: NumberFormat = Field(default_factory=NumberFormat)
    #: Changes to the catalogue of next steps (``features/default_actions.yaml``), by action.
    next_steps: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _steps_exist(self) -> JourneyConfig:
        unknown = sorted(
            {m.step for m in self.stages.values() if m.step and m.step not in self.buyer_steps}
        )
        if unknown:
            raise ValueError(f"stages map to undefined buyer steps {unknown}")
        catalogue = self.catalogue
        for name, spec in catalogue.actions.items():
            bad = [s for s in spec.steps if s not in self.buyer_steps]
            if bad:
                raise ValueError(f"next_steps.{name}.steps: {bad} are not buyer steps")
        missing = sorted(set(self.activities.actions) - set(catalogue.actions))
        if missing:
            raise ValueError(f"activities.actions {missing} are not in the catalogue of next "
                             "steps: add them under next_steps (description, steps, cooldown_days)")
        for rule in self.activities.subject_rules:
            re.compile(rule.pattern)
        for pattern in self.activities.actions.values():
            re.compile(pattern)
        return self

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def default(cls) -> JourneyConfig:
        """The configuration shipped with dealrisk."""
        return cls.model_validate(_default_dict())

    def merged(self, override: dict[str, Any], where: str = "journey config") -> JourneyConfig:
        """The config with ``override`` merged in (as a YAML override file would be).

        Raises ``ValueError`` naming ``where`` and the offending key.

        Example:
            >>> cfg = JourneyConfig.default().merged({"stages": {"Engaging": {"step": "curious"}}})
            >>> cfg.stage("engaging").step, cfg.stage("Prospecting").step
            ('curious', 'curious')
        """
        try:
            return type(self).model_validate(_merge(self.model_dump(), override))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{where} is invalid: {problems}") from None

    @classmethod
    def load(cls, path: Path | None) -> JourneyConfig:
        """The default configuration overridden by the YAML file at ``path`` (if given).

        Raises ``ValueError`` naming the file and the offending key when the file is invalid.
        """
        if path is None:
            return cls.default()
        try:
            override = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ValueError(f"cannot read journey config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"journey config {path} is not valid YAML: {exc}") from None
        if not isinstance(override, dict):
            raise ValueError(f"journey config {path} must be a mapping at the top level")
        try:
            return cls.model_validate(_merge(_default_dict(), override))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"journey config {path} is invalid: {problems}") from None

    @cached_property
    def catalogue(self) -> ActionCatalogue:
        """The catalogue of next steps: the default one with this journey's ``next_steps``.

        Example:
            >>> JourneyConfig.default().catalogue.valid("run_evaluation", "curious")
            False
        """
        return ActionCatalogue.default().merged(self.next_steps)

    # ----------------------------------------------------------------------------------- lookups
    @cached_property
    def _stages_folded(self) -> dict[str, StageMapping]:
        return {_fold(k): v for k, v in self.stages.items()}

    @cached_property
    def _reasons_folded(self) -> dict[str, str]:
        out = {_fold(r): "lost" for r in self.loss_reasons.lost}
        out.update({_fold(r): "no_decision" for r in self.loss_reasons.no_decision})
        return out

    @cached_property
    def _roles_folded(self) -> dict[str, str]:
        return {_fold(k): v for k, v in self.roles.items()}

    @cached_property
    def _compiled_rules(self) -> list[tuple[re.Pattern[str], SubjectRule]]:
        return [(re.compile(r.pattern, re.IGNORECASE), r) for r in self.activities.subject_rules]

    @cached_property
    def _compiled_actions(self) -> list[tuple[re.Pattern[str], str]]:
        return [(re.compile(p, re.IGNORECASE), a) for a, p in self.activities.actions.items()]

    def stage(self, crm_stage: str) -> StageMapping | None:
        """The mapping of a CRM stage name (case-insensitive), or ``None`` when unmapped."""
        return self._stages_folded.get(_fold(crm_stage))

    def outcome_for_loss_reason(self, reason: str | None) -> str:
        """``no_decision`` or ``lost`` for a closed-lost deal's reason (unlisted → default)."""
        if reason is None:
            return self.loss_reasons.default
        return self._reasons_folded.get(_fold(reason), self.loss_reasons.default)

    def role(self, crm_role: str) -> str:
        """Canonical role for a CRM contact role (unlisted roles → ``other``)."""
        return self._roles_folded.get(_fold(crm_role), "other")

    def classify_subject(self, subject: str) -> dict[str, str | None]:
        """Direction, type and action that the subject rules and action patterns give a subject."""
        found: dict[str, str | None] = {"direction": None, "type": None, "action": None}
        for regex, rule in self._compiled_rules:
            if regex.search(subject):
                for attr in ("direction", "type", "action"):
                    value = getattr(rule, attr)
                    if value is not None and found[attr] is None:
                        found[attr] = value
        if found["action"] is None:
            for regex, action in self._compiled_actions:
                if regex.search(subject):
                    found["action"] = action
                    break
        return found


def _fold(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _default_dict() -> dict[str, Any]:
    text = resources.files("features").joinpath(DEFAULT_CONFIG_RESOURCE).read_text()
    return yaml.safe_load(text)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base``: nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
