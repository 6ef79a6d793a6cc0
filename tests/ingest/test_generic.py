"""The generic CSV/Parquet reader (YAML column mapping) on hand-made files.

Fixture (tests/fixtures/generic/mapping.yaml, naive times read as UTC):
- deals.csv: g1 open, g2 closed lost "Went dark" (→ no_decision) with a naive created time,
  g3 closed lost with an explicit outcome "no decision" (wins over reason "Price"), g4 a
  negative amount.
- stages.csv: 4 good rows, g9 unknown deal, "Made Up" unknown stage.
- acts.csv: a1 buyer email (subject rule), a2 outbound call (evaluation-plan action), a3 an
  unmapped type, a4 inbound call.
- people.csv: 3 contacts; changes.csv: close date and amount changes plus an untracked field.
"""

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from table_records import records

from features.ingest import SourceError, ingest
from features.ingest.generic import read_generic
from features.journey import JourneyConfig

EXPORT = pd.Timestamp("2024-06-01T00:00:00Z")


@pytest.fixture
def mapping(fixtures: Path) -> Path:
    return fixtures / "generic" / "mapping.yaml"


@pytest.fixture
def result(mapping: Path):
    return ingest(mapping.parent, kind="generic", mapping=mapping, export_time=EXPORT)


@pytest.fixture
def work(fixtures: Path, tmp_path: Path) -> Path:
    """A writable copy of the generic fixture folder."""
    folder = tmp_path / "generic"
    shutil.copytree(fixtures / "generic", folder)
    return folder


def edit_mapping(folder: Path, change) -> Path:
    path = folder / "mapping.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def read(path: Path):
    return ingest(path.parent, mapping=path, export_time=EXPORT)


def test_accounting(result):
    assert result.balanced
    fc = result.file_counts
    assert records(fc, ["table", "file", "read", "accepted", "skipped", "rejected"]) == [
        ("deals", "deals.csv", 4, 3, 0, 1),
        ("stage_history", "stages.csv", 6, 4, 0, 2),
        ("activities", "acts.csv", 4, 3, 0, 1),
        ("contacts", "people.csv", 3, 3, 0, 0),
        ("field_history", "changes.csv", 3, 2, 1, 0),
    ]
    assert fc["read"].sum() == (fc["accepted"].sum() + len(result.skipped)
                                + len(result.rejections))


def test_rejections_name_the_mapped_source_columns(result):
    assert records(result.rejections, ["file", "row", "column", "value", "reason"]) == [
        ("acts.csv", 3, "kind", "Fax", "unknown_type"),
        ("deals.csv", 4, "value", "-5", "bad_amount"),
        ("stages.csv", 5, "deal", "g9", "unknown_deal"),
        ("stages.csv", 6, "stage", "Made Up", "unknown_stage"),
    ]
    # a change of a field dealrisk does not use is skipped, not an error
    assert records(result.skipped, ["file", "row", "column", "value", "reason"]) == [
        ("changes.csv", 3, "field", "Stage", "untracked_field")]


def test_deals(result):
    assert records(result.histories.deals, [
        "deal_id", "account_id", "owner_id", "created_at", "amount", "currency",
        "expected_close_date", "outcome", "closed_at", "close_reason"]) == [
        ("g1", "a1", "r1", "2024-03-01T09:00:00+00:00", 1000.0, "USD",
         "2024-06-30T00:00:00+00:00", None, None, None),
        # naive "2024-02-01 10:00" read as UTC (mapping's timestamps rule); "Went dark"
        ("g2", "a2", "r1", "2024-02-01T10:00:00+00:00", 2000.0, "USD",
         "2024-05-01T00:00:00+00:00", "no_decision", "2024-04-20T10:00:00+00:00", "Went dark"),
        # explicit outcome wins over the loss-reason map ("Price" alone would be lost)
        ("g3", "a3", "r2", "2024-01-10T00:00:00+00:00", 3000.0, "EUR",
         "2024-04-01T00:00:00+00:00", "no_decision", "2024-03-30T12:00:00+00:00", "Price"),
    ]


def test_stage_history(result):
    assert records(result.histories.stage_history,
                   ["deal_id", "entered_at", "crm_stage", "step", "status"]) == [
        ("g1", "2024-03-01T09:00:00+00:00", "Prospecting", "curious", "open"),
        ("g1", "2024-03-10T09:00:00+00:00", "Qualification", "problem_shared", "open"),
        ("g2", "2024-02-01T10:00:00+00:00", "Prospecting", "curious", "open"),
        ("g2", "2024-04-20T10:00:00+00:00", "Closed Lost", None, "lost"),
    ]


def test_activities_classified(result):
    assert records(result.histories.activities, [
        "activity_id", "deal_id", "occurred_at", "type", "direction", "contact_id",
        "action"]) == [
        ("a1", "g1", "2024-03-02T10:00:00+00:00", "email", "buyer", "p1", None),
        ("a2", "g1", "2024-03-03T10:00:00+00:00", "call", "seller", "p1",
         "agree_evaluation_plan"),
        ("a4", "g2", "2024-03-01T10:00:00+00:00", "call", "buyer", "p2", None),
    ]


def test_contacts_and_field_history(result):
    assert records(result.histories.contacts, ["deal_id", "contact_id", "role", "added_at"]) == [
        ("g1", "p1", "champion", "2024-03-01T09:00:00+00:00"),
        ("g1", "p2", "economic_buyer", "2024-03-05T00:00:00+00:00"),
        ("g2", "p3", "other", "2024-02-02T00:00:00+00:00"),
    ]
    assert records(result.histories.field_history, [
        "change_id", "deal_id", "changed_at", "field", "old_close_date", "new_close_date",
        "old_amount", "new_amount"]) == [
        ("f1", "g1", "2024-03-15T00:00:00+00:00", "close_date", "2024-05-31T00:00:00+00:00",
         "2024-06-30T00:00:00+00:00", None, None),
        ("f2", "g1", "2024-03-16T00:00:00+00:00", "amount", None, None, 800.0, 1000.0),
    ]


def test_without_timestamp_rule_naive_times_are_rejected(work: Path):
    path = edit_mapping(work, lambda m: m.pop("timestamps"))
    result = read(path)
    assert result.balanced
    rej = result.rejections
    assert records(rej[rej["file"] == "deals.csv"], ["row", "column", "reason"]) == [
        (2, "created", "timestamp_without_timezone"), (4, "value", "bad_amount")]
    # children of the rejected deal g2 are reported, not lost
    unknown = rej[rej["reason"] == "unknown_deal"]
    assert records(unknown, ["file", "row", "value"]) == [
        ("acts.csv", 4, "g2"), ("people.csv", 3, "g2"), ("stages.csv", 3, "g2"),
        ("stages.csv", 4, "g2"), ("stages.csv", 5, "g9")]
    fc = result.file_counts
    assert fc["read"].sum() == fc["accepted"].sum() + len(result.skipped) + len(rej)


def test_timestamp_rule_applies_to_the_config(mapping: Path, work: Path):
    _, config = read_generic(mapping, JourneyConfig.default())
    assert config.timestamps.naive_timezone == "UTC"
    _, config = read_generic(edit_mapping(work, lambda m: m.pop("timestamps")), None)
    assert config.timestamps.naive_timezone is None


def test_direction_and_type_given_directly(work: Path):
    (work / "acts.csv").write_text(
        "id,deal,at,kind,who_started\n"
        "a1,g1,2024-03-02T10:00:00Z,demo,buyer\n"
        "a2,g1,2024-03-03T10:00:00Z,Email,\n")

    def change(m):
        m["tables"]["activities"]["columns"] = {
            "activity_id": "id", "deal_id": "deal", "occurred_at": "at", "type": "kind",
            "direction": "who_started"}

    result = read(edit_mapping(work, change))
    assert records(result.histories.activities, ["activity_id", "type", "direction"]) == [
        ("a1", "demo", "buyer"), ("a2", "Email", "seller")]


def test_owner_and_account_names_are_mappable_columns(mapping: Path, work: Path):
    deals = pd.read_csv(work / "deals.csv", dtype=str, keep_default_na=False)
    deals["rep_name"] = ["Rita Ng", "Rita Ng", "", "Omar Haddad"]
    deals["company"] = ["Acme", "  ", "Initech", "Hooli"]
    deals.to_csv(work / "deals.csv", index=False)

    def change(m):
        m["tables"]["deals"]["columns"].update(owner_name="rep_name", account_name="company")

    named = read(edit_mapping(work, change))
    assert records(named.histories.deals, ["deal_id", "owner_id", "owner_name", "account_name"]
                   ) == [("g1", "r1", "Rita Ng", "Acme"), ("g2", "r1", "Rita Ng", None),
                         ("g3", "r2", None, "Initech")]  # empty text is a missing name
    assert named.balanced
    # without them mapped the names are missing, and nothing else changes
    plain = read(mapping)
    assert plain.histories.deals[["owner_name", "account_name"]].isna().all().all()
    pd.testing.assert_frame_equal(
        named.histories.deals.drop(columns=["owner_name", "account_name"]),
        plain.histories.deals.drop(columns=["owner_name", "account_name"]))


def test_parquet_equals_csv(mapping: Path, work: Path):
    for csv in work.glob("*.csv"):
        pq.write_table(pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(
            strings_can_be_null=False)), work / f"{csv.stem}.parquet")
        csv.unlink()

    def change(m):
        for spec in m["tables"].values():
            spec["file"] = spec["file"].replace(".csv", ".parquet")

    from_parquet = read(edit_mapping(work, change))
    from_csv = read(mapping)
    for name, frame in from_csv.histories.tables().items():
        pd.testing.assert_frame_equal(getattr(from_parquet.histories, name), frame, obj=name)
    rej = from_parquet.rejections
    pd.testing.assert_frame_equal(rej.assign(file=rej["file"].str.replace(".parquet", ".csv")),
                                  from_csv.rejections)


def test_one_file_for_two_tables_is_counted_per_table(work: Path):
    (work / "events.csv").write_text(
        "deal,stage,at,id,kind\n"
        "g1,Prospecting,2024-03-01T09:00:00Z,x1,Call\n"
        "g1,Nope,2024-03-02T09:00:00Z,x2,Call\n")

    def change(m):
        m["tables"]["stage_history"] = {
            "file": "events.csv", "columns": {"deal_id": "deal", "crm_stage": "stage",
                                              "entered_at": "at"}}
        m["tables"]["activities"] = {
            "file": "events.csv", "columns": {"activity_id": "id", "deal_id": "deal",
                                              "occurred_at": "at", "type_raw": "kind"}}

    result = read(edit_mapping(work, change))
    assert result.balanced
    fc = result.file_counts.set_index("file")
    assert fc.loc["events.csv#stage_history", ["read", "accepted", "rejected"]].tolist() == [
        2, 1, 1]
    assert fc.loc["events.csv#activities", ["read", "accepted", "rejected"]].tolist() == [
        2, 2, 0]


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["tables"].update(opportunities=m["tables"].pop("deals")),
     r"mapping\.yaml: unknown table 'opportunities'"),
    (lambda m: m["tables"]["deals"]["columns"].update(dealid="id"),
     r"mapping\.yaml: table deals: unknown canonical column 'dealid'"),
    (lambda m: m["tables"]["deals"]["columns"].update(amount="valu"),
     r"mapping\.yaml: table deals: deals\.csv has no column for amount \(mapped to 'valu'\)"),
    (lambda m: m["tables"]["deals"]["columns"].pop("owner_id"),
     r"mapping\.yaml: table deals: required column owner_id is not mapped"),
    (lambda m: m["tables"]["activities"]["columns"].pop("type_raw"),
     r"mapping\.yaml: table activities: required column type_raw or type is not mapped"),
    (lambda m: m["tables"]["contacts"].update(file="nowhere.csv"),
     r"mapping\.yaml: table contacts: file nowhere\.csv not found"),
    (lambda m: m["tables"].pop("deals"), r"mapping\.yaml: table deals is required"),
    (lambda m: m["tables"]["deals"].update(columns=["id"]),
     r"mapping\.yaml: invalid mapping: tables\.deals\.columns: "),
    (lambda m: m["tables"]["deals"].pop("file"),
     r"mapping\.yaml: invalid mapping: tables\.deals\.file: Field required"),
    (lambda m: m.update(timestamps={"naive_timezone": "Mars/Olympus"}),
     r"mapping\.yaml: invalid mapping: timestamps: .*unknown time zone 'Mars/Olympus'"),
    (lambda m: m.update(extra=1), r"mapping\.yaml: invalid mapping: extra: Extra inputs"),
])
def test_mapping_errors(work: Path, change, message):
    with pytest.raises(SourceError, match=message):
        read(edit_mapping(work, change))


def test_bad_yaml_and_missing_mapping(work: Path):
    path = work / "mapping.yaml"
    path.write_text("tables: {deals: [unclosed\n")
    with pytest.raises(SourceError, match=r"mapping\.yaml: mapping is not valid YAML"):
        read(path)
    path.write_text("- just a list\n")
    with pytest.raises(SourceError, match=r"mapping\.yaml: mapping must be a YAML mapping"):
        read(path)
    with pytest.raises(SourceError, match=r"missing\.yaml: cannot read the mapping file"):
        read(work / "missing.yaml")


def test_unreadable_data_file_names_mapping_and_table(work: Path):
    (work / "changes.parquet").write_bytes(b"not parquet")
    path = edit_mapping(work, lambda m: m["tables"]["field_history"].update(
        file="changes.parquet"))
    with pytest.raises(SourceError, match=r"mapping\.yaml: table field_history: .*changes\.parquet"
                                          r": cannot read the file"):
        read(path)
