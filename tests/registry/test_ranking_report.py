"""The manager ranking and its CSV / HTML report."""

import re

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
    # reasons: at most 3, only material pushes (an empty list is fine), never a blank
    # category, never equal values, never a track-record count against won peers
    assert table.reasons.map(len).le(3).all()
    texts = [t for r in table.reasons for t in r]
    assert texts and all(t and t[0].isupper() and "nan" not in t.lower() for t in texts)
    assert not any(t.rstrip().endswith(":") for t in texts)
    assert not any("closed deals" in t or "earlier deals" in t for t in texts)
    for t in texts:
        compared = re.search(r": (.+?), against a median of (.+?) for deals at this step", t)
        assert compared is None or compared[1] != compared[2], t
    risk = table.no_decision_risk.fillna(1 - table.win_probability)
    has = table.reasons.map(len).gt(0)
    assert has[risk >= risk.quantile(0.75)].mean() >= has[risk <= risk.quantile(0.25)].mean()
    assert table.risk_change.notna().mean() > 0.5  # most deals existed a week earlier


def test_reports_are_written(ranking, tmp_path):
    table, _, export_time = ranking
    paths = write_reports(table, tmp_path, as_of=export_time, model_version="7")
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == len(table) and (csv.model_version == 7).all()
    assert (csv.risk_basis == table.attrs["basis"].risk).all()
    assert not re.search(r"\d\.\d{4,}", paths["csv"].read_text())  # rounded
    page = paths["html"].read_text()
    money = re.findall(r"<td class='num money'[^>]*>([^<]*)</td>", page)
    assert len(money) == 2 * len(table) and all(re.match(r"[A-Z]{3} |n/a", m) for m in money)
    horizon = table.attrs["basis"].horizon_days
    assert f"no buyer-step progress in the next {horizon} days" in page
    assert page.count("<tr>") == len(table) + 1
    assert page.count("data:image/png;base64,") == 3  # self-contained plots
    assert "http://" not in page and "https://" not in page  # no external resources
