"""Run the installed ``dealrisk`` console script the way a user types it, and judge its answer.

Every run gets telemetry off, an MLflow store outside the repository (a test that trains or
ranks passes its own ``MLFLOW_TRACKING_URI``) and a scratch working directory, so a forgotten
``--out`` cannot write into the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

BINARY = Path(sys.executable).with_name("dealrisk")
QUIET = {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
         "DO_NOT_TRACK": "true"}
_SCRATCH = tempfile.TemporaryDirectory(prefix="dealrisk-cli-")  # removed at interpreter exit


def tracking_env(root: Path) -> dict[str, str]:
    """The environment for an MLflow store of its own under ``root``."""
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db"}


def run(*args: str | Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``dealrisk *args`` in a subprocess; stdout and stderr captured as text."""
    full_env = {**os.environ, **QUIET, **tracking_env(Path(_SCRATCH.name)), **(env or {})}
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=_SCRATCH.name, check=False)


def flat(text: str) -> str:
    """``text`` with every run of whitespace as one space (rich wraps long lines)."""
    return " ".join(text.split())


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    """Both streams, for assertion messages."""
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def assert_ok(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 0, no error and no traceback anywhere; returns stdout flattened."""
    assert proc.returncode == 0, shown(proc)
    assert "error:" not in proc.stdout + proc.stderr, shown(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, shown(proc)
    return flat(proc.stdout)


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, *named: str) -> str:
    """Exit ``code``; the error is on stderr (not stdout), names each of ``named``, no traceback.

    Returns stderr flattened.
    """
    err = flat(proc.stderr)
    assert proc.returncode == code, shown(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, shown(proc)
    assert "error" in err.lower() and "error:" not in proc.stdout.lower(), shown(proc)
    for text in named:
        assert text in err, f"{text!r} not in stderr\n{shown(proc)}"
    return err
