"""Forward replay: whole deals re-simulated while the seller follows a policy at weekly reviews.

The off-line comparison in :mod:`training.next_step.ground_truth` values one decision per
snapshot.  This one lets a policy act again and again on the same deals: every ``review`` day
(weekly from ``start``) the seller looks at each open deal and takes the policy's action that
day (the historic seller's own actions continue on the other days); the deals then run, with
the simulator's common random numbers, until they close.  Policies compared:

- ``historic``: the recorded seller, unchanged (the deals as they really went);
- ``recommender``: at each review the model scores the deal from the CRM export *as it stands
  that morning* -- the simulator writes the Salesforce export of the replayed history, which is
  ingested and turned into point-in-time features like any export, with the model's frozen peer
  references -- and its top next step is taken ("keep going" leaves the day to the seller);
- ``random_valid``: a random action valid at the deal's (hidden) buyer step;
- ``oracle``: the truly best valid action for the deal's hidden state that day, if any helps.

Each gives, per deal, its outcome and the days from creation to the decision; :func:`summarise`
turns them into no-decision rate, win rate and median days to decision, each difference to
``historic`` with a deal-bootstrap 95 % interval (paired: the same deals, the same draws).

Example:
    >>> reviews = review_days(pd.Timestamp("2024-06-03", tz="UTC"), 3)
    >>> [d.date().isoformat() for d in reviews]
    ['2024-06-03', '2024-06-10', '2024-06-17']
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.histories import DealHistories

DAY = 86_400
POLICIES = ("historic", "recommender", "random_valid", "oracle")


def review_days(start: pd.Timestamp, weeks: int) -> list[pd.Timestamp]:
    """``weeks`` weekly review mornings (00:00 UTC) from ``start``'s day on."""
    first = pd.Timestamp(start).tz_convert("UTC").normalize()
    return [first + pd.Timedelta(days=7 * w) for w in range(weeks)]


def _day(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).timestamp()) // DAY


class ReviewPlan:
    """Actions decided at reviews: (deal row, day since creation) -> simulator action code.

    Example:
        >>> plan = ReviewPlan(np.array([100, 103]))
        >>> plan.add(np.array([0, 1]), 110, np.array([2, -1]))
        >>> plan.lookup(np.array([0, 1]), np.array([10, 7]))
        array([ 2, -1])
    """

    def __init__(self, created_day: np.ndarray) -> None:
        self.created_day = np.asarray(created_day, np.int64)
        self._keys = np.zeros(0, np.int64)
        self._codes = np.zeros(0, np.int64)

    def add(self, rows: np.ndarray, calendar_day: int, codes: np.ndarray) -> None:
        """Take ``codes`` (-1 = nothing) for deal ``rows`` on ``calendar_day``."""
        take = np.asarray(codes) >= 0
        keys = self._key(rows[take], calendar_day - self.created_day[rows[take]])
        keys, codes = np.concatenate([self._keys, keys]), np.concatenate(
            [self._codes, np.asarray(codes)[take]])
        order = np.argsort(keys, kind="stable")
        self._keys, self._codes = keys[order], codes[order]

    def lookup(self, rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The planned code of each (row, day since creation), -1 where none."""
        key = self._key(rows, day)
        at = np.minimum(np.searchsorted(self._keys, key), max(len(self._keys) - 1, 0))
        if not len(self._keys):
            return np.full(len(key), -1, np.int64)
        return np.where(self._keys[at] == key, self._codes[at], -1)

    @staticmethod
    def _key(rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.asarray(rows, np.int64) * 1_000_000 + np.asarray(day, np.int64)

    def policy(self) -> Callable[[object], np.ndarray]:
        """A simulator policy: the planned action where there is one, else the seller's own."""
        def act(ctx: object) -> np.ndarray:
            planned = self.lookup(ctx.rows, ctx.day)
            return np.where(planned >= 0, planned, ctx.historic)

        return act


def review_policy(review: set[int], choose: Callable[[object, np.ndarray], np.ndarray]
                  ) -> Callable[[object], np.ndarray]:
    """On review days, ``choose(ctx, mask)`` decides for the masked deals (-1 = the seller's)."""
    def act(ctx: object) -> np.ndarray:
        out = np.asarray(ctx.historic).copy()
        calendar = ctx.deals.created_day[ctx.rows] + ctx.day
        on = np.isin(calendar, list(review))
        if on.any():
            chosen = choose(ctx, on)
            out[on] = np.where(chosen >= 0, chosen, out[on])
        return out

    return act


def crm_export_at(params: object, deals: object, at: pd.Timestamp,
                  policy: Callable[[object], np.ndarray] | None, directory: Path
                  ) -> DealHistories:
    """The CRM's histories of ``deals`` as exported at ``at`` had ``policy`` been followed.

    The simulator writes the Salesforce export of the (re-)simulated history through the day
    before ``at``; it is ingested like any export.
    """
    import pyarrow.parquet as pq

    from features.ingest import ingest
    from training.simulator.journey import simulate_journeys
    from training.simulator.sf_export import (
        IdCounters,
        build_tables,
        currency_type_table,
        name_tables,
    )

    day = _day(at)
    cut = replace(deals, last_day=day - 1 - deals.created_day)
    journeys = simulate_journeys(params, cut, policy=policy)
    tables = {**build_tables(params, journeys, IdCounters()),
              "CurrencyType": currency_type_table(),
              **name_tables(np.unique(deals.owner), np.unique(deals.account))}
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, directory / f"{name}.parquet")
    (directory / "export.json").write_text(json.dumps(
        {"source": "salesforce", "exported_at": at.isoformat(), "format": "parquet"}))
    return ingest(directory, kind="salesforce", name="forward-replay").histories


def recommender_plan(model: object, params: object, deals: object,
                     reviews: Sequence[pd.Timestamp],
                     progress: Callable[[str], None] | None = None) -> ReviewPlan:
    """Review by review, what the model recommends from the export as it stands that morning."""
    from features.build import build_features
    from training.next_step.evaluation import policy_codes
    from training.simulator.params import ACTIONS
    from training.simulator.sf_export import deal_index_from_id

    nsm = model.next_steps
    code_of = np.array([ACTIONS.index(n) if n in ACTIONS else -1 for n in nsm.catalogue.names]
                       + [-1])
    row_of = {int(g): r for r, g in enumerate(deals.index.tolist())}
    plan = ReviewPlan(deals.created_day)
    with tempfile.TemporaryDirectory(prefix="dealrisk-replay-") as tmp:
        for w, at in enumerate(reviews):
            histories = crm_export_at(params, deals, at, plan.policy(), Path(tmp) / str(w))
            rows = build_features(histories, at, peers=model.peer_stats)
            if not len(rows):
                continue
            x = model._matrix(rows[model.feature_names_])
            codes, _ = policy_codes(nsm, rows, x, histories.activities)
            deal_rows = np.array([row_of[int(g)] for g in deal_index_from_id(
                rows["deal_id"].astype(str).tolist())], dtype=np.int64)
            plan.add(deal_rows, _day(at), code_of[codes])
            if progress is not None:
                progress(f"review {w + 1}/{len(reviews)} ({at.date()}): {len(rows)} open, "
                         f"{int((codes >= 0).sum())} recommended")
    return plan


def forward_replay(model: object, params: object, deal_ids: Sequence[str], start: pd.Timestamp,
                   *, weeks: int = 26, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Outcome per deal and policy of the deals among ``deal_ids`` open in the CRM at ``start``.

    Returns columns deal_id, policy, outcome, won, no_decision, days_to_decision (NaN while
    open after five more years).  ``model`` is a fitted :class:`~training.model.DealRiskModel`
    with a next-step model; ``params`` the simulation's
    :class:`~training.simulator.params.SimParams`.
    """
    from training.simulator.journey import simulate_journeys
    from training.simulator.latent import draw_deals
    from training.simulator.params import ACTIONS, STEPS
    from training.simulator.sf_export import deal_index_from_id
    from training.simulator.truth import deal_action_effects

    if model.next_steps is None:
        raise ValueError(f"the model has no next-step model: {model.next_steps_note}")
    reviews = review_days(start, weeks)
    all_deals = draw_deals(params, np.sort(deal_index_from_id(list(deal_ids))))
    at_start = simulate_journeys(params, replace(all_deals, last_day=np.minimum(
        all_deals.last_day, _day(reviews[0]) - 1 - all_deals.created_day)), record=False)
    keep = np.flatnonzero((all_deals.created_day < _day(reviews[0])) & (at_start.outcome == 0))
    if not len(keep):
        raise ValueError(f"none of the {len(deal_ids)} deals is open at {reviews[0].date()}")
    deals = draw_deals(params, all_deals.index[keep])
    catalogue = model.next_steps.catalogue
    valid = np.zeros((len(STEPS), len(ACTIONS)), bool)
    step_valid = catalogue.valid_mask(list(STEPS))
    for a, name in enumerate(catalogue.names):
        if name in ACTIONS:
            valid[:, ACTIONS.index(name)] = step_valid[:, a]
    gains = -deal_action_effects(params, deals)[..., 2]  # (n, 10, A) no-decision reduction
    rng = np.random.default_rng(seed)
    review_set = {_day(r) for r in reviews}
    draws = rng.random((len(deals), max(review_set) + 1 - min(review_set)))

    def random_valid(ctx: object, on: np.ndarray) -> np.ndarray:
        ok = valid[ctx.step[on]]
        u = draws[ctx.rows[on], (ctx.deals.created_day[ctx.rows[on]] + ctx.day[on]
                                 - min(review_set))]
        pick = np.minimum((u * ok.sum(axis=1)).astype(np.int64), ok.sum(axis=1) - 1)
        order = np.cumsum(ok, axis=1) - 1
        hit = ok & (order == pick[:, None])
        return np.where(ok.any(axis=1), hit.argmax(axis=1), -1)

    def oracle(ctx: object, on: np.ndarray) -> np.ndarray:
        g = gains[ctx.rows[on], 2 * ctx.step[on] + ctx.dark[on].astype(np.int64)]
        g = np.where(valid[ctx.step[on]], g, -np.inf)
        best = g.argmax(axis=1)
        return np.where(g.max(axis=1) > 0, best, -1)

    plan = recommender_plan(model, params, deals, reviews, progress)
    policies = {"historic": None, "recommender": plan.policy(),
                "random_valid": review_policy(review_set, random_valid),
                "oracle": review_policy(review_set, oracle)}
    horizon = 5 * 365 + int(deals.last_day.max(initial=0))
    ids = np.asarray(_opportunity_ids(deals), dtype=object)
    frames = []
    for name, policy in policies.items():
        j = simulate_journeys(params, deals, policy=policy, record=False, max_day=horizon)
        closed = j.outcome > 0
        frames.append(pd.DataFrame({
            "deal_id": ids, "policy": name,
            "outcome": np.asarray(["open", "won", "lost", "no_decision"])[j.outcome],
            "won": j.outcome == 1, "no_decision": j.outcome == 3,
            "days_to_decision": np.where(closed, j.close_day, np.nan)}))
    return pd.concat(frames, ignore_index=True)


def _opportunity_ids(deals: object) -> list[str]:
    """The opportunity ids of simulated ``deals``."""
    from training.simulator.sf_export import opportunity_ids

    return opportunity_ids(deals.index).to_pylist()


def summarise(outcomes: pd.DataFrame, *, baseline: str = "historic", n_boot: int = 1000,
              seed: int = 0) -> dict[str, dict[str, float]]:
    """Per policy: no-decision rate, win rate and median days to decision.

    Differences to ``baseline`` (policy minus baseline) come with a deal-bootstrap 95 % interval.

    Example:
        >>> o = pd.DataFrame({"deal_id": ["a", "b"] * 2, "policy": ["historic"] * 2 + ["x"] * 2,
        ...                   "won": [True, False, True, True], "no_decision": [False, True] * 2,
        ...                   "days_to_decision": [10.0, 20.0, 12.0, 30.0]})
        >>> s = summarise(o, n_boot=50)
        >>> s["x"]["win_rate"], s["x"]["win_rate_diff"]
        (1.0, 0.5)
    """
    wide = {p: g.set_index("deal_id").sort_index() for p, g in outcomes.groupby("policy")}
    base = wide[baseline]
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(base), (n_boot, len(base)))
    out = {}
    for name, g in wide.items():
        g = g.loc[base.index]
        row = {"deals": float(len(g)), "no_decision_rate": float(g["no_decision"].mean()),
               "win_rate": float(g["won"].mean()),
               "median_days_to_decision": float(np.nanmedian(g["days_to_decision"]))}
        if name != baseline:
            for col, key in (("no_decision", "no_decision_rate"), ("won", "win_rate")):
                d = g[col].to_numpy(float) - base[col].to_numpy(float)
                means = d[boot].mean(axis=1)
                row[f"{key}_diff"] = float(d.mean())
                row[f"{key}_diff_ci_low"] = float(np.quantile(means, 0.025))
                row[f"{key}_diff_ci_high"] = float(np.quantile(means, 0.975))
            row["median_days_to_decision_diff"] = (row["median_days_to_decision"]
                                                   - float(np.nanmedian(base["days_to_decision"])))
        out[name] = row
    return out
