"""The rejection and skip logs: every input row that did not make it into the canonical tables.

A *rejected* row is an error in the export (a bad value, an unknown deal); a *skipped* row is
read on purpose and not kept, with no error (a change of a field dealrisk does not use, an email
record whose only content went into its task).  Both logs say why.

Rows are identified by their source file and their *row number*: 1 is the first data row after
the header (for a CSV without embedded line breaks, the file line is row + 1).

Example:
    >>> import pandas as pd
    >>> log = RejectionLog()
    >>> rows = pd.DataFrame({"_file": ["Opportunity.csv"], "_row": [7], "amount": ["-5"]})
    >>> log.add(rows, column="Amount", values=rows["amount"], reason="bad_amount",
    ...         detail="amount is negative")
    >>> log.frame()[["file", "row", "column", "value", "reason"]].to_dict("records")[0]["reason"]
    'bad_amount'

"""

from __future__ import annotations

import pandas as pd

#: Every reason a row can be rejected for, with the explanation printed in reports.
REASONS: dict[str, str] = {
    "missing_value": "a required field is empty",
    "bad_timestamp": "timestamp cannot be parsed (expected ISO 8601)",
    "timestamp_without_timezone": "date-time has no UTC offset (see timestamps.naive_timezone)",
    "after_export_time": "timestamp is later than the export time",
    "before_deal_created": "event happened before its deal was created",
    "unknown_deal": "refers to a deal that is not in the accepted deals",
    "duplicate_id": "id already used by an earlier row",
    "bad_amount": "amount is negative or not a number",
    "unknown_stage": "stage is missing from the stage map",
    "closed_without_outcome": "deal is closed but has no won/lost/no-decision outcome",
    "open_with_outcome": "deal is open but carries an outcome, close time or loss reason",
    "bad_value": "value is not one of the allowed values",
    "unknown_type": "activity type is missing from the activity type map",
    "unknown_lifecycle": "event log: lifecycle transition is not one the mapping lists",
    "out_of_order": "event log: event is earlier than its case's previous event",
    "no_events": "event log: the case has no events",
    "outside_trace": "event log: an event outside any trace (it belongs to no case)",
}

#: The reasons only an event log's rows can be rejected for (:mod:`features.ingest.eventlog`).
EVENTLOG_REASONS: tuple[str, ...] = ("unknown_lifecycle", "out_of_order", "no_events",
                                     "outside_trace")

#: Every reason a row can be skipped for (read, used or not needed, and not an error).
SKIP_REASONS: dict[str, str] = {
    "untracked_field": "a field-history row for a field dealrisk does not use (not an error)",
    "merged": "its content was merged into another row (the detail says which)",
    "not_linked": "not linked to any deal (nothing to learn from it)",
    "unreferenced": "a side-table row no row of its table refers to",
    "unused_activity": "event log: an activity the mapping does not use (not an error)",
    "unused_lifecycle": "event log: a lifecycle transition the mapping does not count",
    "after_outcome": "event log: an outcome event after the case's first one",
}

REPORT_COLUMNS = ["file", "row", "column", "value", "reason", "detail"]


class RejectionLog:
    """Collects rejected (or, with ``reasons=SKIP_REASONS``, skipped) rows with their reason."""

    def __init__(self, reasons: dict[str, str] | None = None) -> None:
        self._parts: list[pd.DataFrame] = []
        self.reasons = REASONS if reasons is None else reasons

    def add(
        self,
        rows: pd.DataFrame,
        *,
        column: str,
        values: pd.Series | str,
        reason: str,
        detail: pd.Series | str | None = None,
    ) -> None:
        """Record ``rows`` (which carry ``_file`` and ``_row``) as rejected for ``reason``."""
        if reason not in self.reasons:
            raise ValueError(f"unknown reason {reason!r}")
        if rows.empty:
            return
        self._parts.append(
            pd.DataFrame(
                {
                    "file": rows["_file"].astype("str").to_numpy(),
                    "row": rows["_row"].astype("int64").to_numpy(),
                    "column": column,
                    "value": _as_text(values, rows.index),
                    "reason": reason,
                    "detail": _as_text(detail if detail is not None else self.reasons[reason],
                                       rows.index),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        """All rejections, ordered by file and row."""
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str")
                                 for c in REPORT_COLUMNS})
        out = pd.concat(self._parts, ignore_index=True)
        return out.sort_values(["file", "row"], kind="stable").reset_index(drop=True)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)


def _as_text(values: pd.Series | str, index: pd.Index) -> object:
    if isinstance(values, pd.Series):
        return values.reindex(index).astype("str").fillna("").to_numpy()
    return values
