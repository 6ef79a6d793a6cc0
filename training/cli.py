"""The ``dealrisk`` command line: simulate a pipeline, ingest a CRM export, run the demo.

"Now" is read here, at the edge, and only when an export does not say when it was taken.

Example:
    $ dealrisk simulate --deals 5000 --seed 1 --out out/export
    $ dealrisk ingest out/export --out out/canonical
    $ dealrisk demo --out demo

"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from training.reporting import print_ingest_report, print_outcome_mix, progress_bar

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dealrisk: which open deals will stall or end in no decision, and why.")
console = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def simulate(
    deals: Annotated[int, typer.Option(min=1, help="Number of deals to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 1,
    out: Annotated[Path, typer.Option(help="Directory for the export and truth/.")] = Path(
        "out/export"),
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    chunk_size: Annotated[int, typer.Option(min=1, help="Deals simulated per chunk.")] = 50_000,
) -> None:
    """Simulate a B2B pipeline as a Salesforce-style export plus ground truth."""
    from training.simulator import simulate_to_dir

    if fmt not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, not {fmt!r}")
    with progress_bar(console) as bar:
        task = bar.add_task("simulating deals", total=deals)
        summary = simulate_to_dir(deals, seed, out, fmt=fmt, chunk_size=chunk_size,  # type: ignore[arg-type]
                                  progress=lambda n: bar.update(task, completed=n))
    console.print(f"wrote {summary.deals:,} deals to [bold]{out}[/] "
                  f"(export time {summary.exported_at}) in {summary.elapsed_seconds:.1f} s")
    mix = {"won": summary.won, "lost": summary.lost, "no_decision": summary.no_decision,
           "open": summary.open}
    print_outcome_mix(console, mix, title="Simulated outcomes (closed deals)")


@app.command()
def ingest(
    source: Annotated[Path, typer.Argument(help="Export directory (or any path for --mapping).")],
    out: Annotated[Path, typer.Option(help="Where canonical tables and reports go.")] = Path(
        "out/canonical"),
    kind: Annotated[str, typer.Option("--source", help="auto, salesforce, hubspot or generic.")
                    ] = "auto",
    mapping: Annotated[Path | None, typer.Option(help="YAML column mapping (generic).")] = None,
    config: Annotated[Path | None, typer.Option(help="Journey config YAML override.")] = None,
    export_time: Annotated[str | None, typer.Option(
        help="When the export was taken (ISO 8601 with offset); default: export.json, else now."
    )] = None,
) -> None:
    """Read and validate a CRM export into canonical tables, reporting every rejected row."""
    run_ingest(source, out, kind=kind, mapping=mapping, config_path=config,
               export_time=export_time)


def run_ingest(source: Path, out: Path, *, kind: str = "auto", mapping: Path | None = None,
               config_path: Path | None = None, export_time: str | None = None):
    """Ingest ``source`` into ``out`` and print the accounting; returns the IngestResult."""
    from features.ingest import SourceError, ingest, read_export_time
    from features.journey import JourneyConfig

    try:
        cfg = JourneyConfig.load(config_path)
        stamp = _export_time(export_time, source, read_export_time)
        with console.status("reading and validating the export"):
            result = ingest(source, kind=kind, config=cfg, export_time=stamp,  # type: ignore[arg-type]
                            mapping=mapping)
    except (SourceError, ValueError) as exc:
        _fail(str(exc))
    paths = result.write(out)
    print_ingest_report(console, result, paths)
    return result


def _export_time(text: str | None, source: Path, read_manifest) -> pd.Timestamp | None:
    if text is not None:
        stamp = pd.Timestamp(text)
        if stamp.tzinfo is None:
            raise ValueError(f"--export-time {text!r} needs a UTC offset, e.g. {text}Z")
        return stamp.tz_convert("UTC")
    if source.is_dir() and read_manifest(source) is not None:
        return None
    now = pd.Timestamp.now(tz="UTC")
    console.print(f"[yellow]no export time given; using now ({now.isoformat()})[/]")
    return now


@app.command()
def features(
    canonical: Annotated[Path, typer.Argument(help="Directory written by `dealrisk ingest`.")],
    out: Annotated[Path, typer.Option(help="Parquet file for the feature rows.")] = Path(
        "out/features.parquet"),
    cadence: Annotated[str, typer.Option(help="Snapshot cadence, e.g. 7D.")] = "7D",
    as_of: Annotated[str | None, typer.Option(
        help="Score-time rows for deals open at this time (ISO 8601 with offset) instead of "
             "training snapshots.")] = None,
) -> None:
    """Build point-in-time feature rows: weekly snapshots (training) or one time (scoring)."""
    run_features(canonical, out, cadence=cadence, as_of=as_of)


def run_features(canonical: Path, out: Path, *, cadence: str = "7D",
                 as_of: str | None = None) -> pd.DataFrame:
    """Build feature rows from canonical tables, write them to ``out`` and print a summary."""
    import json
    import time

    from features.build import build_features
    from features.histories import DealHistories
    from features.snapshots import sample_snapshots

    try:
        histories = DealHistories.read_parquet(canonical)
        report = json.loads((canonical / "ingest_report.json").read_text())
        spec: pd.Timestamp | pd.DataFrame
        if as_of is not None:
            spec = _export_time(as_of, canonical, lambda _: None)
        else:
            spec = sample_snapshots(histories.deals, until=pd.Timestamp(report["export_time"]),
                                    cadence=cadence)
    except (OSError, ValueError, KeyError) as exc:
        _fail(f"cannot build features from {canonical}: {exc}")
    started = time.perf_counter()
    what = f"{len(spec):,} snapshots" if isinstance(spec, pd.DataFrame) else "open deals"
    with console.status(f"building features for {what}"):
        rows = build_features(histories, spec)
    elapsed = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out, index=False)
    events = sum(histories.row_counts().values())
    console.print(f"{len(rows):,} feature rows x {rows.shape[1] - 2} columns from {events:,} "
                  f"history rows in {elapsed:.1f} s -> [bold]{out}[/]")
    return rows


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Working directory for the demo.")] = Path("demo"),
    deals: Annotated[int, typer.Option(min=1, help="Deals to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Run the main job end to end on embedded defaults: simulate, ingest, features, summary."""
    export_dir, canonical_dir = out / "export", out / "canonical"
    console.rule("[bold]1. simulate a B2B pipeline")
    simulate(deals=deals, seed=seed, out=export_dir, fmt="csv", chunk_size=50_000)
    console.rule("[bold]2. ingest and validate the Salesforce-style export")
    result = run_ingest(export_dir, canonical_dir)
    console.rule("[bold]3. point-in-time features (weekly snapshots)")
    run_features(canonical_dir, out / "features.parquet")
    console.rule("[bold]4. summary")
    closed = result.histories.deals.dropna(subset=["outcome"])
    mix = closed["outcome"].value_counts(normalize=True).to_dict()
    print_outcome_mix(console, {**mix, "open": int(result.histories.deals["outcome"].isna().sum())},
                      title="Ingested outcomes (closed deals)")
    console.print(f"canonical tables: [bold]{canonical_dir}[/]  rejections: "
                  f"[bold]{canonical_dir / 'rejections.csv'}[/]")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
