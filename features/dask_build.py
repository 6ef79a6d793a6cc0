"""Scale-out: the same feature function over Dask DataFrames partitioned by ``deal_id``.

Each canonical table is shuffled on ``deal_id`` into the same number of partitions, so partition
*i* of every table holds exactly the rows of the same deals; :func:`features.build.build_features`
then runs on each partition with peer references built once from all deals (so owner and
won-deal references are global, exactly as in the pandas path).  The result equals what pandas
returns, row for row.

To use an existing cluster, connect a client first (``Client("tcp://scheduler:8786")``) and pass
it; without one, the current default client or Dask's default scheduler is used.

Example:
    >>> partitions_for(1_000_000)
    20
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask
import dask.dataframe as dd
import pandas as pd

from features.build import AsOfSpec, build_features
from features.contract import TABLES_BY_NAME
from features.histories import DealHistories
from features.peers import PeerStats
from features.profile import PipelineProfile
from features.schema import CONTEXT_CATEGORIES

if TYPE_CHECKING:
    from distributed import Client

DEALS_PER_PARTITION = 50_000


def partitions_for(n_deals: int) -> int:
    """A partition count keeping about :data:`DEALS_PER_PARTITION` deals per partition."""
    return max(1, -(-n_deals // DEALS_PER_PARTITION))


def to_dask(histories: DealHistories, npartitions: int) -> dict[str, dd.DataFrame]:
    """Canonical tables as Dask DataFrames (not yet partitioned by deal)."""
    return {name: dd.from_pandas(frame, npartitions=max(1, min(npartitions, len(frame) or 1)))
            for name, frame in histories.tables().items()}


def build_features_dask(tables: dict[str, dd.DataFrame] | DealHistories, as_of: AsOfSpec, *,
                        npartitions: int | None = None, peers: PeerStats | None = None,
                        client: Client | None = None,
                        profile: PipelineProfile | None = None) -> pd.DataFrame:
    """:func:`~features.build.build_features` computed partition by partition on Dask.

    ``profile`` is the pipeline's (default: that of ``tables`` when they are histories, else
    the default profile).
    """
    if isinstance(tables, DealHistories):
        profile = profile or tables.profile
        npartitions = npartitions or partitions_for(len(tables.deals))
        tables = to_dask(tables, npartitions)
    profile = profile or PipelineProfile()
    npartitions = npartitions or tables["deals"].npartitions
    if peers is None:
        peers = _global_peers(tables)
    parts = [_by_deal(tables[name], npartitions) for name in TABLES_BY_NAME]
    if isinstance(as_of, pd.DataFrame):
        pairs = _by_deal(dd.from_pandas(as_of, npartitions=npartitions), npartitions)
        result = dd.map_partitions(_partition_pairs, *parts, pairs, peers=dask.delayed(peers),
                                   profile=profile, align_dataframes=False,
                                   meta=_meta(as_of, profile))
    else:
        result = dd.map_partitions(_partition_time, *parts, as_of=as_of,
                                   peers=dask.delayed(peers), profile=profile,
                                   align_dataframes=False, meta=_meta(None, profile))
    frame = client.compute(result).result() if client is not None else result.compute()
    return _finish(frame, profile)


def _by_deal(frame: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    return frame.shuffle(on="deal_id", npartitions=npartitions)


def _global_peers(tables: dict[str, dd.DataFrame]) -> PeerStats:
    deals = tables["deals"].compute()
    won = set(deals.loc[deals["outcome"] == "won", "deal_id"].astype("str"))
    stages = tables["stage_history"]
    won_stages = stages[stages["deal_id"].isin(list(won))].compute() if won else \
        TABLES_BY_NAME["stage_history"].empty()
    empty = DealHistories.empty()
    return PeerStats.from_histories(DealHistories(
        deals=TABLES_BY_NAME["deals"].conform(deals),
        stage_history=TABLES_BY_NAME["stage_history"].conform(won_stages),
        activities=empty.activities, contacts=empty.contacts,
        field_history=empty.field_history))


def _histories(frames: tuple[pd.DataFrame, ...], profile: PipelineProfile) -> DealHistories:
    return DealHistories(**dict(zip(TABLES_BY_NAME, frames, strict=True)),
                         profile=profile).conformed()


def _partition_time(*frames: pd.DataFrame, as_of: pd.Timestamp, peers: PeerStats,
                    profile: PipelineProfile) -> pd.DataFrame:
    return _plain(build_features(_histories(frames, profile), as_of, peers=peers))


def _partition_pairs(*frames: pd.DataFrame, peers: PeerStats, profile: PipelineProfile
                     ) -> pd.DataFrame:
    *tables, pairs = frames
    return _plain(build_features(_histories(tuple(tables), profile),
                                 pairs.reset_index(drop=True), peers=peers))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text, so partitions with different category sets concatenate cleanly."""
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype("str")
    return frame


def _meta(pairs: pd.DataFrame | None, profile: PipelineProfile) -> pd.DataFrame:
    empty = build_features(DealHistories.empty(profile),
                           pairs.iloc[:0] if pairs is not None else pd.Timestamp(0, tz="UTC"))
    return _plain(empty)


def _finish(frame: pd.DataFrame, profile: PipelineProfile) -> pd.DataFrame:
    """Order and type exactly like the pandas path."""
    from features.build import STEP_CATEGORIES

    frame = frame.sort_values(["deal_id", "as_of"], kind="stable").reset_index(drop=True)
    frame["current_step"] = pd.Categorical(frame["current_step"], categories=STEP_CATEGORIES)
    custom = [c.name for c in profile.context if c.kind == "category"]
    for c in (*CONTEXT_CATEGORIES, *custom):
        values = frame[c].where(frame[c] != "nan").to_numpy(dtype=object, na_value=None)
        frame[c] = pd.Categorical(values)
    return frame
