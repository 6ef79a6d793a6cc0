"""The command line's errors and option values: one message per user error, never a traceback.

Exit codes: 0 success; 2 a bad option value or unreadable input (:class:`CliError`); 1 the
command ran but nothing usable came through (:class:`NothingUsable`).  Errors and warnings go to
stderr, one line each.

Example:
    >>> parse_choice("--source", "hubspot", SOURCE_KINDS)
    'hubspot'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)

SOURCE_KINDS = ("auto", "salesforce", "hubspot", "generic", "eventlog")
FORMATS = ("csv", "parquet")
TIME_FORMAT = "ISO 8601 with a UTC offset, e.g. 2024-06-01T00:00:00Z"
MIN_CADENCE = pd.Timedelta(hours=1)


class CliError(Exception):
    """A user error: a bad option value or unreadable input (exit code 2).

    Example:
        >>> CliError("--top must be >= 0").exit_code
        2
    """

    exit_code = 2


class NothingUsable(CliError):
    """The command ran, but nothing usable came through (exit code 1).

    Example:
        >>> NothingUsable("0 of 3 deal rows accepted").exit_code
        1
    """

    exit_code = 1


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a :class:`CliError` into one ``error:`` line on stderr and its exit code.

    Example:
        >>> try:
        ...     with reported_errors():
        ...         raise NothingUsable("no deal was open at the export time")
        ... except typer.Exit as stop:
        ...     print(stop.exit_code)
        1
    """
    try:
        yield
    except CliError as exc:
        what = f"nothing usable: {exc}" if isinstance(exc, NothingUsable) else str(exc)
        err_console.print(f"[bold red]error:[/] {escape(what)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exc.exit_code) from None


def warn(message: str) -> None:
    """Print one ``warning:`` line on stderr (the command goes on)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Report a failure to write ``path`` (permissions, a file where a folder should be).

    Example:
        >>> with writing(Path("out")):
        ...     raise PermissionError(13, "Permission denied")
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: cannot write out ([Errno 13] Permission denied)
    """
    try:
        yield
    except OSError as exc:
        raise CliError(f"cannot write {path} ({exc})") from None


# ------------------------------------------------------------------------------ option values
def parse_time_option(name: str, text: str) -> pd.Timestamp:
    """The UTC time that the value of a time option (``--as-of``, ``--export-time``) names.

    It must be an ISO 8601 date-time with its UTC offset inside pandas' range (1677-2262);
    anything else is a :class:`CliError` naming the option and the value.

    Example:
        >>> parse_time_option("--as-of", "2024-06-01T02:00:00+02:00")
        Timestamp('2024-06-01 00:00:00+0000', tz='UTC')
        >>> parse_time_option("--as-of", "2024-06-01")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: --as-of '2024-06-01' has no UTC offset (e.g. ...)
        >>> parse_time_option("--as-of", "garbage")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: --as-of 'garbage' is not a timestamp (ISO 8601 ...)
    """
    not_a_time = CliError(f"{name} {text!r} is not a timestamp ({TIME_FORMAT})")
    if not text.strip()[:1].isdigit():  # "", "now", "today", "NaT": pandas accepts these
        raise not_a_time
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise not_a_time from None
    if pd.isna(stamp):
        raise not_a_time
    if stamp.tzinfo is None:
        raise CliError(f"{name} {text!r} has no UTC offset (e.g. {stamp:%Y-%m-%dT%H:%M:%S}Z)")
    try:
        stamp.as_unit("ns")
    except ValueError:
        raise CliError(f"{name} {text!r} is out of range (years 1677 to 2262)") from None
    return stamp.tz_convert("UTC")


def parse_cadence(name: str, text: str) -> pd.Timedelta:
    """The snapshot step an option names: a pandas duration of at least one hour.

    Example:
        >>> parse_cadence("--cadence", "1W")
        Timedelta('7 days 00:00:00')
        >>> parse_cadence("--cadence", "7")
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: --cadence '7' is shorter than 1 hour (7 ns); e.g. 7D or 12h
    """
    try:
        step = pd.Timedelta(text)
    except (ValueError, TypeError, OverflowError):
        step = pd.NaT
    if pd.isna(step):
        raise CliError(f"{name} {text!r} is not a duration (e.g. 7D, 1W or 12h)")
    if step < MIN_CADENCE:
        shown = f"{step.value} ns" if abs(step) < pd.Timedelta(microseconds=1) else str(step)
        raise CliError(f"{name} {text!r} is shorter than 1 hour ({shown}); e.g. 7D or 12h")
    return step


def parse_choice(name: str, text: str, allowed: Sequence[str]) -> str:
    """``text`` if it is one of ``allowed``; otherwise a :class:`CliError` listing them.

    Example:
        >>> parse_choice("--format", "xml", FORMATS)
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: --format 'xml' is not one of: csv, parquet
    """
    if text not in allowed:
        raise CliError(f"{name} {text!r} is not one of: {', '.join(allowed)}")
    return text


def check_known(name: str, stamp: pd.Timestamp, export_time: pd.Timestamp) -> pd.Timestamp:
    """``stamp`` unless it is later than the export time: nothing after the export is known.

    Example:
        >>> check_known("--as-of", pd.Timestamp("2024-07-01", tz="UTC"),
        ...             pd.Timestamp("2024-06-01", tz="UTC"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training.cli_options.CliError: --as-of 2024-07-01T00:00:00+00:00 is after the ...
    """
    if stamp > export_time:
        raise CliError(f"{name} {stamp.isoformat()} is after the export time "
                       f"{export_time.isoformat()}: nothing after the export is known")
    return stamp


def bold(value: object) -> str:
    """``value`` in bold, escaped (print it with ``soft_wrap=True`` so a path never splits)."""
    return f"[bold]{escape(str(value))}[/]"
