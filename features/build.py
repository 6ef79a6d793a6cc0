"""The one feature function: (canonical deal histories, as-of spec) -> one row per (deal, as_of).

It serves training snapshots and live scoring alike; the caller says what "now" is.

As-of spec:
- a single timestamp: one row for every deal **open** at that time (created at or before it and
  not closed at or before it);
- a table with ``deal_id`` and ``as_of`` columns (plus any others, e.g. labels, passed through
  unchanged): one row per pair whose deal exists and was created at or before its ``as_of``.

Rows come back ordered by ``deal_id`` then ``as_of``; columns are ``deal_id``, ``as_of``, the
passed-through columns, then the pipeline's feature schema in order
(``histories.profile.schema()``: :data:`features.schema.FEATURES`, then the pipeline's custom
context fields).  Features the pipeline's export cannot give point-in-time
(``histories.profile.left_out()``) are empty (NaN) in every row.

Example:
    >>> import pandas as pd
    >>> from features.histories import DealHistories
    >>> rows = build_features(DealHistories.empty(), pd.Timestamp("2024-01-01", tz="UTC"))
    >>> list(rows.columns[:3]), len(rows)
    (['deal_id', 'as_of', 'current_step'], 0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.encode import (
    STEPS,
    EncodedHistories,
    HistoryArrays,
    codes,
    encode,
    query_order,
    to_ms,
)
from features.histories import DealHistories
from features.peers import PeerStats
from features.profile import PipelineProfile
from features.schema import CONTEXT_CATEGORIES, FEATURES
from features.signals import (
    commitment_signals,
    context_signals,
    engagement_signals,
    stage_signals,
)
from features.timeline import NEVER_MS

AsOfSpec = pd.Timestamp | pd.DataFrame
STEP_CATEGORIES: list[str] = [*STEPS, "lost", "unknown"]
_LOST, _UNKNOWN = STEP_CATEGORIES.index("lost"), STEP_CATEGORIES.index("unknown")
BLOCK_ROWS = 250_000
_STR = pd.StringDtype("pyarrow", na_value=np.nan)
_NUMERIC = [f.name for f in FEATURES if f.dtype != "category"]
# The output relies on the schema's layout: current step, the numeric features, the context.
assert FEATURES.names == ["current_step", *_NUMERIC, *CONTEXT_CATEGORIES], "schema layout"


def build_features(histories: DealHistories, as_of: AsOfSpec, *, peers: PeerStats | None = None,
                   encoded: EncodedHistories | None = None, workers: int = 1) -> pd.DataFrame:
    """Point-in-time feature rows for ``histories`` at ``as_of`` (see the module docstring).

    ``peers`` defaults to peer references built from ``histories`` itself; live scoring passes
    the ones built from the training histories.  ``encoded`` lets a caller reuse an encoding.
    ``workers > 1`` splits the deals over that many forked processes on this machine (see
    :mod:`features.parallel`); the rows are identical.
    """
    if workers > 1 and encoded is None:
        from features.parallel import build_features_forked

        return build_features_forked(histories, as_of, peers=peers, workers=workers)
    enc = encoded if encoded is not None else encode(histories)
    peers = peers if peers is not None else PeerStats.from_histories(histories)
    deal, as_of_ms, passthrough = _resolve(enc, as_of)
    return features_for(enc, peers, deal, as_of_ms, passthrough)


def features_for(enc: EncodedHistories, peers: PeerStats, deal: np.ndarray,
                 as_of_ms: np.ndarray, passthrough: pd.DataFrame | None = None) -> pd.DataFrame:
    """Feature rows for explicit query rows (deal positions in ``enc``, as_of in ms)."""
    order = query_order(enc.rank[deal], as_of_ms)
    if order is not None:
        deal, as_of_ms = deal[order], as_of_ms[order]
        passthrough = None if passthrough is None else passthrough.iloc[order]
    values, steps = empty_outputs(len(deal))
    fill_signals(enc, peers, deal, as_of_ms, values, steps)
    return assemble(enc.deal_ids_arrow, enc.context_categories, deal, as_of_ms, values, steps,
                    passthrough, custom=enc.custom, profile=enc.profile)


def empty_outputs(n_rows: int, buffer: memoryview | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The numeric feature block (column-major float32) and the step codes.

    With ``buffer`` (e.g. shared memory of :func:`output_bytes` bytes) they live in it.
    """
    if buffer is None:
        return (np.empty((n_rows, len(_NUMERIC)), dtype=np.float32, order="F"),
                np.empty(n_rows, dtype=np.int64))
    n_values = n_rows * len(_NUMERIC)
    values = np.frombuffer(buffer, dtype=np.float32, count=n_values)
    steps = np.frombuffer(buffer, dtype=np.int64, count=n_rows, offset=4 * n_values + 8
                          - (4 * n_values) % 8)
    return values.reshape((n_rows, len(_NUMERIC)), order="F"), steps


def output_bytes(n_rows: int) -> int:
    """Bytes :func:`empty_outputs` needs for ``n_rows`` rows in a caller-provided buffer."""
    return 4 * n_rows * len(_NUMERIC) + 8 + 8 * n_rows


def fill_signals(enc: EncodedHistories, peers: PeerStats, deal: np.ndarray,
                 as_of_ms: np.ndarray, values: np.ndarray, steps: np.ndarray,
                 rows: np.ndarray | None = None) -> None:
    """Compute the signals of query rows (``deal`` in ``enc``) into ``values[rows]``.

    ``rows`` defaults to all rows, in order.
    """
    for lo in range(0, len(deal), BLOCK_ROWS):
        block = slice(lo, lo + BLOCK_ROWS)
        target = block if rows is None else rows[block]
        signals, steps[target] = compute_signals(enc, peers, deal[block], as_of_ms[block])
        for j, name in enumerate(_NUMERIC):
            values[target, j] = signals[name]


def assemble(deal_ids: pa.Array, context: dict[str, pd.Categorical], deal: np.ndarray,
             as_of_ms: np.ndarray, values: np.ndarray, steps: np.ndarray,
             passthrough: pd.DataFrame | None, *, custom: dict[str, np.ndarray] | None = None,
             profile: PipelineProfile | None = None) -> pd.DataFrame:
    """The output frame: ids, as_of, passed-through columns, then the schema's features.

    ``context`` holds the categorical context columns (standard and custom) over all deals,
    ``custom`` the profile's numeric custom fields per deal.
    """
    parts = [pd.DataFrame({
        "deal_id": pd.Series(deal_ids.take(pa.array(deal)), dtype=_STR),
        "as_of": pd.Series(pd.to_datetime(as_of_ms, unit="ms", utc=True),
                           dtype="datetime64[ms, UTC]")})]
    if passthrough is not None:
        parts.append(passthrough.reset_index(drop=True))
    step_codes = np.where(steps >= 0, steps, np.where(steps == -1, _LOST, _UNKNOWN))
    parts.append(pd.DataFrame({"current_step": pd.Categorical.from_codes(
        step_codes, categories=STEP_CATEGORIES)}))
    parts.append(pd.DataFrame(values, columns=_NUMERIC, copy=False))
    parts.append(pd.DataFrame({c: _take_categories(context[c], deal)
                               for c in CONTEXT_CATEGORIES}))
    if profile is not None and profile.context:
        parts.append(pd.DataFrame({
            c.name: (_take_categories(context[c.name], deal) if c.kind == "category"
                     else np.asarray(custom[c.name], dtype=np.float32)[deal])  # type: ignore[index]
            for c in profile.context}))
    return pd.concat(parts, axis=1)


def _take_categories(categorical: pd.Categorical, rows: np.ndarray) -> pd.Categorical:
    taken = pd.Categorical.from_codes(categorical.codes[rows], dtype=categorical.dtype)
    return taken.remove_unused_categories()


def compute_signals(enc: EncodedHistories, peers: PeerStats, deal: np.ndarray,
                    as_of: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every numeric signal for query rows, plus the current step code (shared with live).

    The features the profile leaves out are NaN.
    """
    stage, step = stage_signals(enc, deal, as_of, peers)
    commitment, amount = commitment_signals(enc, deal, as_of)
    signals = {**stage, **engagement_signals(enc, deal, as_of), **commitment,
               **context_signals(enc, deal, as_of, peers, amount)}
    for name in enc.profile.left_out():
        signals[name] = np.full(len(deal), np.nan)
    return signals, step


def _resolve(enc: EncodedHistories | HistoryArrays, as_of: AsOfSpec
             ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
    if isinstance(as_of, pd.DataFrame):
        missing = {"deal_id", "as_of"} - set(as_of.columns)
        if missing:
            raise ValueError(f"as-of table lacks column(s) {sorted(missing)}")
        if as_of["as_of"].dt.tz is None:
            raise ValueError("as-of table's `as_of` must be timezone-aware (UTC)")
        pos = codes(as_of["deal_id"], pd.Index(enc.deal_ids.astype(str), dtype="str"))
        t = to_ms(as_of["as_of"])
        keep = (pos >= 0) & (t < NEVER_MS)
        keep[keep] = enc.created_ms[pos[keep]] <= t[keep]
        rest = as_of.drop(columns=["deal_id", "as_of"])[keep].reset_index(drop=True)
        return pos[keep].astype(np.int64), t[keep], rest
    stamp = pd.Timestamp(as_of)
    if stamp.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    t = int(stamp.tz_convert("UTC").value // 1_000_000)
    deal = np.flatnonzero((enc.created_ms <= t) & (enc.closed_ms > t))
    return deal.astype(np.int64), np.full(len(deal), t, dtype=np.int64), None
