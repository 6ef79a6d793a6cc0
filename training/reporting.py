"""Terminal output for the CLI: progress bars, the ingest accounting and outcome mixes.

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

from rich import box
from rich.console import Console
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
    import pandas as pd

    from features.ingest import IngestResult
    from training.pipeline import TrainResult
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
    """Print rows read/accepted/rejected per file, rejections by reason, and output paths."""
    from features.ingest import REASONS

    files = Table(title=f"Ingest (export time {result.export_time.isoformat()})")
    for col, justify in (("table", "left"), ("file", "left"), ("read", "right"),
                         ("accepted", "right"), ("rejected", "right")):
        files.add_column(col, justify=justify)  # type: ignore[arg-type]
    for rec in result.file_counts.to_dict("records"):
        files.add_row(rec["table"], rec["file"], f"{rec['read']:,}", f"{rec['accepted']:,}",
                      f"{rec['rejected']:,}")
    fc = result.file_counts
    files.add_row("[bold]total", "", f"[bold]{fc['read'].sum():,}",
                  f"[bold]{fc['accepted'].sum():,}", f"[bold]{fc['rejected'].sum():,}")
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
    if not result.balanced:  # pragma: no cover - an accounting bug, never expected
        console.print("[bold red]accounting error: read != accepted + rejected[/]")
    console.print(f"wrote canonical tables to [bold]{paths['report'].parent}[/], "
                  f"rejections to [bold]{paths['rejections']}[/]")


def print_training(console: Console, result: TrainResult, tracked: TrackedRun, uri: str) -> None:
    """Print held-out metrics of the model beside its baselines, the warnings and the alias."""
    metrics = result.metrics
    table = Table(title="Held-out evaluation (test window)")
    table.add_column("target")
    table.add_column("measure")
    for who in ("model", "stage-age rule", "logistic regression", "oracle"):
        table.add_column(who, justify="right")
    prefixes = ("test", "baseline_rule", "baseline_logreg", "oracle")
    for target in ("stall", "no_decision"):
        for measure in ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile"):
            cells = []
            for prefix in prefixes:
                value = metrics.get(f"{prefix}.{target}.{measure}")
                cells.append("" if value is None or value != value else f"{value:.3f}")
            if any(cells):
                table.add_row(target, measure, *cells)
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    champion = tracked.champion_mean_auc
    versus = ("" if champion is None else
              f" (mean AUC {tracked.mean_auc:.3f} vs champion {champion:.3f} on the same holdout)")
    console.print(f"registered [bold]dealrisk[/] version {tracked.version} as "
                  f"[bold]{tracked.alias}[/]{versus}; run {tracked.run_id} in {uri}")


def print_ranking(console: Console, ranking: pd.DataFrame, *, as_of: object,
                  model_version: str, explain: int = 5) -> None:
    """Print the top of the ranking as a table, then the reasons of the first ``explain`` deals."""
    table = Table(title=f"Open deals by revenue at risk — as of {as_of}, model v{model_version}",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    columns = (("#", "right", 3), ("deal", "left", 18), ("buyer step", "left", 12),
               ("days", "right", 4), ("stall", "right", 5), ("no dec.", "right", 7),
               ("Δ pts", "right", 5), ("at risk", "right", 7))
    for col, justify, width in columns:
        table.add_column(col, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                         overflow="ellipsis", min_width=width,
                         max_width=width if col in ("deal", "buyer step") else None)
    rows = ranking.to_dict("records")
    for r in rows:
        change = r["risk_change"]
        table.add_row(str(r["rank"]), _label(r), r["buyer_step"].replace("_", " "),
                      f"{r['days_in_step']:.0f}", f"{r['stall_risk']:.0%}",
                      f"{r['no_decision_risk']:.0%}",
                      "new" if change != change else f"{round(100 * change):+d}",
                      f"{r['revenue_at_risk'] / 1000:,.0f}k")
    console.print(table)
    for r in rows[:explain]:
        console.print(f"[bold]{r['rank']}. {_label(r)}[/] — why:", highlight=False)
        for reason in r["reasons"]:
            console.print(f"   • {reason}", highlight=False)


def _label(row: dict) -> str:
    name = row.get("name")
    return name if isinstance(name, str) and name else str(row["deal_id"])
