"""Validation that loses nothing: raw text tables in, canonical tables plus a rejection log out.

Every raw row ends either in a canonical table or in the rejection log with its reason; good rows
go on when some rows are bad.  Rules (each a reason in :data:`~features.ingest.rejections.REASONS`):

- required fields present (a deal needs its id, owner and creation time; amount, account and
  close date are optional and kept as missing when empty); timestamps parse under the rule in
  :mod:`features.ingest.parsing`;
- no timestamp after the export time; no event before its deal was created;
- ids unique (the first occurrence is kept, later ones rejected);
- amounts are non-negative numbers written as the journey config's ``numbers`` say (a currency
  code or symbol in the amount fills a missing currency and must agree with a given one);
  stages are in the stage map; activity types in the type map;
- a closed deal has an outcome (won, lost or no decision); an open deal has none, and no close
  time or loss reason;
- child rows (stages, activities, contacts, field changes) refer to an accepted deal (an
  unmatched id whose length differs from the deals' ids says so).

Rows are *skipped* rather than rejected when they are read on purpose and not kept (a change of a
field dealrisk does not use; rows a reader marked with ``_skip``): no error, but still reported.
Empty text is missing (``NaN``) in every canonical column.

A closed deal without an explicit close time takes the time it entered its closed stage, else its
close date; an outcome for a closed-lost stage comes from the loss-reason map.

Example:
    >>> import pandas as pd
    >>> from features.journey import JourneyConfig
    >>> from features.ingest.raw import RAW_COLUMNS, RawTable
    >>> deals = pd.DataFrame({"deal_id": ["d1", "d1"], "account_id": ["a", "a"],
    ...     "owner_id": ["o", "o"], "created_at": ["2024-01-01T00:00:00Z"] * 2,
    ...     "amount": ["100", "100"], "_file": "deals.csv", "_row": [1, 2]})
    >>> result = validate_tables({"deals": RawTable("deals", deals)}, JourneyConfig.default(),
    ...                          pd.Timestamp("2024-06-01", tz="UTC"))
    >>> len(result.histories.deals), result.rejections["reason"].tolist()
    (1, ['duplicate_id'])

"""

from __future__ import annotations

import pandas as pd

from features.contract import DIRECTIONS, TABLES_BY_NAME, TRACKED_FIELDS
from features.histories import DealHistories
from features.ingest.parsing import (
    amount_currencies,
    blank,
    is_in,
    map_distinct,
    parse_amounts,
    parse_bools,
    parse_timestamps,
)
from features.ingest.raw import RAW_COLUMNS, SKIP, SKIP_DETAIL, RawTable
from features.ingest.rejections import SKIP_REASONS, RejectionLog
from features.ingest.result import IngestResult, count_rows
from features.journey import JourneyConfig, NumberFormat
from features.profile import PipelineProfile

_OUTCOME_ALIASES = {"won": "won", "lost": "lost", "no_decision": "no_decision",
                    "no decision": "no_decision", "nodecision": "no_decision"}


class _Work:
    """A raw table being validated: a frame that shrinks as rows are rejected into the log."""

    def __init__(self, raw: RawTable, log: RejectionLog, skipped: RejectionLog) -> None:
        self.raw = raw
        self.df = raw.frame.copy()
        for column in RAW_COLUMNS[raw.table]:
            if column not in self.df.columns:
                self.df[column] = pd.Series("", index=self.df.index, dtype="str")
        self.log = log
        self.skipped = skipped
        if SKIP in self.df.columns:  # rows the reader read on purpose and does not keep
            reason = self.text(SKIP)
            for why in reason[~blank(reason)].unique():
                self.skip(reason == why, "deal_id", str(why), detail=self.text(SKIP_DETAIL))

    def reject(self, mask: pd.Series, column: str, reason: str,
               detail: pd.Series | str | None = None, values: pd.Series | None = None) -> None:
        self._drop(self.log, mask, column, reason, detail, values)

    def skip(self, mask: pd.Series, column: str, reason: str,
             detail: pd.Series | str | None = None, values: pd.Series | None = None) -> None:
        """Move rows to the skip log (read on purpose, not kept, not an error)."""
        self._drop(self.skipped, mask, column, reason, detail, values)

    def _drop(self, log: RejectionLog, mask: pd.Series, column: str, reason: str,
              detail: pd.Series | str | None, values: pd.Series | None) -> None:
        mask = mask.reindex(self.df.index, fill_value=False).astype(bool)
        if not mask.any():
            return
        rows = self.df[mask]
        shown = values[mask] if values is not None else self.raw.text(column).reindex(rows.index)
        detail_rows = detail[mask] if isinstance(detail, pd.Series) else detail
        if isinstance(detail_rows, pd.Series) and (detail_rows == "").all():
            detail_rows = None
        files = rows["_file"].astype("str")
        for file in files.unique() if self.raw.file_columns else [None]:
            part = files == file if file is not None else slice(None)
            log.add(rows[part], column=self.raw.label(column, file), values=shown[part],
                    reason=reason, detail=detail_rows[part] if isinstance(detail_rows, pd.Series)
                    else detail_rows)
        self.df = self.df[~mask]

    def text(self, column: str) -> pd.Series:
        if column in self.df.columns:
            return self.df[column].astype("str").fillna("")
        return pd.Series("", index=self.df.index, dtype="str")

    def require(self, columns: list[str]) -> None:
        for col in columns:
            self.reject(blank(self.text(col)), col, "missing_value")

    def timestamp(self, column: str, naive_tz: str | None, required: bool = True,
                  event: bool = True) -> pd.Series:
        """Parse ``column`` in place, rejecting unparseable rows; returns the parsed column.

        An ``event`` time given as a date alone is the end of that day (known once it is over).
        """
        if required:
            self.require([column])
        parsed, problem = parse_timestamps(self.text(column), naive_tz,
                                           "end" if event else "start")
        for reason in problem.dropna().unique():
            self.reject(problem == reason, column, str(reason))
        self.df[column] = parsed.reindex(self.df.index)
        return self.df[column]

    def unique(self, column: str) -> None:
        ids = self.text(column)
        dup = ids.duplicated(keep="first") & ~blank(ids)
        if dup.any():
            first_row = self.df.groupby(ids, sort=False)["_row"].transform("first")
            detail = "id already used at row " + first_row.astype("str")
            self.reject(dup, column, "duplicate_id", detail=detail)

    def not_after(self, column: str, export_time: pd.Timestamp) -> None:
        late = self.df[column].notna() & (self.df[column] > export_time)
        self.reject(late, column, "after_export_time",
                    detail=f"later than the export time {export_time.isoformat()}")


def validate_tables(
    raw: dict[str, RawTable], config: JourneyConfig, export_time: pd.Timestamp,
    profile: PipelineProfile | None = None,
) -> IngestResult:
    """Validate raw tables into canonical :class:`DealHistories`, rejection and skip logs.

    ``profile`` (what the source records; default: everything) goes with the histories; its
    context fields are extra deal columns, parsed as numbers or kept as text.
    """
    export_time = pd.Timestamp(export_time).tz_convert("UTC")
    profile = profile or PipelineProfile()
    log, skipped = RejectionLog(), RejectionLog(SKIP_REASONS)
    tz = config.timestamps.naive_timezone
    empty = {name: RawTable(name, pd.DataFrame({"_file": pd.Series(dtype="str"),
                                                "_row": pd.Series(dtype="int64")}))
             for name in TABLES_BY_NAME}
    raw = {**empty, **raw}

    stages = _Work(raw["stage_history"], log, skipped)
    stages.require(["deal_id", "crm_stage"])
    stages.timestamp("entered_at", tz)
    stages.unique("source_id")
    _map_stages(stages, config)

    deals = _validate_deals(_Work(raw["deals"], log, skipped), config, export_time, stages.df)
    _parse_context(deals, profile, config.numbers)
    known = deals.df.set_index("deal_id")["created_at"]
    rejected_deals = _rejected_deal_details(raw["deals"], log)

    _check_children(stages, "entered_at", known, rejected_deals, export_time)
    activities = _validate_activities(_Work(raw["activities"], log, skipped), tz)
    _check_children(activities, "occurred_at", known, rejected_deals, export_time,
                    recorded_col="recorded_at")
    contacts = _Work(raw["contacts"], log, skipped)
    contacts.require(["deal_id", "contact_id", "role"])
    contacts.timestamp("added_at", tz, required=False)
    contacts.unique("source_id")
    if "is_primary" in contacts.df.columns:
        contacts.df["is_primary"] = parse_bools(contacts.text("is_primary"))[0]
    _check_children(contacts, "added_at", known, rejected_deals, export_time)
    changes = _validate_field_history(_Work(raw["field_history"], log, skipped), tz,
                                      config.numbers)
    _check_children(changes, "changed_at", known, rejected_deals, export_time)

    works = {"deals": deals, "stage_history": stages, "activities": activities,
             "contacts": contacts, "field_history": changes}
    histories = DealHistories(**{name: _missing_text(_ordered(w.df, name))
                                 for name, w in works.items()}, profile=profile).conformed()
    rejections, skips = log.frame(), skipped.frame()
    counts = count_rows({n: raw[n].frame for n in works}, {n: w.df for n, w in works.items()},
                        rejections, skips)
    return IngestResult(histories, rejections, counts, export_time, skipped=skips)


def _map_stages(stages: _Work, config: JourneyConfig) -> None:
    crm = stages.text("crm_stage")
    mapped = map_distinct(crm, config.stage)
    stages.reject(mapped.isna(), "crm_stage", "unknown_stage",
                  detail="stage is not in the journey config's `stages` map")
    mapped = mapped[stages.df.index]
    stages.df["step"] = map_distinct(mapped, lambda m: m.step).astype("str")
    stages.df["status"] = map_distinct(mapped, lambda m: m.status).astype("str")


def _validate_deals(deals: _Work, config: JourneyConfig, export_time: pd.Timestamp,
                    stages: pd.DataFrame) -> _Work:
    tz = config.timestamps.naive_timezone
    deals.require(["deal_id", "owner_id"])
    deals.timestamp("created_at", tz)
    _parse_deal_amounts(deals, config.numbers)
    deals.unique("deal_id")
    deals.not_after("created_at", export_time)
    deals.timestamp("expected_close_date", tz, required=False, event=False)
    deals.timestamp("closed_at", tz, required=False)
    deals.not_after("closed_at", export_time)
    early = deals.df["closed_at"].notna() & (deals.df["closed_at"] < deals.df["created_at"])
    deals.reject(early, "closed_at", "before_deal_created", detail="closed before it was created")
    _decide_outcomes(deals, config)
    _fill_close_times(deals, stages, export_time, tz)
    return deals


def _parse_deal_amounts(deals: _Work, numbers: NumberFormat) -> None:
    """Amounts as numbers (empty stays missing).

    A currency named in the amount fills a missing currency and must agree with a given one.
    """
    text = deals.text("amount")
    amounts, bad = parse_amounts(text, numbers)
    deals.reject(bad, "amount", "bad_amount", detail=_amount_detail(numbers))
    named = amount_currencies(deals.text("amount"), numbers)
    given = deals.text("currency").str.strip().str.upper()
    clash = named.notna() & ~blank(given) & (named != given)
    deals.reject(clash, "amount", "bad_amount",
                 detail="the amount names " + named.astype("str") + " but the currency is "
                 + given)
    idx = deals.df.index
    deals.df["amount"] = amounts.reindex(idx)
    deals.df["currency"] = given[idx].where(~blank(given[idx]), named[idx])


def _amount_detail(numbers: NumberFormat) -> str:
    return (f"amount is negative or not a number written with decimal {numbers.decimal!r} and "
            f"thousands {numbers.thousands!r} (journey config `numbers`)")


def _parse_context(deals: _Work, profile: PipelineProfile, numbers: NumberFormat) -> None:
    """The profile's context fields: numbers parsed (a bad one is rejected), categories text."""
    for ctx in profile.context:
        if ctx.kind != "number":
            continue
        text = deals.text(ctx.name).str.strip()
        values, bad = parse_amounts(text.str.lstrip("-"), numbers)
        negative = text.str.startswith("-")
        deals.reject(bad, ctx.name, "bad_value",
                     detail=f"context field {ctx.name} must be a number")
        deals.df[ctx.name] = values.where(~negative, -values).reindex(deals.df.index)


def _decide_outcomes(deals: _Work, config: JourneyConfig) -> None:
    crm = deals.text("crm_stage")
    has_stage = ~blank(crm)
    mapped = map_distinct(crm.where(has_stage),
                          lambda s: config.stage(s) if isinstance(s, str) else None)
    deals.reject(has_stage & mapped.isna(), "crm_stage", "unknown_stage",
                 detail="stage is not in the journey config's `stages` map")
    status = map_distinct(mapped[deals.df.index], lambda m: m.status if m is not None else None)

    raw_outcome = deals.text("outcome").str.strip().str.lower()
    outcome = raw_outcome.map(_OUTCOME_ALIASES)
    deals.reject(~blank(raw_outcome) & outcome.isna(), "outcome", "bad_value",
                 detail="outcome must be won, lost or no_decision")
    is_closed, bad_flag = parse_bools(deals.text("is_closed"))
    deals.reject(bad_flag, "is_closed", "bad_value", detail="expected true or false")

    idx = deals.df.index
    status, outcome, is_closed = status[idx], outcome[idx], is_closed[idx]
    reason = deals.text("close_reason")
    lost_outcome = map_distinct(reason,
                                lambda r: config.outcome_for_loss_reason(r.strip() or None))
    derived = outcome.copy()
    derived[derived.isna() & (status == "won")] = "won"
    fill_lost = derived.isna() & (status == "lost")
    derived[fill_lost] = lost_outcome[fill_lost]

    # Without an explicit is_closed flag, a closed stage, an outcome or a close time means closed.
    implicit_open = (is_closed.isna() & ~status.isin(["won", "lost"]) & outcome.isna()
                     & deals.df["closed_at"].isna())
    says_open = ((is_closed == False) | implicit_open).fillna(False).astype(bool)  # noqa: E712
    signals = (("crm_stage", status.isin(["won", "lost"]), "its stage is closed"),
               ("outcome", outcome.notna(), "it has an outcome"),
               ("close_reason", ~blank(reason), "it has a loss reason"),
               ("closed_at", deals.df["closed_at"].notna(), "it has a close time"))
    for column, signal, what in signals:
        deals.reject(says_open & signal, column, "open_with_outcome",
                     detail=f"deal is open but {what}")
    idx = deals.df.index
    says_open, derived = says_open[idx], derived[idx]
    deals.reject(~says_open & derived.isna(), "crm_stage", "closed_without_outcome",
                 detail="deal is closed but its stage is open and no outcome is given")
    idx = deals.df.index
    deals.df["outcome"] = derived[idx].where(~says_open[idx]).astype("str")
    reason = deals.text("close_reason").str.strip()
    deals.df["close_reason"] = reason.where(deals.df["outcome"].notna() & ~blank(reason))


def _fill_close_times(deals: _Work, stages: pd.DataFrame, export_time: pd.Timestamp,
                      naive_timezone: str | None) -> None:
    closed_rows = stages[stages["status"].isin(["won", "lost"])]
    entered = closed_rows.groupby("deal_id")["entered_at"].max()
    df = deals.df
    closed = df["outcome"].notna()
    fill = closed & df["closed_at"].isna()
    guess = _lookup(df["deal_id"], entered, df["closed_at"].dtype)
    # the close date as the time of an event: a date alone is known once its day is over
    close_event, _ = parse_timestamps(deals.raw.text("expected_close_date").reindex(df.index),
                                      naive_timezone, "end")
    guess = guess.fillna(close_event)
    guess = guess.clip(lower=df["created_at"], upper=export_time)
    df.loc[fill, "closed_at"] = guess[fill]
    deals.reject(closed & df["closed_at"].isna(), "closed_at", "closed_without_outcome",
                 detail="deal is closed but has no close time, closed stage entry or close date")


def _rejected_deal_details(raw_deals: RawTable, log: RejectionLog) -> pd.Series:
    rej = log.frame()
    files = set(raw_deals.frame["_file"].unique()) if len(raw_deals.frame) else set()
    rej = rej[rej["file"].isin(files)]
    key = raw_deals.frame.set_index(["_file", "_row"])["deal_id"] if files else pd.Series()
    ids = key.reindex(pd.MultiIndex.from_arrays([rej["file"], rej["row"]])).to_numpy()
    details = ("deal rejected at " + rej["file"] + " row " + rej["row"].astype("str")
               + " (" + rej["reason"] + ")")
    out = pd.Series(details.to_numpy(), index=ids, dtype="str")
    return out[~out.index.duplicated(keep="first")]


def _check_children(work: _Work, time_col: str, known: pd.Series, rejected: pd.Series,
                    export_time: pd.Timestamp, recorded_col: str | None = None) -> None:
    """Deal exists, event not before the deal's creation, not after the export time.

    With ``recorded_col`` (activities), a row recorded by the export time may occur later: a
    booked future meeting is known, so only its recording time is checked against the export.
    """
    ids = work.text("deal_id")
    unknown = ~is_in(ids, known.index)
    if unknown.any():  # details for the rejected rows only (exports have millions of rows)
        missing = ids[unknown]
        detail = _lookup(missing, rejected, "str").fillna(
            "no deal with this id" + _length_hint(missing, known.index))
        work.reject(unknown, "deal_id", "unknown_deal", detail=detail.reindex(ids.index))
    created = _lookup(work.df["deal_id"], known, known.dtype)
    early = work.df[time_col] < created
    if early.any():
        work.reject(early, time_col, "before_deal_created",
                    detail=("deal created at " + created[early].astype("str")).reindex(
                        created.index))
    if recorded_col is None:
        work.not_after(time_col, export_time)
        return
    recorded = work.df[recorded_col]
    work.not_after(recorded_col, export_time)
    late = recorded.reindex(work.df.index).isna() & (work.df[time_col] > export_time)
    work.reject(late, time_col, "after_export_time",
                detail=f"later than the export time {export_time.isoformat()}")


def _length_hint(ids: pd.Series, known: pd.Index) -> pd.Series | str:
    """" (the deals have 18-character ids, this one has 15)" where an id's length is unusual."""
    if not len(known) or not len(ids):
        return ""
    usual = int(pd.Series(known.astype("str")).str.len().mode().iloc[0])
    length = ids.str.len()
    return pd.Series(
        [f" (the deals have {usual}-character ids, this one has {n})" if n != usual else ""
         for n in length.to_numpy()], index=ids.index, dtype="str")


def _validate_activities(acts: _Work, tz: str | None) -> _Work:
    acts.require(["activity_id", "deal_id"])
    acts.timestamp("occurred_at", tz)
    acts.timestamp("recorded_at", tz, required=False)
    acts.unique("activity_id")
    acts.reject(~is_in(acts.text("direction"), DIRECTIONS), "direction", "bad_value",
                detail=f"direction must be one of {', '.join(DIRECTIONS)}")
    acts.reject(blank(acts.text("type")), "type", "unknown_type",
                detail="activity type is not in the journey config's activity `types` map",
                values=acts.text("type_raw"))
    return acts


def _validate_field_history(changes: _Work, tz: str | None, numbers: NumberFormat) -> _Work:
    field = changes.text("field")
    shown = changes.text("field_raw").where(~blank(changes.text("field_raw")), field)
    changes.skip(~is_in(field, TRACKED_FIELDS), "field", "untracked_field",
                 detail="dealrisk reads the close date and amount history only", values=shown)
    changes.require(["change_id", "deal_id"])
    changes.timestamp("changed_at", tz)
    changes.unique("change_id")
    is_date = changes.text("field") == "close_date"
    for side in ("old", "new"):
        text = changes.text(f"{side}_value")
        dates, problem = parse_timestamps(text.where(is_date, ""), tz)
        for reason in problem.dropna().unique():
            changes.reject(problem == reason, f"{side}_value", str(reason))
        amounts, bad = parse_amounts(text.where(~is_date, ""), numbers)
        changes.reject(bad, f"{side}_value", "bad_amount", detail=_amount_detail(numbers))
        idx = changes.df.index
        changes.df[f"{side}_close_date"] = dates[idx]
        changes.df[f"{side}_amount"] = amounts[idx]
    missing_new = changes.df["new_close_date"].isna() & changes.df["new_amount"].isna()
    changes.reject(missing_new, "new_value", "missing_value")
    return changes


def _lookup(keys: pd.Series, table: pd.Series, dtype: object) -> pd.Series:
    """``table[key]`` for every key (missing where absent), typed ``dtype``, on ``keys``' index."""
    if table.empty:
        return pd.Series(pd.NaT if "datetime" in str(dtype) else pd.NA, index=keys.index,
                         dtype=dtype)
    values = table.reindex(keys.to_numpy())
    # .array keeps the time zone (to_numpy() of an all-NaT tz-aware column loses it)
    return pd.Series(values.array, index=keys.index).astype(dtype)


def _missing_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty or whitespace-only text is missing (NaN) in every text column."""
    out = frame.copy()
    for column in out.columns:
        if column.startswith("_") or not pd.api.types.is_string_dtype(out[column]):
            continue
        values = out[column]
        out[column] = values.where(~blank(values))
    return out


def _ordered(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    spec = TABLES_BY_NAME[table]
    keys = ["deal_id", spec.time_index] if table != "deals" else ["deal_id"]
    return frame.sort_values([*keys, "_file", "_row"], kind="stable")
