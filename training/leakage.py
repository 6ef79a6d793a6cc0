"""Leakage guard: features and export fields that give the outcome away, found before training.

A feature that is computed from what happened after its snapshot, or a deals-table field whose
exported value was written at the close (a spreadsheet's close value, which is 0 for every lost
deal), makes a model look excellent in every metric and useless on open deals.  Two scans name
such columns before a model is fitted; both are cheap and neither changes any data.

**Features** (:func:`scan_features`), on the training window's labelled snapshot rows, per target
(``label_<target>``, NaN = not labelled for it):

- a numeric feature's single-feature ROC AUC on the rows where both the label and the value are
  known, oriented (``max(auc, 1 - auc)``, so a feature that is low for every positive counts);
- whether "the value is missing" alone separates the target (the AUC of ``isna``: ``0.5 +
  |missing share among positives - among negatives| / 2``, on every labelled row);
- a categorical feature's AUC of its per-category target rate, computed on the same rows.  That
  is in-sample, hence optimistic, so only categories with at least ``min_category_deals`` deals
  (rows when the frame has no ``deal_id``) stand on their own; the smaller ones are pooled into
  one bucket (and a missing value is a category of its own).

A target is scanned when its rows hold at least ``min_rows`` positives and ``min_rows``
negatives (and a feature when its known values do).  Above ``max_rows`` labelled rows per target
a fixed-seed random subsample of ``max_rows`` rows is used: an AUC on 200,000 rows is within
a few thousandths of the full one, far finer than the threshold, and it keeps the scan to seconds
on a million rows.  Every AUC is rank-based (Mann-Whitney, ties count one half).

**Static fields** (:func:`scan_static_fields`): fields the export holds only as they were at
export time, with no change history: ``amount`` when the profile does not track it, the standard
context categories (:data:`features.schema.CONTEXT_CATEGORIES`) and the pipeline's own context
fields.  Among the deals closed by ``known_until``, each outcome with at least ``min_deals`` deals
is compared with the other closed deals (also at least ``min_deals``): a likely leak is

- one value (0 and "empty" included) held by at least ``share_in`` (90 %) of the outcome's deals
  and at most ``share_out`` (10 %) of the others (score: the gap between the two shares), or
- for a number, a single-field AUC above ``threshold`` on the deals whose value is known.

One finding per field is kept (a value rule before an AUC, then the larger score); a field
that leaks for several outcomes says so in its message.

The threshold 0.95 is far above what an honest single feature reaches on deal histories (on the
simulator, seeds 1-4 and 7 with 3,000 to 10,000 deals, the strongest one, buyer activities per
week for won, reaches 0.80-0.85) and below what a copy of the outcome gives (1.0 or very near): the
guard flags a column that *nearly separates* an outcome on its own, not a strong one.  The
90 % / 10 % value rule is met by a value written at the close (0 or empty for every lost deal)
and missed by an honest attribute (on the simulator, seed 7, the largest share a segment,
region, industry, deal type or lead source value holds of an outcome's deals is 63 %, with about
as much of the other deals).

Speed: on 1,000,000 rows x 80 features x 3 targets the scan takes about 4 s (2 shared cores),
the deals check milliseconds.

Use, before fitting (the scan reads the rows, it never changes them)::

    leaks = find_leaks(split.train, histories.deals, schema=histories.profile.schema(),
                       profile=histories.profile, targets=config.targets,
                       known_until=known_until)
    for f in worst_per_feature(leaks):  # one line per column, for the terminal
        print("warning: likely leak:", f.message)
    [f.to_dict() for f in leaks]        # for the MLflow run (a JSON artifact) and the report

Example:
    >>> import numpy as np
    >>> from features.schema import Feature, FeatureSchema
    >>> schema = FeatureSchema((Feature("closed_lost_flag", "float32", "context", "m", "p"),))
    >>> y = np.tile([0.0, 1.0], 100)
    >>> rows = pd.DataFrame({"closed_lost_flag": y, "label_stall": y})
    >>> [f.kind for f in scan_features(rows, schema, ["stall"])]
    ['separates']
    >>> print(scan_features(rows, schema, ["stall"])[0].message)  # doctest: +NORMALIZE_WHITESPACE
    closed_lost_flag nearly separates stall on its own (single-feature AUC 1.00 on 200
    training rows; higher values go with stalling): likely a leak of the outcome into the
    feature; check how it is computed, or drop it with `dealrisk train --drop-feature
    closed_lost_flag`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.contract import OUTCOMES
from features.profile import PipelineProfile
from features.schema import CONTEXT_CATEGORIES, FeatureSchema

__all__ = ["MAX_ROWS", "SHARE_IN", "SHARE_OUT", "THRESHOLD", "LeakFinding", "find_leaks",
           "scan_features", "scan_static_fields", "single_feature_auc", "worst_per_feature"]

#: A single feature with an (oriented) AUC above this nearly separates the outcome.
THRESHOLD = 0.95
#: Static-field value rule: a value held by >= SHARE_IN of an outcome's deals and <= SHARE_OUT
#: of the other closed deals.
SHARE_IN, SHARE_OUT = 0.9, 0.1
#: Labelled rows per target above which a fixed-seed subsample is scanned.
MAX_ROWS = 200_000
#: Minimum positives and negatives (rows) for a target or feature to be scanned.
MIN_ROWS = 50
#: Minimum deals of a category for it to keep its own target rate (smaller ones are pooled).
MIN_CATEGORY_DEALS = 20
#: Minimum closed deals of an outcome (and of the other outcomes) for a static-field check.
MIN_DEALS = 20

_GOES_WITH = {"stall": "stalling", "no_decision": "ending in no decision", "won": "being won",
              "lost": "being lost"}


@dataclass(frozen=True)
class LeakFinding:
    """One likely leak: a feature or deals-table field that gives an outcome away.

    Example:
        >>> LeakFinding("amount", "lost", "static_field", 1.0, "...").to_dict()["kind"]
        'static_field'
    """

    #: Feature name, or deals-table field name for a static field.
    feature: str
    #: ``stall`` / ``no_decision`` / ``won`` (features), or the closed outcome (static fields).
    target: str
    #: ``separates`` (single-feature AUC) or ``static_field`` (export-time value by outcome).
    kind: str
    #: The oriented AUC (>= 0.5), or the share gap of a static field's value rule.
    score: float
    #: One plain-words line naming the column, the figure and the fix.
    message: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (for the MLflow run and the report)."""
        out = asdict(self)
        out["score"] = float(round(self.score, 4))
        return out


def single_feature_auc(values: np.ndarray | pd.Series, labels: np.ndarray | pd.Series) -> float:
    """ROC AUC of ``values`` as a score for ``labels`` (1 = positive), not oriented.

    The share of (positive, negative) pairs in which the positive has the higher value, ties
    counting one half; rows with a missing value or label are ignored; NaN without both classes.

    Example:
        >>> single_feature_auc([1, 2, 3, 4], [0, 1, 0, 1])
        0.75
        >>> single_feature_auc([1, 1, 2, 3], [0, 1, 0, 1])
        0.625
        >>> single_feature_auc([1, 2, np.nan], [1, 1, 0])
        nan
    """
    x = np.asarray(values, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    keep = ~(np.isnan(x) | np.isnan(y))
    return _numeric_auc(x[keep], y[keep] > 0.5)


def scan_features(rows: pd.DataFrame, schema: FeatureSchema, targets: Sequence[str], *,
                  threshold: float = THRESHOLD, min_rows: int = MIN_ROWS,
                  max_rows: int = MAX_ROWS, min_category_deals: int = MIN_CATEGORY_DEALS,
                  seed: int = 0) -> list[LeakFinding]:
    """Features that nearly separate a target on their own, on training-window ``rows``.

    ``rows`` hold the schema's feature columns (a feature the frame lacks is skipped) and a
    ``label_<target>`` column per target (0/1, NaN where not labelled; a missing column skips the
    target).  One finding per (feature, target) whose value or missingness AUC is above
    ``threshold``, largest score first.  See the module docstring for the rules.

    Example:
        >>> from features.schema import Feature, FeatureSchema
        >>> schema = FeatureSchema((Feature("noise", "float32", "context", "m", "p"),))
        >>> rng = np.random.default_rng(0)
        >>> rows = pd.DataFrame({"noise": rng.normal(size=500),
        ...                      "label_won": rng.integers(0, 2, 500).astype(float)})
        >>> scan_features(rows, schema, ["won"])
        []
    """
    categorical = set(schema.categorical)
    present = [f.name for f in schema if f.name in rows.columns]
    deal_codes = (pd.factorize(rows["deal_id"])[0] if "deal_id" in rows.columns else None)
    out: list[LeakFinding] = []
    for target in targets:
        column = f"label_{target}"
        if column not in rows.columns:
            continue
        y_all = rows[column].to_numpy(dtype=np.float64, na_value=np.nan)
        idx = np.flatnonzero(~np.isnan(y_all))
        if len(idx) > max_rows:
            idx = np.sort(np.random.default_rng(seed).choice(idx, max_rows, replace=False))
        y = y_all[idx] > 0.5
        n_pos = int(y.sum())
        if min(n_pos, len(y) - n_pos) < min_rows:
            continue
        deals = deal_codes[idx] if deal_codes is not None else None
        for name in present:
            if name in categorical:
                finding = _scan_category(name, target, rows[name].iloc[idx], y, deals,
                                         threshold=threshold, min_deals=min_category_deals)
            else:
                x = rows[name].to_numpy(dtype=np.float64, na_value=np.nan)[idx]
                finding = _scan_number(name, target, x, y, threshold=threshold,
                                       min_rows=min_rows)
            if finding is not None:
                out.append(finding)
    return sorted(out, key=lambda f: -f.score)


def scan_static_fields(deals: pd.DataFrame, profile: PipelineProfile, *,
                       known_until: pd.Timestamp, threshold: float = THRESHOLD,
                       share_in: float = SHARE_IN, share_out: float = SHARE_OUT,
                       min_deals: int = MIN_DEALS) -> list[LeakFinding]:
    """Export-time fields (no change history) whose value differs systematically by outcome.

    Checks ``amount`` when ``profile`` does not track it, the standard context categories and
    ``profile.context`` (each when the deals table has the column), among deals closed by
    ``known_until``; one finding per field, largest score first.  See the module docstring.

    Example:
        >>> t = pd.Timestamp("2024-01-01", tz="UTC")
        >>> deals = pd.DataFrame({"deal_id": [f"d{i}" for i in range(60)],
        ...     "outcome": ["won"] * 30 + ["lost"] * 30, "closed_at": [t] * 60,
        ...     "amount": [1000.0 + i for i in range(30)] + [0.0] * 30})
        >>> profile = PipelineProfile(tracked_fields=())
        >>> [(f.feature, f.target) for f in scan_static_fields(deals, profile, known_until=t)]
        [('amount', 'lost')]
    """
    if "outcome" not in deals.columns or "closed_at" not in deals.columns:
        return []
    closed_at = pd.to_datetime(deals["closed_at"], utc=True)
    outcome = deals["outcome"].astype("object")
    closed = (closed_at.notna() & (closed_at <= pd.Timestamp(known_until))
              & outcome.isin(OUTCOMES)).to_numpy()
    if not closed.any():
        return []
    fields = _static_fields(deals, profile)
    left_out = profile.left_out()
    used = set(profile.schema().names) - set(left_out)
    out_all = outcome.to_numpy()[closed]
    findings: list[LeakFinding] = []
    for name, kind in fields:
        column = deals[name]
        values = (column.to_numpy(dtype=np.float64, na_value=np.nan) if kind == "number"
                  else column.astype("object").where(column.notna(), None).to_numpy())
        open_values = values[~closed]
        values = values[closed]
        hits: list[tuple[int, float, str, str]] = []  # (rule order, score, outcome, figure)
        for target in OUTCOMES:
            mask = out_all == target
            n_in, n_rest = int(mask.sum()), int((~mask).sum())
            if min(n_in, n_rest) < min_deals:
                continue
            hit = _value_rule(values, mask, share_in=share_in, share_out=share_out)
            if hit is not None:
                gap, figure = hit
                hits.append((0, gap, target, f"{name} is {figure}"))
                continue
            if kind == "number":
                auc, figure = _static_auc(values, mask, min_deals=min_deals)
                if auc > threshold:
                    hits.append((1, auc, target, f"{name} {figure}"))
        if not hits:
            continue
        hits.sort(key=lambda h: (h[0], -h[1]))
        _, score, target, figure = hits[0]
        # with two outcomes, "won vs the rest" is "lost vs the rest": nothing more to say
        others = [h[2] for h in hits[1:]] if len(set(out_all)) > 2 else []
        findings.append(LeakFinding(
            name, target, "static_field", float(score),
            _static_message(name, target, figure, others, open_values, kind,
                            in_model=name in used, why_left_out=left_out.get(name))))
    return sorted(findings, key=lambda f: -f.score)


def find_leaks(rows: pd.DataFrame, deals: pd.DataFrame, *, schema: FeatureSchema,
               profile: PipelineProfile, targets: Sequence[str], known_until: pd.Timestamp,
               threshold: float = THRESHOLD) -> list[LeakFinding]:
    """Both scans: :func:`scan_features` on ``rows`` and :func:`scan_static_fields` on ``deals``.

    ``rows`` are the training window's labelled snapshot rows (``split_per_target(...).train``),
    ``deals`` the canonical deals table; largest score first (an AUC and a share gap share the
    0-1 scale; a field can appear once per scan, see :func:`worst_per_feature`).

    Example:
        >>> from features.schema import FEATURES
        >>> find_leaks(pd.DataFrame(), pd.DataFrame(), schema=FEATURES,
        ...            profile=PipelineProfile(), targets=["stall"],
        ...            known_until=pd.Timestamp("2024-01-01", tz="UTC"))
        []
    """
    found = [*scan_features(rows, schema, targets, threshold=threshold),
             *scan_static_fields(deals, profile, known_until=known_until, threshold=threshold)]
    return sorted(found, key=lambda f: -f.score)


def worst_per_feature(findings: Sequence[LeakFinding]) -> list[LeakFinding]:
    """The highest-scoring finding of each feature, largest first (one terminal line each).

    Example:
        >>> a = LeakFinding("x", "stall", "separates", 0.97, "a")
        >>> b = LeakFinding("x", "won", "separates", 0.99, "b")
        >>> [f.message for f in worst_per_feature([a, b])]
        ['b']
    """
    best: dict[str, LeakFinding] = {}
    for f in findings:
        if f.feature not in best or f.score > best[f.feature].score:
            best[f.feature] = f
    return sorted(best.values(), key=lambda f: -f.score)


# --- feature scan -------------------------------------------------------------------------------


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC of groups given in ascending score order with their positive and negative counts."""
    n_pos, n_neg = float(pos.sum()), float(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))


def _numeric_auc(x: np.ndarray, y: np.ndarray) -> float:
    """AUC of known values ``x`` for boolean labels ``y`` (one sort; ties count one half)."""
    if len(x) == 0:
        return math.nan
    if len(np.unique(x[:1000])) < 500:  # few distinct values (counts, days): hash, then sort them
        codes, uniques = pd.factorize(x)
        rank = np.empty(len(uniques), dtype=np.intp)
        rank[np.argsort(uniques)] = np.arange(len(uniques))
        inverse = rank[codes]
    else:
        _, inverse = np.unique(x, return_inverse=True)
    total = np.bincount(inverse)
    pos = np.bincount(inverse, weights=y, minlength=len(total))
    return _auc_from_counts(pos, total - pos)


def _oriented(auc: float) -> tuple[float, bool]:
    """(max(auc, 1 - auc), whether higher values go with the positive class)."""
    return (auc, True) if auc >= 0.5 else (1.0 - auc, False)


def _fix(name: str) -> str:
    return f"drop it with `dealrisk train --drop-feature {name}`"


def _scan_number(name: str, target: str, x: np.ndarray, y: np.ndarray, *, threshold: float,
                 min_rows: int) -> LeakFinding | None:
    known = ~np.isnan(x)
    goes_with = _GOES_WITH.get(target, target)
    best: LeakFinding | None = None
    miss_pos, miss_neg = float((~known[y]).mean()), float((~known[~y]).mean())
    miss_auc = 0.5 + abs(miss_pos - miss_neg) / 2
    if miss_auc > threshold:
        best = LeakFinding(name, target, "separates", miss_auc, (
            f"{name} nearly separates {target} by being empty alone (empty on "
            f"{miss_pos:.0%} of the {target} rows and {miss_neg:.0%} of the others; AUC "
            f"{miss_auc:.2f} on {len(y):,} training rows): likely filled in only after the "
            f"outcome, or only for deals {goes_with}; check how it is computed, or "
            f"{_fix(name)}."))
    yk = y[known]
    n_pos = int(yk.sum())
    if min(n_pos, len(yk) - n_pos) >= min_rows:
        auc, higher = _oriented(_numeric_auc(x[known], yk))
        if auc > threshold and (best is None or auc > best.score):
            best = LeakFinding(name, target, "separates", auc, (
                f"{name} nearly separates {target} on its own (single-feature AUC {auc:.2f} on "
                f"{len(yk):,} training rows; {'higher' if higher else 'lower'} values go with "
                f"{goes_with}): likely a leak of the outcome into the feature; check how it is "
                f"computed, or {_fix(name)}."))
    return best


def _scan_category(name: str, target: str, column: pd.Series, y: np.ndarray,
                   deals: np.ndarray | None, *, threshold: float, min_deals: int
                   ) -> LeakFinding | None:
    codes, labels = pd.factorize(column.astype("object"), use_na_sentinel=True)
    codes = np.where(codes < 0, len(labels), codes)  # missing: a category of its own
    n_groups = len(labels) + 1
    if deals is not None:
        pairs = np.unique(codes.astype(np.int64) * (int(deals.max()) + 1) + deals)
        size = np.bincount(pairs // (int(deals.max()) + 1), minlength=n_groups)
    else:
        size = np.bincount(codes, minlength=n_groups)
    small = size < min_deals
    pooled = np.where(small[codes], n_groups, codes)  # the small categories as one
    total = np.bincount(pooled, minlength=n_groups + 1).astype(np.float64)
    pos = np.bincount(pooled, weights=y, minlength=n_groups + 1)
    seen = total > 0
    rate = np.where(seen, pos / np.where(seen, total, 1), np.nan)[seen]
    _, inverse = np.unique(rate, return_inverse=True)
    by_rate_pos = np.bincount(inverse, weights=pos[seen])
    by_rate_all = np.bincount(inverse, weights=total[seen])
    auc = _auc_from_counts(by_rate_pos, by_rate_all - by_rate_pos)
    if math.isnan(auc):
        return None
    auc = max(auc, 1.0 - auc)
    if auc <= threshold:
        return None
    kept = int((~small[:len(labels)] & (size[:len(labels)] > 0)).sum())
    unit = "deals" if deals is not None else "rows"
    return LeakFinding(name, target, "separates", auc, (
        f"{name} nearly separates {target} on its own (AUC {auc:.2f} of its per-category "
        f"{target} rate on {len(y):,} training rows, {kept} categories with at least "
        f"{min_deals} {unit}): likely a value written at or after the outcome; check where it "
        f"comes from, or {_fix(name)}."))


# --- static fields ------------------------------------------------------------------------------


def _static_fields(deals: pd.DataFrame, profile: PipelineProfile) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    if "amount" not in profile.tracked_fields and "amount" in deals.columns:
        fields.append(("amount", "number"))
    fields += [(c, "category") for c in CONTEXT_CATEGORIES if c in deals.columns]
    fields += [(c.name, c.kind) for c in profile.context if c.name in deals.columns]
    seen: set[str] = set()
    return [f for f in fields if not (f[0] in seen or seen.add(f[0]))]


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "empty"
    if isinstance(value, float):
        return f"{value:g}"
    return f'"{value}"'


def _value_rule(values: np.ndarray, mask: np.ndarray, *, share_in: float, share_out: float
                ) -> tuple[float, str] | None:
    """The value held by >= share_in of ``mask`` and <= share_out of the rest: (gap, figure)."""
    keys = pd.Series(values, dtype="object").map(
        lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    n = len(uniques) + 1
    inside = np.bincount(codes[mask], minlength=n) / max(int(mask.sum()), 1)
    rest = np.bincount(codes[~mask], minlength=n) / max(int((~mask).sum()), 1)
    ok = (inside >= share_in) & (rest <= share_out)
    if not ok.any():
        return None
    best = int(np.argmax(np.where(ok, inside - rest, -np.inf)))
    value = None if best == len(uniques) else uniques[best]
    return float(inside[best] - rest[best]), (
        f"{_show(value)} for {inside[best]:.0%} of the {{target}} deals and {rest[best]:.0%} of "
        "the other closed deals")


def _static_auc(values: np.ndarray, mask: np.ndarray, *, min_deals: int) -> tuple[float, str]:
    known = ~np.isnan(values.astype(np.float64))
    x, y = values[known].astype(np.float64), mask[known]
    n_pos = int(y.sum())
    if min(n_pos, len(y) - n_pos) < min_deals:
        return math.nan, ""
    auc, higher = _oriented(_numeric_auc(x, y))
    return auc, (f"separates the {{target}} deals from the other closed deals (AUC {auc:.2f} "
                 f"over {len(y):,} closed deals; {'higher' if higher else 'lower'} values go "
                 "with {target} deals)")


def _static_message(name: str, target: str, figure: str, others: list[str],
                    open_values: np.ndarray, kind: str, *, in_model: bool,
                    why_left_out: str | None) -> str:
    text = figure.replace("{target}", target)
    if others:
        text += f" (it singles out the {' and '.join(others)} deals too)"
    if len(open_values):
        empty = (np.isnan(open_values.astype(np.float64)) if kind == "number"
                 else pd.isna(open_values))
        if empty.mean() >= SHARE_IN:
            text += f", and it is empty on {empty.mean():.0%} of the open deals"
    text += (": likely a value recorded at the close, such as a close value."
             if name == "amount" else ": likely a value recorded at or after the close.")
    if in_model:
        return (f"{text} The export keeps only its latest value, so the model would learn the "
                f"outcome from it: {_fix(name)}, or map a field known while the deal is open.")
    if name == "amount":
        return (f"{text} The model does not use it (the export has no amount history), but the "
                "ranking's revenue at risk multiplies the risk by it: map amount to the deal's "
                "value while it is open (its expected value), not the close value.")
    reason = f" ({why_left_out})" if why_left_out else ""
    return f"{text} The model does not use it{reason}; check the mapping of {name}."
