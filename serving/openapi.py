"""The service's OpenAPI document (``GET /docs.json``): every route, body, answer and error.

The scoring routes read their bodies themselves (strict JSON validation, one error list), so
their request schemas are added here from :class:`~serving.schemas.RequestModels`, with the
examples, the bearer-key security scheme and the documented 4xx answers; BentoML's own
``/healthz``, ``/readyz`` and ``/metrics`` are described too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from serving.schemas import ErrorBody, Readiness, RequestModels
from serving.settings import Settings

REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "the body is not valid JSON",
    "401": "no valid API key (`Authorization: Bearer <key>`)",
    "413": "the body is larger than DEALRISK_MAX_BODY_MB",
    "415": "the body is not sent as application/json",
    "422": "invalid request: each offending field is named in `problems`",
}


def openapi_spec(app: FastAPI, models: RequestModels, settings: Settings) -> dict[str, Any]:
    """The whole document for ``app`` serving ``models``."""
    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes)
    _, defs = models_json_schema(
        [(m, "validation") for m in (models.history, models.batch, models.rank, ErrorBody,
                                     Readiness)], ref_template=REF)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(defs.get("$defs", {}))
    spec["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
    spec["security"] = [{"apiKey": []}]
    bodies = {"/score": models.history, "/score_batch": models.batch, "/rank": models.rank}
    for path, model in bodies.items():
        operation = spec["paths"][path]["post"]
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=model.__name__)}}}}
        operation["responses"].update(_error_responses())
    spec["paths"]["/dashboard/ranking"]["get"]["responses"].update(
        {"401": _error("no valid API key"),
         "404": _error("no export configured (DEALRISK_CANONICAL)")})
    spec["paths"]["/healthz"] = {"get": {
        "summary": "Liveness (no key needed)", "security": [],
        "responses": {"200": {"description": "alive", "content": {"text/plain": {
            "schema": {"type": "string"}}}}}}}
    spec["paths"]["/readyz"] = {"get": {
        "summary": "Readiness: the model is loaded, and which",
        "responses": {"200": _json("ready", "Readiness"), "503": _json("not ready",
                                                                        "Readiness"),
                      "401": _error("no valid API key")}}}
    spec["paths"]["/metrics"] = {"get": {
        "summary": "Prometheus metrics", "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {
                "schema": {"type": "string"}}}}, "401": _error("no valid API key")}}}
    spec["info"]["x-limits"] = {"max_batch": settings.max_batch,
                                "max_events_per_list": settings.max_events,
                                "max_body_bytes": settings.max_body_bytes}
    return spec


def _json(description: str, model: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=model)}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, "ErrorBody")


def _error_responses() -> dict[str, Any]:
    return {code: _error(text) for code, text in _ERRORS.items()}
