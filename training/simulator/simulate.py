"""Entry points: simulate a pipeline to files (streamed in chunks) or into memory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from training.simulator.journey import Journeys, simulate_journeys
from training.simulator.latent import draw_deals
from training.simulator.metrics import SnapshotCollector
from training.simulator.params import SimParams
from training.simulator.sf_export import (
    TABLES,
    IdCounters,
    build_tables,
    currency_type_table,
    name_tables,
)
from training.simulator.truth import (
    EffectAccumulator,
    StateTables,
    deal_action_effects,
    state_tables,
    state_visits,
)
from training.simulator.truth_export import daily_table, deals_table
from training.simulator.writer import TableFile

TRUTH_TABLES: tuple[str, ...] = ("deals", "daily")


@dataclass
class SimulationSummary:
    """Counts and headline figures of one simulation run."""

    deals: int
    rows: dict[str, int]
    won: float  # fractions of closed deals
    lost: float
    no_decision: float
    open: int
    exported_at: str
    elapsed_seconds: float
    buyer_initiated_share: float = float("nan")
    oracle_nd_auc: float = float("nan")
    stage_age_nd_auc: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON).

        Example:
            >>> # summary.to_dict()["won"]
        """
        return dict(self.__dict__)


@dataclass
class SimulatedPipeline:
    """An in-memory simulation: the Salesforce tables (text, as in the files) and the truth."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    params: SimParams
    summary: SimulationSummary


@dataclass
class _Chunk:
    journeys: Journeys
    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    state: StateTables


class _Tally:
    """Outcome and activity counts accumulated over chunks."""

    def __init__(self, sample: int) -> None:
        self.outcomes = np.zeros(4, np.int64)
        self.buyer = 0
        self.activities = 0
        self.effects = EffectAccumulator()
        self.snapshots = SnapshotCollector(max_deal_index=sample)

    def summary(self, params: SimParams, rows: dict[str, int], t0: float) -> SimulationSummary:
        closed = max(int(self.outcomes[1:].sum()), 1)
        snap = self.snapshots.result()
        return SimulationSummary(
            deals=params.n_deals, rows=rows,
            won=float(self.outcomes[1] / closed), lost=float(self.outcomes[2] / closed),
            no_decision=float(self.outcomes[3] / closed), open=int(self.outcomes[0]),
            exported_at=params.export_time, elapsed_seconds=time.perf_counter() - t0,
            buyer_initiated_share=float(self.buyer / max(self.activities, 1)),
            oracle_nd_auc=snap["oracle_nd_auc"], stage_age_nd_auc=snap["stage_age_nd_auc"],
            extra={"n_snapshots": snap["n_snapshots"]},
        )


def _chunks(params: SimParams, chunk_size: int, tally: _Tally) -> Iterator[_Chunk]:
    counters = IdCounters()
    for start in range(0, params.n_deals, chunk_size):
        idx = np.arange(start, min(start + chunk_size, params.n_deals))
        deals = draw_deals(params, idx)
        j = simulate_journeys(params, deals)
        tables, _, b_full = state_tables(params, deals)
        dl = j.daily
        tally.effects.add(deal_action_effects(params, deals, b_full),
                          state_visits(dl["row"], dl["step"], dl["dark"], len(deals)))
        tally.snapshots.add(j, tables)
        tally.outcomes += np.bincount(j.outcome, minlength=4)
        kind = j.activity["kind"]
        tally.buyer += int((kind == 0).sum())
        tally.activities += len(kind)
        yield _Chunk(j, build_tables(params, j, counters),
                     {"deals": deals_table(j), "daily": daily_table(j, tables)}, tables)


class _Named:
    """Which owners and accounts some deal has: the rows of the export's User and Account."""

    def __init__(self, params: SimParams) -> None:
        self.owners = np.zeros(params.n_owners + 1, bool)  # +1: room for a number at the
        self.accounts = np.zeros(params.n_accounts + 1, bool)  # edge of a float draw

    def add(self, journeys: Journeys) -> None:
        self.owners[journeys.deals.owner] = True
        self.accounts[journeys.deals.account] = True

    def tables(self) -> dict[str, pa.Table]:
        return name_tables(np.flatnonzero(self.owners), np.flatnonzero(self.accounts))


def _export_json(params: SimParams, fmt: str) -> dict[str, Any]:
    return {"source": "salesforce", "exported_at": params.export_time, "seed": params.seed,
            "n_deals": params.n_deals, "format": fmt}


def simulate_to_dir(
    n_deals: int,
    seed: int,
    out_dir: Path,
    fmt: Literal["csv", "parquet"] = "csv",
    chunk_size: int = 50_000,
    horizon_days: int = 30,
    progress: Callable[[int], None] | None = None,
    params: SimParams | None = None,
    metrics_sample: int = 100_000,
) -> SimulationSummary:
    """Simulate ``n_deals`` deals and write a Salesforce-style export plus ground truth.

    Files: ``out_dir/<Table>.<fmt>`` for each table in :data:`TABLES`, ``CurrencyType``,
    ``User`` and ``Account`` (the owners and accounts some deal has), ``export.json``,
    and ``out_dir/truth/`` with ``deals.parquet``, ``daily.parquet``,
    ``action_effects.parquet`` and ``params.json``. Deals are simulated and appended in
    chunks, so memory stays bounded; output bytes do not depend on ``chunk_size``.
    ``params`` overrides model constants (its seed, size and horizon are replaced).
    Difficulty AUCs are computed on deals with index below ``metrics_sample``.

    Example:
        >>> import tempfile, pathlib
        >>> s = simulate_to_dir(200, seed=1, out_dir=pathlib.Path(tempfile.mkdtemp()))
        >>> s.deals
        200
    """
    t0 = time.perf_counter()
    base = params or SimParams()
    params = SimParams.from_dict({**base.to_dict(), "seed": seed, "n_deals": n_deals,
                                  "horizon_days": horizon_days})
    out_dir = Path(out_dir)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    files = {t: TableFile(out_dir / f"{t}.{fmt}", fmt) for t in TABLES}
    truth_files = {t: TableFile(truth_dir / f"{t}.parquet", "parquet", 1_048_576)
                   for t in TRUTH_TABLES}
    tally = _Tally(metrics_sample)
    named = _Named(params)
    schemas: dict[str, pa.Schema] = {}
    done = 0
    for chunk in _chunks(params, chunk_size, tally):
        named.add(chunk.journeys)
        for name, table in chunk.tables.items():
            files[name].write(table)
            schemas[name] = table.schema
        for name, table in chunk.truth.items():
            truth_files[name].write(table)
            schemas["truth/" + name] = table.schema
        done += len(chunk.journeys.deals)
        del chunk
        if progress is not None:
            progress(done)
    for name, f in files.items():
        f.close(schemas.get(name))
    rates = TableFile(out_dir / f"CurrencyType.{fmt}", fmt)
    rates.write(currency_type_table())
    rates.close()
    for name, table in named.tables().items():
        side = TableFile(out_dir / f"{name}.{fmt}", fmt)
        side.write(table)
        side.close()
    for name, f in truth_files.items():
        f.close(schemas.get("truth/" + name))
    tally.effects.frame().to_parquet(truth_dir / "action_effects.parquet", index=False)
    (truth_dir / "params.json").write_text(json.dumps(params.to_dict(), indent=2, sort_keys=True))
    (out_dir / "export.json").write_text(json.dumps(_export_json(params, fmt), indent=2))
    rows = {name: f.rows for name, f in files.items()}
    rows.update({"truth/" + name: f.rows for name, f in truth_files.items()})
    return tally.summary(params, rows, t0)


def iter_export_chunks(n_deals: int, seed: int, chunk_size: int = 50_000,
                       params: SimParams | None = None) -> Iterator[dict[str, pa.Table]]:
    """The Salesforce-style export, one chunk of deals at a time (Arrow tables of text).

    Every child row of a chunk's deals is in the same chunk, and every chunk carries the
    export's CurrencyType and the User and Account rows of its deals' owners and accounts, so
    chunks can be ingested independently; concatenated, the other objects are exactly the
    files of :func:`simulate_to_dir`.

    Example:
        >>> chunks = list(iter_export_chunks(120, seed=1, chunk_size=50))
        >>> [c["Opportunity"].num_rows for c in chunks]
        [50, 50, 20]
    """
    base = params or SimParams()
    params = SimParams.from_dict({**base.to_dict(), "seed": seed, "n_deals": n_deals})
    for chunk in _chunks(params, chunk_size, _Tally(0)):
        deals = chunk.journeys.deals
        yield {**chunk.tables, "CurrencyType": currency_type_table(),
               **name_tables(np.unique(deals.owner), np.unique(deals.account))}


def simulate_frames(
    n_deals: int,
    seed: int,
    chunk_size: int = 50_000,
    horizon_days: int = 30,
    params: SimParams | None = None,
) -> SimulatedPipeline:
    """Run the same simulation in memory: Salesforce tables and truth as DataFrames.

    The export frames hold exactly the text written by :func:`simulate_to_dir`
    (all columns ``str``); truth frames are typed.

    Example:
        >>> p = simulate_frames(100, seed=1)
        >>> sorted(p.tables)[:3]
        ['Account', 'CurrencyType', 'EmailMessage']
    """
    t0 = time.perf_counter()
    base = params or SimParams()
    params = SimParams.from_dict({**base.to_dict(), "seed": seed, "n_deals": n_deals,
                                  "horizon_days": horizon_days})
    tally = _Tally(n_deals)
    named = _Named(params)
    parts: dict[str, list[pa.Table]] = {}
    for chunk in _chunks(params, chunk_size, tally):
        named.add(chunk.journeys)
        for name, table in {**chunk.tables, **{"truth/" + k: v for k, v in chunk.truth.items()}
                            }.items():
            parts.setdefault(name, []).append(table)
    frames = {name: pa.concat_tables(p).to_pandas() for name, p in parts.items()}
    tables = {t: frames[t] for t in TABLES}
    tables["CurrencyType"] = currency_type_table().to_pandas()
    tables.update({name: t.to_pandas() for name, t in named.tables().items()})
    truth = {t: frames["truth/" + t] for t in TRUTH_TABLES}
    truth["action_effects"] = tally.effects.frame()
    rows = {name: len(f) for name, f in frames.items()}
    return SimulatedPipeline(tables, truth, params, tally.summary(params, rows, t0))
