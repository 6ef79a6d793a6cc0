"""What the scoring service costs over a bare BentoML endpoint and ``mlflow models serve``.

Three servers, started one at a time on 127.0.0.1 (2 workers each) and measured by the same
``httpx`` load generator in the same run:

- **score**: ``bentoml serve serving.service:DealRisk``, ``POST /score`` with one hand-written
  open deal of exactly 50 activities (2 stages, 2 contacts, 1 close-date change), with the key;
- **bare**: ``bentoml serve bare_echo_service:BareEcho`` (``benchmarks/bare_echo_service.py``),
  one async ``@bentoml.api`` that returns its small JSON input: the floor of a BentoML service;
- **mlflow**: ``mlflow models serve --env-manager local -w 2`` on the same registered model,
  ``POST /invocations`` with the deal's feature row (``features.live.live_features`` with the
  model's frozen peers and profile, in the signature's columns; categoricals as text, missing
  as null) -- the row only, so it does less work than ``/score`` (no history to encode).  Its
  risks are checked against ``/score``'s for the same deal (``mlflow_same_risks_as_score``).

For each: p50 / p99 latency (ms, client side: send to body read) and throughput (req/s) at
concurrency 1, 8 and 32 -- ``--requests`` per level at c8 / c32 and half at c1 (mlflow:
``--mlflow-requests``, a quarter by default: it is ~10x slower), after a warm-up, from
virtual users with one ``httpx.AsyncClient`` (one keep-alive connection) each.  Every answer's
status is checked (anything but 200, or a transport error, counts as an error).  For our
service also ``/score_batch`` throughput (deals/s, 1,000 distinct deals in one request, median
of ``--batch-reps``) and the memory of its whole process tree (``bentoml serve`` and its
workers) after the load: RSS summed (``rss_mb``) and PSS summed (shared pages split).
After the servers stop, ``serving_stages.py`` times each stage of ``/score`` and
``/score_batch`` inside one worker process, without HTTP, and the part spent in LightGBM
(``score_stages_ms``, ``batch_stages_ms`` in the JSON line): where the time above goes.

By default it makes its own model first (simulate ``--deals``, ingest, train, register into a
temporary SQLite MLflow store; a few minutes, reported as ``setup_s``); ``--model-uri`` with
``--tracking-uri`` uses an existing one instead.  Prints a table, the targets met or missed,
and, last, one JSON line.  The client shares the machine's cores with the servers, so the
figures are for this box as a whole (and move with whatever else runs on it).

    .venv/bin/python benchmarks/bench_serving.py
    .venv/bin/python benchmarks/bench_serving.py --deals 1500 --requests 200   # quick check
    # an existing model (and without the MLflow server):
    .venv/bin/python benchmarks/bench_serving.py --model-uri models:/dealrisk-demo/1
        --tracking-uri sqlite:///$PWD/mlruns/mlflow.db --skip-mlflow   # (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
API_KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JSON_TYPE = {"Content-Type": "application/json"}
LEVELS = (1, 8, 32)
N_ACTIVITIES = 50
BATCH_DEALS = 1_000
AS_OF = "2024-09-01T00:00:00Z"
READY_TIMEOUT_S = 240.0
#: What asking about (or signalling) a process that has gone may raise.
GONE = (ProcessLookupError, PermissionError, psutil.Error)
CHILD_ENV = {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
             "DO_NOT_TRACK": "true"}


def say(message: str) -> None:
    print(f"[bench_serving {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the requests
def hand_written_history(deal_id: str = "HAND-1", amount: float = 72_000.0) -> dict[str, Any]:
    """One open deal's history with exactly 50 activities, written by hand (no simulator)."""
    return {
        "as_of": AS_OF,
        "deal": {"deal_id": deal_id, "account_id": "ACME", "owner_id": "owner-7",
                 "owner_name": "Dana Reyes", "account_name": "Acme GmbH", "name": "Acme CRM",
                 "amount": amount, "currency": "EUR", "created_at": "2024-05-02T08:00:00+02:00",
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
            for i in range(N_ACTIVITIES)],
        "contacts": [{"contact_id": "C0", "role": "champion", "added_at": "2024-05-03T00:00:00Z"},
                     {"contact_id": "C1", "role": "technical",
                      "added_at": "2024-06-01T00:00:00Z"}],
        "field_history": [{"change_id": "F1", "changed_at": "2024-07-01T00:00:00Z",
                           "field": "close_date", "old_close_date": "2024-09-30T00:00:00Z",
                           "new_close_date": "2024-10-31T00:00:00Z"}],
    }


def batch_body(n: int) -> dict[str, Any]:
    """``n`` distinct deals (ids and amounts differ; 50 activities each) at one ``as_of``."""
    deals = [hand_written_history(f"BATCH-{i:05d}", amount=10_000.0 + 137.0 * i)
             for i in range(n)]
    for deal in deals:
        del deal["as_of"]
    return {"as_of": AS_OF, "deals": deals}


def echo_body() -> dict[str, Any]:
    """The bare echo's small JSON input."""
    return {"payload": {"deal_id": "HAND-1", "amount": 72000.0, "region": "EMEA",
                        "activities": N_ACTIVITIES}}


def mlflow_body(model_uri: str, tracking_uri: str) -> tuple[dict[str, Any], list[str]]:
    """The hand-written deal's feature row as ``dataframe_split``, in the signature's columns."""
    import mlflow

    from features.live import live_features

    mlflow.set_tracking_uri(tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    model = pyfunc.unwrap_python_model().model
    if type(model).__name__ != "DealRiskModel" or model.peer_stats is None:
        raise SystemExit(f"{model_uri}: not a dealrisk model with frozen peer references")
    history = hand_written_history()
    row = live_features(history["deal"], history["stage_history"], history["activities"],
                        history["contacts"], history["field_history"], as_of=history["as_of"],
                        peers=model.peer_stats, profile=model.profile)
    schema = pyfunc.metadata.get_input_schema()
    columns, types = schema.input_names(), [str(t) for t in schema.input_types()]
    missing = [c for c in columns if c not in row]
    if missing:
        raise SystemExit(f"the live feature row lacks signature columns {missing}")
    data = [_cell(row[c], kind) for c, kind in zip(columns, types, strict=True)]
    return {"dataframe_split": {"columns": columns, "data": [data]}}, columns


def _cell(value: object, kind: str) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value != value:  # pandas / numpy missing values
        return None
    if "string" in kind.lower():
        return str(value)
    return float(value)


# ------------------------------------------------------------------------------- the model
def make_model(deals: int, seed: int, root: Path, n_estimators: int) -> tuple[str, str]:
    """Simulate, ingest, train and register a model in a fresh SQLite store; (tracking, uri)."""
    import mlflow

    from features.ingest import ingest
    from training.model import TrainConfig
    from training.pipeline import train_pipeline
    from training.simulator import simulate_to_dir
    from training.tracking import log_training, setup_tracking

    tracking_uri = f"sqlite:///{root}/mlruns/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    started = time.perf_counter()
    say(f"simulating {deals:,} deals (seed {seed})")
    simulate_to_dir(deals, seed, root / "export")
    result = ingest(root / "export", name="benchserving")
    say(f"training (at most {n_estimators} trees per booster)")
    trained = train_pipeline(result.histories, config=TrainConfig(n_estimators=n_estimators),
                             known_until=result.export_time, n_boot=20)
    setup_tracking(root)
    tracked = log_training(trained, run_name="bench_serving")
    mlflow.set_tracking_uri(tracking_uri)
    uri = f"models:/{tracked.model_name}/{tracked.version}"
    say(f"registered {uri} in {time.perf_counter() - started:.0f} s")
    return tracking_uri, uri


# ------------------------------------------------------------------------------ the servers
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Memory:
    """A process tree's memory and process count.

    RSS summed counts a shared page once per process; PSS summed splits it between its
    sharers (so it is the tree's own footprint).
    """

    rss_mb: float
    pss_mb: float | None
    processes: int


@dataclass
class Server:
    """A server process started in its own process group; its base URL and log."""

    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    #: Every process of its tree seen so far: pid -> creation time.
    pids: dict[int, float] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        """The ``serve`` process and all its descendants now (remembered for :func:`stop`)."""
        try:
            parent = psutil.Process(self.process.pid)
            procs = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in procs:
            with suppress(*GONE):
                self.pids.setdefault(proc.pid, proc.create_time())
        return procs

    def memory(self) -> Memory:
        """Resident memory of the whole tree now (MB): RSS summed, and PSS summed."""
        rss = pss = count = 0
        for proc in self.tree():
            with suppress(*GONE):
                info = proc.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", 0)
                count += 1
        return Memory(rss / 2**20, pss / 2**20 if pss else None, count)

    def cpu_seconds(self) -> dict[int, float]:
        """CPU time (user + system, s) used so far by each process of the tree."""
        out = {}
        for proc in self.tree():
            with suppress(*GONE):
                times = proc.cpu_times()
                out[proc.pid] = times.user + times.system
        return out

    def tail(self, n: int = 3000) -> str:
        """The end of the server's log."""
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@contextmanager
def serving(name: str, cmd: list[str], env: dict[str, str], ready_path: str,
            ready_headers: dict[str, str], port: int, logs: Path) -> Iterator[Server]:
    """Start ``cmd``, wait until ``ready_path`` answers 200, yield; stop its process group."""
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    try:
        started, deadline = time.perf_counter(), time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{server.tail()}")
            try:
                if httpx.get(server.base + ready_path, headers=ready_headers,
                             timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready in {READY_TIMEOUT_S:.0f} s:\n"
                                   f"{server.tail()}")
            server.tree()
            time.sleep(0.25)
        say(f"{name} ready in {time.perf_counter() - started:.1f} s "
            f"({len(server.tree())} processes)")
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    """SIGTERM the server's process group; SIGKILL whatever of its tree is still alive."""
    server.tree()
    process = server.process
    if process.poll() is None:
        with suppress(*GONE):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(*GONE):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid, created in server.pids.items():  # children that left the group, if any
        with suppress(*GONE):
            proc = psutil.Process(pid)
            if proc.create_time() == created:  # the very process we saw, not a reused pid
                try:
                    proc.wait(timeout=5)
                except psutil.TimeoutExpired:
                    proc.kill()


# ------------------------------------------------------------------------------ the load
@dataclass
class Level:
    """One concurrency level's figures."""

    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int
    statuses: dict[str, int]
    #: CPU seconds each server process used during the measured requests (largest first): a
    #: lopsided split means the keep-alive connections landed mostly on one worker.
    server_cpu_s: list[float] = field(default_factory=list)


async def _post(client: httpx.AsyncClient, url: str, body: bytes, statuses: Counter[str]
                ) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body)
        await response.aread()
        status = str(response.status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    elapsed = time.perf_counter() - started
    statuses[status] += 1
    return elapsed, status == "200"


async def _run_level(url: str, body: bytes, headers: dict[str, str], concurrency: int,
                     n: int, warmup: int) -> Level:
    """``n`` requests from ``concurrency`` virtual users, each its own keep-alive connection.

    One ``AsyncClient`` per user: a single client's pool shared by 32 tasks costs the client
    more than the servers measured here (its p99 at c32 was 4x worse on the same echo).
    """
    clients = [httpx.AsyncClient(headers={**headers, **JSON_TYPE}, timeout=60.0,
                                 limits=httpx.Limits(max_connections=1))
               for _ in range(concurrency)]
    try:
        async def drive(count: int, statuses: Counter[str], latencies: list[float]) -> float:
            remaining = count

            async def user(client: httpx.AsyncClient) -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    elapsed, ok = await _post(client, url, body, statuses)
                    if ok:
                        latencies.append(elapsed)

            started = time.perf_counter()
            await asyncio.gather(*(user(client) for client in clients))
            return time.perf_counter() - started

        await drive(warmup, Counter(), [])
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        wall = await drive(n, statuses, latencies)
    finally:
        for client in clients:
            await client.aclose()
    errors = n - statuses.get("200", 0)
    ms = np.array(latencies) * 1000 if latencies else np.array([math.nan])
    return Level(concurrency, n, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                 statuses.get("200", 0) / wall, errors, dict(statuses))


def measure(server: Server, url: str, body: dict[str, Any], headers: dict[str, str],
            requests: int) -> dict[int, Level]:
    """p50 / p99 / req/s at each concurrency level (c1 gets half the requests)."""
    name = server.name
    payload = json.dumps(body).encode()
    asyncio.run(_run_level(url, payload, headers, 8, max(50, requests // 10), 0))  # warm-up
    levels = {}
    for c in LEVELS:
        n = max(20, requests // 2) if c == 1 else requests
        before = server.cpu_seconds()
        level = asyncio.run(_run_level(url, payload, headers, c, n, warmup=max(20, 2 * c)))
        after = server.cpu_seconds()
        level.server_cpu_s = sorted((round(t - before.get(pid, 0.0), 2)
                                     for pid, t in after.items()), reverse=True)
        levels[c] = level
        say(f"{name:>6} c{c:<2}: p50 {level.p50_ms:7.2f} ms  p99 {level.p99_ms:7.2f} ms  "
            f"{level.rps:8.1f} req/s  errors {level.errors}  server CPU s "
            f"{level.server_cpu_s}")
    return levels


def measure_batch(url: str, reps: int) -> tuple[list[float], int, int]:
    """Deals/s of ``/score_batch`` with 1,000 deals, ``reps`` times after one warm-up."""
    payload = json.dumps(batch_body(BATCH_DEALS)).encode()
    rates, errors, failed_deals = [], 0, 0
    with httpx.Client(headers={**AUTH, **JSON_TYPE}, timeout=120.0) as client:
        for rep in range(reps + 1):
            started = time.perf_counter()
            try:
                response = client.post(url, content=payload)  # the whole answer read
                elapsed = time.perf_counter() - started
                answer = response.json() if response.status_code == 200 else {}
            except (httpx.HTTPError, ValueError) as exc:
                say(f"batch: {type(exc).__name__}: {exc}")
                errors += 1
                continue
            if response.status_code != 200 or answer.get("scored") != BATCH_DEALS:
                errors += 1
                failed_deals += int(answer.get("failed", BATCH_DEALS) or 0)
                say(f"batch: status {response.status_code}, {response.text[:300]}")
                continue
            if rep:
                rates.append(BATCH_DEALS / elapsed)
                say(f"batch {rep}/{reps}: {elapsed:.2f} s, {BATCH_DEALS / elapsed:,.0f} deals/s")
    return rates, errors, failed_deals


@dataclass(frozen=True)
class Sample:
    """One answer before the load: its status, its JSON and a shortened text to print."""

    status: int
    answer: Any
    text: str


def sample(url: str, body: dict[str, Any], headers: dict[str, str]) -> Sample:
    """One answer, to show (and check) what is measured."""
    response = httpx.post(url, json=body, headers=headers, timeout=60)
    text = response.text.replace("\n", " ")
    if response.status_code != 200:
        raise RuntimeError(f"POST {url} answered {response.status_code}: {text[:2000]}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return Sample(response.status_code, answer,
                  f"{response.status_code} {text[:240]}{'...' if len(text) > 240 else ''}")


def same_risks(score: Sample, mlflow: Sample | None) -> bool | None:
    """Whether mlflow's risks for the feature row equal ``/score``'s for the history.

    Compared on the risks both answer (``/score`` has no ``won_risk``), to 1e-6.
    """
    if mlflow is None:
        return None
    try:
        row = mlflow.answer["predictions"][0]
        keys = [k for k in row if k.endswith("_risk") and score.answer.get(k) is not None]
        return "stall_risk" in keys and all(abs(float(row[k]) - float(score.answer[k])) < 1e-6
                                            for k in keys)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return False


# ------------------------------------------------------------------------------ the report
def figures(prefix: str, levels: dict[int, Level] | None, rps_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in LEVELS:
        level = levels.get(c) if levels else None
        out[f"{prefix}p50_ms_c{c}"] = round(level.p50_ms, 3) if level else None
        out[f"{prefix}p99_ms_c{c}"] = round(level.p99_ms, 3) if level else None
        out[f"{rps_name}_c{c}"] = round(level.rps, 1) if level else None
    return out


def table(results: dict[str, dict[int, Level] | None]) -> str:
    lines = [f"{'server':<8} {'conc':>4} {'requests':>8} {'p50 ms':>9} {'p99 ms':>9} "
             f"{'req/s':>9} {'errors':>6}  server CPU s per process"]
    lines.append("-" * len(lines[0]))
    for name, levels in results.items():
        if not levels:
            lines.append(f"{name:<8} {'(skipped)':>14}")
            continue
        for c, level in levels.items():
            lines.append(f"{name:<8} {c:>4} {level.requests:>8} {level.p50_ms:>9.2f} "
                         f"{level.p99_ms:>9.2f} {level.rps:>9.1f} {level.errors:>6}  "
                         + " / ".join(f"{t:.1f}" for t in level.server_cpu_s))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=3000, help="simulated deals to train on")
    parser.add_argument("--requests", type=int, default=2000,
                        help="measured requests per level at c8 / c32 (c1: half)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    parser.add_argument("--mlflow-requests", type=int, default=None,
                        help="the same for mlflow models serve (default: a quarter of "
                        "--requests; it is ~10x slower per request)")
    parser.add_argument("--n-estimators", type=int, default=300,
                        help="trees per booster at most when training (early stopping may "
                        "stop sooner; the shipped default is 2000)")
    parser.add_argument("--batch-reps", type=int, default=5,
                        help="measured /score_batch requests (median)")
    parser.add_argument("--model-uri", help="an existing registered model (skips training)")
    parser.add_argument("--tracking-uri", help="its MLflow tracking URI (with --model-uri)")
    parser.add_argument("--skip-mlflow", action="store_true",
                        help="do not measure mlflow models serve")
    args = parser.parse_args(argv)
    if args.tracking_uri and not args.model_uri:
        parser.error("--tracking-uri goes with --model-uri")
    if args.mlflow_requests is None:
        args.mlflow_requests = max(40, args.requests // 4)

    os.environ.update(CHILD_ENV)  # this process logs to MLflow too
    run_started, load_start = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        root = Path(tmp)
        logs = root / "logs"
        logs.mkdir()
        if args.model_uri:
            model_uri = args.model_uri
            tracking_uri = (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
                            or f"sqlite:///{ROOT}/mlruns/mlflow.db")
        else:
            tracking_uri, model_uri = make_model(args.deals, args.seed, root,
                                                 args.n_estimators)
        setup_s = time.perf_counter() - run_started
        mlflow_request = None
        if not args.skip_mlflow:
            mlflow_request, columns = mlflow_body(model_uri, tracking_uri)
            say(f"mlflow feature row: {len(columns)} signature columns")

        base_env = {**os.environ, **CHILD_ENV, "MLFLOW_TRACKING_URI": tracking_uri,
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # uvicorn
        results: dict[str, dict[int, Level] | None] = {}
        samples: dict[str, Sample] = {}
        mem: dict[str, Memory] = {}

        # (a) our service
        port = free_port()
        env = {**base_env, "DEALRISK_API_KEYS": API_KEY, "DEALRISK_MODEL_URI": model_uri,
               "DEALRISK_WORKERS": "2", "DEALRISK_MAX_BATCH": str(BATCH_DEALS)}
        cmd = [str(BIN / "bentoml"), "serve", "serving.service:DealRisk", "--host", "127.0.0.1",
               "--port", str(port)]
        with serving("score", cmd, env, "/readyz", AUTH, port, logs) as server:
            url = server.base + "/score"
            samples["score"] = sample(url, hand_written_history(), AUTH)
            results["score"] = measure(server, url, hand_written_history(), AUTH,
                                       args.requests)
            rates, batch_errors, failed_deals = measure_batch(server.base + "/score_batch",
                                                              args.batch_reps)
            mem["score"] = server.memory()

        # (b) the bare BentoML echo
        port = free_port()
        cmd = [str(BIN / "bentoml"), "serve", "bare_echo_service:BareEcho", "--working-dir",
               str(ROOT / "benchmarks"), "--host", "127.0.0.1", "--port", str(port)]
        with serving("bare", cmd, base_env, "/readyz", {}, port, logs) as server:
            url = server.base + "/echo"
            samples["bare"] = sample(url, echo_body(), {})
            results["bare"] = measure(server, url, echo_body(), {}, args.requests)
            mem["bare"] = server.memory()

        # (c) mlflow models serve, same model
        results["mlflow"] = None
        if mlflow_request is not None:
            port = free_port()
            cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
                   "local", "-p", str(port), "--host", "127.0.0.1", "-w", "2"]
            with serving("mlflow", cmd, base_env, "/ping", {}, port, logs) as server:
                url = server.base + "/invocations"
                samples["mlflow"] = sample(url, mlflow_request, {})
                results["mlflow"] = measure(server, url, mlflow_request, {},
                                            args.mlflow_requests)
                mem["mlflow"] = server.memory()

        stages = in_process_stages({**base_env, "DEALRISK_API_KEYS": API_KEY,
                                    "DEALRISK_MODEL_URI": model_uri,
                                    "DEALRISK_MAX_BATCH": str(BATCH_DEALS)}, root)

    report(args, results, samples, mem, rates, batch_errors, failed_deals, model_uri,
           setup_s, time.perf_counter() - run_started, load_start, stages)


def in_process_stages(env: dict[str, str], root: Path) -> dict[str, Any]:
    """``serving_stages.py`` in its own process: where a worker's time goes, without HTTP."""
    say("timing the endpoints' stages in one worker process (no HTTP)")
    metrics = root / "stages-prometheus"
    metrics.mkdir(exist_ok=True)
    env = {key: value for key, value in env.items() if key != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serving_stages.py")],
                          env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        say(f"serving_stages.py failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(args: argparse.Namespace, results: dict[str, dict[int, Level] | None],
           samples: dict[str, Sample], mem: dict[str, Memory], rates: list[float],
           batch_errors: int, failed_deals: int, model_uri: str, setup_s: float,
           total_s: float, load_start: float, stages: dict[str, Any]) -> None:
    out: dict[str, Any] = {}
    out |= figures("score_", results["score"], "rps")
    out |= figures("bare_", results["bare"], "bare_rps")
    out |= figures("mlflow_", results["mlflow"], "mlflow_rps")
    batch = statistics.median(rates) if rates else None
    out["batch_deals_per_s"] = round(batch, 1) if batch is not None else None
    out["batch_deals_per_s_runs"] = [round(r, 1) for r in rates]
    for name, prefix in (("score", ""), ("bare", "bare_"), ("mlflow", "mlflow_")):
        tree = mem.get(name)
        out[f"{prefix}rss_mb"] = round(tree.rss_mb, 1) if tree else None
        out[f"{prefix}pss_mb"] = (round(tree.pss_mb, 1) if tree and tree.pss_mb is not None
                                  else None)
        out[f"{prefix}processes"] = tree.processes if tree else None
    errors_by = {name: sum(level.errors for level in levels.values())
                 for name, levels in results.items() if levels}
    errors_by["score_batch"] = batch_errors
    out["errors"] = sum(errors_by.values())
    out["errors_by_server"] = errors_by
    out["error_statuses"] = {f"{name}_c{c}": {k: v for k, v in level.statuses.items() if k != "200"}
                             for name, levels in results.items() if levels
                             for c, level in levels.items() if level.errors}
    out["batch_failed_deals"] = failed_deals
    out["server_cpu_s"] = {f"{name}_c{c}": level.server_cpu_s for name, levels in results.items()
                           if levels for c, level in levels.items()}
    out["mlflow_same_risks_as_score"] = same_risks(samples["score"], samples.get("mlflow"))
    out |= stages

    def ok(value: bool | None) -> bool | None:
        return None if value is None else bool(value)

    s, m = out, out["mlflow_rps_c8"]
    targets = {
        "score_p50_c1_within_1_5ms_of_bare": ok(s["score_p50_ms_c1"] - s["bare_p50_ms_c1"]
                                                <= 1.5),
        "rps_c8_at_least_half_bare": ok(s["rps_c8"] >= 0.5 * s["bare_rps_c8"]),
        "rps_c8_at_least_5x_mlflow": None if m is None else ok(s["rps_c8"] >= 5 * m),
        "p99_c8_at_most_2x_bare": ok(s["score_p99_ms_c8"] <= 2 * s["bare_p99_ms_c8"]),
        "batch_at_least_5000": None if batch is None else ok(batch >= 5000),
    }
    out |= targets
    out |= {"deals": None if args.model_uri else args.deals, "requests": args.requests,
            "requests_c1": max(20, args.requests // 2), "mlflow_requests": args.mlflow_requests,
            "mlflow_requests_c1": max(20, args.mlflow_requests // 2), "seed": args.seed,
            "activities_per_deal": N_ACTIVITIES, "batch_size": BATCH_DEALS,
            "batch_reps": args.batch_reps, "model_uri": model_uri if args.model_uri else
            "(made by the run)", "cpus": os.cpu_count(), "workers": 2,
            "setup_s": round(setup_s, 1), "total_s": round(total_s, 1),
            "loadavg_1min_start": round(load_start, 2),
            "loadavg_1min_end": round(os.getloadavg()[0], 2)}

    print("\nLatency (client side, ms) and throughput; 127.0.0.1, 2 workers per server, "
          f"{os.cpu_count()} CPUs shared with the client")
    print(table(results))
    print(f"\n/score_batch, {BATCH_DEALS:,} deals of {N_ACTIVITIES} activities per request: "
          + (f"median {batch:,.0f} deals/s over {len(rates)} runs "
             f"({', '.join(f'{r:,.0f}' for r in rates)})" if batch else "no successful run")
          + f"; errors {batch_errors}")
    print("memory after the load (whole process tree; RSS summed / PSS summed):")
    for name, tree in mem.items():
        pss = f"{tree.pss_mb:,.0f}" if tree.pss_mb is not None else "n/a"
        print(f"  {name:<7} RSS {tree.rss_mb:7,.0f} MB   PSS {pss:>7} MB   "
              f"{tree.processes} processes")
    print(f"errors: {out['errors']} {errors_by}")
    print("\nsample answers:")
    for name, one in samples.items():
        print(f"  {name:<7} {one.text}")
    if out["mlflow_same_risks_as_score"] is not None:
        verb = "equal" if out["mlflow_same_risks_as_score"] else "DIFFER from"
        print(f"  mlflow's risks for the feature row {verb} /score's for the history")
    if stages:
        score_ms, batch_ms = stages["score_stages_ms"], stages["batch_stages_ms"]
        print("\ninside one worker, no HTTP (benchmarks/serving_stages.py; median ms):")
        print("  /score       " + ", ".join(f"{k} {v:.3f}" for k, v in score_ms.items()))
        print("  /score_batch " + ", ".join(f"{k} {v:,.1f}" for k, v in batch_ms.items()))
    print("\ntargets:")
    diff = s["score_p50_ms_c1"] - s["bare_p50_ms_c1"]
    detail = {
        "score_p50_c1_within_1_5ms_of_bare": f"score p50 c1 - bare = {diff:+.2f} ms (<= 1.5)",
        "rps_c8_at_least_half_bare": f"{s['rps_c8']:.0f} vs bare {s['bare_rps_c8']:.0f} req/s "
                                     f"(x{s['rps_c8'] / s['bare_rps_c8']:.2f}, >= 0.5)",
        "rps_c8_at_least_5x_mlflow": "skipped" if m is None else
        f"{s['rps_c8']:.0f} vs mlflow {m:.0f} req/s (x{s['rps_c8'] / m:.2f}, >= 5)",
        "p99_c8_at_most_2x_bare": f"{s['score_p99_ms_c8']:.2f} vs bare "
                                  f"{s['bare_p99_ms_c8']:.2f} ms "
                                  f"(x{s['score_p99_ms_c8'] / s['bare_p99_ms_c8']:.2f}, <= 2)",
        "batch_at_least_5000": "no run" if batch is None else f"{batch:,.0f} deals/s (>= 5,000)",
    }
    for name, met in targets.items():
        mark = "n/a " if met is None else ("MET " if met else "MISS")
        print(f"  {mark} {name}: {detail[name]}")
    print(f"\nsetup {setup_s:.0f} s, total {total_s:.0f} s; 1-min load average "
          f"{load_start:.1f} at the start, {out['loadavg_1min_end']:.1f} at the end "
          f"({os.cpu_count()} CPUs: above that, other work shared the cores)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
