"""`dealrisk features | train | rank` through the installed binary, on the hand-made export.

Protects: every bad option value is refused with exit 2 naming it (no traceback, nothing on
stdout); nothing later than the export time can be asked for; a missing or unreadable
canonical directory says to run `dealrisk ingest` first; a run with nothing usable exits 1
with the reason (features with no open deal, training with an empty window).
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from dealrisk_cli import assert_ok, assert_refused, run, tracking_env

SALESFORCE = Path(__file__).parents[1] / "fixtures" / "salesforce"
EXPORT_TIME = "2024-06-01T00:00:00"  # of its export.json


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "canonical"
    assert_ok(run("ingest", SALESFORCE, "--out", out))
    return out


@pytest.mark.parametrize(("args", "named"), [
    (["features", "--as-of", "garbage"],
     ["--as-of 'garbage' is not a timestamp (ISO 8601 with a UTC offset, e.g. "
      "2024-06-01T00:00:00Z)"]),
    (["features", "--as-of", "2024-04-05"], ["--as-of '2024-04-05' has no UTC offset"]),
    (["features", "--cadence", "garbage"], ["--cadence 'garbage' is not a duration"]),
    (["rank", "--as-of", "2024-04-05T00:00:00"],
     ["--as-of '2024-04-05T00:00:00' has no UTC offset"]),
    (["rank", "--as-of", "[/bold]"], ["--as-of '[/bold]' is not a timestamp"]),  # not markup
    (["rank", "--top", "-1"], ["--top"]),  # typer's own range check: also stderr, exit 2
    (["train", "--learning-rate", "0"], ["--learning-rate 0.0 must be a number above 0"]),
])
def test_a_bad_option_value_is_named(args: list[str], named: list[str], canonical: Path,
                                     tmp_path: Path):
    command, *options = args
    out = ["--out", tmp_path / "out"] if command != "train" else []
    proc = run(command, canonical, *options, *out)
    assert_refused(proc, 2, *named)
    assert proc.stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["features", "rank"])
def test_an_as_of_after_the_export_time_is_refused(command: str, canonical: Path,
                                                    tmp_path: Path):
    proc = run(command, canonical, "--as-of", "2024-06-01T02:00:01+02:00",
               "--out", tmp_path / "out")
    assert_refused(proc, 2, "--as-of 2024-06-01T00:00:01+00:00 is after the export time "
                   f"{EXPORT_TIME}+00:00", "nothing after the export is known")
    assert not (tmp_path / "out").exists()


def test_an_as_of_exactly_at_the_export_time_is_allowed(canonical: Path, tmp_path: Path):
    out = tmp_path / "f.parquet"
    assert_ok(run("features", canonical, "--as-of", "2024-06-01T02:00:00+02:00", "--out", out))
    assert list(pd.read_parquet(out).deal_id) == ["006A"]  # the one deal open on June 1st


def test_features_with_no_deal_open_write_no_rows_and_exit_1(canonical: Path, tmp_path: Path):
    out = tmp_path / "f.parquet"
    proc = run("features", canonical, "--as-of", "2023-01-01T00:00:00Z", "--out", out)
    assert_refused(proc, 1, "nothing usable: no deal was open at --as-of 2023-01-01T00:00:00Z",
                   f"4 deals in {canonical}")
    assert len(pd.read_parquet(out)) == 0


@pytest.mark.parametrize("command", ["features", "train", "rank"])
def test_a_missing_canonical_directory_says_to_ingest_first(command: str, tmp_path: Path):
    missing = tmp_path / "nowhere"
    assert_refused(run(command, missing), 2, str(missing), "run `dealrisk ingest` first")


def test_an_unreadable_canonical_table_says_to_ingest_first(canonical: Path, tmp_path: Path):
    broken = tmp_path / "canonical"
    shutil.copytree(canonical, broken)
    (broken / "deals.parquet").write_text("not parquet")
    assert_refused(run("rank", broken, "--out", tmp_path / "r"), 2,
                   f"cannot read the canonical tables in {broken}", "run `dealrisk ingest` first")


def test_training_with_an_empty_train_window_registers_nothing(canonical: Path, tmp_path: Path):
    import mlflow

    env = tracking_env(tmp_path)
    proc = run("train", canonical, "--n-estimators", "5", env=env)
    assert_refused(proc, 1, "nothing usable: the train window got no labelled rows",
                   "nothing was logged or registered")
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    assert client.search_registered_models() == []


def test_a_missing_truth_folder_is_named(canonical: Path, tmp_path: Path):
    proc = run("train", canonical, "--truth", tmp_path / "truth", env=tracking_env(tmp_path))
    assert_refused(proc, 2, f"--truth {tmp_path / 'truth'} has no daily.parquet")


def test_rank_without_a_registered_model_names_the_model_option(canonical: Path,
                                                                tmp_path: Path):
    proc = run("rank", canonical, "--out", tmp_path / "r", env=tracking_env(tmp_path))
    refused = assert_refused(proc, 2, "cannot load it", "has no champion yet",
                             "`dealrisk train")
    assert "--model models:/dealrisk-" in refused and "@champion" in refused
