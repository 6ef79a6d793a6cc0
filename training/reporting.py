"""Terminal output for the CLI: progress bars, the ingest accounting and outcome mixes.

Paths and values are escaped before they reach rich markup, so a ``[`` in a file name prints as
typed; a line that names a path is printed with ``soft_wrap`` so that piped output (80 columns)
never splits the path.

Example:
    >>> import io
    >>> from rich.console import Console
    >>> console = Console(width=80, record=True, file=io.StringIO())
    >>> print_outcome_mix(console, {"won": 0.25, "lost": 0.3, "no_decision": 0.45, "open": 10})
    >>> "no_decision" in console.export_text()
    True

"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from features.ingest import IngestResult
    from features.profile import PipelineProfile
    from training.pipeline import TrainResult
    from training.ranking import RankingBasis
    from training.tracking import TrackedRun


def progress_bar(console: Console) -> Progress:
    """A progress bar with count, elapsed and remaining time (use as a context manager)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


def print_outcome_mix(console: Console, mix: dict[str, float], title: str = "Outcomes") -> None:
    """Print closed-deal outcome fractions (and the open count under key ``open``)."""
    table = Table(title=title)
    table.add_column("outcome")
    table.add_column("share of closed", justify="right")
    for outcome in ("no_decision", "won", "lost"):
        table.add_row(outcome, f"{100 * float(mix.get(outcome, 0.0)):.1f}%")
    if "open" in mix:
        table.add_row("open deals", f"{int(mix['open']):,}")
    console.print(table)


def print_ingest_report(console: Console, result: IngestResult, paths: dict[str, Path]) -> None:
    """Print rows read/accepted/(skipped/)rejected per file, rejections by reason, output paths.

    The ``skipped`` column appears when the accounting has one.
    """
    from features.ingest import REASONS, SKIP_REASONS

    fc = result.file_counts
    counts = [c for c in ("read", "accepted", "skipped", "rejected") if c in fc.columns]
    files = Table(title=f"Ingest (export time {result.export_time.isoformat()})")
    files.add_column("table")
    files.add_column("file", overflow="fold")  # long names wrap, never cut off
    for col in counts:
        files.add_column(col, justify="right")
    for rec in fc.to_dict("records"):
        files.add_row(escape(str(rec["table"])), escape(str(rec["file"])),
                      *(f"{rec[c]:,}" for c in counts))
    files.add_row("[bold]total", "", *(f"[bold]{fc[c].sum():,}" for c in counts))
    console.print(files)
    reasons = result.reason_counts()
    if len(reasons):
        by_reason = Table(title="Rejected rows by reason")
        by_reason.add_column("reason")
        by_reason.add_column("rows", justify="right")
        by_reason.add_column("meaning")
        for reason, n in reasons.items():
            by_reason.add_row(str(reason), f"{n:,}", REASONS[str(reason)])
        console.print(by_reason)
    else:
        console.print("[green]no rows rejected[/]")
    skipped = result.skip_counts()
    if len(skipped):
        console.print("skipped (read, not kept, not an error): " + ", ".join(
            f"{n:,} {reason} ({SKIP_REASONS[str(reason)]})" for reason, n in skipped.items()),
            highlight=False, soft_wrap=True)
    if "timestamp_without_timezone" in reasons.index:
        console.print("[yellow]hint:[/] times without a UTC offset were rejected; name their "
                      "zone with --timezone (e.g. --timezone Europe/Amsterdam)", highlight=False)
    print_pipeline_profile(console, result.histories.profile)
    if not result.balanced:  # pragma: no cover - an accounting bug, never expected
        console.print("[bold red]accounting error: read != accepted + skipped + rejected[/]")
    console.print(f"wrote canonical tables to [bold]{escape(str(paths['report'].parent))}[/], "
                  f"rejections to [bold]{escape(str(paths['rejections']))}[/]", soft_wrap=True)


def print_pipeline_profile(console: Console, profile: PipelineProfile) -> None:
    """Print the pipeline's name, currency and the features its export cannot give.

    Example:
        >>> import io
        >>> from features.profile import PipelineProfile
        >>> out = Console(width=100, record=True, file=io.StringIO())
        >>> print_pipeline_profile(out, PipelineProfile(name="crm", tracked_fields=()))
        >>> "left out: 8 features" in out.export_text()
        True
    """
    currency = (f"in {profile.reporting_currency}" if profile.reporting_currency
                else "as exported")
    console.print(f"pipeline [bold]{escape(profile.name or 'unnamed')}[/] "
                  f"({escape(profile.source or 'unknown source')}); amounts {currency}",
                  highlight=False, soft_wrap=True)
    left_out = profile.left_out()
    if not left_out:
        return
    by_reason: dict[str, list[str]] = {}
    for name, why in left_out.items():
        by_reason.setdefault(why, []).append(name)
    console.print(f"left out: {len(left_out)} features the export cannot give point-in-time "
                  "(empty in training and scoring alike):", highlight=False)
    for why, names in by_reason.items():
        console.print(f"   • {escape(why)}: {escape(', '.join(names))}", highlight=False,
                      soft_wrap=True)


def no_deals_reason(result: IngestResult, rejections: Path, top: int = 3) -> str:
    """Why an ingest accepted no deal: deal rows read, the commonest reasons, where to look.

    The reasons are those of the deal files' rejected (and skipped, when the result has them)
    rows, most frequent first.

    Example:
        >>> import pandas as pd
        >>> from features.histories import DealHistories
        >>> from features.ingest import IngestResult
        >>> counts = pd.DataFrame([{"table": "deals", "file": "Opportunity.csv", "read": 5,
        ...                         "accepted": 0, "rejected": 5}])
        >>> rejected = pd.DataFrame({"file": ["Opportunity.csv"] * 5,
        ...                          "reason": ["bad_amount"] * 2 + ["missing_value"] * 3})
        >>> result = IngestResult(DealHistories.empty(), rejected, counts,
        ...                       pd.Timestamp("2024-06-01", tz="UTC"))
        >>> print(no_deals_reason(result, Path("r.csv")))  # doctest: +NORMALIZE_WHITESPACE
        0 of 5 deal rows accepted (most common reasons: missing_value 3, bad_amount 2);
        see r.csv

    """
    counts = result.file_counts
    deal_files = counts.loc[counts["table"] == "deals"]
    read = int(deal_files["read"].sum())
    if read == 0:
        why = "the export has no deal rows"
    else:
        logs = [result.rejections, getattr(result, "skipped", None)]
        reasons = pd.concat([pd.Series(dtype="str")]
                            + [log.loc[log["file"].isin(deal_files["file"]), "reason"]
                               for log in logs if log is not None and len(log)])
        by_reason = reasons.value_counts()
        common = sorted(by_reason.items(), key=lambda item: (-item[1], str(item[0])))[:top]
        why = "most common reasons: " + ", ".join(f"{reason} {n:,}" for reason, n in common)
    accepted = len(result.histories.deals)
    return f"{accepted:,} of {read:,} deal rows accepted ({why}); see {rejections}"


def print_training(console: Console, result: TrainResult, tracked: TrackedRun, uri: str) -> None:
    """Print held-out metrics of the model beside its baselines, the warnings and the alias."""
    metrics = result.metrics
    table = Table(title="Held-out evaluation (test window)")
    table.add_column("target")
    table.add_column("measure")
    for who in ("model", "stage-age rule", "logistic regression", "oracle"):
        table.add_column(who, justify="right")
    prefixes = ("test", "baseline_rule", "baseline_logreg", "oracle")
    for target in result.model.targets:
        for measure in ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile"):
            cells = []
            for prefix in prefixes:
                value = metrics.get(f"{prefix}.{target}.{measure}")
                cells.append("" if value is None or value != value else f"{value:.3f}")
            if any(cells):
                table.add_row(target, measure, *cells)
    console.print(table)
    model = result.model
    for target in model.targets:
        info = model.fit_info_[target]
        diff = metrics.get(f"vs_baseline_logreg.{target}.roc_auc_diff")
        versus = "" if diff is None else (
            f"; vs logistic regression {diff:+.3f} AUC (paired 95% CI "
            f"{metrics[f'vs_baseline_logreg.{target}.roc_auc_diff.ci_low']:+.3f} to "
            f"{metrics[f'vs_baseline_logreg.{target}.roc_auc_diff.ci_high']:+.3f})")
        console.print(f"{target}: {escape(str(info['scorer']))}, chosen on the validation "
                      f"window{versus}", highlight=False)
    print_pipeline_profile(console, model.profile)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    champion = tracked.champion_mean_auc
    versus = ("" if champion is None else
              f" (mean AUC {tracked.mean_auc:.3f} vs champion {champion:.3f} on the same "
              f"holdout, over {', '.join(tracked.compared_on)})")
    if tracked.note and champion is None:
        versus = (f" ({escape(tracked.note)}; rank with --model "
                  f"models:/{tracked.model_name}/{tracked.version})")
    elif tracked.note:
        versus += f"; {escape(tracked.note)}"
    console.print(f"registered [bold]{tracked.model_name}[/] version {tracked.version} as "
                  f"[bold]{tracked.alias}[/]{versus}; run {tracked.run_id} in {escape(uri)}",
                  soft_wrap=True)


def print_ranking(console: Console, ranking: pd.DataFrame, *, as_of: object,
                  model_version: str, explain: int = 5, basis: RankingBasis | None = None
                  ) -> None:
    """Print the top of the ranking as a table, then the reasons of the first ``explain`` deals.

    Above the table: what revenue at risk is (``basis``, else ``ranking.attrs["basis"]``), its
    notes and the model's training warnings; below it, what the stall and change columns
    measure.  Owners by name, a currency on every amount, "n/a" for a risk the model does not
    have.  Fits 80 columns.

    Example:
        >>> import io
        >>> ranking = pd.DataFrame({"rank": [1], "deal_id": ["d1"], "name": ["Acme renewal"],
        ...     "owner": ["Jane Doe"], "amount": [120_000.0], "currency": ["EUR"],
        ...     "buyer_step": ["decision"], "days_in_step": [12.0], "stall_risk": [0.4],
        ...     "no_decision_risk": [float("nan")], "win_probability": [0.3],
        ...     "risk_change": [0.02], "revenue_at_risk": [84_000.0], "reasons": [[]]})
        >>> out = Console(width=80, record=True, file=io.StringIO())
        >>> print_ranking(out, ranking, as_of="2024-06-01", model_version="3")
        >>> text = out.export_text()
        >>> "Jane Doe" in text, "EUR 84k" in text, "n/a" in text, "EUR 120,000" in text
        (True, True, True, True)
    """
    from training.reasons import MATERIAL_POINTS
    from training.report import (
        basis_notes,
        compact_money,
        currency_label,
        missing_columns,
        money,
        owner_of,
        ranking_basis,
    )

    basis = ranking_basis(ranking, basis)
    missing = missing_columns(ranking)
    currency = currency_label(ranking)
    when = (as_of.strftime("%Y-%m-%d %H:%M %Z").strip() if isinstance(as_of, pd.Timestamp)
            else str(as_of))
    title = (f"Open deals by revenue at risk{f' ({currency})' if currency else ''}, as of "
             f"{when}, model v{model_version}")
    _hanging(console, "at risk =", basis.revenue_label, "dim")
    for note in basis_notes(basis):
        _hanging(console, "note:", note, "yellow")
    table = Table(title=escape(title), box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, padding=0)
    for col, justify, width in _COLUMNS:
        table.add_column(col, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                         overflow="ellipsis", min_width=width, max_width=width)
    rows = ranking.to_dict("records")
    for r in rows:
        days = _number(r.get("days_in_step"))
        step = str(r.get("buyer_step", ""))
        table.add_row(str(r["rank"]), escape(_label(r)), escape(owner_of(r)),
                      escape(_STEP_SHORT.get(step, step.replace("_", " "))),
                      "n/a" if days != days else f"{days:.0f}",
                      *(_percent(r, c, missing) for c in ("stall_risk", "no_decision_risk",
                                                           "win_probability")),
                      _change(r, missing),
                      compact_money(r.get("revenue_at_risk"), r.get("currency")))
    console.print(table)
    legend = [f"stall = no buyer-step progress in the next {basis.horizon_days} days",
              f"Δpts = change of the {basis.risk_label} since {basis.compare_days} days "
              "before, in percentage points"]
    legend += [f"{_SHORT[c]} n/a: {why}" for c, why in missing.items() if c in _SHORT]
    console.print(escape("; ".join(legend)), highlight=False, style="dim")
    for r in rows[:explain]:
        owner = owner_of(r)
        console.print(f"[bold]{r['rank']}. {escape(_label(r))}[/]"
                      f"{f' ({escape(owner)})' if owner else ''}: amount "
                      f"{money(r.get('amount'), r.get('currency'))}, at risk "
                      f"{money(r.get('revenue_at_risk'), r.get('currency'))}",
                      highlight=False)
        reasons = r.get("reasons")
        reasons = [] if reasons is None or isinstance(reasons, float) else list(reasons)
        for reason in reasons:
            _hanging(console, "   •", str(reason))
        if not reasons:
            _hanging(console, "   •", f"no single factor raises the {basis.risk_label} by "
                     f"{100 * MATERIAL_POINTS:.0f} points or more", "dim")


def _hanging(console: Console, label: str, text: str, style: str = "") -> None:
    """Print ``label`` then ``text`` wrapped under itself (a hanging indent)."""
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True, style=style)
    grid.add_column(overflow="fold")
    grid.add_row(escape(label), escape(text))
    console.print(grid, highlight=False)


#: Terminal columns (header, justify, width): with one space between them, 79 characters.
_COLUMNS = (("#", "right", 3), ("deal", "left", 14), ("owner", "left", 12),
            ("buyer step", "left", 10), ("days", "right", 4), ("stall", "right", 5),
            ("no dec", "right", 6), ("win", "right", 4), ("Δpts", "right", 4),
            ("at risk", "right", 8))
_STEP_SHORT = {"problem_shared": "problem", "solution_visualised": "solution",
               "evaluation_plan": "eval plan"}
_SHORT = {"stall_risk": "stall", "no_decision_risk": "no dec", "win_probability": "win"}


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _percent(row: dict, column: str, missing: dict[str, str]) -> str:
    v = _number(row.get(column))
    return "n/a" if column in missing or v != v else f"{v:.0%}"


def _change(row: dict, missing: dict[str, str]) -> str:
    if "risk_change" in missing:
        return "n/a"
    v = _number(row.get("risk_change"))
    return "new" if v != v else f"{round(100 * v):+d}"


def _label(row: dict) -> str:
    name = row.get("name")
    return name if isinstance(name, str) and name else str(row["deal_id"])
