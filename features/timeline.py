"""The one time filter: every read of history goes through :meth:`Timeline.upto`.

Boundary rule: an event is known at ``as_of`` when its time is **at or before** ``as_of``
(``time <= as_of``), compared at millisecond resolution.  A window of ``w`` days at ``as_of`` holds
the events with ``as_of - w < time <= as_of``.

A :class:`Timeline` holds one table's events sorted by (deal position, time) as composite int64
keys ``deal << time_bits | (time - base)``, so counting a deal's events up to any time is a single
vectorised ``searchsorted``.

Example:
    >>> import numpy as np
    >>> clock = Clock(base_ms=0, time_bits=40)
    >>> tl = Timeline.build(clock, deal=np.array([0, 0, 1]), t_ms=np.array([5, 10, 7]))
    >>> tl.upto(np.array([0, 0, 1]), np.array([9, 10, 6])).tolist()   # positions after filter
    [1, 2, 2]
    >>> tl.count(np.array([0, 0, 1]), np.array([9, 10, 6])).tolist()  # events known so far
    [1, 2, 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MS_PER_DAY = 86_400_000
#: Time sentinel for "never" (e.g. an open deal's close time).
NEVER_MS = np.iinfo(np.int64).max // 2


@dataclass(frozen=True)
class Clock:
    """How times are packed into keys: an origin and the number of bits kept for time."""

    base_ms: int
    time_bits: int

    @classmethod
    def covering(cls, min_ms: int, max_ms: int, n_deals: int, lookback_days: int = 400
                 ) -> Clock:
        """A clock whose keys hold ``[min_ms - lookback, max_ms]`` for ``n_deals`` deals."""
        base = int(min_ms) - lookback_days * MS_PER_DAY
        span = max(int(max_ms) - base + 1, 2)
        bits = int(np.ceil(np.log2(span))) + 1
        if bits + int(np.ceil(np.log2(max(n_deals, 2)))) > 62:
            raise ValueError(
                f"{n_deals:,} deals over {span / MS_PER_DAY:,.0f} days do not fit one timeline; "
                "split the deals into partitions (see features.dask_build)")
        return cls(base, bits)

    def key(self, deal: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        """Composite keys; times are clipped into the clock's range."""
        rel = np.asarray(t_ms, dtype=np.int64) - self.base_ms
        np.maximum(rel, 0, out=rel)
        np.minimum(rel, (1 << self.time_bits) - 1, out=rel)
        return (np.asarray(deal, dtype=np.int64) << self.time_bits) | rel


@dataclass
class Timeline:
    """One table's events sorted by (deal, time), with optional payload columns in that order."""

    clock: Clock
    keys: np.ndarray
    t_ms: np.ndarray
    columns: dict[str, np.ndarray]
    offsets: np.ndarray | None = None
    prefixes: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, clock: Clock, deal: np.ndarray, t_ms: np.ndarray,
              **columns: np.ndarray) -> Timeline:
        """Sort events by (deal, time) — ties keep input order — and key them."""
        keys = clock.key(deal, t_ms)
        order = np.argsort(keys, kind="stable")
        return cls(clock, keys[order], np.asarray(t_ms, dtype=np.int64)[order],
                   {name: np.asarray(col)[order] for name, col in columns.items()})

    @property
    def deal(self) -> np.ndarray:
        """Deal position of each event (derived from the keys)."""
        return self.keys >> self.clock.time_bits

    def __len__(self) -> int:
        return len(self.keys)

    def index_deals(self, n_deals: int) -> Timeline:
        """Precompute where each of deals ``0..n_deals-1`` starts (faster start/end); chainable."""
        bounds = np.arange(n_deals + 1, dtype=np.int64) << self.clock.time_bits
        self.offsets = np.searchsorted(self.keys, bounds, side="left")
        return self

    def start(self, deal: np.ndarray) -> np.ndarray:
        """Position of each deal's first event (or where it would be)."""
        if self.offsets is not None:
            return self.offsets[deal]
        return np.searchsorted(self.keys, np.asarray(deal, dtype=np.int64) << self.clock.time_bits,
                               side="left")

    def end(self, deal: np.ndarray) -> np.ndarray:
        """Position just past each deal's last event (all times)."""
        return self.start(np.asarray(deal, dtype=np.int64) + 1)

    def upto(self, deal: np.ndarray, as_of_ms: np.ndarray) -> np.ndarray:
        """THE time filter: position just past each deal's last event with time <= as_of."""
        return np.searchsorted(self.keys, self.clock.key(deal, as_of_ms), side="right")

    def count(self, deal: np.ndarray, as_of_ms: np.ndarray) -> np.ndarray:
        """Number of each deal's events known at ``as_of``."""
        return self.upto(deal, as_of_ms) - self.start(deal)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """Prefix sums with a leading 0, so ``p[upto] - p[start]`` sums a deal's known events."""
        values = np.asarray(values)
        values = values if values.dtype.kind == "f" else values.astype(np.int32)
        out = np.zeros(len(values) + 1, dtype=values.dtype)
        np.cumsum(values, out=out[1:])
        return out

    def add_prefix(self, name: str, values: np.ndarray) -> Timeline:
        """Store :meth:`prefix` of ``values`` (in timeline order) under ``name``; chainable."""
        self.prefixes[name] = self.prefix(values)
        return self

    def subset(self, mask: np.ndarray) -> Timeline:
        """The events where ``mask`` holds (already in order): keys and times, no columns."""
        return Timeline(self.clock, self.keys[mask], self.t_ms[mask], {})
