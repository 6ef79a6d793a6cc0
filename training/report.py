"""Write the manager ranking as CSV and as one self-contained HTML page (plots embedded).

The page says what it ranks by (the :class:`~training.ranking.RankingBasis`: its notes, such as
a fallback to ``(1 - P(won)) x amount``, and the model's training warnings come first), defines
every column it shows (the stall horizon, what the risk change is measured against), names
owners, puts a currency on every amount, and shows a risk the model does not have as "n/a" with
the reason.  The CSV is rounded (probabilities and the risk change to 3 decimals, money to 2,
days to 1) and carries ``as_of``, ``model_version`` and ``risk_basis``.

Example:
    >>> import pandas as pd
    >>> ranking = pd.DataFrame({"rank": [1], "deal_id": ["d1"], "name": ["Acme"],
    ...     "owner": ["Jane Doe"], "account": ["Acme Corp"], "amount": [1000.0],
    ...     "currency": ["USD"], "buyer_step": ["decision"], "days_in_step": [12.0],
    ...     "stall_risk": [0.4], "no_decision_risk": [0.5], "win_probability": [0.3],
    ...     "risk_change": [0.1], "revenue_at_risk": [500.0],
    ...     "reasons": [["No buyer-initiated contact for 23 days"]], "next_step": ["n/a"]})
    >>> page = render_html(ranking, as_of=pd.Timestamp("2024-06-01", tz="UTC"),
    ...                    model_version="3")
    >>> "Acme" in page, "Jane Doe" in page, "USD 1,000" in page, "next 30 days" in page
    (True, True, True, True)
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from features.encode import STEPS
from training.ranking import RankingBasis, basis_for
from training.reasons import MATERIAL_POINTS

#: The probability columns of a ranking (any may be empty: the model has no such target).
PROBABILITIES = ("stall_risk", "no_decision_risk", "win_probability")
#: Decimals of each column in the CSV.
CSV_DECIMALS: dict[str, int] = {"stall_risk": 3, "no_decision_risk": 3, "win_probability": 3,
                                "risk_change": 3, "amount": 2, "revenue_at_risk": 2,
                                "days_in_step": 1}
#: Shown for a missing currency (the Unicode sign for an unspecified currency).
NO_CURRENCY = "¤"
#: Owner names on the owner chart are cut to this many characters.
OWNER_LABEL_CHARS = 24
LABELS: dict[str, str] = {
    "rank": "#", "name": "deal", "owner": "owner", "amount": "amount",
    "buyer_step": "buyer step", "days_in_step": "days in step", "stall_risk": "stall risk",
    "no_decision_risk": "no-decision risk", "win_probability": "win probability",
    "risk_change": "risk change", "revenue_at_risk": "revenue at risk", "reasons": "reasons",
    "next_step": "next step"}
_SHOWN = list(LABELS)
_EXTRA_DEFINITIONS = {
    "rank": "position by revenue at risk, highest first",
    "reasons": "what raises this deal's {risk} by at least {points:.0f} percentage points: its "
               "value against the median of deals that went on to win at the same buyer step, "
               "or how often past deals in its category went on to the risk (empty when no "
               "single factor does)",
    "name": "the deal's name, with its account and CRM id",
    "owner": "the deal owner (the name where the export has one, else the CRM id)"}
_NO_TARGET = {
    "stall_risk": "the model has no stall target",
    "no_decision_risk": "there is no no-decision model for this pipeline",
    "win_probability": "the model has no win target",
    "risk_change": "the model gives no ranking risk",
    "revenue_at_risk": "the model gives no ranking risk"}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2433}
h1{font-size:22px;margin-bottom:4px} h2{font-size:16px;margin:18px 0 6px}
.meta{color:#5b6475;margin-bottom:12px} .headline{font-size:17px;margin:8px 0 12px}
.notes{background:#fff8e6;border:1px solid #f5c66b;border-radius:6px;padding:8px 14px;
 margin:10px 0} .notes strong{color:#8a5300}
.plots{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.plots img{max-width:560px;border:1px solid #e3e6ee}
dl.legend{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}
dl.legend dt{font-weight:600} dl.legend dd{margin:0;color:#3b4252}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:18px}
th{background:#f3f5f9;text-align:left;position:sticky;top:0;cursor:pointer}
th,td{padding:6px 8px;border-bottom:1px solid #e3e6ee;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.na{color:#8a93a6} small{color:#5b6475}
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


# ---------------------------------------------------------------------- shared helpers
def ranking_basis(ranking: pd.DataFrame, basis: RankingBasis | None = None) -> RankingBasis:
    """``basis``, else the ranking's ``attrs["basis"]``, else a no-decision basis (30 days).

    Example:
        >>> ranking_basis(pd.DataFrame()).risk, ranking_basis(pd.DataFrame()).horizon_days
        ('no_decision', 30)
    """
    if basis is not None:
        return basis
    found = ranking.attrs.get("basis")
    if isinstance(found, RankingBasis):
        return found
    return basis_for(("stall", "no_decision"), horizon_days=30)


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


def currency_code(value: object) -> str:
    """A row's currency code, :data:`NO_CURRENCY` when it has none.

    Example:
        >>> currency_code("EUR"), currency_code(None), currency_code(float("nan"))
        ('EUR', '¤', '¤')
    """
    return value.strip() if isinstance(value, str) and value.strip() else NO_CURRENCY


def money(value: object, code: object, decimals: int = 0) -> str:
    """An amount with its currency ("USD 12,500"); "n/a" when there is none.

    Example:
        >>> money(12500.0, "USD"), money(float("nan"), "USD"), money(3.5, None, 2)
        ('USD 12,500', 'n/a', '¤ 3.50')
    """
    v = _float(value)
    if math.isnan(v):
        return "n/a"
    return f"{currency_code(code)} {v:,.{decimals}f}"


def compact_money(value: object, code: object) -> str:
    """An amount with its currency, short ("USD 1.2M", "EUR 350k", "USD 900").

    Example:
        >>> compact_money(1_234_000, "USD"), compact_money(35_400, "EUR"), compact_money(900, "")
        ('USD 1.2M', 'EUR 35k', '¤ 900')
    """
    v = _float(value)
    return "n/a" if math.isnan(v) else f"{currency_code(code)} {_compact(v)}"


def _compact(v: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            scaled = v / size
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 10 else f"{scaled:,.0f}{suffix}"
    return f"{v:,.0f}"


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def owner_of(row: dict) -> str:
    """The row's owner: the name column ``owner`` (``owner_id`` in older rankings).

    Example:
        >>> owner_of({"owner": "Jane Doe"}), owner_of({"owner_id": "005A"}), owner_of({})
        ('Jane Doe', '005A', '')
    """
    for key in ("owner", "owner_id"):
        value = row.get(key)
        if isinstance(value, str) and value:
            return value
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return str(value)
    return ""


def missing_columns(ranking: pd.DataFrame) -> dict[str, str]:
    """Columns of a non-empty ranking that are empty throughout, with why ("n/a" in reports).

    Example:
        >>> missing_columns(pd.DataFrame({"stall_risk": [0.2], "no_decision_risk": [np.nan],
        ...                               "win_probability": [0.4]}))
        {'no_decision_risk': 'there is no no-decision model for this pipeline'}
    """
    if not len(ranking):
        return {}
    return {c: why for c, why in _NO_TARGET.items()
            if (c in ranking.columns and ranking[c].isna().all())
            or (c not in ranking.columns and c in PROBABILITIES)}


def definitions(basis: RankingBasis, missing: dict[str, str] | None = None,
                columns: list[str] | None = None) -> dict[str, str]:
    """Plain-words definition of each shown column (``basis.definitions()`` and ours).

    A column in ``missing`` gets "n/a here: <why>" appended.

    Example:
        >>> d = definitions(basis_for(("stall", "won"), horizon_days=14),
        ...                 {"no_decision_risk": "no model"})
        >>> d["stall_risk"][-12:], d["no_decision_risk"][-20:]
        ('next 14 days', '(n/a here: no model)')
    """
    known = {**basis.definitions(), **{
        k: v.format(risk=basis.risk_label, points=100 * MATERIAL_POINTS)
        for k, v in _EXTRA_DEFINITIONS.items()}}
    out = {}
    for c in columns if columns is not None else _SHOWN:
        if c in known:
            text = known[c]
            if missing and c in missing:
                text += f" (n/a here: {missing[c]})"
            out[c] = text
    return out


def basis_notes(basis: RankingBasis) -> list[str]:
    """What to read first: the basis notes, then the training warnings ("warning: ...").

    Example:
        >>> basis_notes(basis_for(("stall", "won"), horizon_days=30))[0][:30]
        "no deal in this pipeline's his"
    """
    return [*basis.notes, *(f"training warning: {w}" for w in basis.warnings)]


# ----------------------------------------------------------------------------- writing
def write_reports(ranking: pd.DataFrame, out_dir: Path, *, as_of: pd.Timestamp,
                  model_version: str, basis: RankingBasis | None = None) -> dict[str, Path]:
    """Write ``ranking.csv`` and ``ranking.html`` into ``out_dir``; return their paths.

    ``basis`` defaults to ``ranking.attrs["basis"]`` (see :func:`ranking_basis`).

    Example:
        >>> import tempfile
        >>> ranking = pd.DataFrame({"rank": [1], "deal_id": ["d1"], "amount": [10.123],
        ...                         "currency": ["EUR"], "stall_risk": [0.12345],
        ...                         "revenue_at_risk": [1.0 / 3], "reasons": [["a", "b"]]})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     paths = write_reports(ranking, Path(tmp), as_of=pd.Timestamp("2024-06-01"),
        ...                           model_version="4")
        ...     print(paths["csv"].read_text().strip())  # doctest: +NORMALIZE_WHITESPACE
        rank,as_of,model_version,risk_basis,deal_id,amount,currency,stall_risk,revenue_at_risk,reasons
        1,2024-06-01T00:00:00,4,no_decision,d1,10.12,EUR,0.123,0.33,a | b
    """
    basis = ranking_basis(ranking, basis)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "ranking.csv", out_dir / "ranking.html"
    rounded_csv(ranking, as_of=as_of, model_version=model_version, basis=basis).to_csv(
        csv_path, index=False)
    html_path.write_text(render_html(ranking, as_of=as_of, model_version=model_version,
                                     basis=basis), encoding="utf-8")
    return {"csv": csv_path, "html": html_path}


def rounded_csv(ranking: pd.DataFrame, *, as_of: pd.Timestamp, model_version: str,
                basis: RankingBasis) -> pd.DataFrame:
    """The CSV table: rounded, with the as-of time, model version and risk basis.

    Columns are rounded per :data:`CSV_DECIMALS`, reasons joined by " | ", and ``as_of``,
    ``model_version``, ``risk_basis`` come after ``rank``.

    Example:
        >>> t = rounded_csv(pd.DataFrame({"rank": [1], "win_probability": [0.66666]}),
        ...                 as_of=pd.Timestamp("2024-06-01"), model_version="1",
        ...                 basis=basis_for(("won",), horizon_days=30))
        >>> t.to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
        [{'rank': 1, 'as_of': '2024-06-01T00:00:00', 'model_version': '1',
          'risk_basis': 'not_won', 'win_probability': 0.667}]
    """
    flat = ranking.drop(columns=["next_best_actions"], errors="ignore")  # next_step says it
    flat.attrs = {}
    if "reasons" in flat:
        flat["reasons"] = flat["reasons"].map(_joined)
    for column, decimals in CSV_DECIMALS.items():
        if column in flat:
            flat[column] = pd.to_numeric(flat[column], errors="coerce").astype(
                "float64").round(decimals)
    at = 1 if "rank" in flat else 0
    flat.insert(at, "as_of", as_of.isoformat())
    flat.insert(at + 1, "model_version", model_version)
    flat.insert(at + 2, "risk_basis", basis.risk)
    return flat


def _joined(reasons: object) -> str:
    if isinstance(reasons, list | tuple | np.ndarray):
        return " | ".join(str(r) for r in reasons)
    return "" if reasons is None or (isinstance(reasons, float) and math.isnan(reasons)) \
        else str(reasons)


def render_html(ranking: pd.DataFrame, *, as_of: pd.Timestamp, model_version: str,
                basis: RankingBasis | None = None) -> str:
    """The ranking page: what it ranks by, notes, headline, plots, legend and sortable table."""
    basis = ranking_basis(ranking, basis)
    missing = missing_columns(ranking)
    shown = [c for c in _SHOWN if c in ranking.columns or c in PROBABILITIES
             or (c == "owner" and "owner_id" in ranking.columns)]
    esc = html.escape
    notes = basis_notes(basis)
    notes_html = ("<div class='notes'><strong>Read this first</strong><ul>"
                  + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul></div>"
                  if notes else "")
    legend = "".join(f"<dt>{esc(LABELS[c])}</dt><dd>{esc(d)}</dd>"
                     for c, d in definitions(basis, missing, shown).items())
    if NO_CURRENCY in {currency_code(c) for c in _codes(ranking)}:
        legend += f"<dt>{NO_CURRENCY}</dt><dd>the export gives no currency for the amount</dd>"
    plots = "".join(f'<img alt="{esc(t)}" src="data:image/png;base64,{p}">'
                    for t, p in _plots(ranking, basis))
    head = "".join(f"<th title='{esc(definitions(basis, missing, [c]).get(c, ''))}'>"
                   f"{esc(LABELS[c])}</th>" for c in shown)
    body = "".join(_row(r, shown, missing) for r in ranking.to_dict("records"))
    pipeline = f" &middot; pipeline {esc(basis.pipeline)}" if basis.pipeline else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>Deals at risk {as_of.date()}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Open deals ranked by revenue at risk</h1>"
            f"<div class='meta'>As of {esc(as_of.isoformat())} &middot; model version "
            f"{esc(str(model_version))}{pipeline} &middot; {len(ranking):,} open deals</div>"
            f"<div class='headline'><strong>{esc(_total(ranking))}</strong> revenue at risk "
            f"&mdash; {esc(basis.revenue_label)}</div>"
            f"{notes_html}"
            f"<div class='plots'>{plots}</div>"
            f"<h2>What the columns mean</h2><dl class='legend'>{legend}</dl>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<script>{_SORT_JS}</script></body></html>")


def _codes(ranking: pd.DataFrame) -> list[object]:
    return list(ranking["currency"]) if "currency" in ranking else [None] * len(ranking)


def _total(ranking: pd.DataFrame) -> str:
    """Revenue at risk summed per currency ("USD 1,200 + EUR 300")."""
    if "revenue_at_risk" not in ranking or ranking["revenue_at_risk"].isna().all():
        return "n/a"
    frame = pd.DataFrame({"code": [currency_code(c) for c in _codes(ranking)],
                          "v": pd.to_numeric(ranking["revenue_at_risk"], errors="coerce")})
    sums = frame.groupby("code", sort=False)["v"].sum().sort_values(ascending=False)
    return " + ".join(money(v, code) for code, v in sums.items())


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _row(r: dict, shown: list[str], missing: dict[str, str]) -> str:
    esc = html.escape
    cells = []
    for c in shown:
        v = r.get(c)
        if c in missing or (c in PROBABILITIES and c not in r):
            why = missing.get(c, "not available")
            cells.append(f"<td class='num na' data-v='-1' title='{esc(why)}'>n/a</td>")
        elif c == "name":
            label = v if isinstance(v, str) and v else r["deal_id"]
            sub = " &middot; ".join(esc(str(x)) for x in (r.get("account"), r.get("deal_id"))
                                    if isinstance(x, str) and x)
            cells.append(f"<td>{esc(str(label))}<br><small>{sub}</small></td>")
        elif c == "owner":
            cells.append(f"<td>{esc(owner_of(r))}</td>")
        elif c == "reasons":
            items = "".join(f"<li>{esc(str(x))}</li>" for x in _reason_list(v))
            cells.append(f"<td><ul>{items}</ul></td>" if items else
                         "<td><small>no single factor raises the risk by "
                         f"{100 * MATERIAL_POINTS:.0f} points or more</small></td>")
        elif c in PROBABILITIES:
            f = _float(v)
            cells.append("<td class='num na' data-v='-1'>n/a</td>" if math.isnan(f) else
                         f"<td class='num' data-v='{f:.6f}'>{_pct(f)}</td>")
        elif c == "risk_change":
            f = _float(v)
            if math.isnan(f):
                cells.append("<td class='num' data-v='0' title='the deal did not exist at the "
                             "comparison time'>new</td>")
            else:
                cls = "up" if f > 0.005 else "down" if f < -0.005 else ""
                cells.append(f"<td class='num {cls}' data-v='{f:.6f}'>{round(100 * f):+d} pts"
                             "</td>")
        elif c in ("amount", "revenue_at_risk"):
            f = _float(v)
            cells.append(f"<td class='num money' data-v='{-1 if math.isnan(f) else f:.2f}'>"
                         f"{esc(money(f, r.get('currency')))}</td>")
        elif c == "days_in_step":
            f = _float(v)
            cells.append(f"<td class='num' data-v='{-1 if math.isnan(f) else f:.1f}'>"
                         f"{'n/a' if math.isnan(f) else f'{f:.0f}'}</td>")
        elif c == "buyer_step":
            cells.append(f"<td>{esc(str(v).replace('_', ' '))}</td>")
        else:
            cells.append(f"<td>{esc('' if v is None else str(v))}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _reason_list(reasons: object) -> list[object]:
    if isinstance(reasons, list | tuple | np.ndarray):
        return list(reasons)
    return [] if reasons is None or (isinstance(reasons, float) and math.isnan(reasons)) \
        or reasons == "" else [reasons]


# ----------------------------------------------------------------------------- charts
def owner_label(name: object, chars: int = OWNER_LABEL_CHARS) -> str:
    """An owner's chart label: the name cut to ``chars`` characters (with "…").

    Example:
        >>> owner_label("Maximiliane Oberhauser-Kleinschmidt")
        'Maximiliane Oberhauser-…'
    """
    text = str(name).strip() or "(no owner)"
    return text if len(text) <= chars else text[:chars - 1].rstrip() + "…"


def owner_labels(names: Iterable[object]) -> list[str]:
    """Chart labels of several owners: cut by :func:`owner_label`, numbered where two collide.

    Example:
        >>> owner_labels(["A very long owner name number one", "A very long owner name two"])
        ['A very long owner name…', 'A very long owner name… (2)']
    """
    out: list[str] = []
    for name in names:
        label, k = owner_label(name), 1
        while (label if k == 1 else f"{label} ({k})") in out:
            k += 1
        out.append(label if k == 1 else f"{label} ({k})")
    return out


def _plots(ranking: pd.DataFrame, basis: RankingBasis) -> list[tuple[str, str]]:
    if not len(ranking):
        return []
    out = []
    currency = currency_label(ranking) or NO_CURRENCY
    revenue = (pd.to_numeric(ranking["revenue_at_risk"], errors="coerce")
               if "revenue_at_risk" in ranking else pd.Series(np.nan, index=ranking.index))
    if revenue.notna().any():
        owners = pd.Series([owner_of(r) for r in ranking.to_dict("records")],
                           index=ranking.index)
        by_owner = revenue.groupby(owners).sum().nlargest(12).sort_values()
        out.append(("Revenue at risk by owner",
                    _bar(owner_labels(by_owner.index), by_owner.to_numpy(),
                         f"Revenue at risk by owner (top {len(by_owner)})", currency)))
        steps = ranking["buyer_step"].astype("str") if "buyer_step" in ranking else \
            pd.Series("unknown", index=ranking.index)
        by_step = revenue.groupby(steps).sum()
        order = [s for s in STEPS if s in by_step.index]
        order += sorted(s for s in by_step.index if s not in order)
        by_step = by_step.reindex(order[::-1])
        out.append(("Revenue at risk by buyer step",
                    _bar([str(s).replace("_", " ") for s in by_step.index], by_step.to_numpy(),
                         "Revenue at risk by buyer step (journey order)", currency)))
    risks = _risk_series(ranking, basis)
    if risks:
        fig, ax = plt.subplots(figsize=(5.6, 3.4))
        colours = {"stall": "#f28e2b", "no decision": "#4e79a7", "not won (1 - P(won))":
                   "#b42318"}
        for label, values in risks.items():
            ax.hist(values, bins=20, range=(0, 1), histtype="step", linewidth=2,
                    color=colours.get(label, "#555"), label=f"{label} ({len(values)} deals)")
        ax.set_title("Risk distribution of open deals")
        ax.set_xlabel(f"probability (stall: next {basis.horizon_days} days)")
        ax.set_ylabel("deals")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * x:.0f}%"))
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(("Risk distribution", _png(fig)))
    return out


def _risk_series(ranking: pd.DataFrame, basis: RankingBasis) -> dict[str, np.ndarray]:
    out = {}
    for column, label in (("stall_risk", "stall"), ("no_decision_risk", "no decision")):
        if column in ranking:
            values = pd.to_numeric(ranking[column], errors="coerce").dropna().to_numpy()
            if len(values):
                out[label] = values
    if basis.risk == "not_won" and "win_probability" in ranking:
        values = pd.to_numeric(ranking["win_probability"], errors="coerce").dropna().to_numpy()
        if len(values):
            out["not won (1 - P(won))"] = 1.0 - values
    return out


def _bar(labels: list[str], values: np.ndarray, title: str, currency: str) -> str:
    height = max(2.6, 0.34 * len(labels) + 1.3)
    fig, ax = plt.subplots(figsize=(6.2, height))
    positions = np.arange(len(labels))
    ax.barh(positions, values, color="#4e79a7")
    ax.set_yticks(positions, labels, fontsize=9)
    ax.set_title(title)
    ax.set_xlabel(f"revenue at risk ({currency})")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _compact(x)))
    ax.margins(x=0.05)
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
