"""The option-value parsers of the CLI, in process (no subprocess): every odd string pandas accepts.

Protects: a time option is an ISO 8601 date-time with a UTC offset, and nothing else pandas
would take ("", "now", "NaT", a naive time, year 9999) slips through as a silent wrong time;
cadences too short to be meant; the one-line, markup-safe error on stderr.
"""

import pandas as pd
import pytest
import typer

from training.cli_options import (
    CliError,
    NothingUsable,
    check_known,
    parse_cadence,
    parse_choice,
    parse_time_option,
    reported_errors,
)

EXPECTED = "ISO 8601 with a UTC offset, e.g. 2024-06-01T00:00:00Z"
JUNE_1 = pd.Timestamp("2024-06-01T00:00:00Z")


@pytest.mark.parametrize("text", [
    "garbage", "", " ", "now", "today", "NaT", "nan", "T", "--", "1e400", "[/bold]",
    "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "10000-01-01T00:00:00Z",
    "99999999999-01-01", "2024-06-01T00:00:00+25:00", "2024-06-01T00:00:00ZZ",
    "2024-06-01T00:00:00 Europe/Paris", "\x00",
])
def test_a_value_that_is_not_a_timestamp_is_named(text: str):
    with pytest.raises(CliError) as caught:
        parse_time_option("--as-of", text)
    assert str(caught.value) == f"--as-of {text!r} is not a timestamp ({EXPECTED})"
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("text", "example"), [
    ("2024-06-01", "2024-06-01T00:00:00Z"),
    ("2024-06-01T09:30:00", "2024-06-01T09:30:00Z"),
    ("2024-06-01 09:30", "2024-06-01T09:30:00Z"),
])
def test_a_time_without_offset_is_refused_with_an_example(text: str, example: str):
    with pytest.raises(CliError, match=r"^--export-time .* has no UTC offset") as caught:
        parse_time_option("--export-time", text)
    assert str(caught.value).endswith(f"(e.g. {example})")


@pytest.mark.parametrize("text", ["9999-12-31T00:00:00Z", "1600-01-01T00:00:00Z"])
def test_a_time_outside_the_nanosecond_range_is_refused(text: str):
    with pytest.raises(CliError, match=r"^--as-of '.*' is out of range \(years 1677 to 2262\)$"):
        parse_time_option("--as-of", text)


@pytest.mark.parametrize("text", ["2024-06-01T00:00:00Z", "2024-06-01T02:00:00+02:00",
                                  "2024-05-31T20:00:00-04:00", "2024-06-01T00:00:00.000+00:00"])
def test_a_time_with_offset_is_that_instant_in_utc(text: str):
    stamp = parse_time_option("--as-of", text)
    assert stamp == JUNE_1 and str(stamp.tz) == "UTC"


@pytest.mark.parametrize(("text", "problem"), [
    ("garbage", "is not a duration"), ("", "is not a duration"), ("nan", "is not a duration"),
    ("1M", "is not a duration"), ("7", "is shorter than 1 hour (7 ns)"),
    ("0D", "is shorter than 1 hour"), ("-7D", "is shorter than 1 hour"),
    ("30min", "is shorter than 1 hour"),
])
def test_a_bad_cadence_is_named(text: str, problem: str):
    with pytest.raises(CliError) as caught:
        parse_cadence("--cadence", text)
    assert str(caught.value).startswith(f"--cadence {text!r} {problem}")


@pytest.mark.parametrize(("text", "days"), [("7D", 7), ("1W", 7), ("P7D", 7), ("12h", 0.5)])
def test_a_cadence_is_a_duration(text: str, days: float):
    assert parse_cadence("--cadence", text) == pd.Timedelta(days=days)


def test_a_choice_lists_what_is_allowed():
    assert parse_choice("--source", "hubspot", ("auto", "hubspot")) == "hubspot"
    with pytest.raises(CliError, match=r"^--source 'HubSpot' is not one of: auto, hubspot$"):
        parse_choice("--source", "HubSpot", ("auto", "hubspot"))


def test_the_export_time_itself_is_known_and_a_nanosecond_later_is_not():
    assert check_known("--as-of", JUNE_1, JUNE_1) == JUNE_1
    with pytest.raises(CliError, match="after the export time"):
        check_known("--as-of", JUNE_1 + pd.Timedelta(1, "ns"), JUNE_1)


def test_an_error_is_one_unwrapped_line_on_stderr_with_markup_shown_as_typed(capsys):
    message = "[/bold] " + "x" * 300
    with pytest.raises(typer.Exit) as stop, reported_errors():
        raise CliError(message)
    assert stop.value.exit_code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"error: {message}\n"


def test_nothing_usable_exits_1_and_says_so(capsys):
    with pytest.raises(typer.Exit) as stop, reported_errors():
        raise NothingUsable("no deal was open")
    assert stop.value.exit_code == 1
    assert capsys.readouterr().err == "error: nothing usable: no deal was open\n"
