"""Use every core of one machine: the feature function over deal partitions in forked workers.

The deals are cut into contiguous position ranges (balanced by query rows); each forked worker
encodes only its deals and writes its rows straight into a shared-memory output block, while the
peer references (built once from all deals) are shared copy-on-write.  The result is row for row
what the single-process path returns.  Needs ``os.fork`` (Linux/macOS); elsewhere, or for small
inputs, it falls back to one process.  For several machines use :mod:`features.dask_build`.

Example:
    >>> import pandas as pd
    >>> from features.histories import DealHistories
    >>> len(build_features_forked(DealHistories.empty(), pd.Timestamp("2024-01-01", tz="UTC")))
    0
"""

from __future__ import annotations

import mmap
import os
import sys
import traceback
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa

from features.build import (
    AsOfSpec,
    _resolve,
    assemble,
    empty_outputs,
    features_for,
    fill_signals,
    output_bytes,
)
from features.encode import (
    HistoryArrays,
    arrays_from_tables,
    context_categoricals,
    deal_rank,
    encode_arrays,
    query_order,
)
from features.histories import DealHistories
from features.peers import PeerStats

#: Below this many query rows one process is faster than forking.
MIN_ROWS_PER_WORKER = 50_000
#: Deals encoded together inside a worker (bigger parts spill out of the CPU caches).
DEALS_PER_PART = 100_000


def build_features_forked(histories: DealHistories, as_of: AsOfSpec, *,
                          peers: PeerStats | None = None, workers: int = 2) -> pd.DataFrame:
    """:func:`features.build.build_features` computed by ``workers`` forked processes."""
    arrays = arrays_from_tables(histories)
    peers = peers if peers is not None else PeerStats.from_histories(histories)
    deal, as_of_ms, passthrough = _resolve(arrays, as_of)
    workers = min(workers, max(1, len(deal) // MIN_ROWS_PER_WORKER))
    if workers <= 1 or not hasattr(os, "fork"):
        return features_for(encode_arrays(arrays), peers, deal, as_of_ms, passthrough)
    order = query_order(deal_rank(arrays.deal_ids)[deal], as_of_ms)
    if order is not None:
        deal, as_of_ms = deal[order], as_of_ms[order]
        passthrough = None if passthrough is None else passthrough.iloc[order]
    shared = mmap.mmap(-1, output_bytes(len(deal)))
    values, steps = empty_outputs(len(deal), memoryview(shared))
    n_parts = max(workers, -(-len(arrays.deal_ids) // DEALS_PER_PART))
    bounds = np.unique(np.r_[0, np.quantile(deal, np.linspace(0, 1, n_parts + 1)[1:-1]
                                            ).astype(np.int64), len(arrays.deal_ids)])
    parts = [(int(lo), int(hi)) for lo, hi in pairwise(bounds)]
    children = [_fork(arrays, peers, deal, as_of_ms, values, steps, parts[w::workers])
                for w in range(workers)]
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} feature worker(s) failed; see their error above")
    context = context_categoricals(arrays.context, arrays.custom, arrays.profile)
    return assemble(pa.array(arrays.deal_ids.astype(str), type=pa.string()), context, deal,
                    as_of_ms, values, steps, passthrough, custom=arrays.custom,
                    profile=arrays.profile)


def _fork(arrays: HistoryArrays, peers: PeerStats, deal: np.ndarray, as_of_ms: np.ndarray,
          values: np.ndarray, steps: np.ndarray, parts: list[tuple[int, int]]) -> int:
    """Start a worker for the deal ranges ``parts``; it writes its rows into the shared block.

    The ranges are done one after the other, each encoded on its own, so working sets stay
    small enough for the CPU caches.
    """
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        for lo, hi in parts:
            rows = np.flatnonzero((deal >= lo) & (deal < hi))
            enc = encode_arrays(arrays.for_deals(lo, hi))
            fill_signals(enc, peers, deal[rows] - lo, as_of_ms[rows], values, steps, rows)
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        status = 1
    finally:
        os._exit(status)
