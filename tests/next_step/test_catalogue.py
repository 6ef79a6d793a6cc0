"""The catalogue of next steps: defaults, a user's override, validation, cool-downs, treatments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.action_history import days_since_actions
from features.actions import ActionCatalogue
from features.journey import JourneyConfig
from features.profile import PipelineProfile
from training.next_step.treatments import next_action
from training.simulator.params import ACTIONS, STEPS


def test_the_default_catalogue_names_every_action_the_journey_recognises() -> None:
    cfg = JourneyConfig.default()
    cat = cfg.catalogue
    assert set(cfg.activities.actions) == set(cat.names) == set(ACTIONS)
    for spec in cat.actions.values():
        assert spec.description and spec.cooldown_days >= 0
        assert set(spec.steps) <= set(cfg.buyer_steps)
    mask = cat.valid_mask(STEPS)
    assert mask.shape == (len(STEPS), len(cat.names))
    assert not mask[STEPS.index("curious"), cat.names.index("confirm_decision_date")]
    assert mask.any(axis=1).all()  # every step has something to recommend


def test_a_journey_yaml_overrides_and_extends_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "journey.yaml"
    path.write_text(
        "activities:\n"
        "  actions:\n"
        "    walk_through_roi: 'roi (model|walk-?through)'\n"
        "next_steps:\n"
        "  walk_through_roi: {description: 'Walk the buying group through the ROI model',\n"
        "                     steps: [evaluation_plan, decision], cooldown_days: 30}\n"
        "  run_evaluation: {cooldown_days: 3}\n")
    cfg = JourneyConfig.load(path)
    cat = cfg.catalogue
    assert cat.names[-1] == "walk_through_roi"
    assert cat.valid("walk_through_roi", "decision") and not cat.valid("walk_through_roi",
                                                                         "curious")
    assert cat.actions["run_evaluation"].cooldown_days == 3
    assert cat.actions["run_evaluation"].steps == ActionCatalogue.default().actions[
        "run_evaluation"].steps  # fields left out keep the default
    assert cfg.classify_subject("Meeting: ROI walkthrough")["action"] == "walk_through_roi"


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("next_steps:\n  run_evaluation: {steps: [negotiating]}\n",
     "next_steps.run_evaluation.steps: ['negotiating'] are not buyer steps"),
    ("activities:\n  actions:\n    send_pricing: 'pricing'\n",
     "activities.actions ['send_pricing'] are not in the catalogue of next steps"),
    ("next_steps:\n  run_evaluation: {cooldown_days: -1}\n",
     "run_evaluation.cooldown_days"),
    ("next_steps:\n  new_one: {steps: [decision]}\n", "new_one.description"),
])
def test_a_bad_catalogue_is_refused_naming_the_file_and_the_field(
        tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "journey.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ValueError, match=r"journey\.yaml") as err:
        JourneyConfig.load(path)
    assert message in str(err.value)


def test_the_profile_carries_the_catalogue_through_its_json_form() -> None:
    cat = ActionCatalogue.default().merged({"run_evaluation": {"cooldown_days": 2}})
    profile = PipelineProfile(name="p").with_catalogue(cat)
    back = PipelineProfile.from_dict(profile.to_dict())
    assert back == profile and back.catalogue() == cat
    assert PipelineProfile().catalogue() == ActionCatalogue.default()
    hash(back)  # profiles stay hashable (frozen)


def _acts(rows: list[tuple[str, str | None, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "deal_id": [r[0] for r in rows], "action": [r[1] for r in rows],
        "occurred_at": pd.to_datetime([r[2] for r in rows], utc=True, format="ISO8601"),
        "recorded_at": pd.to_datetime([r[3] for r in rows], utc=True)})


def test_days_since_an_action_counts_only_what_had_happened_and_was_recorded() -> None:
    acts = _acts([
        ("d1", "confirm_problem", "2024-01-01", None),
        ("d1", "confirm_problem", "2024-01-08", None),
        ("d1", "run_evaluation", "2024-01-05", "2024-01-09"),  # logged 4 days late
        ("d1", "run_evaluation", "2024-02-01", "2024-01-09"),  # booked ahead, not yet taken
        ("d1", None, "2024-01-09", None),
        ("d2", "confirm_problem", "2024-01-09 12:00", None),
    ])
    names = ["confirm_problem", "run_evaluation"]
    at = pd.to_datetime(["2024-01-08 12:00", "2024-01-10 00:00", "2024-01-10 00:00"], utc=True)
    got = days_since_actions(acts, ["d1", "d1", "d2"], at, names)
    assert got[0].tolist() == [0.5, np.inf]  # run_evaluation not yet in the CRM on Jan 8
    assert got[1].tolist() == [2.0, 5.0]
    assert got[2].tolist() == [0.5, np.inf]
    assert days_since_actions(acts.iloc[:0], ["d1"], at[:1], names).tolist() == [[np.inf] * 2]


def test_the_logged_treatment_is_the_first_action_inside_the_window() -> None:
    acts = _acts([
        ("d1", "run_evaluation", "2024-01-03", None),
        ("d1", "confirm_problem", "2024-01-02", None),
        ("d1", "confirm_problem", "2024-01-20", None),
        ("d2", "reach_economic_buyer", "2024-01-09", None),
    ])
    snaps = pd.DataFrame({"deal_id": ["d1", "d1", "d1", "d2", "d3"],
                          "as_of": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-10",
                                                   "2024-01-01", "2024-01-01"], utc=True)})
    names = ["confirm_problem", "run_evaluation", "reach_economic_buyer"]
    # Jan 1: first is confirm_problem (Jan 2); Jan 2: the one at as_of itself is known, next is
    # run_evaluation; Jan 10: Jan 20 is outside 7 days; d2: Jan 9 is 8 days out; d3: nothing.
    assert next_action(acts, snaps, names, 7).tolist() == [0, 1, -1, -1, -1]
    assert next_action(acts, snaps, names, 8).tolist() == [0, 1, -1, 2, -1]


def test_action_times_as_texts_of_mixed_precision_are_read() -> None:
    """Live records carry texts as sent: seconds in one, milliseconds and an offset in another."""
    acts = pd.DataFrame({"deal_id": ["d", "d"], "action": ["confirm_problem"] * 2,
                         "occurred_at": ["2024-01-01T00:00:00Z", "2024-01-02T12:00:00.250+00:00"],
                         "recorded_at": [None, "2024-01-03T00:00:00Z"]})
    got = days_since_actions(acts, ["d"], pd.to_datetime(["2024-01-04"], utc=True),
                             ["confirm_problem"])
    assert got[0, 0] == pytest.approx(1.5 - 0.25 / 86_400, abs=1e-9)  # 12:00:00.250
