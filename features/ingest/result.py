"""The outcome of an ingest: canonical histories, the rejection report and the row accounting.

Accounting invariant: for every source file, ``read == accepted + skipped + rejected``.

Example:
    >>> import pandas as pd
    >>> raw = {"deals": pd.DataFrame({"_file": ["o.csv"] * 3, "_row": [1, 2, 3]})}
    >>> kept = {"deals": raw["deals"].iloc[:2]}
    >>> rej = pd.DataFrame({"file": ["o.csv"], "row": [3], "reason": ["bad_amount"]})
    >>> count_rows(raw, kept, rej).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'table': 'deals', 'file': 'o.csv', 'read': 3, 'accepted': 2, 'skipped': 0,
      'rejected': 1}]

"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.histories import DealHistories

REJECTIONS_FILE = "rejections.csv"
SKIPPED_FILE = "skipped.csv"
REPORT_FILE = "ingest_report.json"
COUNT_COLUMNS = ["table", "file", "read", "accepted", "skipped", "rejected"]


@dataclass
class IngestResult:
    """Canonical tables, every rejected and skipped row with its reason, per-file row counts."""

    histories: DealHistories
    rejections: pd.DataFrame
    file_counts: pd.DataFrame
    export_time: pd.Timestamp
    skipped: pd.DataFrame | None = None
    #: Things the user should know that reject no row (e.g. amounts in unconvertible currencies).
    warnings: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """True when every file's rows are exactly accepted + skipped + rejected."""
        fc = self.file_counts
        return bool((fc["read"] == fc["accepted"] + fc["skipped"] + fc["rejected"]).all())

    def reason_counts(self) -> pd.Series:
        """Number of rejected rows per reason, most frequent first."""
        return self.rejections["reason"].value_counts()

    def skip_counts(self) -> pd.Series:
        """Number of skipped rows per reason, most frequent first."""
        if self.skipped is None or not len(self.skipped):
            return pd.Series(dtype="int64")
        return self.skipped["reason"].value_counts()

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary: export time, per-file counts, reasons, canonical row counts."""
        return {
            "export_time": self.export_time.isoformat(),
            "pipeline": self.histories.profile.to_dict(),
            "files": self.file_counts.to_dict("records"),
            "rejected_by_reason": {k: int(v) for k, v in self.reason_counts().items()},
            "skipped_by_reason": {k: int(v) for k, v in self.skip_counts().items()},
            "canonical_rows": self.histories.row_counts(),
            "left_out_features": self.histories.profile.left_out(),
            "warnings": list(self.warnings),
            "balanced": self.balanced,
        }

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write the canonical tables and profile, the rejection and skip logs and the report.

        Files: ``<table>.parquet``, ``pipeline.json``, ``rejections.csv``, ``skipped.csv`` and
        ``ingest_report.json``.
        """
        paths = self.histories.to_parquet(out_dir)
        paths["rejections"] = out_dir / REJECTIONS_FILE
        self.rejections.to_csv(paths["rejections"], index=False)
        paths["skipped"] = out_dir / SKIPPED_FILE
        skipped = self.skipped if self.skipped is not None else self.rejections.iloc[:0]
        skipped.to_csv(paths["skipped"], index=False)
        paths["report"] = out_dir / REPORT_FILE
        paths["report"].write_text(json.dumps(self.summary(), indent=2) + "\n")
        return paths


def count_rows(
    raw: dict[str, pd.DataFrame], accepted: dict[str, pd.DataFrame], rejections: pd.DataFrame,
    skipped: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rows read, accepted, skipped and rejected per (canonical table, source file)."""
    records = []

    def per_file(log: pd.DataFrame | None) -> pd.Series:
        if log is None or not len(log):
            return pd.Series(dtype="int64")
        return log.groupby("file").size()

    rejected, skips = per_file(rejections), per_file(skipped)
    for table, frame in raw.items():
        read = frame.groupby("_file").size()
        kept = accepted[table].groupby("_file").size() if "_file" in accepted[table] else {}
        for file, n in read.items():
            records.append({"table": table, "file": str(file), "read": int(n),
                            "accepted": int(kept.get(file, 0)),
                            "skipped": int(skips.get(file, 0)),
                            "rejected": int(rejected.get(file, 0))})
    return pd.DataFrame(records, columns=COUNT_COLUMNS)
