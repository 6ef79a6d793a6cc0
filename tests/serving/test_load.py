"""A bounded load test of the real server: locust, in its own process, against ``live_service``.

Locust is never imported here (it monkey-patches sockets with gevent): the locustfile is
written to a temporary directory and run headless by the ``locust`` command for 20 s with 8
users at a fixed rate each; its CSV stats are read back.  Every answer must be a 200 with a
score; the median and the 99th percentile latency are printed.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from serving_requests import AUTH, hand_written_history

pytestmark = pytest.mark.slow

USERS = 8
#: Requests per second per user (constant_throughput), so about USERS x RATE x 20 s in all.
RATE = 2.0
RUN_SECONDS = 20

LOCUSTFILE = '''
import json

from locust import FastHttpUser, constant_throughput, task

BODY = json.loads({body!r})
HEADERS = json.loads({headers!r})


class Scorer(FastHttpUser):
    wait_time = constant_throughput({rate})

    @task
    def score(self):
        with self.client.post("/score", json=BODY, headers=HEADERS, name="/score",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {{response.status_code}}: {{response.text[:200]}}")
                return
            try:
                risk = response.json()["no_decision_risk"]
            except (ValueError, KeyError, TypeError) as exc:
                response.failure(f"no no_decision_risk in the answer: {{exc!r}}")
                return
            if not (isinstance(risk, float) and 0.0 <= risk <= 1.0):
                response.failure(f"no_decision_risk {{risk!r}} is no probability")
                return
            response.success()
'''


def test_the_server_holds_a_fixed_rate_without_errors(live_service, tmp_path):
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(body=json.dumps(hand_written_history()),
                                            headers=json.dumps(AUTH), rate=RATE))
    locust = Path(sys.executable).with_name("locust")
    run = subprocess.run(
        [str(locust), "-f", str(locustfile), "--headless", "-u", str(USERS), "-r", str(USERS),
         "-t", f"{RUN_SECONDS}s", "--stop-timeout", "5", "--host", live_service,
         "--csv", str(tmp_path / "load"), "--only-summary", "--loglevel", "WARNING"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(tmp_path / "load_stats.csv", newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    score, total = rows["/score"], rows["Aggregated"]
    requests, failures = int(score["Request Count"]), int(score["Failure Count"])
    print(f"\nlocust: {requests} requests to /score in {RUN_SECONDS} s with {USERS} users, "
          f"{failures} failures, {float(score['Requests/s']):.1f} req/s, "
          f"p50 {score['50%']} ms, p99 {score['99%']} ms, max "
          f"{float(score['Max Response Time']):.0f} ms")
    assert failures == 0, (tmp_path / "load_failures.csv").read_text()
    assert int(total["Failure Count"]) == 0
    assert requests >= 100
    assert int(total["Request Count"]) == requests  # nothing but /score was sent
    assert int(score["50%"]) > 0 and int(score["99%"]) >= int(score["50%"])
    # the fixed rate bounds the load: no more than the users could send at that rate
    assert requests <= USERS * RATE * (RUN_SECONDS + 5)
