"""Same seed ⇒ byte-identical files, whatever the chunk size; another seed ⇒ other files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from training.simulator import simulate_frames, simulate_to_dir


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_csv_same_seed_any_chunk_size(tmp_path: Path) -> None:
    a = simulate_to_dir(1500, seed=7, out_dir=tmp_path / "a", chunk_size=1500)
    simulate_to_dir(1500, seed=7, out_dir=tmp_path / "b", chunk_size=1500)
    seen: list[int] = []
    simulate_to_dir(1500, seed=7, out_dir=tmp_path / "c", chunk_size=400, progress=seen.append)
    simulate_to_dir(1500, seed=8, out_dir=tmp_path / "d", chunk_size=1500)
    da, db, dc, dd = (_digest(tmp_path / x) for x in "abcd")
    # 7 chunked objects + CurrencyType, User, Account, export.json, truth/
    assert len(da) == 10 + 1 + 4
    assert da == db == dc
    assert seen == [400, 800, 1200, 1500]
    # every simulated object differs with the seed (the currency rates do not, nor the users:
    # names come from the owner's number, and every owner has deals under both seeds)
    assert all(da[k] != dd[k] for k in da
               if k.endswith(".csv") and k not in ("CurrencyType.csv", "User.csv"))
    assert da["User.csv"] == dd["User.csv"]
    meta = json.loads((tmp_path / "a" / "export.json").read_text())
    assert meta == {"source": "salesforce", "exported_at": "2025-01-01T00:00:00Z", "seed": 7,
                    "n_deals": 1500, "format": "csv"}
    assert a.rows["Opportunity"] == 1500


def test_parquet_chunk_size_and_same_text_as_csv(tmp_path: Path) -> None:
    simulate_to_dir(1200, seed=3, out_dir=tmp_path / "p1", fmt="parquet", chunk_size=1200)
    simulate_to_dir(1200, seed=3, out_dir=tmp_path / "p2", fmt="parquet", chunk_size=500)
    assert _digest(tmp_path / "p1") == _digest(tmp_path / "p2")
    simulate_to_dir(1200, seed=3, out_dir=tmp_path / "c", fmt="csv", chunk_size=1200)
    frames = simulate_frames(1200, seed=3, chunk_size=700)
    for name in ("Opportunity", "Task", "OpportunityFieldHistory"):
        pq_df = pd.read_parquet(tmp_path / "p1" / f"{name}.parquet")
        csv_df = pd.read_csv(tmp_path / "c" / f"{name}.csv", dtype=str, keep_default_na=False)
        assert (pq_df.dtypes.astype(str) == "str").all()
        pd.testing.assert_frame_equal(pq_df, csv_df)
        pd.testing.assert_frame_equal(frames.tables[name], csv_df)
