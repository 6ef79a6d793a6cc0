"""Salesforce-style export tables (all columns text) for one simulated chunk of deals.

Tables and columns are what a Salesforce export holds: Opportunity, OpportunityHistory,
OpportunityFieldHistory, Task, Event, OpportunityContactRole, EmailMessage (one per email
Task, ``Incoming`` saying who sent it) and, once per export, CurrencyType (a multi-currency
org: amounts are in each deal's currency, ``ConversionRate`` units per US dollar, the corporate
currency), User and Account (``Id``, ``Name`` of each owner and account some deal has; names
from :mod:`training.simulator.names`, which draws no random number).  Running row counters
(``IdCounters``) make ids unique across chunks and, because rows are emitted in deal order,
independent of the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.simulator import formatting as fmt
from training.simulator.activities import (
    CHANNELS,
    IS_EMAIL,
    IS_INCOMING,
    SUBJECT_CHANNEL,
    SUBJECTS,
    activity_rows,
    committee_roles,
)
from training.simulator.activities import IS_EVENT as _IS_EVENT
from training.simulator.journey import FIELD_CLOSE_DATE, Journeys
from training.simulator.names import account_names, owner_names
from training.simulator.params import (
    DEAL_TYPES,
    INDUSTRIES,
    LEAD_SOURCES,
    LOSS_REASONS_LOST,
    LOSS_REASONS_ND,
    MAX_COMMITTEE,
    REGIONS,
    ROLES,
    SEGMENTS,
    STAGE_NAMES,
    STAGE_PROBABILITY,
    SimParams,
)

TABLES: tuple[str, ...] = (
    "Opportunity",
    "OpportunityHistory",
    "OpportunityFieldHistory",
    "Task",
    "Event",
    "OpportunityContactRole",
    "EmailMessage",
)
CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP")
#: Units of each currency per US dollar (the corporate currency), as CurrencyType says.
CONVERSION_RATES: tuple[float, ...] = (1.0, 0.92, 0.79)
_TASK_SUBTYPE = [CHANNELS[c][1] for c in SUBJECT_CHANNEL]
_TASK_TYPE = [CHANNELS[c][2] for c in SUBJECT_CHANNEL]
_CALL_TYPE = [CHANNELS[c][3] for c in SUBJECT_CHANNEL]
_EVENT_TYPE = [CHANNELS[c][1] for c in SUBJECT_CHANNEL]


@dataclass
class IdCounters:
    """Next row number of each counter-numbered table (carried across chunks)."""

    history: int = 0
    field: int = 0
    task: int = 0
    event: int = 0
    email: int = 0


def currency_type_table() -> pa.Table:
    """The export's CurrencyType object: each currency's rate to the corporate US dollar.

    Example:
        >>> currency_type_table().column("IsoCode").to_pylist()
        ['USD', 'EUR', 'GBP']
    """
    return pa.table({
        "Id": [f"01L00000000000{i}" for i in range(len(CURRENCIES))],
        "IsoCode": list(CURRENCIES),
        "ConversionRate": [f"{r:.6f}" for r in CONVERSION_RATES],
        "DecimalPlaces": ["2"] * len(CURRENCIES),
        "IsActive": ["true"] * len(CURRENCIES),
        "IsCorporate": ["true" if c == "USD" else "false" for c in CURRENCIES],
    })


def user_table(owners: np.ndarray) -> pa.Table:
    """The export's User object: the owners numbered ``owners`` (0-based), with their names.

    Example:
        >>> user_table(np.array([0])).to_pylist()
        [{'Id': '005000000000000001', 'Name': 'Kemi Jovanovic'}]
    """
    owners = np.asarray(owners, np.int64)
    return pa.table({"Id": fmt.ids("005", owners + 1), "Name": owner_names(owners)})


def account_table(accounts: np.ndarray) -> pa.Table:
    """The export's Account object: the accounts numbered ``accounts`` (0-based), with names.

    Example:
        >>> account_table(np.array([0])).to_pylist()
        [{'Id': '001000000000000001', 'Name': 'Kestrel Analytics LLC'}]
    """
    accounts = np.asarray(accounts, np.int64)
    return pa.table({"Id": fmt.ids("001", accounts + 1), "Name": account_names(accounts)})


def name_tables(owners: np.ndarray, accounts: np.ndarray) -> dict[str, pa.Table]:
    """The User and Account objects of the owners and accounts numbered in the arrays.

    Example:
        >>> {k: t.num_rows for k, t in name_tables(np.array([0]), np.array([0, 1])).items()}
        {'User': 1, 'Account': 2}
    """
    return {"User": user_table(owners), "Account": account_table(accounts)}


def local_cents(usd_cents: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """Amounts in the deal's own currency (whole cents) from US-dollar cents.

    Example:
        >>> local_cents(np.array([10000, 10000]), np.array([0, 1])).tolist()
        [10000, 9200]
    """
    rate = np.asarray(CONVERSION_RATES)[np.asarray(currency, np.int64)]
    return np.rint(np.asarray(usd_cents) * rate).astype(np.int64)


def opportunity_ids(index: np.ndarray) -> pa.Array:
    """Opportunity ids for global deal numbers.

    Example:
        >>> import numpy as np
        >>> opportunity_ids(np.array([0])).to_pylist()
        ['006000000000000001']
    """
    return fmt.ids("006", np.asarray(index) + 1)


def deal_index_from_id(deal_ids: np.ndarray | list[str]) -> np.ndarray:
    """Global deal numbers back from Opportunity ids.

    Example:
        >>> deal_index_from_id(["006000000000000001"]).tolist()
        [0]
    """
    return np.array([int(str(x)[3:]) - 1 for x in deal_ids], dtype=np.int64)


def build_tables(params: SimParams, j: Journeys, counters: IdCounters) -> dict[str, pa.Table]:
    """Build the six export tables for a chunk; advances ``counters``.

    Example:
        >>> # tables = build_tables(params, journeys, IdCounters())
    """
    d = j.deals
    opp = opportunity_ids(d.index)
    out: dict[str, pa.Table] = {}
    stage_code = np.where(j.outcome == 1, 5, np.where(j.outcome >= 2, 6, j.final_step))
    reason_vocab = ["", *LOSS_REASONS_LOST, *LOSS_REASONS_ND]
    name = pc.binary_join_element_wise(
        "Account ", pc.utf8_lpad(fmt.integers(d.account + 1), 7, "0"), " - ",
        fmt.pick(DEAL_TYPES, d.deal_type), "")
    out["Opportunity"] = pa.table({
        "Id": opp,
        "Name": name,
        "AccountId": fmt.ids("001", d.account + 1),
        "OwnerId": fmt.ids("005", d.owner + 1),
        "StageName": fmt.pick(STAGE_NAMES, stage_code),
        "Amount": fmt.money(local_cents(j.amount_cents, d.currency)),
        "CurrencyIsoCode": fmt.pick(CURRENCIES, d.currency),
        "CloseDate": fmt.dates(d.created_day + j.close_offset),
        "CreatedDate": fmt.datetimes(d.created_ts),
        "IsClosed": fmt.booleans(j.outcome > 0),
        "IsWon": fmt.booleans(j.outcome == 1),
        "Type": fmt.pick(DEAL_TYPES, d.deal_type),
        "LeadSource": fmt.pick(LEAD_SOURCES, d.lead_source),
        "Segment__c": fmt.pick(SEGMENTS, d.segment),
        "Region__c": fmt.pick(REGIONS, d.region),
        "Industry__c": fmt.pick(INDUSTRIES, d.industry),
        "Loss_Reason__c": fmt.pick(reason_vocab, j.loss_reason + 1),
    })

    sg = j.stage
    n_h = len(sg["row"])
    out["OpportunityHistory"] = pa.table({
        "Id": fmt.ids("008", counters.history + 1 + np.arange(n_h)),
        "OpportunityId": pc.take(opp, pa.array(sg["row"])),
        "StageName": fmt.pick(STAGE_NAMES, sg["stage"]),
        "Amount": fmt.money(local_cents(sg["amount"], d.currency[sg["row"]])),
        "CloseDate": fmt.dates(d.created_day[sg["row"]] + sg["close_offset"]),
        "Probability": fmt.integers(np.asarray(STAGE_PROBABILITY)[sg["stage"]]),
        "CreatedDate": fmt.datetimes(sg["ts"]),
    })
    counters.history += n_h

    fh = j.field
    n_f = len(fh["row"])
    is_close = fh["field"] == FIELD_CLOSE_DATE
    base_day = d.created_day[fh["row"]]

    currency = d.currency[fh["row"]]

    def value(v: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(is_close), fmt.dates(base_day + np.where(is_close, v, 0)),
                          fmt.money(local_cents(np.where(is_close, 0, v), currency)))

    out["OpportunityFieldHistory"] = pa.table({
        "Id": fmt.ids("017", counters.field + 1 + np.arange(n_f)),
        "OpportunityId": pc.take(opp, pa.array(fh["row"])),
        "Field": fmt.pick(["CloseDate", "Amount"], fh["field"]),
        "OldValue": value(fh["old"]),
        "NewValue": value(fh["new"]),
        "CreatedDate": fmt.datetimes(fh["ts"]),
    })
    counters.field += n_f

    acts = activity_rows(params, j)
    contact = fmt.ids("003", d.index[acts["row"]] * MAX_COMMITTEE + acts["contact_slot"] + 1)
    owner = fmt.ids("005", d.owner[acts["row"]] + 1)
    what = pc.take(opp, pa.array(acts["row"]))
    ev = _IS_EVENT[acts["subject"]]
    tk = ~ev
    n_t, n_e = int(tk.sum()), int(ev.sum())
    tmask, emask = pa.array(tk), pa.array(ev)
    subj_t = acts["subject"][tk]
    done = acts["start_ts"][tk]
    out["Task"] = pa.table({
        "Id": fmt.ids("00T", counters.task + 1 + np.arange(n_t)),
        "WhatId": what.filter(tmask),
        "WhoId": contact.filter(tmask),
        "OwnerId": owner.filter(tmask),
        "Subject": fmt.pick(SUBJECTS, subj_t),
        "TaskSubtype": fmt.pick(_TASK_SUBTYPE, subj_t),
        "Type": fmt.pick(_TASK_TYPE, subj_t),
        "CallType": fmt.pick(_CALL_TYPE, subj_t),
        "Status": fmt.pick(["Completed"], np.zeros(n_t, np.int64)),
        "ActivityDate": fmt.dates(done // 86400),
        "CompletedDateTime": fmt.datetimes(done),
        "CreatedDate": fmt.datetimes(acts["created_ts"][tk]),
    })
    email = IS_EMAIL[subj_t]
    n_m = int(email.sum())
    mmask = pa.array(email)
    task_ids = out["Task"].column("Id").filter(mmask)
    out["EmailMessage"] = pa.table({
        "Id": fmt.ids("02s", counters.email + 1 + np.arange(n_m)),
        "ActivityId": task_ids,
        "RelatedToId": out["Task"].column("WhatId").filter(mmask),
        "Subject": pc.utf8_replace_slice(out["Task"].column("Subject").filter(mmask), 0,
                                         len("Email: "), ""),
        "Incoming": fmt.booleans(IS_INCOMING[subj_t][email]),
        "MessageDate": fmt.datetimes(done[email]),
        "Status": fmt.pick(["3"], np.zeros(n_m, np.int64)),
    })
    counters.email += n_m
    counters.task += n_t
    subj_e = acts["subject"][ev]
    start = acts["start_ts"][ev]
    dur = acts["duration_min"][ev]
    start_txt = fmt.datetimes(start)
    out["Event"] = pa.table({
        "Id": fmt.ids("00U", counters.event + 1 + np.arange(n_e)),
        "WhatId": what.filter(emask),
        "WhoId": contact.filter(emask),
        "OwnerId": owner.filter(emask),
        "Subject": fmt.pick(SUBJECTS, subj_e),
        "Type": fmt.pick(_EVENT_TYPE, subj_e),
        "ActivityDateTime": start_txt,
        "StartDateTime": start_txt,
        "EndDateTime": fmt.datetimes(start + 60 * dur),
        "DurationInMinutes": fmt.integers(dur),
        "CreatedDate": fmt.datetimes(acts["created_ts"][ev]),
    })
    counters.event += n_e

    cr_row, cr_slot, joined = committee_roles(j, acts)
    cr_num = d.index[cr_row] * MAX_COMMITTEE + cr_slot + 1
    out["OpportunityContactRole"] = pa.table({
        "Id": fmt.ids("00K", cr_num),
        "OpportunityId": pc.take(opp, pa.array(cr_row)),
        "ContactId": fmt.ids("003", cr_num),
        "Role": fmt.pick(ROLES, d.role_perm[cr_row, cr_slot]),
        "IsPrimary": fmt.booleans(cr_slot == 0),
        "CreatedDate": fmt.datetimes(joined),
    })
    return out


def buyer_initiated_count(params: SimParams, j: Journeys) -> tuple[int, int]:
    """(buyer-initiated activities, all activities) of a chunk, for summaries.

    Example:
        >>> # buyer, total = buyer_initiated_count(params, journeys)
    """
    kind = j.activity["kind"]
    return int((kind == 0).sum()), len(kind)
