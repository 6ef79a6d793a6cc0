"""The manager report: owners by name, a currency on every amount, defined columns, the basis
notes up front, "n/a" for a risk the model lacks, readable charts and a rounded CSV."""

from __future__ import annotations

import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import training.report as report
from training.ranking import RANK_COLUMNS, basis_for
from training.report import owner_label, render_html, write_reports
from training.reporting import print_ranking

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")
OWNERS = ["Maximiliane Oberhauser-Kleinschmidt", "Jane Doe", "Bob Stone"]


def _ranking(n: int = 6, *, no_decision: bool = True, currency: object = "EUR",
             horizon: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    nd = rng.uniform(0, 1, n) if no_decision else np.full(n, np.nan)
    win = rng.uniform(0, 1, n)
    amount = rng.uniform(1_000, 200_000, n) + 0.123456
    risk = nd if no_decision else 1 - win
    out = pd.DataFrame({
        "rank": range(1, n + 1), "deal_id": [f"006{i:015d}" for i in range(n)],
        "name": [f"Deal {i}" for i in range(n)], "owner": [OWNERS[i % 3] for i in range(n)],
        "account": [f"Account {i}" for i in range(n)], "amount": amount,
        "currency": currency, "buyer_step": "evaluation_plan",
        "days_in_step": rng.uniform(0, 60, n), "stall_risk": rng.uniform(0, 1, n),
        "no_decision_risk": nd, "win_probability": win,
        "risk_change": rng.normal(0, 0.1, n), "revenue_at_risk": risk * amount,
        "reasons": [["No next step is booked"]] * n, "next_step": "n/a",
        "next_best_actions": [[]] * n})[RANK_COLUMNS]
    out.attrs["basis"] = basis_for(("stall", "no_decision", "won") if no_decision
                                   else ("stall", "won"), horizon_days=horizon,
                                   warnings=("only 80 closed deals in training",))
    return out


def _cells(page: str, cls: str) -> list[str]:
    return re.findall(rf"<td class='num {cls}'[^>]*>([^<]*)</td>", page)


def test_every_amount_cell_has_its_currency():
    ranking = _ranking()
    ranking.loc[1, "currency"] = "USD"
    ranking.loc[2, "currency"] = None
    page = render_html(ranking, as_of=AS_OF, model_version="3")
    cells = _cells(page, "money")
    assert len(cells) == 2 * len(ranking)  # amount and revenue at risk
    codes = [c.split(" ")[0] for c in cells]
    assert codes == [code for c in ["EUR", "USD", "¤", "EUR", "EUR", "EUR"] for code in (c, c)]
    assert all(re.fullmatch(r"\S+ [\d,]+", c) for c in cells)
    headline = re.search(r"<div class='headline'><strong>([^<]*)</strong>", page).group(1)
    assert headline.startswith("EUR ") and "USD " in headline and "¤ " in headline


def test_the_legend_defines_the_columns_with_the_horizon():
    page = render_html(_ranking(horizon=14), as_of=AS_OF, model_version="3")
    legend = page.split("<dl class='legend'>")[1].split("</dl>")[0]
    assert "no buyer-step progress in the next 14 days" in legend
    assert "since 7 days before the as-of time" in legend  # what the change is measured against
    for label in ("stall risk", "no-decision risk", "win probability", "risk change",
                  "revenue at risk", "owner", "reasons"):
        assert f"<dt>{label}</dt>" in legend


def test_the_fallback_note_and_warnings_come_first_and_n_a_replaces_nan():
    ranking = _ranking(no_decision=False)
    page = render_html(ranking, as_of=AS_OF, model_version="3")
    notes = page.split("<div class='notes'>")[1].split("</div>")[0]
    assert "falls back to (1 - P(won)) x amount" in notes
    assert "only 80 closed deals in training" in notes
    assert page.index("<div class='notes'>") < page.index("<table>")
    assert not re.search(r"\bnan\b", page.split("<script>")[0], re.IGNORECASE)
    nd_column = list(report.LABELS).index("no_decision_risk")
    rows = page.split("<tbody>")[1].split("</tr>")[:-1]
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[nd_column] == "n/a"
    assert "(n/a here: there is no no-decision model for this pipeline)" in page


def test_win_probability_and_owner_names_are_shown():
    ranking = _ranking()
    page = render_html(ranking, as_of=AS_OF, model_version="3")
    assert "<th title=" in page and ">win probability</th>" in page
    for owner in OWNERS:
        assert f"<td>{owner}</td>" in page


def test_the_owner_chart_uses_truncated_names(monkeypatch):
    ranking = _ranking()
    ranking["owner"] = [*OWNERS, "0058d00000ABCDeFGH", "Li Wei", "Ana"]
    charts: list[list[str]] = []
    real_png = report._png

    def capture(fig: plt.Figure) -> str:
        ax = fig.axes[0]
        charts.append([ax.get_title(), ax.get_xlabel(),
                       *(t.get_text() for t in ax.get_yticklabels())])
        return real_png(fig)

    monkeypatch.setattr(report, "_png", capture)
    render_html(ranking, as_of=AS_OF, model_version="3")
    owner_chart = next(c for c in charts if c[0].startswith("Revenue at risk by owner"))
    assert owner_chart[1] == "revenue at risk (EUR)"
    assert set(owner_chart[2:]) == {owner_label(o) for o in ranking["owner"]}
    assert "Maximiliane Oberhauser-…" in owner_chart and "Jane Doe" in owner_chart
    assert all(len(label) <= report.OWNER_LABEL_CHARS for label in owner_chart[2:])
    assert len(charts) == 3  # owner, buyer step, risk distribution


def test_the_csv_is_rounded_and_says_its_basis(tmp_path):
    ranking = _ranking(no_decision=False)
    paths = write_reports(ranking, tmp_path, as_of=AS_OF, model_version="9")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns[:4]) == ["rank", "as_of", "model_version", "risk_basis"]
    assert (csv.risk_basis == "not_won").all() and (csv.model_version == 9).all()
    text = paths["csv"].read_text()
    for column, decimals in report.CSV_DECIMALS.items():
        for value in csv[column].dropna():
            assert round(value, decimals) == value, (column, value)
    assert not re.search(r"\d\.\d{4,}", text)
    assert csv.no_decision_risk.isna().all()


def test_reports_work_on_a_ranking_without_attrs(tmp_path):
    ranking = _ranking()
    ranking.attrs = {}
    paths = write_reports(ranking, tmp_path, as_of=AS_OF, model_version="1")
    assert (pd.read_csv(paths["csv"]).risk_basis == "no_decision").all()
    page = paths["html"].read_text()
    assert "no buyer-step progress in the next 30 days" in page
    assert page.count("<tr>") == len(ranking) + 1
    assert "http://" not in page and "https://" not in page


def test_an_explicit_basis_wins_over_attrs(tmp_path):
    ranking = _ranking()
    paths = write_reports(ranking, tmp_path, as_of=AS_OF, model_version="1",
                          basis=basis_for(("won",), horizon_days=30))
    assert (pd.read_csv(paths["csv"]).risk_basis == "not_won").all()


def test_an_empty_ranking_still_writes_both_reports(tmp_path):
    paths = write_reports(_ranking().iloc[:0], tmp_path, as_of=AS_OF, model_version="1")
    assert len(pd.read_csv(paths["csv"])) == 0
    assert "0 open deals" in paths["html"].read_text()


@pytest.mark.parametrize("no_decision", [True, False])
def test_the_terminal_ranking_fits_80_columns(no_decision):
    ranking = _ranking(12, no_decision=no_decision)
    ranking.loc[0, "reasons"] = []
    console = Console(width=80, record=True, file=io.StringIO())
    print_ranking(console, ranking, as_of=AS_OF, model_version="5", explain=3)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Jane Doe" in text and "006000000000000001" not in text.split("why")[0]
    assert "EUR " in text and "win" in text
    assert "no single factor raises" in text
    if no_decision:
        assert " n/a" not in text
    else:
        assert "falls back to (1 - P(won)) x amount" in " ".join(text.split())
        assert "no dec n/a: there is no no-decision model" in " ".join(text.split())
        table = [line for line in text.splitlines() if re.match(r"\s+\d+ Deal", line)]
        assert len(table) == 12 and all(" n/a " in line for line in table)
