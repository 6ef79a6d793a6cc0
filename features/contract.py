"""The canonical deal-history contract: five tables keyed by ``deal_id`` with explicit event times.

Every reader (Salesforce, HubSpot, generic CSV/Parquet) produces these tables, and everything
downstream (features, training, serving) reads only these tables.  Each table names its
*time index*: the column that says when a row became known.  Columns that become known later than
the row itself (a deal's outcome, close reason and close time) name the column from which they are
known (``known_from``) so point-in-time code can blank them before that time.

Example:
    >>> from features.contract import DEALS, TABLES
    >>> DEALS.time_index
    'created_at'
    >>> DEALS.column("outcome").known_from
    'closed_at'
    >>> [t.name for t in TABLES]
    ['deals', 'stage_history', 'activities', 'contacts', 'field_history']

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

Kind = Literal["str", "datetime", "float", "bool"]

#: pandas dtype used for each column kind in the canonical tables.
PANDAS_DTYPES: dict[str, str] = {
    "str": "str",
    "datetime": "datetime64[us, UTC]",
    "float": "float64",
    "bool": "boolean",
}

OUTCOMES: tuple[str, ...] = ("won", "lost", "no_decision")
STAGE_STATUSES: tuple[str, ...] = ("open", "won", "lost")
DIRECTIONS: tuple[str, ...] = ("buyer", "seller")
TRACKED_FIELDS: tuple[str, ...] = ("close_date", "amount")


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``known_from`` names another (datetime) column of the same row: the value is invisible before
    that time.  ``allowed`` restricts a text column to a closed set of values.
    """

    name: str
    kind: Kind
    required: bool
    meaning: str
    known_from: str | None = None
    allowed: tuple[str, ...] | None = None

    @property
    def dtype(self) -> str:
        """The pandas dtype of this column, e.g. ``datetime64[us, UTC]``."""
        return PANDAS_DTYPES[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, key and the column saying when each row became known."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_index: str
    meaning: str

    def column(self, name: str) -> Column:
        """Return the column spec called ``name`` (KeyError if the table has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the columns every source must provide."""
        return [c.name for c in self.columns if c.required]

    def empty(self) -> pd.DataFrame:
        """An empty frame with this table's columns and dtypes.

        Example:
            >>> STAGE_HISTORY.empty().dtypes["entered_at"]
            datetime64[us, UTC]

        """
        return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in self.columns})

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``frame`` with exactly this table's columns, in order, cast to their dtypes.

        Missing optional columns are added empty; a missing required column raises ``ValueError``.
        """
        missing = [c for c in self.required if c not in frame.columns]
        if missing:
            raise ValueError(f"table {self.name!r} lacks required columns {missing}")
        out = {}
        for col in self.columns:
            if col.name in frame.columns:
                out[col.name] = frame[col.name].astype(col.dtype)
            else:
                out[col.name] = pd.Series(pd.NA, index=frame.index, dtype=col.dtype)
        return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _c(name: str, kind: Kind, required: bool, meaning: str, **kw: object) -> Column:
    return Column(name, kind, required, meaning, **kw)  # type: ignore[arg-type]


DEALS = TableSpec(
    name="deals",
    key=("deal_id",),
    time_index="created_at",
    meaning="One row per deal (opportunity) with its latest known attributes.",
    columns=(
        _c("deal_id", "str", True, "Unique id of the deal."),
        _c("account_id", "str", True, "The buying account (empty when the CRM has none)."),
        _c("owner_id", "str", True, "The seller who owns the deal."),
        _c("created_at", "datetime", True, "When the deal was created (UTC)."),
        _c("amount", "float", True,
           "Latest deal amount (non-negative; empty when unknown), in the pipeline's reporting "
           "currency; history in field_history."),
        _c("currency", "str", False, "ISO currency code of the amount."),
        _c("expected_close_date", "datetime", False,
           "Latest expected close date; its history is in field_history."),
        _c("name", "str", False, "Deal name (never used as a feature)."),
        _c("owner_name", "str", False,
           "The owner's name where the export has it (shown instead of owner_id; never used "
           "as a feature)."),
        _c("account_name", "str", False,
           "The account's name where the export has it (shown instead of account_id; never "
           "used as a feature)."),
        _c("segment", "str", False, "Customer segment, e.g. SMB / Mid-Market / Enterprise."),
        _c("region", "str", False, "Sales region."),
        _c("industry", "str", False, "Account industry."),
        _c("deal_type", "str", False, "New business, expansion, renewal ..."),
        _c("lead_source", "str", False, "Where the deal came from."),
        _c("closed_at", "datetime", False, "When the deal closed; empty while open.",
           known_from="closed_at"),
        _c("outcome", "str", False, "won / lost / no_decision; empty while open.",
           known_from="closed_at", allowed=OUTCOMES),
        _c("close_reason", "str", False, "The CRM's close (loss) reason as entered.",
           known_from="closed_at"),
    ),
)

STAGE_HISTORY = TableSpec(
    name="stage_history",
    key=("deal_id", "entered_at"),
    time_index="entered_at",
    meaning="Every stage a deal entered, in CRM terms and as a buyer step; regressions allowed.",
    columns=(
        _c("deal_id", "str", True, "The deal."),
        _c("entered_at", "datetime", True, "When the deal entered the stage (UTC)."),
        _c("crm_stage", "str", True, "The CRM's own stage name."),
        _c("step", "str", False, "Buyer step the stage maps to; empty for closed-lost stages."),
        _c("status", "str", True, "open / won / lost, from the stage map.",
           allowed=STAGE_STATUSES),
    ),
)

ACTIVITIES = TableSpec(
    name="activities",
    key=("activity_id",),
    time_index="occurred_at",
    meaning="Emails, calls, meetings, demos, proposals ... with who started them.  A row is "
            "known from max(occurred_at, recorded_at); one recorded before it occurs is a "
            "booked next step from recorded_at on.",
    columns=(
        _c("activity_id", "str", True, "Unique id of the activity."),
        _c("deal_id", "str", True, "The deal."),
        _c("occurred_at", "datetime", True,
           "When it happened or is booked to happen (UTC); later than recorded_at for a "
           "booked future meeting."),
        _c("recorded_at", "datetime", False,
           "When it was logged or booked in the CRM (UTC); empty = at occurred_at."),
        _c("type", "str", True, "email / call / meeting / demo / proposal / task / other."),
        _c("direction", "str", True, "buyer (buyer-initiated) or seller.", allowed=DIRECTIONS),
        _c("contact_id", "str", False, "The buyer-side contact involved."),
        _c("action", "str", False, "The recommendable seller action it represents, if any."),
        _c("subject", "str", False, "Free-text subject (never used as a feature)."),
    ),
)

CONTACTS = TableSpec(
    name="contacts",
    key=("deal_id", "contact_id", "role"),
    time_index="added_at",
    meaning="The buying committee: contacts on each deal with their role.",
    columns=(
        _c("deal_id", "str", True, "The deal."),
        _c("contact_id", "str", True, "The contact."),
        _c("role", "str", True, "champion, economic_buyer, technical, user, procurement, ..."),
        _c("added_at", "datetime", True,
           "When the contact joined the deal (UTC); empty when the export does not say (then "
           "the contact is known from its first activity on the deal)."),
        _c("is_primary", "bool", False, "Whether the CRM marks the contact primary."),
    ),
)

FIELD_HISTORY = TableSpec(
    name="field_history",
    key=("change_id",),
    time_index="changed_at",
    meaning="Changes of the expected close date and the amount, with their change time.",
    columns=(
        _c("change_id", "str", True, "Unique id of the change."),
        _c("deal_id", "str", True, "The deal."),
        _c("changed_at", "datetime", True, "When the change was made (UTC)."),
        _c("field", "str", True, "close_date or amount.", allowed=TRACKED_FIELDS),
        _c("old_close_date", "datetime", False, "Close date before the change."),
        _c("new_close_date", "datetime", False, "Close date after the change."),
        _c("old_amount", "float", False, "Amount before the change."),
        _c("new_amount", "float", False, "Amount after the change."),
    ),
)

TABLES: tuple[TableSpec, ...] = (DEALS, STAGE_HISTORY, ACTIVITIES, CONTACTS, FIELD_HISTORY)
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}
