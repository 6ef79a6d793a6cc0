"""Turn CRM activity records into canonical (type, direction, action) with the journey config.

Direction is decided by, in order: a direction the CRM records (e.g. Salesforce's
``EmailMessage.Incoming``, passed as ``known_direction``), the call-direction field (Salesforce
``CallType``, HubSpot's call and email direction), the activity types that are always
buyer-initiated, the subject rules (a documented fallback for CRMs that record no direction),
then the configured default.  Type comes from the type map,
unless a subject rule sets it (e.g. a task whose subject says "Proposal sent").  The action is the
first subject rule or action pattern that matches.  Work is done once per distinct
(type, call direction, subject) combination, so CRM exports with templated subjects are fast.

Example:
    >>> import pandas as pd
    >>> from features.journey import JourneyConfig
    >>> out = classify_activities(
    ...     pd.Series(["Email", "Call", "Task"]),
    ...     pd.Series(["Email: question", "Call: agree evaluation plan", "Proposal sent: v2"]),
    ...     pd.Series(["", "Outbound", ""]),
    ...     JourneyConfig.default(),
    ...     known_direction=pd.Series(["buyer", "", ""]),  # e.g. EmailMessage.Incoming
    ... )
    >>> out.to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'type': ['email', 'call', 'proposal'], 'direction': ['buyer', 'seller', 'seller'],
     'action': [nan, 'agree_evaluation_plan', nan]}

"""

from __future__ import annotations

import pandas as pd

from features.journey import JourneyConfig

_SEP = "\x1f"


def classify_activities(
    type_raw: pd.Series,
    subject: pd.Series,
    call_direction: pd.Series | None,
    config: JourneyConfig,
    known_direction: pd.Series | None = None,
) -> pd.DataFrame:
    """Canonical ``type`` (missing when unmapped), ``direction`` and ``action`` for each row.

    ``known_direction`` (``buyer`` / ``seller`` / empty) overrides everything else where given.
    """
    index = type_raw.index
    type_raw = type_raw.astype("str").fillna("").str.strip()
    subject = subject.astype("str").fillna("")
    calls = (
        call_direction.astype("str").fillna("").str.strip()
        if call_direction is not None
        else pd.Series("", index=index, dtype="str")
    )
    codes, uniques = pd.factorize(type_raw + _SEP + calls + _SEP + subject)
    rows = [_classify_one(key.split(_SEP, 2), config) for key in uniques]
    table = pd.DataFrame(rows, columns=["type", "direction", "action"], dtype="str")
    out = table.iloc[codes].reset_index(drop=True)
    out.index = index
    if known_direction is not None:
        known = known_direction.astype("str").fillna("")
        out["direction"] = known.where(known.isin(["buyer", "seller"]), out["direction"])
    return out


def _classify_one(parts: list[str], config: JourneyConfig) -> tuple[str | None, str, str | None]:
    type_raw, call_dir, subject = parts
    mapping = config.activities
    folded_types = {k.casefold(): v for k, v in mapping.types.items()}
    from_subject = config.classify_subject(subject)
    kind = from_subject["type"] or folded_types.get(type_raw.casefold())

    folded_calls = {k.casefold(): v for k, v in mapping.call_directions.items()}
    direction = folded_calls.get(call_dir.casefold()) if call_dir else None
    if direction is None and type_raw in mapping.buyer_types:
        direction = "buyer"
    if direction is None:
        direction = from_subject["direction"] or mapping.default_direction
    return kind, direction, from_subject["action"]
