"""The ``dealrisk`` command line: simulate a pipeline, ingest a CRM export, run the demo.

"Now" is read here, at the edge, and only when an export does not say when it was taken.

Example:
    $ dealrisk simulate --deals 5000 --seed 1 --out out/export
    $ dealrisk ingest out/export --out out/canonical
    $ dealrisk demo --out demo

"""

from __future__ import annotations

import os
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
    workers: Annotated[int, typer.Option(
        min=0, help="Processes to use on this machine (0 = all cores).")] = 0,
) -> None:
    """Build point-in-time feature rows: weekly snapshots (training) or one time (scoring)."""
    run_features(canonical, out, cadence=cadence, as_of=as_of, workers=workers or None)


def run_features(canonical: Path, out: Path, *, cadence: str = "7D", as_of: str | None = None,
                 workers: int | None = None) -> pd.DataFrame:
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
        rows = build_features(histories, spec, workers=workers or os.cpu_count() or 1)
    elapsed = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out, index=False)
    events = sum(histories.row_counts().values())
    console.print(f"{len(rows):,} feature rows x {rows.shape[1] - 2} columns from {events:,} "
                  f"history rows in {elapsed:.1f} s -> [bold]{out}[/]")
    return rows


def _load_canonical(canonical: Path):
    import json

    from features.histories import DealHistories

    try:
        histories = DealHistories.read_parquet(canonical)
        report = json.loads((canonical / "ingest_report.json").read_text())
        return histories, pd.Timestamp(report["export_time"])
    except (OSError, ValueError, KeyError) as exc:
        _fail(f"cannot read canonical tables in {canonical} (run `dealrisk ingest` first): {exc}")


@app.command()
def train(
    canonical: Annotated[Path, typer.Argument(help="Directory written by `dealrisk ingest`.")],
    horizon: Annotated[int, typer.Option(min=1, help="Label horizon H in days.")] = 30,
    learning_rate: Annotated[float, typer.Option(help="LightGBM learning rate.")] = 0.05,
    num_leaves: Annotated[int, typer.Option(help="LightGBM leaves per tree.")] = 31,
    n_estimators: Annotated[int, typer.Option(help="Max boosting rounds.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    truth: Annotated[Path | None, typer.Option(
        help="Simulator truth/ folder: adds the oracle baseline.")] = None,
    run_name: Annotated[str | None, typer.Option(help="MLflow run name.")] = None,
) -> None:
    """Train the stall and no-decision models, log the run to MLflow and register the model."""
    run_train(canonical, horizon=horizon, learning_rate=learning_rate, num_leaves=num_leaves,
              n_estimators=n_estimators, seed=seed, truth=truth, run_name=run_name)


def run_train(canonical: Path, *, truth: Path | None = None, run_name: str | None = None,
              **hyper: object):
    """Train from canonical tables, track in MLflow, print the evaluation; return both."""
    from training.model import TrainConfig
    from training.pipeline import train_pipeline
    from training.reporting import print_training
    from training.tracking import log_training, setup_tracking

    histories, export_time = _load_canonical(canonical)
    truth_daily = pd.read_parquet(truth / "daily.parquet") if truth is not None else None
    uri = setup_tracking()
    config = TrainConfig(**{k: v for k, v in hyper.items() if v is not None})
    with progress_bar(console) as bar:
        task = bar.add_task("training", total=None)
        result = train_pipeline(histories, config=config, known_until=export_time,
                                truth_daily=truth_daily,
                                progress=lambda stage: bar.update(task, description=stage))
        bar.update(task, description="logging to MLflow")
        tracked = log_training(result, run_name=run_name, source=str(canonical.absolute()))
    print_training(console, result, tracked, uri)
    return result, tracked


@app.command()
def rank(
    canonical: Annotated[Path, typer.Argument(help="Directory written by `dealrisk ingest`.")],
    out: Annotated[Path, typer.Option(help="Where ranking.csv and ranking.html go.")] = Path(
        "out/report"),
    model: Annotated[str, typer.Option(help="Registered model URI (alias or version).")] = (
        "models:/dealrisk@champion"),
    as_of: Annotated[str | None, typer.Option(
        help="Rank deals open at this time (ISO 8601 with offset); default: the export time."
    )] = None,
    top: Annotated[int, typer.Option(help="Rows shown in the terminal.")] = 15,
) -> None:
    """Rank open deals by revenue at risk; write a CSV and a self-contained HTML report."""
    run_rank(canonical, out, model_uri=model, as_of=as_of, top=top)


def run_rank(canonical: Path, out: Path, *, model_uri: str = "models:/dealrisk@champion",
             as_of: str | None = None, top: int = 15) -> dict[str, Path]:
    """Score and rank open deals with a registered model; return the written report paths."""
    from mlflow.exceptions import MlflowException

    from training.ranking import rank_open_deals
    from training.report import write_reports
    from training.reporting import print_ranking
    from training.tracking import load_model, setup_tracking

    histories, export_time = _load_canonical(canonical)
    stamp = _export_time(as_of, canonical, lambda _: None) if as_of else export_time
    setup_tracking()
    try:
        with console.status(f"loading {model_uri}"):
            risk_model = load_model(model_uri)
    except MlflowException as exc:
        _fail(f"cannot load {model_uri}: {exc.message} (train one with `dealrisk train`)")
    with console.status("scoring open deals"):
        ranking = rank_open_deals(risk_model, histories, stamp)
    paths = write_reports(ranking, out, as_of=stamp, model_version=str(risk_model.version))
    print_ranking(console, ranking.head(top), as_of=stamp, model_version=str(risk_model.version))
    console.print(f"report: [bold]{paths['html']}[/]  csv: [bold]{paths['csv']}[/]")
    return paths


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Working directory for the demo.")] = Path("demo"),
    deals: Annotated[int, typer.Option(min=1, help="Deals to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Run the main job end to end: simulate, ingest, features, train + track, rank."""
    export_dir, canonical_dir = out / "export", out / "canonical"
    console.rule("[bold]1. simulate a B2B pipeline")
    simulate(deals=deals, seed=seed, out=export_dir, fmt="csv", chunk_size=50_000)
    console.rule("[bold]2. ingest and validate the Salesforce-style export")
    run_ingest(export_dir, canonical_dir)
    console.rule("[bold]3. point-in-time features (weekly snapshots)")
    run_features(canonical_dir, out / "features.parquet")
    console.rule("[bold]4. train, track in MLflow and register")
    run_train(canonical_dir, truth=export_dir / "truth", run_name="demo")
    console.rule("[bold]5. rank open deals by revenue at risk")
    paths = run_rank(canonical_dir, out / "report")
    console.rule("[bold]done")
    console.print(f"canonical tables: [bold]{canonical_dir}[/]  rejections: "
                  f"[bold]{canonical_dir / 'rejections.csv'}[/]")
    console.print(f"risk ranking: [bold]{paths['html']}[/] and [bold]{paths['csv']}[/]")
    from training.tracking import default_tracking_uri

    console.print(f"MLflow UI: [bold].venv/bin/mlflow ui --backend-store-uri "
                  f"{default_tracking_uri()}[/]")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
