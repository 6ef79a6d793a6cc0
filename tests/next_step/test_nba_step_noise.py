"""``benchmarks/nba_step_noise.py``: per-step logged lifts, their noise, and the deals needed.

The arithmetic is checked on a hand-made log; the script itself is run as the README types it
(on a small randomised pipeline) and its JSON line is read back.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def noise():
    spec = importlib.util.spec_from_file_location("nba_step_noise",
                                                  ROOT / "benchmarks" / "nba_step_noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lifts_are_the_no_action_rate_minus_each_actions_rate(noise) -> None:
    # none: 4 rows, 2 no decisions (0.5); action 0: 2 rows, none (0.0); action 1: 1 row, 1 (1.0)
    y = np.array([1, 0, 1, 0, 0, 0, 1], dtype=float)
    logged = np.array([-1, -1, -1, -1, 0, 0, 1])
    lifts = noise._lifts(np.ones((1, 7)), y, logged, np.array([0, 1]))
    np.testing.assert_allclose(lifts, [[0.5, -0.5]])
    # a bootstrap weight doubles row 0 (none, no decision) and drops row 1: none 3/4
    weight = np.array([[2, 0, 1, 1, 1, 1, 1]], dtype=float)
    np.testing.assert_allclose(noise._lifts(weight, y, logged, np.array([0, 1])), [[0.75, -0.25]])


@pytest.mark.slow
def test_the_script_as_typed_reads_a_randomised_pipeline(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/nba_step_noise.py", "--deals", "1500", "--workdir",
         str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["historic_policy"] == "randomised" and result["n_deals"] == 1500
    assert json.loads((tmp_path / "sim1500_s1_randomised" / "export" / "truth" / "params.json"
                       ).read_text())["historic_policy"] == "randomised"
    assert set(result["steps"]) >= {"curious", "problem_shared", "solution_visualised"}
    for step in result["steps"].values():
        assert 0.0 <= step["p_logs_pick_true_best"] <= 1.0 and step["true_gap_to_second_pts"] >= 0
        assert step["true_best"] in step["actions"]
        assert all(a["took"] > 0 and a["se_pts"] > 0 for a in step["actions"].values())
    expected = 1500 * (2.8 * result["median_se_pts"] / result["median_true_gap_pts"]) ** 2
    assert result["deals_to_rank_median_gap"] == pytest.approx(expected)
    assert np.isfinite(result["expected_loss_vs_step_oracle_pts"])
    assert result["step_oracle_gain_pts"] > 0
    assert any(line.startswith("   median SE") for line in lines)
