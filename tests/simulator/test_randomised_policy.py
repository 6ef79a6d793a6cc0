"""The simulator can log a randomised trial instead of the confounded historic sellers.

``SimParams(historic_policy="randomised")``: on every open day an action with probability
``action_rate``, each catalogue action alike, whatever the deal's state or rep.  It is what
tells sampling noise from confounding in the next-best-action benchmark
(``benchmarks/bench_nba.py --historic-policy randomised``).
"""

from __future__ import annotations

import numpy as np
import pytest

from training.simulator.dynamics import policy_probs
from training.simulator.journey import KIND_ACTION, simulate_journeys
from training.simulator.latent import draw_deals
from training.simulator.params import ACTIONS, N_STEPS, SimParams


def _actions_by_step(params: SimParams) -> np.ndarray:
    """Counts of the historic actions taken, (buyer step, action), over 1,500 deals."""
    deals = draw_deals(params, np.arange(1500))
    log = simulate_journeys(params, deals).activity
    acted = log["kind"] >= KIND_ACTION
    counts = np.zeros((N_STEPS, len(ACTIONS)))
    np.add.at(counts, (log["step"][acted], log["kind"][acted] - KIND_ACTION), 1)
    return counts


def test_randomised_probabilities_ignore_the_deal_its_step_and_its_rep() -> None:
    params = SimParams(seed=2, n_deals=400, historic_policy="randomised")
    deals = draw_deals(params, np.arange(400))
    rows = np.arange(400)
    rng = np.random.default_rng(0)
    probs = policy_probs(params, deals, rows, rng.integers(0, N_STEPS, 400),
                         rng.random(400) < 0.3)
    expected = np.r_[1 - params.action_rate, np.full(len(ACTIONS), params.action_rate
                                                     / len(ACTIONS))]
    np.testing.assert_allclose(probs, np.tile(expected, (400, 1)), rtol=0, atol=1e-15)
    confounded = policy_probs(SimParams(seed=2, n_deals=400), deals, rows,
                              rng.integers(0, N_STEPS, 400), rng.random(400) < 0.3)
    assert confounded.std(axis=0).max() > 0.005  # the default depends on all of them


def test_a_randomised_log_takes_every_action_alike_at_every_step() -> None:
    counts = _actions_by_step(SimParams(seed=4, n_deals=1500, historic_policy="randomised"))
    observed = counts[counts.sum(axis=1) >= 300]
    assert len(observed) >= 3
    share = observed / observed.sum(axis=1, keepdims=True)
    # multinomial shares of >= 300 draws stay within about 4 standard errors of 1/7
    assert np.abs(share - 1 / len(ACTIONS)).max() < 4 * np.sqrt((1 / 7) * (6 / 7) / 300)
    confounded = _actions_by_step(SimParams(seed=4, n_deals=1500))
    seen = confounded[confounded.sum(axis=1) >= 300]
    mix = seen / seen.sum(axis=1, keepdims=True)
    assert np.abs(mix - 1 / len(ACTIONS)).max() > 0.2  # the sellers' step-appropriate help


def test_the_policy_is_kept_in_params_json_and_a_typo_is_refused() -> None:
    params = SimParams(seed=1, historic_policy="randomised")
    assert SimParams.from_dict(params.to_dict()).historic_policy == "randomised"
    assert SimParams.from_dict({"seed": 1}).historic_policy == "confounded"
    with pytest.raises(ValueError, match="historic_policy must be one of confounded, "
                                         "randomised, not 'random'"):
        SimParams(historic_policy="random")
