"""Model constants and tunable parameters of the buyer-journey simulator.

Everything the simulator draws is a function of a :class:`SimParams` instance, so a
``params.json`` written next to the ground truth is enough to re-run any deal
(see :func:`training.simulator.replay.replay`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

# Buyer steps (index = hidden step) and the Salesforce stage each one maps to.
STEPS: tuple[str, ...] = (
    "curious",
    "problem_shared",
    "solution_visualised",
    "evaluation_plan",
    "decision",
)
STAGE_NAMES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Id. Decision Makers",
    "Perception Analysis",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
STAGE_PROBABILITY: tuple[int, ...] = (10, 10, 60, 70, 90, 100, 0)
N_STEPS = 5
N_TRANSIENT = 2 * N_STEPS  # hidden state x = 2 * step + dark
WON, LOST, NO_DECISION = 10, 11, 12  # absorbing state indices
N_STATES = 13
#: The historic policies a simulation can log (see :attr:`SimParams.historic_policy`).
HISTORIC_POLICIES: tuple[str, ...] = ("confounded", "randomised")
OUTCOMES: tuple[str, ...] = ("open", "won", "lost", "no_decision")

# Recommendable seller actions (index = action code; -1 = no action).
ACTIONS: tuple[str, ...] = (
    "confirm_problem",
    "reach_economic_buyer",
    "agree_evaluation_plan",
    "confirm_decision_date",
    "run_evaluation",
    "share_customer_stories",
    "reengage_dark_buyer",
)
N_ACTIONS = len(ACTIONS)
NO_ACTION = -1

# Transition categories of one day (the remainder is "stay").
CATEGORIES: tuple[str, ...] = ("forward", "regress", "dark", "return", "lost", "no_decision", "won")
FWD, REG, DRK, RET, LST, NDC, WIN = range(7)

ROLES: tuple[str, ...] = (
    "Champion",
    "Economic Buyer",
    "Technical Buyer",
    "Business User",
    "Procurement",
    "Legal",
    "Executive Sponsor",
    "Influencer",
)
MAX_COMMITTEE = 8
ECONOMIC_BUYER, PROCUREMENT = ROLES.index("Economic Buyer"), ROLES.index("Procurement")
#: How many committee members (slots 0..k-1) take part at each buyer step.
COMMITTEE_REACH = np.array([1, 2, 4, 5, 8])
SEGMENTS: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
REGIONS: tuple[str, ...] = ("AMER", "EMEA", "APAC")
DEAL_TYPES: tuple[str, ...] = ("New Business", "Expansion", "Renewal")
LEAD_SOURCES: tuple[str, ...] = (
    "Web",
    "Inbound Call",
    "Partner Referral",
    "Customer Referral",
    "Outbound",
    "Trade Show",
)
INDUSTRIES: tuple[str, ...] = (
    "Technology",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Public Sector",
    "Energy",
)
LOSS_REASONS_LOST: tuple[str, ...] = ("Lost to competitor", "Price", "Missing feature")
LOSS_REASONS_ND: tuple[str, ...] = ("No decision", "No budget", "Went dark", "Timing")


def _default_effects() -> dict[str, list[list[float]]]:
    """Per-action multipliers: ``{action: [[step, dark, category, multiplier], ...]}``.

    At every step two or three actions compete, each helping a different kind of deal (see
    :func:`_default_gates`), so the best action depends on the deal, not only on its step.
    """
    return {
        "confirm_problem": [
            [0, 0, FWD, 3.0], [0, 0, NDC, 0.5], [1, 0, FWD, 3.2], [1, 0, NDC, 0.5],
            [4, 0, NDC, 0.45], [4, 0, WIN, 1.6], [2, 0, DRK, 1.3], [3, 0, DRK, 1.3],
            *[[s, 1, NDC, 0.8] for s in range(N_STEPS)],
        ],
        "reach_economic_buyer": [
            [1, 0, FWD, 2.6], [1, 0, NDC, 0.7], [2, 0, FWD, 3.0], [2, 0, NDC, 0.7],
            [3, 0, FWD, 1.8], [3, 0, LST, 0.7], [4, 0, WIN, 2.0], [0, 0, DRK, 2.0],
        ],
        "agree_evaluation_plan": [
            [2, 0, FWD, 3.0], [2, 0, NDC, 0.5], [3, 0, FWD, 3.2], [3, 0, NDC, 0.45],
            [3, 0, DRK, 0.6], [0, 0, DRK, 2.2], [1, 0, DRK, 1.6],
        ],
        "confirm_decision_date": [
            [3, 0, FWD, 3.0], [3, 0, NDC, 0.45], [4, 0, WIN, 3.0], [4, 0, NDC, 0.4],
            [0, 0, DRK, 1.8], [1, 0, DRK, 1.5],
        ],
        "run_evaluation": [
            [2, 0, FWD, 3.4], [2, 0, REG, 0.4], [3, 0, FWD, 3.2], [3, 0, REG, 0.4],
            [4, 0, LST, 0.7], [0, 0, FWD, 0.8],
        ],
        "share_customer_stories": [
            [0, 0, FWD, 3.2], [0, 0, NDC, 0.45], [1, 0, FWD, 1.8], [2, 0, FWD, 1.4],
            [4, 0, LST, 0.8], [4, 0, WIN, 1.4],
            *[[s, 1, RET, 5.0] for s in range(N_STEPS)],
            *[[s, 1, NDC, 0.6] for s in range(N_STEPS)],
        ],
        "reengage_dark_buyer": [
            *[[s, 1, RET, 5.0] for s in range(N_STEPS)],
            *[[s, 1, NDC, 0.7] for s in range(N_STEPS)],
            *[[s, 0, DRK, 1.6] for s in range(N_STEPS)],
        ],
    }


def _default_gates() -> dict[str, list[list[Any]]]:
    """Deal state the action effects depend on, written from the buyer journey.

    - reaching the economic buyer helps only while none takes part yet;
    - a written evaluation plan matters little once procurement runs a formal evaluation;
    - confirming the problem and the cost of not deciding moves a buyer without urgency,
      confirming the decision date one with urgency;
    - an evaluation with the buying group works when the champion is strong;
    - customer stories move a low-intent buyer, re-engaging a dark buyer works when intent
      is high.
    """
    return {
        "confirm_problem": [["latent", "urgency", -4.0, -0.5]],
        "reach_economic_buyer": [["role_missing", ECONOMIC_BUYER, 0.1],
                                 ["latent", "champion", 1.0]],
        "agree_evaluation_plan": [["role_missing", PROCUREMENT, 0.2]],
        "confirm_decision_date": [["latent", "urgency", 4.0, -0.5]],
        "run_evaluation": [["latent", "champion", 4.0, -0.5]],
        "share_customer_stories": [["latent", "intent", -4.0, -0.5]],
        "reengage_dark_buyer": [["latent", "intent", 4.0, -0.5]],
    }


@dataclass(frozen=True)
class SimParams:
    """All inputs of one simulation run (seed, size, clock and model constants).

    Example:
        >>> p = SimParams(seed=1, n_deals=100)
        >>> p.n_owners >= 5
        True
    """

    seed: int = 0
    n_deals: int = 1000
    horizon_days: int = 30
    export_time: str = "2025-01-01T00:00:00Z"
    window_days: int = 730
    deals_per_owner: int = 400
    accounts_per_deal: float = 0.6
    # latent structure
    intent_on_skill: float = 0.45
    intent_on_type: float = 0.3
    speed_sigma: float = 0.55
    perceived_intent_noise: float = 0.8
    # how the latent traits show in what the buyer says and does (noisy traces, never the value)
    plan_urgency: float = -0.5  # log-loadings of the buyer's stated timeline (close date)
    plan_speed: float = -0.5  # on log speed: faster buying processes state shorter timelines
    buyer_intent: float = 0.5  # log-loadings of the buyer-initiated activity rate
    buyer_champion: float = 0.25
    buyer_urgency: float = 0.4
    buyer_speed: float = 0.5  # on log speed: faster organisations reach out more often
    # daily transition base rates per step (engaged)
    fwd_base: tuple[float, ...] = (0.0324, 0.0288, 0.0259, 0.0259, 0.0)
    won_base: float = 0.009
    reg_base: tuple[float, ...] = (0.0, 0.0029, 0.005, 0.0058, 0.0058)
    dark_base: tuple[float, ...] = (0.0150, 0.0122, 0.0103, 0.0094, 0.0094)
    lost_base: tuple[float, ...] = (0.0018, 0.0022, 0.0032, 0.0043, 0.0072)
    nd_engaged_base: tuple[float, ...] = (0.0014, 0.0011, 0.0007, 0.0007, 0.0007)
    # dark state
    # dark spells last weeks to months (mean about 40 days) before the buyer returns or the
    # deal is closed out
    return_base: float = 0.0126
    nd_dark_base: float = 0.012
    lost_dark_base: float = 0.0007
    # latent loadings of the transition log-rates
    fwd_intent: float = 0.35
    fwd_urgency: float = 0.35
    fwd_champion: float = 0.3
    dark_intent: float = -0.55
    dark_urgency: float = -0.35
    lost_budget: float = -0.45
    nd_urgency: float = -0.5
    nd_budget: float = -0.35
    return_intent: float = 0.45
    return_champion: float = 0.3
    regress_champion: float = -0.3
    # emissions (daily probabilities)
    buyer_rate: float = 0.10
    buyer_rate_dark: float = 0.004
    seller_rate: float = 0.26
    seller_rate_dark: float = 0.14
    proposal_rate: float = 0.03
    # historic policy
    #: How the historic sellers chose their actions: ``"confounded"`` (skilled reps pick the
    #: step-appropriate help, and reps act more on deals they perceive as promising) or
    #: ``"randomised"`` (a randomised trial's log: on each open day an action with probability
    #: ``action_rate``, each of the catalogue's actions alike, whatever the deal, step or rep).
    historic_policy: str = "confounded"
    action_rate: float = 0.05
    action_skill: float = 0.35
    action_perceived_intent: float = 0.35
    action_fit_skill: float = 1.5
    effects: dict[str, list[list[float]]] = field(default_factory=_default_effects)
    #: What an action's effect depends on besides step and engagement: per action, gates that
    #: scale its log multipliers. ``["latent", name, slope, shift]`` scales by ``2 sigmoid(slope
    #: * latent) + shift`` (hidden buyer traits; a negative shift turns the action against the
    #: deals it does not fit); ``["role_missing", role, factor]`` by ``factor`` once
    #: the committee member with that role takes part at the deal's step (recorded in the CRM
    #: when they show up).
    effect_gates: dict[str, list[list[Any]]] = field(default_factory=_default_gates)
    #: Scale of every action's log multipliers (1: as written in ``effects``): 2 makes the best
    #: action worth a few points of final no-decision probability, as in real selling.
    effect_strength: float = 2.0

    def __post_init__(self) -> None:
        if self.historic_policy not in HISTORIC_POLICIES:
            raise ValueError(f"historic_policy must be one of {', '.join(HISTORIC_POLICIES)}, "
                             f"not {self.historic_policy!r}")

    @property
    def export_epoch(self) -> int:
        """Export time in seconds since the Unix epoch (UTC)."""
        dt = datetime.fromisoformat(self.export_time.replace("Z", "+00:00"))
        return int(dt.astimezone(UTC).timestamp())

    @property
    def export_day(self) -> int:
        """Export time's day number since the epoch (days fully before it can be simulated)."""
        return -(-self.export_epoch // 86400)

    @property
    def n_owners(self) -> int:
        """Number of sales reps the deals are spread over."""
        return max(5, self.n_deals // self.deals_per_owner)

    @property
    def n_accounts(self) -> int:
        """Number of accounts deals are drawn from (collisions model repeat business)."""
        return max(1, int(self.n_deals * self.accounts_per_deal))

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-serialisable dict.

        Example:
            >>> SimParams(seed=3).to_dict()["seed"]
            3
        """
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimParams:
        """Rebuild parameters from :meth:`to_dict` output.

        Example:
            >>> p = SimParams(seed=2)
            >>> SimParams.from_dict(p.to_dict()) == p
            True
        """
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k not in names:
                continue
            kw[k] = tuple(v) if isinstance(v, list) and k.endswith("_base") else v
        return cls(**kw)

    @classmethod
    def load(cls, path: Path) -> SimParams:
        """Load ``params.json`` (or the ``truth/`` directory holding it).

        Example:
            >>> # SimParams.load(Path("out/truth"))
        """
        path = Path(path)
        if path.is_dir():
            direct = path / "params.json"
            path = direct if direct.exists() else path / "truth" / "params.json"
        return cls.from_dict(json.loads(path.read_text()))
