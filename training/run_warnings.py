"""The warnings a data scientist needs about a training run, in plain words.

Each check looks at the data or the held-out figures and returns sentences (empty when all is
well); the pipeline prints them, logs them to MLflow (``warnings.txt`` and a tag), writes them
into the model card and keeps them on the model so every ranking report shows them.

- too few closed deals (the big CRMs refuse under 40 + 40 and advise 200 + 200);
- a target with few positives (training under :data:`FEW_POSITIVES` or test under
  :data:`FEW_TEST_POSITIVES`);
- a calibration error above :data:`MAX_ECE` on the test window;
- a wide test AUC interval, or a test window lacking a class (metrics not evaluated);
- few buyer steps (under :data:`FEW_STEPS` distinct steps ever entered);
- no activities (the engagement features are all empty);
- a test window shorter than the horizon, and a history too short for the horizon (under
  :data:`MIN_SPAN_HORIZONS` horizons from the first deal to the export).

Example:
    >>> calibration_warnings({"test.won.ece": 0.08, "test.stall.ece": 0.01})[0][:60]
    'won: calibration error (ECE) 0.080 on the test window is abo'

"""

from __future__ import annotations

import math

import pandas as pd

from features.histories import DealHistories
from features.schema import FEATURES

#: Closed won / not-won deals below which CRMs refuse to score (40+40) or advise more (200+200).
MIN_CLOSED, ADVISED_CLOSED = 40, 200
MAX_ECE = 0.05
FEW_POSITIVES = 200
FEW_TEST_POSITIVES = 30
FEW_STEPS = 3
MIN_SPAN_HORIZONS = 4
WIDE_CI = 0.1
_ENGAGEMENT = [f.name for f in FEATURES if f.family == "engagement"]


def closed_deal_warnings(histories: DealHistories, known_until: pd.Timestamp) -> list[str]:
    """Too few won or not-won closed deals for trustworthy figures."""
    deals = histories.deals
    closed = deals["closed_at"].notna() & (deals["closed_at"] <= known_until)
    outcome = deals.loc[closed, "outcome"].astype("str")
    won, not_won = int((outcome == "won").sum()), int((outcome != "won").sum())
    if min(won, not_won) >= ADVISED_CLOSED:
        return []
    level = "below the minimum" if min(won, not_won) < MIN_CLOSED else "small"
    return [f"only {won} won and {not_won} lost/no-decision closed deals ({level}: the big CRMs "
            f"need at least {MIN_CLOSED}+{MIN_CLOSED} and advise {ADVISED_CLOSED}+"
            f"{ADVISED_CLOSED}); expect wide uncertainty in every metric (see the AUC "
            "confidence intervals)"]


def positives_warnings(parts: dict[str, pd.DataFrame], targets: tuple[str, ...]) -> list[str]:
    """Targets with few positive rows in the training or the test window.

    Example:
        >>> parts = {"train": pd.DataFrame({"label_won": [1.0] * 50 + [0.0] * 500}),
        ...          "test": pd.DataFrame({"label_won": [1.0] * 40 + [0.0] * 90})}
        >>> positives_warnings(parts, ("won",))[0][:44]
        'won: only 50 positive rows in the training w'
    """
    out = []
    for target in targets:
        for part, floor in (("train", FEW_POSITIVES), ("test", FEW_TEST_POSITIVES)):
            frame = parts.get(part)
            if frame is None or f"label_{target}" not in frame:
                continue
            y = frame[f"label_{target}"].dropna()
            positives = int(y.sum())
            if 0 < positives < floor:
                window = "training" if part == "train" else "test"
                out.append(f"{target}: only {positives} positive rows in the {window} window "
                           f"(of {len(y):,}); its model and figures are rough")
    return out


def calibration_warnings(metrics: dict[str, float]) -> list[str]:
    """Targets whose test calibration error is above :data:`MAX_ECE`."""
    out = []
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "test" and parts[2] == "ece" and value > MAX_ECE:
            out.append(f"{parts[1]}: calibration error (ECE) {value:.3f} on the test window is "
                       f"above {MAX_ECE}; its probabilities are off by about that much")
    return out


def interval_warnings(target: str, low: float, high: float) -> list[str]:
    """A wide test AUC interval, or none at all (the test window lacks a class).

    Example:
        >>> interval_warnings("stall", 0.55, 0.8)[0][:40]
        'stall: test ROC AUC 95% CI [0.55, 0.80] '
    """
    if math.isnan(low):
        return [f"{target}: the test window lacks one of the classes; its test figures are not "
                "evaluated"]
    if high - low > WIDE_CI:
        return [f"{target}: test ROC AUC 95% CI [{low:.2f}, {high:.2f}] is wide; treat the "
                "metrics as rough"]
    return []


def data_shape_warnings(histories: DealHistories, rows: pd.DataFrame, *, known_until: pd.Timestamp,
                        horizon_days: int,
                        windows: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]]
                        ) -> list[str]:
    """Few buyer steps, no activities, a short test window or a short history."""
    out = []
    steps = rows["current_step"].dropna().astype("str").unique() if len(rows) else []
    if len(steps) < FEW_STEPS:
        out.append(f"only {len(steps)} buyer step(s) seen in the snapshots "
                   f"({', '.join(sorted(steps)) or 'none'}): stage-age and progress signals "
                   "carry little, and a deal cannot show movement between steps")
    engagement = [c for c in _ENGAGEMENT if c in rows]
    if not histories.profile.has_activities or (
            len(rows) and engagement and rows[engagement].isna().all().all()):
        out.append("no activities: the engagement features (buyer and seller activity, "
                   "silence, contacts engaged) are all empty; the risk rests on stage, dates "
                   "and context only")
    start, end = windows.get("test", (None, None))
    if start is not None and end is not None:
        days = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 86_400
        if days < horizon_days:
            out.append(f"the test window spans {days:.0f} days, shorter than the {horizon_days}-"
                       "day horizon: its stall figures rest on few horizons")
    created = histories.deals["created_at"].min() if len(histories.deals) else None
    if created is not None and not pd.isna(created):
        span = (pd.Timestamp(known_until) - pd.Timestamp(created)).total_seconds() / 86_400
        if span < MIN_SPAN_HORIZONS * horizon_days:
            out.append(f"the history spans {span:.0f} days, under {MIN_SPAN_HORIZONS} horizons "
                       f"of {horizon_days} days: too small a pipeline for this horizon (try a "
                       "shorter --horizon)")
    return out
