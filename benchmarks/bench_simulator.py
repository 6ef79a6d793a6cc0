"""Benchmark the buyer-journey simulator: throughput, memory, risk and NBA difficulty figures.

Usage: python benchmarks/bench_simulator.py --deals 100000 [--format csv] [--out /tmp/sim100k]
(without ``--out`` the export goes to a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from training.simulator import simulate_to_dir
from training.simulator.nba_difficulty import difficulty_of_export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--deals", type=int, default=100_000)
    ap.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--out", type=Path, default=None,
                    help="where the export goes (default: a temporary folder, removed after)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    args = ap.parse_args()
    keep = args.out is not None
    if not keep:
        args.out = Path(tempfile.mkdtemp(prefix="dealrisk-bench-sim-"))
    if args.out.exists():
        shutil.rmtree(args.out)
    proc = psutil.Process()
    peak = [proc.memory_info().rss]

    def progress(n: int) -> None:
        peak[0] = max(peak[0], proc.memory_info().rss)
        print(f"  {n:>9,} deals  rss {proc.memory_info().rss / 2**20:,.0f} MiB", flush=True)

    t0 = time.perf_counter()
    s = simulate_to_dir(args.deals, args.seed, args.out, fmt=args.format,
                        chunk_size=args.chunk_size, progress=progress)
    elapsed = time.perf_counter() - t0
    ru_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    peak_rss = max(peak[0], ru_peak)
    export_rows = sum(v for k, v in s.rows.items() if not k.startswith("truth/"))
    out_bytes = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"elapsed          {elapsed:.1f} s")
    print(f"deals/s          {args.deals / elapsed:,.0f}")
    print(f"rows written     {export_rows:,} export + {s.rows['truth/daily']:,} truth daily")
    for name, n in s.rows.items():
        print(f"  {name:<24} {n:>12,}")
    print(f"bytes on disk    {out_bytes / 2**20:,.0f} MiB")
    print(f"peak RSS         {peak_rss / 2**20:,.0f} MiB")
    print(f"outcome mix      won {s.won:.3f}  lost {s.lost:.3f}  no decision {s.no_decision:.3f}"
          f"  (open {s.open:,})")
    print(f"buyer-initiated  {s.buyer_initiated_share:.3f}")
    print(f"no-decision AUC  oracle {s.oracle_nd_auc:.3f}  stage-age rule {s.stage_age_nd_auc:.3f}"
          f"  (weekly snapshots: {s.extra['n_snapshots']:,})")
    nba = difficulty_of_export(args.out / "truth")
    print(f"NBA difficulty   a (step, engaged) lookup of TRUE effects recovers "
          f"{nba['lookup_share_of_oracle']:.3f} of the full oracle's no-decision reduction "
          f"({100 * nba['oracle_mean_nd_reduction']:.2f} pt), the two-rule playbook "
          f"{nba['playbook_share_of_oracle']:.3f} (weekly open days)")
    print(json.dumps({
        "deals": args.deals, "format": args.format, "elapsed_s": round(elapsed, 2),
        "deals_per_s": round(args.deals / elapsed, 1), "rows": s.rows, "export_rows": export_rows,
        "bytes": out_bytes, "peak_rss_mib": round(peak_rss / 2**20, 1), "won": round(s.won, 4),
        "lost": round(s.lost, 4), "no_decision": round(s.no_decision, 4), "open": s.open,
        "buyer_initiated_share": round(s.buyer_initiated_share, 4),
        "oracle_nd_auc": round(s.oracle_nd_auc, 4),
        "stage_age_nd_auc": round(s.stage_age_nd_auc, 4),
        "lookup_share_of_oracle": round(nba["lookup_share_of_oracle"], 4),
        "playbook_share_of_oracle": round(nba["playbook_share_of_oracle"], 4),
        "oracle_mean_nd_reduction": round(nba["oracle_mean_nd_reduction"], 5),
    }))
    if not keep:
        shutil.rmtree(args.out)


if __name__ == "__main__":
    main()
