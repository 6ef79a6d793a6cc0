"""Turn emitted activities into Salesforce Task and Event rows (subjects, contacts, times).

Rows look like what Salesforce writes, not like the reader's conventions: an email is a Task
``Email: <subject>`` in both directions, with an ``EmailMessage`` whose ``Incoming`` flag says
who sent it; calls are ``Call: `` with CallType Inbound/Outbound; meetings the buyer booked
are events ``Meeting requested by customer: ``, seller events ``Meeting: `` or ``Demo: ``,
proposals ``Proposal sent: ``.  An activity that *is* a recommendable action says so in plain
words (``Meeting: agree evaluation plan``), as a seller would write it, never with a tag.

While the buyer is dark nobody meets: the seller's outreach is emails and calls only.
A committee member joins the deal's contact roles when they first show up in an activity
(:func:`committee_roles`), so the CRM never knows people before the seller has met them.
"""

from __future__ import annotations

import numpy as np

from training.simulator.journey import KIND_ACTION, KIND_BUYER, KIND_PROPOSAL, KIND_SELLER, Journeys
from training.simulator.params import (
    ACTIONS,
    COMMITTEE_REACH,
    ECONOMIC_BUYER,
    MAX_COMMITTEE,
    SimParams,
)
from training.simulator.rng import Stream, uniform

# channel -> (table, TaskSubtype or Event Type, Task Type, CallType)
CHANNELS: dict[str, tuple[str, str, str, str]] = {
    "email_in": ("Task", "Email", "Email", ""),
    "email_out": ("Task", "Email", "Email", ""),
    "call_in": ("Task", "Call", "Call", "Inbound"),
    "call_out": ("Task", "Call", "Call", "Outbound"),
    "proposal": ("Task", "Task", "Other", ""),
    "meeting_buyer": ("Event", "Meeting", "", ""),
    "meeting": ("Event", "Meeting", "", ""),
    "demo": ("Event", "Demo", "", ""),
    "presentation": ("Event", "Presentation", "", ""),
}

_BUYER = [
    ("email_in", "Email: question about pricing", 2),
    ("email_in", "Email: re: next steps", 3),
    ("email_in", "Email: introducing a colleague", 1),
    ("email_in", "Email: requirements attached", 1),
    ("email_in", "Email: security questionnaire", 1),
    ("call_in", "Call: customer question", 2),
    ("call_in", "Call: returned call", 1),
    ("meeting_buyer", "Meeting requested by customer: team walkthrough", 1),
    ("meeting_buyer", "Meeting requested by customer: next steps", 1),
]
_SELLER = [
    ("email_out", "Email: follow up", 3),
    ("email_out", "Email: recap and next steps", 2),
    ("email_out", "Email: checking in", 3),
    ("email_out", "Email: materials you asked for", 1),
    ("call_out", "Call: follow up", 2),
    ("call_out", "Call: check-in", 2),
    ("meeting", "Meeting: discovery", 1),
    ("meeting", "Meeting: check-in", 1),
    ("demo", "Demo: product overview", 1),
    ("presentation", "Meeting: solution presentation", 1),
]
_PROPOSAL = [("proposal", "Proposal sent: commercial proposal", 1)]
_ACTION_TEXT = {
    "confirm_problem": [("call_out", "Call: confirm problem and cost of not deciding"),
                        ("meeting", "Meeting: confirm problem and cost of not deciding")],
    "reach_economic_buyer": [("email_out", "Email: introduction to economic buyer"),
                             ("meeting", "Meeting: meet the economic buyer")],
    "agree_evaluation_plan": [("meeting", "Meeting: agree evaluation plan"),
                              ("email_out", "Email: draft evaluation plan")],
    "confirm_decision_date": [("call_out", "Call: confirm decision date"),
                              ("email_out", "Email: confirm decision date")],
    "run_evaluation": [("demo", "Demo: evaluation with the buying group"),
                       ("meeting", "Meeting: evaluation workshop")],
    "share_customer_stories": [("email_out", "Email: how similar customers decided"),
                               ("meeting", "Meeting: reference call with a customer")],
    "reengage_dark_buyer": [("email_out", "Email: are you still looking at this"),
                            ("call_out", "Call: re-engage")],
}
_GROUPS: list[list[tuple[str, str, int]]] = [_BUYER, _SELLER, _PROPOSAL] + [
    [(ch, text, 1) for ch, text in _ACTION_TEXT[a]] for a in ACTIONS
]

SUBJECTS: list[str] = [s for g in _GROUPS for _, s, _ in g]
SUBJECT_CHANNEL: list[str] = [c for g in _GROUPS for c, _, _ in g]
#: Subjects whose Task is an email (an EmailMessage row goes with it), and of those the ones the
#: buyer sent.
IS_EMAIL = np.array([c in ("email_in", "email_out") for c in SUBJECT_CHANNEL])
IS_INCOMING = np.array([c == "email_in" for c in SUBJECT_CHANNEL])
_OFFSETS = np.cumsum([0] + [len(g) for g in _GROUPS])


def _is_event(channel: str) -> bool:
    return CHANNELS[channel][0] == "Event"


IS_EVENT = np.array([_is_event(c) for c in SUBJECT_CHANNEL])


def _cdf(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return np.cumsum(w) / w.sum()


_CDFS = [_cdf([w for _, _, w in g]) for g in _GROUPS]
# While the buyer is dark nobody meets: a group's meetings, demos and presentations drop out
# (a group made only of events keeps them).
_DARK_CDFS = [
    _cdf([0.0 if _is_event(c) else w for c, _, w in g])
    if not all(_is_event(c) for c, _, _ in g) else cdf
    for g, cdf in zip(_GROUPS, _CDFS, strict=True)
]


def _slot(kind: np.ndarray) -> np.ndarray:
    return np.minimum(kind, KIND_ACTION)


def activity_rows(params: SimParams, j: Journeys) -> dict[str, np.ndarray]:
    """Concrete attributes of every emitted activity, sorted by (deal, time).

    Returns arrays: row, subject (code into :data:`SUBJECTS`), contact_slot, start_ts,
    duration_min, created_ts, buyer (bool).

    Example:
        >>> # rows = activity_rows(params, journeys); rows["start_ts"]
    """
    a = j.activity
    deals = j.deals
    rows, day, kind = a["row"], a["day"], a["kind"].astype(np.int64)
    g = deals.index[rows]
    stream0 = Stream.ACTIVITY + 8 * _slot(kind)

    def u(attr: int) -> np.ndarray:
        return _u_per(params.seed, g, day, stream0 + attr)

    group = np.where(kind >= KIND_ACTION, 3 + kind - KIND_ACTION,
                     np.select([kind == KIND_BUYER, kind == KIND_SELLER, kind == KIND_PROPOSAL],
                               [0, 1, 2], 0))
    u_subj = u(0)
    dark = a["dark"].astype(bool)
    subject = np.zeros(len(rows), np.int64)
    for gi, (cdf, dark_cdf) in enumerate(zip(_CDFS, _DARK_CDFS, strict=True)):
        for cdfs, in_state in ((cdf, ~dark), (dark_cdf, dark)):
            sel = (group == gi) & in_state
            if sel.any():
                pos = np.searchsorted(cdfs, u_subj[sel], side="right")
                subject[sel] = _OFFSETS[gi] + np.minimum(pos, len(cdfs) - 1)
    size = deals.committee_size[rows]
    reach = np.minimum(size, COMMITTEE_REACH[a["step"]])
    slot = np.minimum((u(1) * reach).astype(np.int64), size - 1)
    eb_slot = deals.slot_of(ECONOMIC_BUYER)[rows]
    slot = np.where((kind == KIND_ACTION + 1) & (eb_slot < size), eb_slot, slot)
    is_event = IS_EVENT[subject]
    day_ts = (deals.created_day[rows] + day) * 86400
    minute = 8 * 60 + np.where(is_event, (u(2) * 28).astype(np.int64) * 15,
                               (u(2) * 7 * 60).astype(np.int64))
    start = day_ts + minute * 60
    duration = np.where(is_event, 30 + 15 * (u(3) * 3).astype(np.int64), 0)
    u_lag = u(4)
    lag = np.where(is_event, -(u_lag * 5 * 86400).astype(np.int64),
                   (u_lag * 20).astype(np.int64) * 60)
    created = np.maximum(start + lag, deals.created_ts[rows])
    order = np.lexsort((start, rows))
    out = {
        "row": rows, "subject": subject, "contact_slot": slot, "start_ts": start,
        "duration_min": duration, "created_ts": created, "buyer": kind == KIND_BUYER,
    }
    return {k: v[order] for k, v in out.items()}


def _u_per(seed: int, g: np.ndarray, day: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """Uniforms with a per-element stream (few distinct streams, so loop over them)."""
    out = np.empty(len(g))
    for s in np.unique(stream):
        sel = stream == s
        out[sel] = uniform(seed, g[sel], day[sel], int(s))
    return out


def committee_roles(j: Journeys, acts: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contact-role rows (deal row, committee slot, created ts) the CRM learns of over time.

    The primary contact (slot 0) is on the deal from creation; every other committee member is
    added just before their first activity (booking time for events).  Members never engaged
    before the export are unknown to the CRM and get no row, so a deal's contact roles at any
    time say only what had happened by then (dating them at creation would leak the future:
    a member never engaged in the deal's whole life marks a deal that died).

    Example:
        >>> # row, slot, created = committee_roles(journeys, activity_rows(params, journeys))
    """
    n = len(j.deals)
    never = np.iinfo(np.int64).max
    first = np.full(n * MAX_COMMITTEE, never)
    key = acts["row"] * MAX_COMMITTEE + acts["contact_slot"]
    np.minimum.at(first, key, np.minimum(acts["start_ts"], acts["created_ts"]))
    first = first.reshape(n, MAX_COMMITTEE)
    created = j.deals.created_ts[:, None]
    joined = np.where(first < never, np.maximum(first - 600, created), never)
    joined[:, 0] = created[:, 0] + 60
    row, slot = np.nonzero(joined < never)
    return row, slot, joined[row, slot]
