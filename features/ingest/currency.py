"""One reporting currency: convert every deal's amounts with the export's conversion rates.

Rates follow Salesforce's convention: ``rate`` is how many units of ``currency`` make one unit
of the reporting (corporate) currency, so ``amount in reporting currency = amount / rate``.
They come from a Salesforce export's ``CurrencyType`` (static rates, ``IsCorporate`` marks the
corporate currency) and ``DatedConversionRate`` (rates valid from ``StartDate`` to
``NextStartDate``; Salesforce converts an opportunity at the rate of its close date, and so do
we: the latest close date, so a deal's amounts are all at one rate -- a conversion, not a
signal), or from a rates file (``--rates``: CSV with ``currency,rate`` and optional
``start_date,end_date`` columns).  A deal's amount history converts at the deal's rate.

Without rates, amounts stay as exported: one currency is the reporting currency; several are
reported as a warning (they are not comparable).  A deal whose currency has no rate keeps an
empty amount and is named in a warning.

Example:
    >>> rates = pd.DataFrame({"currency": ["EUR"], "rate": [0.8]})
    >>> deals = pd.DataFrame({"deal_id": ["a", "b"], "amount": [80.0, 10.0],
    ...                       "currency": ["EUR", "USD"],
    ...                       "expected_close_date": pd.to_datetime([None, None], utc=True)})
    >>> factor, notes = deal_rate_factors(deals, rates, "USD")
    >>> (deals["amount"] * factor).tolist(), notes
    ([100.0, 10.0], [])
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.histories import DealHistories
from features.ingest.parsing import blank, parse_amounts, parse_bools, parse_timestamps
from features.ingest.raw import SourceError, read_text_table

RATE_COLUMNS = ["currency", "rate", "start", "end"]


def read_rates_file(path: Path) -> pd.DataFrame:
    """A rates CSV/Parquet (``currency``, ``rate``, optional ``start_date``/``end_date``).

    Raises :class:`SourceError` naming the file and row of a bad rate.
    """
    frame = read_text_table(Path(path), ["currency", "rate"])
    text = {c: frame[c] if c in frame.columns else pd.Series("", index=frame.index)
            for c in ("currency", "rate", "start_date", "end_date")}
    return _rates(Path(path).name, frame["_row"], text["currency"], text["rate"],
                  text["start_date"], text["end_date"])


def salesforce_rates(currency_type: pd.DataFrame | None, dated: pd.DataFrame | None
                     ) -> tuple[pd.DataFrame | None, str | None]:
    """Rates and the corporate currency from ``CurrencyType`` / ``DatedConversionRate`` text.

    Example:
        >>> ct = pd.DataFrame({"IsoCode": ["USD", "EUR"], "ConversionRate": ["1", "0.9"],
        ...                    "IsCorporate": ["true", "false"], "_row": [1, 2]})
        >>> rates, corporate = salesforce_rates(ct, None)
        >>> corporate, rates["rate"].tolist()
        ('USD', [1.0, 0.9])
    """
    parts, corporate = [], None
    if currency_type is not None:
        flag = parse_bools(currency_type.get("IsCorporate", pd.Series("", index=currency_type
                                                                      .index)))[0]
        codes = currency_type["IsoCode"].astype("str").str.strip().str.upper()
        if flag.fillna(False).any():
            corporate = str(codes[flag.fillna(False).astype(bool)].iloc[0])
        empty = pd.Series("", index=currency_type.index)
        parts.append(_rates("CurrencyType", currency_type["_row"], codes,
                            currency_type["ConversionRate"], empty, empty))
    if dated is not None:
        parts.append(_rates("DatedConversionRate", dated["_row"], dated["IsoCode"],
                            dated["ConversionRate"], dated["StartDate"],
                            dated.get("NextStartDate", pd.Series("", index=dated.index))))
    if not parts:
        return None, None
    return pd.concat(parts, ignore_index=True), corporate


def _rates(file: str, rows: pd.Series, currency: pd.Series, rate: pd.Series,
           start: pd.Series, end: pd.Series) -> pd.DataFrame:
    values, bad = parse_amounts(rate)
    bad |= blank(rate) | (values <= 0)
    if bad.any():
        row = int(rows[bad].iloc[0])
        raise SourceError(f"{file}: row {row}: conversion rate {rate[bad].iloc[0]!r} is not a "
                          "positive number")
    starts, bad_start = parse_timestamps(start.astype("str"), "UTC")
    ends, bad_end = parse_timestamps(end.astype("str"), "UTC")
    for column, problem, text in (("start", bad_start, start), ("end", bad_end, end)):
        wrong = problem.notna() & ~text.astype("str").str.fullmatch(r"9999-12-31")
        if wrong.any():
            row = int(rows[wrong].iloc[0])
            raise SourceError(f"{file}: row {row}: {column} date {text[wrong].iloc[0]!r} is not a "
                              "date (YYYY-MM-DD)")
    return pd.DataFrame({"currency": currency.astype("str").str.strip().str.upper(),
                         "rate": values, "start": starts, "end": ends})


def convert_histories(histories: DealHistories, rates: pd.DataFrame | None,
                      reporting: str | None) -> tuple[DealHistories, list[str]]:
    """Histories with every amount in the reporting currency, and warnings.

    The profile's ``reporting_currency`` says which currency amounts are in afterwards (the
    only currency of an export without rates; None when amounts stay mixed).
    """
    deals = histories.deals
    factor, notes = deal_rate_factors(deals, rates, reporting)
    if factor is None:
        present = deals["currency"].dropna().unique()
        single = str(present[0]) if len(present) == 1 else None
        return replace(histories, profile=replace(histories.profile,
                                                  reporting_currency=single)), notes
    deals = deals.assign(amount=deals["amount"] * factor,
                         currency=deals["currency"].where(np.isnan(factor), reporting))
    changes = histories.field_history
    per_deal = pd.Series(factor, index=deals["deal_id"].to_numpy())
    change_factor = per_deal.reindex(changes["deal_id"].to_numpy()).to_numpy()
    changes = changes.assign(old_amount=changes["old_amount"] * change_factor,
                             new_amount=changes["new_amount"] * change_factor)
    profile = replace(histories.profile, reporting_currency=reporting)
    return replace(histories, deals=deals, field_history=changes, profile=profile), notes


def deal_rate_factors(deals: pd.DataFrame, rates: pd.DataFrame | None, reporting: str | None
                      ) -> tuple[np.ndarray | None, list[str]]:
    """Per deal, the factor taking its amounts to the reporting currency (NaN: no rate).

    ``None`` when nothing is converted (no rates, or no reporting currency).
    """
    currency = deals["currency"].astype("str")
    present = sorted(currency.dropna().unique())
    if rates is None or not len(rates):
        if len(present) > 1:
            return None, [f"amounts are in {len(present)} currencies ({', '.join(present)}) and "
                          "the export has no conversion rates (CurrencyType.csv, "
                          "DatedConversionRate.csv or --rates): they are compared as exported"]
        return None, []
    if reporting is None:
        return None, ["conversion rates were given but no reporting currency (--currency, or "
                      "CurrencyType's IsCorporate): amounts are compared as exported"]
    rates = rates.reindex(columns=RATE_COLUMNS)
    own = rates.loc[(rates["currency"] == reporting) & rates["start"].isna(), "rate"]
    if len(own) and not np.isclose(own, 1.0).all():
        unit = rates.loc[np.isclose(rates["rate"], 1.0) & rates["start"].isna(), "currency"]
        base = f" (they are relative to {', '.join(unit)})" if len(unit) else ""
        raise SourceError(f"the conversion rates give {reporting} a rate of "
                          f"{float(own.iloc[0]):g}, not 1: they are not relative to the "
                          f"reporting currency {reporting}{base}")
    factor = np.full(len(deals), np.nan)
    code = currency.to_numpy(dtype=object)
    factor[(code == reporting) | pd.isna(code)] = 1.0
    at = deals["expected_close_date"]
    for cur in present:
        if cur == reporting:
            continue
        rows = np.flatnonzero(code == cur)
        factor[rows] = 1.0 / _rate_at(rates[rates["currency"] == cur], at.iloc[rows])
    missing = sorted({str(c) for c in code[np.isnan(factor)]})
    notes = []
    if missing:
        n = int(np.isnan(factor).sum())
        notes.append(f"{n} deal(s) in {', '.join(missing)} have no conversion rate to "
                     f"{reporting}: their amount is left empty")
    return factor, notes


def _rate_at(rates: pd.DataFrame, when: pd.Series) -> np.ndarray:
    """The rate valid at each time, by one binary search per deal.

    That is the latest dated rate started by then and not yet ended, else the static rate.
    """
    out = np.full(len(when), np.nan)
    static = rates[rates["start"].isna()]
    if len(static):
        out[:] = float(static["rate"].iloc[-1])
    dated = rates[rates["start"].notna()].sort_values("start", kind="stable")
    if len(dated) and len(when):
        t = when.to_numpy(dtype="datetime64[us]") if when.dt.tz is None else \
            when.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        starts = dated["start"].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        ends = dated["end"].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        at = np.searchsorted(starts, t, side="right") - 1
        ok = (at >= 0) & ~np.isnat(t)
        pick = np.maximum(at, 0)
        ok &= np.isnat(ends[pick]) | (t < ends[pick])
        out[ok] = dated["rate"].to_numpy()[pick[ok]]
    return out
