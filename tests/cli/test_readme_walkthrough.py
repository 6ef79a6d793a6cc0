"""The README's walkthrough "from your CRM's export to a ranking", run exactly as written.

The commands are read from the README (between the ``walkthrough`` markers), so the README and
this test cannot drift apart; they run through the installed ``dealrisk`` binary in a scratch
folder holding links to the repository's ``examples`` and ``.venv``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dealrisk_cli import BINARY, QUIET, flat, shown

ROOT = Path(__file__).parents[2]


def walkthrough_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough -->\s*```bash\n(.*?)```\s*<!-- /walkthrough -->", text,
                      re.S)
    assert block, "README has no walkthrough block"
    return [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(tmp_path: Path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(BINARY.parent)
    env = {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    outputs = []
    for command in walkthrough_commands():
        assert command[0] == ".venv/bin/dealrisk"
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert proc.returncode == 0, f"{' '.join(command)}\n{shown(proc)}"
        assert "Traceback" not in proc.stdout + proc.stderr
        outputs.append(flat(proc.stdout))
    ingest_out, _, train_out, rank_out = outputs
    assert "left out:" in ingest_out and "the export has no activities" in ingest_out
    assert "registered dealrisk-crm_pipeline version 1 as champion" in train_out
    assert "report: out/crm/report/ranking.html" in rank_out
    report = tmp_path / "out" / "crm" / "report"
    ranking = pd.read_csv(report / "ranking.csv")
    deals = pd.read_parquet(tmp_path / "out" / "crm" / "canonical" / "deals.parquet")
    assert len(ranking) == deals["outcome"].isna().sum() > 0
    assert set(ranking["currency"]) == {"USD"}
    assert "USD" in (report / "ranking.html").read_text()
    rejected = pd.read_csv(tmp_path / "out" / "crm" / "canonical" / "rejections.csv")
    assert set(rejected["reason"]) == {"missing_value"}
