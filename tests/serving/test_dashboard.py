"""The manager dashboard in a headless Chromium against a real ``bentoml serve`` process.

Debian's Chromium (``/usr/bin/chromium``) is driven by Playwright's sync API; Playwright's own
browsers are never installed and the page fetches nothing but the service's own files.
"""

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from serving_requests import API_KEY, AUTH

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WRONG_KEY = "not-the-key-987654321"
PNG = b"\x89PNG\r\n\x1a\n"


def _label(row: dict) -> str:
    return row["name"] or row["deal_id"]


def _wait_rows(page, count: int) -> None:
    """Wait until the table shows ``count`` deals."""
    page.wait_for_function(
        f"document.querySelectorAll('#deals tbody tr[data-deal-id]').length === {count}")


@pytest.mark.slow
def test_dashboard_asks_for_the_key_ranks_filters_charts_and_details(live_service, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    answer = httpx.get(f"{live_service}/dashboard/ranking", headers=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert len(rows) > 1

    origin = urlsplit(live_service).netloc
    errors: list[str] = []
    refused: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)

            def on_console(message) -> None:
                if message.type != "error":
                    return
                # the one deliberate wrong key: Chromium logs the refused fetch as an error
                if "401" in message.text and message.location.get("url", "").endswith(
                        "/dashboard/ranking"):
                    refused.append(message.text)
                else:
                    errors.append(message.text)

            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("request", lambda request: requests.append(request.url))

            page.goto(f"{live_service}/dashboard")
            page.wait_for_selector("#key-input", state="visible")
            assert page.locator("#ranking").is_hidden()
            assert page.locator("#deals tbody tr").count() == 0

            # a wrong key: a clear 401 message, the form again, nothing kept
            page.fill("#key-input", WRONG_KEY)
            page.click("#key-submit")
            message = page.locator("#message")
            message.wait_for(state="visible")
            page.wait_for_function(
                "document.getElementById('message').textContent.includes('401')")
            assert "refused" in message.text_content()
            assert page.locator("#key-input").is_visible()
            assert page.locator("#ranking").is_hidden()
            assert page.evaluate("sessionStorage.length") == 0

            # the right key: every ranked deal, in the ranking's order
            page.fill("#key-input", API_KEY)
            page.click("#key-submit")
            body_rows = page.locator("#deals tbody tr")
            _wait_rows(page, len(rows))
            assert body_rows.count() == len(rows)
            first = body_rows.first
            assert first.get_attribute("data-deal-id") == rows[0]["deal_id"]
            assert first.locator("td.deal").text_content() == _label(rows[0])
            assert page.locator("#message").is_hidden()
            assert page.locator("#key-form").is_hidden()
            assert page.locator("#model-version").text_content() == answer.json()["model"][
                "version"]
            assert API_KEY in page.evaluate("Object.values(sessionStorage)")

            # both charts over all rows: one bar per owner, one per buyer step
            page.wait_for_selector("#chart-owner .main-svg")
            page.wait_for_selector("#chart-step .main-svg")
            owners = Counter(r["owner"] for r in rows)
            steps = {r["buyer_step"] for r in rows}
            assert page.locator("#chart-owner .bars path").count() == len(owners)
            assert page.locator("#chart-step .bars path").count() == len(steps)

            # the owner filter: only that owner's deals, and the charts follow
            owner = next(o for o, _ in owners.most_common() if o)
            mine = [r for r in rows if r["owner"] == owner]
            page.select_option("#owner-filter", label=owner)
            _wait_rows(page, len(mine))
            assert body_rows.count() == len(mine)
            assert page.locator("#deals tbody tr td.owner").all_text_contents() == [owner] * len(
                mine)
            assert [tr.get_attribute("data-owner") for tr in body_rows.all()] == [owner] * len(
                mine)
            assert page.locator("#chart-owner .bars path").count() == len(
                {r["owner"] for r in mine})
            assert page.locator("#chart-step .bars path").count() == len(
                {r["buyer_step"] for r in mine})

            # and the step filter on top of it
            step = mine[0]["buyer_step"]
            both = [r for r in mine if r["buyer_step"] == step]
            page.select_option("#step-filter", value=step)
            _wait_rows(page, len(both))
            assert {tr.get_attribute("data-step") for tr in body_rows.all()} == {step}
            assert page.locator("#chart-step .bars path").count() == 1
            page.select_option("#step-filter", value="*")
            _wait_rows(page, len(mine))

            # a row's details: every field and all its reasons
            chosen = next((r for r in mine if len(r["reasons"]) > 1), mine[0])
            page.click(f"#deals tbody tr[data-deal-id='{chosen['deal_id']}']")
            detail = page.locator("#detail")
            detail.wait_for(state="visible")
            assert detail.get_attribute("data-deal-id") == chosen["deal_id"]
            assert detail.locator("h2").text_content() == _label(chosen)
            if chosen["reasons"]:
                assert detail.locator("ul.reasons li").all_text_contents() == chosen["reasons"]
            assert detail.locator("dd[data-field='deal_id']").text_content() == chosen[
                "deal_id"]
            assert detail.locator("dd[data-field='owner']").text_content() == owner

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            data = shot.read_bytes()
            assert len(data) > 1000 and data.startswith(PNG)

            detail.locator("button.close").click()
            detail.wait_for(state="hidden")

            # forgetting the key hides the ranking and empties the tab's storage
            page.click("#key-forget")
            page.locator("#key-input").wait_for(state="visible")
            assert page.locator("#ranking").is_hidden()
            assert page.evaluate("sessionStorage.length") == 0

            assert API_KEY not in page.url and WRONG_KEY not in page.url
        finally:
            browser.close()

    assert not errors, errors
    assert len(refused) == 1, refused
    assert requests and all(urlsplit(u).netloc == origin for u in requests
                            if not u.startswith("data:")), requests
    assert not any(API_KEY in u or WRONG_KEY in u for u in requests), requests


@pytest.mark.slow
def test_dashboard_shows_missing_values_trends_and_markup_as_plain_text(live_service):
    """A doctored ranking (the real one, with nulls, markup and trends) rendered by the page."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: `make test` installs it (apt-get install -y chromium)")
    import json

    from playwright.sync_api import sync_playwright

    ranking = httpx.get(f"{live_service}/dashboard/ranking", headers=AUTH, timeout=60).json()
    rows = ranking["rows"][:3]
    markup = "<img src=x onerror=window.injected=1>"
    rows[0].update(name=markup, risk_change=0.052, reasons=[markup, "second reason"])
    rows[1].update(name=None, owner=None, stall_risk=None, no_decision_risk=None,
                   win_probability=None, days_in_step=None, risk_change=-0.031,
                   revenue_at_risk=None, reasons=[])
    rows[2].update(risk_change=None, currency="not a currency")
    ranking["rows"] = rows
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.route("**/dashboard/ranking", lambda route: route.fulfill(
                status=200, content_type="application/json", body=json.dumps(ranking)))
            page.goto(f"{live_service}/dashboard")
            page.fill("#key-input", API_KEY)
            page.click("#key-submit")
            page.wait_for_selector("#deals tbody tr[data-deal-id]")
            trs = page.locator("#deals tbody tr")
            assert trs.count() == 3
            first, second, third = trs.nth(0), trs.nth(1), trs.nth(2)
            assert first.locator("td.deal").text_content() == markup
            assert first.locator("td.reason").text_content() == markup
            assert page.locator("#deals img").count() == 0
            assert first.locator("td.trend").text_content() == "▲ +5.2 pts"
            assert "up" in first.locator("td.trend").get_attribute("class")
            assert second.locator("td.deal").text_content() == rows[1]["deal_id"]
            assert second.locator("td.trend").text_content() == "▼ −3.1 pts"
            assert "down" in second.locator("td.trend").get_attribute("class")
            cells = second.locator("td").all_text_contents()
            assert cells[2] == "–" and cells[4:8] == ["–"] * 4 and cells[9] == "–", cells
            assert third.locator("td.trend").text_content() == "–"
            assert third.locator("td.money").text_content().endswith(" not a currency")
            # the owner filter offers the deal without owner, the charts a bar per owner
            labels = page.locator("#owner-filter option").all_text_contents()
            assert labels[0] == "All owners" and "(no owner)" in labels
            page.wait_for_selector("#chart-owner .main-svg")
            assert page.locator("#chart-owner .bars path").count() == len(labels) - 1
            page.select_option("#owner-filter", label="(no owner)")
            _wait_rows(page, 1)
            trs.first.click()
            assert page.locator("#detail ul.reasons li").all_text_contents() == [
                "No material reason."]
            page.select_option("#owner-filter", value="*")
            page.locator(f"#deals tbody tr[data-deal-id='{rows[0]['deal_id']}']").click()
            assert page.locator("#detail ul.reasons li").all_text_contents() == [
                markup, "second reason"]
            assert page.locator("#detail img").count() == 0
            assert page.evaluate("window.injected") is None
        finally:
            browser.close()
    assert not errors, errors
