"""How the example spreadsheet pipeline in this folder was made (run it to make it again).

The files have the shape of the public "CRM Sales Opportunities" sample (Maven Analytics):
``sales_pipeline.csv`` with one row per opportunity (agent, product, account, stage, engage and
close dates, close value), ``accounts.csv``, ``sales_teams.csv`` and ``products.csv`` (list
prices: the deal's value while it is open; the close value is only known at the close).  Their
content is made up by this short script, independently of dealrisk's buyer-journey simulator, so
that the product is shown on an export it did not write: rows stop at the export time, open
deals have no close date or value, a lost deal's close value is 0, prospects have neither an
engage date nor an account (the ingest reports them), and the account and team attributes are
the kind a CRM holds.

    .venv/bin/python examples/crm_pipeline/make_data.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
EXPORTED_AT = pd.Timestamp("2018-01-01T00:00:00Z")
SECTORS = ["technology", "retail", "medical", "software", "finance", "marketing",
           "entertainment", "telecommunications", "services", "employment"]
OFFICES = ["Central", "East", "West"]
PRODUCTS = {"GTX Basic": 550, "GTX Pro": 4821, "MG Special": 55, "MG Advanced": 3393,
            "GTX Plus Basic": 1096, "GTX Plus Pro": 5482, "GTK 500": 26768}
FIRST = ["Anna", "Boris", "Cecily", "Daniell", "Elease", "Garret", "Hayden", "Jonathan",
         "Kami", "Lajuana", "Maureen", "Niesha", "Rosalina", "Versie"]
LAST = ["Snelling", "Stryker", "Kraus", "Hendrickson", "Florio", "Kinder", "Zeme", "Berthelot",
        "Bamberg", "Vencill", "Zune", "Dorothy", "Dieter", "Hillebrand"]
COMPANIES = ["Acme", "Betasoloin", "Cancity", "Codehow", "Condax", "Dalttechnology", "Domzoom",
             "Faxquote", "Finhigh", "Gogozoom", "Golddex", "Hottechi", "Isdom", "Kan-code",
             "Konex", "Labdrill", "Lexiqvolax", "Mathtouch", "Nam-zim", "Newex", "Ontomedia",
             "Opentech", "Plexzap", "Rangreen", "Rantouch", "Ron-tech", "Scotfind", "Silis",
             "Sonron", "Stanredtax", "Statholdings", "Streethex", "Sumace", "Sunnamplex",
             "Toughzap", "Treequote", "Umbrella", "Warephase", "Xx-holding", "Zathunicon",
             "Zencorporation", "Zoomit", "Bluth Company", "Initech", "Globex", "Hooli",
             "Vandelay", "Wayne Corp"]


def make(n_opportunities: int = 720, seed: int = 20171231) -> dict[str, pd.DataFrame]:
    """The four tables (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    agents = pd.DataFrame({
        "sales_agent": [f"{f} {last}" for f, last in zip(FIRST, LAST, strict=True)][:12],
        "manager": [f"{m} Manager" for m in ("Dustin", "Melvin", "Cara", "Rocco")] * 3,
        "regional_office": [OFFICES[i % 3] for i in range(12)]})
    accounts = pd.DataFrame({
        "account": COMPANIES,
        "sector": rng.choice(SECTORS, len(COMPANIES)),
        "year_established": rng.integers(1979, 2017, len(COMPANIES)),
        "revenue": np.round(rng.lognormal(6.5, 1.2, len(COMPANIES)), 2),
        "employees": np.round(rng.lognormal(7.5, 1.3, len(COMPANIES))).astype(int),
        "office_location": rng.choice(["United States", "Kenya", "Philipines", "Japan",
                                       "Italy", "Norway", "Korea", "Jordan", "Brazil"],
                                      len(COMPANIES), p=[.72, .04, .04, .04, .04, .03, .03,
                                                         .03, .03])})
    skill = rng.normal(0, 0.6, len(agents))
    n = n_opportunities
    agent = rng.integers(0, len(agents), n)
    account = rng.integers(0, len(accounts), n)
    product = rng.choice(list(PRODUCTS), n)
    engage = pd.Timestamp("2017-01-01") + pd.to_timedelta(rng.integers(0, 360, n), unit="D")
    big = np.log(accounts["employees"].to_numpy()[account]) > 8
    logit = -0.1 + skill[agent] + 0.35 * big - 0.3 * np.isin(product, ["GTK 500", "GTX Plus Pro"])
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    days = np.maximum(1, np.round(rng.lognormal(np.where(won, 3.7, 3.4), 0.7))).astype(int)
    close = engage + pd.to_timedelta(days, unit="D")
    open_ = close >= EXPORTED_AT.tz_localize(None)
    prospect = rng.random(n) < 0.07
    stage = np.where(prospect, "Prospecting", np.where(open_, "Engaging",
                                                       np.where(won, "Won", "Lost")))
    price = np.array([PRODUCTS[p] for p in product], dtype=float)
    value = np.where(stage == "Won", np.round(price * rng.uniform(0.9, 1.1, n)),
                     np.where(stage == "Lost", 0, np.nan))
    pipeline = pd.DataFrame({
        "opportunity_id": [f"{x:08X}" for x in rng.integers(16**7, 16**8, n)],
        "sales_agent": agents["sales_agent"].to_numpy()[agent],
        "product": product,
        "account": np.where(prospect, "", accounts["account"].to_numpy()[account]),
        "deal_stage": stage,
        "engage_date": np.where(prospect, "", engage.strftime("%Y-%m-%d")),
        "close_date": np.where(np.isin(stage, ["Won", "Lost"]), close.strftime("%Y-%m-%d"), ""),
        "close_value": pd.Series(value).map(lambda v: "" if np.isnan(v) else f"{v:.0f}")})
    products = pd.DataFrame({"product": list(PRODUCTS),
                             "series": [p.split()[0] for p in PRODUCTS],
                             "sales_price": list(PRODUCTS.values())})
    return {"sales_pipeline": pipeline, "accounts": accounts, "sales_teams": agents,
            "products": products}


def main() -> None:
    """Write the tables and ``export.json`` next to this script."""
    for name, frame in make().items():
        frame.to_csv(HERE / f"{name}.csv", index=False)
    (HERE / "export.json").write_text(
        json.dumps({"source": "generic", "exported_at": EXPORTED_AT.isoformat()}) + "\n")


if __name__ == "__main__":
    main()
