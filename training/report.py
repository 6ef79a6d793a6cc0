"""Write the manager ranking as CSV and as one self-contained HTML page (plots embedded).

Example:
    >>> import pandas as pd
    >>> ranking = pd.DataFrame({"rank": [1], "deal_id": ["d1"], "name": ["Acme"],
    ...     "owner_id": ["o1"], "amount": [1000.0], "currency": ["USD"],
    ...     "buyer_step": ["decision"], "days_in_step": [12.0], "stall_risk": [0.4],
    ...     "no_decision_risk": [0.5], "risk_change": [0.1], "revenue_at_risk": [500.0],
    ...     "reasons": [["No buyer-initiated contact for 23 days"]], "next_step": ["n/a"]})
    >>> "Acme" in render_html(ranking, as_of=pd.Timestamp("2024-06-01", tz="UTC"),
    ...                       model_version="3")
    True
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2433}
h1{font-size:22px;margin-bottom:4px} .meta{color:#5b6475;margin-bottom:18px}
.plots{display:flex;flex-wrap:wrap;gap:12px} .plots img{width:420px;border:1px solid #e3e6ee}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:18px}
th{background:#f3f5f9;text-align:left;position:sticky;top:0;cursor:pointer}
th,td{padding:6px 8px;border-bottom:1px solid #e3e6ee;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#b42318} .down{color:#067647} ul{margin:0;padding-left:16px}
"""
_SORT_JS = """
document.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
 const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';
 rows.sort((a,b)=>{const x=a.cells[i].dataset.v??a.cells[i].innerText,
 y=b.cells[i].dataset.v??b.cells[i].innerText;const nx=parseFloat(x),ny=parseFloat(y);
 const c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
 th.dataset.asc=asc?'1':'0';rows.forEach(r=>tb.appendChild(r));}));
"""


def write_reports(ranking: pd.DataFrame, out_dir: Path, *, as_of: pd.Timestamp,
                  model_version: str) -> dict[str, Path]:
    """Write ``ranking.csv`` and ``ranking.html`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "ranking.csv", out_dir / "ranking.html"
    flat = ranking.assign(reasons=ranking["reasons"].map(lambda r: " | ".join(r)))
    flat.insert(1, "as_of", as_of.isoformat())
    flat.insert(2, "model_version", model_version)
    flat.to_csv(csv_path, index=False)
    html_path.write_text(render_html(ranking, as_of=as_of, model_version=model_version))
    return {"csv": csv_path, "html": html_path}


def currency_label(ranking: pd.DataFrame) -> str:
    """The currency of the ranking's amounts ("USD"; "mixed currencies"; "" when unknown).

    Example:
        >>> currency_label(pd.DataFrame({"currency": ["USD", "USD"]}))
        'USD'
    """
    codes = ranking["currency"].dropna().astype(str).unique() if "currency" in ranking else []
    if len(codes) == 1:
        return str(codes[0])
    return "mixed currencies" if len(codes) > 1 else ""


def render_html(ranking: pd.DataFrame, *, as_of: pd.Timestamp, model_version: str) -> str:
    """The ranking page: headline figures, three plots and a sortable table."""
    total = float(ranking["revenue_at_risk"].sum())
    currency = currency_label(ranking)
    plots = "".join(f'<img alt="{html.escape(t)}" src="data:image/png;base64,{p}">'
                    for t, p in _plots(ranking))
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in _SHOWN)
    body = "".join(_row(r) for r in ranking.to_dict("records"))
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>Deals at risk {as_of.date()}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Open deals ranked by revenue at risk</h1>"
            f"<div class='meta'>As of {as_of.isoformat()} &middot; model version "
            f"{html.escape(str(model_version))} &middot; {len(ranking):,} open deals &middot; "
            f"{html.escape(currency)} {total:,.0f} revenue at risk (no-decision risk &times; "
            f"amount)</div>"
            f"<div class='plots'>{plots}</div>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<script>{_SORT_JS}</script></body></html>")


_SHOWN = ["rank", "name", "owner_id", "amount", "buyer_step", "days_in_step",
          "stall_risk", "no_decision_risk", "risk_change", "revenue_at_risk", "reasons",
          "next_step"]


def _row(r: dict) -> str:
    cells = []
    for c in _SHOWN:
        v = r[c]
        if c == "name":
            label = v if isinstance(v, str) and v else r["deal_id"]
            cells.append(f"<td>{html.escape(str(label))}<br><small>{html.escape(r['deal_id'])}"
                         f"</small></td>")
        elif c == "reasons":
            items = "".join(f"<li>{html.escape(x)}</li>" for x in v)
            cells.append(f"<td><ul>{items}</ul></td>")
        elif c in ("stall_risk", "no_decision_risk"):
            cells.append(f"<td class='num' data-v='{v:.6f}'>{100 * v:.0f}%</td>")
        elif c == "risk_change":
            if pd.isna(v):
                cells.append("<td class='num' data-v='0'>new</td>")
            else:
                cls = "up" if v > 0.005 else "down" if v < -0.005 else ""
                cells.append(f"<td class='num {cls}' data-v='{v:.6f}'>{round(100 * v):+d} pts"
                             "</td>")
        elif c in ("amount", "revenue_at_risk"):
            code = r.get("currency") if isinstance(r.get("currency"), str) else ""
            shown = "&mdash;" if pd.isna(v) else f"{html.escape(code)} {v:,.0f}".strip()
            cells.append(f"<td class='num' data-v='{0 if pd.isna(v) else v:.2f}'>{shown}</td>")
        elif c == "buyer_step":
            cells.append(f"<td>{html.escape(str(v).replace('_', ' '))}</td>")
        else:
            cells.append(f"<td>{html.escape(str(v))}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _plots(ranking: pd.DataFrame) -> list[tuple[str, str]]:
    out = []
    by_owner = ranking.groupby("owner_id")["revenue_at_risk"].sum().nlargest(12)
    out.append(("Revenue at risk by owner", _bar(by_owner, "Revenue at risk by owner (top 12)")))
    by_step = ranking.groupby("buyer_step")["revenue_at_risk"].sum().sort_values()
    out.append(("Revenue at risk by buyer step", _bar(by_step, "Revenue at risk by buyer step")))
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    ax.hist(ranking["no_decision_risk"], bins=20, range=(0, 1), color="#4e79a7", alpha=0.85,
            label="no decision")
    ax.hist(ranking["stall_risk"], bins=20, range=(0, 1), color="#f28e2b", alpha=0.55,
            label="stall")
    ax.set_title("Risk distribution of open deals")
    ax.set_xlabel("probability")
    ax.set_ylabel("deals")
    ax.legend()
    out.append(("Risk distribution", _png(fig)))
    return out


def _bar(series: pd.Series, title: str) -> str:
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    ax.barh([str(i).replace("_", " ") for i in series.index], series.to_numpy(),
            color="#4e79a7")
    ax.set_title(title)
    ax.set_xlabel("revenue at risk")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
