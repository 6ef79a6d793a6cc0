// The manager dashboard: asks for the API key, fetches /dashboard/ranking with it, shows the
// ranked deals, filters, two Plotly charts and a deal's details.  Plain JS, no build step.
// All text goes into the page through textContent (never innerHTML).
"use strict";

(function () {
  const KEY = "dealrisk.apiKey";            // sessionStorage only: never a URL, never a cookie
  const ALL = "*";                          // the "all" option of a filter
  const NONE = "-";                         // a row without owner
  // The buyer journey, in order (features.encode.STEPS); unknown steps come after.
  const STEPS = ["curious", "problem_shared", "solution_visualised", "evaluation_plan",
                 "decision", "customer"];
  const FIELDS = [                          // the detail panel, in this order
    ["rank", "Rank"], ["deal_id", "Deal id"], ["name", "Name"], ["owner", "Owner"],
    ["account", "Account"], ["amount", "Amount"], ["buyer_step", "Buyer step"],
    ["days_in_step", "Days in step"], ["no_decision_risk", "No-decision risk"],
    ["stall_risk", "Stall risk"], ["win_probability", "Win probability"],
    ["risk_change", "Trend"], ["revenue_at_risk", "Revenue at risk"],
    ["next_step", "Next step"]];

  const $ = (id) => document.getElementById(id);
  let data = null;                          // the last RankResponse
  let selected = null;                      // deal_id shown in the detail panel

  // ------------------------------------------------------------------------ formatting
  const missing = (v) => v === null || v === undefined || (typeof v === "number" && !isFinite(v));
  const pct = (p) => (missing(p) ? "–" : (100 * p).toFixed(0) + " %");
  const days = (d) => (missing(d) ? "–" : Math.round(d).toString());
  const stepLabel = (s) => (missing(s) || s === "" ? "–" : String(s).replace(/_/g, " "));
  const ownerKey = (row) => (missing(row.owner) || row.owner === "" ? NONE : "=" + row.owner);
  const ownerLabel = (key) => (key === NONE ? "(no owner)" : key.slice(1));

  function money(value, currency) {
    if (missing(value)) return "–";
    if (currency) {
      try {
        return new Intl.NumberFormat(undefined, {style: "currency", currency: currency,
                                                 maximumFractionDigits: 0}).format(value);
      } catch (e) { /* not an ISO currency code: fall through */ }
    }
    const text = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0}).format(value);
    return currency ? text + " " + currency : text;
  }

  // risk_change is a difference of probabilities: shown as points, ▲ worse, ▼ better.
  function trend(change) {
    if (missing(change)) return {text: "–", cls: "flat"};
    const points = 100 * change;
    if (Math.abs(points) < 0.05) return {text: "± 0.0 pts", cls: "flat"};
    const sign = points > 0 ? "▲ +" : "▼ −";
    return {text: sign + Math.abs(points).toFixed(1) + " pts", cls: points > 0 ? "up" : "down"};
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function fillList(list, items) {
    list.replaceChildren(...items.map((item) => el("li", item)));
    list.hidden = items.length === 0;
  }

  // ------------------------------------------------------------------------- key + fetch
  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text || "";
    box.className = kind || "";
    box.hidden = !text;
  }

  function showKeyForm(show) {
    $("key-form").hidden = !show;
    $("key-forget").hidden = show;
    if (show) $("key-input").focus();
  }

  function clearRanking() {
    data = null;
    selected = null;
    $("ranking").hidden = true;
    $("deals").tBodies[0].replaceChildren();
    $("detail").hidden = true;
    $("detail").replaceChildren();
    for (const id of ["chart-owner", "chart-step"]) {
      if (window.Plotly) window.Plotly.purge($(id));
    }
  }

  async function load() {
    const key = sessionStorage.getItem(KEY);
    if (!key) {
      showKeyForm(true);
      return;
    }
    showMessage("Loading the ranking…", "info");
    let response;
    try {
      response = await fetch("/dashboard/ranking", {
        headers: {"Authorization": "Bearer " + key, "Accept": "application/json"},
        cache: "no-store", credentials: "omit"});
    } catch (e) {
      showMessage("The service could not be reached: " + e.message, "error");
      showKeyForm(true);
      return;
    }
    if (response.status === 401) {
      sessionStorage.removeItem(KEY);
      clearRanking();
      showMessage("That API key was refused (401 Unauthorized). Please enter a valid key.",
                  "error");
      showKeyForm(true);
      return;
    }
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).message || ""; } catch (e) { /* not JSON */ }
      clearRanking();
      showMessage("The ranking could not be loaded (" + response.status + ")" +
                  (detail ? ": " + detail : "."), "error");
      showKeyForm(false);
      return;
    }
    data = await response.json();
    showMessage("");
    showKeyForm(false);
    render();
  }

  function submitKey(event) {
    event.preventDefault();
    const input = $("key-input");
    const key = input.value.trim();
    input.value = "";
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    load();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY);
    clearRanking();
    showMessage("The key is forgotten in this tab.", "info");
    showKeyForm(true);
  }

  // ------------------------------------------------------------------------------ render
  function render() {
    const basis = data.basis || {};
    const model = data.model || {};
    $("as-of").textContent = data.as_of || "–";
    $("model-name").textContent = model.name || "–";
    $("model-version").textContent = model.version || "–";
    $("risk-label").textContent = basis.risk_label || basis.risk || "–";
    $("revenue-label").textContent = basis.revenue_label || "–";
    fillList($("basis-notes"), basis.notes || []);
    fillList($("basis-warnings"), basis.warnings || []);
    const defs = Object.entries(basis.definitions || {}).flatMap(([name, meaning]) =>
      [el("dt", name.replace(/_/g, " ")), el("dd", meaning)]);
    $("definitions").replaceChildren(...defs);
    $("definitions-box").hidden = defs.length === 0;

    const rows = data.rows || [];
    fillFilter($("owner-filter"), [...new Set(rows.map(ownerKey))]
      .sort((a, b) => ownerLabel(a).localeCompare(ownerLabel(b))), ownerLabel, "All owners");
    fillFilter($("step-filter"), stepOrder([...new Set(rows.map((r) => r.buyer_step))]),
               stepLabel, "All steps");
    $("ranking").hidden = false;
    update();
  }

  function stepOrder(steps) {
    const at = (s) => (STEPS.indexOf(s) < 0 ? STEPS.length : STEPS.indexOf(s));
    return steps.sort((a, b) => at(a) - at(b) || String(a).localeCompare(String(b)));
  }

  function fillFilter(select, values, label, allText) {
    const keep = select.value;
    const options = [el("option", allText)];
    options[0].value = ALL;
    for (const value of values) {
      const option = el("option", label(value));
      option.value = value;
      options.push(option);
    }
    select.replaceChildren(...options);
    select.value = values.includes(keep) ? keep : ALL;
  }

  function filtered() {
    const owner = $("owner-filter").value;
    const step = $("step-filter").value;
    return (data.rows || []).filter((row) =>
      (owner === ALL || ownerKey(row) === owner) && (step === ALL || row.buyer_step === step));
  }

  function update() {
    if (!data) return;
    const rows = filtered();
    const total = (data.rows || []).length;
    $("row-count").textContent = rows.length === total ? total + " deals"
      : rows.length + " of " + total + " deals";
    renderTable(rows);
    renderCharts(rows);
    const shown = rows.find((row) => row.deal_id === selected);
    if (shown) showDetail(shown); else hideDetail();
  }

  function renderTable(rows) {
    const body = $("deals").tBodies[0];
    const trs = rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.dealId = row.deal_id;
      tr.dataset.owner = missing(row.owner) ? "" : row.owner;
      tr.dataset.step = row.buyer_step;
      tr.tabIndex = 0;
      if (row.deal_id === selected) tr.classList.add("selected");
      const change = trend(row.risk_change);
      const cells = [
        [String(row.rank), "num rank"], [row.name || row.deal_id, "deal"],
        [missing(row.owner) ? "–" : row.owner, "owner"], [stepLabel(row.buyer_step), "step"],
        [days(row.days_in_step), "num"], [pct(row.no_decision_risk), "num"],
        [pct(row.stall_risk), "num"], [pct(row.win_probability), "num"],
        [change.text, "num trend " + change.cls],
        [money(row.revenue_at_risk, row.currency), "num money"],
        [(row.reasons || [])[0] || "–", "reason"], [row.next_step || "–", "next"]];
      for (const [text, cls] of cells) tr.append(el("td", text, cls));
      tr.addEventListener("click", () => select(row));
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(row); }
      });
      return tr;
    });
    if (trs.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = el("td", "No deal matches these filters.");
      td.colSpan = 12;
      tr.append(td);
      trs.push(tr);
    }
    body.replaceChildren(...trs);
  }

  // ------------------------------------------------------------------------------ charts
  function sums(rows, keyOf) {
    const out = new Map();
    for (const row of rows) {
      const key = keyOf(row);
      out.set(key, (out.get(key) || 0) + (missing(row.revenue_at_risk) ? 0 : row.revenue_at_risk));
    }
    return out;
  }

  function renderCharts(rows) {
    if (!window.Plotly) return;
    const currencies = [...new Set(rows.map((r) => r.currency).filter((c) => !missing(c)))];
    const unit = currencies.length === 1 ? currencies[0]
      : currencies.length > 1 ? "mixed currencies, summed as is" : "";
    const byOwner = [...sums(rows, ownerKey)].sort((a, b) => b[1] - a[1]);
    const bySteps = sums(rows, (r) => r.buyer_step);
    const steps = stepOrder([...bySteps.keys()]);
    bar("chart-owner", byOwner.map(([k]) => ownerLabel(k)), byOwner.map(([, v]) => v), unit);
    bar("chart-step", steps.map(stepLabel), steps.map((s) => bySteps.get(s)), unit);
  }

  function bar(id, labels, values, unit) {
    const trace = {type: "bar", x: labels, y: values, marker: {color: "#c0392b"},
                   hovertemplate: "%{x}: %{y:,.0f}<extra></extra>"};
    const layout = {margin: {l: 60, r: 10, t: 10, b: 10}, height: 280,
                    xaxis: {automargin: true, type: "category"},
                    yaxis: {title: {text: unit ? "revenue at risk (" + unit + ")" : ""},
                            rangemode: "tozero", separatethousands: true},
                    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)"};
    window.Plotly.react($(id), [trace], layout, {displayModeBar: false, responsive: true});
  }

  // ------------------------------------------------------------------------------ detail
  function select(row) {
    selected = row.deal_id;
    for (const tr of $("deals").tBodies[0].rows) {
      tr.classList.toggle("selected", tr.dataset.dealId === selected);
    }
    showDetail(row);
  }

  function value(row, field) {
    const v = row[field];
    switch (field) {
      case "amount": case "revenue_at_risk": return money(v, row.currency);
      case "stall_risk": case "no_decision_risk": case "win_probability": return pct(v);
      case "risk_change": return trend(v).text;
      case "days_in_step": return days(v);
      case "buyer_step": return stepLabel(v);
      default: return missing(v) || v === "" ? "–" : String(v);
    }
  }

  function showDetail(row) {
    const panel = $("detail");
    const close = el("button", "Close", "close");
    close.type = "button";
    close.addEventListener("click", () => { selected = null; update(); });
    const list = el("dl");
    for (const [field, label] of FIELDS) {
      const dd = el("dd", value(row, field));
      dd.dataset.field = field;
      list.append(el("dt", label), dd);
    }
    const reasons = el("ul", null, "reasons");
    fillList(reasons, row.reasons || []);
    reasons.hidden = false;
    if ((row.reasons || []).length === 0) reasons.append(el("li", "No material reason."));
    panel.replaceChildren(close, el("h2", row.name || row.deal_id), list,
                          el("h3", "Reasons"), reasons);
    panel.dataset.dealId = row.deal_id;
    panel.hidden = false;
  }

  function hideDetail() {
    const panel = $("detail");
    panel.hidden = true;
    panel.replaceChildren();
    delete panel.dataset.dealId;
    selected = null;
  }

  // ------------------------------------------------------------------------------- start
  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", submitKey);
    $("key-forget").addEventListener("click", forgetKey);
    $("owner-filter").addEventListener("change", update);
    $("step-filter").addEventListener("change", update);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && selected !== null) { selected = null; update(); }
    });
    load();
  });
})();
