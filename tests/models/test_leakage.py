"""The leakage guard: quiet on every simulator run, loud on a planted leak.

Training-window rows are built the way training builds them (``labelled_rows`` then
``split_per_target(...).train``); the leaks are planted into them (a feature copying a label,
a feature empty exactly when the outcome happens, a category naming the outcome) or into the
deals table (amount 0 for every lost deal with no amount history, a context field equal to the
outcome).  The few-stage spreadsheet example maps its close value as the amount: a real leak.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.ingest import ingest
from features.profile import ContextField
from features.schema import Feature, FeatureSchema
from training.leakage import (
    LeakFinding,
    find_leaks,
    scan_features,
    scan_static_fields,
    single_feature_auc,
    worst_per_feature,
)
from training.model import TrainConfig
from training.pipeline import labelled_rows, split_per_target
from training.simulator import simulate_frames
from training.simulator.crm_shapes import to_few_stage, without_field_history, write_tables

TARGETS = ("stall", "no_decision", "won")
EXAMPLE = Path(__file__).parents[2] / "examples" / "crm_pipeline"


def _train_rows(histories, known_until: pd.Timestamp) -> pd.DataFrame:
    cfg = TrainConfig()
    rows = labelled_rows(histories, config=cfg, known_until=known_until)
    return split_per_target(rows, cfg).train


def _leaks(rows: pd.DataFrame, histories, known_until, schema=None) -> list[LeakFinding]:
    return find_leaks(rows, histories.deals, schema=schema or histories.profile.schema(),
                      profile=histories.profile, targets=TARGETS, known_until=known_until)


def _extended(histories, *extra: Feature) -> FeatureSchema:
    return FeatureSchema((*histories.profile.schema(), *extra))


@pytest.fixture(scope="module")
def train_rows(sim) -> pd.DataFrame:
    return _train_rows(sim.histories, sim.known_until)


@pytest.fixture(scope="module")
def small_export():
    pipe = simulate_frames(1200, seed=5)
    return pipe.tables, pd.Timestamp(pipe.summary.exported_at)


# --- quiet ---------------------------------------------------------------------------------------


def test_quiet_on_a_simulator_run(sim, train_rows) -> None:
    for target in TARGETS:  # every target has both classes to scan
        assert train_rows[f"label_{target}"].dropna().value_counts().min() > 100
    assert _leaks(train_rows, sim.histories, sim.known_until) == []


def test_quiet_on_a_simulator_export_without_amount_history(small_export, tmp_path) -> None:
    """No field history at all: the exported amount is checked (it is only known as exported),
    and the simulator's latest amount does not depend on the outcome."""
    tables, exported_at = small_export
    folder = write_tables(without_field_history(tables, keep_stage_values=False), tmp_path,
                          exported_at)
    histories = ingest(folder, kind="salesforce").histories
    assert "amount" not in histories.profile.tracked_fields
    rows = _train_rows(histories, exported_at)
    assert _leaks(rows, histories, exported_at) == []


# --- loud: features ------------------------------------------------------------------------------


def test_loud_on_a_planted_copy_of_the_label(sim, train_rows) -> None:
    rows = train_rows.copy()
    noise = np.random.default_rng(0).normal(0, 0.05, len(rows))
    rows["stall_peek"] = (rows["label_stall"].fillna(0) + noise).astype("float32")
    schema = _extended(sim.histories, Feature("stall_peek", "float32", "engagement",
                                              "planted", "planted"))
    found = _leaks(rows, sim.histories, sim.known_until, schema)
    assert [(f.feature, f.target, f.kind) for f in found] == [
        ("stall_peek", "stall", "separates")]
    assert found[0].score > 0.99
    assert "stall_peek" in found[0].message and "--drop-feature stall_peek" in found[0].message
    assert "higher values go with stalling" in found[0].message
    # a small fixed-seed subsample finds it too
    small = scan_features(rows, schema, ["stall"], max_rows=2_000)
    assert [f.feature for f in small] == ["stall_peek"]


def test_loud_when_being_empty_gives_the_outcome_away(sim, train_rows) -> None:
    rows = train_rows.copy()
    value = np.random.default_rng(1).normal(size=len(rows)).astype("float32")
    rows["discount_offered"] = np.where(rows["label_no_decision"] == 1, np.nan, value)
    schema = _extended(sim.histories, Feature("discount_offered", "float32", "commitment",
                                              "planted", "planted"))
    found = scan_features(rows, schema, TARGETS)
    assert [(f.feature, f.target) for f in found] == [("discount_offered", "no_decision")]
    assert "empty" in found[0].message and found[0].score > 0.95


def test_loud_on_a_planted_category(sim, train_rows) -> None:
    rows = train_rows.copy()
    rows["crm_status"] = pd.Categorical(np.where(rows["label_won"] == 1, "Closed Won", "Open"))
    schema = _extended(sim.histories, Feature("crm_status", "category", "context",
                                              "planted", "planted"))
    found = scan_features(rows, schema, TARGETS)
    assert ("crm_status", "won", "separates") in [(f.feature, f.target, f.kind) for f in found]
    assert {f.feature for f in found} == {"crm_status"}
    assert "--drop-feature crm_status" in found[0].message


# --- loud: static fields -------------------------------------------------------------------------


def test_loud_on_amount_zero_for_every_lost_deal_without_amount_history(sim) -> None:
    deals = sim.histories.deals.copy()
    deals.loc[deals["outcome"] == "lost", "amount"] = 0.0
    tracked = replace(sim.histories, deals=deals)
    # with an amount history the amount is a point-in-time feature: not a static field
    assert scan_static_fields(deals, tracked.profile, known_until=sim.known_until) == []
    untracked = replace(tracked, profile=replace(tracked.profile, tracked_fields=("close_date",)))
    found = scan_static_fields(deals, untracked.profile, known_until=sim.known_until)
    assert [(f.feature, f.target, f.kind) for f in found] == [("amount", "lost", "static_field")]
    assert found[0].score == pytest.approx(1.0)
    message = found[0].message
    assert "amount is 0 for 100% of the lost deals and 0% of the other closed deals" in message
    assert "does not use it" in message and "revenue at risk" in message


def test_loud_on_a_context_field_equal_to_the_outcome(sim) -> None:
    deals = sim.histories.deals.copy()
    closed = deals["outcome"].notna()
    deals.loc[closed, "region"] = deals.loc[closed, "outcome"]
    rng = np.random.default_rng(2)
    won = (deals["outcome"] == "won").to_numpy()
    deals["health_score"] = np.where(won, rng.uniform(80, 100, len(deals)),
                                     rng.uniform(0, 70, len(deals)))
    profile = replace(sim.histories.profile, context=(ContextField("health_score", "number"),))
    found = {f.feature: f for f in scan_static_fields(deals, profile,
                                                      known_until=sim.known_until)}
    assert set(found) == {"region", "health_score"}
    region = found["region"]
    assert region.kind == "static_field" and region.score == pytest.approx(1.0)
    assert 'region is "' in region.message and "--drop-feature region" in region.message
    assert "singles out" in region.message  # every outcome has its own value
    health = found["health_score"]
    assert health.target == "won" and health.score > 0.95
    assert "AUC" in health.message and "--drop-feature health_score" in health.message


# --- the figures ---------------------------------------------------------------------------------


def test_single_feature_auc_by_hand() -> None:
    # positives 2 and 4, negatives 1 and 3: 3 of the 4 pairs are ordered
    assert single_feature_auc([1, 2, 3, 4], [0, 1, 0, 1]) == 0.75
    # positives 1 and 3, negatives 1 and 2: a tie (1/2), a loss, two wins = 2.5 / 4
    assert single_feature_auc([1, 1, 2, 3], [0, 1, 0, 1]) == 0.625
    assert np.isnan(single_feature_auc([1, 2], [1, 1]))
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 20, 5000).astype(float), rng.integers(0, 2, 5000)
    assert single_feature_auc(x, y) == pytest.approx(roc_auc_score(y, x))


def test_scan_scores_by_hand_on_a_toy_frame() -> None:
    schema = FeatureSchema((Feature("num", "float32", "context", "m", "p"),
                            Feature("cat", "category", "context", "m", "p")))
    rows = pd.DataFrame({"num": np.arange(1.0, 9.0),
                         "cat": pd.Categorical(list("aaaabbbb")),
                         "label_won": [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]})
    found = scan_features(rows, schema, ["won"], threshold=0.5, min_rows=1,
                          min_category_deals=1)
    scores = {f.feature: f.score for f in found}
    # num: positives 1, 2, 3, 5 against negatives 4, 6, 7, 8: only 5 > 4 of the 16 pairs, so
    # AUC 1/16, oriented 15/16 (lower values go with being won)
    assert scores["num"] == pytest.approx(15 / 16)
    assert "lower values go with being won" in found[0].message
    # cat: rates a 3/4, b 1/4; a's 3 positives beat b's 3 negatives (9 pairs), a's and b's
    # pairs inside their own category tie (3 + 3 halves): 12 / 16
    assert scores["cat"] == pytest.approx(0.75)
    # too few rows of a class: the target is not scanned
    assert scan_features(rows, schema, ["won"], threshold=0.5) == []
    # categories smaller than min_category_deals are pooled into one: nothing separates
    pooled = scan_features(rows, schema, ["won"], threshold=0.5, min_rows=1,
                           min_category_deals=5)
    assert [f.feature for f in pooled] == ["num"]


def test_findings_serialise_and_group() -> None:
    a = LeakFinding("x", "stall", "separates", 0.971234, "x nearly separates stall")
    b = LeakFinding("x", "won", "separates", 0.99, "x nearly separates won")
    c = LeakFinding("amount", "lost", "static_field", 1.0, "amount is 0")
    assert a.to_dict() == {"feature": "x", "target": "stall", "kind": "separates",
                           "score": 0.9712, "message": "x nearly separates stall"}
    assert worst_per_feature([a, b, c]) == [c, b]


# --- the few-stage spreadsheet: close value mapped as the amount ---------------------------------


def _close_value_as_amount(folder: Path) -> Path:
    """The example's mapping with the close value mapped as the amount (the natural mistake)."""
    text = (EXAMPLE / "mapping.yaml").read_text()
    leaky = text.replace("amount: products.sales_price", "amount: close_value").replace(
        "      - {file: products.csv, on: {product: product}}\n", "")
    assert leaky != text
    path = folder / "leaky_mapping.yaml"
    path.write_text(leaky)
    return path


def test_crm_pipeline_example_is_quiet_and_loud_on_its_close_value_as_amount(tmp_path) -> None:
    raw = pd.read_csv(EXAMPLE / "sales_pipeline.csv")
    assert (raw.loc[raw["deal_stage"] == "Lost", "close_value"] == 0).all()
    assert (raw.loc[raw["deal_stage"] == "Won", "close_value"] > 0).all()
    shipped = ingest(EXAMPLE, kind="generic", mapping=EXAMPLE / "mapping.yaml")
    rows = _train_rows(shipped.histories, shipped.export_time)
    assert _leaks(rows, shipped.histories, shipped.export_time) == []  # list prices: honest
    copy = Path(shutil.copytree(EXAMPLE, tmp_path / "crm_pipeline"))
    result = ingest(copy, kind="generic", mapping=_close_value_as_amount(copy))
    histories = result.histories
    assert "amount" not in histories.profile.tracked_fields
    rows = _train_rows(histories, result.export_time)
    found = _leaks(rows, histories, result.export_time)
    assert [(f.feature, f.target, f.kind) for f in found] == [("amount", "lost", "static_field")]
    message = found[0].message
    assert message.startswith("amount is 0 for 100% of the lost deals and 0% of the other")
    assert "close value" in message and "does not use it" in message


def test_simulator_written_as_that_spreadsheet_is_loud_on_amount(small_export,
                                                                 tmp_path) -> None:
    tables, exported_at = small_export
    folder = write_tables(to_few_stage(tables), tmp_path, exported_at)
    mapping = _close_value_as_amount(folder)
    histories = ingest(folder, mapping=mapping).histories
    rows = _train_rows(histories, exported_at)
    found = _leaks(rows, histories, exported_at)
    assert [(f.feature, f.target, f.kind) for f in found] == [("amount", "lost", "static_field")]
