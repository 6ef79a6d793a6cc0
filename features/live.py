"""Live scoring path: one deal's history as plain records -> its feature row at ``as_of``.

The records use the canonical column names (see :mod:`features.contract`); times may be
``datetime``/``pd.Timestamp`` objects or ISO 8601 text with an offset.  The records become
:class:`~features.encode.HistoryArrays` without pandas, then go through the *same*
:func:`~features.encode.encode_arrays` and signal functions as training snapshots, so a live row
equals the training row for the same deal and time.  The caller supplies ``as_of`` (its "now"),
the :class:`~features.peers.PeerStats` built from the training histories and the pipeline's
:class:`~features.profile.PipelineProfile` (the one the model was trained with: it decides the
features left out and the custom context fields, read from the deal record by name).

Example:
    >>> from datetime import datetime, timezone
    >>> from features.histories import DealHistories
    >>> from features.peers import PeerStats
    >>> deal = {"deal_id": "d1", "account_id": "a", "owner_id": "o", "amount": 10.0,
    ...         "created_at": "2024-01-01T00:00:00Z"}
    >>> row = live_features(deal, as_of=datetime(2024, 1, 3, tzinfo=timezone.utc),
    ...                     peers=PeerStats.from_histories(DealHistories.empty()))
    >>> row["deal_age_days"], row["current_step"]
    (2.0, 'unknown')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from features.build import STEP_CATEGORIES, compute_signals
from features.encode import ALL_ROLES, STEPS, HistoryArrays, encode_arrays
from features.peers import PeerStats
from features.profile import PipelineProfile
from features.schema import ACTIVITY_TYPES, CONTEXT_CATEGORIES
from features.timeline import NEVER_MS

Record = Mapping[str, object]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_STEP_CODE = {s: i for i, s in enumerate(STEPS)}
_TYPE_CODE = {t: i for i, t in enumerate(ACTIVITY_TYPES)}
_ROLE_CODE = {r: i for i, r in enumerate(ALL_ROLES)}


def to_ms(value: object) -> int:
    """Milliseconds since the epoch for a timezone-aware time or ISO text (NEVER if empty).

    Example:
        >>> to_ms("1970-01-01T00:00:01.5Z")
        1500
    """
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise ValueError(f"time {value!r} must be timezone-aware (e.g. ...Z or +01:00)")
        return value.value // 1_000_000
    if value is None or value == "" or value != value:
        return int(NEVER_MS)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"time {value!r} must be timezone-aware (e.g. ...Z or +01:00)")
    return (value - _EPOCH) // _MS


def live_features(deal: Record, stages: Sequence[Record] = (),
                  activities: Sequence[Record] = (), contacts: Sequence[Record] = (),
                  changes: Sequence[Record] = (), *, as_of: datetime | str,
                  peers: PeerStats, profile: PipelineProfile | None = None
                  ) -> dict[str, object]:
    """The feature row of one deal at ``as_of``: feature name -> value, in schema order."""
    return live_feature_rows(deal, stages, activities, contacts, changes, as_of=[as_of],
                             peers=peers, profile=profile)[0]


def live_feature_rows(deal: Record, stages: Sequence[Record] = (),
                      activities: Sequence[Record] = (), contacts: Sequence[Record] = (),
                      changes: Sequence[Record] = (), *, as_of: Sequence[datetime | str],
                      peers: PeerStats, profile: PipelineProfile | None = None
                      ) -> list[dict[str, object]]:
    """The feature rows of one deal at several times (its history encoded once).

    Row ``i`` is what :func:`live_features` gives at ``as_of[i]`` (a scoring service asks for
    "now" and "a week ago" to show the trend).

    Example:
        >>> from features.histories import DealHistories
        >>> deal = {"deal_id": "d1", "account_id": "a", "owner_id": "o", "amount": 10.0,
        ...         "created_at": "2024-01-01T00:00:00Z"}
        >>> rows = live_feature_rows(deal, as_of=["2024-01-03T00:00:00Z", "2024-01-02T00:00Z"],
        ...                          peers=PeerStats.from_histories(DealHistories.empty()))
        >>> [r["deal_age_days"] for r in rows]
        [2.0, 1.0]
    """
    profile = profile or PipelineProfile()
    arrays = arrays_from_records(deal, stages, activities, contacts, changes, profile)
    enc = encode_arrays(arrays)
    t = np.array([to_ms(when) for when in as_of], dtype=np.int64)
    signals, step = compute_signals(enc, peers, np.zeros(len(t), dtype=np.int64), t)
    context = {c: arrays.context[c][0] for c in CONTEXT_CATEGORIES}
    custom = {name: values[0] for name, values in arrays.custom.items()}
    schema = profile.schema()
    numeric = [f.name for f in schema if f.dtype != "category"]
    values = np.empty((len(t), len(numeric)), dtype=np.float32)  # what the model is fed
    for k, name in enumerate(numeric):
        values[:, k] = custom[name] if name in custom else signals[name]
    rows = []
    for i, row_values in enumerate(values.tolist()):
        code = int(step[i])
        known = {"current_step": STEP_CATEGORIES[code] if code >= 0 else
                 ("lost" if code == -1 else "unknown"), **context, **custom,
                 **dict(zip(numeric, row_values, strict=True))}
        rows.append({f.name: known[f.name] for f in schema})
    return rows


def arrays_from_records(deal: Record, stages: Sequence[Record], activities: Sequence[Record],
                        contacts: Sequence[Record], changes: Sequence[Record],
                        profile: PipelineProfile | None = None) -> HistoryArrays:
    """One deal's records as :class:`HistoryArrays` (plain Python, no pandas)."""
    profile = profile or PipelineProfile()
    contact_ids: dict[object, int] = {}

    def contact_code(value: object) -> int:
        if value is None or value == "" or value != value:
            return -1
        return contact_ids.setdefault(value, len(contact_ids))

    def stage_code(r: Record) -> int:
        status = r.get("status", "open")
        if status == "won":
            return len(STEPS) - 1
        return -1 if status == "lost" else _STEP_CODE.get(str(r.get("step")), -1)

    def f64(values: list[object]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    def ms_or_nan(values: list[object]) -> np.ndarray:
        ms = np.array([to_ms(v) for v in values], dtype=np.float64)
        ms[ms >= NEVER_MS] = np.nan
        return ms

    field = [str(c.get("field")) for c in changes]
    zeros = np.zeros(len(activities), dtype=np.int64)
    return HistoryArrays(
        deal_ids=np.array([deal["deal_id"]], dtype=object),
        created_ms=np.array([to_ms(deal["created_at"])], dtype=np.int64),
        closed_ms=np.array([to_ms(deal.get("closed_at"))], dtype=np.int64),
        owner=np.array([_text(deal.get("owner_id"))], dtype=object),
        account=np.array([_text(deal.get("account_id"))], dtype=object),
        amount_latest=f64([deal.get("amount")]),
        close_date_latest_ms=ms_or_nan([deal.get("expected_close_date")]),
        context={c: np.array([_text(deal.get(c))], dtype=object) for c in CONTEXT_CATEGORIES},
        stage_deal=np.zeros(len(stages), dtype=np.int64),
        stage_ms=np.array([to_ms(r["entered_at"]) for r in stages], dtype=np.int64),
        stage_code=np.array([stage_code(r) for r in stages], dtype=np.int64),
        act_deal=zeros,
        act_occurred_ms=np.array([to_ms(r["occurred_at"]) for r in activities], dtype=np.int64),
        act_recorded_ms=np.array([to_ms(r.get("recorded_at")) for r in activities],
                                 dtype=np.int64),
        act_type=np.array([_TYPE_CODE.get(str(r.get("type")), -1) for r in activities],
                          dtype=np.int64),
        act_buyer=np.array([r.get("direction") == "buyer" for r in activities], dtype=bool),
        act_action=np.array([_has_text(r.get("action")) for r in activities], dtype=bool),
        act_contact=np.array([contact_code(r.get("contact_id")) for r in activities],
                             dtype=np.int64),
        member_deal=np.zeros(len(contacts), dtype=np.int64),
        member_contact=np.array([contact_code(r.get("contact_id")) for r in contacts],
                                dtype=np.int64),
        member_role=np.array([_ROLE_CODE.get(str(r.get("role")), -1) for r in contacts],
                             dtype=np.int64),
        member_ms=np.array([to_ms(r.get("added_at")) for r in contacts], dtype=np.int64),
        change_deal=np.zeros(len(changes), dtype=np.int64),
        change_ms=np.array([to_ms(r["changed_at"]) for r in changes], dtype=np.int64),
        change_is_close=np.array([f == "close_date" for f in field], dtype=bool),
        change_is_amount=np.array([f == "amount" for f in field], dtype=bool),
        change_old_close_ms=ms_or_nan([r.get("old_close_date") for r in changes]),
        change_new_close_ms=ms_or_nan([r.get("new_close_date") for r in changes]),
        change_old_amount=f64([r.get("old_amount") for r in changes]),
        change_new_amount=f64([r.get("new_amount") for r in changes]),
        custom={c.name: (f64([deal.get(c.name)]) if c.kind == "number"
                         else np.array([_text(deal.get(c.name))], dtype=object))
                for c in profile.context},
        profile=profile,
    )


def _has_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _text(value: object) -> object:
    if value is None or value != value or value == "":
        return np.nan
    return str(value)
