"""The scoring service's settings, read from the environment once per worker.

===============================  ============================================================
``DEALRISK_API_KEYS``            comma-separated API keys (``Authorization: Bearer <key>``)
``DEALRISK_API_KEY_FILE``        or a file with one key per line (``#`` comments allowed)
``DEALRISK_MODEL_URI``           a pinned model (``models:/dealrisk-demo/3``, ``runs:/...``,
                                 ``bento:<tag>``); default: the pipeline's champion
``DEALRISK_PIPELINE``            the pipeline whose champion is served (default ``demo``)
``DEALRISK_CANONICAL``           canonical tables (``dealrisk ingest`` output) the dashboard ranks
``DEALRISK_MAX_BATCH``           deals per ``/score_batch`` or ``/rank`` request (default 1000)
``DEALRISK_MAX_EVENTS``          rows per history list of one deal (default 5000)
``DEALRISK_MAX_BODY_MB``         largest request body (default 32)
``DEALRISK_KEEPALIVE_REQUESTS``  answers per keep-alive connection before it is closed, so
                                 the workers share the load (default 100; 0: never closed)
``MLFLOW_TRACKING_URI``          the registry (default: SQLite in the project's ``mlruns/``)
===============================  ============================================================

A service without any API key refuses to start: scoring is never open by accident.  Keys are
kept as bytes for constant-time comparison and never appear in ``repr`` or logs.

Example:
    >>> s = Settings.from_env({"DEALRISK_API_KEYS": "k1, k2"})
    >>> s.pipeline, s.max_batch, len(s.api_keys)
    ('demo', 1000, 2)
    >>> "k1" in repr(s)
    False
    >>> Settings.from_env({"DEALRISK_API_KEYS": "k", "DEALRISK_KEEPALIVE_REQUESTS": "0"}
    ...                   ).keepalive_requests
    0
    >>> Settings.from_env({"DEALRISK_API_KEYS": "k", "DEALRISK_MAX_BATCH": "0"})
    Traceback (most recent call last):
    ...
    serving.settings.SettingsError: DEALRISK_MAX_BATCH='0' must be a whole number of 1 or more
    >>> Settings.from_env({})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    serving.settings.SettingsError: no API key: set DEALRISK_API_KEYS (comma-separated) or ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    """A setting is missing or wrong (the message names the variable)."""


@dataclass(frozen=True)
class Settings:
    """What one worker runs with (see the module docstring)."""

    api_keys: tuple[bytes, ...] = field(repr=False)
    model_uri: str | None = None
    pipeline: str = "demo"
    canonical: Path | None = None
    max_batch: int = 1_000
    max_events: int = 5_000
    max_body_bytes: int = 32 * 2**20
    keepalive_requests: int = 100
    tracking_uri: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings (``env`` defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        keys = [k.strip() for k in env.get("DEALRISK_API_KEYS", "").split(",")]
        key_file = env.get("DEALRISK_API_KEY_FILE")
        if key_file:
            try:
                lines = Path(key_file).read_text().splitlines()
            except OSError as exc:
                raise SettingsError(f"DEALRISK_API_KEY_FILE={key_file}: cannot read it "
                                    f"({exc.strerror})") from None
            keys += [line.strip() for line in lines if not line.strip().startswith("#")]
        keys = [k for k in keys if k]
        if not keys:
            raise SettingsError("no API key: set DEALRISK_API_KEYS (comma-separated) or "
                                "DEALRISK_API_KEY_FILE (one key per line)")
        canonical = env.get("DEALRISK_CANONICAL")
        return cls(
            api_keys=tuple(k.encode() for k in keys),
            model_uri=env.get("DEALRISK_MODEL_URI") or None,
            pipeline=env.get("DEALRISK_PIPELINE") or "demo",
            canonical=Path(canonical) if canonical else None,
            max_batch=_whole(env, "DEALRISK_MAX_BATCH", 1_000),
            max_events=_whole(env, "DEALRISK_MAX_EVENTS", 5_000),
            max_body_bytes=_whole(env, "DEALRISK_MAX_BODY_MB", 32) * 2**20,
            keepalive_requests=_whole(env, "DEALRISK_KEEPALIVE_REQUESTS", 100, minimum=0),
            tracking_uri=env.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{PROJECT_ROOT}/mlruns/mlflow.db",
        )


def _whole(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < minimum:
        raise SettingsError(f"{name}={text!r} must be a whole number of {minimum} or more")
    return value
