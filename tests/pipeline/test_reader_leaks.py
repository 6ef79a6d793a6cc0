"""No reader leaks the future: features at T from the full export equal features at T from the
same export taken at T (rows after T dropped, later closes blanked, values rolled back), in
every reader's shape; what a shape cannot tell is left out, the same way at both times.

The pipeline is simulated, then written as each CRM writes it (training/simulator/crm_shapes.py):
Salesforce, Salesforce without OpportunityFieldHistory, Salesforce with no history at all,
HubSpot's UI export, and a few-stage spreadsheet read through examples/crm_pipeline/mapping.yaml.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.contract import TRACKED_FIELDS
from features.histories import DealHistories
from features.ingest import ingest
from features.journey import JourneyConfig
from training.simulator import simulate_frames
from training.simulator.crm_shapes import (
    to_few_stage,
    to_hubspot,
    truncate,
    without_field_history,
    write_tables,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "crm_pipeline"
ZONE = "Europe/Amsterdam"
SHAPES = {
    "salesforce": lambda t: t,
    "salesforce_no_field_history": without_field_history,
    "salesforce_no_history": lambda t: without_field_history(t, keep_stage_values=False),
    "hubspot": to_hubspot,
    "few_stage": to_few_stage,
}


@pytest.fixture(scope="module")
def pipeline():
    pipe = simulate_frames(1200, seed=11)
    export = pd.Timestamp(pipe.summary.exported_at)
    at = export - pd.Timedelta(days=150)
    return _with_open_tasks(pipe.tables, at), export, at


def _with_open_tasks(tables, at: pd.Timestamp):
    """Tasks the simulator does not write, around ``at``: one booked before and done after it,
    one still open at the export and due before ``at``, one still open and due after it."""
    opp = tables["Opportunity"]
    created = pd.to_datetime(opp["CreatedDate"], utc=True, format="ISO8601")
    deals = opp.loc[created < at - pd.Timedelta(days=40), "Id"].head(90).tolist()
    day = pd.Timedelta(days=1)

    def iso(t: pd.Timestamp) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    kinds = {  # (created, due, completed)
        "done_later": (at - 5 * day, at + 3 * day, at + 3 * day),
        "open_overdue": (at - 20 * day, at - 10 * day, None),
        "open_due_later": (at - 3 * day, at + 10 * day, None)}
    rows = []
    for i, deal in enumerate(deals):
        name = list(kinds)[i % 3]
        made, due, done = kinds[name]
        rows.append({"Id": f"00TX{i:014d}", "WhatId": deal, "WhoId": "", "OwnerId": "",
                     "Subject": f"Send the {name.replace('_', ' ')} document",
                     "TaskSubtype": "Task", "Type": "Other", "CallType": "",
                     "Status": "Completed" if done else "Not Started",
                     "ActivityDate": due.strftime("%Y-%m-%d"),
                     "CompletedDateTime": iso(done) if done else "", "CreatedDate": iso(made)})
    tasks = pd.concat([tables["Task"], pd.DataFrame(rows)], ignore_index=True).fillna("")
    return {**tables, "Task": tasks}


def _ingest(shape: str, tables, at: pd.Timestamp, folder: Path) -> DealHistories:
    write_tables(SHAPES[shape](tables), folder, at)
    if shape == "few_stage":
        shutil.copy(EXAMPLE / "mapping.yaml", folder / "mapping.yaml")
        return ingest(folder, mapping=folder / "mapping.yaml").histories
    config = JourneyConfig.default()
    if shape == "hubspot":
        config = config.model_copy(update={"timestamps": config.timestamps.model_copy(
            update={"naive_timezone": ZONE})})
    return ingest(folder, kind="hubspot" if shape == "hubspot" else "salesforce",
                  config=config).histories


@pytest.fixture(scope="module", params=list(SHAPES))
def both(request, pipeline, tmp_path_factory):
    """(shape, features at T from the full export, from the export taken at T)."""
    tables, export, at = pipeline
    root = tmp_path_factory.mktemp(request.param)
    full = _ingest(request.param, tables, export, root / "full")
    then = _ingest(request.param, truncate(tables, at), at, root / "then")
    return request.param, full, then, at


def _features(h: DealHistories, at: pd.Timestamp) -> pd.DataFrame:
    return build_features(h, at).set_index("deal_id")


def _differences(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, int]:
    """Number of rows that differ, per column (NaN equals NaN)."""
    out = {}
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype.kind == "f":
            same = np.isclose(x.to_numpy(), y.to_numpy(), rtol=0, atol=0, equal_nan=True)
        else:
            same = ((x.astype(object) == y.astype(object)) | (x.isna() & y.isna())).to_numpy()
        if (~same).any():
            out[column] = int((~same).sum())
    return out


def _reentered_after(tables, at: pd.Timestamp) -> set[str]:
    """Deals that enter again, after ``at``, a stage they had entered by ``at`` (a HubSpot
    export keeps only the latest entry, so its view of the earlier visit is gone)."""
    h = tables["OpportunityHistory"]
    when = pd.to_datetime(h["CreatedDate"], utc=True, format="ISO8601")
    before = set(zip(h.loc[when <= at, "OpportunityId"], h.loc[when <= at, "StageName"],
                     strict=True))
    after = zip(h.loc[when > at, "OpportunityId"], h.loc[when > at, "StageName"], strict=True)
    return {deal for deal, stage in after if (deal, stage) in before}


def test_features_at_t_do_not_depend_on_what_came_later(both, pipeline):
    shape, full, then, at = both
    a, b = _features(full, at), _features(then, at)
    assert len(a) >= 100 and sorted(a.index) == sorted(b.index)  # the same deals are open at T
    b = b.loc[a.index]
    if shape == "hubspot":
        # The one thing a HubSpot export cannot give: it keeps only the latest entry into each
        # stage, so when a deal enters again after T a stage it was in by T, the earlier visit
        # is gone and its step at T (and the days in it) reads from the entries that remain.
        # That limit is stated (features/ingest/hubspot.py), confined to those deals and to
        # those three features; every other feature of theirs is equal.
        ids = {str(int(d[3:])) for d in _reentered_after(pipeline[0], at)}
        again = a.index.isin(ids)
        assert 0 < again.sum() < 0.2 * len(a)
        stage_position = {"current_step", "days_in_step", "days_in_step_vs_won"}
        assert set(_differences(a[again], b[again])) <= stage_position
        a, b = a[~again], b[~again]
    assert _differences(a, b) == {}


def test_what_the_export_cannot_tell_is_left_out_in_both(both):
    shape, full, then, at = both
    assert full.profile.left_out() == then.profile.left_out()
    expected = {
        "salesforce": set(),
        "salesforce_no_field_history": set(),  # the history comes from OpportunityHistory
        "salesforce_no_history": {"days_to_close_date", "planned_cycle_days", "amount",
                                  "amount_vs_initial"},
        "hubspot": {"days_to_close_date", "amount", "regressions", "step_changes"},
        "few_stage": {"days_to_close_date", "amount", "buyer_activities_30d",
                      "days_since_buyer_activity", "contacts_on_deal", "has_economic_buyer"},
    }[shape]
    left_out = set(full.profile.left_out())
    assert expected <= left_out
    if shape in ("salesforce", "salesforce_no_field_history"):
        assert left_out == set()
    rows = _features(full, at)
    assert rows[sorted(left_out)].isna().all().all()


def test_open_tasks_are_next_steps_at_t_in_every_export(both):
    """The injected tasks: booked at T whether they were done later, are still open after their
    due date, or are due later; one overdue at T is not a next step (in both exports)."""
    shape, full, then, at = both
    if shape == "few_stage":  # a spreadsheet without tasks
        return
    a, b = _features(full, at), _features(then, at)
    # 60 of the 90 tasks are booked steps at T (on deals open then), in both exports
    assert a["open_next_step"].sum() >= 30
    assert a["open_next_step"].sum() == b["open_next_step"].sum()


def test_the_audit_catches_a_back_dated_close_date(pipeline, tmp_path):
    """The check can fail: pretend an export without history had it (today's close date and
    amount then stand for every earlier time) and the features at T differ."""
    tables, export, at = pipeline
    shape = "salesforce_no_history"
    full = _ingest(shape, tables, export, tmp_path / "full")
    then = _ingest(shape, truncate(tables, at), at, tmp_path / "then")
    pretend = replace(full.profile, tracked_fields=TRACKED_FIELDS)
    full, then = replace(full, profile=pretend), replace(then, profile=pretend)
    a, b = _features(full, at), _features(then, at)
    diff = _differences(a, b.loc[a.index])
    assert {"days_to_close_date", "planned_cycle_days"} <= set(diff)
