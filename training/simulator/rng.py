"""Counter-based random numbers: every draw is a hash of (seed, deal, day, stream).

A sequential generator would tie each deal's draws to the order deals are simulated
in; hashing the coordinates instead makes a deal's draws independent of chunking and
lets :func:`training.simulator.replay.replay` re-run any deal alone with the same
("common") random numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DAY_MUL = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


class Stream(IntEnum):
    """Independent random streams; each use of randomness has its own."""

    # per deal (day = 0)
    OWNER = 1
    ACCOUNT = 2
    TYPE = 3
    SEGMENT = 4
    REGION = 5
    INDUSTRY = 6
    LEAD = 7
    CREATED_DAY = 8
    CREATED_TIME = 9
    INTENT = 10
    URGENCY = 12
    BUDGET = 14
    CHAMPION = 16
    SPEED = 18
    PERCEIVED = 20
    COMMITTEE = 22
    ROLE_ORDER = 23
    AMOUNT = 24
    CURRENCY = 26
    CLOSE_PLAN = 27
    INITIAL_STEP = 28
    SKILL = 29  # per owner
    # per deal-day
    ACTION = 40
    TRANSITION = 41
    BUYER = 42
    SELLER = 43
    PROPOSAL = 44
    AMOUNT_CHANGE = 45
    AMOUNT_FACTOR = 46
    PUSH = 47
    PUSH_DAYS = 48
    CHANGE_TIME = 49
    LOSS_REASON = 50
    # per activity (day, slot * 8 + attribute)
    ACTIVITY = 64


def _mix(z: np.ndarray) -> np.ndarray:
    """Splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def uniform(seed: int, index: np.ndarray, day: np.ndarray | int, stream: int) -> np.ndarray:
    """Uniform(0, 1) draws keyed by (seed, index, day, stream), broadcast over arrays.

    Example:
        >>> import numpy as np
        >>> u = uniform(1, np.arange(3), 0, Stream.INTENT)
        >>> bool(((u > 0) & (u < 1)).all())
        True
    """
    idx = np.atleast_1d(np.asarray(index)).astype(np.uint64)
    d = np.atleast_1d(np.asarray(day)).astype(np.uint64)
    key = np.array([(int(seed) * 0x100000001B3 + int(stream) * 0x632BE59BD9B4E019) % 2**64],
                   dtype=np.uint64)
    z = _mix(idx * _GOLDEN + key)
    z = _mix(z ^ (d * _DAY_MUL + _GOLDEN))
    return ((z >> _S11).astype(np.float64) + 0.5) * (1.0 / 2**53)


def normal(seed: int, index: np.ndarray, day: np.ndarray | int, stream: int) -> np.ndarray:
    """Standard normal draws (Box–Muller on streams ``stream`` and ``stream + 1``).

    Example:
        >>> import numpy as np
        >>> z = normal(1, np.arange(20000), 0, Stream.INTENT)
        >>> abs(float(z.mean())) < 0.05
        True
    """
    u1 = uniform(seed, index, day, stream)
    u2 = uniform(seed, index, day, stream + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def choice(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inverse-CDF categorical draw: index into ``weights`` for each uniform ``u``.

    Example:
        >>> import numpy as np
        >>> choice(np.array([0.1, 0.9]), np.array([0.5, 0.5])).tolist()
        [0, 1]
    """
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf = cdf / cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
