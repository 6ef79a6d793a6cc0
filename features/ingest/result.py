"""The outcome of an ingest: canonical histories, the rejection report and the row accounting.

Accounting invariant: for every source file, ``read == accepted + rejected``.

Example:
    >>> import pandas as pd
    >>> raw = {"deals": pd.DataFrame({"_file": ["o.csv"] * 3, "_row": [1, 2, 3]})}
    >>> kept = {"deals": raw["deals"].iloc[:2]}
    >>> rej = pd.DataFrame({"file": ["o.csv"], "row": [3], "reason": ["bad_amount"]})
    >>> count_rows(raw, kept, rej).to_dict("records")
    [{'table': 'deals', 'file': 'o.csv', 'read': 3, 'accepted': 2, 'rejected': 1}]

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.histories import DealHistories

REJECTIONS_FILE = "rejections.csv"
REPORT_FILE = "ingest_report.json"


@dataclass
class IngestResult:
    """Canonical tables, every rejected row with its reason, and per-file row counts."""

    histories: DealHistories
    rejections: pd.DataFrame
    file_counts: pd.DataFrame
    export_time: pd.Timestamp

    @property
    def balanced(self) -> bool:
        """True when every file's rows are exactly accepted + rejected."""
        fc = self.file_counts
        return bool((fc["read"] == fc["accepted"] + fc["rejected"]).all())

    def reason_counts(self) -> pd.Series:
        """Number of rejected rows per reason, most frequent first."""
        return self.rejections["reason"].value_counts()

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary: export time, per-file counts, reasons, canonical row counts."""
        return {
            "export_time": self.export_time.isoformat(),
            "files": self.file_counts.to_dict("records"),
            "rejected_by_reason": {k: int(v) for k, v in self.reason_counts().items()},
            "canonical_rows": self.histories.row_counts(),
            "balanced": self.balanced,
        }

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write the canonical Parquet tables, ``rejections.csv`` and ``ingest_report.json``."""
        paths = self.histories.to_parquet(out_dir)
        paths["rejections"] = out_dir / REJECTIONS_FILE
        self.rejections.to_csv(paths["rejections"], index=False)
        paths["report"] = out_dir / REPORT_FILE
        paths["report"].write_text(json.dumps(self.summary(), indent=2) + "\n")
        return paths


def count_rows(
    raw: dict[str, pd.DataFrame], accepted: dict[str, pd.DataFrame], rejections: pd.DataFrame
) -> pd.DataFrame:
    """Rows read, accepted and rejected per (canonical table, source file)."""
    records = []
    rejected = rejections.groupby("file").size() if len(rejections) else pd.Series(dtype="int64")
    for table, frame in raw.items():
        read = frame.groupby("_file").size()
        kept = accepted[table].groupby("_file").size() if "_file" in accepted[table] else {}
        for file, n in read.items():
            records.append({"table": table, "file": str(file), "read": int(n),
                            "accepted": int(kept.get(file, 0)),
                            "rejected": int(rejected.get(file, 0))})
    columns = ["table", "file", "read", "accepted", "rejected"]
    return pd.DataFrame(records, columns=columns)
