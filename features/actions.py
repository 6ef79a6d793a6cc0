"""The catalogue of next steps: buyer-step actions, where each is valid, and its cool-down.

The default ships as ``features/default_actions.yaml``; a journey YAML overrides or extends it
under ``next_steps:`` (merged key by key, like the rest of the journey).  Ingest stores the
catalogue in the pipeline's profile, so it travels with the canonical tables into the trained
model and every recommendation uses the catalogue of the CRM it was trained on.

Example:
    >>> cat = ActionCatalogue.default()
    >>> cat.actions["reach_economic_buyer"].description
    'Reach the economic buyer'
    >>> [cat.valid("confirm_decision_date", step) for step in ("curious", "decision")]
    [False, True]
    >>> cat.merged({"demo_roi": {"description": "Walk through the ROI model",
    ...                          "steps": ["decision"]}}).names[-1]
    'demo_roi'
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_ACTIONS_RESOURCE = "default_actions.yaml"


class ActionSpec(BaseModel):
    """One next step: plain words, the buyer steps where it is valid, days before it repeats."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = Field(min_length=1)
    steps: tuple[str, ...] = Field(min_length=1)
    cooldown_days: int = Field(default=14, ge=0)


class ActionCatalogue(BaseModel):
    """The actions a recommendation may name, in a fixed order."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    actions: dict[str, ActionSpec]

    @classmethod
    def default(cls) -> ActionCatalogue:
        """The catalogue shipped with dealrisk."""
        text = resources.files("features").joinpath(DEFAULT_ACTIONS_RESOURCE).read_text()
        return cls.model_validate({"actions": yaml.safe_load(text)})

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ActionCatalogue:
        """Read :meth:`to_dict` output (``None`` or empty: the default catalogue).

        Example:
            >>> ActionCatalogue.from_dict(None) == ActionCatalogue.default()
            True
        """
        if not data:
            return cls.default()
        return cls.model_validate({"actions": data})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready ``{action: {description, steps, cooldown_days}}``."""
        return {name: {**spec.model_dump(), "steps": list(spec.steps)}
                for name, spec in self.actions.items()}

    def merged(self, override: dict[str, Any], where: str = "next_steps") -> ActionCatalogue:
        """The catalogue with ``override`` (``{action: fields}``) merged in.

        Raises ``ValueError`` naming ``where``, the action and the field when invalid.
        """
        if not isinstance(override, dict):
            raise ValueError(f"{where} must be a mapping of action name to its fields")
        data = self.to_dict()
        for name, fields in override.items():
            if not isinstance(fields, dict):
                raise ValueError(f"{where}.{name} must be a mapping (description, steps, "
                                 "cooldown_days)")
            data[name] = {**data.get(name, {}), **fields}
        try:
            return ActionCatalogue.model_validate({"actions": data})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{where} is invalid: {problems}") from None

    @property
    def names(self) -> list[str]:
        """Action names in catalogue order."""
        return list(self.actions)

    def valid(self, action: str, step: str) -> bool:
        """Whether ``action`` is a valid next step at buyer step ``step``."""
        spec = self.actions.get(action)
        return spec is not None and step in spec.steps

    def valid_mask(self, steps: Sequence[str], actions: Sequence[str] | None = None
                   ) -> np.ndarray:
        """Boolean (len(steps), len(actions)) table of :meth:`valid` (default: catalogue order).

        Example:
            >>> ActionCatalogue.default().valid_mask(["curious"], ["confirm_problem"]).tolist()
            [[True]]
        """
        names = self.names if actions is None else list(actions)
        return np.array([[self.valid(a, s) for a in names] for s in steps], dtype=bool)

    def cooldown_days(self) -> np.ndarray:
        """Cool-down of each action in catalogue order (days)."""
        return np.array([spec.cooldown_days for spec in self.actions.values()], dtype=np.float64)
