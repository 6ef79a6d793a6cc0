"""The probability map is fitted on the validation and calibration windows together.

Hand-made feature rows (not simulator output): one informative feature, and a base rate that
swings between the windows, as BPIC 2012's daily stall rate does (0.847 / 0.840 / 0.828).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import FEATURES
from training.model import DealRiskModel, TrainConfig


def _rows(n: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` feature rows whose stall odds rise with buyer silence, base log-odds + ``shift``."""
    frame = pd.DataFrame({name: np.zeros(n, dtype="float32") for name in FEATURES.names})
    silence = rng.uniform(0, 60, n)
    frame["days_since_buyer_activity"] = silence.astype("float32")
    for name in FEATURES.categorical:
        frame[name] = pd.Categorical(["decision"] * n if name == "current_step" else [None] * n)
    p = 1.0 / (1.0 + np.exp(-(silence / 15.0 - 2.0 + shift)))
    frame["label_stall"] = (rng.uniform(size=n) < p).astype("float64")
    return frame


@pytest.fixture(scope="module")
def windows() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    return {"train": _rows(4000, 0.0, rng), "valid": _rows(3000, 0.6, rng),
            "calib": _rows(3000, -0.6, rng)}


@pytest.mark.parametrize("method", ["auto", "sigmoid", "isotonic"])
def test_the_map_averages_the_base_rate_of_both_held_out_windows(windows, method) -> None:
    cfg = TrainConfig(targets=("stall",), candidates=("lightgbm",), monotone="none",
                      n_estimators=40, early_stopping_rounds=0, calibration=method)
    model = DealRiskModel(cfg).fit(windows["train"], windows["valid"], windows["calib"])
    held_out = pd.concat([windows["valid"], windows["calib"]], ignore_index=True)
    pooled = held_out["label_stall"].mean()
    calib_rate = windows["calib"]["label_stall"].mean()
    assert abs(pooled - calib_rate) > 0.05  # the swing a one-window map would learn
    assert model.fit_info_["stall"]["calib_rows"] == len(held_out)
    predicted = model.predict(held_out)["stall_risk"].mean()
    assert predicted == pytest.approx(pooled, abs=0.005)
    assert min(held_out["label_stall"].value_counts()) >= 1000  # auto: enough for isotonic
    expected = "sigmoid" if method == "sigmoid" else "isotonic"
    assert model.fit_info_["stall"]["calibration"] == expected
