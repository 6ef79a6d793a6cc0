"""The vectorised feature function agrees with the naive loop on randomised histories."""

import math

import numpy as np
import pandas as pd
from builders import histories
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_row
from test_parity import assert_same_row, records

from features.build import build_features
from features.encode import STEPS
from features.live import live_features
from features.peers import PeerStats
from features.schema import FEATURES

BASE = pd.Timestamp("2024-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=6)  # coarse grid so events collide with each other and with as_of


def at(k: int) -> pd.Timestamp:
    return BASE + k * HOUR


@st.composite
def random_histories(draw):
    n = draw(st.integers(1, 4))
    deals, stages, acts, contacts, changes = [], [], [], [], []
    for i in range(n):
        did = f"d{i}"
        created = draw(st.integers(0, 40))
        closed = draw(st.one_of(st.none(), st.integers(created, created + 200)))
        outcome = draw(st.sampled_from(["won", "lost", "no_decision"])) if closed is not None \
            else None
        deals.append({"deal_id": did, "account_id": f"a{draw(st.integers(0, 1))}",
                      "owner_id": f"o{draw(st.integers(0, 1))}", "created_at": at(created),
                      "amount": float(draw(st.integers(0, 5)) * 100),
                      "expected_close_date": at(created + draw(st.integers(0, 300))),
                      "closed_at": at(closed) if closed is not None else None,
                      "outcome": outcome, "segment": draw(st.sampled_from(["SMB", "ENT"]))})
        t = created
        for _ in range(draw(st.integers(0, 6))):
            t += draw(st.integers(0, 30))
            status = draw(st.sampled_from(["open"] * 5 + ["won", "lost"]))
            step = draw(st.sampled_from(STEPS[:5])) if status == "open" else None
            stages.append({"deal_id": did, "entered_at": at(t), "crm_stage": "x",
                           "step": step, "status": status})
        for j in range(draw(st.integers(0, 10))):
            occ = created + draw(st.integers(0, 200))
            rec = draw(st.one_of(st.none(), st.integers(created, occ + 5)))
            acts.append({"activity_id": f"{did}a{j}", "deal_id": did, "occurred_at": at(occ),
                         "recorded_at": at(rec) if rec is not None else None,
                         "type": draw(st.sampled_from(["email", "call", "meeting", "demo",
                                                       "proposal", "task"])),
                         "direction": draw(st.sampled_from(["buyer", "seller"])),
                         "action": draw(st.sampled_from([None, None, "confirm_problem",
                                                         "run_evaluation"])),
                         "contact_id": draw(st.sampled_from(["c1", "c2", "c3", None]))})
        for _ in range(draw(st.integers(0, 3))):
            contacts.append({"deal_id": did, "contact_id": f"c{draw(st.integers(1, 3))}",
                             "role": draw(st.sampled_from(["champion", "economic_buyer",
                                                           "legal", "user"])),
                             "added_at": at(created + draw(st.integers(0, 100)))})
        for j in range(draw(st.integers(0, 4))):
            when = at(created + draw(st.integers(0, 150)))
            if draw(st.booleans()):
                changes.append({"change_id": f"{did}f{j}", "deal_id": did, "changed_at": when,
                                "field": "close_date",
                                "old_close_date": at(draw(st.integers(0, 300))),
                                "new_close_date": at(draw(st.integers(0, 300)))})
            else:
                changes.append({"change_id": f"{did}f{j}", "deal_id": did, "changed_at": when,
                                "field": "amount", "old_amount": float(draw(st.integers(0, 9))),
                                "new_amount": float(draw(st.integers(0, 9)))})
    h = histories(deals, stages, acts, contacts, changes)
    queries = [(f"d{draw(st.integers(0, n - 1))}", at(draw(st.integers(0, 260))))
               for _ in range(draw(st.integers(1, 6)))]
    return h, queries


def _same(a, b) -> bool:
    if isinstance(b, str) or isinstance(a, str):
        return str(a) == str(b)
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_histories())
def test_vectorised_equals_naive(case):
    h, queries = case
    pairs = pd.DataFrame({"deal_id": [q[0] for q in queries], "as_of": [q[1] for q in queries]})
    pairs["as_of"] = pairs["as_of"].astype("datetime64[ms, UTC]")
    got = build_features(h, pairs)
    created = h.deals.set_index("deal_id")["created_at"]
    expected_pairs = sorted((d, a) for d, a in queries if created[d] <= a)
    assert [(r.deal_id, r.as_of) for r in got.itertuples()] == expected_pairs
    peers = PeerStats.from_histories(h)
    for row in got.to_dict("records"):
        want = naive_row(h, row["deal_id"], row["as_of"])
        for f in FEATURES.names:
            assert _same(row[f], want[f]), (f, row[f], want[f], row["deal_id"], row["as_of"])
        live = live_features(*records(h, row["deal_id"]), as_of=row["as_of"], peers=peers)
        assert_same_row(live, pd.Series(row))


def test_random_timestamp_spec_matches_open_deals():
    rng = np.random.default_rng(3)
    h = histories([{"deal_id": f"d{i}", "account_id": "a", "owner_id": "o",
                    "created_at": at(int(rng.integers(0, 50))), "amount": 1.0,
                    "closed_at": at(60) if i % 2 else None, "outcome": "lost" if i % 2 else None}
                   for i in range(10)])
    rows = build_features(h, at(55))
    assert len(rows) == 10
    rows = build_features(h, at(60))
    assert sorted(rows.deal_id) == [f"d{i}" for i in range(0, 10, 2)]
