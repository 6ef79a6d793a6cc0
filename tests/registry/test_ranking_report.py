"""The manager ranking and its CSV / HTML report."""

import pandas as pd
import pytest

from training.ranking import RANK_COLUMNS, rank_open_deals
from training.report import write_reports


@pytest.fixture(scope="module")
def ranking(small_pipeline, trained):
    histories, export_time, _, _ = small_pipeline
    model = trained["strong"].model
    return rank_open_deals(model, histories, export_time), histories, export_time


def test_open_deals_ranked_by_revenue_at_risk(ranking):
    table, histories, export_time = ranking
    deals = histories.deals
    open_now = deals[(deals.created_at <= export_time) & deals.closed_at.isna()]
    assert list(table.columns) == RANK_COLUMNS
    assert sorted(table.deal_id) == sorted(open_now.deal_id)
    assert table.revenue_at_risk.is_monotonic_decreasing
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    expected = table.no_decision_risk * table.amount
    assert (table.revenue_at_risk - expected).abs().max() < 1e-6
    assert table.reasons.map(len).gt(0).mean() > 0.9
    assert table.risk_change.notna().mean() > 0.5  # most deals existed a week earlier


def test_reports_are_written(ranking, tmp_path):
    table, _, export_time = ranking
    paths = write_reports(table, tmp_path, as_of=export_time, model_version="7")
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == len(table) and (csv.model_version == 7).all()
    page = paths["html"].read_text()
    assert page.count("<tr>") == len(table) + 1
    assert page.count("data:image/png;base64,") == 3  # self-contained plots
    assert "http://" not in page and "https://" not in page  # no external resources
