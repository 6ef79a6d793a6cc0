"""Build small canonical histories from plain records, for hand-made feature tests."""

from __future__ import annotations

import pandas as pd

from features.contract import TABLES_BY_NAME
from features.histories import DealHistories


def T(text: str) -> pd.Timestamp:
    """A UTC timestamp from text such as '2024-03-01' or '2024-03-01 12:00'."""
    return pd.Timestamp(text, tz="UTC")


def histories(deals=(), stages=(), activities=(), contacts=(), changes=()) -> DealHistories:
    """Canonical histories from lists of dicts (missing optional columns left empty)."""
    tables = {}
    for name, rows in (("deals", deals), ("stage_history", stages), ("activities", activities),
                       ("contacts", contacts), ("field_history", changes)):
        spec = TABLES_BY_NAME[name]
        frame = pd.DataFrame(list(rows), columns=spec.names) if rows else spec.empty()
        for col in spec.columns:
            if col.kind == "datetime":
                frame[col.name] = pd.to_datetime(frame[col.name], utc=True)
        tables[name] = spec.conform(frame)
    return DealHistories(**tables)


def deal(deal_id="d1", created="2024-01-01", amount=1000.0, owner="o1", account="a1",
         closed=None, outcome=None, close_date=None, **extra) -> dict:
    return {"deal_id": deal_id, "account_id": account, "owner_id": owner,
            "created_at": T(created), "amount": amount, "currency": "USD",
            "expected_close_date": T(close_date) if close_date else None,
            "closed_at": T(closed) if closed else None, "outcome": outcome,
            "segment": extra.get("segment", "SMB"), "region": "EMEA", "industry": "Tech",
            "deal_type": "New Business", "lead_source": "Web"}


def stage(deal_id, at, step, status="open") -> dict:
    return {"deal_id": deal_id, "entered_at": T(at), "crm_stage": step or status,
            "step": step, "status": status}


def act(activity_id, deal_id, at, kind="email", direction="buyer", contact="c1",
        recorded=None, action=None) -> dict:
    return {"activity_id": activity_id, "deal_id": deal_id, "occurred_at": T(at),
            "recorded_at": T(recorded) if recorded else None, "type": kind,
            "direction": direction, "contact_id": contact, "action": action, "subject": ""}


def contact(deal_id, contact_id, role, at) -> dict:
    return {"deal_id": deal_id, "contact_id": contact_id, "role": role, "added_at": T(at),
            "is_primary": False}


def close_change(change_id, deal_id, at, old, new) -> dict:
    return {"change_id": change_id, "deal_id": deal_id, "changed_at": T(at),
            "field": "close_date", "old_close_date": T(old), "new_close_date": T(new)}


def amount_change(change_id, deal_id, at, old, new) -> dict:
    return {"change_id": change_id, "deal_id": deal_id, "changed_at": T(at), "field": "amount",
            "old_amount": old, "new_amount": new}
