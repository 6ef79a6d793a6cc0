"""Requests and servers for the serving tests.

Requests are written by hand (not by the simulator) or taken from a real export's canonical
tables (:func:`history_from_tables`); servers are real ``bentoml serve`` processes, each with
its own ``BENTOML_HOME`` and process group (:func:`server_env`, :func:`start_server`).
Importable from any test directory (``pythonpath`` in ``pyproject.toml``).
"""

import contextlib
import ctypes
import math
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd

API_KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def hand_written_history(**overrides: object) -> dict[str, object]:
    """One open deal's history, written by hand (not by the simulator)."""
    body: dict[str, object] = {
        "as_of": "2024-09-01T00:00:00Z",
        "deal": {"deal_id": "HAND-1", "account_id": "ACME", "owner_id": "owner-7",
                 "owner_name": "Dana Reyes", "account_name": "Acme GmbH", "name": "Acme CRM",
                 "amount": 72000.0, "currency": "EUR", "created_at": "2024-05-02T08:00:00+02:00",
                 "expected_close_date": "2024-10-31T00:00:00Z", "segment": "Enterprise",
                 "region": "EMEA", "industry": "manufacturing"},
        "stage_history": [
            {"entered_at": "2024-05-02T06:00:00Z", "crm_stage": "Discovery",
             "step": "problem_shared", "status": "open"},
            {"entered_at": "2024-06-14T12:00:00Z", "crm_stage": "Solutioning",
             "step": "solution_visualised", "status": "open"}],
        "activities": [
            {"activity_id": f"A{i}", "occurred_at": f"2024-{5 + i // 20:02d}-{1 + i % 20:02d}"
             "T10:00:00Z", "type": ["email", "call", "meeting"][i % 3],
             "direction": "buyer" if i % 2 else "seller", "contact_id": f"C{i % 3}"}
            for i in range(50)],
        "contacts": [{"contact_id": "C0", "role": "champion", "added_at": "2024-05-03T00:00:00Z"},
                     {"contact_id": "C1", "role": "technical",
                      "added_at": "2024-06-01T00:00:00Z"}],
        "field_history": [{"change_id": "F1", "changed_at": "2024-07-01T00:00:00Z",
                           "field": "close_date", "old_close_date": "2024-09-30T00:00:00Z",
                           "new_close_date": "2024-10-31T00:00:00Z"}],
    }
    body.update(overrides)
    return body


def history_from_tables(histories: object, deal_id: str, as_of: object) -> dict[str, object]:
    """The ``/score`` body of one deal of canonical ``histories`` (e.g. a real export's).

    Every table's rows of the deal, empty cells left out, times as ISO text.
    """
    def rows(frame: pd.DataFrame) -> list[dict[str, object]]:
        part = frame[frame["deal_id"] == deal_id].drop(columns=["deal_id"])
        return [{k: v for k, v in ((k, _json(v)) for k, v in r.items()) if v is not None}
                for r in part.to_dict("records")]

    deals = histories.deals  # type: ignore[attr-defined]
    deal = deals[deals["deal_id"] == deal_id].to_dict("records")[0]
    return {"deal": {k: v for k, v in ((k, _json(v)) for k, v in deal.items()) if v is not None},
            **{name: rows(getattr(histories, name)) for name in (
                "stage_history", "activities", "contacts", "field_history")},
            "as_of": as_of.isoformat()}  # type: ignore[attr-defined]


def _json(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT or (
            isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def server_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """``env`` for one ``bentoml serve`` process with its own ``BENTOML_HOME`` at ``home``.

    Every ``bentoml serve`` empties ``$BENTOML_HOME/prometheus_multiproc_dir`` when it starts,
    so servers of tests running side by side (``pytest -n 2``) would wipe each other's counts;
    the in-process app's ``PROMETHEUS_MULTIPROC_DIR`` is dropped for the same reason.
    """
    home.mkdir(parents=True, exist_ok=True)
    return {**{k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            "BENTOML_HOME": str(home)}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(cmd: list[str], env: dict[str, str], cwd: Path, out: object
                 ) -> subprocess.Popen:
    """Start a server in its own process group that dies with this process (Linux).

    ``bentoml serve`` is a supervisor with worker processes: :func:`stop_server` stops the
    whole group, and if pytest itself is killed the kernel sends the supervisor SIGTERM.
    """
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def stop_server(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``timeout`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # workers that outlived their supervisor
        os.killpg(process.pid, signal.SIGKILL)


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child after fork only calls it
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
