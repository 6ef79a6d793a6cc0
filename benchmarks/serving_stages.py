r"""Where one ``/score`` and one ``/score_batch`` spend their time inside a worker (no HTTP).

Builds the service's worker object as ``bentoml serve`` does (``DealRisk.inner()``: settings
from the environment, the model loaded once, the collector settled) and times, on
``bench_serving``'s hand-written deal of 50 activities, each stage the endpoint runs, in its
order and with the functions it calls:

- ``/score``: parse (strict pydantic models, from the JSON bytes), point-in-time checks,
  records, the two feature rows (``as_of`` and a week before), risks, reasons, next steps,
  data warnings, the answer (models and JSON); then the real ``score_deal`` and the whole
  endpoint body (parse + checks + records + ``score_deal`` + answer) once more as a check;
- ``/score_batch`` of 1,000 deals: the envelope, each deal's own validation and checks, the
  vectorised ``score_deals``, the answer.

Also the share spent inside LightGBM's predictions (risks, SHAP contributions for
the reasons, the effect and propensity boosters), the part no Python of ours can shorten.
Medians over ``--reps`` (``/score``) and ``--batch-reps`` (``/score_batch``) after a warm-up.
Run by ``bench_serving.py`` after its servers stop, in its own process (so OpenMP and the
collector are set up as in a worker); alone::

    DEALRISK_API_KEYS=k DEALRISK_MODEL_URI=models:/dealrisk-demo/1 \\
        MLFLOW_TRACKING_URI=sqlite:///$PWD/mlruns/mlflow.db \\
        .venv/bin/python benchmarks/serving_stages.py

It prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: F401  (first: a worker's OpenMP settings)

Timings = dict[str, list[float]]


class PredictClock:
    """Seconds spent predicting in LightGBM while it is installed.

    Both ways in are timed: ``lightgbm.Booster.predict`` (many rows) and the single-row C API
    path of :mod:`training.booster_predict` (a few rows).
    """

    def __init__(self) -> None:
        import lightgbm

        from training import booster_predict

        self.seconds = 0.0
        for owner in (lightgbm.Booster, booster_predict._SingleRows):
            owner.predict = self._timed(owner.predict)

    def _timed(self, original: Callable[..., Any]) -> Callable[..., Any]:
        clock = self

        def timed(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - started

        return timed

    def lap(self) -> float:
        """The seconds since the last lap."""
        spent, self.seconds = self.seconds, 0.0
        return spent


def _timed(timings: Timings, name: str, call: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = call()
    timings.setdefault(name, []).append(time.perf_counter() - started)
    return out


def score_stages(worker: Any, body: bytes, reps: int, clock: PredictClock) -> dict[str, float]:
    """Median ms per stage of one ``/score`` (see the module docstring)."""
    timings: Timings = {}
    for rep in range(reps + reps // 10):
        if rep == reps // 10:
            timings.clear()
        _score_once(worker, body, timings, clock)
    return {name: round(1000 * statistics.median(v), 3) for name, v in timings.items()}


def _score_once(worker: Any, body: bytes, timings: Timings, clock: PredictClock) -> None:
    t = partial(_timed, timings)
    import pandas as pd

    from features.live import live_feature_rows
    from serving.answers import deal_score
    from serving.requests import records_of, time_problems
    from serving.schemas import ScoreResponse
    from training.live_scoring import data_warnings, next_step_fields
    from training.ranking import model_basis, ranking_risk

    model = worker.loaded.model
    history = t("parse", lambda: worker._parse(worker.models.history, body))
    as_of = history.as_of
    t("checks", lambda: time_problems(history, as_of))
    records = t("records", lambda: records_of(history))
    deal, stages, activities, contacts, changes = records.as_args()
    when = pd.Timestamp(as_of)
    times = [when.to_pydatetime(), (when - pd.Timedelta(days=7)).to_pydatetime()]
    rows = t("features", lambda: live_feature_rows(
        deal, stages, activities, contacts, changes, as_of=times, peers=model.peer_stats,
        profile=model.profile))

    def risks() -> Any:
        x = model.record_matrix(rows)
        probs = {f"{k}_risk": model.predict_matrix(x, k) for k in model.targets}
        ranking_risk(probs, model_basis(model, 7))
        return x

    x = t("risks", risks)
    t("reasons", lambda: model.explain_matrix(x[:1], rows[:1], 3))
    t("next_steps", lambda: next_step_fields(model, deal, rows[0], x[:1], activities, when))
    t("warnings", lambda: data_warnings(deal, stages, activities, contacts,
                                        peers_known_until=model.peers_known_until, as_of=when))
    clock.lap()
    row = t("score_deal", lambda: model.score_deal(*records.as_args(), as_of=when))
    timings.setdefault("lightgbm_in_score_deal", []).append(clock.lap())

    def answer(scored: dict[str, Any]) -> str:
        return ScoreResponse(**deal_score(scored, model).model_dump(), as_of=as_of.isoformat(),
                             model=worker.loaded.info).model_dump_json()

    t("answer", lambda: answer(row))

    def endpoint() -> None:
        parsed = worker._parse(worker.models.history, body)
        checked = worker._checked(parsed, parsed.as_of)
        answer(model.score_deal(*checked.as_args(), as_of=pd.Timestamp(parsed.as_of)))

    t("endpoint", endpoint)


def batch_stages(worker: Any, body: bytes, reps: int, clock: PredictClock) -> dict[str, float]:
    """Median ms per stage of one ``/score_batch`` (see the module docstring)."""
    timings: Timings = {}
    for rep in range(reps + 1):
        if rep == 1:
            timings.clear()
        started = time.perf_counter()
        _batch_once(worker, body, timings, clock)
        timings.setdefault("total", []).append(time.perf_counter() - started)
    out = {name: round(1000 * statistics.median(v), 1) for name, v in timings.items()}
    out["deals_per_s"] = round(len(json.loads(body)["deals"]) / (out["total"] / 1000), 1)
    return out


def _batch_once(worker: Any, body: bytes, timings: Timings, clock: PredictClock) -> None:
    t = partial(_timed, timings)
    import pandas as pd

    from serving.answers import deal_score
    from serving.schemas import BatchResponse
    from serving.service import _BatchEnvelope

    model = worker.loaded.model
    envelope = t("envelope", lambda: worker._envelope(_BatchEnvelope, body))
    as_of = worker._as_of(envelope.as_of)
    checked = t("validate", lambda: [worker._one(i, raw, as_of)
                                     for i, raw in enumerate(envelope.deals)])
    good = [(item, records) for item, records in checked if records is not None]
    clock.lap()
    rows = t("score_deals", lambda: model.score_deals(
        [records.as_args() for _, records in good], as_of=pd.Timestamp(as_of)))
    timings.setdefault("lightgbm_in_score_deals", []).append(clock.lap())

    def answer() -> str:
        for (item, _), row in zip(good, rows, strict=True):
            item.score = deal_score(row, model)
        items = [item for item, _ in checked]
        return BatchResponse(as_of=as_of.isoformat(), scored=len(items), failed=0,
                             results=items, model=worker.loaded.info).model_dump_json()

    t("answer", answer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=300, help="/score repetitions")
    parser.add_argument("--batch-reps", type=int, default=3, help="/score_batch repetitions")
    args = parser.parse_args(argv)

    from bench_serving import batch_body, hand_written_history

    from serving.service import DealRisk

    worker = DealRisk.inner()
    clock = PredictClock()
    score = score_stages(worker, json.dumps(hand_written_history()).encode(), args.reps, clock)
    batch = batch_stages(worker, json.dumps(batch_body(1000)).encode(), args.batch_reps, clock)
    print("in one worker, no HTTP: /score stages (median ms)", file=sys.stderr)
    for name, ms in score.items():
        print(f"  {name:<24}{ms:8.3f}", file=sys.stderr)
    print("/score_batch of 1,000 deals (median ms)", file=sys.stderr)
    for name, ms in batch.items():
        print(f"  {name:<24}{ms:8.1f}", file=sys.stderr)
    print(json.dumps({"score_stages_ms": score, "batch_stages_ms": batch}))


if __name__ == "__main__":
    main()
