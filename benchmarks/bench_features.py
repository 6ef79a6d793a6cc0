"""Benchmark the point-in-time feature pipeline on simulated pipelines of several sizes.

For each size: simulate a Salesforce-style export chunk by chunk, ingest it through the real
reader into canonical tables (cached under --workdir), then, in a fresh process, build weekly
training snapshots and their features (encode + peers + sampler + feature function) and measure
wall time, input events/s, snapshot rows/s and peak memory (the larger of the process's peak RSS
and the sampled PSS of the process and its forked workers) against the input tables' in-memory
size.  ``--workers`` (default: all cores) forked feature workers; ``--workers 1`` is one process.
Finally it times the live single-deal path on a deal with 50 activities.

Prints a line per size and, last, one JSON line with at least: events_per_s_1m,
peak_rss_ratio_1m, scaling_ratio (time per event at 1M over 100k) and live_p50_ms.

    .venv/bin/python benchmarks/bench_features.py                      # 10k, 100k, 1M
    .venv/bin/python benchmarks/bench_features.py --sizes 10000 100000  # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq


def build_canonical(n_deals: int, seed: int, out: Path, chunk_size: int = 100_000) -> None:
    """Simulate and ingest ``n_deals`` deals chunk by chunk into canonical Parquet at ``out``."""
    from features.contract import TABLES_BY_NAME
    from features.histories import DealHistories
    from features.ingest import ingest
    from training.simulator import SimParams, iter_export_chunks

    export_time = pd.Timestamp(SimParams().export_time)
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES_BY_NAME}
    rejected = 0
    started = time.perf_counter()
    for i, tables in enumerate(iter_export_chunks(n_deals, seed, chunk_size)):
        with tempfile.TemporaryDirectory() as tmp:
            for name, table in tables.items():
                pq.write_table(table, Path(tmp) / f"{name}.parquet")
            result = ingest(Path(tmp), kind="salesforce", export_time=export_time)
        rejected += len(result.rejections)
        for name, frame in result.histories.tables().items():
            parts[name].append(frame)
        print(f"  ingested chunk {i + 1} ({time.perf_counter() - started:.0f} s)", flush=True)
    histories = DealHistories(**{n: pd.concat(p, ignore_index=True) for n, p in parts.items()})
    histories.to_parquet(out)
    (out / "ingest_report.json").write_text(json.dumps({
        "export_time": export_time.isoformat(), "rejected": rejected}))


class TreeMemory:
    """Samples the proportional memory (PSS) of this process and its children in a thread.

    Forked feature workers share pages copy-on-write, so summing PSS counts each page once.
    """

    def __init__(self, interval_s: float = 0.25) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, interval_s: float) -> None:
        me = psutil.Process()
        while not self._stop.wait(interval_s):
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rollup = Path(f"/proc/{proc.pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                for line in rollup.splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
            self.peak = max(self.peak, total)


def measure(canonical: Path, workers: int) -> dict[str, float]:
    """Build weekly snapshots + features once; timings and memory (run in a fresh process)."""
    from features.build import build_features
    from features.encode import encode
    from features.histories import DealHistories
    from features.peers import PeerStats
    from features.snapshots import sample_snapshots

    histories = DealHistories.read_parquet(canonical)
    until = pd.Timestamp(json.loads((canonical / "ingest_report.json").read_text())["export_time"])
    input_bytes = sum(int(f.memory_usage(deep=True).sum()) for f in histories.tables().values())
    events = sum(histories.row_counts().values())
    # one process: its VmHWM is exact; forked workers: also sample the tree's PSS
    with TreeMemory() if workers > 1 else contextlib.nullcontext() as tree:
        started = time.perf_counter()
        pairs = sample_snapshots(histories.deals, until=until)
        if workers > 1:
            rows = build_features(histories, pairs, workers=workers)
        else:
            rows = build_features(histories, pairs, peers=PeerStats.from_histories(histories),
                                  encoded=encode(histories))
        seconds = time.perf_counter() - started
    peak = max(peak_rss_bytes(), tree.peak if tree is not None else 0)
    return {"workers": workers, "deals": len(histories.deals), "events": events,
            "snapshot_rows": len(rows),
            "seconds": seconds, "events_per_s": events / seconds,
            "rows_per_s": len(rows) / seconds, "input_bytes": input_bytes,
            "peak_rss_bytes": peak, "peak_rss_ratio": peak / input_bytes}


def peak_rss_bytes() -> int:
    """Peak resident memory of the process (VmHWM; unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # non-Linux fallback


def live_p50_ms(canonical: Path, n_activities: int = 50, reps: int = 2000) -> dict[str, float]:
    """p50 / p99 of the live path for the deal whose activity count is closest to 50."""
    from features.histories import DealHistories
    from features.live import live_features
    from features.peers import PeerStats

    h = DealHistories.read_parquet(canonical)
    counts = h.activities["deal_id"].value_counts()
    deal_id = (counts - n_activities).abs().idxmin()

    def records(frame: pd.DataFrame) -> list[dict]:
        rows = frame[frame["deal_id"] == deal_id].to_dict("records")
        return [{k: (None if not isinstance(v, str) and pd.isna(v) else v)
                 for k, v in r.items()} for r in rows]

    deal, *rest = (records(h.deals)[0], records(h.stage_history), records(h.activities),
                   records(h.contacts), records(h.field_history))
    as_of = rest[1][-1]["occurred_at"] + pd.Timedelta(days=1)
    peers = PeerStats.from_histories(h)
    for _ in range(100):
        live_features(deal, *rest, as_of=as_of, peers=peers)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        live_features(deal, *rest, as_of=as_of, peers=peers)
        times.append(time.perf_counter() - t0)
    return {"live_activities": int(counts[deal_id]),
            "live_p50_ms": float(np.median(times) * 1000),
            "live_p99_ms": float(np.percentile(times, 99) * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("out/bench_features"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="forked feature workers (default: all cores)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one clean measurement
        print(json.dumps(measure(args.measure, args.workers)))
        return

    results: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        canonical = args.workdir / f"canonical_{n}_seed{args.seed}"
        if not (canonical / "ingest_report.json").is_file():
            print(f"building canonical tables for {n:,} deals in {canonical}", flush=True)
            build_canonical(n, args.seed, canonical)
        out = subprocess.run([sys.executable, __file__, "--measure", str(canonical),
                              "--workers", str(args.workers)],
                             check=True, capture_output=True, text=True).stdout
        r = results[n] = json.loads(out.strip().splitlines()[-1])
        print(f"{n:>9,} deals, {r['workers']} worker(s): {r['events']:,} events -> "
              f"{r['snapshot_rows']:,} snapshot rows in {r['seconds']:.1f} s = "
              f"{r['events_per_s']:,.0f} events/s, "
              f"{r['rows_per_s']:,.0f} rows/s; peak memory {r['peak_rss_bytes'] / 2**30:.2f} GiB "
              f"= {r['peak_rss_ratio']:.2f}x input ({r['input_bytes'] / 2**30:.2f} GiB)",
              flush=True)
    live = live_p50_ms(args.workdir / f"canonical_{min(args.sizes)}_seed{args.seed}")
    print(f"live path: p50 {live['live_p50_ms']:.3f} ms, p99 {live['live_p99_ms']:.3f} ms "
          f"({live['live_activities']} activities)")
    summary: dict[str, object] = {f"{k}_{n}": v for n, r in results.items() for k, v in r.items()}
    if 1_000_000 in results:
        big = results[1_000_000]
        summary["events_per_s_1m"] = big["events_per_s"]
        summary["peak_rss_ratio_1m"] = big["peak_rss_ratio"]
        if 100_000 in results:
            small = results[100_000]
            summary["scaling_ratio"] = ((big["seconds"] / big["events"])
                                        / (small["seconds"] / small["events"]))
    summary.update(live)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
