"""The ``dealrisk`` command line: simulate, ingest, features, train, rank, and the demo.

"Now" is read here, at the edge, and only when an export does not say when it was taken.

Normal output goes to stdout; errors and warnings go to stderr, one line each, never a
traceback for a user error.  Exit codes: 0 success; 2 a bad option value or unreadable input
(:class:`~training.cli_options.CliError`); 1 the command ran but nothing usable came through
(:class:`~training.cli_options.NothingUsable`:
no deal accepted, no feature row, no open deal, nothing to train on) -- its reports are still
written.

Example:
    $ dealrisk simulate --deals 5000 --seed 1 --out out/export
    $ dealrisk ingest out/export --out out/canonical
    $ dealrisk train out/canonical --horizon 30
    $ dealrisk rank out/canonical --out out/report --as-of 2024-06-01T00:00:00Z
    $ dealrisk demo --out demo

"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from training import cli_serve
from training.cli_options import (
    FORMATS,
    SOURCE_KINDS,
    CliError,
    NothingUsable,
    bold,
    check_known,
    err_console,
    parse_cadence,
    parse_choice,
    parse_time_option,
    reported_errors,
    warn,
    writing,
)
from training.reporting import (
    no_deals_reason,
    print_ingest_report,
    print_outcome_mix,
    progress_bar,
)

if TYPE_CHECKING:
    from features.histories import DealHistories
    from features.ingest import IngestResult
    from training.model import TrainConfig
    from training.pipeline import TrainResult
    from training.tracking import TrackedRun

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dealrisk: which open deals will stall or end in no decision, and why.")
console = Console()
INGEST_FIRST = "run `dealrisk ingest` first"
__all__ = ["CliError", "NothingUsable", "app", "err_console", "load_canonical", "main",
           "parse_cadence", "parse_choice", "parse_time_option", "run_features", "run_ingest",
           "run_rank", "run_train"]


# --------------------------------------------------------------------------------- simulate
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

    with reported_errors():
        fmt = parse_choice("--format", fmt, FORMATS)
        with progress_bar(console) as bar, writing(out):
            task = bar.add_task("simulating deals", total=deals)
            summary = simulate_to_dir(deals, seed, out, fmt=fmt,  # type: ignore[arg-type]
                                      chunk_size=chunk_size,
                                      progress=lambda n: bar.update(task, completed=n))
    console.print(f"wrote {summary.deals:,} deals to {bold(out)} "
                  f"(export time {summary.exported_at}) in {summary.elapsed_seconds:.1f} s",
                  soft_wrap=True)
    mix = {"won": summary.won, "lost": summary.lost, "no_decision": summary.no_decision,
           "open": summary.open}
    print_outcome_mix(console, mix, title="Simulated outcomes (closed deals)")


# ----------------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    source: Annotated[Path, typer.Argument(
        help="Export directory (or any path for --mapping; the log file for --source eventlog).")],
    out: Annotated[Path, typer.Option(help="Where canonical tables and reports go.")] = Path(
        "out/canonical"),
    kind: Annotated[str, typer.Option(
        "--source", help="auto, salesforce, hubspot, generic or eventlog (XES / CSV).")] = "auto",
    mapping: Annotated[Path | None, typer.Option(
        help="YAML mapping: columns (generic) or activities (eventlog).")] = None,
    config: Annotated[Path | None, typer.Option(help="Journey config YAML override.")] = None,
    export_time: Annotated[str | None, typer.Option(
        help="When the export was taken (ISO 8601 with offset); default: export.json, an event "
             "log's last event, else now."
    )] = None,
    timezone: Annotated[str | None, typer.Option(
        help="Time zone of times written without an offset (e.g. Europe/Amsterdam; HubSpot's "
             "export writes local times).")] = None,
    rates: Annotated[Path | None, typer.Option(
        help="Currency rates CSV (currency,rate[,start_date,end_date]; rate = units per one "
             "unit of the reporting currency).")] = None,
    currency: Annotated[str | None, typer.Option(
        help="Reporting currency every amount is converted into (default: the export's "
             "corporate currency).")] = None,
    name: Annotated[str | None, typer.Option(
        help="The pipeline's name (default: the source folder's name).")] = None,
) -> None:
    """Read and validate a CRM export into canonical tables, reporting every rejected row."""
    with reported_errors():
        run_ingest(source, out, kind=kind, mapping=mapping, config_path=config,
                   export_time=export_time, timezone=timezone, rates=rates, currency=currency,
                   name=name)


def run_ingest(source: Path, out: Path, *, kind: str = "auto", mapping: Path | None = None,
               config_path: Path | None = None, export_time: str | None = None,
               timezone: str | None = None, rates: Path | None = None,
               currency: str | None = None, name: str | None = None) -> IngestResult:
    """Ingest ``source`` into ``out``, print the accounting and return the IngestResult.

    The tables and reports are written even when no deal was accepted; then this raises
    :class:`NothingUsable` with the commonest reasons.

    Example:
        >>> # result = run_ingest(Path("export"), Path("out/canonical"), kind="salesforce")
    """
    from features.ingest import SourceError, ingest, read_export_time
    from features.journey import JourneyConfig

    kind = parse_choice("--source", kind, SOURCE_KINDS)
    if mapping is not None and kind not in ("auto", "generic", "eventlog"):
        raise CliError(f"--mapping reads a generic export or an event log; it cannot be used "
                       f"with --source {kind}")
    if kind == "eventlog" and mapping is None:
        raise CliError("--source eventlog needs --mapping (e.g. examples/bpic2012/mapping.yaml)")
    stamp = parse_time_option("--export-time", export_time) if export_time is not None else None
    if currency is not None and not currency.strip().isalpha():
        raise CliError(f"--currency {currency!r} is not a currency code (e.g. USD)")
    if rates is not None and not rates.is_file():
        raise CliError(f"--rates {rates}: file not found")
    try:
        cfg = JourneyConfig.load(config_path)
        if timezone is not None:
            cfg = cfg.merged({"timestamps": {"naive_timezone": timezone}},
                             where=f"--timezone {timezone!r}")
        now = (stamp is None and kind != "eventlog"
               and read_export_time(_manifest_dir(source)) is None)
        if now:
            stamp = pd.Timestamp.now(tz="UTC")
        with console.status("reading and validating the export"):
            result = ingest(source, kind=kind, config=cfg, export_time=stamp,  # type: ignore[arg-type]
                            mapping=mapping, rates=rates, currency=currency, name=name)
    except (SourceError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    if now:
        warn(f"no export time given (no export.json, no --export-time); used now "
              f"({result.export_time.isoformat()})")
    with writing(out):
        paths = result.write(out)
    print_ingest_report(console, result, paths)
    for warning in result.warnings:
        warn(warning)
    if result.histories.deals.empty:
        raise NothingUsable(no_deals_reason(result, paths["rejections"]))
    return result


def _manifest_dir(source: Path) -> Path:
    """Where ``features.ingest.ingest`` looks for ``export.json``."""
    return source if source.is_dir() else source.parent


# --------------------------------------------------------------------------- canonical tables
def load_canonical(canonical: Path) -> tuple[DealHistories, pd.Timestamp]:
    """The tables ``dealrisk ingest`` wrote to ``canonical`` and the export time they hold.

    A missing or unreadable directory is a :class:`CliError` that says to ingest first.

    Example:
        >>> load_canonical(Path("nowhere"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: canonical directory nowhere not found; run `dealrisk ...
    """
    import json

    from features.histories import DealHistories
    from features.ingest.result import REPORT_FILE

    if not canonical.is_dir():
        problem = "is not a directory" if canonical.exists() else "not found"
        raise CliError(f"canonical directory {canonical} {problem}; {INGEST_FIRST}")
    try:
        histories = DealHistories.read_parquet(canonical)
        report = json.loads((canonical / REPORT_FILE).read_text())
        value = report.get("export_time") if isinstance(report, dict) else None
        export_time = pd.Timestamp(value) if isinstance(value, str) else pd.NaT
        if pd.isna(export_time) or export_time.tzinfo is None:
            raise ValueError(f"{REPORT_FILE} has no export time with a UTC offset: {value!r}")
        export_time = export_time.tz_convert("UTC")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CliError(f"cannot read the canonical tables in {canonical} ({exc}); "
                       f"{INGEST_FIRST}") from None
    return histories, export_time


def _no_deals(canonical: Path) -> str:
    return (f"no deals in {canonical} (the ingest accepted none; see "
            f"{canonical / 'rejections.csv'})")


def _none_open(deals: pd.DataFrame, canonical: Path, when: str) -> str:
    if deals.empty:
        return _no_deals(canonical)
    return (f"no deal was open at {when} ({len(deals):,} deals in {canonical}, created "
            f"{deals['created_at'].min():%Y-%m-%d} to {deals['created_at'].max():%Y-%m-%d})")


# --------------------------------------------------------------------------------- features
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
    with reported_errors():
        run_features(canonical, out, cadence=cadence, as_of=as_of, workers=workers or None)


def run_features(canonical: Path, out: Path, *, cadence: str = "7D", as_of: str | None = None,
                 workers: int | None = None) -> pd.DataFrame:
    """Build feature rows from canonical tables, write them to ``out`` and print a summary.

    Zero rows are written too, then :class:`NothingUsable` says why (no deals, none open).

    Example:
        >>> # rows = run_features(Path("out/canonical"), Path("out/features.parquet"))
    """
    import time

    from features.build import build_features
    from features.snapshots import sample_snapshots

    step = parse_cadence("--cadence", cadence)
    stamp = parse_time_option("--as-of", as_of) if as_of is not None else None
    histories, export_time = load_canonical(canonical)
    spec: pd.Timestamp | pd.DataFrame
    if stamp is not None:
        spec = check_known("--as-of", stamp, export_time)
    else:
        spec = sample_snapshots(histories.deals, until=export_time, cadence=step)
    started = time.perf_counter()
    what = f"{len(spec):,} snapshots" if isinstance(spec, pd.DataFrame) else "open deals"
    with console.status(f"building features for {what}"):
        rows = build_features(histories, spec, workers=workers or os.cpu_count() or 1)
    elapsed = time.perf_counter() - started
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(out, index=False)
    events = sum(histories.row_counts().values())
    console.print(f"{len(rows):,} feature rows x {rows.shape[1] - 2} columns from {events:,} "
                  f"history rows in {elapsed:.1f} s -> {bold(out)}", soft_wrap=True)
    if rows.empty:
        if stamp is not None:
            raise NothingUsable(_none_open(histories.deals, canonical, f"--as-of {as_of}"))
        raise NothingUsable(_none_open(
            histories.deals, canonical,
            f"any {cadence} snapshot up to the export time {export_time.isoformat()}"))
    return rows


# ------------------------------------------------------------------------------------ train
@app.command()
def train(
    canonical: Annotated[Path, typer.Argument(help="Directory written by `dealrisk ingest`.")],
    horizon: Annotated[int, typer.Option(min=1, help="Label horizon H in days.")] = 30,
    cadence: Annotated[str, typer.Option(
        help="Snapshot cadence of each open deal, e.g. 7D (weekly) or 1D for fast processes."
    )] = "7D",
    learning_rate: Annotated[float, typer.Option(help="LightGBM learning rate (> 0).")] = 0.05,
    num_leaves: Annotated[int, typer.Option(min=2, help="LightGBM leaves per tree.")] = 31,
    n_estimators: Annotated[int, typer.Option(min=1, help="Max boosting rounds.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    truth: Annotated[Path | None, typer.Option(
        help="Simulator truth/ folder: adds the oracle baseline.")] = None,
    run_name: Annotated[str | None, typer.Option(help="MLflow run name.")] = None,
    drop_feature: Annotated[list[str] | None, typer.Option(
        help="Leave this feature out (e.g. a likely leak the guard reported); repeatable."
    )] = None,
    next_steps: Annotated[bool, typer.Option(
        help="Fit the next-step effect model too (when the export records catalogue actions)."
    )] = True,
    next_step_trees: Annotated[int, typer.Option(
        min=4, help="Causal-forest trees per action of the effect model (fewer: faster)."
    )] = 100,
) -> None:
    """Train the stall, no-decision and win models, log the run to MLflow and register them.

    The model is registered under the pipeline's own name (dealrisk-<pipeline>) and becomes
    that pipeline's champion only if it beats the current one on the same held-out rows.
    """
    from training.model import TrainConfig

    with reported_errors():
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise CliError(f"--learning-rate {learning_rate} must be a number above 0")
        parse_cadence("--cadence", cadence)
        config = TrainConfig(horizon_days=horizon, cadence=cadence, learning_rate=learning_rate,
                             num_leaves=num_leaves, n_estimators=n_estimators, seed=seed,
                             drop_features=tuple(drop_feature or ()), next_steps=next_steps,
                             next_step_trees=4 * max(1, next_step_trees // 4))
        run_train(canonical, config=config, truth=truth, run_name=run_name)


def run_train(canonical: Path, *, config: TrainConfig | None = None, truth: Path | None = None,
              run_name: str | None = None) -> tuple[TrainResult, TrackedRun]:
    """Train from canonical tables, track in MLflow, print the evaluation; return both.

    A run whose train or test window got no labelled rows is neither logged nor registered:
    :class:`NothingUsable`.

    Example:
        >>> # result, tracked = run_train(Path("out/canonical"), config=TrainConfig(seed=1))
    """
    from training.pipeline import train_pipeline
    from training.reporting import print_training
    from training.tracking import log_training, setup_tracking

    histories, export_time = load_canonical(canonical)
    truth_daily = _read_truth(truth)
    if histories.deals.empty:
        raise NothingUsable(_no_deals(canonical))
    if config is not None:
        _check_dropped(config.drop_features, histories.profile.schema().names)
    uri = setup_tracking()
    with progress_bar(console) as bar:
        task = bar.add_task("training", total=None)
        result = train_pipeline(histories, config=config, known_until=export_time,
                                truth_daily=truth_daily,
                                progress=lambda stage: bar.update(task, description=stage))
        empty = [part for part in ("train", "test") if not result.data.get(f"{part}.rows")]
        if empty:
            raise NothingUsable(
                f"the {' and '.join(empty)} window got no labelled rows "
                f"({result.data['n_deals']:,} deals, {result.data['snapshot_rows']:,} snapshot "
                f"rows in {canonical}); more closed deals or a shorter --horizon are needed; "
                f"nothing was logged or registered")
        bar.update(task, description="logging to MLflow")
        tracked = log_training(result, run_name=run_name, source=str(canonical.absolute()))
    print_training(console, result, tracked, uri)
    return result, tracked


def _check_dropped(dropped: tuple[str, ...], names: list[str]) -> None:
    unknown = [n for n in dropped if n not in names]
    if unknown:
        raise CliError(f"--drop-feature {', '.join(unknown)}: not a feature of this pipeline "
                       f"(features: {', '.join(names)})")


def _read_truth(truth: Path | None) -> pd.DataFrame | None:
    if truth is None:
        return None
    path = truth / "daily.parquet"
    hint = "pass the truth/ folder `dealrisk simulate` wrote"
    if not path.is_file():
        raise CliError(f"--truth {truth} has no daily.parquet; {hint}")
    try:
        daily = pd.read_parquet(path)
        params = truth / "params.json"
        if params.is_file():  # the simulation: exact state matching and true action effects
            daily.attrs["params"] = json.loads(params.read_text())
            daily.attrs["seed"] = daily.attrs["params"].get("seed")
    except (OSError, ValueError) as exc:
        raise CliError(f"--truth {truth}: cannot read {path.name} ({exc}); {hint}") from None
    return daily


# ------------------------------------------------------------------------------------- rank
@app.command()
def rank(
    canonical: Annotated[Path, typer.Argument(help="Directory written by `dealrisk ingest`.")],
    out: Annotated[Path, typer.Option(help="Where ranking.csv and ranking.html go.")] = Path(
        "out/report"),
    model: Annotated[str | None, typer.Option(
        help="Registered model URI (alias or version); default: the pipeline's champion, "
             "models:/dealrisk-<pipeline>@champion.")] = None,
    as_of: Annotated[str | None, typer.Option(
        help="Rank deals open at this time (ISO 8601 with offset); default: the export time."
    )] = None,
    top: Annotated[int, typer.Option(min=0, help="Rows shown in the terminal.")] = 15,
    peers: Annotated[str, typer.Option(
        help="Peer references (won-step medians, owner and account track records): 'export' "
             "rebuilds them from this export; 'model' uses those frozen in the model at "
             "training, as the scoring service does.")] = "export",
) -> None:
    """Rank open deals by revenue at risk; write a CSV and a self-contained HTML report."""
    with reported_errors():
        if peers not in ("export", "model"):
            raise CliError(f"--peers {peers!r} must be 'export' or 'model'")
        run_rank(canonical, out, model_uri=model, as_of=as_of, top=top,
                 frozen_peers=peers == "model")


def run_rank(canonical: Path, out: Path, *, model_uri: str | None = None,
             as_of: str | None = None, top: int = 15, frozen_peers: bool = False
             ) -> dict[str, Path]:
    """Score and rank open deals with a registered model; return the written report paths.

    ``model_uri`` defaults to the pipeline's champion; a model trained on another pipeline, or
    on features this export cannot give, is refused.  With no deal open at the as-of time the
    (empty) reports are written, then :class:`NothingUsable` says so.

    Example:
        >>> # paths = run_rank(Path("out/canonical"), Path("out/report"))
    """
    from mlflow.exceptions import MlflowException

    from training.ranking import rank_open_deals
    from training.report import write_reports
    from training.reporting import print_ranking
    from training.tracking import champion_uri, load_model, registered_name, setup_tracking

    stamp = parse_time_option("--as-of", as_of) if as_of is not None else None
    histories, export_time = load_canonical(canonical)
    when = check_known("--as-of", stamp, export_time) if stamp is not None else export_time
    pipeline = histories.profile.name
    own = registered_name(pipeline)
    uri = model_uri or champion_uri(pipeline)
    setup_tracking()
    try:
        with console.status(f"loading {escape(uri)}"):
            risk_model = load_model(uri)
    except MlflowException as exc:
        hint = (f"pipeline {pipeline!r} has no champion yet; train one with `dealrisk train "
                f"{canonical}`" if model_uri is None else
                "train one with `dealrisk train`")
        raise CliError(f"--model {uri}: cannot load it ({exc.message}); {hint}") from None
    problems = risk_model.mismatch(histories.profile)
    if risk_model.profile.name != pipeline:
        problems.insert(0, f"it belongs to pipeline {risk_model.profile.name!r}, not "
                           f"{pipeline!r}")
    if problems:
        raise CliError(f"--model {uri} (version {risk_model.version}) cannot score {canonical}: "
                       f"{'; '.join(problems)}; train one on it (`dealrisk train {canonical}`) "
                       f"and rank with its champion (the default) or --model "
                       f"models:/{own}/<version>")
    with console.status("scoring open deals"):
        if frozen_peers and risk_model.peer_stats is None:
            raise CliError(f"--peers model: {uri} (version {risk_model.version}) carries no "
                           "frozen peer references (trained before they existed); retrain it")
        ranking = rank_open_deals(risk_model, histories, when,
                                  peers=risk_model.peer_stats if frozen_peers else None)
    with writing(out):
        paths = write_reports(ranking, out, as_of=when, model_version=str(risk_model.version))
    if ranking.empty:
        raise NothingUsable(_none_open(
            histories.deals, canonical,
            f"--as-of {as_of}" if as_of is not None else f"the export time {when.isoformat()}"))
    print_ranking(console, ranking.head(top), as_of=when, model_version=str(risk_model.version))
    console.print(f"report: {bold(paths['html'])}  csv: {bold(paths['csv'])}", soft_wrap=True)
    return paths


# ------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Working directory for the demo.")] = Path("demo"),
    deals: Annotated[int, typer.Option(min=1, help="Deals to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Run the main job end to end: simulate, ingest, features, train + track, rank."""
    from training.tracking import default_tracking_uri

    export_dir, canonical_dir = out / "export", out / "canonical"
    with reported_errors():
        console.rule("[bold]1. simulate a B2B pipeline")
        simulate(deals=deals, seed=seed, out=export_dir, fmt="csv", chunk_size=50_000)
        console.rule("[bold]2. ingest and validate the Salesforce-style export")
        run_ingest(export_dir, canonical_dir, name="demo")
        console.rule("[bold]3. point-in-time features (weekly snapshots)")
        run_features(canonical_dir, out / "features.parquet")
        console.rule("[bold]4. train, track in MLflow and register")
        run_train(canonical_dir, truth=export_dir / "truth", run_name="demo")
        console.rule("[bold]5. rank open deals by revenue at risk")
        paths = run_rank(canonical_dir, out / "report")
    console.rule("[bold]done")
    console.print(f"canonical tables: {bold(canonical_dir)}  rejections: "
                  f"{bold(canonical_dir / 'rejections.csv')}", soft_wrap=True)
    console.print(f"risk ranking: {bold(paths['html'])} and {bold(paths['csv'])}",
                  soft_wrap=True)
    ui = f".venv/bin/mlflow ui --backend-store-uri {default_tracking_uri()}"
    console.print(f"MLflow UI: {bold(ui)}", soft_wrap=True)


app.command()(cli_serve.serve)
app.command()(cli_serve.bento)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
