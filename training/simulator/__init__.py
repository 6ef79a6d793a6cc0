"""Buyer-journey simulator: Salesforce-style exports with exact ground truth.

Public API::

    simulate_to_dir(n_deals, seed, out_dir, fmt="csv", chunk_size=50_000, horizon_days=30,
                    progress=None) -> SimulationSummary
    simulate_frames(n_deals, seed, ...) -> SimulatedPipeline
    replay(source, deal_ids, from_day, policy) -> DataFrame
    true_action_effects(source, deal_ids) -> DataFrame
"""

from training.simulator.journey import PolicyContext
from training.simulator.metrics import roc_auc
from training.simulator.params import ACTIONS, STAGE_NAMES, STEPS, SimParams
from training.simulator.replay import (
    always,
    historic_policy,
    no_action,
    replay,
    true_action_effects,
)
from training.simulator.simulate import (
    SimulatedPipeline,
    SimulationSummary,
    iter_export_chunks,
    simulate_frames,
    simulate_to_dir,
)

__all__ = [
    "ACTIONS",
    "STAGE_NAMES",
    "STEPS",
    "PolicyContext",
    "SimParams",
    "SimulatedPipeline",
    "SimulationSummary",
    "always",
    "historic_policy",
    "iter_export_chunks",
    "no_action",
    "replay",
    "roc_auc",
    "simulate_frames",
    "simulate_to_dir",
    "true_action_effects",
]
