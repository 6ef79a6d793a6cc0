from __future__ import annotations

import pytest

from training.simulator import SimulatedPipeline, simulate_frames


@pytest.fixture(scope="session")
def pipe() -> SimulatedPipeline:
    """The reference pipeline of the targets: N=5000, seed=1."""
    return simulate_frames(5000, seed=1)
