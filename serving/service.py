"""The BentoML scoring service: one raw deal history in, calibrated risks, reasons, next steps out.

Run it with ``dealrisk serve`` (or ``make serve``, or ``bentoml serve serving.service:DealRisk``);
each worker loads the model once (:mod:`serving.model_source`) and every answer names it.

=======================  ===================================================================
``POST /score``          one deal history (+ optional ``as_of``) -> :class:`ScoreResponse`
``POST /score_batch``    up to ``DEALRISK_MAX_BATCH`` histories -> one result per deal, in order
``POST /rank``           open deals -> the manager ranking, as ``dealrisk rank`` computes it
``GET /healthz``         liveness (no key)
``GET /readyz``          model loaded, and which
``GET /metrics``         Prometheus (BentoML's and :mod:`serving.metrics`)
``GET /docs.json``       OpenAPI, with examples
``GET /dashboard``       the manager dashboard (:mod:`serving.dashboard`)
=======================  ===================================================================

Bad input never reaches a 5xx: malformed JSON is a 400, anything the models or the
point-in-time checks refuse a 422 naming each field (:mod:`serving.requests`), an oversized
body a 413, a missing key a 401 (:mod:`serving.edge`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import bentoml
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

from serving import dashboard
from serving.answers import (
    deal_score,
    export_stamp,
    histories_of,
    rank_basis,
    rank_rows,
    read_canonical,
)
from serving.edge import (
    ERROR_KIND_HEADER,
    INTERNAL_BODY,
    ServiceEdge,
    error_body,
    log_bad_request,
    readiness_body,
)
from serving.heap import settle_after_load
from serving.metrics import ERRORS, MODEL_INFO
from serving.model_source import LoadedModel, load_served_model
from serving.openapi import openapi_spec
from serving.requests import (
    DealRecords,
    records_of,
    time_problems,
    validation_problems,
)
from serving.schemas import (
    BatchItem,
    BatchResponse,
    Problem,
    RankResponse,
    RequestModels,
    ScoreResponse,
    Time,
)
from serving.settings import Settings

JSON = "application/json"
app = FastAPI(title="dealrisk scoring API", version="1", openapi_url=None, docs_url=None,
              redoc_url=None,
              description="Calibrated stall, no-decision and win risks of open B2B deals, "
                          "with reasons in plain words.  Send `Authorization: Bearer <key>`.")
app.mount("/dashboard/static", dashboard.static_files(), name="dashboard-static")


class BadRequest(Exception):
    """A request refused with ``status`` and the problems found."""

    def __init__(self, status: int, error: str, message: str, problems: list[Problem],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.problems = status, error, message, problems
        self.headers = headers or {}


@app.exception_handler(BadRequest)
async def _bad_request(request: Request, exc: BadRequest) -> Response:
    log_bad_request(request.method, request.url.path, exc.status, exc.error, exc.problems)
    return Response(error_body(exc.error, exc.message, exc.problems), status_code=exc.status,
                    media_type=JSON, headers={**exc.headers,
                                              ERROR_KIND_HEADER.decode(): exc.error})


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    problems = [Problem(field=".".join(map(str, e["loc"])), kind=e["type"], message=e["msg"])
                for e in exc.errors()]
    return await _bad_request(request, BadRequest(422, "invalid_request", "the request is "
                                                  "invalid", problems))


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "client_error")
    return await _bad_request(request, BadRequest(exc.status_code, kind, str(exc.detail), [],
                                                  headers=dict(exc.headers or {})))


@app.exception_handler(Exception)
async def _internal(request: Request, exc: Exception) -> Response:
    """A JSON 500 without a trace (Starlette re-raises: the edge logs the traceback)."""
    return Response(INTERNAL_BODY, status_code=500, media_type=JSON,
                    headers={ERROR_KIND_HEADER.decode(): "internal"})


def _readiness() -> tuple[bool, bytes]:
    service = bentoml.get_current_service()
    loaded = getattr(service, "loaded", None)
    return loaded is not None, readiness_body(loaded is not None,
                                              loaded.info if loaded else None)


@bentoml.service(name="dealrisk", workers=int(os.environ.get("DEALRISK_WORKERS", "2")),
                 traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class DealRisk:
    """The scoring service (module docstring); one instance per worker."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.loaded: LoadedModel = load_served_model(self.settings)
        self.models = RequestModels.for_profile(self.loaded.model.profile,
                                                max_events=self.settings.max_events,
                                                max_batch=self.settings.max_batch)
        self._ranking: tuple[float, RankResponse] | None = None  # (export stamp, ranking)
        info = self.loaded.info
        MODEL_INFO.labels(name=info.name, version=info.version, run_id=info.run_id,
                          source=info.source).set(1)
        app.openapi_schema = openapi_spec(app, self.models, self.settings)
        settle_after_load()

    # ------------------------------------------------------------------------- endpoints
    @app.post("/score", response_model=ScoreResponse)
    async def score(self, request: Request) -> Response:
        """Score one open deal's history (see ``ScoreRequest``)."""
        history = self._parse(self.models.history, await _json_body(request))
        as_of = history.as_of or _now()
        records = self._checked(history, as_of)
        row = self.loaded.model.score_deal(*records.as_args(), as_of=pd.Timestamp(as_of))
        answer = ScoreResponse(**deal_score(row, self.loaded.model).model_dump(),
                               as_of=as_of.isoformat(), model=self.loaded.info)
        return Response(answer.model_dump_json(), media_type=JSON)

    @app.post("/score_batch", response_model=BatchResponse)
    async def score_batch(self, request: Request) -> Response:
        """Score many deals at one ``as_of``; each comes back scored or with its own errors."""
        envelope = self._envelope(_BatchEnvelope, await _json_body(request))
        as_of = self._as_of(envelope.as_of)
        results = await anyio.to_thread.run_sync(partial(self._score_each, envelope.deals,
                                                         as_of))
        failed = sum(not r.ok for r in results)
        answer = BatchResponse(as_of=as_of.isoformat(), scored=len(results) - failed,
                               failed=failed, results=results, model=self.loaded.info)
        return Response(answer.model_dump_json(), media_type=JSON)

    @app.post("/rank", response_model=RankResponse)
    async def rank(self, request: Request) -> Response:
        """Rank open deals by revenue at risk, as ``dealrisk rank`` does (frozen peers)."""
        envelope = self._envelope(_RankEnvelope, await _json_body(request))
        as_of = self._as_of(envelope.as_of)
        answer = await anyio.to_thread.run_sync(partial(self._rank, envelope, as_of))
        return Response(answer.model_dump_json(), media_type=JSON)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page(self) -> Response:
        """The manager dashboard's page (static; it asks for the key)."""
        return Response(dashboard.page(), media_type="text/html")

    @app.get("/dashboard/ranking", response_model=RankResponse)
    async def dashboard_ranking(self) -> Response:
        """The ranking of the export in ``DEALRISK_CANONICAL`` at its export time."""
        if self.settings.canonical is None:
            raise BadRequest(404, "not_found", "no export configured: set DEALRISK_CANONICAL "
                             "to a `dealrisk ingest` output directory", [])
        stamp = export_stamp(self.settings.canonical)
        if self._ranking is None or self._ranking[0] != stamp:  # re-ingested: rank again
            self._ranking = (stamp, await anyio.to_thread.run_sync(self._export_ranking))
        return Response(self._ranking[1].model_dump_json(), media_type=JSON,
                        headers={"Cache-Control": "no-store"})

    @app.get("/docs.json", include_in_schema=False)
    async def docs(self) -> Response:
        """The OpenAPI document."""
        import json

        return Response(json.dumps(app.openapi_schema), media_type=JSON)

    # --------------------------------------------------------------------------- helpers
    def _parse(self, model: type[BaseModel], body: bytes) -> Any:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            problems = validation_problems(exc)
            if any(p.kind.startswith("json_") for p in problems):
                raise BadRequest(400, "malformed_json", "the body is not valid JSON",
                                 problems) from None
            raise BadRequest(422, "invalid_request", "the request is invalid",
                             problems) from None

    def _envelope(self, model: type[_BatchEnvelope], body: bytes) -> _BatchEnvelope:
        envelope = self._parse(model, body)
        if len(envelope.deals) > self.settings.max_batch:
            raise BadRequest(422, "invalid_request", "too many deals", [Problem(
                field="body.deals", kind="too_long",
                message=f"at most {self.settings.max_batch:,} deals per request "
                        "(DEALRISK_MAX_BATCH)")])
        return envelope

    def _as_of(self, value: object) -> datetime:
        if value is None:
            return _now()
        try:
            return _AS_OF.validate_python(value)
        except ValidationError as exc:
            raise BadRequest(422, "invalid_request", "the request is invalid",
                             validation_problems(exc, "body.as_of")) from None

    def _checked(self, history: BaseModel, as_of: datetime, prefix: str = "body"
                 ) -> DealRecords:
        problems = time_problems(history, as_of, prefix)
        if problems:
            raise BadRequest(422, "invalid_request", "the history holds what was not known "
                             "at as_of, or the deal is not open", problems)
        return records_of(history)

    def _one(self, index: int, raw: object, as_of: datetime) -> tuple[BatchItem, DealRecords |
                                                                      None]:
        prefix = f"body.deals[{index}]"
        deal_id = _deal_id(raw)
        try:
            history = self.models.item.model_validate(raw)
            records = self._checked(history, as_of, prefix)
        except ValidationError as exc:
            return BatchItem(index=index, deal_id=deal_id, ok=False,
                             errors=validation_problems(exc, prefix)), None
        except BadRequest as exc:
            return BatchItem(index=index, deal_id=deal_id, ok=False, errors=exc.problems), None
        return BatchItem(index=index, deal_id=deal_id, ok=True), records

    def _score_each(self, deals: list[object], as_of: datetime) -> list[BatchItem]:
        """Check each deal on its own, then score the good ones in one vectorised pass."""
        model = self.loaded.model
        items, good = [], []
        for index, raw in enumerate(deals):
            item, records = self._one(index, raw, as_of)
            items.append(item)
            if records is not None:
                good.append((item, records))
        rows = model.score_deals([r.as_args() for _, r in good], as_of=pd.Timestamp(as_of))
        for (item, _), row in zip(good, rows, strict=True):
            if isinstance(row, ValueError):
                item.ok, item.errors = False, [Problem(field=f"body.deals[{item.index}]",
                                                       kind="not_scorable", message=str(row))]
            else:
                item.score = deal_score(row, model)
        for item in items:
            for problem in item.errors:
                ERRORS.labels(endpoint="/score_batch", kind=problem.kind).inc()
        return items

    def _rank(self, envelope: _RankEnvelope, as_of: datetime) -> RankResponse:
        checked, refused, first_at = [], [], {}
        for index, raw in enumerate(envelope.deals):
            item, records = self._one(index, raw, as_of)
            if records is not None and records.deal["deal_id"] in first_at:
                item.ok, item.errors = False, [_repeated(index, item.deal_id,
                                                         first_at[item.deal_id])]
                records = None
            if records is None:
                refused.append(item)
                continue
            first_at[item.deal_id] = index
            checked.append(records)
        model = self.loaded.model
        ranking = model.rank(histories_of(checked, model), pd.Timestamp(as_of))
        return RankResponse(as_of=as_of.isoformat(), basis=rank_basis(ranking),
                            rows=rank_rows(ranking, envelope.top), not_ranked=refused,
                            model=self.loaded.info)

    def _export_ranking(self) -> RankResponse:
        histories, export_time = read_canonical(self.settings.canonical)
        ranking = self.loaded.model.rank(histories, export_time, frozen_peers=False)
        return RankResponse(as_of=export_time.isoformat(), basis=rank_basis(ranking),
                            rows=rank_rows(ranking), not_ranked=[], model=self.loaded.info)


class _BatchEnvelope(BaseModel):
    """A batch body before each deal is checked on its own (one bad deal fails only itself)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    deals: list[Any] = Field(min_length=1)
    as_of: Any = None


class _RankEnvelope(_BatchEnvelope):
    top: int | None = Field(None, ge=1)


_AS_OF = TypeAdapter(Time)


async def _json_body(request: Request) -> bytes:
    """The body of a JSON request; another declared media type is a 415 (none: read as JSON)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media and media != JSON and not (media.startswith("application/")
                                        and media.endswith("+json")):
        raise BadRequest(415, "unsupported_media_type", "send the body as application/json",
                         [Problem(field="header.Content-Type", kind="unsupported_media_type",
                                  message=f"{media[:100]!r} is not application/json")])
    return await request.body()


def _repeated(index: int, deal_id: str | None, first: int) -> Problem:
    """A deal sent twice in one ranking (the first is ranked, the repeat refused)."""
    return Problem(field=f"body.deals[{index}].deal.deal_id", kind="duplicate_deal",
                   message=f"deal {deal_id!r} is already ranked as body.deals[{first}]")


def _deal_id(raw: object) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("deal"), dict):
        value = raw["deal"].get("deal_id")
        return value if isinstance(value, str) else None
    return None


def _now() -> datetime:
    return datetime.now(UTC)


DealRisk.add_asgi_middleware(ServiceEdge, readiness=_readiness)
