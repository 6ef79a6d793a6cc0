"""Per-deal constants: hidden buyer traits (never exported) and CRM-visible attributes.

The latent traits (intent, urgency, budget, champion strength, speed, the rep's skill)
drive the journey; the observables (segment, amount, type, lead source, the buyer's stated
timeline, i.e. the first expected close date) are only noisily tied to them, so no exported
field reveals the truth directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.simulator.params import COMMITTEE_REACH, MAX_COMMITTEE, SimParams
from training.simulator.rng import Stream, choice, normal, uniform


@dataclass
class Deals:
    """Constants of a batch of deals, one array element per deal (global ``index``)."""

    index: np.ndarray  # global deal number 0..n_deals-1
    owner: np.ndarray
    account: np.ndarray
    rep_skill: np.ndarray
    intent: np.ndarray
    perceived_intent: np.ndarray
    urgency: np.ndarray
    budget: np.ndarray
    champion: np.ndarray
    speed: np.ndarray
    committee_size: np.ndarray
    role_perm: np.ndarray  # (n, 8) role code of committee slot k
    deal_type: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    currency: np.ndarray  # 0 USD, 1 EUR, 2 GBP
    industry: np.ndarray
    lead_source: np.ndarray
    amount_cents: np.ndarray
    created_day: np.ndarray  # days since epoch
    created_ts: np.ndarray  # seconds since epoch
    last_day: np.ndarray  # last simulable day offset (days since creation)
    close_plan: np.ndarray  # planned close date, days after creation
    initial_step: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def slot_of(self, role: int) -> np.ndarray:
        """Committee slot holding role code ``role`` (index into ``ROLES``) in each deal.

        The member in slot k takes part once the buyer step reaches ``COMMITTEE_REACH > k``;
        a slot at or past ``committee_size`` is never part of the deal.

        Example:
            >>> d = draw_deals(SimParams(seed=1, n_deals=3), np.arange(3))
            >>> d.slot_of(0).tolist()   # the champion is always the primary contact
            [0, 0, 0]
        """
        return np.argmax(self.role_perm == role, axis=1)

    def engaged_at(self, role: int, rows: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Whether the member with ``role`` is engaged in the deal at ``step`` (per element).

        Example:
            >>> d = draw_deals(SimParams(seed=1, n_deals=3), np.arange(3))
            >>> d.engaged_at(0, np.arange(3), np.zeros(3, np.int64)).tolist()
            [True, True, True]
        """
        reach = np.minimum(self.committee_size[rows], COMMITTEE_REACH[np.asarray(step)])
        return self.slot_of(role)[rows] < reach

    def latent(self, name: str) -> np.ndarray:
        """Return the latent array called ``name`` (intent, urgency, budget, champion, speed).

        Example:
            >>> # deals.latent("intent")
        """
        return np.asarray(getattr(self, name))


def rep_skill(params: SimParams, owner: np.ndarray) -> np.ndarray:
    """Skill (standard normal) of each rep in ``owner``.

    Example:
        >>> import numpy as np
        >>> s = rep_skill(SimParams(seed=1), np.array([0, 0, 1]))
        >>> bool(s[0] == s[1])
        True
    """
    return normal(params.seed, owner, 0, Stream.SKILL)


def draw_deals(params: SimParams, index: np.ndarray) -> Deals:
    """Draw the constants of the deals with global numbers ``index``.

    Example:
        >>> import numpy as np
        >>> d = draw_deals(SimParams(seed=1, n_deals=10), np.arange(10))
        >>> int(d.committee_size.min()) >= 1
        True
    """
    s = params.seed
    idx = np.asarray(index, dtype=np.int64)
    n = len(idx)

    def u(stream: Stream) -> np.ndarray:
        return uniform(s, idx, 0, stream)

    def z(stream: Stream) -> np.ndarray:
        return normal(s, idx, 0, stream)

    owner = np.minimum((u(Stream.OWNER) * params.n_owners).astype(np.int64), params.n_owners - 1)
    account = (u(Stream.ACCOUNT) * params.n_accounts).astype(np.int64)
    skill = rep_skill(params, owner)
    deal_type = choice(u(Stream.TYPE), np.array([0.6, 0.25, 0.15]))
    intent = (
        params.intent_on_skill * skill
        + params.intent_on_type * (deal_type > 0)
        + np.sqrt(1 - params.intent_on_skill**2) * z(Stream.INTENT)
    )
    urgency = z(Stream.URGENCY)
    budget = 0.25 * intent + 0.97 * z(Stream.BUDGET)
    champion = 0.35 * intent + 0.94 * z(Stream.CHAMPION)
    sig = params.speed_sigma
    speed = np.exp(sig * z(Stream.SPEED) - 0.5 * sig * sig)
    perceived = intent + params.perceived_intent_noise * z(Stream.PERCEIVED)

    # observables, weakly tied to the latent traits
    seg_u = np.clip(u(Stream.SEGMENT) + 0.06 * budget, 0.0, 0.999999)
    segment = choice(seg_u, np.array([0.45, 0.35, 0.20]))
    speed = speed * np.array([1.15, 1.0, 0.8])[segment]
    region = choice(u(Stream.REGION), np.array([0.55, 0.3, 0.15]))
    cur_u = u(Stream.CURRENCY)
    currency = np.where(region == 1, np.where(cur_u < 0.3, 2, 1), 0)
    industry = choice(u(Stream.INDUSTRY), np.ones(8))
    inbound_p = 1.0 / (1.0 + np.exp(0.4 - 0.5 * urgency))
    lead_u = u(Stream.LEAD)
    lead_source = np.where(
        lead_u < inbound_p,
        choice(lead_u / inbound_p, np.array([0.5, 0.15, 0.15, 0.2])),
        4 + (((lead_u - inbound_p) / (1 - inbound_p)) > 0.7),
    )
    seg_amount = np.log(np.array([12_000.0, 45_000.0, 160_000.0]))[segment]
    amount = np.exp(seg_amount + 0.12 * budget + 0.5 * z(Stream.AMOUNT))
    amount_cents = (np.round(amount / 100.0) * 100.0 * 100).astype(np.int64)
    amount_cents = np.maximum(amount_cents, 100_000)

    committee_mean = np.array([2.0, 3.5, 5.0])[segment]
    committee = np.clip(
        np.round(committee_mean + 1.4 * normal(s, idx, 0, Stream.COMMITTEE)), 1, MAX_COMMITTEE
    ).astype(np.int64)
    # slot 0 is the champion (the primary contact), the other roles in random order: the
    # economic buyer may be the second person the seller meets or one never met at all
    keys = uniform(s, np.repeat(idx, 7), np.tile(np.arange(7), n), Stream.ROLE_ORDER).reshape(n, 7)
    role_perm = np.concatenate([np.zeros((n, 1), np.int64), 1 + np.argsort(keys, axis=1)], axis=1)

    export_day = params.export_day
    created_day = export_day - 1 - (u(Stream.CREATED_DAY) * params.window_days).astype(np.int64)
    created_ts = created_day * 86400 + 8 * 3600 + (u(Stream.CREATED_TIME) * 10 * 3600).astype(
        np.int64
    )
    last_day = export_day - 1 - created_day
    plan_noise = np.exp(0.3 * normal(s, idx, 0, Stream.CLOSE_PLAN))
    # the expected close date is the buyer's stated timeline: nearer when the buyer is urgent
    # or the buying process fast
    plan = (np.array([45.0, 75.0, 110.0])[segment] * plan_noise
            * np.exp(params.plan_urgency * urgency) * speed**params.plan_speed)
    initial_step = (
        (lead_source <= 3) & (uniform(s, idx, 0, Stream.INITIAL_STEP) < 0.3)
    ).astype(np.int64)
    return Deals(
        index=idx,
        owner=owner,
        account=account,
        rep_skill=skill,
        intent=intent,
        perceived_intent=perceived,
        urgency=urgency,
        budget=budget,
        champion=champion,
        speed=speed,
        committee_size=committee,
        role_perm=role_perm,
        deal_type=deal_type,
        segment=segment,
        region=region,
        currency=currency,
        industry=industry,
        lead_source=lead_source,
        amount_cents=amount_cents,
        created_day=created_day,
        created_ts=created_ts,
        last_day=last_day,
        close_plan=np.round(plan).astype(np.int64),
        initial_step=initial_step,
    )
